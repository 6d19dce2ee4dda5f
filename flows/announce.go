package flows

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/contiv/libOpenflow/openflow13"
)

// announcement is an address a local host announced of itself, read from
// the copy TableSnoop sent: the network (reg6) and port (in_port) it came
// by, the host's MAC and the address.
type announcement struct {
	network uint32
	port    uint32
	mac     [6]byte
	ip      netip.Addr
}

// Sizes of the OpenFlow 1.3 packet-in before its match, and of the frames
// parsed.
const (
	packetInFixedLen = 24 // header, buffer_id, total_len, reason, table_id, cookie
	ethHeaderLen     = 14
	arpLen           = 28
	ipv6HeaderLen    = 40
	ndMessageLen     = 24 // ICMPv6 type, code, checksum, flags/reserved, target
)

var (
	hdrInPortOXM = fieldHeader("OXM_OF_IN_PORT")
	errNotSnoop  = errors.New("not a copy of TableSnoop's")
)

// isPacketIn reports whether the message whose header is h is a packet-in.
func isPacketIn(h []byte) bool { return len(h) >= ofpHeaderLen && h[1] == openflow13.Type_PacketIn }

// parseSnoopPacketIn reads the host announcement of msg, an OpenFlow 1.3
// packet-in. Only TableSnoop's copies count (reason action, its table, a
// pipeline cookie); their frame must be an announcement announcedAddress
// accepts, and the match must say the network and port.
func parseSnoopPacketIn(msg []byte) (announcement, error) {
	if len(msg) < packetInFixedLen+8 || !isPacketIn(msg) {
		return announcement{}, errors.New("not an OpenFlow 1.3 packet-in")
	}
	n := int(binary.BigEndian.Uint16(msg[2:4]))
	if n < packetInFixedLen+8 || n > len(msg) {
		return announcement{}, fmt.Errorf("packet-in of length %d, have %d bytes", n, len(msg))
	}
	msg = msg[:n]
	reason, table, cookie := msg[14], msg[15], binary.BigEndian.Uint64(msg[16:24])
	tag, owner, _ := DecodeCookie(cookie)
	if reason != openflow13.R_ACTION || table != TableSnoop || tag != TagController || owner.Kind != KindPipeline {
		return announcement{}, fmt.Errorf("%w (reason %d, table %d, cookie %#x)", errNotSnoop, reason, table, cookie)
	}
	m := msg[packetInFixedLen:]
	l := int(binary.BigEndian.Uint16(m[2:4]))
	if binary.BigEndian.Uint16(m[0:2]) != openflow13.MatchType_OXM || l < 4 || pad8(l)+2 > len(m) {
		return announcement{}, fmt.Errorf("packet-in match of type %d and length %d in %d bytes", binary.BigEndian.Uint16(m[0:2]), l, len(m))
	}
	var a announcement
	oxm := m[4:l]
	network, okNet := oxmField(oxm, reg6Header)
	port, okPort := oxmField(oxm, hdrInPortOXM)
	if !okNet || !okPort || len(network) != 4 || len(port) != 4 {
		return announcement{}, errors.New("packet-in match without the network (reg6) and in_port")
	}
	a.network, a.port = binary.BigEndian.Uint32(network), binary.BigEndian.Uint32(port)
	var err error
	if a.mac, a.ip, err = announcedAddress(m[pad8(l)+2:]); err != nil {
		return announcement{}, err
	}
	return a, nil
}

// announcedAddress returns the host MAC and the address frame announces,
// when frame is one of:
//
//   - an ARP request or reply (gratuitous ones included) for IPv4 over
//     Ethernet whose sender MAC is the frame's source: the sender address;
//   - a neighbour solicitation from a unicast source whose source
//     link-layer address option is the frame's source: the source
//     address (duplicate address detection, from ::, announces nothing);
//   - a neighbour advertisement whose target link-layer address option is
//     the frame's source: the target address.
//
// Neighbour discovery must come as RFC 4861 says (hop limit 255, code 0,
// no extension headers, a valid checksum, well-formed options). The
// address must be a host's (hostAddress) and the MAC a unicast one.
func announcedAddress(frame []byte) ([6]byte, netip.Addr, error) {
	if len(frame) < ethHeaderLen {
		return [6]byte{}, netip.Addr{}, fmt.Errorf("frame of %d bytes", len(frame))
	}
	src := [6]byte(frame[6:12])
	if src[0]&1 != 0 || src == [6]byte{} {
		return src, netip.Addr{}, fmt.Errorf("source MAC %x is not a host's", src)
	}
	var ip netip.Addr
	var err error
	switch typ := binary.BigEndian.Uint16(frame[12:14]); typ {
	case 0x0806:
		ip, err = arpSender(frame[ethHeaderLen:], src)
	case 0x86dd:
		ip, err = ndAnnounced(frame[ethHeaderLen:], src)
	default:
		err = fmt.Errorf("ethertype %#04x is neither ARP nor IPv6", typ)
	}
	if err == nil && !hostAddress(ip) {
		err = fmt.Errorf("%s is not a host's address", ip)
	}
	return src, ip, err
}

// hostAddress reports whether ip can be a host's own address: a unicast
// address beyond the link (not unspecified, loopback, multicast, broadcast
// or link-local; not IPv4-mapped IPv6). Link-local addresses are left out:
// every IPv6 host has one, they would take one of its MaxHostIPs, and
// they name nothing a MAC+IP route is for.
func hostAddress(ip netip.Addr) bool { return ip.IsGlobalUnicast() && !ip.Is4In6() }

// arpSender reads an ARP request or reply for IPv4 over Ethernet whose
// sender MAC is src and returns its sender address.
func arpSender(b []byte, src [6]byte) (netip.Addr, error) {
	if len(b) < arpLen {
		return netip.Addr{}, fmt.Errorf("ARP message of %d bytes", len(b))
	}
	htype, ptype, hlen, plen, op := binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4]), b[4], b[5], binary.BigEndian.Uint16(b[6:8])
	switch {
	case htype != 1 || ptype != 0x0800 || hlen != 6 || plen != 4:
		return netip.Addr{}, fmt.Errorf("ARP for hardware %d protocol %#04x (%d, %d bytes), not IPv4 over Ethernet", htype, ptype, hlen, plen)
	case op != 1 && op != 2:
		return netip.Addr{}, fmt.Errorf("ARP operation %d", op)
	case !bytes.Equal(b[8:14], src[:]):
		return netip.Addr{}, fmt.Errorf("ARP sender MAC %x is not the frame's source %x", b[8:14], src)
	}
	return netip.AddrFrom4([4]byte(b[14:18])), nil
}

// ndOptSourceLLAddr is the source link-layer address option's type (RFC
// 4861 section 4.6.1; the target's, ndOptTargetLLAddr, is the responder's).
const ndOptSourceLLAddr = 1

// protoICMPv6 is ICMPv6's IP protocol number.
const protoICMPv6 = 58

// ndAnnounced reads a neighbour solicitation or advertisement (b is the
// IPv6 packet) announcing an address of src's.
func ndAnnounced(b []byte, src [6]byte) (netip.Addr, error) {
	if len(b) < ipv6HeaderLen || b[0]>>4 != 6 {
		return netip.Addr{}, errors.New("not an IPv6 packet")
	}
	payload := int(binary.BigEndian.Uint16(b[4:6]))
	if b[6] != protoICMPv6 || b[7] != 255 || payload < ndMessageLen || ipv6HeaderLen+payload > len(b) {
		return netip.Addr{}, fmt.Errorf("not neighbour discovery (next header %d, hop limit %d, payload %d of %d bytes)",
			b[6], b[7], payload, len(b)-ipv6HeaderLen)
	}
	srcIP, dstIP := netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
	icmp := b[ipv6HeaderLen : ipv6HeaderLen+payload]
	typ, code := icmp[0], icmp[1]
	if (typ != icmpv6NeighborSolicit && typ != icmpv6NeighborAdvert) || code != 0 {
		return netip.Addr{}, fmt.Errorf("ICMPv6 type %d code %d is no neighbour solicitation or advertisement", typ, code)
	}
	if sum := icmpv6Checksum(srcIP, dstIP, icmp); sum != 0 {
		return netip.Addr{}, fmt.Errorf("ICMPv6 checksum wrong (sums to %#04x)", sum)
	}
	want, announced := byte(ndOptTargetLLAddr), netip.AddrFrom16([16]byte(icmp[8:24]))
	if typ == icmpv6NeighborSolicit {
		want, announced = ndOptSourceLLAddr, srcIP
		if srcIP.IsUnspecified() {
			return netip.Addr{}, errors.New("duplicate address detection (from ::) announces no address")
		}
	}
	ll, err := ndOption(icmp[ndMessageLen:], want)
	if err != nil {
		return netip.Addr{}, err
	}
	if !bytes.Equal(ll, src[:]) {
		return netip.Addr{}, fmt.Errorf("link-layer address option %x is not the frame's source %x", ll, src)
	}
	return announced, nil
}

// ndOption returns the link-layer address of the first option of type typ
// among opts; every option must be well-formed.
func ndOption(opts []byte, typ byte) ([]byte, error) {
	var found []byte
	for len(opts) > 0 {
		if len(opts) < 8 || opts[1] == 0 || 8*int(opts[1]) > len(opts) {
			return nil, fmt.Errorf("malformed neighbour discovery option in %d bytes", len(opts))
		}
		n := 8 * int(opts[1])
		if opts[0] == typ && found == nil {
			found = opts[2:8]
		}
		opts = opts[n:]
	}
	if found == nil {
		return nil, fmt.Errorf("no link-layer address option (type %d)", typ)
	}
	return found, nil
}

// icmpv6Checksum returns the one's complement sum of the ICMPv6 message msg
// from src to dst with its pseudo-header (RFC 8200 section 8.1), folded and
// complemented: 0 when msg's checksum is right.
func icmpv6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	add(binary.BigEndian.AppendUint32(nil, uint32(len(msg))))
	add([]byte{0, 0, 0, protoICMPv6})
	add(msg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
