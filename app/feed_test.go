package app

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/ovsdb"
	bolt "go.etcd.io/bbolt"
)

// feedOptions opens a state with feeds for both dynamic origins; their
// hold time is long unless a test says otherwise.
func feedOptions(hold time.Duration) Options {
	if hold == 0 {
		hold = time.Hour
	}
	return Options{Logger: slog.New(slog.DiscardHandler), LocalTunnelIPs: []string{localTunnelIP},
		Origins: []Origin{OriginVTEP, OriginEVPN}, HoldTime: hold}
}

// feedSite is siteState with feeds: network backup (eth1, trunk0.100),
// connection backup-b to site-b (198.51.100.2, VXLAN 5001) with binding
// 02:0b:00:00:00:01 = 192.0.2.21. It returns the state and its directory.
func feedSite(t *testing.T, hold time.Duration) (*State, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, feedOptions(hold))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	must[Network](t)(s.CreateNetwork(Network{Name: "backup", Attachments: []Attachment{{Port: "eth1"}, {Port: "trunk0", VLAN: 100}}}))
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-b", TunnelIP: "198.51.100.2"}))
	must[Connection](t)(s.CreateConnection(Connection{Name: "backup-b", Network: "backup", RemoteGateway: "site-b", SegmentationID: 5001, NetworkType: TypeVXLAN, Flood: true}))
	must[[]MACBinding](t)(s.AddMACs("backup-b", MACBindings{{MAC: "02:0b:00:00:00:01", IPs: []string{"192.0.2.21"}}}))
	return s, dir
}

// reopenFeeds restarts s (closed) on its store in dir with opts.
func reopenFeeds(t *testing.T, s *State, dir string, opts Options) *State {
	t.Helper()
	mustOK(t, s.Close())
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func feedOf(t *testing.T, s *State, o Origin) *Feed {
	t.Helper()
	f, err := s.Feed(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// vxlanTo is VXLAN with key seg to endpoint.
func vxlanTo(endpoint string, seg uint32) Tunnel {
	return Tunnel{Endpoint: netip.MustParseAddr(endpoint), NetworkType: TypeVXLAN, SegmentationID: seg}
}

func remote(network string, t Tunnel, mac string, ips ...string) RemoteMAC {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		panic(err)
	}
	m := RemoteMAC{Network: network, Tunnel: t, MAC: hw}
	for _, ip := range ips {
		m.IPs = append(m.IPs, netip.MustParseAddr(ip))
	}
	return m
}

func remoteKeyOf(network, mac string) RemoteMACKey {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		panic(err)
	}
	return RemoteMACKey{Network: network, MAC: hw}
}

// feedLab is a feedSite with its switch, reconciler and feeds.
type feedLab struct {
	s          *State
	dir        string
	sw         *memSwitch
	r          *Reconciler
	vtep, evpn *Feed
}

func newFeedLab(t *testing.T, hold time.Duration) *feedLab {
	t.Helper()
	s, dir := feedSite(t, hold)
	sw := newMemSwitch()
	return &feedLab{s: s, dir: dir, sw: sw, r: feedReconciler(s, sw), vtep: feedOf(t, s, OriginVTEP), evpn: feedOf(t, s, OriginEVPN)}
}

// restart reopens the lab's state as a restarted l2gwd would, with a new
// reconciler on the same switch.
func (l *feedLab) restart(t *testing.T, opts Options) {
	t.Helper()
	l.s = reopenFeeds(t, l.s, l.dir, opts)
	l.r = feedReconciler(l.s, l.sw)
	l.vtep, l.evpn = nil, nil
	if l.s.feeds[OriginVTEP] != nil {
		l.vtep, l.evpn = feedOf(t, l.s, OriginVTEP), feedOf(t, l.s, OriginEVPN)
	}
}

// feedPorts are the bridge's ofports in the feed tests.
func feedPorts() map[string]uint32 {
	return map[string]uint32{"eth1": 1, "trunk0": 2, "eth2": 4, ovsdb.TunnelPortName(TypeVXLAN): 3, ovsdb.TunnelPortName(TypeGRE): 6}
}

func feedReconciler(state *State, sw Switch) *Reconciler {
	return NewReconciler(ReconcilerConfig{Bridge: "br-int"}, state, sw, &fixedBridge{ports: feedPorts()})
}

// remoteMACs lists network's remote MACs as "MAC origin state" lines.
func remoteMACs(t *testing.T, s *State, network string) []string {
	t.Helper()
	list := must[[]RemoteMACInfo](t)(s.RemoteMACs(network))
	var out []string
	for _, m := range list {
		line := m.MAC + " " + m.Origin.String() + " " + m.Connection
		if m.Active {
			line += " active"
		} else {
			line += " shadowed-by-" + m.ShadowedBy.String()
		}
		for _, ip := range m.ShadowedIPs {
			line += " " + ip.IP + "-shadowed-by-" + ip.By.String()
		}
		out = append(out, line)
	}
	return out
}

func wantLines(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// switchFlows counts the switch's flows by origin.
func switchFlows(sw *memSwitch) map[Origin]int {
	n := map[Origin]int{}
	for c := range sw.flows {
		_, o, _ := flows.DecodeCookie(c)
		n[o.Origin]++
	}
	return n
}

// l2Owner returns the origin of the l2_lookup flow of MAC mac in network
// 1, and whether there is one (the match's bytes hold the MAC).
func l2Owner(t *testing.T, sw *memSwitch, mac string) (Origin, bool) {
	t.Helper()
	hw, _ := net.ParseMAC(mac)
	var found []Origin
	for c, f := range sw.flows {
		if f.table == flows.TableL2Lookup && f.priority == flows.PriorityStatic && strings.Contains(f.key, hexOf(hw)) {
			_, o, _ := flows.DecodeCookie(c)
			found = append(found, o.Origin)
		}
	}
	if len(found) > 1 {
		t.Fatalf("mac %s has %d forwarding flows", mac, len(found))
	}
	if len(found) == 0 {
		return 0, false
	}
	return found[0], true
}

// arpOwners returns, per IPv4 address answered in network 1, the origin of
// its ARP answer; an address answered twice fails the test.
func arpOwners(t *testing.T, sw *memSwitch, ips ...string) map[string]Origin {
	t.Helper()
	out := map[string]Origin{}
	for _, ip := range ips {
		hex := hexOf(netip.MustParseAddr(ip).AsSlice())
		for c, f := range sw.flows {
			if f.table == flows.TableARPResponder && f.priority == 100 && strings.HasSuffix(strings.TrimRight(f.key, "0"), strings.TrimRight(hex, "0")) {
				if _, dup := out[ip]; dup {
					t.Fatalf("ip %s is answered twice", ip)
				}
				_, o, _ := flows.DecodeCookie(c)
				out[ip] = o.Origin
			}
		}
	}
	return out
}

// wantARP fails unless the IPs of want are answered by the origins it
// gives (an empty origin string: not answered).
func wantARP(t *testing.T, sw *memSwitch, want map[string]string) {
	t.Helper()
	got := arpOwners(t, sw, slices.Collect(maps.Keys(want))...)
	for ip, o := range want {
		if answer, ok := got[ip]; (o == "") == ok || (ok && answer.String() != o) {
			t.Fatalf("ARP answers %v, want %v", got, want)
		}
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&0xf])
	}
	return string(out)
}

func TestFeedRemoteMACCompilesThroughItsOwnConnection(t *testing.T) {
	l := newFeedLab(t, 0)
	s, sw, r, evpn := l.s, l.sw, l.r, l.evpn
	reconcileOK(t, r)
	static := len(sw.flows)
	siteC := vxlanTo("198.51.100.3", 5002)
	mustOK(t, evpn.UpsertRemoteMACs(remote("backup", siteC, "02:0c:00:00:00:01", "192.0.2.31", "2001:db8::31")))
	mustOK(t, evpn.AddFloodTargets(FloodTarget{Network: "backup", Tunnel: siteC}))

	conns := s.ListConnections()
	if len(conns) != 2 || conns[1].Name != "backup:vxlan:5002@198.51.100.3" || conns[1].Origin != OriginEVPN ||
		!conns[1].Flood || conns[1].TunnelIP != "198.51.100.3" || conns[1].ID == 0 {
		t.Fatalf("connections %+v: want backup-b and evpn's backup:vxlan:5002@198.51.100.3, flooding", conns)
	}
	reconcileOK(t, r)
	n := switchFlows(sw)
	// admission, learning, pass; forwarding, ARP and ND answers.
	if n[OriginEVPN] != 3+3 {
		t.Fatalf("evpn flows %d, want 6 (%v)", n[OriginEVPN], n)
	}
	// The network's two flood flows change in place.
	if n[OriginStatic] != static {
		t.Fatalf("static flows %d, want %d", n[OriginStatic], static)
	}
	if o, ok := l2Owner(t, sw, "02:0c:00:00:00:01"); !ok || o != OriginEVPN {
		t.Fatalf("no evpn forwarding flow for the remote MAC")
	}
	wantLines(t, "remote MACs", remoteMACs(t, s, "backup"),
		"02:0b:00:00:00:01 static backup-b active",
		"02:0c:00:00:00:01 evpn backup:vxlan:5002@198.51.100.3 active")
	macs := must[[]MACBinding](t)(s.ListMACs("backup:vxlan:5002@198.51.100.3"))
	if len(macs) != 1 || macs[0].Origin != OriginEVPN || len(macs[0].IPs) != 2 {
		t.Fatalf("the derived connection's MACs: %+v", macs)
	}

	// Withdrawn: everything of it goes, the derived connection too.
	mustOK(t, evpn.WithdrawRemoteMACs(remoteKeyOf("backup", "02:0c:00:00:00:01")))
	mustOK(t, evpn.RemoveFloodTargets(FloodTarget{Network: "backup", Tunnel: siteC}))
	reconcileOK(t, r)
	if n := switchFlows(sw); n[OriginEVPN] != 0 || n[OriginStatic] != static {
		t.Fatalf("after the withdrawal: %v", n)
	}
	if len(s.ListConnections()) != 1 {
		t.Fatalf("the derived connection outlived its last remote MAC: %+v", s.ListConnections())
	}
}

func TestPrecedenceOfAMACStaticThenVTEPThenEVPN(t *testing.T) {
	l := newFeedLab(t, 0)
	s, sw, r, vtep, evpn := l.s, l.sw, l.r, l.vtep, l.evpn
	const m = "02:0d:00:00:00:01"
	mustOK(t, evpn.UpsertRemoteMACs(remote("backup", vxlanTo("198.51.100.4", 5004), m, "192.0.2.41")))
	reconcileOK(t, r)
	if o, _ := l2Owner(t, sw, m); o != OriginEVPN {
		t.Fatalf("evpn alone: forwarding by %s", o)
	}
	mustOK(t, vtep.UpsertRemoteMACs(remote("backup", vxlanTo("198.51.100.3", 5003), m, "192.0.2.41")))
	reconcileOK(t, r)
	if o, _ := l2Owner(t, sw, m); o != OriginVTEP {
		t.Fatalf("vtep beside evpn: forwarding by %s", o)
	}
	must[[]MACBinding](t)(s.AddMACs("backup-b", MACBindings{{MAC: m}}))
	reconcileOK(t, r)
	if o, _ := l2Owner(t, sw, m); o != OriginStatic {
		t.Fatalf("statically bound: forwarding by %s", o)
	}
	wantLines(t, "with all three", remoteMACs(t, s, "backup"),
		"02:0b:00:00:00:01 static backup-b active",
		m+" static backup-b active",
		m+" vtep backup:vxlan:5003@198.51.100.3 shadowed-by-static",
		m+" evpn backup:vxlan:5004@198.51.100.4 shadowed-by-static")
	// The static binding has no IP: 192.0.2.41 is nobody's answer now.
	if owners := arpOwners(t, sw, "192.0.2.41"); len(owners) != 0 {
		t.Fatalf("a shadowed MAC's IP is answered: %v", owners)
	}

	// The winner goes, the next takes over; and again.
	mustOK(t, s.DeleteMAC("backup-b", m))
	reconcileOK(t, r)
	if o, _ := l2Owner(t, sw, m); o != OriginVTEP {
		t.Fatalf("static gone: forwarding by %s, want vtep", o)
	}
	if owners := arpOwners(t, sw, "192.0.2.41"); owners["192.0.2.41"] != OriginVTEP {
		t.Fatalf("static gone: ARP answers %v, want vtep's", owners)
	}
	mustOK(t, vtep.WithdrawRemoteMACs(remoteKeyOf("backup", m)))
	reconcileOK(t, r)
	if o, _ := l2Owner(t, sw, m); o != OriginEVPN {
		t.Fatalf("vtep gone: forwarding by %s, want evpn", o)
	}
	checkSwitchIsFullCompile(t, s, sw, r)
}

func TestPrecedenceOfAnIP(t *testing.T) {
	l := newFeedLab(t, 0)
	s, sw, r, vtep, evpn := l.s, l.sw, l.r, l.vtep, l.evpn
	siteC, siteD := vxlanTo("198.51.100.3", 5003), vxlanTo("198.51.100.4", 5004)
	// 192.0.2.21 is backup-b's binding's: evpn's MAC does not get it.
	mustOK(t, evpn.UpsertRemoteMACs(remote("backup", siteD, "02:0d:00:00:00:01", "192.0.2.21", "192.0.2.42")))
	reconcileOK(t, r)
	wantARP(t, sw, map[string]string{"192.0.2.21": "static", "192.0.2.42": "evpn"})
	// vtep gives 192.0.2.42 to another MAC: vtep's wins, evpn's MAC stays
	// without it.
	mustOK(t, vtep.UpsertRemoteMACs(remote("backup", siteC, "02:0c:00:00:00:01", "192.0.2.42")))
	reconcileOK(t, r)
	wantARP(t, sw, map[string]string{"192.0.2.42": "vtep"})
	wantLines(t, "remote MACs", remoteMACs(t, s, "backup"),
		"02:0b:00:00:00:01 static backup-b active",
		"02:0c:00:00:00:01 vtep backup:vxlan:5003@198.51.100.3 active",
		"02:0d:00:00:00:01 evpn backup:vxlan:5004@198.51.100.4 active 192.0.2.21-shadowed-by-static 192.0.2.42-shadowed-by-vtep")
	// vtep's MAC goes: evpn's MAC answers 192.0.2.42 again; the static
	// binding goes: evpn's MAC answers 192.0.2.21.
	mustOK(t, vtep.WithdrawRemoteMACs(remoteKeyOf("backup", "02:0c:00:00:00:01")))
	mustOK(t, s.DeleteMAC("backup-b", "02:0b:00:00:00:01"))
	reconcileOK(t, r)
	wantARP(t, sw, map[string]string{"192.0.2.21": "evpn", "192.0.2.42": "evpn"})
	// Between two MACs of one origin, the lower MAC wins, whatever the
	// order they were told in.
	mustOK(t, evpn.UpsertRemoteMACs(remote("backup", siteD, "02:0a:00:00:00:09", "192.0.2.42")))
	reconcileOK(t, r)
	wantARP(t, sw, map[string]string{"192.0.2.42": "evpn"})
	list := must[[]RemoteMACInfo](t)(s.RemoteMACs("backup"))
	if list[0].MAC != "02:0a:00:00:00:09" || len(list[0].ShadowedIPs) != 0 || len(list[1].ShadowedIPs) != 1 {
		t.Fatalf("the lower MAC does not win the IP: %+v", list)
	}
	checkSwitchIsFullCompile(t, s, sw, r)
}

func TestTwoOriginsShareATunnelsAdmission(t *testing.T) {
	l := newFeedLab(t, 0)
	s, sw, r, vtep, evpn := l.s, l.sw, l.r, l.vtep, l.evpn
	siteC := vxlanTo("198.51.100.3", 5003)
	mustOK(t, evpn.UpsertRemoteMACs(remote("backup", siteC, "02:0c:00:00:00:01")))
	mustOK(t, vtep.UpsertRemoteMACs(remote("backup", siteC, "02:0c:00:00:00:02")))
	conns := s.ListConnections()
	if len(conns) != 2 || conns[1].Origin != OriginVTEP {
		t.Fatalf("connections %+v: want one shared derived connection owned by vtep", conns)
	}
	reconcileOK(t, r)
	admissions := func() int {
		n := 0
		for _, f := range sw.flows {
			if f.table == flows.TableClassifier && f.priority == 200 {
				n++
			}
		}
		return n
	}
	if got := admissions(); got != 4 {
		t.Fatalf("%d admission flows, want 4 (eth1, trunk0.100, site-b, and site-c once)", got)
	}
	// vtep lets go: the tunnel stays, evpn's now.
	mustOK(t, vtep.WithdrawRemoteMACs(remoteKeyOf("backup", "02:0c:00:00:00:02")))
	reconcileOK(t, r)
	if conns := s.ListConnections(); len(conns) != 2 || conns[1].Origin != OriginEVPN {
		t.Fatalf("connections %+v", conns)
	}
	checkSwitchIsFullCompile(t, s, sw, r)
}

func TestRemoteMACsThroughAnAPIConnectionsTunnel(t *testing.T) {
	l := newFeedLab(t, 0)
	s, sw, r, evpn := l.s, l.sw, l.r, l.evpn
	siteB := vxlanTo("198.51.100.2", 5001) // backup-b's
	mustOK(t, evpn.UpsertRemoteMACs(remote("backup", siteB, "02:0b:00:00:00:02", "192.0.2.22")))
	mustOK(t, evpn.AddFloodTargets(FloodTarget{Network: "backup", Tunnel: siteB}))
	if conns := s.ListConnections(); len(conns) != 1 {
		t.Fatalf("connections %+v: evpn's tunnel is backup-b's, no connection of its own", conns)
	}
	reconcileOK(t, r)
	wantLines(t, "remote MACs", remoteMACs(t, s, "backup"),
		"02:0b:00:00:00:01 static backup-b active",
		"02:0b:00:00:00:02 evpn backup-b active")
	if n := switchFlows(sw); n[OriginEVPN] != 2 {
		t.Fatalf("evpn flows %v, want its binding's 2 only", n)
	}
	var apiErr *Error
	if err := s.DeleteMAC("backup-b", "02:0b:00:00:00:02"); !errors.As(err, &apiErr) || apiErr.Kind != Conflict || !strings.Contains(err.Error(), "evpn") {
		t.Fatalf("deleting evpn's MAC through the API: %v, want a conflict naming evpn", err)
	}
	// The API connection goes; the tunnel becomes evpn's connection and
	// the remote MAC's flows stay as they were.
	before := sw.mods
	mustOK(t, s.DeleteConnection("backup-b"))
	reconcileOK(t, r)
	if conns := s.ListConnections(); len(conns) != 1 || conns[0].Origin != OriginEVPN || !conns[0].Flood {
		t.Fatalf("connections %+v", conns)
	}
	if o, ok := l2Owner(t, sw, "02:0b:00:00:00:02"); !ok || o != OriginEVPN {
		t.Fatal("evpn's MAC lost its flows with the API connection")
	}
	checkSwitchIsFullCompile(t, s, sw, r)
	_ = before
}

func TestWritesToADynamicOriginsConnectionConflict(t *testing.T) {
	s, _ := feedSite(t, 0)
	evpn := feedOf(t, s, OriginEVPN)
	mustOK(t, evpn.UpsertRemoteMACs(remote("backup", vxlanTo("198.51.100.3", 5003), "02:0c:00:00:00:01")))
	const name = "backup:vxlan:5003@198.51.100.3"
	if c, err := s.GetConnection(name); err != nil || c.Origin != OriginEVPN {
		t.Fatalf("GetConnection(%s) = %+v, %v", name, c, err)
	}
	writes := map[string]error{
		"delete":      s.DeleteConnection(name),
		"add macs":    second(s.AddMACs(name, MACBindings{{MAC: "02:0c:00:00:00:02"}})),
		"replace":     second(s.ReplaceMACs(name, nil)),
		"delete mac":  s.DeleteMAC(name, "02:0c:00:00:00:01"),
		"move to":     second(s.MoveMACs(MACMove{To: name, MACs: []string{"02:0b:00:00:00:01"}})),
		"move from":   second(s.MoveMACs(MACMove{To: "backup-b", From: name, MACs: []string{"02:0c:00:00:00:01"}})),
		"unknown too": s.DeleteConnection("backup:vxlan:5009@198.51.100.3"),
	}
	for what, err := range writes {
		var apiErr *Error
		want := Conflict
		if what == "unknown too" {
			want = NotFound
		}
		if !errors.As(err, &apiErr) || apiErr.Kind != want {
			t.Errorf("%s: %v, want kind %d", what, err, want)
			continue
		}
		if want == Conflict && !strings.Contains(err.Error(), "evpn") {
			t.Errorf("%s: %q does not say which origin owns it", what, err)
		}
	}
	if got := must[[]MACBinding](t)(s.ListMACs(name)); len(got) != 1 {
		t.Fatalf("a refused write changed the connection: %+v", got)
	}
}

func second[T any](_ T, err error) error { return err }

func TestFeedRejectsBadInputAndChangesNothing(t *testing.T) {
	s, _ := feedSite(t, 0)
	evpn := feedOf(t, s, OriginEVPN)
	good := remote("backup", vxlanTo("198.51.100.3", 5003), "02:0c:00:00:00:01")
	bad := map[string]RemoteMAC{
		"multicast MAC":   remote("backup", vxlanTo("198.51.100.3", 5003), "01:00:5e:00:00:01"),
		"zero MAC":        remote("backup", vxlanTo("198.51.100.3", 5003), "00:00:00:00:00:00"),
		"own endpoint":    remote("backup", vxlanTo(localTunnelIP, 5003), "02:0c:00:00:00:02"),
		"key too big":     remote("backup", vxlanTo("198.51.100.3", 1<<24), "02:0c:00:00:00:02"),
		"key zero":        remote("backup", vxlanTo("198.51.100.3", 0), "02:0c:00:00:00:02"),
		"no network":      remote("", vxlanTo("198.51.100.3", 5003), "02:0c:00:00:00:02"),
		"multicast IP":    remote("backup", vxlanTo("198.51.100.3", 5003), "02:0c:00:00:00:02", "224.0.0.1"),
		"loopback tunnel": remote("backup", vxlanTo("127.0.0.1", 5003), "02:0c:00:00:00:02"),
		"short MAC":       {Network: "backup", Tunnel: vxlanTo("198.51.100.3", 5003), MAC: net.HardwareAddr{2, 0, 0}},
		"bad type":        {Network: "backup", Tunnel: Tunnel{Endpoint: netip.MustParseAddr("198.51.100.3"), NetworkType: "stt", SegmentationID: 1}, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}},
	}
	for what, m := range bad {
		err := evpn.UpsertRemoteMACs(good, m)
		var apiErr *Error
		if !errors.As(err, &apiErr) || apiErr.Kind != Invalid {
			t.Errorf("%s: %v, want an invalid-argument error", what, err)
		}
	}
	if err := evpn.UpsertRemoteMACs(good, good); err == nil {
		t.Error("one MAC told twice in one call was accepted")
	}
	if err := evpn.AddFloodTargets(FloodTarget{Network: "backup", Tunnel: vxlanTo(localTunnelIP, 1)}); err == nil {
		t.Error("a flood target to this gateway's own tunnel IP was accepted")
	}
	if got := remoteMACs(t, s, "backup"); len(got) != 1 || len(s.ListConnections()) != 1 {
		t.Fatalf("refused calls changed the state: %q, %+v", got, s.ListConnections())
	}
	if _, err := s.Feed(OriginStatic); err == nil {
		t.Error("the static origin has a feed")
	}
}

func TestRemoteMACsOfAMissingNetworkWaitForIt(t *testing.T) {
	l := newFeedLab(t, 0)
	s, sw, r, evpn := l.s, l.sw, l.r, l.evpn
	reconcileOK(t, r)
	mustOK(t, evpn.UpsertRemoteMACs(remote("red", vxlanTo("198.51.100.3", 7), "02:0c:00:00:00:01", "192.0.2.31")))
	reconcileOK(t, r)
	if n := switchFlows(sw); n[OriginEVPN] != 0 {
		t.Fatalf("remote MACs of a network that does not exist compiled: %v", n)
	}
	must[Network](t)(s.CreateNetwork(Network{Name: "red"}))
	reconcileOK(t, r)
	if n := switchFlows(sw); n[OriginEVPN] != 3+2 {
		t.Fatalf("once red exists: %v, want its connection's 3 and the MAC's 2 evpn flows", n)
	}
	checkSwitchIsFullCompile(t, s, sw, r)
	mustOK(t, s.DeleteNetwork("red"))
	reconcileOK(t, r)
	if n := switchFlows(sw); n[OriginEVPN] != 0 {
		t.Fatalf("red deleted: %v", n)
	}
}

func TestRestartKeepsDynamicFlowsUntilTheOriginIsSynced(t *testing.T) {
	l := newFeedLab(t, 0)
	sw, r, evpn := l.sw, l.r, l.evpn
	siteC := vxlanTo("198.51.100.3", 5003)
	mustOK(t, evpn.UpsertRemoteMACs(
		remote("backup", siteC, "02:0c:00:00:00:01", "192.0.2.31"),
		remote("backup", siteC, "02:0c:00:00:00:02", "192.0.2.32"),
		remote("backup", siteC, "02:0c:00:00:00:03", "192.0.2.33")))
	mustOK(t, evpn.AddFloodTargets(FloodTarget{Network: "backup", Tunnel: siteC}))
	evpn.Synced()
	reconcileOK(t, r)
	installed := cookiesOf(sw)

	// l2gwd restarts: the feed starts empty and unsynced.
	l.restart(t, feedOptions(0))
	s, r := l.s, l.r
	sw.mods = 0
	reconcileOK(t, r)
	if sw.mods != 0 {
		t.Fatalf("the restart sent %d flow_mods before evpn told anything", sw.mods)
	}
	st := r.Status()
	if len(st.Origins) != 2 || st.Origins[1].Origin != OriginEVPN || st.Origins[1].Synced || st.Origins[1].HeldFlows != 3*2 {
		t.Fatalf("status origins %+v: want evpn unsynced holding its 3 MACs' 6 flows", st.Origins)
	}
	if !st.Reconciled || st.Flows != len(sw.flows) {
		t.Fatalf("status %+v", st)
	}
	rep := flowReportOK(t, r)
	if sum := rep.Summary; sum.Held != 6 || sum.Extra != 0 || !sum.InSync {
		t.Fatalf("flow report while evpn is held: %+v", sum)
	}
	if conn := ownerFlows(t, rep, "connection", "backup:vxlan:5003@198.51.100.3"); conn.Origin != OriginEVPN || len(conn.Flows) != 3 || len(conn.Held) != 0 {
		t.Fatalf("the derived connection's flows: %+v", conn)
	}
	// evpn tells two again, one of them with another IP.
	evpn = l.evpn
	mustOK(t, evpn.UpsertRemoteMACs(
		remote("backup", siteC, "02:0c:00:00:00:01", "192.0.2.31"),
		remote("backup", siteC, "02:0c:00:00:00:02", "192.0.2.42")))
	mustOK(t, evpn.AddFloodTargets(FloodTarget{Network: "backup", Tunnel: siteC}))
	reconcileOK(t, r)
	if sw.mods != 1 { // the new ARP answer; the old one is held like the rest
		t.Fatalf("telling again sent %d flow_mods, want 1", sw.mods)
	}
	if _, ok := l2Owner(t, sw, "02:0c:00:00:00:03"); !ok {
		t.Fatal("the MAC not told again yet lost its flows before evpn was synced")
	}
	// Synced: what was not told again goes, nothing else.
	sw.mods = 0
	evpn.Synced()
	reconcileOK(t, r)
	if sw.mods != 3 {
		t.Fatalf("synced sent %d flow_mods, want 3 deletes: the untold MAC's 2 and the old ARP answer", sw.mods)
	}
	if got := arpOwners(t, sw, "192.0.2.32", "192.0.2.42"); len(got) != 1 || got["192.0.2.42"] != OriginEVPN {
		t.Fatalf("ARP answers %v: want 192.0.2.42 only", got)
	}
	if _, ok := l2Owner(t, sw, "02:0c:00:00:00:03"); ok {
		t.Fatal("the MAC evpn did not tell again is still there")
	}
	if st := r.Status(); st.Origins[1].HeldFlows != 0 || !st.Origins[1].Synced {
		t.Fatalf("status origins %+v", st.Origins)
	}
	rep = flowReportOK(t, r)
	if b := ownerFlows(t, rep, "binding", "backup:vxlan:5003@198.51.100.3/02:0c:00:00:00:02"); b.Origin != OriginEVPN || len(b.Flows) != 2 {
		t.Fatalf("the remote MAC's flows in the report: %+v", b)
	}
	if !rep.Summary.InSync || rep.Summary.Held != 0 {
		t.Fatalf("flow report once synced: %+v", rep.Summary)
	}
	// The derived connection kept its ID: its flows never changed.
	for c := range installed {
		if _, o, _ := flows.DecodeCookie(c); o.Kind == flows.KindConnection && o.Origin == OriginEVPN {
			if _, ok := sw.flows[c]; !ok {
				t.Fatalf("the derived connection's flow %x changed across the restart", c)
			}
		}
	}
	checkSwitchIsFullCompile(t, s, sw, r)
}

// cookiesOf copies the switch's cookies.
func cookiesOf(sw *memSwitch) map[uint64]bool {
	out := map[uint64]bool{}
	for c := range sw.flows {
		out[c] = true
	}
	return out
}

func TestHoldTimeEndsTheHold(t *testing.T) {
	l := newFeedLab(t, 0)
	mustOK(t, l.evpn.UpsertRemoteMACs(remote("backup", vxlanTo("198.51.100.3", 5003), "02:0c:00:00:00:01")))
	reconcileOK(t, l.r)
	l.restart(t, feedOptions(50*time.Millisecond))
	s, sw, r := l.s, l.sw, l.r
	reconcileOK(t, r)
	if n := switchFlows(sw); n[OriginEVPN] != 3+1 {
		t.Fatalf("after the restart: %v", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for switchFlows(sw)[OriginEVPN] != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the hold time passed, evpn's flows stay: %v (status %+v)", switchFlows(sw), s.OriginStatuses())
		}
		time.Sleep(10 * time.Millisecond)
		reconcileOK(t, r)
	}
	if !s.OriginStatuses()[1].Synced {
		t.Fatal("the hold time passed and evpn is not taken as synced")
	}
	if len(s.ListConnections()) != 1 {
		t.Fatalf("the derived connection outlived the hold: %+v", s.ListConnections())
	}
}

func TestResetKeepsWhatWasToldUntilSynced(t *testing.T) {
	l := newFeedLab(t, 0)
	s, sw, r, vtep := l.s, l.sw, l.r, l.vtep
	siteC, siteD := vxlanTo("198.51.100.3", 5003), vxlanTo("198.51.100.4", 5004)
	mustOK(t, vtep.UpsertRemoteMACs(remote("backup", siteC, "02:0c:00:00:00:01"), remote("backup", siteD, "02:0d:00:00:00:01")))
	mustOK(t, vtep.AddFloodTargets(FloodTarget{Network: "backup", Tunnel: siteD}))
	vtep.Synced()
	reconcileOK(t, r)
	before := cookiesOf(sw)
	vtep.Reset()
	mustOK(t, vtep.UpsertRemoteMACs(remote("backup", siteC, "02:0c:00:00:00:01")))
	reconcileOK(t, r)
	if got := cookiesOf(sw); len(got) != len(before) {
		t.Fatalf("a reset changed the switch before synced: %d flows, had %d", len(got), len(before))
	}
	if st := s.OriginStatuses()[0]; st.Synced {
		t.Fatal("vtep synced right after a reset")
	}
	vtep.Synced()
	reconcileOK(t, r)
	if _, ok := l2Owner(t, sw, "02:0d:00:00:00:01"); ok {
		t.Fatal("a MAC not told again after the reset is still there")
	}
	if conns := s.ListConnections(); len(conns) != 2 || conns[1].Flood {
		t.Fatalf("connections %+v: site-d's connection and flooding should be gone", conns)
	}
	checkSwitchIsFullCompile(t, s, sw, r)
}

func TestFeedsWriteTheStoreOnlyForTunnels(t *testing.T) {
	s, _ := feedSite(t, 0)
	txs := countTransactions(s)
	evpn := feedOf(t, s, OriginEVPN)
	siteC := vxlanTo("198.51.100.3", 5003)
	mustOK(t, evpn.UpsertRemoteMACs(remote("backup", siteC, "02:0c:00:00:00:01")))
	if n := txs(); n != 1 {
		t.Fatalf("a new tunnel wrote %d transactions, want 1", n)
	}
	for i := range 50 {
		mustOK(t, evpn.UpsertRemoteMACs(remote("backup", siteC, "02:0c:00:00:01:"+hexOf([]byte{byte(i)}), "192.0.2.1")))
		mustOK(t, evpn.WithdrawRemoteMACs(remoteKeyOf("backup", "02:0c:00:00:01:"+hexOf([]byte{byte(i)}))))
	}
	if n := txs(); n != 1 {
		t.Fatalf("remote MACs through a known tunnel wrote %d more transactions", n-1)
	}
	mustOK(t, evpn.AddFloodTargets(FloodTarget{Network: "backup", Tunnel: siteC}))
	mustOK(t, evpn.WithdrawRemoteMACs(remoteKeyOf("backup", "02:0c:00:00:00:01")))
	mustOK(t, evpn.RemoveFloodTargets(FloodTarget{Network: "backup", Tunnel: siteC}))
	if n := txs(); n != 3 { // flooding on; the tunnel gone
		t.Fatalf("%d transactions in all, want 3", n)
	}
}

func TestAnOriginWithoutAFeedLeavesNothingBehind(t *testing.T) {
	l := newFeedLab(t, 0)
	mustOK(t, l.evpn.UpsertRemoteMACs(remote("backup", vxlanTo("198.51.100.3", 5003), "02:0c:00:00:00:01")))
	reconcileOK(t, l.r)
	// l2gwd restarts without its EVPN source.
	opts := feedOptions(0)
	opts.Origins = nil
	l.restart(t, opts)
	s, sw, r := l.s, l.sw, l.r
	reconcileOK(t, r)
	if n := switchFlows(sw); n[OriginEVPN] != 0 {
		t.Fatalf("evpn's flows outlived its source: %v", n)
	}
	if len(s.ListConnections()) != 1 {
		t.Fatalf("connections %+v", s.ListConnections())
	}
	checkSwitchIsFullCompile(t, s, sw, r)
}

// checkSwitchIsFullCompile fails unless the switch holds exactly what a
// full compile of the state gives (held flows aside), and every remote MAC
// compiles as a fresh evaluation of the precedence rules says.
func checkSwitchIsFullCompile(t *testing.T, s *State, sw *memSwitch, r *Reconciler) {
	t.Helper()
	want, err := flows.Compile(readInput(s, r.br.OFPorts(""), Learning{}).input())
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]bool{}
	for _, o := range flows.Origins {
		dumped, _ := sw.Dump(context.Background(), o.Cookie(), flows.ControllerCookieMask)
		for _, f := range dumped {
			got[f.Cookie] = true
		}
	}
	for c := range want {
		if !got[c] {
			_, o, _ := flows.DecodeCookie(c)
			t.Fatalf("the switch lacks %x (%s) of a full compile", c, o)
		}
	}
	for c := range got {
		if _, ok := want[c]; !ok && !r.model.isHeld(c) {
			_, o, _ := flows.DecodeCookie(c)
			t.Fatalf("the switch has %x (%s), which a full compile lacks", c, o)
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var told [numOrigins]int
	for _, rix := range s.remote {
		for _, c := range rix.claims {
			for o, e := range c {
				if e != nil {
					told[o]++
				}
			}
		}
	}
	for o, fs := range s.feeds {
		if fs != nil && fs.macs != told[o] {
			t.Fatalf("origin %s counts %d remote MACs, it told %d", Origin(o), fs.macs, told[o])
		}
	}
	for network, rix := range s.remote {
		ns := s.networks[network]
		for mac := range rix.claims {
			now, is := s.effective(network, ns, rix, mac)
			old, was := rix.active[mac]
			if is != was || (is && !now.equal(old)) {
				t.Fatalf("remote MAC %s of %s: compiles as %+v (%t), a fresh evaluation says %+v (%t)", formatMAC(mac), network, old, was, now, is)
			}
		}
		for mac := range rix.active {
			if rix.claims[mac] == nil {
				t.Fatalf("remote MAC %s of %s compiles without any origin's entry", formatMAC(mac), network)
			}
		}
	}
}

func TestARecordThatCannotBeTakenBackIsDropped(t *testing.T) {
	l := newFeedLab(t, 0)
	mustOK(t, l.evpn.UpsertRemoteMACs(remote("backup", vxlanTo("198.51.100.3", 5003), "02:0c:00:00:00:01")))
	d := l.s.derivedConnNamed("backup:vxlan:5003@198.51.100.3")
	// The record claims the API connection's ID (as after a failed delete
	// of the record and a later connection that took the freed ID).
	r := d.record()
	r.ID = must[Connection](t)(l.s.GetConnection("backup-b")).ID
	mustOK(t, l.s.commit(func(tx *bolt.Tx) error { return putJSON(tx, bucketDerived, "backup:vxlan:5003@198.51.100.3", r) }))
	l.restart(t, feedOptions(0))
	if conns := l.s.ListConnections(); len(conns) != 1 {
		t.Fatalf("connections %+v: the clashing record should be dropped", conns)
	}
	l.restart(t, feedOptions(0))
	if conns := l.s.ListConnections(); len(conns) != 1 {
		t.Fatalf("the dropped record came back: %+v", conns)
	}
}

// TestARemoteMACIsNotATopologyChange: a remote MAC more through a known
// tunnel recompiles that MAC only, not the topology.
func TestARemoteMACIsNotATopologyChange(t *testing.T) {
	l := newFeedLab(t, 0)
	siteC := vxlanTo("198.51.100.3", 5003)
	mustOK(t, l.evpn.UpsertRemoteMACs(remote("backup", siteC, "02:0c:00:00:00:01")))
	var got []Change
	l.s.Subscribe(func(ch Change) { got = append(got, ch) })
	mustOK(t, l.evpn.UpsertRemoteMACs(remote("backup", siteC, "02:0c:00:00:00:02", "192.0.2.32")))
	mustOK(t, l.evpn.WithdrawRemoteMACs(remoteKeyOf("backup", "02:0c:00:00:00:02")))
	if len(got) != 2 || got[0].Topology || got[1].Topology || len(got[0].RemoteMACs) != 1 || len(got[1].RemoteMACs) != 1 {
		t.Fatalf("changes %+v: want two remote-MAC changes, no topology", got)
	}
	mustOK(t, l.evpn.AddFloodTargets(FloodTarget{Network: "backup", Tunnel: siteC}))
	if len(got) != 3 || !got[2].Topology {
		t.Fatalf("flooding to the tunnel: %+v, want a topology change", got[2:])
	}
}
