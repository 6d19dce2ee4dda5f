package evpn

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// What the relay reads of BGP messages (RFC 4271 section 4).
const (
	bgpHeaderLen       = 19 // marker (16 bytes), length (2), type (1)
	bgpMaxLen          = 65535
	bgpMsgUpdate       = 2
	attrFlagExtLen     = 0x10 // the attribute length takes 2 bytes
	attrExtCommunities = 16   // RFC 4360
	ecLen              = 8    // an extended community
	ecTypeEVPN         = 0x06 // RFC 7153 section 5.2.1
)

// errFraming is what a stream that is not a sequence of BGP messages
// gives: the relay closes both sides of its session.
var errFraming = errors.New("BGP framing")

// relayMessages copies the BGP messages a real peer sends (src) to GoBGP
// (dst), byte for byte except UPDATEs that carry EVPN extended communities
// GoBGP cannot parse: those lose them (stripUnparsable), and stripped is
// called with each one's subtype. It returns nil when src ends at a
// message boundary, an error wrapping errFraming when src is no BGP
// stream, or the read or write error.
func relayMessages(dst io.Writer, src io.Reader, stripped func(subtype uint8)) error {
	in := bufio.NewReaderSize(src, 64<<10)
	out := bufio.NewWriterSize(dst, 64<<10)
	buf := make([]byte, bgpMaxLen)
	for {
		// Nothing written waits for more input: flush before a read
		// that could block.
		if in.Buffered() < bgpHeaderLen {
			if err := out.Flush(); err != nil {
				return err
			}
		}
		if _, err := io.ReadFull(in, buf[:bgpHeaderLen]); err != nil {
			if err == io.EOF {
				return nil
			}
			return cutShort(err, bgpHeaderLen)
		}
		n, err := messageLen(buf[:bgpHeaderLen])
		if err != nil {
			return err
		}
		if in.Buffered() < n-bgpHeaderLen {
			if err := out.Flush(); err != nil {
				return err
			}
		}
		if _, err := io.ReadFull(in, buf[bgpHeaderLen:n]); err != nil {
			return cutShort(err, n)
		}
		msg := buf[:n]
		if msg[18] == bgpMsgUpdate {
			var subtypes []uint8
			msg, subtypes = stripUnparsable(msg)
			for _, st := range subtypes {
				stripped(st)
			}
		}
		if _, err := out.Write(msg); err != nil {
			return err
		}
	}
}

// cutShort is a read error in the middle of a message of n bytes.
func cutShort(err error, n int) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: stream ends inside a message of %d bytes", errFraming, n)
	}
	return err
}

// messageLen checks a BGP message header and returns the message's length.
func messageLen(h []byte) (int, error) {
	for _, b := range h[:16] {
		if b != 0xff {
			return 0, fmt.Errorf("%w: marker is not all ones (% x)", errFraming, h[:16])
		}
	}
	n := int(binary.BigEndian.Uint16(h[16:18]))
	if n < bgpHeaderLen {
		return 0, fmt.Errorf("%w: message length %d is less than the header's %d bytes", errFraming, n, bgpHeaderLen)
	}
	return n, nil
}

// stripUnparsable returns the UPDATE message msg (header included)
// without the EVPN extended communities GoBGP v4.8.0 cannot parse, with
// the attribute, path attribute and message lengths fixed (an attribute
// left empty goes), and the subtypes of what it removed. GoBGP's
// parseEvpnExtended (pkg/packet/bgp/bgp.go:14356-14424) knows subtypes
// 0-5 and 9 with non-zero flags; any other, such as FRR's ARP/ND
// community (subtype 8, RFC 9047) on MAC/IP routes of IPv6 routers, or its
// DF election community (subtype 6) on type-4 routes, fails the whole
// attribute, and GoBGP treats the UPDATE as a withdrawal (bgp.go:17043,
// fsm.go:1265-1287, peer.go:664-676). GoBGP's own parser is the judge
// (bgp.ParseExtended), so what it learns to read passes again.
//
// msg itself comes back when nothing is stripped, and when the UPDATE's
// own lengths do not add up: GoBGP answers a malformed UPDATE as it
// always has.
func stripUnparsable(msg []byte) ([]byte, []uint8) {
	body := msg[bgpHeaderLen:]
	if len(body) < 4 {
		return msg, nil
	}
	withdrawn := int(binary.BigEndian.Uint16(body))
	attrsAt := 2 + withdrawn + 2 // body offset of the path attributes
	if attrsAt > len(body) {
		return msg, nil
	}
	attrsLen := int(binary.BigEndian.Uint16(body[attrsAt-2:]))
	if attrsAt+attrsLen > len(body) {
		return msg, nil
	}
	attrs := body[attrsAt : attrsAt+attrsLen]
	var subtypes []uint8
	for rest := attrs; len(rest) > 0; {
		attr, value, ok := nextAttr(rest)
		if !ok {
			return msg, nil
		}
		rest = rest[len(attr):]
		if isCommunities(attr, value) {
			for c := value; len(c) > 0; c = c[ecLen:] {
				if unparsable(c[:ecLen]) {
					subtypes = append(subtypes, c[1])
				}
			}
		}
	}
	if len(subtypes) == 0 {
		return msg, nil
	}
	out := make([]byte, 0, len(msg))
	out = append(out, msg[:bgpHeaderLen+attrsAt]...)
	for rest := attrs; len(rest) > 0; {
		attr, value, _ := nextAttr(rest)
		rest = rest[len(attr):]
		if !isCommunities(attr, value) {
			out = append(out, attr...)
			continue
		}
		var kept []byte
		for c := value; len(c) > 0; c = c[ecLen:] {
			if !unparsable(c[:ecLen]) {
				kept = append(kept, c[:ecLen]...)
			}
		}
		if len(kept) == 0 {
			continue
		}
		out = append(out, attr[0], attr[1])
		if attr[0]&attrFlagExtLen != 0 {
			out = binary.BigEndian.AppendUint16(out, uint16(len(kept)))
		} else {
			out = append(out, byte(len(kept)))
		}
		out = append(out, kept...)
	}
	newAttrsLen := len(out) - bgpHeaderLen - attrsAt
	out = append(out, body[attrsAt+attrsLen:]...) // the NLRI
	binary.BigEndian.PutUint16(out[16:], uint16(len(out)))
	binary.BigEndian.PutUint16(out[bgpHeaderLen+attrsAt-2:], uint16(newAttrsLen))
	return out, subtypes
}

// nextAttr returns the path attribute that b starts with and its value;
// false when b is too short for it.
func nextAttr(b []byte) (attr, value []byte, ok bool) {
	if len(b) < 3 {
		return nil, nil, false
	}
	head, n := 3, int(b[2])
	if b[0]&attrFlagExtLen != 0 {
		if len(b) < 4 {
			return nil, nil, false
		}
		head, n = 4, int(binary.BigEndian.Uint16(b[2:4]))
	}
	if len(b) < head+n {
		return nil, nil, false
	}
	return b[:head+n], b[head : head+n], true
}

// isCommunities tells whether attr is a well-formed extended communities
// attribute (one of the wrong length is left to GoBGP).
func isCommunities(attr, value []byte) bool {
	return attr[1] == attrExtCommunities && len(value)%ecLen == 0
}

// unparsable tells whether c is an EVPN extended community GoBGP cannot
// parse.
func unparsable(c []byte) bool {
	if c[0] != ecTypeEVPN {
		return false
	}
	_, err := bgp.ParseExtended(c)
	return err != nil
}
