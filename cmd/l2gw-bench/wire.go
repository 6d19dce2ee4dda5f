package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// capture reads the frames a network device of the benchmark's namespace
// receives (those sent on it are skipped) through a packet socket.
type capture struct {
	dev string
	fd  int
}

// openCapture starts capturing on dev: frames it receives from then on
// queue until read.
func openCapture(dev string) (*capture, error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", dev, err)
	}
	proto := int(htons(unix.ETH_P_ALL))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, proto)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind a packet socket to %s: %w", dev, err)
	}
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("receive timeout on %s: %w", dev, err)
	}
	return &capture{dev: dev, fd: fd}, nil
}

// close ends the capture.
func (c *capture) close() { unix.Close(c.fd) }

// find reads received frames until one that match accepts, which it
// returns, or until deadline; then it still reads the frames already
// queued, and returns nil if none matched.
func (c *capture) find(deadline time.Time, match func([]byte) bool) ([]byte, error) {
	buf := make([]byte, 65536)
	for {
		late := !time.Now().Before(deadline)
		flags := 0
		if late {
			flags = unix.MSG_DONTWAIT
		}
		n, from, err := unix.Recvfrom(c.fd, buf, flags)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			if late {
				return nil, nil
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read a frame on %s: %w", c.dev, err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if match(buf[:n]) {
			return append([]byte(nil), buf[:n]...), nil
		}
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Ethernet and ARP constants of the frames built and read here.
const (
	etherTypeARP  = 0x0806
	etherTypeIPv4 = 0x0800
	arpRequest    = 1
	arpReply      = 2
	vxlanPort     = 4789
)

// arpRequestFrame is a broadcast ARP request from mac/ip asking for target.
func arpRequestFrame(mac [6]byte, ip, target netip.Addr) []byte {
	f := make([]byte, 60) // the minimum frame, padded
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], mac[:])
	binary.BigEndian.PutUint16(f[12:], etherTypeARP)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:], 1) // Ethernet
	binary.BigEndian.PutUint16(a[2:], etherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], arpRequest)
	copy(a[8:14], mac[:])
	ip4, t4 := ip.As4(), target.As4()
	copy(a[14:18], ip4[:])
	copy(a[24:28], t4[:])
	return f
}

// arpOf parses an untagged Ethernet frame holding an IPv4 ARP message:
// its operation, sender hardware address and sender and target addresses.
func arpOf(f []byte) (op uint16, sha net.HardwareAddr, spa, tpa netip.Addr, ok bool) {
	if len(f) < 14+28 || binary.BigEndian.Uint16(f[12:]) != etherTypeARP {
		return 0, nil, netip.Addr{}, netip.Addr{}, false
	}
	a := f[14:]
	if binary.BigEndian.Uint16(a[2:]) != etherTypeIPv4 || a[4] != 6 || a[5] != 4 {
		return 0, nil, netip.Addr{}, netip.Addr{}, false
	}
	return binary.BigEndian.Uint16(a[6:]), net.HardwareAddr(a[8:14]),
		netip.AddrFrom4([4]byte(a[14:18])), netip.AddrFrom4([4]byte(a[24:28])), true
}

// vxlanInner parses an untagged Ethernet frame holding a VXLAN packet over
// IPv4 (UDP port 4789): its outer destination, its VNI and the frame it
// carries.
func vxlanInner(f []byte) (dst netip.Addr, vni uint32, inner []byte, ok bool) {
	if len(f) < 14+20 || binary.BigEndian.Uint16(f[12:]) != etherTypeIPv4 {
		return netip.Addr{}, 0, nil, false
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || ip[9] != unix.IPPROTO_UDP || len(ip) < ihl+8+8 {
		return netip.Addr{}, 0, nil, false
	}
	udp := ip[ihl:]
	if binary.BigEndian.Uint16(udp[2:]) != vxlanPort {
		return netip.Addr{}, 0, nil, false
	}
	vx := udp[8:]
	return netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint32(vx[4:]) >> 8, vx[8:], true
}
