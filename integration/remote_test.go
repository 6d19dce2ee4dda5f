package integration

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/integration/lab"
)

// Addresses of the remote-site lab beyond the first hosts' (dataplane_test.go).
const (
	macA2   = "02:0a:00:00:00:02"
	ipA2    = "192.0.2.13"
	macB2   = "02:0b:00:00:00:02" // unbound: reached by learning only
	ipB2    = "192.0.2.14"
	tunnelC = "198.51.100.3"
	vniC    = 5003
	// macC is a MAC that site c's frames may claim: bound nowhere.
	macC      = "02:0c:00:00:00:01"
	broadcast = "ff:ff:ff:ff:ff:ff"
)

// remoteSites is the lab of what a remote site may do: sites a and b run
// l2gwd and stretch network "plane" (VXLAN 5001) between hosts a1, a2 and
// b1, b2; a binds b1's MAC behind b and b binds a1's MAC behind a. Site c
// runs no l2gwd: it is a remote gateway whose frames the tests craft, and
// a has a connection to it too (VXLAN vniC). b2 is bound nowhere.
type remoteSites struct {
	a, b           *gateway
	c              *lab.Site
	a1, a2, b1, b2 *lab.Host
}

func newRemoteSites(t *testing.T, prefix string) *remoteSites {
	t.Helper()
	lab.RequireScapy(t)
	l := newLab(t, prefix)
	r := &remoteSites{a: startGateway(t, l, "a", "198.51.100.1"), b: startGateway(t, l, "b", "198.51.100.2")}
	r.c = l.AddSite("c", tunnelC)
	r.a1 = r.a.site.AddHost(t, "a1", macA1, ipA1, 0, "")
	r.a2 = r.a.site.AddHost(t, "a2", macA2, ipA2, 0, "")
	r.b1 = r.b.site.AddHost(t, "b1", macB1, ipB1, 0, "")
	r.b2 = r.b.site.AddHost(t, "b2", macB2, ipB2, 0, "")
	joinNetwork(t, r.a, r.b, "plane", []object{{"port": "a1"}, {"port": "a2"}}, []object{{"port": "b1"}, {"port": "b2"}}, 5001, "vxlan")
	bindHosts(t, r.a, r.b, "plane")
	r.a.must(t, "POST", "/v1/remote-gateways", object{"name": "site-c", "tunnel_ip": tunnelC}, 201)
	r.a.must(t, "POST", "/v1/connections", object{"name": "plane-c", "network": "plane",
		"remote_gateway": "site-c", "segmentation_id": vniC, "network_type": "vxlan"}, 201)
	return r
}

// learnedToward returns g's learned entries that send to the tunnel
// endpoint ip (the learned flow loads it into tun_dst).
func (g *gateway) learnedToward(t *testing.T, ip string) []string {
	t.Helper()
	a := netip.MustParseAddr(ip).As4()
	load := fmt.Sprintf("load:%#x->NXM_NX_TUN_IPV4_DST[]", binary.BigEndian.Uint32(a[:]))
	var out []string
	for _, f := range g.learnedFlows(t) {
		if strings.Contains(f, load) {
			out = append(out, f)
		}
	}
	return out
}

// settledLearnedToward is learnedToward once OVS has stopped adding entries
// (the same count twice, 300 ms apart; at most 10 s).
func (g *gateway) settledLearnedToward(t *testing.T, ip string) []string {
	t.Helper()
	learned := g.learnedToward(t, ip)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		now := g.learnedToward(t, ip)
		if len(now) == len(learned) {
			break
		}
		learned = now
	}
	return learned
}

// learnedFor returns g's learned entries for mac.
func (g *gateway) learnedFor(t *testing.T, mac string) []string {
	t.Helper()
	var out []string
	for _, f := range g.learnedFlows(t) {
		if strings.Contains(f, "dl_dst="+mac) {
			out = append(out, f)
		}
	}
	return out
}

// frameLine is how tcpdump -e starts the line of a Frame from src to dst.
func frameLine(src, dst string) string {
	return fmt.Sprintf("%s > %s, ethertype Unknown (%#04x)", src, dst, lab.FrameEtherType)
}

// TestRemoteGatewayCannotMoveAStaticBinding: b1's MAC is bound behind site
// b at site a. Site c sends a frame claiming it, and so does a host at
// site a: both are dropped (a control frame from each is delivered), no
// site learns the MAC anywhere new, and site a still forwards b1's MAC to
// site b.
func TestRemoteGatewayCannotMoveAStaticBinding(t *testing.T) {
	r := newRemoteSites(t, "l2rb-")
	pingOK(t, r.a1, ipB1, 3)

	capture := r.a1.Capture(t, "ether", "proto", fmt.Sprint(lab.FrameEtherType))
	r.c.SendVXLAN(t, r.a.site, vniC, []lab.Frame{
		{Src: macB1, Dst: macA1, Payload: "site c claims b1"},
		{Src: macC, Dst: macA1, Payload: "site c as itself"}})
	if !capture.WaitFor(frameLine(macC, macA1)) {
		t.Fatalf("a1 never got site c's control frame: the crafted VXLAN does not reach site a:\n%s", capture.Stop())
	}
	if out := capture.Stop(); strings.Contains(out, frameLine(macB1, macA1)) {
		t.Errorf("site a delivered site c's frame from b1's bound MAC:\n%s", out)
	}
	if l := r.a.learnedFor(t, macB1); len(l) != 0 {
		t.Errorf("site a learned b1's bound MAC:\n%s", strings.Join(l, "\n"))
	}
	if l := r.a.learnedToward(t, tunnelC); len(l) != 1 || !strings.Contains(l[0], "dl_dst="+macC) {
		t.Errorf("site a learned %v toward site c, want only %s", l, macC)
	}

	// A local host claims b1's MAC: not delivered at site a, not sent to
	// site b (where learning it from site a's tunnel would move b1 away
	// from its port).
	atA1 := r.a1.Capture(t, "ether", "proto", fmt.Sprint(lab.FrameEtherType))
	atB1 := r.b1.Capture(t, "ether", "proto", fmt.Sprint(lab.FrameEtherType))
	r.a2.SendFrames(t,
		lab.Frame{Src: macB1, Dst: broadcast, Payload: "a2 claims b1"},
		lab.Frame{Src: macA2, Dst: broadcast, Payload: "a2 as itself"})
	for _, c := range []*lab.Capture{atA1, atB1} {
		if !c.WaitFor(frameLine(macA2, broadcast)) {
			t.Fatalf("a2's control broadcast did not arrive:\n%s", c.Stop())
		}
	}
	for name, c := range map[string]*lab.Capture{"a1": atA1, "b1": atB1} {
		if out := c.Stop(); strings.Contains(out, frameLine(macB1, broadcast)) {
			t.Errorf("%s got a2's frame from b1's bound MAC:\n%s", name, out)
		}
	}
	if l := r.a.learnedFor(t, macB1); len(l) != 0 {
		t.Errorf("site a learned b1's bound MAC from a local port:\n%s", strings.Join(l, "\n"))
	}
	if l := r.b.learnedToward(t, "198.51.100.1"); strings.Contains(strings.Join(l, "\n"), "dl_dst="+macB1) {
		t.Errorf("site b learned its own b1 toward site a:\n%s", strings.Join(l, "\n"))
	}

	// Site a still forwards b1's MAC into the tunnel to site b.
	pingOK(t, r.a1, ipB1, 3)
	trace := r.a.site.OVS().Appctl(t, "ovs-vswitchd", "ofproto/trace", lab.IntBridge,
		fmt.Sprintf("in_port=%s,dl_src=%s,dl_dst=%s,dl_type=%#x", ofport(t, r.a, "a1"), macA1, macB1, lab.FrameEtherType))
	if !strings.Contains(trace, "set_field:198.51.100.2->tun_dst") {
		t.Errorf("site a does not send b1's MAC to site b:\n%s", trace)
	}
}

// ofport returns the OpenFlow port number of iface on g's bridge.
func ofport(t *testing.T, g *gateway, iface string) string {
	t.Helper()
	return strings.TrimSpace(g.site.OVS().Vsctl(t, "get", "interface", iface, "ofport"))
}

// TestRemoteMACFloodStopsAtTheLearnLimit: site c sends from more MACs than
// the learn limit. Site a learns exactly the limit from site c, keeps
// forwarding to the static binding, and still learns from site b: the
// limit is per gateway.
func TestRemoteMACFloodStopsAtTheLearnLimit(t *testing.T) {
	r := newRemoteSites(t, "l2rl-")
	pingOK(t, r.a1, ipB1, 3) // a1 is learned, so the flood goes to a1 only

	const limit = flows.DefaultLearnLimit
	flood := make([]lab.Frame, limit+limit/4)
	for i := range flood {
		flood[i] = lab.Frame{Src: fmt.Sprintf("02:0c:01:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff), Dst: macA1, Payload: "flood"}
	}
	start := time.Now()
	var learned []string
	// A frame the switch could not take in time is not learned: a second
	// pass fills the limit; no pass may exceed it.
	for pass := 1; pass <= 3; pass++ {
		r.c.SendVXLAN(t, r.a.site, vniC, flood)
		learned = r.a.settledLearnedToward(t, tunnelC)
		t.Logf("pass %d: %d frames sent, %d MACs learned from site c, %s", pass, len(flood), len(learned), time.Since(start).Round(time.Millisecond))
		if len(learned) >= limit {
			break
		}
	}
	if len(learned) != limit {
		t.Fatalf("site a learned %d MACs from site c, want exactly the limit %d", len(learned), limit)
	}
	// OVS counts the limit per cookie: site c's connection's own.
	cookies := map[string]int{}
	for _, f := range learned {
		cookie, _, _ := strings.Cut(f, ",")
		cookies[cookie]++
	}
	if len(cookies) != 1 || !strings.HasPrefix(learned[0], "cookie=0xb2") {
		t.Errorf("site c's learned MACs carry cookies %v, want one learned (0xb) connection (2) cookie", cookies)
	}

	pingOK(t, r.a1, ipB1, 3)
	pingOK(t, r.b2, ipA1, 3)
	toB := strings.Join(r.a.learnedToward(t, "198.51.100.2"), "\n")
	if !strings.Contains(toB, "dl_dst="+macB2) {
		t.Errorf("with site c's limit reached, site a did not learn b2 toward site b: %v", r.a.learnedFor(t, macB2))
	}
}
