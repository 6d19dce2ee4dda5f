package flowsim

import (
	"encoding/binary"
	"fmt"
)

// state is a packet in the pipeline: where it came in, its tunnel
// metadata, its frame, its registers (zeroed for every packet) and whether
// it carries an 802.1Q tag (frame.VLAN is its VID).
type state struct {
	inPort           uint32
	tunSrc, tunDst   IP4
	tunSrc6, tunDst6 IP6
	tunID            uint64
	tagged           bool
	frame            Frame
	regs             [16]uint32
}

// prereq is what a packet must be for a field to exist in it (OVS's
// MFP_*): a flow may only match or write the field when its own match
// guarantees it, and a packet only has it then.
type prereq uint8

const (
	prereqNone prereq = iota
	prereqARP
	prereqIPv6
	prereqICMPv6
	prereqND        // a solicitation or an advertisement, ICMPv6 code 0
	prereqNDSolicit // a solicitation
	prereqNDAdvert  // an advertisement
)

// holds reports whether s meets prerequisite p (OVS's mf_are_prereqs_ok).
func (p prereq) holds(s *state) bool {
	f := &s.frame
	icmpv6 := f.EthType == EthTypeIPv6 && f.IPv6.Proto == ProtoICMPv6
	nd := icmpv6 && f.IPv6.ICMPCode == 0
	switch p {
	case prereqARP:
		return f.EthType == EthTypeARP
	case prereqIPv6:
		return f.EthType == EthTypeIPv6
	case prereqICMPv6:
		return icmpv6
	case prereqND:
		return nd && (f.IPv6.ICMPType == NeighborSolicit || f.IPv6.ICMPType == NeighborAdvert)
	case prereqNDSolicit:
		return nd && f.IPv6.ICMPType == NeighborSolicit
	case prereqNDAdvert:
		return nd && f.IPv6.ICMPType == NeighborAdvert
	}
	return true
}

// field is one match field OVS knows, as the simulator models it: its
// value is big-endian bytes of its width.
type field struct {
	name     string // as ovs-ofctl names it
	width    int    // bytes
	prereq   prereq
	maskable bool
	writable bool
	get      func(*state) []byte
	set      func(*state, []byte)
}

func (f *field) bits() int { return 8 * f.width }

// OXM classes (OpenFlow 1.3 section 7.2.3.2; OVS's Ericsson class).
const (
	classNXM0     = 0x0000
	classNXM1     = 0x0001
	classBasic    = 0x8000
	classEricsson = 0x1000
)

// fieldKey identifies a field by OXM class and field number (a header
// without its has-mask bit and length).
func fieldKey(class uint16, number uint8) uint32 { return uint32(class)<<7 | uint32(number) }

// fields are the fields the simulator knows, by key. Their numbers are
// OVS's (include/openvswitch/meta-flow.h): every field l2gw's flows match
// or write, under each of its NXM and OXM names.
var fields = map[uint32]*field{}

func init() {
	def := func(f *field, keys ...uint32) {
		for _, k := range keys {
			fields[k] = f
		}
	}
	// Accessors of a field held in the state as a MAC, an address or an
	// integer.
	type access struct {
		get func(*state) []byte
		set func(*state, []byte)
	}
	mac := func(p func(*state) *MAC) access {
		return access{func(s *state) []byte { m := *p(s); return m[:] }, func(s *state, b []byte) { copy(p(s)[:], b) }}
	}
	ip4 := func(p func(*state) *IP4) access {
		return access{func(s *state) []byte { a := *p(s); return a[:] }, func(s *state, b []byte) { copy(p(s)[:], b) }}
	}
	ip6 := func(p func(*state) *IP6) access {
		return access{func(s *state) []byte { a := *p(s); return a[:] }, func(s *state, b []byte) { copy(p(s)[:], b) }}
	}
	u8 := func(p func(*state) *uint8) access {
		return access{func(s *state) []byte { return []byte{*p(s)} }, func(s *state, b []byte) { *p(s) = b[0] }}
	}
	u16 := func(p func(*state) *uint16) access {
		return access{func(s *state) []byte { return binary.BigEndian.AppendUint16(nil, *p(s)) },
			func(s *state, b []byte) { *p(s) = binary.BigEndian.Uint16(b) }}
	}
	u32 := func(p func(*state) *uint32) access {
		return access{func(s *state) []byte { return binary.BigEndian.AppendUint32(nil, *p(s)) },
			func(s *state, b []byte) { *p(s) = binary.BigEndian.Uint32(b) }}
	}
	u64 := func(p func(*state) *uint64) access {
		return access{func(s *state) []byte { return binary.BigEndian.AppendUint64(nil, *p(s)) },
			func(s *state, b []byte) { *p(s) = binary.BigEndian.Uint64(b) }}
	}
	with := func(f field, a access) *field {
		f.get, f.set = a.get, a.set
		return &f
	}

	// in_port: 32 bits as OXM, 16 as NXM (the ports l2gw uses fit).
	def(with(field{name: "in_port", width: 4}, u32(func(s *state) *uint32 { return &s.inPort })), fieldKey(classBasic, 0))
	def(with(field{name: "in_port", width: 2},
		access{get: func(s *state) []byte { return binary.BigEndian.AppendUint16(nil, uint16(s.inPort)) }}), fieldKey(classNXM0, 0))

	def(with(field{name: "eth_dst", width: 6, maskable: true, writable: true}, mac(func(s *state) *MAC { return &s.frame.EthDst })),
		fieldKey(classBasic, 3), fieldKey(classNXM0, 1))
	def(with(field{name: "eth_src", width: 6, maskable: true, writable: true}, mac(func(s *state) *MAC { return &s.frame.EthSrc })),
		fieldKey(classBasic, 4), fieldKey(classNXM0, 2))
	def(with(field{name: "eth_type", width: 2}, u16(func(s *state) *uint16 { return &s.frame.EthType })),
		fieldKey(classBasic, 5), fieldKey(classNXM0, 3))
	// vlan_vid (OXM): OFPVID_PRESENT (0x1000) | VID for a tagged frame, 0
	// for an untagged one; writing it needs a tag (push_vlan first).
	def(&field{name: "vlan_vid", width: 2, maskable: true, writable: true,
		get: func(s *state) []byte {
			if !s.tagged {
				return []byte{0, 0}
			}
			return binary.BigEndian.AppendUint16(nil, 0x1000|s.frame.VLAN)
		},
		set: func(s *state, b []byte) { s.frame.VLAN = binary.BigEndian.Uint16(b) & 0xfff },
	}, fieldKey(classBasic, 6))
	def(with(field{name: "ip_proto", width: 1, prereq: prereqIPv6}, u8(func(s *state) *uint8 { return &s.frame.IPv6.Proto })),
		fieldKey(classBasic, 10), fieldKey(classNXM0, 6))

	arp := field{width: 4, prereq: prereqARP, maskable: true, writable: true}
	arpOp := arp
	arpOp.name, arpOp.width, arpOp.maskable = "arp_op", 2, false
	def(with(arpOp, u16(func(s *state) *uint16 { return &s.frame.ARP.Op })), fieldKey(classBasic, 21), fieldKey(classNXM0, 15))
	arp.name = "arp_spa"
	def(with(arp, ip4(func(s *state) *IP4 { return &s.frame.ARP.SPA })), fieldKey(classBasic, 22), fieldKey(classNXM0, 16))
	arp.name = "arp_tpa"
	def(with(arp, ip4(func(s *state) *IP4 { return &s.frame.ARP.TPA })), fieldKey(classBasic, 23), fieldKey(classNXM0, 17))
	arp.name, arp.width = "arp_sha", 6
	def(with(arp, mac(func(s *state) *MAC { return &s.frame.ARP.SHA })), fieldKey(classBasic, 24), fieldKey(classNXM1, 17))
	arp.name = "arp_tha"
	def(with(arp, mac(func(s *state) *MAC { return &s.frame.ARP.THA })), fieldKey(classBasic, 25), fieldKey(classNXM1, 18))

	v6 := field{width: 16, prereq: prereqIPv6, maskable: true, writable: true}
	v6.name = "ipv6_src"
	def(with(v6, ip6(func(s *state) *IP6 { return &s.frame.IPv6.Src })), fieldKey(classBasic, 26), fieldKey(classNXM1, 19))
	v6.name = "ipv6_dst"
	def(with(v6, ip6(func(s *state) *IP6 { return &s.frame.IPv6.Dst })), fieldKey(classBasic, 27), fieldKey(classNXM1, 20))
	icmp := field{width: 1, prereq: prereqICMPv6, writable: true}
	icmp.name = "icmpv6_type"
	def(with(icmp, u8(func(s *state) *uint8 { return &s.frame.IPv6.ICMPType })), fieldKey(classBasic, 29), fieldKey(classNXM1, 21))
	icmp.name = "icmpv6_code"
	def(with(icmp, u8(func(s *state) *uint8 { return &s.frame.IPv6.ICMPCode })), fieldKey(classBasic, 30), fieldKey(classNXM1, 22))
	nd := field{name: "nd_target", width: 16, prereq: prereqND, maskable: true, writable: true}
	def(with(nd, ip6(func(s *state) *IP6 { return &s.frame.IPv6.NDTarget })), fieldKey(classBasic, 31), fieldKey(classNXM1, 23))
	nd.name, nd.width, nd.prereq = "nd_sll", 6, prereqNDSolicit
	def(with(nd, mac(func(s *state) *MAC { return &s.frame.IPv6.NDSLL })), fieldKey(classBasic, 32), fieldKey(classNXM1, 24))
	nd.name, nd.prereq = "nd_tll", prereqNDAdvert
	def(with(nd, mac(func(s *state) *MAC { return &s.frame.IPv6.NDTLL })), fieldKey(classBasic, 33), fieldKey(classNXM1, 25))
	nd = field{name: "nd_reserved", width: 4, prereq: prereqND, writable: true}
	def(with(nd, u32(func(s *state) *uint32 { return &s.frame.IPv6.NDReserved })), fieldKey(classEricsson, 1))
	nd.name, nd.width = "nd_options_type", 1
	def(with(nd, u8(func(s *state) *uint8 { return &s.frame.IPv6.NDOptionsType })), fieldKey(classEricsson, 2))

	tun := field{width: 4, maskable: true, writable: true}
	tun.name = "tun_src"
	def(with(tun, ip4(func(s *state) *IP4 { return &s.tunSrc })), fieldKey(classNXM1, 31))
	tun.name = "tun_dst"
	def(with(tun, ip4(func(s *state) *IP4 { return &s.tunDst })), fieldKey(classNXM1, 32))
	tun.name, tun.width = "tun_ipv6_src", 16
	def(with(tun, ip6(func(s *state) *IP6 { return &s.tunSrc6 })), fieldKey(classNXM1, 109))
	tun.name = "tun_ipv6_dst"
	def(with(tun, ip6(func(s *state) *IP6 { return &s.tunDst6 })), fieldKey(classNXM1, 110))
	tun.name, tun.width = "tun_id", 8
	def(with(tun, u64(func(s *state) *uint64 { return &s.tunID })), fieldKey(classBasic, 38), fieldKey(classNXM1, 16))

	for i := range 16 {
		reg := field{name: fmt.Sprintf("reg%d", i), width: 4, maskable: true, writable: true}
		def(with(reg, u32(func(s *state) *uint32 { return &s.regs[i] })), fieldKey(classNXM1, uint8(i)))
	}
}

// lookupField returns the field an OXM/NXM header names and whether the
// header has a mask, checking its length.
func lookupField(header uint32) (*field, bool, error) {
	class, number, masked, n := uint16(header>>16), uint8(header>>9&0x7f), header&0x100 != 0, int(header&0xff)
	f, ok := fields[fieldKey(class, number)]
	if !ok {
		return nil, false, fmt.Errorf("field %d of OXM class %#04x is not one the simulator knows", number, class)
	}
	if want := map[bool]int{false: f.width, true: 2 * f.width}[masked]; n != want {
		return nil, false, fmt.Errorf("field %s of %d bytes, want %d", f.name, n, want)
	}
	if masked && !f.maskable {
		return nil, false, fmt.Errorf("field %s cannot be masked", f.name)
	}
	return f, masked, nil
}

// subfield is bits [ofs, ofs+bits) of a field (bit 0 the least significant).
type subfield struct {
	f         *field
	ofs, bits int
}

func (sf subfield) String() string {
	if sf.ofs == 0 && sf.bits == sf.f.bits() {
		return sf.f.name
	}
	return fmt.Sprintf("%s[%d..%d]", sf.f.name, sf.ofs, sf.ofs+sf.bits-1)
}

// newSubfield checks that bits [ofs, ofs+bits) are in the field header names.
func newSubfield(header uint32, ofs, bits int) (subfield, error) {
	f, masked, err := lookupField(header)
	switch {
	case err != nil:
		return subfield{}, err
	case masked:
		return subfield{}, fmt.Errorf("masked header for subfield of %s", f.name)
	case bits <= 0 || ofs < 0 || ofs+bits > f.bits():
		return subfield{}, fmt.Errorf("bits %d..%d are not in %d-bit field %s", ofs, ofs+bits-1, f.bits(), f.name)
	}
	return subfield{f: f, ofs: ofs, bits: bits}, nil
}

// read returns the subfield's bits of s, right-aligned in ceil(bits/8) bytes.
func (sf subfield) read(s *state) []byte {
	out := make([]byte, (sf.bits+7)/8)
	copyBits(out, 0, sf.f.get(s), sf.ofs, sf.bits)
	return out
}

// write sets the subfield's bits of s to the right-aligned bits of v.
func (sf subfield) write(s *state, v []byte) {
	b := sf.f.get(s)
	copyBits(b, sf.ofs, v, 0, sf.bits)
	sf.f.set(s, b)
}

// copyBits copies n bits of src from bit srcOfs to dst at bit dstOfs; bits
// are numbered from the least significant end of the big-endian slices.
func copyBits(dst []byte, dstOfs int, src []byte, srcOfs, n int) {
	for i := range n {
		s, d := srcOfs+i, dstOfs+i
		bit := src[len(src)-1-s/8] >> (s % 8) & 1
		p := &dst[len(dst)-1-d/8]
		*p = *p&^(1<<(d%8)) | bit<<(d%8)
	}
}
