package evpn

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/internal/frrtest"
	"github.com/l2gw/l2gw/internal/ovstest"
)

// The lab of TestSetAdvertiseWithFRR: FRR in namespace f (its WAN address
// fIP), joined by a veth WAN to namespace p, where speakerIP is; the
// speaker runs in the test's namespace, on loopback, and takes the session
// bgpd opens toward speakerIP through frrtest.ForwardTCP. speakerIP is the
// speaker's router ID and tunnel IP: its RDs and next hops.
var (
	fIP        = netip.MustParseAddr("198.51.100.1")
	speakerIP  = netip.MustParseAddr("198.51.100.2")
	speakerBGP = netip.MustParseAddr("127.0.0.41") // where the speaker listens
	fViaRelay  = netip.MustParseAddr("127.0.0.42") // where the speaker sees f from
)

// advertisedMACs is how many local MACs the test advertises; every third
// has an IP too (a MAC+IP route more).
const advertisedMACs = 300

// TestSetAdvertiseWithFRR: a speaker with a few hundred local MACs, one of
// them moved here from FRR (sequence 1), peered with FRR. Off, FRR sees
// every route of this site withdrawn, the session stays up, what FRR
// advertises meanwhile still reaches the feed, and what changes here
// meanwhile reaches FRR neither; on again, FRR has exactly what the
// speaker holds: the same routes with the same RDs and sequence numbers,
// the MAC learned while off, not the one gone while off.
func TestSetAdvertiseWithFRR(t *testing.T) {
	frrtest.Require(t)
	ctx := context.Background()
	nsF, nsP := ovstest.NetNS(t, "evadv-f"), ovstest.NetNS(t, "evadv-p")
	for _, c := range [][]string{
		{"-n", nsF, "link", "add", "wan0", "type", "veth", "peer", "name", "wan0", "netns", nsP},
		{"-n", nsF, "addr", "add", fIP.String() + "/24", "dev", "wan0"},
		{"-n", nsP, "addr", "add", speakerIP.String() + "/24", "dev", "wan0"},
		{"-n", nsF, "link", "set", "wan0", "up"},
		{"-n", nsP, "link", "set", "wan0", "up"},
	} {
		if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	_, portText, _ := net.SplitHostPort(ovstest.FreeAddr(t))
	port, _ := strconv.Atoi(portText)
	s := startSite(t, speakerBGP.String(), speakerIP.String(), port)
	f := frrtest.Start(t, frrtest.Config{Name: "f", NetNS: nsF, ASN: testASN, RouterID: fIP,
		Neighbors: []frrtest.Neighbor{{Address: speakerIP, ASN: testASN}},
		VNIs:      []frrtest.VNI{{ID: 5001, LocalIP: fIP}}})
	frrtest.ForwardTCP(t, nsP, netip.AddrPortFrom(speakerIP, 179), netip.AddrPortFrom(speakerBGP, uint16(port)), fViaRelay)
	s.peerWith(t, "f", fViaRelay.String(), 179)
	s.join(t)
	waitUntil(t, "the session up and f's inclusive multicast route in the feed", func() bool {
		n, err := f.Neighbor(speakerIP)
		st, _ := s.sp.PeerStatus("f")
		return err == nil && n.State == "Established" && st.State == app.BGPEstablished && s.floodsTo(fIP)
	})

	// A MAC that moves here from f: this site advertises it with sequence
	// 1. Its host at f then goes quiet (its link down), so f does not take
	// it back.
	const movedMAC = "02:0f:00:00:00:01"
	h0 := fHost(t, f, "h0", movedMAC, "192.0.2.20/24")
	waitUntil(t, "f's host in the feed", func() bool {
		h0.speak(t)
		m, ok := s.remoteMAC(t, movedMAC)
		return ok && m.TunnelIP == fIP.String()
	})
	s.learn(movedMAC)
	waitUntil(t, "f taking this site's route for the moved MAC, sequence 1", func() bool {
		return slices.ContainsFunc(siteRoutes(t, f), func(r frrtest.Route) bool { return r.MAC == movedMAC && r.Sequence == 1 && r.Best })
	})
	if _, err := h0.Exec("ip", "link", "set", frrtest.HostIf, "down"); err != nil {
		t.Fatal(err)
	}

	for i := range advertisedMACs {
		ev := app.LocalMACEvent{Kind: app.LocalMACAdded, Network: "blue", MAC: localMAC(i), Attachment: app.Attachment{Port: "eth1"}}
		if i%3 == 0 {
			ev.IPs = []netip.Addr{netip.AddrFrom4([4]byte{203, 0, 113, byte(i/3 + 1)})}
		}
		s.local <- ev
	}
	// The inclusive multicast route, the moved MAC's, and the local MACs'.
	wantRoutes := 1 + 1 + advertisedMACs + (advertisedMACs+2)/3
	accepted := func(n int) func() bool {
		return func() bool { st, err := f.Neighbor(speakerIP); return err == nil && st.RoutesAccepted == n }
	}
	// f counts a route when it reads it and makes it best a little later.
	settled := func(n int) func() bool {
		return func() bool {
			got := siteRoutes(t, f)
			return len(got) == n && !slices.ContainsFunc(got, func(r frrtest.Route) bool { return !r.Best })
		}
	}
	waitUntil(t, fmt.Sprintf("f with the %d routes of this site, best", wantRoutes), settled(wantRoutes))
	before := siteRoutes(t, f)
	checkSiteRoutes(t, before, wantRoutes, movedMAC)
	established, err := f.Neighbor(speakerIP)
	if err != nil {
		t.Fatal(err)
	}

	// Off: every route withdrawn, the session up.
	began := time.Now()
	if err := s.sp.SetAdvertise(ctx, false); err != nil {
		t.Fatal(err)
	}
	offCall := time.Since(began)
	waitUntil(t, "f counting every route of this site withdrawn", accepted(0))
	offCounted := time.Since(began)
	waitUntil(t, "f's table without the routes of this site", func() bool { return len(siteRoutes(t, f)) == 0 })
	offSeen := time.Since(began)
	if err := s.sp.SetAdvertise(ctx, false); err != nil {
		t.Fatalf("SetAdvertise(false) again: %v", err)
	}
	stillUp := func(when string) {
		t.Helper()
		n, err := f.Neighbor(speakerIP)
		st, _ := s.sp.PeerStatus("f")
		if err != nil || n.State != "Established" || n.EstablishedCount != established.EstablishedCount || st.State != app.BGPEstablished {
			t.Fatalf("%s: f's session %+v (%v), the speaker's %+v; want established all along (%d times)", when, n, err, st, established.EstablishedCount)
		}
	}
	stillUp("after SetAdvertise(false)")

	// What f advertises meanwhile still reaches the feed.
	const fMAC = "02:0f:00:00:00:02"
	h1 := fHost(t, f, "h1", fMAC, "192.0.2.21/24")
	waitUntil(t, "f's new host in the feed while this site is silent", func() bool {
		h1.speak(t)
		m, ok := s.remoteMAC(t, fMAC)
		return ok && m.TunnelIP == fIP.String()
	})
	if !s.floodsTo(fIP) {
		t.Fatal("f's inclusive multicast route left the feed while this site is silent")
	}

	// What changes here meanwhile: a MAC learned (in GoBGP's table, not
	// sent) and one gone. The gone MAC's withdrawal does go out (for a
	// route f no longer has), after the learned one's route would have:
	// once f counts it, f has read all that came before.
	lateMAC, goneMAC := localMAC(advertisedMACs), localMAC(1)
	s.learn(lateMAC)
	waitUntil(t, "the late MAC's route in GoBGP's table", func() bool { return s.hasRouteFrom(t, lateMAC, speakerIP) })
	n, err := f.Neighbor(speakerIP)
	if err != nil {
		t.Fatal(err)
	}
	s.forget(goneMAC)
	waitUntil(t, "f receiving the gone MAC's withdrawal", func() bool {
		m, err := f.Neighbor(speakerIP)
		return err == nil && m.UpdatesReceived > n.UpdatesReceived
	})
	if got := siteRoutes(t, f); len(got) != 0 {
		t.Fatalf("f has %d routes of this site while it is silent: %+v", len(got), got[0])
	}

	// On: exactly what the speaker holds, once.
	want := slices.DeleteFunc(slices.Clone(before), func(r frrtest.Route) bool { return r.MAC == goneMAC })
	late := want[slices.IndexFunc(want, func(r frrtest.Route) bool { return r.Type == 2 && !r.IP.IsValid() && r.MAC != movedMAC })]
	late.MAC = lateMAC
	want = append(want, late)
	began = time.Now()
	if err := s.sp.SetAdvertise(ctx, true); err != nil {
		t.Fatal(err)
	}
	onCall := time.Since(began)
	waitUntil(t, fmt.Sprintf("f accepting the %d routes of this site again", len(want)), accepted(len(want)))
	onCounted := time.Since(began)
	waitUntil(t, "f's table with every route of this site, best", settled(len(want)))
	onSeen := time.Since(began)
	if err := s.sp.SetAdvertise(ctx, true); err != nil {
		t.Fatalf("SetAdvertise(true) again: %v", err)
	}
	after := siteRoutes(t, f)
	checkSiteRoutes(t, after, len(want), movedMAC)
	if missing, extra := routeDiff(want, after); len(missing)+len(extra) > 0 {
		t.Fatalf("f's routes of this site after SetAdvertise(true): missing %v, extra %v", missing, extra)
	}
	stillUp("after SetAdvertise(true)")
	if m, ok := s.remoteMAC(t, fMAC); !ok || m.TunnelIP != fIP.String() {
		t.Fatalf("f's host left the feed: %+v, %v", m, ok)
	}
	t.Logf("%d routes: SetAdvertise(false) returned in %v; f counted them all withdrawn %v after the call, its table had none %v after; "+
		"SetAdvertise(true) returned in %v; f counted all %d back %v after the call, its table had them all, best, %v after "+
		"(f polled with vtysh: %v a look at the session, %v at the table)",
		len(before), offCall.Round(time.Microsecond), offCounted.Round(time.Millisecond), offSeen.Round(time.Millisecond),
		onCall.Round(time.Microsecond), len(want), onCounted.Round(time.Millisecond), onSeen.Round(time.Millisecond),
		pollTime(t, func() { f.Neighbor(speakerIP) }).Round(time.Millisecond), pollTime(t, func() { siteRoutes(t, f) }).Round(time.Millisecond))
}

// speakingHost is a host at f that sends a frame when told, and nothing
// else.
type speakingHost struct{ *frrtest.Host }

// fHost makes a host at f on VNI 5001. Its neighbour entry for 192.0.2.99
// is static, so a ping there sends one ICMP frame and no ARP (whose
// retries, once the ping is over, would teach f's bridge the host's MAC
// again later).
func fHost(t *testing.T, f *frrtest.FRR, port, mac, addr string) speakingHost {
	t.Helper()
	h := f.AddHost(t, 5001, port, mac, netip.MustParsePrefix(addr))
	if _, err := h.Exec("ip", "neigh", "replace", "192.0.2.99", "lladdr", "02:0f:00:00:00:99", "dev", frrtest.HostIf); err != nil {
		t.Fatal(err)
	}
	return speakingHost{h}
}

// speak sends one frame, which teaches f's bridge the host's MAC (and f
// advertises it).
func (h speakingHost) speak(t *testing.T) {
	t.Helper()
	h.Exec("ping", "-c", "1", "-W", "1", "192.0.2.99") // nobody answers
}

// localMAC is the test's i-th local MAC.
func localMAC(i int) string { return fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff) }

// siteRoutes returns the routes of this site (RD speakerIP:N) in f's table.
func siteRoutes(t *testing.T, f *frrtest.FRR) []frrtest.Route {
	t.Helper()
	routes, err := f.Routes()
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(routes, func(r frrtest.Route) bool { return !strings.HasPrefix(r.RD, speakerIP.String()+":") })
}

// checkSiteRoutes checks what f has of this site: n routes, one per
// prefix, from the speaker, toward its tunnel IP, VNI 5001, one RD, one
// inclusive multicast route, sequence 1 for moved and 0 for the others.
func checkSiteRoutes(t *testing.T, routes []frrtest.Route, n int, moved string) {
	t.Helper()
	if len(routes) != n {
		t.Fatalf("f has %d routes of this site, want %d", len(routes), n)
	}
	imet := 0
	seen := map[string]bool{}
	for _, r := range routes {
		key := fmt.Sprintf("%d|%s|%s|%v", r.Type, r.RD, r.MAC, r.IP)
		wantSeq := uint32(0)
		if r.MAC == moved {
			wantSeq = 1
		}
		if seen[key] || r.RD != routes[0].RD || r.From != speakerIP || r.NextHop != speakerIP || r.VNI != 5001 || r.Sequence != wantSeq || !r.Best {
			t.Fatalf("f's route of this site %+v: want one path per prefix, RD %s, from and toward %s, VNI 5001, sequence %d, best", r, routes[0].RD, speakerIP, wantSeq)
		}
		seen[key] = true
		if r.Type == 3 {
			imet++
		}
	}
	if imet != 1 {
		t.Fatalf("f has %d inclusive multicast routes of this site, want 1", imet)
	}
}

// routeDiff returns the routes of want that got lacks and those of got
// that want lacks.
func routeDiff(want, got []frrtest.Route) (missing, extra []frrtest.Route) {
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	return missing, extra
}

// pollTime is how long one look at f takes: the resolution of the
// figures.
func pollTime(t *testing.T, look func()) time.Duration {
	t.Helper()
	began := time.Now()
	look()
	return time.Since(began)
}

// TestSetAdvertiseBetweenSpeakers: a speaker that stops advertising
// leaves the other site's feed (its host and its flood target withdrawn)
// and still takes in what the other site advertises; on again, the other
// site has it back. (No root needed: both speakers on loopback.)
func TestSetAdvertiseBetweenSpeakers(t *testing.T) {
	ctx := context.Background()
	_, portText, _ := net.SplitHostPort(ovstest.FreeAddr(t))
	port, _ := strconv.Atoi(portText)
	a := startSite(t, "127.0.0.31", "192.0.2.1", port)
	b := startSite(t, "127.0.0.32", "192.0.2.2", port)
	a.peerWith(t, "b", "127.0.0.32", port)
	b.peerWith(t, "a", "127.0.0.31", port)
	a.join(t)
	b.join(t)
	const hostA, hostB = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
	a.learn(hostA)
	hasA := func() bool {
		m, ok := b.remoteMAC(t, hostA)
		return ok && m.TunnelIP == a.tunnel.String() && b.floodsTo(a.tunnel)
	}
	waitUntil(t, "b has a's host and floods to a", hasA)

	if err := a.sp.SetAdvertise(ctx, false); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "b without a's host and flood target", func() bool { _, ok := b.remoteMAC(t, hostA); return !ok && !b.floodsTo(a.tunnel) })
	b.learn(hostB)
	waitUntil(t, "a still taking b's host in", func() bool {
		m, ok := a.remoteMAC(t, hostB)
		return ok && m.TunnelIP == b.tunnel.String() && a.floodsTo(b.tunnel)
	})
	if st, ok := a.sp.PeerStatus("b"); !ok || st.State != app.BGPEstablished || st.RoutesAdvertised != 0 {
		t.Fatalf("a's view of b while silent: %+v, %v; want established, nothing advertised", st, ok)
	}

	if err := a.sp.SetAdvertise(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "b has a's host and flood target again", hasA)
}

// TestThePairsOwnRoutesAreNotImported: the other node of this site's HA
// pair advertises this site's hosts; they are not remote MACs here, nor
// is that node a flood target.
func TestThePairsOwnRoutesAreNotImported(t *testing.T) {
	_, portText, _ := net.SplitHostPort(ovstest.FreeAddr(t))
	port, _ := strconv.Atoi(portText)
	a := startSite(t, "127.0.0.33", "192.0.2.1", port)
	b := startSite(t, "127.0.0.34", "192.0.2.2", port, func(c *Config) { c.SiteTunnelIPs = []netip.Addr{netip.MustParseAddr("192.0.2.1")} })
	a.peerWith(t, "b", "127.0.0.34", port)
	b.peerWith(t, "a", "127.0.0.33", port)
	a.join(t)
	b.join(t)
	a.learn("02:00:00:00:00:0a")
	waitUntil(t, "b to receive a's routes", func() bool {
		st, ok := b.sp.PeerStatus("a")
		return ok && st.RoutesReceived >= 2
	})
	if m, ok := b.remoteMAC(t, "02:00:00:00:00:0a"); ok {
		t.Errorf("b imported its pair's host as a remote MAC: %+v", m)
	}
	if b.floodsTo(a.tunnel) {
		t.Errorf("b floods to its pair")
	}
}
