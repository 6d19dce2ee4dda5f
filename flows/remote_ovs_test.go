package flows

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// pipelineLab is a startLab bridge with the ports twoSites numbers
// (attachments 1-3, VXLAN port 10, GRE port 11) and twoSites' compiled
// flows installed, learning at most learnLimit MACs per connection.
func pipelineLab(t *testing.T, learnLimit uint32) *lab {
	t.Helper()
	l := startLab(t)
	for _, p := range []struct {
		name string
		args []string
	}{
		{"p1", []string{"type=internal", "ofport_request=1"}},
		{"p2", []string{"type=internal", "ofport_request=2"}},
		{"p3", []string{"type=internal", "ofport_request=3"}},
		{"vx", []string{"type=vxlan", "options:remote_ip=flow", "options:key=flow", "ofport_request=10"}},
		{"gr", []string{"type=gre", "options:remote_ip=flow", "options:key=flow", "ofport_request=11"}},
	} {
		l.ovs.Vsctl(t, append([]string{"add-port", "br0", p.name, "--", "set", "interface", p.name}, p.args...)...)
	}
	in := twoSites()
	in.LearnLimit = learnLimit
	if err := l.s.Apply(context.Background(), ModList(Mods(mustCompile(t, in).Sorted(), nil))); err != nil {
		t.Fatal(err)
	}
	return l
}

// send runs a packet made from an OpenFlow flow description through br0
// (ofproto/trace -generate: learning happens) and returns the trace.
func (l *lab) send(t *testing.T, packet string) string {
	t.Helper()
	return l.ovs.Appctl(t, "ovs-vswitchd", "ofproto/trace", "br0", packet+",dl_type=0x88b5", "-generate")
}

// learnedBy returns the learned flows (with statistics stripped) whose
// cookie is cookie.
func (l *lab) learnedBy(t *testing.T, cookie uint64) []string {
	t.Helper()
	out := l.ovs.Ofctl(t, "dump-flows", "--no-stats", "br0", fmt.Sprintf("cookie=%#x/-1", cookie))
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "cookie=") {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return lines
}

func dropped(trace string) bool { return strings.Contains(trace, "Datapath actions: drop") }

// From twoSites: the gateways of network 1 and how a packet from each
// enters br0; the MAC bound behind site b.
const (
	fromSiteB = "in_port=10,tun_src=198.51.100.2,tun_dst=198.51.100.1,tun_id=5001"
	fromSiteC = "in_port=11,tun_src=198.51.100.3,tun_dst=198.51.100.1,tun_id=7"
	boundMAC  = "02:0b:00:00:00:01"
)

// TestPinnedBindingsOnOVS runs packets through the compiled pipeline in
// OVS: a source MAC bound behind site b passes unlearned from site b, is
// dropped from site c and from a local port, and unicast to it still goes
// into the tunnel to site b.
func TestPinnedBindingsOnOVS(t *testing.T) {
	l := pipelineLab(t, 0)
	for _, tc := range []struct {
		name, from string
		wantDrop   bool
	}{
		{"from site c", fromSiteC, true},
		{"from a local port", "in_port=1", true},
		{"from a tagged local port", "in_port=3,dl_vlan=100", true},
		{"from site b", fromSiteB, false},
	} {
		trace := l.send(t, tc.from+",dl_src="+boundMAC+",dl_dst=ff:ff:ff:ff:ff:ff")
		if dropped(trace) != tc.wantDrop {
			t.Errorf("%s, source %s: dropped %t, want %t:\n%s", tc.name, boundMAC, dropped(trace), tc.wantDrop, trace)
		}
	}
	for _, c := range []uint64{LearnedCookie(1), LearnedConnectionCookie(1), LearnedConnectionCookie(2)} {
		if learned := l.learnedBy(t, c); len(learned) != 0 {
			t.Errorf("the bound MAC was learned:\n%s", strings.Join(learned, "\n"))
		}
	}

	// Unbound sources are still learned, from anywhere.
	l.send(t, fromSiteC+",dl_src=02:0c:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff")
	l.send(t, "in_port=1,dl_src=02:0a:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff")
	if n, m := len(l.learnedBy(t, LearnedConnectionCookie(2))), len(l.learnedBy(t, LearnedCookie(1))); n != 1 || m != 1 {
		t.Errorf("learned %d MAC from site c and %d locally, want 1 and 1", n, m)
	}

	trace := l.send(t, "in_port=1,dl_src=02:0a:00:00:00:01,dl_dst="+boundMAC)
	if !strings.Contains(trace, "set_field:198.51.100.2->tun_dst") || !strings.Contains(trace, "output:10") {
		t.Errorf("unicast to %s does not go into the tunnel to site b:\n%s", boundMAC, trace)
	}
}

// TestLearnLimitIsPerGatewayOnOVS: site c sends from more MACs than the
// limit; OVS learns exactly the limit from it, forwards the rest without
// learning, and still learns from site b.
func TestLearnLimitIsPerGatewayOnOVS(t *testing.T) {
	const limit = 5
	l := pipelineLab(t, limit)
	for i := range 2 * limit {
		trace := l.send(t, fmt.Sprintf("%s,dl_src=02:0c:00:00:01:%02x,dl_dst=ff:ff:ff:ff:ff:ff", fromSiteC, i))
		if dropped(trace) {
			t.Fatalf("frame %d from site c dropped:\n%s", i, trace)
		}
	}
	if learned := l.learnedBy(t, LearnedConnectionCookie(2)); len(learned) != limit {
		t.Fatalf("learned %d MACs from site c, want the limit %d:\n%s", len(learned), limit, strings.Join(learned, "\n"))
	}
	l.send(t, fromSiteB+",dl_src=02:0b:00:00:01:01,dl_dst=ff:ff:ff:ff:ff:ff")
	if learned := l.learnedBy(t, LearnedConnectionCookie(1)); len(learned) != 1 || !strings.Contains(learned[0], "dl_dst=02:0b:00:00:01:01") {
		t.Fatalf("site c's full quota kept site b's MAC from being learned: %v", learned)
	}
}

// TestAnUnboundMACMovesWithItsTunnelKey: an unbound MAC learned from site b
// that then sends from site c is learned toward site c with site c's key,
// although the source lookup met site b's learned entry (which loads site
// b's key) on the way.
func TestAnUnboundMACMovesWithItsTunnelKey(t *testing.T) {
	l := pipelineLab(t, 0)
	const moved = "02:0b:00:00:02:01"
	l.send(t, fromSiteB+",dl_src="+moved+",dl_dst=ff:ff:ff:ff:ff:ff")
	l.send(t, fromSiteC+",dl_src="+moved+",dl_dst=ff:ff:ff:ff:ff:ff")
	learned := l.learnedBy(t, LearnedConnectionCookie(2))
	// 198.51.100.3 is 0xc6336403; site c's key is 7.
	if len(learned) != 1 || !strings.Contains(learned[0], "load:0xc6336403->NXM_NX_TUN_IPV4_DST[]") ||
		!strings.Contains(learned[0], "load:0x7->NXM_NX_TUN_ID[]") {
		t.Fatalf("%s moved to site c is learned as:\n%s", moved, strings.Join(learned, "\n"))
	}
	if b := l.learnedBy(t, LearnedConnectionCookie(1)); len(b) != 0 {
		t.Fatalf("%s is still learned toward site b: %v", moved, b)
	}
}
