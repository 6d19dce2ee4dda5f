package flows

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net"

	"github.com/contiv/libOpenflow/openflow13"
)

// builder assembles one flow: flow(table, prio).match(...).apply(...).goTo(t).done(owner).
type builder struct {
	f       Flow
	actions []openflow13.Action
	next    *uint8
}

func flow(table uint8, priority uint16) *builder {
	b := &builder{f: Flow{Table: table, Priority: priority}}
	b.f.Match = *openflow13.NewMatch()
	return b
}

// match adds match fields.
func (b *builder) match(fields ...*openflow13.MatchField) *builder {
	for _, f := range fields {
		b.f.Match.AddField(*f)
	}
	return b
}

// apply appends actions to the flow's apply-actions instruction.
func (b *builder) apply(actions ...openflow13.Action) *builder {
	b.actions = append(b.actions, actions...)
	return b
}

// goTo sets the flow's goto_table instruction.
func (b *builder) goTo(table uint8) *builder {
	b.next = &table
	return b
}

// done finishes the flow and gives it owner's cookie. A flow with neither
// actions nor goto drops.
func (b *builder) done(owner Owner) *Flow {
	if len(b.actions) > 0 {
		instr := openflow13.NewInstrApplyActions()
		for _, a := range b.actions {
			instr.AddAction(a, false)
		}
		b.f.Instructions = append(b.f.Instructions, instr)
	}
	if b.next != nil {
		b.f.Instructions = append(b.f.Instructions, openflow13.NewInstrGotoTable(*b.next))
	}
	b.f.Cookie = makeCookie(owner, contentHash(&b.f))
	return &b.f
}

// contentHash is a 32-bit FNV-1a hash of everything that makes a flow what
// it is: table, priority, match and instructions.
func contentHash(f *Flow) uint32 {
	h := fnv.New32a()
	var hdr [3]byte
	hdr[0] = f.Table
	binary.BigEndian.PutUint16(hdr[1:], f.Priority)
	h.Write(hdr[:])
	h.Write(mustMarshal(&f.Match))
	for _, in := range f.Instructions {
		h.Write(mustMarshal(in))
	}
	return h.Sum32()
}

type marshaler interface{ MarshalBinary() ([]byte, error) }

// mustMarshal encodes a message the builder made itself; libOpenflow's
// encoders only fail on malformed structures, which would be a bug here.
func mustMarshal(m marshaler) []byte {
	b, err := m.MarshalBinary()
	if err != nil {
		panic(fmt.Sprintf("flows: encode %T: %v", m, err))
	}
	return b
}

// Match fields.

func matchInPort(port uint32) *openflow13.MatchField { return openflow13.NewInPortField(port) }

// matchNoVLAN matches frames without an 802.1Q header.
func matchNoVLAN() *openflow13.MatchField {
	return &openflow13.MatchField{
		Class: openflow13.OXM_CLASS_OPENFLOW_BASIC, Field: openflow13.OXM_FIELD_VLAN_VID,
		Value: &openflow13.VlanIdField{VlanId: openflow13.OFPVID_NONE}, Length: 2,
	}
}

// matchVLAN matches frames tagged with vid.
func matchVLAN(vid uint16) *openflow13.MatchField { return openflow13.NewVlanIdField(vid, nil) }

func matchReg(reg int, value uint32) *openflow13.MatchField {
	return openflow13.NewRegMatchField(reg, value, nil)
}

func matchTunSrc(ip net.IP) *openflow13.MatchField {
	return openflow13.NewTunnelIpv4SrcField(ip, nil)
}

func matchTunID(id uint32) *openflow13.MatchField { return openflow13.NewTunnelIdField(uint64(id)) }

func matchEthDst(mac net.HardwareAddr) *openflow13.MatchField {
	return openflow13.NewEthDstField(mac, nil)
}

// matchEthSrcMulticast matches frames whose source MAC has the group bit set.
func matchEthSrcMulticast() *openflow13.MatchField {
	mask := net.HardwareAddr{1, 0, 0, 0, 0, 0}
	return openflow13.NewEthSrcField(net.HardwareAddr{1, 0, 0, 0, 0, 0}, &mask)
}

func matchARPRequest(tpa net.IP) []*openflow13.MatchField {
	return []*openflow13.MatchField{
		openflow13.NewEthTypeField(0x0806),
		openflow13.NewArpOperField(1),
		openflow13.NewArpTpaField(tpa),
	}
}

// Actions.

func output(port uint32) openflow13.Action { return openflow13.NewActionOutput(port) }

func outputInPort() openflow13.Action { return openflow13.NewActionOutput(openflow13.P_IN_PORT) }

func popVLAN() openflow13.Action { return openflow13.NewActionPopVlan() }

// pushVLAN returns the actions that tag a frame with vid.
func pushVLAN(vid uint16) []openflow13.Action {
	return []openflow13.Action{
		openflow13.NewActionPushVlan(0x8100),
		openflow13.NewActionSetField(*openflow13.NewVlanIdField(vid, nil)),
	}
}

// loadReg loads value into the whole of register reg.
func loadReg(reg int, value uint32) openflow13.Action {
	return openflow13.NewNXActionRegLoad(openflow13.NewNXRange(0, 31).ToOfsBits(), nxmField(fmt.Sprintf("NXM_NX_REG%d", reg)), uint64(value))
}

// setTunnel sets the tunnel destination and key of the next tunnel output.
func setTunnel(remote net.IP, key uint32) []openflow13.Action {
	return []openflow13.Action{
		openflow13.NewActionSetField(*openflow13.NewTunnelIpv4DstField(remote, nil)),
		openflow13.NewActionSetField(*openflow13.NewTunnelIdField(uint64(key))),
	}
}

func resubmit(table uint8) openflow13.Action {
	return openflow13.NewNXActionResubmitTableAction(openflow13.OFPP_IN_PORT, table)
}

// move copies nBits of field src to field dst (NXM names).
func move(src, dst string, nBits uint16) openflow13.Action {
	return openflow13.NewNXActionRegMove(nBits, 0, 0, nxmField(src), nxmField(dst))
}

func setField(f *openflow13.MatchField) openflow13.Action { return openflow13.NewActionSetField(*f) }

// nxmField returns the header of an NXM/OXM field by name; the names used
// here are constants, so a miss is a bug.
func nxmField(name string) *openflow13.MatchField {
	f, err := openflow13.FindFieldHeaderByName(name, false)
	if err != nil {
		panic(fmt.Sprintf("flows: unknown field %s", name))
	}
	return f
}
