package vtep_test

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/internal/ovstest"
	"github.com/l2gw/l2gw/vtep"
)

const (
	switchName = "l2gw0"
	tunnelIP   = "192.0.2.1"
	remote1    = "198.51.100.2"
	remote2    = "198.51.100.3"
	mac1       = "02:00:00:00:01:01"
	mac2       = "02:00:00:00:01:02"
	localMAC   = "02:00:00:00:0a:01"
)

// site is a gateway of the tests: its desired state (the feed's
// destination), its hardware_vtep database and the origin.
type site struct {
	state *app.State
	db    *ovstest.VTEPDB
	v     *vtep.VTEP
	local chan app.LocalMACEvent
	log   *slog.Logger
}

// testLog writes to stderr, which go test shows for failed or -v runs
// only (libovsdb's goroutines may log after a test has ended).
func testLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// startSite opens a state with the vtep origin, serves a fresh database
// and starts the origin on it with ports eth1 and eth2.
func startSite(t *testing.T) *site {
	t.Helper()
	db := ovstest.StartVTEPDB(t)
	log := testLog()
	state, err := app.Open(t.TempDir(), app.Options{Logger: log, Origins: []app.Origin{app.OriginVTEP}, LocalTunnelIPs: []string{tunnelIP}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { state.Close() })
	s := &site{state: state, db: db, log: log}
	s.start(t)
	return s
}

// start starts the origin (again).
func (s *site) start(t *testing.T) {
	t.Helper()
	feed, err := s.state.Feed(app.OriginVTEP)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vtep.Start(context.Background(), vtep.Config{
		DB: s.db.Endpoint(), Switch: switchName, TunnelIP: netip.MustParseAddr(tunnelIP), Feed: feed, Logger: s.log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	s.v = v
	s.local = make(chan app.LocalMACEvent, 16)
	v.WatchLocal(s.local)
	v.SetPorts([]string{"eth1", "eth2"})
}

// waitUntil polls cond until it holds, failing t after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ctlSays waits until vtep-ctl args prints want (after trimming).
func (s *site) ctlSays(t *testing.T, want string, args ...string) {
	t.Helper()
	var got string
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := s.db.TryCtl(args...)
		got = strings.TrimSpace(out)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("vtep-ctl %s: got %q (err %v), want %q", strings.Join(args, " "), got, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// synced tells whether the state has the vtep origin synced.
func (s *site) synced() bool {
	for _, st := range s.state.OriginStatuses() {
		if st.Origin == app.OriginVTEP {
			return st.Synced
		}
	}
	return false
}

// remoteMACs returns what the state has of network's remote MACs from
// the vtep origin, as "MAC@ENDPOINT:SEGID[/IP]".
func (s *site) remoteMACs(t *testing.T, network string) []string {
	t.Helper()
	macs, err := s.state.RemoteMACs(network, app.OriginVTEP)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range macs {
		e := m.MAC + "@" + m.TunnelIP + ":" + itoa(m.SegmentationID)
		if len(m.IPs) > 0 {
			e += "/" + strings.Join(m.IPs, ",")
		}
		out = append(out, e)
	}
	return out
}

// floods returns the endpoints network floods to for the vtep origin, as
// "ENDPOINT:SEGID", sorted.
func (s *site) floods(network string) []string {
	var out []string
	for _, c := range s.state.ListConnections() {
		if c.Origin == app.OriginVTEP && c.Network == network && c.Flood {
			out = append(out, c.TunnelIP+":"+itoa(c.SegmentationID))
		}
	}
	slices.Sort(out)
	return out
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// rows returns the UUIDs of table's rows (vtep-ctl find's conditions).
func (s *site) rows(t *testing.T, table string, conditions ...string) []string {
	t.Helper()
	return strings.Fields(s.db.Ctl(t, append([]string{"--bare", "--columns=_uuid", "find", table}, conditions...)...))
}

// remoteUUID returns the UUID of the Ucast_Macs_Remote row of mac.
func (s *site) remoteUUID(t *testing.T, mac string) string {
	t.Helper()
	return strings.TrimSpace(s.db.Ctl(t, "--bare", "--columns=_uuid", "find", "Ucast_Macs_Remote", `MAC="`+mac+`"`))
}

// bindLS makes logical switch name with VNI vni, bound untagged to eth1,
// the way the ovs-vtep documentation scripts it; and, until the feed owns
// networks, the API network of the same name the remote MACs go to.
func (s *site) bindLS(t *testing.T, name string, vni int) {
	t.Helper()
	if _, err := s.state.CreateNetwork(app.Network{Name: name, Attachments: []app.Attachment{{Port: "eth1"}}}); err != nil {
		t.Fatal(err)
	}
	s.db.Ctl(t, "add-ls", name)
	s.db.Ctl(t, "set", "Logical_Switch", name, "tunnel_key="+strconv.Itoa(vni))
	s.ctlSays(t, "eth1\neth2", "list-ports", switchName)
	s.db.Ctl(t, "bind-ls", switchName, "eth1", "0", name)
}

// TestSwitchRows: the origin creates its Physical_Switch (tunnel_ips = its
// tunnel IP) and one Physical_Port per port it is given, follows SetPorts,
// and a restarted origin finds the rows it made.
func TestSwitchRows(t *testing.T) {
	s := startSite(t)
	s.ctlSays(t, switchName, "list-ps")
	s.ctlSays(t, "eth1\neth2", "list-ports", switchName)
	s.ctlSays(t, `["`+tunnelIP+`"]`, "get", "Physical_Switch", switchName, "tunnel_ips")
	waitUntil(t, "the feed is synced", s.synced)

	s.v.SetPorts([]string{"eth1", "eth3"})
	s.ctlSays(t, "eth1\neth3", "list-ports", switchName)

	s.v.Close()
	s.start(t)
	s.v.SetPorts([]string{"eth1", "eth3"})
	waitUntil(t, "the feed is synced", s.synced)
	s.ctlSays(t, switchName, "list-ps")
	s.ctlSays(t, "eth1\neth3", "list-ports", switchName)
	if g := s.rows(t, "Global"); len(g) != 1 {
		t.Errorf("Global rows %v, want one", g)
	}
	if ps := s.rows(t, "Physical_Switch"); len(ps) != 1 {
		t.Errorf("Physical_Switch rows %v, want one", ps)
	}
}

// TestRemoteMACsAndFlooding: vtep-ctl's logical switch, binding,
// Ucast_Macs_Remote (ipaddr set with vtep-ctl set) and unknown-dst rows
// reach the state as the vtep origin's remote MACs and flood targets;
// replication_mode chooses the flood targets; deleting rows withdraws
// exactly them.
func TestRemoteMACsAndFlooding(t *testing.T) {
	s := startSite(t)
	s.bindLS(t, "blue", 5001)
	s.db.Ctl(t, "add-ucast-remote", "blue", mac1, remote1)
	s.db.Ctl(t, "add-ucast-remote", "blue", mac2, remote2)
	s.db.Ctl(t, "set", "Ucast_Macs_Remote", s.remoteUUID(t, mac1), "ipaddr=203.0.113.10")
	want := []string{mac1 + "@" + remote1 + ":5001/203.0.113.10", mac2 + "@" + remote2 + ":5001"}
	waitUntil(t, "both remote MACs are in the state", func() bool { return slices.Equal(s.remoteMACs(t, "blue"), want) })

	// No replication_mode is vtep(5)'s service_node: one target, the
	// lowest address; source_node floods to every locator.
	s.db.Ctl(t, "add-mcast-remote", "blue", "unknown-dst", remote2)
	s.db.Ctl(t, "add-mcast-remote", "blue", "unknown-dst", remote1)
	waitUntil(t, "blue floods to its service node", func() bool {
		return slices.Equal(s.floods("blue"), []string{remote1 + ":5001"})
	})
	s.db.Ctl(t, "set", "Logical_Switch", "blue", "replication_mode=source_node")
	waitUntil(t, "blue floods to both locators", func() bool {
		return slices.Equal(s.floods("blue"), []string{remote1 + ":5001", remote2 + ":5001"})
	})

	// A new VNI moves every MAC and flood target to it.
	s.db.Ctl(t, "set", "Logical_Switch", "blue", "tunnel_key=5002")
	want = []string{mac1 + "@" + remote1 + ":5002/203.0.113.10", mac2 + "@" + remote2 + ":5002"}
	waitUntil(t, "the MACs are on VNI 5002", func() bool { return slices.Equal(s.remoteMACs(t, "blue"), want) })
	waitUntil(t, "blue floods on VNI 5002", func() bool {
		return slices.Equal(s.floods("blue"), []string{remote1 + ":5002", remote2 + ":5002"})
	})

	s.db.Ctl(t, "del-ucast-remote", "blue", mac2)
	s.db.Ctl(t, "del-mcast-remote", "blue", "unknown-dst", remote2)
	waitUntil(t, "mac2 and its flood target are withdrawn", func() bool {
		return slices.Equal(s.remoteMACs(t, "blue"), want[:1]) && slices.Equal(s.floods("blue"), []string{remote1 + ":5002"})
	})

	// Unbinding the logical switch takes its MACs and flooding away.
	s.db.Ctl(t, "unbind-ls", switchName, "eth1", "0")
	waitUntil(t, "blue's vtep MACs and flood targets are gone", func() bool {
		return len(s.remoteMACs(t, "blue")) == 0 && len(s.floods("blue")) == 0
	})
}

// TestLocalMACs: MACs the local-MAC watch reports on a bound attachment
// are written as Ucast_Macs_Local with this switch's locator and a snooped
// IPv4 address (vtep-ctl list-local-macs shows them), each bound logical
// switch gets unknown-dst → this switch, and they go when the MAC or the
// binding goes.
func TestLocalMACs(t *testing.T) {
	s := startSite(t)
	s.bindLS(t, "blue", 5001)
	locator := "vxlan_over_ipv4/" + tunnelIP
	s.ctlSays(t, "ucast-mac-local\n\nmcast-mac-local\n  unknown-dst -> "+locator, "list-local-macs", "blue")

	s.local <- app.LocalMACEvent{Kind: app.LocalMACAdded, Network: "blue", MAC: localMAC, Attachment: app.Attachment{Port: "eth1"},
		IPs: []netip.Addr{netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("192.0.2.10")}}
	// A MAC on an attachment no logical switch binds is not written.
	s.local <- app.LocalMACEvent{Kind: app.LocalMACAdded, Network: "blue", MAC: mac1, Attachment: app.Attachment{Port: "eth2"}}
	s.local <- app.LocalMACEvent{Kind: app.LocalMACSynced}
	s.ctlSays(t, "ucast-mac-local\n  "+localMAC+" -> "+locator+"\n\nmcast-mac-local\n  unknown-dst -> "+locator, "list-local-macs", "blue")
	if got := strings.TrimSpace(s.db.Ctl(t, "--bare", "--columns=ipaddr", "find", "Ucast_Macs_Local", `MAC="`+localMAC+`"`)); got != "192.0.2.10" {
		t.Errorf("ipaddr %q, want the snooped IPv4 address 192.0.2.10", got)
	}

	s.local <- app.LocalMACEvent{Kind: app.LocalMACIPs, Network: "blue", MAC: localMAC, Attachment: app.Attachment{Port: "eth1"},
		IPs: []netip.Addr{netip.MustParseAddr("192.0.2.11")}}
	waitUntil(t, "ipaddr follows the snooped address", func() bool {
		return strings.TrimSpace(s.db.Ctl(t, "--bare", "--columns=ipaddr", "find", "Ucast_Macs_Local", `MAC="`+localMAC+`"`)) == "192.0.2.11"
	})
	s.local <- app.LocalMACEvent{Kind: app.LocalMACRemoved, Network: "blue", MAC: localMAC, Attachment: app.Attachment{Port: "eth1"}, Reason: app.RemovalAgedOut}
	s.ctlSays(t, "ucast-mac-local\n\nmcast-mac-local\n  unknown-dst -> "+locator, "list-local-macs", "blue")

	s.local <- app.LocalMACEvent{Kind: app.LocalMACAdded, Network: "blue", MAC: localMAC, Attachment: app.Attachment{Port: "eth1"}}
	s.ctlSays(t, "ucast-mac-local\n  "+localMAC+" -> "+locator+"\n\nmcast-mac-local\n  unknown-dst -> "+locator, "list-local-macs", "blue")
	s.db.Ctl(t, "unbind-ls", switchName, "eth1", "0")
	s.ctlSays(t, "ucast-mac-local\n\nmcast-mac-local", "list-local-macs", "blue")
	if rows := s.rows(t, "Ucast_Macs_Local"); len(rows) != 0 {
		t.Errorf("Ucast_Macs_Local rows %v left", rows)
	}
	if rows := s.rows(t, "Mcast_Macs_Local"); len(rows) != 0 {
		t.Errorf("Mcast_Macs_Local rows %v left", rows)
	}
}
