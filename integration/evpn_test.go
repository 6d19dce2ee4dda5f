package integration

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
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
		VNIs: []frrtest.VNI{{ID: evpnVNI, LocalIP: netip.MustParseAddr(fTunnel), BridgeAddrs: []netip.Prefix{netip.MustParsePrefix(fSVI + "/24")}}},
	})
	fh := fb.f.AddHost(t, evpnVNI, "f1", f1MAC, netip.MustParsePrefix(f1IP+"/24"))
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
	code, out := g.call(t, "GET", "/v1/bgp-peers/rr", nil)
	if code != 200 {
		t.Fatalf("site %s: GET /v1/bgp-peers/rr: %d %s", g.site.Name, code, out)
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

// remoteMACs is GET /v1/networks/plane/remote-macs at g.
func remoteMACs(t *testing.T, g *gateway) []api.RemoteMAC {
	t.Helper()
	code, out := g.call(t, "GET", "/v1/networks/"+evpnNet+"/remote-macs", nil)
	if code != 200 {
		t.Fatalf("site %s: remote-macs: %d %s", g.site.Name, code, out)
	}
	var list struct {
		RemoteMACs []api.RemoteMAC `json:"remote_macs"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatal(err)
	}
	return list.RemoteMACs
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
