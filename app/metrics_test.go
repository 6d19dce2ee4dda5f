package app

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/l2gw/l2gw/flows"
)

// scrape renders reg as Prometheus text and returns each sample's value by
// its series (`name{label="value",...}`, labels sorted by name). It fails
// the test when the scrape reports an error.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	return parseSamples(t, rec.Body.String())
}

func parseSamples(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// instrumented returns a reconciler over state and sw with its metrics in
// a fresh registry.
func instrumented(t *testing.T, state *State, sw Switch) (*Reconciler, *prometheus.Registry) {
	t.Helper()
	r := newTestReconciler(state, sw)
	reg := prometheus.NewRegistry()
	if err := r.Instrument(reg); err != nil {
		t.Fatal(err)
	}
	return r, reg
}

// wantTableFlows checks that l2gw_flows reports, for every pipeline table,
// the controller flows sw holds in it.
func wantTableFlows(t *testing.T, reg *prometheus.Registry, sw *memSwitch) {
	t.Helper()
	onSwitch := map[uint8]int{}
	for c, f := range sw.flows {
		if c&flows.ControllerCookieMask == flows.ControllerCookie {
			onSwitch[f.table]++
		}
	}
	got := scrape(t, reg)
	for _, tbl := range flows.Pipeline {
		series := fmt.Sprintf(`l2gw_flows{table=%q}`, tbl.Name)
		if v, ok := got[series]; !ok || int(v) != onSwitch[tbl.ID] {
			t.Fatalf("%s = %v (reported: %t), the switch has %d", series, v, ok, onSwitch[tbl.ID])
		}
	}
}

func TestMetricsReportTheReconcilersWork(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	r, reg := instrumented(t, state, sw)

	got := scrape(t, reg)
	for _, series := range []string{`l2gw_flows{table="learn"}`, `l2gw_reconcile_pass_duration_seconds_count{kind="full"}`} {
		if _, ok := got[series]; ok {
			t.Errorf("%s reported before the first pass", series)
		}
	}
	reconcileOK(t, r)
	got = scrape(t, reg)
	want := map[string]float64{
		"l2gw_openflow_connected": 1, "l2gw_ovsdb_connected": 1, "l2gw_bridge_reconciled": 1,
		"l2gw_flow_mods_total": float64(sw.mods), "l2gw_bundles_total": 1,
		`l2gw_reconcile_pass_duration_seconds_count{kind="full"}`: 1,
	}
	for series, v := range want {
		if got[series] != v {
			t.Errorf("after the first pass: %s = %v, want %v", series, got[series], v)
		}
	}
	wantTableFlows(t, reg, sw)

	// A binding with two IPs: one forwarding flow, two ARP answers.
	mods := sw.mods
	if _, err := state.AddMACs("backup-b", MACBindings{{MAC: "02:0b:00:00:00:02", IPs: []string{"192.0.2.22", "192.0.2.23"}}}); err != nil {
		t.Fatal(err)
	}
	if got := scrape(t, reg); got["l2gw_bridge_reconciled"] != 0 {
		t.Error("bridge_reconciled is 1 while a committed change waits for its pass")
	}
	before := got
	reconcileOK(t, r)
	got = scrape(t, reg)
	for series, delta := range map[string]float64{
		"l2gw_flow_mods_total": 3, "l2gw_bundles_total": 1,
		`l2gw_flows{table="l2_lookup"}`: 1, `l2gw_flows{table="arp_responder"}`: 2,
		`l2gw_reconcile_pass_duration_seconds_count{kind="incremental"}`: 1,
	} {
		if d := got[series] - before[series]; d != delta {
			t.Errorf("adding a binding with two IPs changed %s by %v, want %v", series, d, delta)
		}
	}
	if got["l2gw_flow_mods_total"] != float64(sw.mods) || sw.mods != mods+3 {
		t.Errorf("flow_mods_total %v, the switch received %d", got["l2gw_flow_mods_total"], sw.mods)
	}
	wantTableFlows(t, reg, sw)

	sw.connected = false
	if got := scrape(t, reg); got["l2gw_openflow_connected"] != 0 {
		t.Error("openflow_connected is 1 with the switch gone")
	}
}

// TestTableFlowsFollowTheSwitch drives random changes, failed bundles and
// switches that lost flows, and checks after every pass that the flows per
// table are the switch's.
func TestTableFlowsFollowTheSwitch(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	r, reg := instrumented(t, state, sw)
	reconcileOK(t, r)
	rng := rand.New(rand.NewPCG(7, 11))
	mac := func() string { return fmt.Sprintf("02:0b:00:00:%02x:%02x", rng.IntN(4), rng.IntN(16)) }
	ip := func() string { return fmt.Sprintf("192.0.2.%d", 1+rng.IntN(40)) }
	ops := []func(){
		func() {
			_, err := state.AddMACs("backup-b", MACBindings{{MAC: mac(), IPs: []string{ip(), ip()}}})
			ignoreConflict(t, err)
		},
		func() {
			_, err := state.ReplaceMACs("backup-b", MACBindings{{MAC: mac(), IPs: []string{ip()}}, {MAC: mac()}})
			ignoreConflict(t, err)
		},
		func() {
			_, err := state.ReplaceRemoteGateway("site-b", RemoteGateway{TunnelIP: fmt.Sprintf("198.51.100.%d", 2+rng.IntN(5))})
			ignoreConflict(t, err)
		},
		func() {
			_, err := state.ReplaceNetwork("backup", Network{Attachments: []Attachment{{Port: "eth1"}, {Port: "trunk0", VLAN: uint16(100 + rng.IntN(3))}}})
			ignoreConflict(t, err)
		},
		func() { sw.failNext = true },
		func() { // ovs-vswitchd restarted: its flows are gone; it reconnects
			clear(sw.flows)
			clear(sw.byMatch)
			r.synced = false
		},
	}
	for i := range 300 {
		ops[rng.IntN(len(ops))]()
		if err := r.reconcile(context.Background()); err != nil {
			if err := r.reconcile(context.Background()); err != nil {
				t.Fatalf("step %d: the retry failed: %v", i, err)
			}
		}
		wantTableFlows(t, reg, sw)
	}
}

// ignoreConflict fails t on errors other than the app's refusals a random
// change may meet (a MAC or IP taken, nothing to change).
func ignoreConflict(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if err != nil && !errors.As(err, &e) {
		t.Fatal(err)
	}
}

// dumpFailSwitch is a memSwitch whose dumps of learned flows fail.
type dumpFailSwitch struct{ *memSwitch }

func (s dumpFailSwitch) Dump(ctx context.Context, cookie, mask uint64) ([]flows.DumpedFlow, error) {
	if cookie == flows.LearnedTagCookie {
		return nil, errors.New("switch too busy")
	}
	return s.memSwitch.Dump(ctx, cookie, mask)
}

func TestLearnedMACsAreCountedPerNetwork(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	if _, err := state.CreateNetwork(Network{Name: "quiet", Attachments: []Attachment{{Port: "eth9"}}}); err != nil {
		t.Fatal(err)
	}
	r, reg := instrumented(t, state, sw)
	reconcileOK(t, r)
	backup, _ := state.GetNetwork("backup")
	conn, _ := state.GetConnection("backup-b")
	// What OVS's learn actions would add: two MACs from local ports, one
	// from the remote gateway, and one of a network deleted since.
	for i, c := range []uint64{flows.LearnedCookie(backup.ID), flows.LearnedCookie(backup.ID),
		flows.LearnedConnectionCookie(conn.ID), flows.LearnedCookie(999)} {
		sw.flows[c|uint64(i)] = memFlow{table: flows.TableL2Lookup, priority: 100, key: fmt.Sprint("learned", i)}
	}
	got := scrape(t, reg)
	for series, v := range map[string]float64{`l2gw_learned_macs{network="backup"}`: 3, `l2gw_learned_macs{network="quiet"}`: 0} {
		if n, ok := got[series]; !ok || n != v {
			t.Errorf("%s = %v (reported: %t), want %v", series, n, ok, v)
		}
	}
	// Learned flows are not the controller's: they are in no table count.
	wantTableFlows(t, reg, sw)

	sw.connected = false
	if _, ok := scrape(t, reg)[`l2gw_learned_macs{network="backup"}`]; ok {
		t.Error("learned MACs reported with no switch to ask")
	}
}

func TestFailedLearnedDumpFailsOnlyItsFamily(t *testing.T) {
	state := siteState(t)
	sw := dumpFailSwitch{newMemSwitch()}
	r, reg := instrumented(t, state, sw)
	reconcileOK(t, r)
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).
		ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	got := parseSamples(t, rec.Body.String())
	if _, ok := got[`l2gw_learned_macs{network="backup"}`]; ok {
		t.Error("learned MACs reported although their dump failed")
	}
	if got["l2gw_openflow_connected"] != 1 {
		t.Errorf("a failed dump of learned flows also lost the other metrics: %s", rec.Body)
	}
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "switch too busy") {
		t.Errorf("gather error %v, want the dump's", err)
	}
}

func TestInstrumentTwiceInOneRegistryFails(t *testing.T) {
	state := siteState(t)
	reg := prometheus.NewRegistry()
	if err := newTestReconciler(state, newMemSwitch()).Instrument(reg); err != nil {
		t.Fatal(err)
	}
	if err := newTestReconciler(state, newMemSwitch()).Instrument(reg); err == nil {
		t.Fatal("a second reconciler's metrics were registered beside the first's")
	}
}
