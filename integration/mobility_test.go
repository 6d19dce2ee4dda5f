package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/l2gw/l2gw/api"
	"github.com/l2gw/l2gw/integration/lab"
)

// Addresses of the mobility tests: a1 is site a's host; the VNF's MAC and
// IP exist twice, at site b (active) and at site c (standby).
const (
	a1MAC  = "02:0a:00:00:00:01"
	a1IP   = "192.0.2.11"
	vnfMAC = "02:00:00:00:00:50"
	vnfIP  = "192.0.2.50"
)

// hubOfThree is sites a, b and c on network "plane": a is connected to b
// (VXLAN, connection plane-b) and to c (Geneve, plane-c), and b and c to a
// only (plane-a), so a MAC that exists at both b and c never meets itself.
// Site a has host a1; b and c each have host vnf with the same MAC and IP.
// b and c bind a1 statically on plane-a, so the VNF's ARP for a1 is
// answered at its own site and its replies go straight to a. Each site's
// OVS has resolved its peers' underlay addresses.
func hubOfThree(t *testing.T, prefix string) (gws map[string]*gateway, a1 *lab.Host, vnf map[string]*lab.Host) {
	t.Helper()
	l := newLab(t, prefix)
	gws = map[string]*gateway{}
	for i, name := range []string{"a", "b", "c"} {
		gws[name] = startGateway(t, l, name, fmt.Sprintf("198.51.100.%d", i+1))
	}
	a1 = gws["a"].site.AddHost(t, "a1", a1MAC, a1IP, 0, "")
	vnf = map[string]*lab.Host{}
	for _, site := range []string{"b", "c"} {
		vnf[site] = gws[site].site.AddHost(t, "vnf", vnfMAC, vnfIP, 0, "")
	}
	connect := func(local, remote, typ string) {
		g := gws[local]
		g.must(t, "POST", "/v1/remote-gateways", object{"name": "site-" + remote, "tunnel_ip": gws[remote].site.TunnelIP}, 201)
		g.must(t, "POST", "/v1/connections", object{"name": "plane-" + remote, "network": "plane",
			"remote_gateway": "site-" + remote, "segmentation_id": 5001, "network_type": typ}, 201)
	}
	gws["a"].must(t, "POST", "/v1/networks", object{"name": "plane", "attachments": attach("a1")}, 201)
	connect("a", "b", "vxlan")
	connect("a", "c", "geneve")
	for site, typ := range map[string]string{"b": "vxlan", "c": "geneve"} {
		gws[site].must(t, "POST", "/v1/networks", object{"name": "plane", "attachments": attach("vnf")}, 201)
		connect(site, "a", typ)
		gws[site].must(t, "POST", "/v1/connections/plane-a/macs", object{"macs": []object{{"mac": a1MAC, "ips": []string{a1IP}}}}, 201)
	}
	// Every tunnel's first packet is then the test's, not the underlay's
	// ARP (see lab.Site.ResolveUnderlay).
	gws["a"].site.ResolveUnderlay(t, gws["b"].site, gws["c"].site)
	gws["b"].site.ResolveUnderlay(t, gws["a"].site)
	gws["c"].site.ResolveUnderlay(t, gws["a"].site)
	return gws, a1, vnf
}

// TestMoveFollowsTheHostWithAtMostOneLostPacket: a1 pings the VNF every
// 10 ms; half-way, site a's operator moves the VNF's binding from plane-b
// to plane-c. Every echo request before the move reaches site b, every one
// after it site c, and at most one is lost at the switch-over.
func TestMoveFollowsTheHostWithAtMostOneLostPacket(t *testing.T) {
	gws, a1, vnf := hubOfThree(t, "l2mv-")
	a := gws["a"]
	a.must(t, "POST", "/v1/connections/plane-b/macs", object{"macs": []object{{"mac": vnfMAC, "ips": []string{vnfIP}}}}, 201)
	pingOK(t, a1, vnfIP, 3)

	before := mustStatus(t, a)
	echo := []string{"icmp[icmptype]", "==", "icmp-echo"}
	atB, atC := vnf["b"].Capture(t, echo...), vnf["c"].Capture(t, echo...)
	const count, interval = 500, 10 * time.Millisecond
	moved := make(chan error, 1)
	go func() {
		time.Sleep(count / 2 * interval)
		moved <- postMove(a, object{"to": "plane-c", "from": "plane-b", "macs": []string{vnfMAC}})
	}()
	sent, received := a1.Ping(t, vnfIP, count, interval)
	if err := <-moved; err != nil {
		t.Fatal(err)
	}
	a.waitReconciled(t)
	after := mustStatus(t, a)
	time.Sleep(200 * time.Millisecond) // let tcpdump print the last frames
	seqB, seqC := lab.EchoRequestSeqs(atB.Stop()), lab.EchoRequestSeqs(atC.Stop())
	lost := sent - received
	t.Logf("move during a %v ping: %d sent, %d received, %d lost; echo requests seen at b: %d (seq %s), at c: %d (seq %s); "+
		"site a sent %d bundle(s) with %d flow_mods",
		interval, sent, received, lost, len(seqB), seqRange(seqB), len(seqC), seqRange(seqC),
		after.Bundles-before.Bundles, after.FlowMods-before.FlowMods)
	if after.Bundles-before.Bundles != 1 {
		t.Errorf("the move reached site a's switch in %d bundles, want 1", after.Bundles-before.Bundles)
	}

	if lost > 1 {
		t.Errorf("%d of %d echo requests lost across the move, want at most 1", lost, sent)
	}
	if len(seqB) == 0 || len(seqC) == 0 || slices.Max(seqB) >= slices.Min(seqC) {
		t.Fatalf("the pings did not go to b and then to c: b saw seq %s, c saw seq %s", seqRange(seqB), seqRange(seqC))
	}
	// Every request reached b or c, but for at most one.
	if missing := sent - len(seqB) - len(seqC); missing > 1 || missing < 0 {
		t.Errorf("%d echo requests sent, %d reached b and %d c", sent, len(seqB), len(seqC))
	}
	toB, toC := a.flowsWith(t, "dl_dst="+vnfMAC, gws["b"].site.TunnelIP), a.flowsWith(t, "dl_dst="+vnfMAC, gws["c"].site.TunnelIP)
	if len(toB) != 0 || len(toC) == 0 {
		t.Errorf("site a's flows for the VNF: toward b %q, toward c %q; want only toward c", toB, toC)
	}
}

// TestGratuitousARPMovesALearnedMAC: site a learned the VNF's MAC (not
// bound) behind b; when the VNF at c announces itself with a gratuitous
// ARP, a's entry moves to plane-c, and a's unicast to the MAC goes to c
// only.
func TestGratuitousARPMovesALearnedMAC(t *testing.T) {
	gws, a1, vnf := hubOfThree(t, "l2ga-")
	a := gws["a"]
	// a1 never asks for the VNF's address: an ARP flood would be answered
	// from b and c at once and teach a both.
	a1.SetNeighbor(t, vnfIP, vnfMAC)
	pingOK(t, vnf["b"], a1IP, 2)
	if via := learnedVia(t, a, vnfMAC); !strings.Contains(via, "plane-b") {
		t.Fatalf("site a learned the VNF via %q, want connection plane-b", via)
	}
	wantUnicastAt(t, a1, vnf, "b", "before")

	vnf["c"].GratuitousARP(t, 1)
	deadline := time.Now().Add(5 * time.Second)
	for via := learnedVia(t, a, vnfMAC); !strings.Contains(via, "plane-c"); via = learnedVia(t, a, vnfMAC) {
		if time.Now().After(deadline) {
			t.Fatalf("after the gratuitous ARP from c, site a has the VNF via %q, want connection plane-c\nlearned flows:\n%s",
				via, strings.Join(a.learnedFlows(t), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantUnicastAt(t, a1, vnf, "c", "after")
}

// mustStatus returns gateway g's GET /v1/status.
func mustStatus(t *testing.T, g *gateway) api.Status {
	t.Helper()
	st, err := g.status(t)
	if err != nil {
		t.Fatalf("site %s: status: %v", g.site.Name, err)
	}
	return st
}

// postMove asks gateway g to move MACs (POST /v1/macs:move); it may run
// outside the test's goroutine.
func postMove(g *gateway, body object) error {
	j, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := g.client.Post(apiURL+"/v1/macs:move", "application/json", bytes.NewReader(j))
	if err != nil {
		return fmt.Errorf("POST /v1/macs:move: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /v1/macs:move: status %d", resp.StatusCode)
	}
	return nil
}

// learnedVia returns where gateway g's GET /v1/networks/plane/learned
// says mac was learned, "" if it is not listed.
func learnedVia(t *testing.T, g *gateway, mac string) string {
	t.Helper()
	var list struct {
		Learned []struct{ MAC, Via string }
	}
	if err := json.Unmarshal(g.must(t, "GET", "/v1/networks/plane/learned", nil, 200), &list); err != nil {
		t.Fatal(err)
	}
	for _, l := range list.Learned {
		if l.MAC == mac {
			return l.Via
		}
	}
	return ""
}

// wantUnicastAt sends frames from a1 to the VNF's MAC and checks that the
// VNF at site want gets them and the other none.
func wantUnicastAt(t *testing.T, a1 *lab.Host, vnf map[string]*lab.Host, want, when string) {
	t.Helper()
	filter := []string{"ether", "proto", fmt.Sprint(lab.FrameEtherType)}
	caps := map[string]*lab.Capture{}
	for site, h := range vnf {
		caps[site] = h.Capture(t, filter...)
	}
	const frames = 5
	for i := range frames {
		a1.SendFrames(t, lab.Frame{Src: a1MAC, Dst: vnfMAC, Payload: fmt.Sprintf("%s-%d", when, i)})
	}
	got := map[string]int{}
	caps[want].WaitFor(a1MAC + " > " + vnfMAC)
	time.Sleep(300 * time.Millisecond) // frames to the wrong site would be in by now
	for site, c := range caps {
		got[site] = strings.Count(c.Stop(), a1MAC+" > "+vnfMAC)
	}
	t.Logf("%s: unicast from a1 to %s: %d of %d frames at b, %d at c", when, vnfMAC, got["b"], frames, got["c"])
	for site, n := range got {
		if site == want && n != frames || site != want && n != 0 {
			t.Errorf("%s: site %s got %d of %d unicast frames to the VNF; want them all at %s only", when, site, n, frames, want)
		}
	}
}

// seqRange shows sequence numbers as "first-last" (or "none").
func seqRange(seqs []int) string {
	if len(seqs) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d-%d", seqs[0], seqs[len(seqs)-1])
}
