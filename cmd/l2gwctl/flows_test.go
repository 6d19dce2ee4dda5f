package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contiv/libOpenflow/openflow13"

	"github.com/l2gw/l2gw/api"
	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/ovsdb"
)

// memSwitch keeps the cookie, table and priority of each flow a bundle
// adds, and forgets those deleted by cookie.
type memSwitch struct {
	mu    sync.Mutex
	flows map[uint64]flows.DumpedFlow
}

func (s *memSwitch) Events() <-chan flows.Event { return nil }
func (s *memSwitch) Connected() bool            { return true }

func (s *memSwitch) Apply(_ context.Context, src flows.ModSource) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return src(func(m flows.Mod) bool {
		// ofp_flow_mod: cookie at 8, table 24, command 25, priority 30.
		cookie := binary.BigEndian.Uint64(m[8:])
		switch m[25] {
		case openflow13.FC_ADD:
			s.flows[cookie] = flows.DumpedFlow{Cookie: cookie, Table: m[24], Priority: binary.BigEndian.Uint16(m[30:])}
		case openflow13.FC_DELETE:
			delete(s.flows, cookie)
		}
		return true
	})
}

func (s *memSwitch) Dump(_ context.Context, cookie, mask uint64) ([]flows.DumpedFlow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []flows.DumpedFlow
	for c, f := range s.flows {
		if c&mask == cookie&mask {
			out = append(out, f)
		}
	}
	return out, nil
}

// edit changes the switch's flows behind the reconciler's back.
func (s *memSwitch) edit(fn func(map[uint64]flows.DumpedFlow)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.flows)
}

// readyBridge is an OVSDB side whose bridge and ports exist.
type readyBridge struct{}

func (readyBridge) EnsureBridge(context.Context, ovsdb.BridgeConfig) error            { return nil }
func (readyBridge) EnsureTunnelPorts(context.Context, string, []string, string) error { return nil }
func (readyBridge) Changes() <-chan struct{}                                          { return nil }
func (readyBridge) Connected() bool                                                   { return true }
func (readyBridge) OFPorts(string) map[string]uint32 {
	return map[string]uint32{"eth1": 1, ovsdb.TunnelPortName(app.TypeVXLAN): 2}
}

// newFlowsAPI serves the API with a running reconciler over a fake switch,
// holding network backup (port eth1), connection backup-b and one binding,
// all reconciled.
func newFlowsAPI(t *testing.T) (string, *app.State, *memSwitch) {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	state, err := app.Open(t.TempDir(), app.Options{Logger: quiet, LocalTunnelIPs: []string{"198.51.100.1"}})
	if err != nil {
		t.Fatalf("open state: %v", err)
	}
	sw := &memSwitch{flows: map[uint64]flows.DumpedFlow{}}
	rec := app.NewReconciler(app.ReconcilerConfig{Bridge: "br-int", Logger: quiet}, state, sw, readyBridge{})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		rec.Run(ctx)
	}()
	srv := httptest.NewServer(api.NewHandler(state, rec.Status, nil, api.WithFlows(rec.Flows)))
	t.Cleanup(func() {
		srv.Close()
		stop()
		<-done
		state.Close()
	})
	play(t, srv.URL, []step{
		{args: "network create backup --attach eth1", stdout: "created network backup\n"},
		{args: "gateway create site-b --tunnel-ip 198.51.100.2", stdout: "created gateway site-b\n"},
		{args: "connection create backup-b --network backup --gateway site-b --segmentation-id 5001", stdout: "created connection backup-b\n"},
		{args: "mac add backup-b 02:0b:00:00:00:01=192.0.2.21", stdout: "added 1 MAC(s) to connection backup-b\n"},
	})
	for deadline := time.Now().Add(10 * time.Second); !rec.Status().Reconciled; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not reconciled after 10 s: %+v", rec.Status())
		}
	}
	return srv.URL, state, sw
}

// flowsRun runs l2gwctl with args against url.
func flowsRun(url, args string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(append([]string{"--api", url}, strings.Fields(args)...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestFlowsGroupedByOwner(t *testing.T) {
	url, _, sw := newFlowsAPI(t)
	sw.edit(func(fs map[uint64]flows.DumpedFlow) {
		fs[flows.LearnedCookie(1)] = flows.DumpedFlow{Cookie: flows.LearnedCookie(1), Table: flows.TableL2Lookup, Priority: 100}
	})
	code, out, errOut := flowsRun(url, "flows")
	t.Logf("l2gwctl flows:\n%s", out)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "OWNER ") || !strings.Contains(lines[0], "   TABLE ") || !strings.HasSuffix(lines[0], "STATE") {
		t.Errorf("header %q", lines[0])
	}
	col := strings.Index(lines[0], "TABLE")
	var owners []string
	for _, l := range lines[1:] {
		if l == "" {
			break
		}
		if len(l) < col || l[col-1] != ' ' {
			t.Errorf("row %q is not aligned with the header", l)
		}
		if owner := strings.TrimSpace(l[:col]); owner != "" {
			owners = append(owners, owner)
		}
	}
	want := []string{"pipeline", "network backup", "connection backup-b", "binding backup-b/02:0b:00:00:00:01", "tunnel vxlan"}
	if strings.Join(owners, "|") != strings.Join(want, "|") {
		t.Errorf("owners %q, want %q", owners, want)
	}
	for _, s := range []string{"\nLEARNED IN       ENTRIES\nnetwork backup   1\n", "28 flows installed, 28 desired: in sync; 1 learned MAC(s)\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}

	code, out, _ = flowsRun(url, "flows --connection backup-b")
	if code != 0 || strings.Contains(out, "network backup") || !strings.Contains(out, "binding backup-b/02:0b:00:00:00:01") {
		t.Errorf("flows --connection backup-b: exit %d\n%s", code, out)
	}
	code, out, errOut = flowsRun(url, "flows --network nope")
	if code != 1 || out != "" || !strings.Contains(errOut, `network "nope" not found`) {
		t.Errorf("flows --network nope: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestFlowsDiffExitsOneOnDifferences(t *testing.T) {
	url, _, sw := newFlowsAPI(t)
	code, out, _ := flowsRun(url, "flows --diff")
	if code != 0 || out != "in sync with the desired state\n" {
		t.Fatalf("flows --diff on a reconciled bridge: exit %d\n%s", code, out)
	}

	// The binding's ARP answer is lost; the connection's admission flow
	// has other content; a stray flow of binding 99 appears.
	var lost, changed uint64
	sw.edit(func(fs map[uint64]flows.DumpedFlow) {
		for c, f := range fs {
			switch _, o, _ := flows.DecodeCookie(c); {
			case o.Kind == flows.KindBinding && f.Table == flows.TableARPResponder:
				lost = c
			case o.Kind == flows.KindConnection && f.Table == flows.TableClassifier:
				changed = c
			}
		}
		delete(fs, lost)
		fs[changed+1] = flows.DumpedFlow{Cookie: changed + 1, Table: fs[changed].Table, Priority: fs[changed].Priority}
		delete(fs, changed)
		fs[0xa300006312345678] = flows.DumpedFlow{Cookie: 0xa300006312345678, Table: flows.TableL2Lookup, Priority: 200}
	})
	code, out, errOut := flowsRun(url, "flows --diff")
	t.Logf("l2gwctl flows --diff:\n%s", out)
	if code != 1 || errOut != "" {
		t.Fatalf("exit %d, stderr %q; want 1 and nothing", code, errOut)
	}
	for _, s := range []string{
		"missing", "extra", "different: want 0x",
		"connection backup-b", "binding backup-b/02:0b:00:00:00:01", "binding #99",
		"\n\n1 missing, 1 extra, 1 different\n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}
	if strings.Contains(out, "pipeline") || strings.Count(out, "\n") != 6 { // header, 3 rows, blank, summary
		t.Errorf("--diff shows more than the differences")
	}

	code, out, _ = flowsRun(url, "flows --diff -o json")
	var rep api.FlowReport
	if err := json.Unmarshal([]byte(out), &rep); code != 1 || err != nil || rep.Summary.Missing != 1 || len(rep.Owners) != 3 {
		t.Errorf("flows --diff -o json: exit %d, %v\n%s", code, err, out)
	}
	if code, _, _ := flowsRun(url, "flows -o json"); code != 0 {
		t.Errorf("flows -o json without --diff: exit %d, want 0", code)
	}
}

func TestFlowsHelpTellsTheExitStatus(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"flows", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, &stderr)
	}
	for _, s := range []string{"l2gwctl flows [--network N] [--connection C] [--diff]", "exit status 1 if", "--diff"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("flows --help lacks %q:\n%s", s, &stdout)
		}
	}
}

// TestFlowsShowHeldFlows: flows a dynamic origin not synced yet left are
// shown held, owned by that origin, and are no difference.
func TestFlowsShowHeldFlows(t *testing.T) {
	held := api.FlowEntry{Table: "l2_lookup", TableID: 30, Priority: 200, Cookie: 0xd3642181198b3631}
	rep := api.FlowReport{
		Summary: api.FlowSummary{InSync: true, Installed: 1, Held: 1},
		Owners:  []api.OwnerFlows{{Kind: "binding", Origin: "evpn", Name: "#6562817", Flows: []api.FlowEntry{held}, Held: []api.FlowEntry{held}}},
	}
	body, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := showFlows("table", true)(&out, body); err != nil {
		t.Fatalf("held flows made --diff fail: %v", err)
	}
	want := "" +
		"OWNER                   TABLE       PRIORITY   COOKIE               STATE\n" +
		"evpn binding #6562817   l2_lookup   200        0xd3642181198b3631   held\n" +
		"\n" +
		"in sync with the desired state\n"
	if out.String() != want {
		t.Fatalf("flows:\n%s\nwant\n%s", out.String(), want)
	}
}
