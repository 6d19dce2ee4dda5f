package flows

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/contiv/libOpenflow/openflow13"
)

// Frames a gateway that becomes active sends out of its local attachments
// (Session.SendPacket), so that the local switches move their entries for
// the remote MACs to it: a RARP per MAC, as QEMU and OVN announce a moved
// guest, or a gratuitous ARP where the MAC's IPv4 address is known.

// packetOutFixedLen is the size of an OpenFlow 1.3 packet-out before its
// actions: header, buffer_id, in_port, actions_len, pad.
const packetOutFixedLen = 24

// noBuffer is OFP_NO_BUFFER: the packet-out carries its frame.
const noBuffer = 0xffffffff

// minFrameLen is the shortest Ethernet frame without its FCS: shorter
// announcements are padded to it.
const minFrameLen = 60

// SendPacket sends frame (a whole Ethernet frame, any VLAN tag in it) out
// of the switch's port outPort, as an OpenFlow packet-out (no buffer, in_port
// CONTROLLER, one output action): it enters no table. It fails when no
// switch is connected, when ctx ended, when outPort is not a port number
// or the frame is too short or too long for one message; OVS drops a frame
// to a port it does not have without an error, so a nil error means the
// message was handed to the connection.
func (s *Session) SendPacket(ctx context.Context, outPort uint32, frame []byte) error {
	if outPort == 0 || outPort > openflow13.P_MAX {
		return fmt.Errorf("send packet: %d is not a port number", outPort)
	}
	act := output(outPort)
	n := packetOutFixedLen + len(act) + len(frame)
	if len(frame) < ethHeaderLen || n > MaxMessageLen {
		return fmt.Errorf("send packet: a frame of %d bytes", len(frame))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("send packet: %w", err)
	}
	sw := s.current()
	if sw == nil {
		return fmt.Errorf("send packet: %w", ErrNotConnected)
	}
	m := make(rawMessage, 0, n)
	m = append(m, openflow13.VERSION, openflow13.Type_PacketOut)
	m = binary.BigEndian.AppendUint16(m, uint16(n))
	m = binary.BigEndian.AppendUint32(m, newXid())
	m = binary.BigEndian.AppendUint32(m, noBuffer)
	m = binary.BigEndian.AppendUint32(m, openflow13.P_CONTROLLER)
	m = binary.BigEndian.AppendUint16(m, uint16(len(act)))
	m = append(m, 0, 0, 0, 0, 0, 0)
	m = append(m, act...)
	m = append(m, frame...)
	if err := sw.Send(m); err != nil {
		return fmt.Errorf("send packet out of port %d: %w", outPort, err)
	}
	return nil
}

// broadcastMAC is ff:ff:ff:ff:ff:ff.
var broadcastMAC = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// arpFrame builds a broadcast frame from mac of EtherType typ carrying an
// Ethernet/IPv4 ARP message with operation op, padded to minFrameLen.
func arpFrame(typ, op uint16, sha [6]byte, spa [4]byte, tha [6]byte, tpa [4]byte) []byte {
	f := make([]byte, 0, minFrameLen)
	f = append(f, broadcastMAC[:]...)
	f = append(f, sha[:]...)
	f = binary.BigEndian.AppendUint16(f, typ)
	f = append(f, 0, 1, 0x08, 0x00, 6, 4) // Ethernet, IPv4, their lengths
	f = binary.BigEndian.AppendUint16(f, op)
	f = append(f, sha[:]...)
	f = append(f, spa[:]...)
	f = append(f, tha[:]...)
	f = append(f, tpa[:]...)
	return f[:minFrameLen]
}

// EtherTypes and operations of the announcements: RARP's reverse
// request (RFC 903), ARP's request.
const (
	etherTypeRARP = 0x8035
	rarpOpRequest = 3
	etherTypeARP  = 0x0806
	arpOpRequest  = 1
)

// RARP is the announcement of mac: a broadcast RARP request ("reverse
// request") from mac for mac, without addresses, as QEMU sends for a
// migrated guest. A switch that sees it learns mac on the port it came in.
func RARP(mac [6]byte) []byte {
	return arpFrame(etherTypeRARP, rarpOpRequest, mac, [4]byte{}, mac, [4]byte{})
}

// GratuitousARP is the announcement of mac with its IPv4 address ip: a
// broadcast ARP request from mac for ip, sent by ip itself (sender and
// target ip), which switches learn mac from and hosts refresh their ARP
// entry for ip with. It returns nil when ip is not an IPv4 address.
func GratuitousARP(mac [6]byte, ip netip.Addr) []byte {
	if ip = ip.Unmap(); !ip.Is4() {
		return nil
	}
	return arpFrame(etherTypeARP, arpOpRequest, mac, ip.As4(), [6]byte{}, ip.As4())
}
