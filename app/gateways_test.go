package app

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestRemoteGatewayEndpoints: a gateway with several endpoints keeps them
// in order, in canonical form, TunnelIP the first; each is taken from
// every other gateway; a replace frees the old ones; the list survives a
// restart.
func TestRemoteGatewayEndpoints(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	defer func() { s.Close() }()
	g := must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-g", TunnelIPs: []string{"::ffff:198.51.100.11", "198.51.100.12"}}))
	want := RemoteGateway{Name: "site-g", TunnelIP: "198.51.100.11", TunnelIPs: []string{"198.51.100.11", "198.51.100.12"}}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("created %+v, want %+v", g, want)
	}
	if !slices.Equal(g.Endpoints(), want.TunnelIPs) {
		t.Errorf("Endpoints() = %v", g.Endpoints())
	}
	// TunnelIP alone is a list of one; both given must agree, in any notation.
	one := must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-h", TunnelIP: "2001:DB8::21"}))
	if !reflect.DeepEqual(one, RemoteGateway{Name: "site-h", TunnelIP: "2001:db8::21", TunnelIPs: []string{"2001:db8::21"}}) {
		t.Errorf("created by tunnel_ip alone: %+v", one)
	}
	both := must[RemoteGateway](t)(s.ReplaceRemoteGateway("site-h", RemoteGateway{TunnelIP: "2001:db8:0::21", TunnelIPs: []string{"2001:db8::21", "2001:db8::22"}}))
	if !slices.Equal(both.TunnelIPs, []string{"2001:db8::21", "2001:db8::22"}) || both.TunnelIP != "2001:db8::21" {
		t.Errorf("replaced with both: %+v", both)
	}

	// Every endpoint is taken; the message names the endpoint as given.
	_, err := s.CreateRemoteGateway(RemoteGateway{Name: "site-x", TunnelIP: "198.51.100.12"})
	e := wantError(t, err, Conflict, At(FieldTunnelIP))
	if want := `tunnel_ip 198.51.100.12 is already used by remote gateway "site-g"`; e.Message != want {
		t.Errorf("message %q, want %q", e.Message, want)
	}
	_, err = s.CreateRemoteGateway(RemoteGateway{Name: "site-x", TunnelIPs: []string{"198.51.100.13", "198.51.100.12"}})
	e = wantError(t, err, Conflict, At(FieldTunnelIPs).Index(1))
	if want := `tunnel_ips[1] 198.51.100.12 is already used by remote gateway "site-g"`; e.Message != want {
		t.Errorf("message %q, want %q", e.Message, want)
	}
	_, err = s.CreateRemoteGateway(RemoteGateway{Name: "site-x", TunnelIPs: []string{"198.51.100.13", "2001:db8::13"}})
	e = wantError(t, err, Invalid, At(FieldTunnelIPs).Index(1))
	if want := "tunnel_ips[1] 2001:db8::13 is IPv6 but tunnel_ips[0] 198.51.100.13 is IPv4: a remote gateway's endpoints are all IPv4 or all IPv6"; e.Message != want {
		t.Errorf("message %q, want %q", e.Message, want)
	}

	// A replace that changes only the order is a change of the topology;
	// the endpoints it drops are free again.
	var changes []Change
	s.Subscribe(func(ch Change) { changes = append(changes, ch) })
	must[RemoteGateway](t)(s.ReplaceRemoteGateway("site-g", RemoteGateway{TunnelIPs: []string{"198.51.100.12", "198.51.100.11"}}))
	if len(changes) != 1 || !changes[0].Topology {
		t.Errorf("changes of a reordering replace: %+v, want one topology change", changes)
	}
	must[RemoteGateway](t)(s.ReplaceRemoteGateway("site-g", RemoteGateway{TunnelIPs: []string{"198.51.100.12"}}))
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-x", TunnelIP: "198.51.100.11"}))
	must[RemoteGateway](t)(s.ReplaceRemoteGateway("site-g", RemoteGateway{TunnelIPs: []string{"198.51.100.12", "198.51.100.14", "198.51.100.15"}}))
	mustOK(t, s.DeleteRemoteGateway("site-x"))
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-y", TunnelIP: "198.51.100.11"}))

	// What State hands out is a copy.
	got := must[RemoteGateway](t)(s.GetRemoteGateway("site-g"))
	got.TunnelIPs[0] = "203.0.113.99"
	s.ListRemoteGateways()[0].TunnelIPs[0] = "203.0.113.99"
	before := s.Snapshot()
	if g := must[RemoteGateway](t)(s.GetRemoteGateway("site-g")); g.TunnelIPs[0] != "198.51.100.12" {
		t.Errorf("the state's list was changed through a copy: %+v", g)
	}

	s = reopen(t, s, dir)
	if got := s.Snapshot(); !reflect.DeepEqual(got, before) {
		t.Fatalf("after a restart:\n got %+v\nwant %+v", got.RemoteGateways, before.RemoteGateways)
	}
	// Restored endpoints are taken as before.
	_, err = s.CreateRemoteGateway(RemoteGateway{Name: "site-z", TunnelIP: "198.51.100.15"})
	wantError(t, err, Conflict, At(FieldTunnelIP))
}

// TestStoreGatewayRecords: a single-endpoint gateway is stored as an
// earlier release stored it (tunnel_ip only), one with several adds
// tunnel_ips, and a record an earlier release wrote loads as a gateway of
// one endpoint.
func TestStoreGatewayRecords(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-b", TunnelIP: "198.51.100.2"}))
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-g", TunnelIPs: []string{"198.51.100.11", "198.51.100.12"}}))
	mustOK(t, s.Close())
	records := storeContents(t, dir)["remote_gateways"]
	for name, want := range map[string]string{
		"site-b": `{"name":"site-b","tunnel_ip":"198.51.100.2"}`,
		"site-g": `{"name":"site-g","tunnel_ip":"198.51.100.11","tunnel_ips":["198.51.100.11","198.51.100.12"]}`,
	} {
		if got := string(records[name]); got != want {
			t.Errorf("record of %s: %s, want %s", name, got, want)
		}
	}

	// What an earlier release wrote, by hand.
	db, err := bolt.Open(filepath.Join(dir, dbFileName), 0o600, nil)
	mustOK(t, err)
	mustOK(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketGateways).Put([]byte("site-c"), []byte(`{"name":"site-c","tunnel_ip":"2001:db8::3"}`))
	}))
	mustOK(t, db.Close())
	s = openState(t, dir)
	defer s.Close()
	want := []RemoteGateway{
		{Name: "site-b", TunnelIP: "198.51.100.2", TunnelIPs: []string{"198.51.100.2"}},
		{Name: "site-c", TunnelIP: "2001:db8::3", TunnelIPs: []string{"2001:db8::3"}},
		{Name: "site-g", TunnelIP: "198.51.100.11", TunnelIPs: []string{"198.51.100.11", "198.51.100.12"}},
	}
	if got := s.ListRemoteGateways(); !reflect.DeepEqual(got, want) {
		t.Errorf("loaded %+v, want %+v", got, want)
	}
}

// TestStoreGatewayRecordDisagrees: a record whose tunnel_ip is not its
// first tunnel_ips (no release writes one) is refused at load, not
// guessed at.
func TestStoreGatewayRecordDisagrees(t *testing.T) {
	dir := t.TempDir()
	mustOK(t, openState(t, dir).Close())
	db, err := bolt.Open(filepath.Join(dir, dbFileName), 0o600, nil)
	mustOK(t, err)
	rec, _ := json.Marshal(gatewayRecord{Name: "site-g", TunnelIP: "198.51.100.12", TunnelIPs: []string{"198.51.100.11", "198.51.100.12"}})
	mustOK(t, db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketGateways).Put([]byte("site-g"), rec) }))
	mustOK(t, db.Close())
	if s, err := Open(dir, Options{Logger: slog.New(slog.DiscardHandler)}); err == nil {
		s.Close()
		t.Fatal("a record whose tunnel_ip is not its first endpoint loaded")
	}
}

// TestDynamicTunnelToSecondEndpoint: a dynamic origin's remote MAC behind
// the second endpoint of a gateway with an API connection on its tunnel
// key goes through that connection (the gateway's), not a connection of
// its own: admission accepts every endpoint of the gateway.
func TestDynamicTunnelToSecondEndpoint(t *testing.T) {
	s, err := Open(t.TempDir(), Options{Logger: slog.New(slog.DiscardHandler), LocalTunnelIPs: []string{localTunnelIP},
		Origins: []Origin{OriginEVPN}})
	mustOK(t, err)
	defer s.Close()
	must[Network](t)(s.CreateNetwork(Network{Name: "net-a"}))
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-g", TunnelIPs: []string{"198.51.100.11", "198.51.100.12"}}))
	must[Connection](t)(s.CreateConnection(Connection{Name: "a-g", Network: "net-a", RemoteGateway: "site-g", SegmentationID: 5001}))
	feed, err := s.Feed(OriginEVPN)
	mustOK(t, err)
	mac, _ := net.ParseMAC("02:0e:00:00:00:01")
	mustOK(t, feed.UpsertRemoteMACs(RemoteMAC{Network: "net-a", MAC: mac,
		Tunnel: Tunnel{Endpoint: netip.MustParseAddr("198.51.100.12"), NetworkType: TypeVXLAN, SegmentationID: 5001}}))
	if conns := s.ListConnections(); len(conns) != 1 || conns[0].Name != "a-g" {
		t.Errorf("connections %+v, want a-g alone", conns)
	}
}
