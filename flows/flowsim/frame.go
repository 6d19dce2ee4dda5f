package flowsim

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// MAC is an Ethernet address.
type MAC [6]byte

// IP4 is an IPv4 address.
type IP4 [4]byte

// IP6 is an IPv6 address.
type IP6 [16]byte

func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }
func (a IP4) String() string { return netip.AddrFrom4(a).String() }
func (a IP6) String() string { return netip.AddrFrom16(a).String() }

// MustMAC parses s ("02:0b:00:00:00:01"); it panics on anything else, for
// tests and fixtures.
func MustMAC(s string) MAC {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		panic(fmt.Sprintf("flowsim: %q is not an Ethernet address", s))
	}
	return MAC(hw)
}

// MustIP4 parses an IPv4 address; it panics on anything else.
func MustIP4(s string) IP4 {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		panic(fmt.Sprintf("flowsim: %q is not an IPv4 address", s))
	}
	return a.As4()
}

// MustIP6 parses an IPv6 address; it panics on anything else.
func MustIP6(s string) IP6 {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Is4In6() {
		panic(fmt.Sprintf("flowsim: %q is not an IPv6 address", s))
	}
	return a.As16()
}

// Ethernet types and the ICMPv6 protocol number the pipeline meets.
const (
	EthTypeARP  = 0x0806
	EthTypeIPv6 = 0x86dd
	ProtoICMPv6 = 58
)

// ICMPv6 neighbour discovery message types.
const (
	NeighborSolicit = 135
	NeighborAdvert  = 136
)

// Frame is an Ethernet frame as OVS sees it: the fields a flow can match or
// write. The ARP fields count for an ARP frame, the IPv6 ones for an IPv6
// frame; the others are zero.
type Frame struct {
	VLAN           uint16 // 802.1Q VLAN ID; 0: untagged
	EthSrc, EthDst MAC
	EthType        uint16
	ARP            ARP
	IPv6           IPv6
}

// ARP is an ARP message (EthType 0x0806).
type ARP struct {
	Op       uint16
	SHA, THA MAC
	SPA, TPA IP4
}

// IPv6 is an IPv6 packet (EthType 0x86dd) and, when Proto is ICMPv6, its
// ICMPv6 header and neighbour discovery fields. As in OVS, SLL and TLL are
// the source and target link-layer address options OVS read (or wrote),
// and OptionsType the type of the first option.
type IPv6 struct {
	Src, Dst           IP6
	Proto              uint8
	ICMPType, ICMPCode uint8
	NDTarget           IP6
	NDSLL, NDTLL       MAC
	NDReserved         uint32 // the R/S/O flags word of an advertisement
	NDOptionsType      uint8
}

// Broadcast is the Ethernet broadcast address.
var Broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// EthTypeExperimental is the Ethernet type of the frames Ethernet makes:
// 0x88b5, for local experiments (IEEE 802), which no flow matches.
const EthTypeExperimental = 0x88b5

// Ethernet is a frame from src to dst of a type nothing looks into.
func Ethernet(src, dst MAC) Frame {
	return Frame{EthSrc: src, EthDst: dst, EthType: EthTypeExperimental}
}

// ARPRequest is an ARP request from sha (IPv4 address spa) for tpa, sent to
// the broadcast address.
func ARPRequest(sha MAC, spa, tpa IP4) Frame {
	return Frame{EthSrc: sha, EthDst: Broadcast, EthType: EthTypeARP,
		ARP: ARP{Op: 1, SHA: sha, SPA: spa, TPA: tpa}}
}

// NeighborSolicitation is a neighbour solicitation from sll (IPv6 address
// src) for target, sent to target's solicited-node multicast address, with
// a source link-layer address option. A solicitation from the unspecified
// address (src zero) is duplicate address detection.
func NeighborSolicitation(sll MAC, src, target IP6) Frame {
	group := IP6{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: target[13], 14: target[14], 15: target[15]}
	return Frame{EthSrc: sll, EthDst: MAC{0x33, 0x33, 0xff, target[13], target[14], target[15]}, EthType: EthTypeIPv6,
		IPv6: IPv6{Src: src, Dst: group, Proto: ProtoICMPv6, ICMPType: NeighborSolicit, NDTarget: target,
			NDSLL: sll, NDOptionsType: 1}}
}

func (f Frame) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s>%s", f.EthSrc, f.EthDst)
	if f.VLAN != 0 {
		fmt.Fprintf(&b, " vlan %d", f.VLAN)
	}
	switch {
	case f.EthType == EthTypeARP:
		a := f.ARP
		fmt.Fprintf(&b, " arp op %d sha %s spa %s tha %s tpa %s", a.Op, a.SHA, a.SPA, a.THA, a.TPA)
	case f.EthType == EthTypeIPv6 && f.IPv6.Proto == ProtoICMPv6:
		p := f.IPv6
		fmt.Fprintf(&b, " icmpv6 %s>%s type %d code %d", p.Src, p.Dst, p.ICMPType, p.ICMPCode)
		if p.ICMPType == NeighborSolicit || p.ICMPType == NeighborAdvert {
			fmt.Fprintf(&b, " target %s sll %s tll %s reserved %#x options type %d",
				p.NDTarget, p.NDSLL, p.NDTLL, p.NDReserved, p.NDOptionsType)
		}
	default:
		fmt.Fprintf(&b, " type %#04x", f.EthType)
	}
	return b.String()
}

// Packet is a frame entering the bridge on port InPort. A frame received
// on a tunnel port carries the tunnel it came by in Tunnel.
type Packet struct {
	InPort uint32
	Tunnel TunnelMetadata
	Frame
}

// TunnelMetadata is what OVS knows of the tunnel a packet arrived by: the
// remote (Src) and local (Dst) endpoints, IPv4 or IPv6, and the key.
type TunnelMetadata struct {
	Src, Dst netip.Addr
	ID       uint64
}

// FromPort is frame f entering on local port port.
func FromPort(port uint32, f Frame) Packet { return Packet{InPort: port, Frame: f} }

// FromTunnel is frame f arriving on tunnel port port from the gateway at
// remote, sent to local with key.
func FromTunnel(port uint32, remote, local netip.Addr, key uint64, f Frame) Packet {
	return Packet{InPort: port, Tunnel: TunnelMetadata{Src: remote, Dst: local, ID: key}, Frame: f}
}

func (p Packet) String() string {
	if p.Tunnel.Src.IsValid() {
		return fmt.Sprintf("in_port %d tunnel %s>%s key %d: %s", p.InPort, p.Tunnel.Src, p.Tunnel.Dst, p.Tunnel.ID, p.Frame)
	}
	return fmt.Sprintf("in_port %d: %s", p.InPort, p.Frame)
}
