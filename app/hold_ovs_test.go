package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/internal/ovstest"
	"github.com/l2gw/l2gw/ovsdb"
)

// ovsDaemon is l2gwd's core on a real Open vSwitch: its state, OpenFlow
// session and reconciler, as cmd/l2gwd wires them; stop ends it as SIGTERM
// does (the flows stay).
type ovsDaemon struct {
	state   *State
	session *flows.Session
	rec     *Reconciler
	stop    func()
}

// daemonSite is one bridge of a private Open vSwitch, its OVSDB client and
// what a daemon needs to drive it.
type daemonSite struct {
	ovs    *ovstest.OVS
	db     *ovsdb.Client
	addr   string     // the OpenFlow listener's address
	target string     // the bridge's controller target, relayed to addr
	dir    string     // the daemon's data directory
	snoop  bool       // the daemons snoop hosts (ReconcilerConfig.SnoopHosts)
	haPeer netip.Addr // ReconcilerConfig.HAPeer
	// metrics, when set, receives each daemon's reconciler metrics (a
	// fresh registry per start).
	metrics func(*prometheus.Registry)
	// connectFirst starts the reconciler only once the switch is
	// connected, as when l2gwd's store takes longer to load than OVS to
	// reconnect (a million bindings).
	connectFirst bool
	// beforeRun, when set, changes the state once the reconciler is wired
	// and before it runs (a change posted while l2gwd starts).
	beforeRun func(*State)
	// pieceFlows, when set, is the reconcilers' Reconciler.pieceFlows;
	// afterDump, when set, runs after each dump request the reconciler
	// made, with the request's number (0 for the first).
	pieceFlows int
	afterDump  func(s *State, request int)
}

// dumpHookSwitch is a switch that runs after after each dump request it
// passes on.
type dumpHookSwitch struct {
	*flows.Session
	requests int
	after    func(request int)
}

func (s *dumpHookSwitch) Dump(ctx context.Context, cookie, mask uint64) ([]flows.DumpedFlow, error) {
	out, err := s.Session.Dump(ctx, cookie, mask)
	s.after(s.requests)
	s.requests++
	return out, err
}

func newDaemonSite(t *testing.T) *daemonSite {
	t.Helper()
	o := ovstest.StartIsolated(t)
	addr := ovstest.FreeAddr(t)
	target, _ := o.Controller(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := ovsdb.Dial(ctx, o.Endpoint(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return &daemonSite{ovs: o, db: db, addr: addr, target: target, dir: t.TempDir()}
}

// start runs a daemon on the site's store with opts.
func (site *daemonSite) start(t *testing.T, opts Options) *ovsDaemon {
	t.Helper()
	state, err := Open(site.dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	session, err := flows.Listen(site.addr, slog.New(slog.DiscardHandler))
	if err != nil {
		state.Close()
		t.Fatal(err)
	}
	var sw Switch = session
	if site.afterDump != nil {
		sw = &dumpHookSwitch{Session: session, after: func(n int) { site.afterDump(state, n) }}
	}
	rec := NewReconciler(ReconcilerConfig{Bridge: "br-int", DatapathType: "netdev", ControllerTarget: site.target,
		TunnelIP: localTunnelIP, SnoopHosts: site.snoop, HAPeer: site.haPeer, Logger: slog.New(slog.DiscardHandler)}, state, sw, site.db)
	if site.pieceFlows > 0 {
		rec.pieceFlows = site.pieceFlows
	}
	if site.metrics != nil {
		reg := prometheus.NewRegistry()
		if err := rec.Instrument(reg); err != nil {
			t.Fatal(err)
		}
		site.metrics(reg)
	}
	for deadline := time.Now().Add(10 * time.Second); site.connectFirst && !session.Connected(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the switch did not connect in 10 s")
		}
	}
	if site.beforeRun != nil {
		site.beforeRun(state)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rec.Run(ctx) }()
	var once sync.Once
	d := &ovsDaemon{state: state, session: session, rec: rec, stop: func() {
		once.Do(func() {
			cancel()
			<-done
			session.Close()
			state.Close()
		})
	}}
	t.Cleanup(d.stop)
	return d
}

// waitReconciled waits until the daemon's switch is connected and holds
// the desired state.
func (d *ovsDaemon) waitReconciled(t *testing.T) Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := d.rec.Status()
		if st.Connected && st.Reconciled {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reconciled: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// flowMonitor records every change OVS reports on a bridge's flows (as
// `ovs-ofctl monitor BR watch:!initial` prints them).
type flowMonitor struct {
	mu     sync.Mutex
	events []string
}

func monitorFlows(t *testing.T, o *ovstest.OVS, bridge string) *flowMonitor {
	t.Helper()
	// ovs-ofctl prints the flow updates on its standard error.
	cmd := o.Command("ovs-ofctl", "-O", "OpenFlow13", "monitor", bridge, "watch:!initial")
	out, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); w.Close() })
	m := &flowMonitor{}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		close(started)
		for sc.Scan() {
			if line := sc.Text(); strings.Contains(line, "event=") {
				m.mu.Lock()
				m.events = append(m.events, line)
				m.mu.Unlock()
			}
		}
	}()
	<-started
	time.Sleep(300 * time.Millisecond) // the monitor request is in
	return m
}

// take returns the events since the last take, after letting late ones in.
func (m *flowMonitor) take() []string {
	time.Sleep(300 * time.Millisecond)
	m.mu.Lock()
	defer m.mu.Unlock()
	ev := m.events
	m.events = nil
	return ev
}

// originFlows counts the bridge's flows of origin o.
func originFlows(t *testing.T, o *ovstest.OVS, origin flows.Origin) int {
	t.Helper()
	out := o.Ofctl(t, "dump-flows", "br-int", fmt.Sprintf("cookie=%#x/%#x", origin.Cookie(), flows.ControllerCookieMask))
	return strings.Count(out, "\n cookie=")
}

// trace runs a packet through the bridge's flows and returns OVS's trace.
func trace(t *testing.T, o *ovstest.OVS, packet string) string {
	t.Helper()
	return o.Appctl(t, "ovs-vswitchd", "ofproto/trace", "br-int", packet)
}

// TestRestartHoldsADynamicOriginsFlowsOnOVS: after a restart, what an
// origin told before stays on a real bridge, untouched, until the origin is
// synced; then exactly what it did not tell again goes.
func TestRestartHoldsADynamicOriginsFlowsOnOVS(t *testing.T) {
	site := newDaemonSite(t)
	opts := feedOptions(0)
	d := site.start(t, opts)
	must[Network](t)(d.state.CreateNetwork(Network{Name: "plane", Attachments: []Attachment{{Port: "h1"}}}))
	d.waitReconciled(t)
	site.ovs.Vsctl(t, "add-port", "br-int", "h1", "--", "set", "interface", "h1", "type=internal")
	evpn := feedOf(t, d.state, OriginEVPN)
	siteC := vxlanTo("198.51.100.3", 5003)
	mustOK(t, evpn.AddFloodTargets(FloodTarget{Network: "plane", Tunnel: siteC}))
	mustOK(t, evpn.UpsertRemoteMACs(
		remote("plane", siteC, "02:0c:00:00:00:01", "192.0.2.31"),
		remote("plane", siteC, "02:0c:00:00:00:02", "192.0.2.32"),
		remote("plane", siteC, "02:0c:00:00:00:03", "192.0.2.33")))
	evpn.Synced()
	d.waitReconciled(t)
	const toHeld = "in_port=h1,dl_src=02:0a:00:00:00:10,dl_dst=02:0c:00:00:00:03"
	if tr := trace(t, site.ovs, toHeld); !strings.Contains(tr, "set_field:198.51.100.3->tun_dst") {
		t.Fatalf("unicast to evpn's MAC does not go to its tunnel:\n%s", tr)
	}
	evpnFlows := originFlows(t, site.ovs, flows.OriginEVPN)
	if evpnFlows != 3+3*2 {
		t.Fatalf("%d evpn flows on the bridge, want 9:\n%s", evpnFlows,
			site.ovs.Ofctl(t, "dump-flows", "br-int", fmt.Sprintf("cookie=%#x/%#x", flows.OriginEVPN.Cookie(), flows.ControllerCookieMask)))
	}

	// SIGTERM, and a new l2gwd on the same store and bridge.
	mon := monitorFlows(t, site.ovs, "br-int")
	d.stop()
	d = site.start(t, opts)
	st := d.waitReconciled(t)
	if ev := mon.take(); len(ev) != 0 {
		t.Fatalf("the restart changed the bridge before evpn told anything:\n%s", strings.Join(ev, "\n"))
	}
	if st.FlowMods != 0 || originFlows(t, site.ovs, flows.OriginEVPN) != evpnFlows {
		t.Fatalf("the restart sent %d flow_mods; evpn flows %d, want %d", st.FlowMods, originFlows(t, site.ovs, flows.OriginEVPN), evpnFlows)
	}
	if o := d.rec.Status().Origins; len(o) != 2 || o[1].Synced || o[1].HeldFlows != 6 {
		t.Fatalf("origins %+v: want evpn unsynced, holding 6 flows", o)
	}

	// evpn tells two MACs again, one with another IP, and its flooding.
	evpn = feedOf(t, d.state, OriginEVPN)
	mustOK(t, evpn.AddFloodTargets(FloodTarget{Network: "plane", Tunnel: siteC}))
	mustOK(t, evpn.UpsertRemoteMACs(
		remote("plane", siteC, "02:0c:00:00:00:01", "192.0.2.31"),
		remote("plane", siteC, "02:0c:00:00:00:02", "192.0.2.42")))
	d.waitReconciled(t)
	if ev := mon.take(); len(ev) != 1 || !strings.Contains(ev[0], "event=ADDED") || !strings.Contains(ev[0], "arp_tpa=192.0.2.42") {
		t.Fatalf("telling again: want only the new ARP answer added, got:\n%s\n%s", strings.Join(ev, "\n"), site.ovs.Ofctl(t, "dump-flows", "br-int", "table=20"))
	}
	if tr := trace(t, site.ovs, toHeld); !strings.Contains(tr, "set_field:198.51.100.3->tun_dst") {
		t.Fatalf("the MAC evpn has not told again lost its flows before evpn was synced:\n%s", tr)
	}

	// Synced: the untold MAC's flows and the old ARP answer go, nothing else.
	evpn.Synced()
	waitFor(t, "the held flows to go", func() bool { return d.rec.Status().Origins[1].HeldFlows == 0 })
	d.waitReconciled(t)
	ev := mon.take()
	deleted := 0
	for _, e := range ev {
		if !strings.Contains(e, "event=DELETED") {
			t.Fatalf("synced changed a flow it should have left:\n%s", strings.Join(ev, "\n"))
		}
		deleted++
	}
	if deleted != 3 || originFlows(t, site.ovs, flows.OriginEVPN) != evpnFlows-2 {
		t.Fatalf("synced: %d deleted (want 3), %d evpn flows left (want %d):\n%s", deleted,
			originFlows(t, site.ovs, flows.OriginEVPN), evpnFlows-2, strings.Join(ev, "\n"))
	}
	if tr := trace(t, site.ovs, toHeld); strings.Contains(tr, "set_field:198.51.100.3->tun_dst,set_field:0x138b->tun_id,load:0x") {
		t.Fatalf("unicast to the MAC evpn no longer has still goes to its tunnel as a known MAC:\n%s", tr)
	}
}
