package app

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/internal/ovstest"
)

// TestARestartReadsTheBridgeOnce: a restarted daemon whose switch
// connected while it loaded its store compares the bridge with its desired
// state once. Its first pass and the switch's queued "connected" event
// used to race (Go picks among ready cases at random),
// and when the pass won, the event forced a second full dump and
// comparison: seconds at a million bindings.
func TestARestartReadsTheBridgeOnce(t *testing.T) {
	site := newDaemonSite(t)
	var reg *prometheus.Registry
	site.metrics = func(r *prometheus.Registry) { reg = r }
	d := startPlane(t, site)
	d.waitReconciled(t)
	const full = `l2gw_reconcile_pass_duration_seconds_count{kind="full"}`
	site.connectFirst = true // the bridge exists now
	for i := range 6 {
		d.stop()
		d = site.start(t, planeOptions)
		d.waitReconciled(t)
		time.Sleep(300 * time.Millisecond) // a second pass would have begun
		d.waitReconciled(t)
		if n := scrape(t, reg)[full]; n != 1 {
			t.Fatalf("restart %d: %v full passes, want 1", i+1, n)
		}
	}
}

// TestARestartPutsBackFlowsChangedByHand: while no l2gwd runs, someone
// changes one of its flows in place (ovs-ofctl mod-flows keeps the cookie)
// and deletes another. The restarted l2gwd finds both, sends those two
// flows and nothing else, and the bridge is as before.
func TestARestartPutsBackFlowsChangedByHand(t *testing.T) {
	const m1, m2 = "02:0b:00:00:00:01", "02:0b:00:00:00:02"
	site := newDaemonSite(t)
	d := startPlane(t, site)
	must[[]MACBinding](t)(d.state.AddMACs("plane-b", MACBindings{{MAC: m1, IPs: []string{"192.0.2.21"}}, {MAC: m2, IPs: []string{"192.0.2.22"}}}))
	d.waitReconciled(t)
	before := bridgeFlows(t, site.ovs)
	d.stop()

	changed := handSpec(t, site.ovs, fmt.Sprintf("table=%d,dl_dst=%s", flows.TableL2Lookup, m1))
	site.ovs.Ofctl(t, "--strict", "mod-flows", "br-int", changed+",actions=drop")
	deleted := handSpec(t, site.ovs, fmt.Sprintf("table=%d,arp,arp_tpa=192.0.2.22", flows.TableARPResponder))
	site.ovs.Ofctl(t, "--strict", "del-flows", "br-int", deleted)
	if slices.Equal(bridgeFlows(t, site.ovs), before) {
		t.Fatal("the hand changes did not change the bridge")
	}

	mon := monitorFlows(t, site.ovs, "br-int")
	d = site.start(t, planeOptions)
	st := d.waitReconciled(t)
	ev := mon.take()
	if after := bridgeFlows(t, site.ovs); !slices.Equal(after, before) {
		t.Fatalf("after the restart the bridge has\n%s\nwant\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
	if st.FlowMods != 2 || len(ev) != 2 {
		t.Fatalf("the restart sent %d flow_mods for 2 flows changed by hand:\n%s", st.FlowMods, strings.Join(ev, "\n"))
	}
	t.Logf("put back: %s", strings.Join(ev, "; "))
}

// bridgeFlows are br-int's flows as ovs-ofctl shows them without
// counters, sorted.
func bridgeFlows(t *testing.T, o *ovstest.OVS) []string {
	t.Helper()
	var out []string
	for line := range strings.Lines(o.Ofctl(t, "dump-flows", "--no-stats", "--no-names", "br-int")) {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "cookie=") || strings.HasPrefix(line, "table=") || strings.HasPrefix(line, "priority=") {
			out = append(out, line)
		}
	}
	slices.Sort(out)
	return out
}

// handSpec is the table, priority and match of the one flow of br-int that
// selector selects, as ovs-ofctl --strict takes them.
func handSpec(t *testing.T, o *ovstest.OVS, selector string) string {
	t.Helper()
	var specs []string
	for line := range strings.Lines(o.Ofctl(t, "dump-flows", "--no-stats", "--no-names", "br-int", selector)) {
		if _, flow, ok := strings.Cut(strings.TrimSpace(line), ", "); ok && strings.HasPrefix(line, " cookie=") {
			spec, _, _ := strings.Cut(flow, " actions=")
			specs = append(specs, spec)
		}
	}
	if len(specs) != 1 {
		t.Fatalf("%s selects %d flows: %v", selector, len(specs), specs)
	}
	return specs[0]
}

// TestChangesAtStartGoAsDeltas: bindings added and deleted while a
// restarted l2gwd starts (after its store is in, before its first pass)
// reach the bridge as their own flow_mods, after one full pass: nothing
// else is sent.
func TestChangesAtStartGoAsDeltas(t *testing.T) {
	const m1, m2, m3 = "02:0b:00:00:00:01", "02:0b:00:00:00:02", "02:0b:00:00:00:03"
	site := newDaemonSite(t)
	var reg *prometheus.Registry
	site.metrics = func(r *prometheus.Registry) { reg = r }
	d := startPlane(t, site)
	must[[]MACBinding](t)(d.state.AddMACs("plane-b", MACBindings{{MAC: m1, IPs: []string{"192.0.2.21"}}, {MAC: m2, IPs: []string{"192.0.2.22"}}}))
	d.waitReconciled(t)
	d.stop()

	site.connectFirst = true
	site.beforeRun = func(s *State) {
		must[[]MACBinding](t)(s.AddMACs("plane-b", MACBindings{{MAC: m3, IPs: []string{"192.0.2.23"}}}))
		if err := s.DeleteMAC("plane-b", m1); err != nil {
			t.Fatal(err)
		}
	}
	mon := monitorFlows(t, site.ovs, "br-int")
	d = site.start(t, planeOptions)
	st := d.waitReconciled(t)
	time.Sleep(300 * time.Millisecond) // a later pass would have begun
	st = d.waitReconciled(t)
	ev := mon.take()
	added, deleted := 0, 0
	for _, e := range ev {
		switch {
		case strings.Contains(e, "event=ADDED") && strings.Contains(e, "02:0b:00:00:00:03") || strings.Contains(e, "event=ADDED") && strings.Contains(e, "192.0.2.23"):
			added++
		case strings.Contains(e, "event=DELETED") && (strings.Contains(e, m1) || strings.Contains(e, "192.0.2.21")):
			deleted++
		default:
			t.Errorf("the restart changed a flow no change touched: %s", e)
		}
	}
	if added != 2 || deleted != 2 || st.FlowMods != 4 {
		t.Fatalf("bindings added and deleted at start: %d flows added, %d deleted, %d flow_mods; want 2, 2, 4:\n%s",
			added, deleted, st.FlowMods, strings.Join(ev, "\n"))
	}
	// One full pass verified the bridge (that its changes then went as
	// deltas, TestAFirstPassAdoptsItsCompileAndDefersChangesToDeltas shows).
	if n := scrape(t, reg)[`l2gw_reconcile_pass_duration_seconds_count{kind="full"}`]; n != 1 {
		t.Errorf("%v full passes, want 1", n)
	}
	t.Logf("the changes at start: %s", strings.Join(ev, "; "))
}

// TestAChangeWhileTheBridgeIsReadReachesOVSBeforeTheReadEnds: a restart
// reads the bridge in pieces (here of 8 flows); a change committed while
// the first is read is in OVS before the last is asked for, costs its own
// bindings' flow_mods and nothing more, and the bridge ends as a fresh
// start leaves it.
func TestAChangeWhileTheBridgeIsReadReachesOVSBeforeTheReadEnds(t *testing.T) {
	site := newDaemonSite(t)
	d := startPlane(t, site)
	must[[]MACBinding](t)(d.state.AddMACs("plane-b", manyBindings(30, 1)))
	d.waitReconciled(t)
	d.stop()

	const added, removed, readdressed = "02:0b:00:00:00:99", "02:aa:00:00:00:01", "02:aa:00:00:00:02"
	site.connectFirst, site.pieceFlows = true, 8
	inOVS := -1 // the first request after which OVS had the added binding
	site.afterDump = func(s *State, request int) {
		if request == 0 {
			now := must[[]MACBinding](t)(s.ListMACs("plane-b"))
			next := slices.DeleteFunc(slices.Clone(now), func(b MACBinding) bool { return b.MAC == removed })
			for i := range next {
				if next[i].MAC == readdressed {
					next[i].IPs = []string{"2001:db8:aa::99"}
				}
			}
			next = append(next, MACBinding{MAC: added, IPs: []string{"192.0.2.99"}})
			must[[]MACBinding](t)(s.ReplaceMACs("plane-b", MACBindings(next)))
			return
		}
		if inOVS < 0 && strings.Contains(strings.Join(bridgeFlows(t, site.ovs), "\n"), added) {
			inOVS = request
		}
	}
	mon := monitorFlows(t, site.ovs, "br-int")
	d = site.start(t, planeOptions)
	st := d.waitReconciled(t)
	time.Sleep(300 * time.Millisecond) // a later pass would have begun
	st = d.waitReconciled(t)
	if inOVS != 1 {
		t.Fatalf("the change was in OVS after dump request %d, want 1 (sent between the first two)", inOVS)
	}
	ev := mon.take()
	for _, e := range ev {
		if !strings.Contains(e, added) && !strings.Contains(e, "192.0.2.99") && !strings.Contains(e, removed) &&
			!strings.Contains(e, readdressed) && !strings.Contains(e, "2001:db8:aa::1") && !strings.Contains(e, "2001:db8:aa::2") &&
			!strings.Contains(e, "2001:db8:aa::99") {
			t.Errorf("the restart changed a flow no change touched: %s", e)
		}
	}
	// Two owners cleared (one delete each; the added binding's ID was
	// free), the added and the readdressed binding's two flows added.
	if st.FlowMods != 6 {
		t.Fatalf("%d flow_mods, want 6:\n%s", st.FlowMods, strings.Join(ev, "\n"))
	}
	got := bridgeFlows(t, site.ovs)
	d.stop()
	site.ovs.Ofctl(t, "del-flows", "br-int")
	site.connectFirst, site.pieceFlows, site.afterDump = false, 0, nil
	d = site.start(t, planeOptions)
	d.waitReconciled(t)
	if want := bridgeFlows(t, site.ovs); !slices.Equal(got, want) {
		t.Fatalf("after the restart the bridge has %d flows, a fresh start %d:\n%s\nwant\n%s", len(got), len(want),
			strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("the change while the bridge was read: %s", strings.Join(ev, "; "))
}

// TestAnUpgradeReplacesFlowsOfOtherCookiesInPlace: a bridge programmed by
// a version whose content hashes differ (every cookie's low 32 bits other,
// the flows the same) is brought to this version's cookies by the first
// start: one add per flow, which OVS applies to the flow of the same match
// and priority, and deletes of the old cookies, which then match nothing;
// the bridge ends as a fresh start leaves it.
func TestAnUpgradeReplacesFlowsOfOtherCookiesInPlace(t *testing.T) {
	site := newDaemonSite(t)
	d := startPlane(t, site)
	must[[]MACBinding](t)(d.state.AddMACs("plane-b", MACBindings{{MAC: "02:0b:00:00:00:01", IPs: []string{"192.0.2.21", "2001:db8::21"}}}))
	d.waitReconciled(t)
	before := bridgeFlows(t, site.ovs)
	d.stop()

	// The older version's bridge: the same flows under other cookies.
	var old []string
	for _, line := range before {
		var c uint64
		if _, err := fmt.Sscanf(line, "cookie=%v,", &c); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		_, rest, _ := strings.Cut(line, ",")
		old = append(old, fmt.Sprintf("cookie=%#x,%s", c^0x5a5a5a5a, rest))
	}
	file := filepath.Join(t.TempDir(), "old-flows")
	if err := os.WriteFile(file, []byte(strings.Join(old, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	site.ovs.Ofctl(t, "--bundle", "replace-flows", "br-int", file)
	if slices.Equal(bridgeFlows(t, site.ovs), before) {
		t.Fatal("the old cookies did not reach the bridge")
	}

	d = site.start(t, planeOptions)
	st := d.waitReconciled(t)
	if after := bridgeFlows(t, site.ovs); !slices.Equal(after, before) {
		t.Fatalf("after the upgrade the bridge has\n%s\nwant\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
	if want := uint64(2 * len(before)); st.FlowMods != want || st.Bundles != 1 {
		t.Errorf("the upgrade sent %d flow_mods in %d bundles, want %d in 1 (an add and a delete per flow)", st.FlowMods, st.Bundles, want)
	}
	t.Logf("%d flows replaced in place: %d flow_mods in %d bundle", len(before), st.FlowMods, st.Bundles)
}

// planeOptions are the restart tests' daemon options.
var planeOptions = Options{LocalTunnelIPs: []string{localTunnelIP}}

// startPlane starts a daemon on site and gives it network plane (port h1)
// joined to gateway site-b over VXLAN 5001 (connection plane-b).
func startPlane(t *testing.T, site *daemonSite) *ovsDaemon {
	t.Helper()
	d := site.start(t, planeOptions)
	must[Network](t)(d.state.CreateNetwork(Network{Name: "plane", Attachments: []Attachment{{Port: "h1"}}}))
	site.ovs.Vsctl(t, "add-port", "br-int", "h1", "--", "set", "interface", "h1", "type=internal")
	must[RemoteGateway](t)(d.state.CreateRemoteGateway(RemoteGateway{Name: "site-b", TunnelIP: "198.51.100.2"}))
	must[Connection](t)(d.state.CreateConnection(Connection{Name: "plane-b", Network: "plane", RemoteGateway: "site-b",
		SegmentationID: 5001, NetworkType: TypeVXLAN, Flood: true}))
	return d
}
