package app

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/flows/flowsim"
)

// simulate compiles the state as the reconciler does and runs p through
// the simulated bridge (feedReconciler's ports: eth1 1, trunk0 2 tagged
// 100, vxlan 3, gre 6).
func simulate(t *testing.T, s *State, p flowsim.Packet) flowsim.Verdict {
	t.Helper()
	in := readInput(s, feedPorts(), Learning{}).input()
	set, err := flows.Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	sw, err := flowsim.New(set, flowsim.Config{TunnelPorts: in.TunnelPorts})
	if err != nil {
		t.Fatal(err)
	}
	v, err := sw.Run(p)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var (
	hostA = flowsim.MustMAC("02:0a:00:00:00:01")
	spaA  = flowsim.MustIP4("192.0.2.10")
)

// goesTo fails unless a frame from eth1 to mac goes into exactly one tunnel,
// to endpoint with key.
func goesTo(t *testing.T, s *State, mac string, endpoint string, key uint64) {
	t.Helper()
	v := simulate(t, s, flowsim.FromPort(1, flowsim.Ethernet(hostA, flowsim.MustMAC(mac))))
	want := []flowsim.Tunnel{{Type: TypeVXLAN, Remote: netip.MustParseAddr(endpoint), Key: key}}
	if got := v.Tunnels(); !slices.Equal(got, want) || len(v.LocalPorts()) != 0 {
		t.Fatalf("unicast to %s: %v; want only the tunnel to %s key %d", mac, v, endpoint, key)
	}
}

// answeredBy fails unless ARP for ip from eth1 is answered with mac ("":
// not answered, flooded).
func answeredBy(t *testing.T, s *State, ip, mac string) {
	t.Helper()
	v := simulate(t, s, flowsim.FromPort(1, flowsim.ARPRequest(hostA, spaA, flowsim.MustIP4(ip))))
	answer, ok := v.Answer()
	switch {
	case mac == "" && ok:
		t.Fatalf("ARP for %s answered with %s, want it flooded", ip, answer.ARP.SHA)
	case mac != "" && (!ok || answer.ARP.SHA != flowsim.MustMAC(mac)):
		t.Fatalf("ARP for %s: %v; want it answered with %s", ip, v, mac)
	}
}

// TestPrecedenceOnTheWire states the precedence rules as forwarding: where
// unicast to a MAC goes and who answers ARP for an IP, as static, vtep and
// evpn disagree, and as each winner goes.
func TestPrecedenceOnTheWire(t *testing.T) {
	l := newFeedLab(t, 0)
	s := l.s
	const m = "02:0d:00:00:00:01"
	mustOK(t, l.evpn.UpsertRemoteMACs(remote("backup", vxlanTo("198.51.100.4", 5004), m, "192.0.2.41")))
	goesTo(t, s, m, "198.51.100.4", 5004)
	answeredBy(t, s, "192.0.2.41", m)

	// vtep gives the MAC another endpoint, and 192.0.2.41 to another MAC.
	mustOK(t, l.vtep.UpsertRemoteMACs(remote("backup", vxlanTo("198.51.100.3", 5003), m),
		remote("backup", vxlanTo("198.51.100.3", 5003), "02:0c:00:00:00:09", "192.0.2.41")))
	goesTo(t, s, m, "198.51.100.3", 5003)
	answeredBy(t, s, "192.0.2.41", "02:0c:00:00:00:09")

	// The API binds the MAC behind site-b: a feed can never steal it.
	must[[]MACBinding](t)(s.AddMACs("backup-b", MACBindings{{MAC: m, IPs: []string{"192.0.2.41"}}}))
	mustOK(t, l.evpn.UpsertRemoteMACs(remote("backup", vxlanTo("198.51.100.4", 5004), m, "192.0.2.41")))
	goesTo(t, s, m, "198.51.100.2", 5001)
	answeredBy(t, s, "192.0.2.41", m)
	if v := simulate(t, s, flowsim.FromTunnel(3, netip.MustParseAddr("198.51.100.3"), netip.MustParseAddr(localTunnelIP), 5003,
		flowsim.Ethernet(flowsim.MustMAC(m), flowsim.Broadcast))); !v.Dropped() {
		t.Fatalf("a frame from vtep's endpoint with the statically bound source: %v; want it dropped (pinned)", v)
	}

	// The winners go, one at a time: the next in precedence takes over.
	mustOK(t, s.DeleteMAC("backup-b", m))
	goesTo(t, s, m, "198.51.100.3", 5003)
	answeredBy(t, s, "192.0.2.41", "02:0c:00:00:00:09")
	mustOK(t, l.vtep.WithdrawRemoteMACs(remoteKeyOf("backup", m), remoteKeyOf("backup", "02:0c:00:00:00:09")))
	goesTo(t, s, m, "198.51.100.4", 5004)
	answeredBy(t, s, "192.0.2.41", m)
	mustOK(t, l.evpn.WithdrawRemoteMACs(remoteKeyOf("backup", m)))
	answeredBy(t, s, "192.0.2.41", "")
	if v := simulate(t, s, flowsim.FromPort(1, flowsim.Ethernet(hostA, flowsim.MustMAC(m)))); len(v.LocalPorts()) == 0 {
		t.Fatalf("unicast to a MAC nobody has any more: %v; want it flooded", v)
	}
}

// TestDynamicFloodTargetsOnTheWire: a broadcast from a local port goes to
// every API connection that floods and every tunnel a feed asks to flood
// to, once each even when two origins ask; from a dynamic origin's
// endpoint it is admitted and reaches the local ports only.
func TestDynamicFloodTargetsOnTheWire(t *testing.T) {
	l := newFeedLab(t, 0)
	siteC := vxlanTo("198.51.100.3", 5003)
	mustOK(t, l.evpn.AddFloodTargets(FloodTarget{Network: "backup", Tunnel: siteC}))
	mustOK(t, l.vtep.AddFloodTargets(FloodTarget{Network: "backup", Tunnel: siteC}))
	v := simulate(t, l.s, flowsim.FromPort(1, flowsim.Ethernet(hostA, flowsim.Broadcast)))
	want := []flowsim.Tunnel{{Type: TypeVXLAN, Remote: netip.MustParseAddr("198.51.100.2"), Key: 5001},
		{Type: TypeVXLAN, Remote: netip.MustParseAddr("198.51.100.3"), Key: 5003}}
	if got := v.Tunnels(); !slices.Equal(got, want) || !slices.Equal(v.LocalPorts(), []uint32{2}) {
		t.Fatalf("broadcast from eth1: %v; want trunk0 and the tunnels %v", v, want)
	}
	v = simulate(t, l.s, flowsim.FromTunnel(3, siteC.Endpoint, netip.MustParseAddr(localTunnelIP), 5003,
		flowsim.Ethernet(flowsim.MustMAC("02:0c:00:00:00:01"), flowsim.Broadcast)))
	if len(v.Tunnels()) != 0 || !slices.Equal(v.LocalPorts(), []uint32{1, 2}) {
		t.Fatalf("broadcast from evpn's endpoint: %v; want eth1 and trunk0 only", v)
	}
	mustOK(t, l.evpn.RemoveFloodTargets(FloodTarget{Network: "backup", Tunnel: siteC}))
	mustOK(t, l.vtep.RemoveFloodTargets(FloodTarget{Network: "backup", Tunnel: siteC}))
	if v := simulate(t, l.s, flowsim.FromTunnel(3, siteC.Endpoint, netip.MustParseAddr(localTunnelIP), 5003,
		flowsim.Ethernet(flowsim.MustMAC("02:0c:00:00:00:01"), flowsim.Broadcast))); !v.Dropped() {
		t.Fatalf("broadcast from an endpoint no origin names any more: %v; want it dropped", v)
	}
}
