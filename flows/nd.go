package flows

import (
	"net"
)

// IPv6 neighbour discovery is answered in OVS the way ARP is: a Neighbor
// Solicitation from a local attachment for a bound IPv6 address becomes,
// in place, the Neighbor Advertisement its owner would send (solicited and
// override flags, the bound MAC in a target link-layer address option) and
// goes back out the port it came in. No packet reaches the controller.
//
// OVS checks a set_field's prerequisites against the flow's match, so the
// NA's target link-layer address cannot be written by a flow that matches
// the solicitation. The rewrite therefore takes two lookups in TableNDAdvertise:
// the solicitation flow turns the packet into an advertisement (ICMPv6 type
// 136, flags, option type 2) and resubmits it to the same table, where the
// advertisement flow, which matches type 136, copies the bound MAC from
// eth_src into nd_tll. OVS recomputes the ICMPv6 checksum; the hop limit
// stays the solicitation's 255, as RFC 4861 requires of an advertisement.
//
// Duplicate address detection (a solicitation from the unspecified
// address) is not answered: it is forwarded like any other frame, so the
// address's real owner, wherever it is, defends it.

// ICMPv6 neighbour discovery message types and the advertisement's flags.
const (
	icmpv6NeighborSolicit = 135
	icmpv6NeighborAdvert  = 136
	// ndFlagsSolicitedOverride is the NA's R/S/O word: solicited and
	// override set, router clear.
	ndFlagsSolicitedOverride = 0x60000000
	// ndOptTargetLLAddr is the target link-layer address option's type.
	ndOptTargetLLAddr = 2
)

// Fields of IPv6 neighbour discovery. nd_reserved and nd_options_type are
// OVS's Ericsson experimenter OXM fields (class 0x1000, since OVS 2.11),
// which libOpenflow does not know: encoded here.
var (
	hdrIPProto     = fieldHeader("OXM_OF_IP_PROTO")
	hdrIPv6Src     = fieldHeader("OXM_OF_IPV6_SRC")
	hdrICMPv6Type  = fieldHeader("OXM_OF_ICMPV6_TYPE")
	hdrNDTarget    = fieldHeader("OXM_OF_IPV6_ND_TARGET")
	hdrNDReserved  = ericssonOXM(1, 4)
	hdrNDOptsType  = ericssonOXM(2, 1)
	nxmIPv6Src     = fieldHeader("NXM_NX_IPV6_SRC")
	nxmIPv6Dst     = fieldHeader("NXM_NX_IPV6_DST")
	nxmNDTarget    = fieldHeader("NXM_NX_ND_TARGET")
	nxmNDTLL       = fieldHeader("NXM_NX_ND_TLL")
	ipv6EthType    = be16(0x86dd)
	ipProtoICMPv6  = []byte{58}
	unspecifiedIP6 = make([]byte, net.IPv6len)
)

// ericssonOXM is the header of OVS's Ericsson OXM field (class 0x1000).
func ericssonOXM(field, length uint32) uint32 {
	return 0x1000<<16 | field<<9 | length
}

// matchNDMessage matches ICMPv6 neighbour discovery messages of type typ.
func matchNDMessage(typ uint8) []field {
	return []field{
		tlv(hdrEthType, ipv6EthType, nil),
		tlv(hdrIPProto, ipProtoICMPv6, nil),
		tlv(hdrICMPv6Type, []byte{typ}, nil),
	}
}

// matchNeighborSolicit matches a solicitation for target.
func matchNeighborSolicit(target net.IP) []field {
	return append(matchNDMessage(icmpv6NeighborSolicit), tlv(hdrNDTarget, target.To16(), nil))
}

// ndResponder answers "who has ip" (IPv6) with mac for local attachments
// of a network: it turns the solicitation into a frame from mac to its
// sender and hands it to TableNDAdvertise, which makes it an advertisement.
//
//	move:eth_src->eth_dst, eth_src=MAC, goto nd_advertise
func ndResponder(networkID uint32, mac net.HardwareAddr, ip net.IP, owner Owner) *Flow {
	return flow(TableARPResponder, 100).
		match(matchReg(RegNetwork, networkID), matchReg(RegFlags, 0)).
		match(matchNeighborSolicit(ip)...).
		apply(arpReplyToSender, setField(tlv(hdrEthSrc, mac, nil))).
		goTo(TableNDAdvertise).done(owner)
}

// ndPipelineFlows are the fixed flows of neighbour discovery: DAD passes
// through unanswered, and TableNDAdvertise's two steps.
func ndPipelineFlows(pipeline Owner) []*Flow {
	return []*Flow{
		flow(TableARPResponder, 110).
			match(matchNDMessage(icmpv6NeighborSolicit)...).match(tlv(hdrIPv6Src, unspecifiedIP6, nil)).
			apply(resubmit(TableL2Lookup)).goTo(TableForward).done(pipeline),
		// The solicitation becomes the advertisement: to its sender, from
		// the target address, solicited and override, with a target
		// link-layer address option (the solicitation's source link-layer
		// option, retyped).
		flow(TableNDAdvertise, 100).match(matchNDMessage(icmpv6NeighborSolicit)...).
			apply(
				move(nxmIPv6Src, nxmIPv6Dst, 128),
				move(nxmNDTarget, nxmIPv6Src, 128),
				setField(tlv(hdrICMPv6Type, []byte{icmpv6NeighborAdvert}, nil)),
				setField(tlv(hdrNDReserved, be32(ndFlagsSolicitedOverride), nil)),
				setField(tlv(hdrNDOptsType, []byte{ndOptTargetLLAddr}, nil)),
				resubmit(TableNDAdvertise),
			).goTo(TableReplyToIngress).done(pipeline),
		// Second lookup, now an advertisement: the option carries the MAC
		// the responder put in eth_src.
		flow(TableNDAdvertise, 100).match(matchNDMessage(icmpv6NeighborAdvert)...).
			apply(move(nxmEthSrc, nxmNDTLL, 48)).done(pipeline),
		flow(TableNDAdvertise, 0).done(pipeline),
	}
}
