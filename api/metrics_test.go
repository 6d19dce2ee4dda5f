package api

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contiv/libOpenflow/openflow13"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/ovsdb"
)

// fakeSwitch is the OpenFlow side of a reconciler run by the tests: it
// commits every bundle, keeps its flows' cookies, and holds whatever learned
// flows the test gives it.
type fakeSwitch struct {
	events chan flows.Event

	mu    sync.Mutex
	up    bool
	flows map[uint64]uint8 // the table of each cookie installed
}

func newFakeSwitch() *fakeSwitch {
	return &fakeSwitch{events: make(chan flows.Event, 4), flows: map[uint64]uint8{}}
}

func (s *fakeSwitch) Events() <-chan flows.Event { return s.events }

func (s *fakeSwitch) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.up
}

// connect brings the switch up and tells the reconciler.
func (s *fakeSwitch) connect() {
	s.mu.Lock()
	s.up = true
	s.mu.Unlock()
	s.events <- flows.Event{Connected: true}
}

// learn adds a flow as OVS's learn action would.
func (s *fakeSwitch) learn(cookie uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flows[cookie] = flows.TableL2Lookup
}

// Apply takes the flow_mods src produces: an add installs its cookie in
// its table, a delete (by cookie) removes it.
func (s *fakeSwitch) Apply(_ context.Context, src flows.ModSource) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return src(func(m flows.Mod) bool {
		cookie := binary.BigEndian.Uint64(m[8:16])
		switch m[25] {
		case openflow13.FC_ADD:
			s.flows[cookie] = m[24]
		case openflow13.FC_DELETE:
			delete(s.flows, cookie)
		}
		return true
	})
}

func (s *fakeSwitch) Dump(_ context.Context, cookie, mask uint64) ([]flows.DumpedFlow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []flows.DumpedFlow
	for c, table := range s.flows {
		if c&mask == cookie&mask {
			out = append(out, flows.DumpedFlow{Cookie: c, Table: table})
		}
	}
	return out, nil
}

// fakeBridge is the OVSDB side: a bridge whose ports all have ofports.
type fakeBridge struct {
	changes chan struct{}

	mu sync.Mutex
	up bool
}

func (b *fakeBridge) EnsureBridge(context.Context, ovsdb.BridgeConfig) error { return nil }
func (b *fakeBridge) EnsureTunnelPorts(context.Context, string, []string, string) error {
	return nil
}
func (b *fakeBridge) OFPorts(string) map[string]uint32 {
	return map[string]uint32{"eth1": 1, "trunk0": 2, ovsdb.TunnelPortName(app.TypeVXLAN): 3}
}
func (b *fakeBridge) Changes() <-chan struct{} { return b.changes }

func (b *fakeBridge) Connected() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.up
}

// connect brings the OVSDB session up and tells the reconciler.
func (b *fakeBridge) connect() {
	b.mu.Lock()
	b.up = true
	b.mu.Unlock()
	b.changes <- struct{}{}
}

// site is an API handler with metrics and the flow report over a real
// state and a running reconciler whose switch and bridge are fakes, both
// down at first.
type site struct {
	*client
	state *app.State
	rec   *app.Reconciler
	sw    *fakeSwitch
	br    *fakeBridge
}

func newSite(t *testing.T) *site {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	state, err := app.Open(t.TempDir(), app.Options{Logger: quiet, LocalTunnelIPs: []string{"198.51.100.1"}})
	if err != nil {
		t.Fatalf("open state: %v", err)
	}
	s := &site{state: state, sw: newFakeSwitch(), br: &fakeBridge{changes: make(chan struct{}, 1)}}
	rec := app.NewReconciler(app.ReconcilerConfig{Bridge: "br-int", Logger: quiet}, state, s.sw, s.br)
	s.rec = rec
	reg := NewRegistry()
	if err := rec.Instrument(reg); err != nil {
		t.Fatal(err)
	}
	s.client = &client{t: t, h: NewHandler(state, rec.Status, nil, WithMetrics(reg), WithFlows(rec.Flows))}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		rec.Run(ctx)
	}()
	t.Cleanup(func() {
		stop()
		<-done
		if err := state.Close(); err != nil {
			t.Errorf("close state: %v", err)
		}
	})
	return s
}

// readiness answers GET /readyz.
func (s *site) readiness() (int, readiness) {
	s.t.Helper()
	resp := s.do("GET", "/readyz", "")
	var body readiness
	if err := json.Unmarshal([]byte(resp.body), &body); err != nil {
		s.t.Fatalf("GET /readyz: %v: %s", err, resp.body)
	}
	return resp.status, body
}

// awaitReady waits until GET /readyz answers 200.
func (s *site) awaitReady() {
	s.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		status, body := s.readiness()
		if status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("not ready after 10 s: %d %+v", status, body)
		}
	}
}

// metrics scrapes GET /metrics: each sample's value by its series
// (`name{label="value",...}`, labels sorted by name).
func (s *site) metrics() map[string]float64 {
	s.t.Helper()
	resp := s.do("GET", "/metrics", "")
	if resp.status != http.StatusOK {
		s.t.Fatalf("GET /metrics: %d %s", resp.status, resp.body)
	}
	out := map[string]float64{}
	for line := range strings.Lines(resp.body) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			s.t.Fatalf("GET /metrics: sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestReadyzWaitsForOVSDBOpenFlowAndReconciliation(t *testing.T) {
	s := newSite(t)
	status, body := s.readiness()
	want := readiness{NotReady: []string{"ovsdb_connected", "openflow_connected", "reconciled"}}
	if status != http.StatusServiceUnavailable || !equalReadiness(body, want) {
		t.Fatalf("before any connection: %d %+v, want 503 %+v", status, body, want)
	}
	s.br.connect()
	s.sw.connect()
	s.awaitReady()
	status, body = s.readiness()
	if want := (readiness{Ready: true, OpenFlowConnected: true, OVSDBConnected: true, Reconciled: true}); status != http.StatusOK || !equalReadiness(body, want) {
		t.Fatalf("connected and reconciled: %d %+v, want 200 %+v", status, body, want)
	}
}

func equalReadiness(a, b readiness) bool {
	return a.Ready == b.Ready && a.OpenFlowConnected == b.OpenFlowConnected && a.OVSDBConnected == b.OVSDBConnected &&
		a.Reconciled == b.Reconciled && strings.Join(a.NotReady, ",") == strings.Join(b.NotReady, ",")
}

func TestMetricsReportTheSwitchAndTheAPI(t *testing.T) {
	s := newSite(t)
	s.br.connect()
	s.sw.connect()
	s.awaitReady()
	s.seed(seedNetwork, seedGateway, seedConn)
	s.awaitReady()
	before := s.metrics()

	s.seed([2]string{"/v1/connections/backup-b/macs", `{"macs":[{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21","192.0.2.22"]}]}`})
	s.awaitReady()
	backup, err := s.state.GetNetwork("backup")
	if err != nil {
		t.Fatal(err)
	}
	s.sw.learn(flows.LearnedCookie(backup.ID) | 1)
	s.sw.learn(flows.LearnedCookie(backup.ID) | 2)
	s.do("GET", "/v1/no-such-thing", "")
	s.do("BREW", "/v1/networks", "")
	got := s.metrics()

	for _, series := range []string{
		"l2gw_openflow_connected", "l2gw_ovsdb_connected", "l2gw_bridge_reconciled",
		`l2gw_learned_macs{network="backup"}`,
		`l2gw_api_requests_total{method="POST",route="/v1/connections/{name}/macs",status="201"}`,
		`l2gw_api_request_duration_seconds_count{route="/v1/connections/{name}/macs"}`,
		`l2gw_api_requests_total{method="GET",route="unmatched",status="404"}`,
		`l2gw_api_requests_total{method="other",route="unmatched",status="405"}`,
	} {
		if v, ok := got[series]; !ok || v < 1 {
			t.Errorf("%s = %v (reported: %t), want at least 1", series, v, ok)
		}
	}
	if got[`l2gw_learned_macs{network="backup"}`] != 2 {
		t.Errorf("learned MACs of backup: %v, want 2", got[`l2gw_learned_macs{network="backup"}`])
	}
	// One binding with two IPs: its forwarding flow and two ARP answers.
	for series, delta := range map[string]float64{
		"l2gw_flow_mods_total":              3,
		`l2gw_flows{table="l2_lookup"}`:     1,
		`l2gw_flows{table="arp_responder"}`: 2,
		`l2gw_api_requests_total{method="POST",route="/v1/connections/{name}/macs",status="201"}`: 1,
	} {
		if d := got[series] - before[series]; d != delta {
			t.Errorf("adding a binding with two IPs changed %s by %v, want %v", series, d, delta)
		}
	}
	for _, series := range []string{`l2gw_bundles_total`, `l2gw_reconcile_pass_duration_seconds_count{kind="full"}`,
		`l2gw_reconcile_pass_duration_seconds_count{kind="incremental"}`, "go_goroutines", "process_resident_memory_bytes"} {
		if got[series] < 1 {
			t.Errorf("%s = %v, want at least 1", series, got[series])
		}
	}
	for series := range got {
		if strings.Contains(series, "backup-b") || strings.Contains(series, "no-such-thing") {
			t.Errorf("series %s has a raw path as its route", series)
		}
	}
}

func TestMetricsNeedTheTokenAndProbesDoNot(t *testing.T) {
	s := newSite(t)
	const token = "t0ken"
	srv := NewServer(s.h, ServerOptions{Token: token})
	get := func(path, token string) int {
		req := httptest.NewRequest("GET", path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		srv.Handler.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/metrics", "", http.StatusUnauthorized},
		{"/metrics", token, http.StatusOK},
		{"/readyz", "", http.StatusServiceUnavailable}, // open, and nothing is connected
		{"/healthz", "", http.StatusOK},
	} {
		if got := get(tc.path, tc.token); got != tc.want {
			t.Errorf("GET %s with token %q: %d, want %d", tc.path, tc.token, got, tc.want)
		}
	}
}

func TestWithoutMetricsThereIsNoMetricsRoute(t *testing.T) {
	c := newClient(t, nil)
	wantError(t, "GET /metrics", c.do("GET", "/metrics", ""), http.StatusNotFound, codeNotFound, "")
}
