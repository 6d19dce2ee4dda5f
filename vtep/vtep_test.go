package vtep_test

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	dir   string // the state's
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
	s := &site{dir: t.TempDir(), db: ovstest.StartVTEPDB(t), log: testLog()}
	s.open(t)
	s.start(t)
	return s
}

// open opens the state (again).
func (s *site) open(t *testing.T) {
	t.Helper()
	state, err := app.Open(s.dir, app.Options{Logger: s.log, Origins: []app.Origin{app.OriginVTEP}, LocalTunnelIPs: []string{tunnelIP}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { state.Close() })
	s.state = state
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
// the way the ovs-vtep documentation scripts it, and waits until the state
// has it as a network of origin vtep.
func (s *site) bindLS(t *testing.T, name string, vni int) {
	t.Helper()
	s.db.Ctl(t, "add-ls", name)
	s.db.Ctl(t, "set", "Logical_Switch", name, "tunnel_key="+strconv.Itoa(vni))
	s.ctlSays(t, "eth1\neth2", "list-ports", switchName)
	s.db.Ctl(t, "bind-ls", switchName, "eth1", "0", name)
	waitUntil(t, "network "+name+" is in the state", func() bool {
		n, err := s.state.GetNetwork(name)
		return err == nil && n.Origin == app.OriginVTEP
	})
}

// network returns the state's network name as "ORIGIN PORT.VLAN ...", or
// "" when there is none.
func (s *site) network(name string) string {
	n, err := s.state.GetNetwork(name)
	if err != nil {
		return ""
	}
	out := n.Origin.String()
	for _, a := range n.Attachments {
		out += " " + a.Port + "." + strconv.Itoa(int(a.VLAN))
	}
	return out
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

	// Unbinding the logical switch takes its network, MACs and flooding
	// away.
	s.db.Ctl(t, "unbind-ls", switchName, "eth1", "0")
	waitUntil(t, "network blue is gone", func() bool { return s.network("blue") == "" })
	if f := s.floods("blue"); len(f) != 0 {
		t.Errorf("blue still floods to %v", f)
	}
}

// TestNetworks: a logical switch bound to the switch's ports is a network
// of origin vtep whose attachments are its bindings (VLAN 0: untagged);
// bindings and deletion follow. A logical switch whose name an API network
// has is not in force: the port and the logical switch say so, none of
// its MACs is told, and once the API network goes (and the origin hears
// the state changed) it is in force and its faults clear. A logical switch
// bound on two VLANs of one port keeps the lowest.
func TestNetworks(t *testing.T) {
	s := startSite(t)
	s.bindLS(t, "blue", 5001)
	s.db.Ctl(t, "bind-ls", switchName, "eth2", "10", "blue")
	waitUntil(t, "blue is on eth1 and eth2.10", func() bool { return s.network("blue") == "vtep eth1.0 eth2.10" })
	eth1 := s.rows(t, "Physical_Port", "name=eth1")[0]
	eth2 := s.rows(t, "Physical_Port", "name=eth2")[0]

	s.db.Ctl(t, "bind-ls", switchName, "eth2", "20", "blue")
	s.ctlSays(t, `[invalid_vlan_map]`, "get", "Physical_Port", eth2, "port_fault_status")
	if got := s.network("blue"); got != "vtep eth1.0 eth2.10" {
		t.Errorf("blue is %q, want it on eth1 and eth2.10", got)
	}
	s.db.Ctl(t, "unbind-ls", switchName, "eth2", "20")
	s.ctlSays(t, `[]`, "get", "Physical_Port", eth2, "port_fault_status")
	s.db.Ctl(t, "unbind-ls", switchName, "eth2", "10")
	waitUntil(t, "blue is on eth1 only", func() bool { return s.network("blue") == "vtep eth1.0" })

	// An API network named red shadows the logical switch red.
	if _, err := s.state.CreateNetwork(app.Network{Name: "red", Attachments: []app.Attachment{{Port: "eth3"}}}); err != nil {
		t.Fatal(err)
	}
	s.db.Ctl(t, "add-ls", "red")
	s.db.Ctl(t, "set", "Logical_Switch", "red", "tunnel_key=5002")
	s.db.Ctl(t, "bind-ls", switchName, "eth1", "30", "red")
	s.db.Ctl(t, "add-ucast-remote", "red", mac1, remote1)
	s.ctlSays(t, `[invalid_vlan_map]`, "get", "Physical_Port", eth1, "port_fault_status")
	if got := s.db.Ctl(t, "get", "Logical_Switch", "red", "other_config:l2gw-fault-"+switchName); !strings.Contains(got, "not in force") {
		t.Errorf("red's l2gw-fault is %q, want it to say it is not in force", got)
	}
	if got := s.remoteMACs(t, "red"); len(got) != 0 {
		t.Errorf("the API network red has vtep remote MACs %v", got)
	}
	if err := s.state.DeleteNetwork("red"); err != nil {
		t.Fatal(err)
	}
	s.v.NetworksChanged()
	waitUntil(t, "red is the vtep origin's, with its MAC", func() bool {
		return s.network("red") == "vtep eth1.30" && slices.Equal(s.remoteMACs(t, "red"), []string{mac1 + "@" + remote1 + ":5002"})
	})
	s.ctlSays(t, `[]`, "get", "Physical_Port", eth1, "port_fault_status")
	s.ctlSays(t, `{}`, "get", "Logical_Switch", "red", "other_config")

	// Unbound, red goes with its local rows: then vtep-ctl can delete it.
	s.db.Ctl(t, "unbind-ls", switchName, "eth1", "30")
	waitUntil(t, "network red is gone", func() bool { return s.network("red") == "" })
	s.ctlSays(t, "ucast-mac-local\n\nmcast-mac-local", "list-local-macs", "red")
	s.db.Ctl(t, "clear-remote-macs", "red")
	s.db.Ctl(t, "del-ls", "red")
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

// TestFaults: what the origin does not do is reported where the schema
// has a place, and cleared when it goes: a logical switch without
// tunnel_key (port_fault_status invalid_vlan_map, other_config:l2gw-fault-SWITCH
// of the logical switch, another physical switch's key left alone), an ACL binding (invalid_ACL_binding), a logical
// router over a bound switch (switch_fault_status lr_support_fault).
// Rows it cannot use (a multicast MAC other than unknown-dst, a MAC behind
// its own tunnel IP, a name l2gwd's networks may not have) change nothing
// else.
func TestFaults(t *testing.T) {
	s := startSite(t)
	s.bindLS(t, "blue", 5001)
	eth2 := s.rows(t, "Physical_Port", "name=eth2")[0]

	s.db.Ctl(t, "add-ls", "red")
	s.db.Ctl(t, "bind-ls", switchName, "eth2", "10", "red")
	s.ctlSays(t, `[invalid_vlan_map]`, "get", "Physical_Port", eth2, "port_fault_status")
	s.ctlSays(t, `"logical switch has no tunnel_key"`, "get", "Logical_Switch", "red", "other_config:l2gw-fault-"+switchName)
	s.db.Ctl(t, "set", "Logical_Switch", "red", "tunnel_key=5003", "other_config:owner=nvc", "other_config:l2gw-fault-ps9=theirs")
	s.ctlSays(t, `[]`, "get", "Physical_Port", eth2, "port_fault_status")
	s.ctlSays(t, `{l2gw-fault-ps9=theirs, owner=nvc}`, "get", "Logical_Switch", "red", "other_config")

	acl := strings.Fields(s.db.Ctl(t, "--", "--id=@e", "create", "ACL_entry", "sequence=1", "action=permit", "direction=ingress",
		"--", "create", "ACL", "acl_name=a1", "acl_entries=@e"))[1]
	s.db.Ctl(t, "set", "Physical_Port", eth2, "acl_bindings:0="+acl)
	s.ctlSays(t, `[invalid_ACL_binding]`, "get", "Physical_Port", eth2, "port_fault_status")
	s.db.Ctl(t, "clear", "Physical_Port", eth2, "acl_bindings")
	s.ctlSays(t, `[]`, "get", "Physical_Port", eth2, "port_fault_status")

	blue := strings.TrimSpace(s.db.Ctl(t, "get", "Logical_Switch", "blue", "_uuid"))
	s.db.Ctl(t, "add-lr", "lr0")
	s.db.Ctl(t, "set", "Logical_Router", "lr0", `switch_binding:"192.0.2.1/24"=`+blue)
	s.ctlSays(t, `[lr_support_fault]`, "get", "Physical_Switch", switchName, "switch_fault_status")
	s.db.Ctl(t, "del-lr", "lr0")
	s.ctlSays(t, `[]`, "get", "Physical_Switch", switchName, "switch_fault_status")

	s.db.Ctl(t, "add-ls", "Not_A_Name")
	s.db.Ctl(t, "set", "Logical_Switch", "Not_A_Name", "tunnel_key=5004")
	s.db.Ctl(t, "bind-ls", switchName, "eth2", "20", "Not_A_Name")
	s.ctlSays(t, `[invalid_vlan_map]`, "get", "Physical_Port", eth2, "port_fault_status")

	s.db.Ctl(t, "add-mcast-remote", "blue", "01:00:5e:00:00:01", remote1)
	s.db.Ctl(t, "add-ucast-remote", "blue", mac2, tunnelIP)
	s.db.Ctl(t, "add-ucast-remote", "blue", mac1, remote1)
	waitUntil(t, "mac1 is in the state", func() bool {
		return slices.Equal(s.remoteMACs(t, "blue"), []string{mac1 + "@" + remote1 + ":5001"})
	})
	if f := s.floods("blue"); len(f) != 0 {
		t.Errorf("blue floods to %v: a multicast MAC other than unknown-dst is no flood target", f)
	}
}

// TestReconnect: while the database is away what it told stays in force
// (the feed is not reset), and when it is back everything is read again: what changed
// meanwhile (a row deleted while no server ran) is withdrawn once the
// feed is synced again, and what did not change is never touched (no
// change of the state names it).
func TestReconnect(t *testing.T) {
	s := startSite(t)
	s.bindLS(t, "blue", 5001)
	s.db.Ctl(t, "add-ucast-remote", "blue", mac1, remote1)
	s.db.Ctl(t, "add-ucast-remote", "blue", mac2, remote2)
	s.db.Ctl(t, "add-mcast-remote", "blue", "unknown-dst", remote1)
	both := []string{mac1 + "@" + remote1 + ":5001", mac2 + "@" + remote2 + ":5001"}
	waitUntil(t, "both MACs and the flood target are in the state", func() bool {
		return slices.Equal(s.remoteMACs(t, "blue"), both) && slices.Equal(s.floods("blue"), []string{remote1 + ":5001"})
	})
	waitUntil(t, "the feed is synced", s.synced)

	var mu sync.Mutex
	var touched []string
	s.state.Subscribe(func(c app.Change) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range c.RemoteMACs {
			touched = append(touched, net.HardwareAddr(m.MAC[:]).String())
		}
	})
	s.db.Stop()
	// However long the database is away, what it said stays in force: the
	// feed is reset (and the hold time starts) only once it is back.
	time.Sleep(time.Second)
	if !s.synced() {
		t.Error("the feed was reset while the database is away: its hold time would run out during an outage")
	}
	if got := s.remoteMACs(t, "blue"); !slices.Equal(got, both) || s.network("blue") != "vtep eth1.0" {
		t.Fatalf("while the database is away the state has network %q with %v, want blue on eth1 with %v kept", s.network("blue"), got, both)
	}
	s.db.Transact(t, `["hardware_vtep",{"op":"delete","table":"Ucast_Macs_Remote","where":[["MAC","==","`+mac2+`"]]}]`)
	if err := s.db.Serve(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the resync withdraws the MAC deleted meanwhile", func() bool {
		return slices.Equal(s.remoteMACs(t, "blue"), both[:1])
	})
	waitUntil(t, "the feed is synced again", s.synced)
	if got := s.floods("blue"); !slices.Equal(got, []string{remote1 + ":5001"}) {
		t.Errorf("after the resync blue floods to %v, want %s", got, remote1)
	}
	mu.Lock()
	if !slices.Equal(touched, []string{mac2}) {
		t.Errorf("state changes named remote MACs %v, want only the deleted %s", touched, mac2)
	}
	mu.Unlock()

	// The connection is live again: new rows arrive.
	s.db.Ctl(t, "add-ucast-remote", "blue", mac2, remote1)
	waitUntil(t, "mac2 is back, behind remote1", func() bool {
		return slices.Equal(s.remoteMACs(t, "blue"), []string{mac1 + "@" + remote1 + ":5001", mac2 + "@" + remote1 + ":5001"})
	})
}

// TestManyRemoteMACs: 10,000 Ucast_Macs_Remote rows committed in one
// transaction all reach the state, and deleting
// them in one transaction withdraws them all. It logs how long each took.
func TestManyRemoteMACs(t *testing.T) {
	const n = 10000
	s := startSite(t)
	s.bindLS(t, "blue", 5001)
	blue := strings.TrimSpace(s.db.Ctl(t, "get", "Logical_Switch", "blue", "_uuid"))
	ops := []string{`"hardware_vtep"`, `{"op":"insert","table":"Physical_Locator","uuid-name":"loc","row":{"dst_ip":"` + remote1 + `","encapsulation_type":"vxlan_over_ipv4"}}`}
	for i := range n {
		mac := net.HardwareAddr{0x02, 0x10, 0, byte(i >> 16), byte(i >> 8), byte(i)}.String()
		ops = append(ops, `{"op":"insert","table":"Ucast_Macs_Remote","row":{"MAC":"`+mac+`","logical_switch":["uuid","`+blue+`"],"locator":["named-uuid","loc"]}}`)
	}
	start := time.Now()
	s.db.TransactRPC(t, "["+strings.Join(ops, ",")+"]")
	committed := time.Since(start)
	waitUntil(t, "every remote MAC is in the state", func() bool { return len(s.remoteMACs(t, "blue")) == n })
	t.Logf("%d remote MACs: committed in %v, all in the state %v after the commit began", n, committed, time.Since(start))

	start = time.Now()
	s.db.Ctl(t, "clear-remote-macs", "blue")
	waitUntil(t, "every remote MAC is withdrawn", func() bool { return len(s.remoteMACs(t, "blue")) == 0 })
	t.Logf("%d remote MACs withdrawn %v after vtep-ctl clear-remote-macs began", n, time.Since(start))
}

// TestRestart: l2gwd restarting (the state reopened, the origin started
// again) has the vtep network in force with the same ID before the origin
// is synced, and after it; a network whose logical switch was unbound
// while l2gwd was down goes once the origin is synced.
func TestRestart(t *testing.T) {
	s := startSite(t)
	s.bindLS(t, "blue", 5001)
	s.db.Ctl(t, "add-ls", "green")
	s.db.Ctl(t, "set", "Logical_Switch", "green", "tunnel_key=5002")
	s.db.Ctl(t, "bind-ls", switchName, "eth2", "0", "green")
	waitUntil(t, "green is on eth2", func() bool { return s.network("green") == "vtep eth2.0" })
	before, err := s.state.GetNetwork("blue")
	if err != nil {
		t.Fatal(err)
	}

	s.v.Close()
	if err := s.state.Close(); err != nil {
		t.Fatal(err)
	}
	s.db.Ctl(t, "unbind-ls", switchName, "eth2", "0")
	s.open(t)
	if got := s.network("blue"); got != "vtep eth1.0" {
		t.Fatalf("after the restart, before the origin runs, blue is %q, want in force on eth1", got)
	}
	if got := s.network("green"); got == "" {
		t.Fatalf("after the restart, before the origin runs, green is gone: the hold should keep it")
	}
	s.start(t)
	waitUntil(t, "the origin is synced", s.synced)
	after, err := s.state.GetNetwork("blue")
	if err != nil {
		t.Fatal(err)
	}
	if after.ID != before.ID {
		t.Errorf("blue's ID changed across the restart: %d → %d", before.ID, after.ID)
	}
	if got := s.network("green"); got != "" {
		t.Errorf("green, unbound while l2gwd was down, is %q after the sync, want gone", got)
	}
}

// TestManyLocalMACs: 10,000 MACs the local-MAC watch reports at once are
// all written as Ucast_Macs_Local (in few transactions: the burst is one
// turn), and all deleted when they age out. It logs how long each took.
func TestManyLocalMACs(t *testing.T) {
	const n = 10000
	s := startSite(t)
	s.bindLS(t, "blue", 5001)
	events := make(chan app.LocalMACEvent, n)
	s.v.WatchLocal(events)
	macs := make([]string, n)
	for i := range macs {
		macs[i] = net.HardwareAddr{0x02, 0x20, 0, byte(i >> 16), byte(i >> 8), byte(i)}.String()
	}
	count := func() int { return len(s.rows(t, "Ucast_Macs_Local")) }
	start := time.Now()
	for _, mac := range macs {
		events <- app.LocalMACEvent{Kind: app.LocalMACAdded, Network: "blue", MAC: mac, Attachment: app.Attachment{Port: "eth1"}}
	}
	waitUntil(t, "every local MAC is in Ucast_Macs_Local", func() bool { return count() == n })
	t.Logf("%d local MACs in Ucast_Macs_Local %v after the first event", n, time.Since(start))
	start = time.Now()
	for _, mac := range macs {
		events <- app.LocalMACEvent{Kind: app.LocalMACRemoved, Network: "blue", MAC: mac, Attachment: app.Attachment{Port: "eth1"}, Reason: app.RemovalAgedOut}
	}
	waitUntil(t, "every local MAC is deleted", func() bool { return count() == 0 })
	t.Logf("%d local MACs deleted %v after the first event", n, time.Since(start))
}

// TestFrozenServerIsDropped: a server that keeps the connection open but
// answers nothing (stopped with SIGSTOP, as a hung host or a cut network
// leaves a tcp: connection) is dropped when an echo goes unanswered, and
// the origin reads the database again once the server answers: the feed
// is reset and synced again. Without the probe the old connection would
// simply resume, and the feed would never be told again.
func TestFrozenServerIsDropped(t *testing.T) {
	s := startSite(t)
	s.bindLS(t, "blue", 5001)
	s.db.Ctl(t, "add-ucast-remote", "blue", mac1, remote1)
	waitUntil(t, "the MAC is in the state", func() bool { return len(s.remoteMACs(t, "blue")) == 1 })
	waitUntil(t, "the feed is synced", s.synced)

	resynced := make(chan struct{}, 1)
	s.state.Subscribe(func(c app.Change) {
		if slices.Contains(c.Synced, app.OriginVTEP) {
			select {
			case resynced <- struct{}{}:
			default:
			}
		}
	})
	data, err := os.ReadFile(filepath.Join(s.db.Dir, "ovsdb-server.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// The origin probes every 5 s and gives an echo 5 s: two intervals
	// see one sent and go unanswered.
	const probeInterval = 5 * time.Second
	time.Sleep(2*probeInterval + time.Second)
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-resynced:
	case <-time.After(4 * probeInterval):
		t.Fatal("the origin kept the frozen server's connection: no new read of the database after it answered again")
	}
	if got := s.remoteMACs(t, "blue"); len(got) != 1 {
		t.Errorf("after the new read the state has %v, want the one MAC", got)
	}
}
