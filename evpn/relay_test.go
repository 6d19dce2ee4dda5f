package evpn

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/internal/ovstest"
)

// testPort returns a TCP port free on loopback now.
func testPort(t *testing.T) int {
	t.Helper()
	_, text, _ := net.SplitHostPort(ovstest.FreeAddr(t))
	port, _ := strconv.Atoi(text)
	return port
}

// peerWithKey makes s peer with the speaker at addr:port, with a TCP MD5
// password.
func (s *site) peerWithKey(t *testing.T, name, addr string, port int, password string) {
	t.Helper()
	err := s.sp.SetPeers(context.Background(), []app.BGPPeer{{Name: name, Address: addr, ASN: testASN, Port: uint16(port), HoldTime: 9, Password: password}})
	if err != nil {
		t.Fatal(err)
	}
}

func (s *site) established(name string) bool {
	st, ok := s.sp.PeerStatus(name)
	return ok && st.State == app.BGPEstablished
}

// md5Drops is how many segments the kernel dropped for a missing,
// unexpected or wrong TCP MD5 signature (TcpExt counters).
func md5Drops(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/net/netstat")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var names []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "TcpExt:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		n := 0
		for i, name := range names {
			if strings.HasPrefix(name, "TCPMD5") && i < len(fields) {
				v, _ := strconv.Atoi(fields[i])
				n += v
			}
		}
		return n
	}
	t.Fatal("no TcpExt counters in /proc/net/netstat")
	return 0
}

// TestTwoSpeakersMD5: sessions carry the peers' TCP MD5 passwords: with
// different ones the kernel drops the segments and no session comes up;
// once they agree, the sites learn each other's routes.
func TestTwoSpeakersMD5(t *testing.T) {
	port := testPort(t)
	a := startSite(t, "127.0.0.11", "192.0.2.1", port)
	b := startSite(t, "127.0.0.12", "192.0.2.2", port)
	before := md5Drops(t)
	a.peerWithKey(t, "b", "127.0.0.12", port, "s3cret")
	b.peerWithKey(t, "a", "127.0.0.11", port, "other")
	waitUntil(t, "the kernel drops segments signed with the wrong key", func() bool { return md5Drops(t) > before })
	if a.established("b") || b.established("a") {
		t.Fatal("a session came up with different MD5 passwords")
	}

	b.peerWithKey(t, "a", "127.0.0.11", port, "s3cret")
	a.join(t)
	b.join(t)
	waitUntil(t, "sessions up and each floods to the other", func() bool {
		return a.established("b") && b.established("a") && a.floodsTo(b.tunnel) && b.floodsTo(a.tunnel)
	})
	const host = "02:00:00:00:00:0b"
	a.learn(host)
	waitUntil(t, "b has a's host toward a", func() bool {
		m, ok := b.remoteMAC(t, host)
		return ok && m.TunnelIP == a.tunnel.String()
	})
}

// fakeFRR is a minimal BGP speaker (RFC 4271: OPEN, KEEPALIVE, UPDATE):
// an iBGP peer of AS testASN with router ID 192.0.2.3, L2VPN EVPN only,
// hold time 0 (no keepalives), that connects from 127.0.0.13 to addr.
// It returns the session once established; what the speaker sends is
// read and dropped until the test ends.
func fakeFRR(t *testing.T, addr string) net.Conn {
	t.Helper()
	open := message(1, []byte{
		4, 0xfd, 0xe8, // version 4, AS 65000
		0, 0, // hold time 0
		192, 0, 2, 3, // BGP identifier
		16,                                 // optional parameters
		2, 6, 1, 4, 0x00, 0x19, 0x00, 0x46, // multiprotocol: L2VPN EVPN
		2, 6, 65, 4, 0x00, 0x00, 0xfd, 0xe8, // 4-octet AS 65000
	})
	var c net.Conn
	waitUntil(t, "a BGP session with the speaker", func() bool {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.13:0"))}
		conn, err := d.Dial("tcp4", addr)
		if err != nil {
			return false
		}
		if _, err := conn.Write(open); err != nil {
			conn.Close()
			return false
		}
		// Its OPEN, then (answering ours) its KEEPALIVE.
		for _, want := range []byte{1, 4} {
			typ, err := readMessage(conn)
			if err != nil || typ != want {
				conn.Close()
				return false
			}
			if want == 1 {
				if _, err := conn.Write(message(4)); err != nil {
					conn.Close()
					return false
				}
			}
		}
		c = conn
		return true
	})
	t.Cleanup(func() { c.Close() })
	go io.Copy(io.Discard, c)
	return c
}

// readMessage reads one BGP message and returns its type.
func readMessage(r io.Reader) (byte, error) {
	h := make([]byte, bgpHeaderLen)
	if _, err := io.ReadFull(r, h); err != nil {
		return 0, err
	}
	n, err := messageLen(h)
	if err != nil {
		return 0, err
	}
	if _, err := io.CopyN(io.Discard, r, int64(n-bgpHeaderLen)); err != nil {
		return 0, err
	}
	return h[18], nil
}

// TestRouteWithARPNDCommunity: a MAC/IP route as FRR sends it for an IPv6
// router host, with the ARP/ND extended community GoBGP cannot parse, is
// imported: the feed has the MAC toward the peer with its IP, and the
// stripped community is counted.
func TestRouteWithARPNDCommunity(t *testing.T) {
	port := testPort(t)
	a := startSite(t, "127.0.0.11", "192.0.2.1", port)
	a.peerWith(t, "f", "127.0.0.13", testPort(t)) // nothing listens there: f connects
	a.join(t)
	f := fakeFRR(t, net.JoinHostPort("127.0.0.11", strconv.Itoa(port)))
	if _, err := f.Write(frrUpdate); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a has f's host toward f with its IPv6 address", func() bool {
		m, ok := a.remoteMAC(t, "02:00:00:00:00:0f")
		return ok && m.TunnelIP == "192.0.2.3" && m.SegmentationID == 5001 && slices.Equal(m.IPs, []string{"2001:db8::f"})
	})
	if st, ok := a.sp.PeerStatus("f"); !ok || st.State != app.BGPEstablished || st.RoutesAccepted != 1 {
		t.Errorf("a's view of peer f: %+v, %v; want established with its route", st, ok)
	}
	if n := testutil.ToFloat64(a.sp.met.stripped.WithLabelValues("8")); n != 1 {
		t.Errorf("l2gw_evpn_communities_stripped_total{subtype=\"8\"} = %v, want 1", n)
	}
}
