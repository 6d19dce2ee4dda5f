package integration

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l2gw/l2gw/api"
	"github.com/l2gw/l2gw/integration/lab"
	"github.com/l2gw/l2gw/internal/frrtest"
)

// The EVPN fabric: sites a and b run l2gwd, f runs FRR with a kernel VXLAN
// bridge and is the route reflector of both (iBGP, one ASN), the way
// fabrics are built. One host per site on VNI 5001.
const (
	evpnASN  = 65000
	evpnVNI  = 5001
	fTunnel  = "198.51.100.3"
	f1MAC    = "02:0f:00:00:00:01"
	f1IP     = "192.0.2.13"
	fSVI     = "192.0.2.254"
	f1IP6    = "2001:db8::13"
	fSVI6    = "2001:db8::fe"
	a1IP6    = "2001:db8::11"
	evpnNet  = "plane"
	a1EVPNIP = "192.0.2.11"
	b1EVPNIP = "192.0.2.12"
)

// fabric is the EVPN lab.
type fabric struct {
	l      *lab.Lab
	a, b   *gateway
	f      *frrtest.FRR
	a1, b1 *lab.Host
	f1     *lab.Host
}

// evpnFabric builds the fabric: l2gwd at a and b configured with only a
// BGP peer (f) and the network's VNI, nothing about the other sites.
func evpnFabric(t *testing.T, prefix string) *fabric {
	t.Helper()
	frrtest.Require(t)
	fb := &fabric{l: newLab(t, prefix)}
	fb.a = startEVPNGateway(t, fb.l, "a", "198.51.100.1")
	fb.b = startEVPNGateway(t, fb.l, "b", "198.51.100.2")
	fns := fb.l.AddWANNode("f", netip.MustParseAddr(fTunnel))
	fb.f = frrtest.Start(t, frrtest.Config{
		Name: "f", NetNS: fns, ASN: evpnASN, RouterID: netip.MustParseAddr(fTunnel), GracefulRestart: true,
		Neighbors: []frrtest.Neighbor{
			{Address: netip.MustParseAddr(fb.a.site.TunnelIP), ASN: evpnASN, RouteReflectorClient: true},
			{Address: netip.MustParseAddr(fb.b.site.TunnelIP), ASN: evpnASN, RouteReflectorClient: true},
		},
		VNIs: []frrtest.VNI{{ID: evpnVNI, LocalIP: netip.MustParseAddr(fTunnel),
			BridgeAddrs: []netip.Prefix{netip.MustParsePrefix(fSVI + "/24"), netip.MustParsePrefix(fSVI6 + "/64")}}},
	})
	fh := fb.f.AddHost(t, evpnVNI, "f1", f1MAC, netip.MustParsePrefix(f1IP+"/24"), netip.MustParsePrefix(f1IP6+"/64"))
	fb.f1 = lab.ForeignHost("f1", fh.NetNS, f1MAC, f1IP)
	fb.a1 = fb.a.site.AddHost(t, "a1", "02:0a:00:00:00:01", a1EVPNIP, 0, "")
	fb.b1 = fb.b.site.AddHost(t, "b1", "02:0b:00:00:00:01", b1EVPNIP, 0, "")
	for _, g := range []*gateway{fb.a, fb.b} {
		g.must(t, "POST", "/v1/networks", object{"name": evpnNet, "attachments": attach(g.site.Name + "1"), "evpn": object{"vni": evpnVNI}}, 201)
		g.must(t, "POST", "/v1/bgp-peers", object{"name": "rr", "address": fTunnel, "asn": evpnASN, "hold_time": 9}, 201)
	}
	for _, g := range []*gateway{fb.a, fb.b} {
		fb.waitPeer(t, g, "established")
	}
	// f's host talks to its bridge's address, so f knows (and advertises)
	// its IP as well as its MAC.
	pingOK(t, fb.f1, fSVI, 1)
	return fb
}

// startEVPNGateway starts a site whose l2gwd speaks BGP on its tunnel IP.
func startEVPNGateway(t *testing.T, l *lab.Lab, name, tunnelIP string) *gateway {
	t.Helper()
	g := &gateway{site: l.AddSite(name, tunnelIP), dataDir: t.TempDir(),
		extra: []string{"--bgp-asn", fmt.Sprint(evpnASN), "--bgp-listen", tunnelIP + ":179"}}
	g.client = g.site.HTTPClient()
	g.start(t)
	return g
}

// bgpPeer is GET /v1/bgp-peers/{name} as the tests read it.
type bgpPeer struct {
	State          string `json:"state"`
	RoutesAccepted uint64 `json:"routes_accepted"`
	LastError      string `json:"last_error"`
}

func (fb *fabric) peer(t *testing.T, g *gateway) bgpPeer {
	t.Helper()
	return fb.peerNamed(t, g, "rr")
}

// peerNamed is GET /v1/bgp-peers/{name} at g.
func (fb *fabric) peerNamed(t *testing.T, g *gateway, name string) bgpPeer {
	t.Helper()
	code, out := g.call(t, "GET", "/v1/bgp-peers/"+name, nil)
	if code != 200 {
		t.Fatalf("site %s: GET /v1/bgp-peers/%s: %d %s", g.site.Name, name, code, out)
	}
	var p bgpPeer
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitPeer waits until site g's session with f is in state.
func (fb *fabric) waitPeer(t *testing.T, g *gateway, state string) bgpPeer {
	t.Helper()
	var p bgpPeer
	waitFor(t, 30*time.Second, fmt.Sprintf("site %s's BGP session %s", g.site.Name, state), func() bool {
		p = fb.peer(t, g)
		return p.State == state
	})
	return p
}

// fMAC waits until f's EVPN view has mac in state (remote at vtep, or
// local when vtep is "").
func (fb *fabric) fMAC(t *testing.T, mac, vtep string) frrtest.MAC {
	t.Helper()
	var m frrtest.MAC
	waitFor(t, 20*time.Second, fmt.Sprintf("f's view of %s at %q", mac, vtep), func() bool {
		macs, err := fb.f.MACs(evpnVNI)
		if err != nil {
			t.Fatal(err)
		}
		m = macs[mac]
		if vtep == "" {
			return m.Type == "local"
		}
		return m.Type == "remote" && m.RemoteVTEP.String() == vtep
	})
	return m
}

// evpnFlowsWith returns g's flows of origin EVPN (cookie tag 0xd) that
// contain every one of parts.
func evpnFlowsWith(t *testing.T, g *gateway, parts ...string) []string {
	t.Helper()
	var out []string
	for _, f := range g.dumpFlows(t, "cookie=0xd000000000000000/0xf000000000000000") {
		if containsAll(f, parts) {
			out = append(out, f)
		}
	}
	return out
}

// longestAbsence polls f's view every 20 ms until stop and returns the
// longest time mac was not in it.
func (fb *fabric) longestAbsence(mac string, stop <-chan struct{}) time.Duration {
	var longest time.Duration
	var since time.Time
	for {
		select {
		case <-stop:
			return longest
		case <-time.After(20 * time.Millisecond):
		}
		macs, err := fb.f.MACs(evpnVNI)
		now := time.Now()
		if _, ok := macs[mac]; err == nil && ok {
			if !since.IsZero() {
				longest = max(longest, now.Sub(since))
			}
			since = time.Time{}
		} else if since.IsZero() {
			since = now
		}
	}
}

// hasRemoteMAC tells whether g has mac from EVPN, active, at endpoint.
func hasRemoteMAC(t *testing.T, g *gateway, mac, endpoint string) bool {
	t.Helper()
	for _, m := range remoteMACs(t, g) {
		if m.MAC == mac && m.Origin == "evpn" && m.TunnelIP == endpoint && m.State == "active" {
			return true
		}
	}
	return false
}

// remoteMACs is the EVPN network's remote MACs at g.
func remoteMACs(t *testing.T, g *gateway) []api.RemoteMAC {
	t.Helper()
	return networkRemoteMACs(t, g, evpnNet)
}

// TestEVPNFabricWithFRR: with only a BGP peer and the VNI configured, the
// hosts of a, b and f reach each other; f's view lists a's and b's hosts
// at their gateways; an ARP from a for f's host is answered inside a's
// OVS; a static binding at a wins over f's route and gives it back.
func TestEVPNFabricWithFRR(t *testing.T) {
	fb := evpnFabric(t, "l2ev-")
	pingOK(t, fb.a1, f1IP, 2)
	pingOK(t, fb.b1, f1IP, 2)
	pingOK(t, fb.a1, b1EVPNIP, 2)
	pingOK(t, fb.f1, a1EVPNIP, 2)

	fb.fMAC(t, fb.a1.MAC, fb.a.site.TunnelIP)
	fb.fMAC(t, fb.b1.MAC, fb.b.site.TunnelIP)
	routes, err := fb.f.Routes()
	if err != nil {
		t.Fatal(err)
	}
	imet := map[string]bool{}
	for _, r := range routes {
		if r.Type == 3 {
			imet[r.NextHop.String()] = true
		}
	}
	// a snooped a1's ARP: f has a1's MAC+IP route, from a.
	waitFor(t, 10*time.Second, "f's MAC+IP route for a1 from a", func() bool {
		routes, err := fb.f.Routes()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range routes {
			if r.Type == 2 && r.MAC == fb.a1.MAC && r.IP.String() == a1EVPNIP && r.NextHop.String() == fb.a.site.TunnelIP {
				return true
			}
		}
		return false
	})
	if !imet[fb.a.site.TunnelIP] || !imet[fb.b.site.TunnelIP] {
		t.Errorf("f's inclusive multicast routes come from %v, want a's and b's gateways too", imet)
	}

	t.Run("ARPAnsweredInOVS", func(t *testing.T) {
		waitFor(t, 10*time.Second, "a's remote MAC of f1 with its IP", func() bool {
			for _, m := range remoteMACs(t, fb.a) {
				if m.MAC == f1MAC && m.Origin == "evpn" && strings.Join(m.IPs, ",") == f1IP && m.State == "active" {
					return true
				}
			}
			return false
		})
		atF := fb.f1.Capture(t, "arp")
		fb.a1.Exec(t, "ip", "neigh", "flush", "dev", lab.HostIf)
		replies, macs := fb.a1.Arping(t, f1IP, 2)
		time.Sleep(200 * time.Millisecond)
		seen := atF.Stop()
		if replies != 2 || macs[0] != f1MAC {
			t.Errorf("arping %s from a1: %d replies from %v, want 2 from %s", f1IP, replies, macs, f1MAC)
		}
		if strings.Contains(seen, "Request who-has "+f1IP) {
			t.Errorf("a's ARP for f1 reached f (not answered inside a's OVS):\n%s", seen)
		}
	})

	t.Run("IPv6RouteWithARPNDCommunity", func(t *testing.T) {
		// f1 forwards IPv6, so its neighbour advertisements carry the
		// router flag and FRR puts the ARP/ND extended community (RFC 9047)
		// on its MAC+IPv6 route, which GoBGP alone cannot parse.
		if _, err := fb.f1.Exec(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"); err != nil {
			t.Fatal(err)
		}
		// f's bridge asks f1 (its solicitation is answered with the flag).
		fb.f.Exec("ip", "-6", "neigh", "flush", "dev", frrtest.BridgeName(evpnVNI))
		if out, err := fb.f.Exec("ping", "-6", "-c", "2", "-W", "1", f1IP6); err != nil {
			t.Fatalf("f's bridge ping -6 %s: %v\n%s", f1IP6, err, out)
		}
		waitFor(t, 10*time.Second, "f advertising f1's IPv6 with the ARP/ND community", func() bool {
			routes, err := fb.f.Routes()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range routes {
				if r.Type == 2 && r.MAC == f1MAC && r.IP.String() == f1IP6 && strings.Contains(r.ExtCommunities, "ND:") {
					return true
				}
			}
			return false
		})
		waitFor(t, 10*time.Second, "a importing f1's IPv6 from that route", func() bool {
			for _, m := range remoteMACs(t, fb.a) {
				if m.MAC == f1MAC && m.Origin == "evpn" && slices.Contains(m.IPs, f1IP6) {
					return true
				}
			}
			return false
		})
		fb.a1.AddIPv6(t, a1IP6)
		atF := fb.f1.Capture(t, "icmp6")
		mac := fb.a1.Solicit(t, f1IP6, 2)
		time.Sleep(200 * time.Millisecond)
		seen := atF.Stop()
		if mac != f1MAC {
			t.Errorf("a1's neighbour solicitation for %s: answered by %q, want %s", f1IP6, mac, f1MAC)
		}
		if strings.Contains(seen, "neighbor solicitation, who has "+f1IP6) {
			t.Errorf("a1's neighbour solicitation reached f (not answered inside a's OVS):\n%s", seen)
		}
	})

	t.Run("StaticBindingWins", func(t *testing.T) {
		a := fb.a
		// The operator binds f1's MAC at a behind b: the static binding
		// wins over f's route, and a's traffic to f1 goes to b.
		a.must(t, "POST", "/v1/remote-gateways", object{"name": "gw-b", "tunnel_ip": fb.b.site.TunnelIP}, 201)
		a.must(t, "POST", "/v1/connections", object{"name": "plane-b", "network": evpnNet, "remote_gateway": "gw-b",
			"segmentation_id": evpnVNI, "network_type": "vxlan"}, 201)
		a.must(t, "POST", "/v1/connections/plane-b/macs", object{"macs": []object{{"mac": f1MAC}}}, 201)
		toB, toF := a.flowsWith(t, "dl_dst="+f1MAC, fb.b.site.TunnelIP), evpnFlowsWith(t, a, "dl_dst="+f1MAC, fTunnel)
		if len(toB) == 0 || len(toF) != 0 {
			t.Errorf("with the static binding, a's flows for f1: toward b %q, toward f %q; want only toward b", toB, toF)
		}
		for _, m := range remoteMACs(t, a) {
			if m.MAC == f1MAC && m.Origin == "evpn" && m.State == "active" {
				t.Errorf("f's route for f1 still active beside the static binding: %+v", m)
			}
		}
		a.must(t, "DELETE", "/v1/connections/plane-b/macs/"+f1MAC, nil, 204)
		pingOK(t, fb.a1, f1IP, 2)
		if toF := evpnFlowsWith(t, a, "dl_dst="+f1MAC, fTunnel); len(toF) == 0 {
			t.Errorf("binding deleted: no EVPN flow of a toward f for f1")
		}
	})
}

// The mobile host of TestEVPNMobilityAndRestarts: it lives at b, then at a.
const (
	mobileMAC = "02:00:00:00:00:50"
	mobileIP  = "192.0.2.50"
)

// TestEVPNMobilityAndRestarts: a host moving from b to a is followed (its
// sequence number goes up, f agrees) at the cost of a few packets; an
// l2gwd restart at a loses none of a's traffic to f and changes no flow
// (the window in which f cannot reach a is measured); f's bgpd restarting
// leaves a forwarding to f; a peer over max_routes is cut off.
func TestEVPNMobilityAndRestarts(t *testing.T) {
	fb := evpnFabric(t, "l2em-")
	a, b := fb.a, fb.b
	pingOK(t, fb.a1, f1IP, 2)
	pingOK(t, fb.b1, f1IP, 2)

	// The host moves from b to a.
	{
		atB := b.site.AddHost(t, "mob", mobileMAC, mobileIP, 0, "")
		b.must(t, "PUT", "/v1/networks/"+evpnNet, object{"attachments": []object{{"port": "b1"}, {"port": "mob"}}, "evpn": object{"vni": evpnVNI}}, 200)
		pingOK(t, fb.f1, mobileIP, 2)
		fb.fMAC(t, mobileMAC, b.site.TunnelIP)
		atA := a.site.AddHost(t, "mob", mobileMAC, mobileIP, 0, "")
		a.must(t, "PUT", "/v1/networks/"+evpnNet, object{"attachments": []object{{"port": "a1"}, {"port": "mob"}}, "evpn": object{"vni": evpnVNI}}, 200)

		const count, interval = 300, 10 * time.Millisecond
		moved := make(chan struct{})
		go func() {
			defer close(moved)
			time.Sleep(time.Second)
			atB.Exec(t, "ip", "link", "set", lab.HostIf, "down")
			atA.GratuitousARP(t, 1)
		}()
		sent, received := fb.f1.Ping(t, mobileIP, count, interval)
		<-moved
		m := fb.fMAC(t, mobileMAC, a.site.TunnelIP)
		t.Logf("host moved from b to a during a %v ping from f: %d sent, %d received, %d lost; f has it at %s, sequence %d",
			interval, sent, received, sent-received, m.RemoteVTEP, m.RemoteSequence)
		if m.RemoteSequence < 1 {
			t.Errorf("f has the moved host with sequence %d, want at least 1", m.RemoteSequence)
		}
		if lost := sent - received; lost > 10 {
			t.Errorf("%d of %d pings lost across the move, want at most a few", lost, sent)
		}
		waitFor(t, 10*time.Second, "b following the host to a", func() bool {
			for _, r := range remoteMACs(t, b) {
				if r.MAC == mobileMAC && r.Origin == "evpn" && r.TunnelIP == a.site.TunnelIP && r.State == "active" {
					return true
				}
			}
			return false
		})
	}

	// a's l2gwd restarts (its l2gwd is the test's, not a subtest's: it must outlive the phase).
	{
		before := strings.Join(evpnFlowsWith(t, a), "\n")
		monitor := a.site.StartProcess(t, "ovs-ofctl", "-O", "OpenFlow13", "monitor", lab.IntBridge, "watch:!initial")
		fromA := fb.f1.Capture(t, "icmp[icmptype]", "==", "icmp-echo", "and", "src", a1EVPNIP)
		time.Sleep(500 * time.Millisecond)
		const count, interval = 600, 10 * time.Millisecond
		var aSent, fSent, fReceived int
		done := make(chan struct{}, 2)
		go func() { aSent, _ = fb.a1.Ping(t, f1IP, count, interval); done <- struct{}{} }()
		go func() { fSent, fReceived = fb.f1.Ping(t, a1EVPNIP, count, interval); done <- struct{}{} }()
		// How long f's table lacks a1 (f's view polled every 20 ms).
		gapDone := make(chan time.Duration)
		stopGap := make(chan struct{})
		go func() { gapDone <- fb.longestAbsence(fb.a1.MAC, stopGap) }()
		time.Sleep(time.Second)
		a.restart(t, syscall.SIGTERM)
		<-done
		<-done
		close(stopGap)
		absent := <-gapDone
		time.Sleep(300 * time.Millisecond)
		seen := len(lab.EchoRequestSeqs(fromA.Stop()))
		window := time.Duration(fSent-fReceived) * interval
		t.Logf("l2gwd restart at a: a's %d pings to f, %d arrived; f's pings to a: %d of %d lost, "+
			"so f could not reach a for about %v; f's table lacked a1's route for %v (FRR drops a restarting peer's EVPN routes)",
			aSent, seen, fSent-fReceived, fSent, window, absent)
		if seen != aSent {
			t.Errorf("a restart of a's l2gwd lost %d of a's %d pings to f", aSent-seen, aSent)
		}
		monitor.Kill(syscall.SIGTERM)
		monitor.Wait()
		var changes []string
		for _, line := range strings.Split(monitor.Output(), "\n") {
			if strings.Contains(line, "event=") && !strings.Contains(line, "cookie=0xb") {
				changes = append(changes, line)
			}
		}
		if len(changes) > 0 {
			t.Errorf("the restart changed a's flows:\n%s", strings.Join(changes, "\n"))
		}
		if after := strings.Join(evpnFlowsWith(t, a), "\n"); after != before {
			t.Errorf("a's EVPN flows differ after the restart")
		}
		fb.waitPeer(t, a, "established")
	}

	// a restarts again, peered directly with b too: b, a graceful-restart
	// helper, keeps a's routes (FRR withdraws its reflected copy), so b's
	// traffic to a carries on.
	{
		peerWith := func(g *gateway, name string, other *gateway) {
			g.must(t, "POST", "/v1/bgp-peers", object{"name": name, "address": other.site.TunnelIP, "asn": evpnASN, "hold_time": 9}, 201)
		}
		peerWith(a, "b", b)
		peerWith(b, "a", a)
		waitFor(t, 30*time.Second, "a and b peered directly", func() bool {
			return fb.peerNamed(t, a, "b").State == "established" && fb.peerNamed(t, b, "a").State == "established"
		})
		const count, interval = 500, 10 * time.Millisecond
		var sent, received int
		done := make(chan struct{})
		go func() { sent, received = fb.b1.Ping(t, a1EVPNIP, count, interval); close(done) }()
		stop := make(chan struct{})
		missing := make(chan int)
		go func() {
			n := 0
			for {
				select {
				case <-stop:
					missing <- n
					return
				case <-time.After(20 * time.Millisecond):
				}
				if !hasRemoteMAC(t, b, fb.a1.MAC, a.site.TunnelIP) {
					n++
				}
			}
		}()
		time.Sleep(time.Second)
		a.restart(t, syscall.SIGTERM)
		<-done
		close(stop)
		gone := <-missing
		t.Logf("a's l2gwd restart with b as its direct graceful-restart helper: b's %d pings to a, %d answered; b lacked a's host in %d of its 20 ms looks",
			sent, received, gone)
		if gone > 0 || received != sent {
			t.Errorf("b did not keep a's routes across a's graceful restart: lacked a1 %d times, %d of %d pings answered", gone, received, sent)
		}
		a.must(t, "DELETE", "/v1/bgp-peers/b", nil, 204)
		b.must(t, "DELETE", "/v1/bgp-peers/a", nil, 204)
		fb.waitPeer(t, a, "established")
	}

	// f's bgpd restarts.
	{
		fb.fMAC(t, fb.a1.MAC, a.site.TunnelIP)
		fromA := fb.f1.Capture(t, "icmp[icmptype]", "==", "icmp-echo", "and", "src", a1EVPNIP)
		const count, interval = 300, 10 * time.Millisecond
		var sent int
		done := make(chan struct{})
		go func() { sent, _ = fb.a1.Ping(t, f1IP, count, interval); close(done) }()
		time.Sleep(500 * time.Millisecond)
		if err := fb.f.StopBGPD(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		kept := false
		for _, m := range remoteMACs(t, a) {
			kept = kept || m.MAC == f1MAC && m.Origin == "evpn" && m.State == "active"
		}
		if err := fb.f.StartBGPD(); err != nil {
			t.Fatal(err)
		}
		<-done
		time.Sleep(300 * time.Millisecond)
		seen := len(lab.EchoRequestSeqs(fromA.Stop()))
		t.Logf("f's bgpd killed for 1.5 s during a's %d pings to f: %d arrived", sent, seen)
		if !kept {
			t.Errorf("a dropped f's routes while f's bgpd was restarting (graceful restart helper)")
		}
		if seen != sent {
			t.Errorf("a's pings to f across f's bgpd restart: %d of %d arrived", seen, sent)
		}
		fb.waitPeer(t, a, "established")
		fb.fMAC(t, fb.a1.MAC, a.site.TunnelIP)
	}

	// A peer over max_routes is cut off.
	{
		a.must(t, "PUT", "/v1/bgp-peers/rr", object{"address": fTunnel, "asn": evpnASN, "hold_time": 9, "max_routes": 2}, 200)
		var p bgpPeer
		waitFor(t, 20*time.Second, "a cutting f off over max_routes", func() bool {
			p = fb.peer(t, a)
			return p.State != "established" && strings.Contains(p.LastError, "max_routes")
		})
		time.Sleep(2 * time.Second)
		if p = fb.peer(t, a); p.State == "established" {
			t.Errorf("a's session with f came back over max_routes: %+v", p)
		}
		t.Logf("over max_routes 2: %+v", p)
		waitFor(t, 10*time.Second, "a dropping the cut-off peer's routes", func() bool {
			for _, m := range remoteMACs(t, a) {
				if m.Origin == "evpn" {
					return false
				}
			}
			return true
		})
		a.must(t, "PUT", "/v1/bgp-peers/rr", object{"address": fTunnel, "asn": evpnASN, "hold_time": 9}, 200)
		fb.waitPeer(t, a, "established")
		pingOK(t, fb.a1, f1IP, 2)
	}
}
