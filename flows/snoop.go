package flows

import (
	"encoding/binary"

	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/ofnet/ofctrl"
)

// Host snooping: the addresses local hosts announce of themselves in ARP
// and IPv6 neighbour discovery, for BGP EVPN's MAC+IP routes.
//
// With Input.SnoopHosts, a network's local learning flow (TableLearn)
// resubmits every frame it learns to TableSnoop, whose flows match the
// messages a host announces its own address in (ARP requests and replies,
// gratuitous ARP included; neighbour solicitations from a unicast source
// with a source link-layer address option; neighbour advertisements with a
// target link-layer address option) and send a copy of them to the
// controller with controller(meter_id=SnoopMeter). The frame itself goes on
// through the pipeline exactly as without snooping: no flow of TableSnoop
// changes it, and the copy is made in the datapath as
// sample(100%,actions(meter(M),userspace(controller))), so the meter only
// ever drops copies. What arrives is parsed, checked (parseSnoopPacketIn,
// announcedAddress) and handed to the local-MAC watch (hostips.go).
//
// Checked on OVS 3.1 (userspace datapath): clone(resubmit(,T)) with a
// meter instruction on T's flow does not work. ofproto-dpif-xlate's
// reversible_actions looks only at the clone's own actions, finds a
// resubmit "reversible" and drops the datapath clone, so the meter lands
// on the packet itself: with 3,000 ARP requests a second, 221 reached the
// other host. With controller(meter_id=...) all 3,000 did, and the
// controller received 277 copies (rate 200, burst 100).
//
// OVS binds a controller action to its meter when the flow is added
// (ofproto_check_ofpacts): a flow added while the meter does not exist
// sends every copy, unmetered, until it is added again. The session
// therefore sends the meter on every connection before anything else
// (SnoopHosts, SwitchConnected), and a meter that exists already is
// modified in place, which keeps its datapath meter and the flows bound to
// it: an l2gwd restart changes no flow. ofctrl deletes every group on
// connect but leaves meters alone.

// The snooping meter. Its rate bounds what the controller receives from
// the whole bridge, whatever the hosts send: a few hundred packets a
// second, with a burst for hosts that come up together.
const (
	// SnoopMeter is the OpenFlow meter ID of the copies.
	SnoopMeter uint32 = 1
	// SnoopRate is how many copies a second pass the meter.
	SnoopRate = 300
	// SnoopBurst is how many copies above the rate may pass at once.
	SnoopBurst = 150
)

// Nicira controller2 action (OVS's nx_action_controller2, an
// ext_action_header followed by properties).
const (
	nxActionHeaderLen   = 16 // type, length, experimenter, subtype, 6 bytes of padding
	nxac2ptControllerID = 1  // NXAC2PT_CONTROLLER_ID: the connection, 16 bits
	nxac2ptMeterID      = 5  // NXAC2PT_METER_ID: the meter, 32 bits
)

// controllerCopy sends l2gwd (controllerID) a copy of the whole packet,
// reason action, through meter: NXAST_CONTROLLER2 with its controller_id
// and meter_id properties, as ovs-ofctl encodes
// controller(id=ID,meter_id=M) and reports it back: each property is 8
// bytes, the 16-bit controller_id's length counting its 2 bytes of padding.
func controllerCopy(meter uint32) action {
	a := nxAction(openflow13.NXAST_CONTROLLER2, nxActionHeaderLen+16)
	a = append(a, 0, 0, 0, 0, 0, 0)
	a = binary.BigEndian.AppendUint16(a, nxac2ptControllerID)
	a = binary.BigEndian.AppendUint16(a, 8)
	a = binary.BigEndian.AppendUint16(a, controllerID)
	a = append(a, 0, 0)
	a = binary.BigEndian.AppendUint16(a, nxac2ptMeterID)
	a = binary.BigEndian.AppendUint16(a, 8)
	return binary.BigEndian.AppendUint32(a, meter)
}

// Matches of the snooped messages.
var (
	hdrNDSLL = fieldHeader("OXM_OF_IPV6_ND_SLL")
	hdrNDTLL = fieldHeader("OXM_OF_IPV6_ND_TLL")
	noMAC    = make([]byte, 6)
)

func matchARP(op uint16) []field {
	return []field{tlv(hdrEthType, be16(0x0806), nil), tlv(hdrARPOp, be16(op), nil)}
}

// snoopFlows are TableSnoop's flows: a metered copy of ARP requests and
// replies, of solicitations with a source and its link-layer address, and of
// advertisements with their target's link-layer address; nothing of
// anything else (duplicate address detection, whose source is ::, and
// solicitations or advertisements without the option, included). OVS reads
// an option that is not there as 00:00:00:00:00:00.
func snoopFlows(pipeline Owner) []*Flow {
	copyOut := controllerCopy(SnoopMeter)
	return []*Flow{
		flow(TableSnoop, 100).match(matchARP(1)...).apply(copyOut).done(pipeline),
		flow(TableSnoop, 100).match(matchARP(2)...).apply(copyOut).done(pipeline),
		flow(TableSnoop, 110).match(matchNDMessage(icmpv6NeighborSolicit)...).match(tlv(hdrIPv6Src, unspecifiedIP6, nil)).done(pipeline),
		flow(TableSnoop, 105).match(matchNDMessage(icmpv6NeighborSolicit)...).match(tlv(hdrNDSLL, noMAC, nil)).done(pipeline),
		flow(TableSnoop, 100).match(matchNDMessage(icmpv6NeighborSolicit)...).apply(copyOut).done(pipeline),
		flow(TableSnoop, 105).match(matchNDMessage(icmpv6NeighborAdvert)...).match(tlv(hdrNDTLL, noMAC, nil)).done(pipeline),
		flow(TableSnoop, 100).match(matchNDMessage(icmpv6NeighborAdvert)...).apply(copyOut).done(pipeline),
		flow(TableSnoop, 0).done(pipeline),
	}
}

// snoopMeterMod is the meter mod (command OFPMC_ADD or OFPMC_MODIFY) that
// makes SnoopMeter: packets per second, with a burst, one drop band.
func snoopMeterMod(command uint16) *openflow13.MeterMod {
	m := openflow13.NewMeterMod()
	m.Command = command
	m.Flags = openflow13.OFPMF13_PKTPS | openflow13.OFPMF13_BURST | openflow13.OFPMF13_STATS
	m.MeterId = SnoopMeter
	band := &openflow13.MeterBandDrop{MeterBandHeader: *openflow13.NewMeterBandHeader()}
	band.Type, band.Rate, band.BurstSize = openflow13.OFPMBT13_DROP, SnoopRate, SnoopBurst
	m.AddMeterBand(band)
	return m
}

// meterInstall is what the session knows of SnoopMeter on its switch: on
// once SnoopHosts was called, and the meter mods sent on the current
// connection.
type meterInstall struct {
	on        bool
	sw        *ofctrl.OFSwitch
	add, edit uint32 // xids of the ADD and the MODIFY sent to sw
}

// SnoopHosts makes the session install SnoopMeter on the switch now, if
// one is connected, and on every connection from now on, before any flow
// is sent: call it before applying flows compiled with Input.SnoopHosts.
// Installing is idempotent: a meter that exists already is modified to
// SnoopRate and SnoopBurst, which changes no flow. A switch that refuses
// the meter is logged as an error: the copies are then not rate-limited.
func (s *Session) SnoopHosts() {
	s.meterMu.Lock()
	defer s.meterMu.Unlock()
	if s.meter.on {
		return
	}
	s.meter.on = true
	if sw := s.current(); sw != nil {
		s.installMeter(sw)
	}
}

// installMeter sends SnoopMeter's ADD to sw; s.meterMu is held. Its
// answer, if any, is an error (meterRefused).
func (s *Session) installMeter(sw *ofctrl.OFSwitch) {
	m := snoopMeterMod(openflow13.OFPMC_ADD)
	s.meter.sw, s.meter.add, s.meter.edit = sw, m.Xid, 0
	if err := sw.Send(m); err != nil {
		s.log.Error("cannot send the host snooping meter: the copies of ARP and ND to l2gwd are not rate-limited", "err", err)
	}
}

// meterRefused takes a switch error: if it answers SnoopMeter's ADD with
// "exists", the meter is modified instead; any other refusal is logged.
func (s *Session) meterRefused(e switchError) {
	s.meterMu.Lock()
	defer s.meterMu.Unlock()
	in := &s.meter
	switch {
	case in.sw == nil || (e.xid != in.add && e.xid != in.edit):
		return
	case e.xid == in.add && isMeterExists(e):
		m := snoopMeterMod(openflow13.OFPMC_MODIFY)
		in.edit = m.Xid
		sw := in.sw
		// Not on the connection's reader, which delivers this error:
		// a full outbound queue would wait for it.
		go func() {
			if err := sw.Send(m); err != nil {
				s.log.Warn("cannot update the host snooping meter: it keeps its old settings", "err", err)
			}
		}()
	default:
		s.log.Error("the switch refused the host snooping meter: the copies of ARP and ND to l2gwd are not rate-limited",
			"meter", SnoopMeter, "err", e.String())
	}
}

// isMeterExistsError reports whether b (a whole message) is the error
// OFPMMFC_METER_EXISTS.
func isMeterExistsError(b []byte) bool {
	return len(b) >= ofpErrorLen && b[1] == openflow13.Type_Error &&
		binary.BigEndian.Uint16(b[8:10]) == openflow13.ET_METER_MOD_FAILED && binary.BigEndian.Uint16(b[10:12]) == ofpmmfcMeterExists
}

// isMeterExists reports whether e is OFPMMFC_METER_EXISTS.
func isMeterExists(e switchError) bool {
	return e.typ == openflow13.ET_METER_MOD_FAILED && e.code == ofpmmfcMeterExists
}

// ofpmmfcMeterExists is OFPMMFC_METER_EXISTS, the answer to adding a meter
// that exists.
const ofpmmfcMeterExists = 1
