package app

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"
)

// digestCalls are API calls that build one configuration; applied in
// either order (the networks, gateways, connections and bindings of each
// in another order, IDs then differ) they make the same digest.
func digestCalls(t *testing.T, s *State, reverse bool) {
	t.Helper()
	steps := [][]func(){
		{
			func() {
				must[Network](t)(s.CreateNetwork(Network{Name: "net-a", Attachments: []Attachment{{Port: "eth1"}, {Port: "trunk0", VLAN: 100}}}))
			},
			func() {
				must[Network](t)(s.CreateNetwork(Network{Name: "net-b", EVPN: &EVPN{VNI: 7, ImportRTs: []string{"65000:1", "65000:2"}}}))
			},
			func() { must[Network](t)(s.CreateNetwork(Network{Name: "gone"})) },
		},
		{
			func() {
				must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-b", TunnelIPs: []string{"198.51.100.2", "198.51.100.12"}}))
			},
			func() {
				must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-c", TunnelIP: "198.51.100.3"}))
			},
			func() { mustOK(t, s.DeleteNetwork("gone")) },
		},
		{
			func() {
				must[Connection](t)(s.CreateConnection(Connection{Name: "a-b", Network: "net-a", RemoteGateway: "site-b", SegmentationID: 5001, Flood: true}))
			},
			func() {
				must[Connection](t)(s.CreateConnection(Connection{Name: "a-c", Network: "net-a", RemoteGateway: "site-c", SegmentationID: 5001, NetworkType: TypeGeneve}))
			},
			func() {
				must[BGPPeer](t)(s.CreateBGPPeer(BGPPeer{Name: "rr1", Address: "203.0.113.7", ASN: 65000, Password: "s3cret"}))
			},
		},
		{
			func() {
				must[[]MACBinding](t)(s.AddMACs("a-b", MACBindings{{MAC: "02:0b:00:00:00:01", IPs: []string{"192.0.2.21", "2001:db8::21"}}}))
			},
			func() {
				must[[]MACBinding](t)(s.AddMACs("a-b", MACBindings{{MAC: "02:0b:00:00:00:02"}, {MAC: "02:0b:00:00:00:03"}}))
			},
			func() {
				must[[]MACBinding](t)(s.AddMACs("a-c", MACBindings{{MAC: "02:0c:00:00:00:01", IPs: []string{"192.0.2.31"}}}))
			},
		},
		{
			func() { mustOK(t, s.DeleteMAC("a-b", "02:0b:00:00:00:03")) },
		},
	}
	for _, step := range steps {
		for i := range step {
			if reverse {
				i = len(step) - 1 - i
			}
			step[i]()
		}
	}
}

// TestDigestSameConfiguration: two gateways given the same calls in
// another order agree on the digest, also across a restart and whatever
// dynamic origins told; the digest is 32 hex digits.
func TestDigestSameConfiguration(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a, b := openState(t, dirA), openState(t, dirB)
	digestCalls(t, a, false)
	digestCalls(t, b, true)
	da, db := a.DesiredStateDigest(), b.DesiredStateDigest()
	if da != db {
		t.Fatalf("same calls in another order: digests %s and %s", da, db)
	}
	if len(da) != 32 {
		t.Errorf("digest %q is not 32 hex digits", da)
	}
	if sa, sb := a.Snapshot(), b.Snapshot(); sa.Networks[0].ID == sb.Networks[0].ID {
		t.Errorf("the two orders gave net-a the same ID %d: the test does not show IDs are left out", sa.Networks[0].ID)
	}
	// The same bindings through another path (a replace, a move and back).
	must[[]MACBinding](t)(b.ReplaceMACs("a-b", MACBindings{{MAC: "02:0b:00:00:00:02"}, {MAC: "02:0b:00:00:00:01", IPs: []string{"2001:db8::21", "192.0.2.21"}}}))
	must[[]MACBinding](t)(b.MoveMACs(MACMove{To: "a-c", MACs: []string{"02:0b:00:00:00:02"}}))
	must[[]MACBinding](t)(b.MoveMACs(MACMove{To: "a-b", MACs: []string{"02:0b:00:00:00:02"}}))
	if got := b.DesiredStateDigest(); got != da {
		t.Errorf("the same bindings by replace and moves: digest %s, want %s", got, da)
	}
	a = reopen(t, a, dirA)
	if got := a.DesiredStateDigest(); got != da {
		t.Errorf("after a restart: digest %s, want %s", got, da)
	}
	mustOK(t, b.Close())
}

// TestDigestLeavesOutDynamicOrigins: what a dynamic origin tells (remote
// MACs, their connections, networks) does not change the digest.
func TestDigestLeavesOutDynamicOrigins(t *testing.T) {
	s, err := Open(t.TempDir(), Options{Logger: slog.New(slog.DiscardHandler), LocalTunnelIPs: []string{localTunnelIP}, Origins: []Origin{OriginEVPN, OriginVTEP}})
	mustOK(t, err)
	defer s.Close()
	digestCalls(t, s, false)
	before := s.DesiredStateDigest()
	evpn, err := s.Feed(OriginEVPN)
	mustOK(t, err)
	mac, _ := net.ParseMAC("02:0e:00:00:00:01")
	tun := Tunnel{Endpoint: netip.MustParseAddr("198.51.100.9"), NetworkType: TypeVXLAN, SegmentationID: 5009}
	mustOK(t, evpn.UpsertRemoteMACs(RemoteMAC{Network: "net-a", Tunnel: tun, MAC: mac}))
	mustOK(t, evpn.AddFloodTargets(FloodTarget{Network: "net-a", Tunnel: tun}))
	vtep, err := s.Feed(OriginVTEP)
	mustOK(t, err)
	mustOK(t, vtep.UpsertNetworks(Network{Name: "ls-red", Attachments: []Attachment{{Port: "eth7"}}}))
	if got := s.DesiredStateDigest(); got != before {
		t.Errorf("dynamic origins changed the digest: %s, was %s", got, before)
	}
}

// TestDigestDiffers: each part of the configuration the digest covers
// changes it, and undoing the change brings it back.
func TestDigestDiffers(t *testing.T) {
	s := newState(t)
	digestCalls(t, s, false)
	base := s.DesiredStateDigest()
	seen := map[string]string{base: "the base configuration"}
	for _, tc := range []struct {
		name     string
		do, undo func() error
	}{
		{"an attachment's VLAN", func() error {
			return discard(s.ReplaceNetwork("net-a", Network{Attachments: []Attachment{{Port: "eth1"}, {Port: "trunk0", VLAN: 101}}}))
		}, func() error {
			return discard(s.ReplaceNetwork("net-a", Network{Attachments: []Attachment{{Port: "trunk0", VLAN: 100}, {Port: "eth1"}}}))
		}},
		{"an export route target", func() error {
			return discard(s.ReplaceNetwork("net-b", Network{EVPN: &EVPN{VNI: 7, ImportRTs: []string{"65000:1", "65000:2"}, ExportRTs: []string{"65000:1"}}}))
		}, func() error {
			return discard(s.ReplaceNetwork("net-b", Network{EVPN: &EVPN{VNI: 7, ImportRTs: []string{"65000:2", "65000:1"}}}))
		}},
		{"the order of a gateway's endpoints", func() error {
			return discard(s.ReplaceRemoteGateway("site-b", RemoteGateway{TunnelIPs: []string{"198.51.100.12", "198.51.100.2"}}))
		}, func() error {
			return discard(s.ReplaceRemoteGateway("site-b", RemoteGateway{TunnelIPs: []string{"198.51.100.2", "198.51.100.12"}}))
		}},
		{"an endpoint more", func() error {
			return discard(s.ReplaceRemoteGateway("site-c", RemoteGateway{TunnelIPs: []string{"198.51.100.3", "198.51.100.13"}}))
		}, func() error {
			return discard(s.ReplaceRemoteGateway("site-c", RemoteGateway{TunnelIP: "198.51.100.3"}))
		}},
		{"a network more", func() error { return discard(s.CreateNetwork(Network{Name: "net-c"})) },
			func() error { return s.DeleteNetwork("net-c") }},
		{"a connection more", func() error {
			return discard(s.CreateConnection(Connection{Name: "b-c", Network: "net-b", RemoteGateway: "site-c", SegmentationID: 5002}))
		}, func() error { return s.DeleteConnection("b-c") }},
		{"a binding's IP", func() error {
			return discard(s.ReplaceMACs("a-c", MACBindings{{MAC: "02:0c:00:00:00:01", IPs: []string{"192.0.2.32"}}}))
		}, func() error {
			return discard(s.ReplaceMACs("a-c", MACBindings{{MAC: "02:0c:00:00:00:01", IPs: []string{"192.0.2.31"}}}))
		}},
		{"a binding on another connection", func() error {
			return discard(s.MoveMACs(MACMove{To: "a-c", MACs: []string{"02:0b:00:00:00:02"}}))
		}, func() error { return discard(s.MoveMACs(MACMove{To: "a-b", MACs: []string{"02:0b:00:00:00:02"}})) }},
		{"a binding less", func() error { return s.DeleteMAC("a-b", "02:0b:00:00:00:02") },
			func() error { return discard(s.AddMACs("a-b", MACBindings{{MAC: "02:0b:00:00:00:02"}})) }},
		{"a BGP peer's password removed (another one counts as the same: only whether one is set)", func() error {
			return discard(s.ReplaceBGPPeer("rr1", BGPPeer{Address: "203.0.113.7", ASN: 65000}))
		}, func() error {
			return discard(s.ReplaceBGPPeer("rr1", BGPPeer{Address: "203.0.113.7", ASN: 65000, Password: "other"}))
		}},
		{"a BGP peer's ASN", func() error {
			return discard(s.ReplaceBGPPeer("rr1", BGPPeer{Address: "203.0.113.7", ASN: 65001, Password: "s3cret"}))
		}, func() error {
			return discard(s.ReplaceBGPPeer("rr1", BGPPeer{Address: "203.0.113.7", ASN: 65000, Password: "s3cret"}))
		}},
	} {
		mustOK(t, tc.do())
		got := s.DesiredStateDigest()
		if other, dup := seen[got]; dup {
			t.Errorf("%s: digest %s, the same as after %s", tc.name, got, other)
		}
		seen[got] = tc.name
		mustOK(t, tc.undo())
		if got := s.DesiredStateDigest(); got != base {
			t.Errorf("%s undone: digest %s, want %s", tc.name, got, base)
		}
	}
}

// TestDigestCost measures DesiredStateDigest with 100,000 bindings (go
// test -run TestDigestCost -v): the bindings are summed as they change,
// so it costs the topology's size, and so does a call with 1,000,000.
func TestDigestCost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 100,000 bindings")
	}
	s := newState(t)
	must[Network](t)(s.CreateNetwork(Network{Name: "net-a"}))
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-b", TunnelIP: "198.51.100.2"}))
	must[Connection](t)(s.CreateConnection(Connection{Name: "a-b", Network: "net-a", RemoteGateway: "site-b", SegmentationID: 5001}))
	const n = 100_000
	batch := make(MACBindings, n)
	for i := range batch {
		batch[i] = MACBinding{MAC: fmt.Sprintf("02:0b:00:%02x:%02x:%02x", i>>16, i>>8&0xff, i&0xff),
			IPs: []string{fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&0xff, i&0xff)}}
	}
	start := time.Now()
	must[[]MACBinding](t)(s.ReplaceMACs("a-b", batch))
	replace := time.Since(start)
	const calls = 1000
	start = time.Now()
	for range calls {
		s.DesiredStateDigest()
	}
	per := time.Since(start) / calls
	t.Logf("DesiredStateDigest with %d bindings: %v per call; ReplaceMACs of them: %v", n, per, replace)
	if per > 10*time.Millisecond {
		t.Errorf("DesiredStateDigest with %d bindings takes %v: it should not depend on them", n, per)
	}
}

// TestDigestDefinitionIsStable pins the digest of an empty state and of
// digestCalls' configuration: two releases of l2gwd on a pair's nodes
// agree unless the definition (and its version) changed on purpose.
func TestDigestDefinitionIsStable(t *testing.T) {
	s := newState(t)
	if got, want := s.DesiredStateDigest(), "9158214affc712c698bc84dcfbe98344"; got != want {
		t.Errorf("empty state: digest %s, want %s", got, want)
	}
	digestCalls(t, s, false)
	if got, want := s.DesiredStateDigest(), "aae6dfd5d7da3f13302f9300f21636c3"; got != want {
		t.Errorf("digestCalls: digest %s, want %s", got, want)
	}
}
