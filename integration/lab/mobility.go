package lab

import (
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// SetNeighbor gives the host a permanent ARP entry: ip is at mac. The host
// then never asks for ip, so no ARP request of its own floods the network
// (and no host that answers it teaches the gateways where it is).
func (h *Host) SetNeighbor(t testing.TB, ip, mac string) {
	t.Helper()
	if _, err := netip.ParseAddr(ip); err != nil {
		t.Fatalf("host %s: neighbour %q: %v", h.Name, ip, err)
	}
	if _, err := net.ParseMAC(mac); err != nil {
		t.Fatalf("host %s: neighbour %s: %v", h.Name, ip, err)
	}
	if _, err := h.Exec(t, "ip", "neigh", "replace", ip, "lladdr", mac, "dev", HostIf, "nud", "permanent"); err != nil {
		t.Fatalf("host %s: set neighbour %s at %s: %v", h.Name, ip, mac, err)
	}
}

// GratuitousARP announces the host's IPv4 address count times, one a
// second, as a host that has just taken the address over does: a broadcast
// ARP request from the host's MAC whose sender and target address are its
// own (Habets' arping -U).
func (h *Host) GratuitousARP(t testing.TB, count int) {
	t.Helper()
	// Nobody answers an announcement: arping exits non-zero.
	out, _ := h.Exec(t, "arping", "-U", "-c", strconv.Itoa(count), "-i", HostIf, "-S", h.IP, h.IP)
	if sent := arpingSent.FindStringSubmatch(out); sent == nil || sent[1] != strconv.Itoa(count) {
		t.Fatalf("host %s: arping -U did not send %d announcements:\n%s", h.Name, count, out)
	}
}

// arpingSent matches the summary line of Habets' arping:
// "3 packets transmitted, 0 packets received, 100% unanswered (0 extra)".
var arpingSent = regexp.MustCompile(`(?m)^(\d+) packets transmitted`)

// EchoRequestSeqs returns the sequence number of every ICMP echo request in
// a Capture's output, in capture order.
func EchoRequestSeqs(captured string) []int {
	var seqs []int
	for _, m := range echoRequest.FindAllStringSubmatch(captured, -1) {
		n, _ := strconv.Atoi(m[1])
		seqs = append(seqs, n)
	}
	return seqs
}

// echoRequest matches tcpdump's line for an echo request:
// "... 192.0.2.11 > 192.0.2.50: ICMP echo request, id 4711, seq 17, length 64".
var echoRequest = regexp.MustCompile(`ICMP echo request, id \d+, seq (\d+),`)

// ResolveUnderlay makes the site's OVS know the underlay MAC of each
// peer's tunnel IP: the site's kernel pings the peer from br-phy's address,
// and OVS learns the peer from the ARP reply that crosses br-phy. The
// userspace datapath drops a tunnel packet whose remote it has not
// resolved yet (and sends an ARP request instead), so on an idle lab
// underlay the first frame a site ever tunnels to a peer is lost; a real
// gateway's underlay has long been resolved. Call it on both sites of a
// pair for both directions.
func (s *Site) ResolveUnderlay(t testing.TB, peers ...*Site) {
	t.Helper()
	for _, p := range peers {
		if _, err := s.Exec(t, "ping", "-n", "-c", "1", "-W", "2", p.TunnelIP); err != nil {
			t.Fatalf("site %s: ping %s's tunnel IP %s: %v", s.Name, p.Name, p.TunnelIP, err)
		}
	}
	want := make([]string, len(peers))
	for i, p := range peers {
		want[i] = p.TunnelIP
	}
	var out string
	ok := poll(func() bool {
		out = s.ovs.Appctl(t, "ovs-vswitchd", "tnl/neigh/show")
		for _, ip := range want {
			if !strings.Contains(out, ip+" ") {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("site %s: OVS did not learn the underlay MACs of %v:\n%s", s.Name, want, out)
	}
}
