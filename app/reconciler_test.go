package app

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/contiv/libOpenflow/openflow13"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/ovsdb"
)

// memSwitch applies bundles of flow_mods the way OVS does for the commands
// l2gwd uses: all or nothing; ADD replaces a flow with the same table,
// priority and match; DELETE with a full cookie mask in every table removes
// the flow with that cookie.
type memSwitch struct {
	flows     map[uint64]memFlow
	byMatch   map[string]uint64 // matchKey → cookie
	connected bool
	events    chan flows.Event
	mods      int // flow_mods received
	bundles   int
	failNext  bool // reject the next bundle (after taking its mods)
}

type memFlow struct {
	table    uint8
	priority uint16
	key      string
}

func newMemSwitch() *memSwitch {
	return &memSwitch{flows: map[uint64]memFlow{}, byMatch: map[string]uint64{}, connected: true, events: make(chan flows.Event, 4)}
}

func (s *memSwitch) Events() <-chan flows.Event { return s.events }
func (s *memSwitch) Connected() bool            { return s.connected }

func (s *memSwitch) Apply(_ context.Context, src flows.ModSource) error {
	var mods []flows.Mod
	if err := src(func(m flows.Mod) bool { mods = append(mods, append(flows.Mod(nil), m...)); return true }); err != nil {
		return err
	}
	if len(mods) == 0 {
		return nil
	}
	if s.failNext {
		s.failNext = false
		return errors.New("bundle rejected")
	}
	s.bundles++
	s.mods += len(mods)
	for _, m := range mods {
		// ofp_flow_mod: cookie at 8, cookie mask 16, table 24, command 25,
		// priority 30, match from 48 (its length at 50).
		cookie, mask := binary.BigEndian.Uint64(m[8:]), binary.BigEndian.Uint64(m[16:])
		table, command, prio := m[24], m[25], binary.BigEndian.Uint16(m[30:])
		matchLen := int(binary.BigEndian.Uint16(m[50:]))
		match := m[48 : 48+(matchLen+7)/8*8]
		switch command {
		case openflow13.FC_ADD:
			key := fmt.Sprintf("%d/%d/%x", table, prio, match)
			if old, ok := s.byMatch[key]; ok {
				delete(s.flows, old)
			}
			s.flows[cookie] = memFlow{table: table, priority: prio, key: key}
			s.byMatch[key] = cookie
		case openflow13.FC_DELETE:
			if (mask != ^uint64(0) && mask != flows.OwnerCookieMask) || table != openflow13.OFPTT_ALL || matchLen != 4 {
				return fmt.Errorf("unexpected delete: cookie mask %#x, table %d, match length %d", mask, table, matchLen)
			}
			for c, f := range s.flows {
				if c&mask == cookie&mask {
					delete(s.byMatch, f.key)
					delete(s.flows, c)
				}
			}
		default:
			return fmt.Errorf("unexpected flow_mod command %d", command)
		}
	}
	return nil
}

func (s *memSwitch) Dump(_ context.Context, cookie, mask uint64) ([]flows.DumpedFlow, error) {
	var out []flows.DumpedFlow
	for c, f := range s.flows {
		if c&mask == cookie&mask {
			out = append(out, flows.DumpedFlow{Cookie: c, Table: f.table, Priority: f.priority})
		}
	}
	return out, nil
}

// fixedBridge is an OVSDB side whose bridge and ports already exist; it
// records the last bridge configuration it was asked for.
type fixedBridge struct {
	ports map[string]uint32
	cfg   ovsdb.BridgeConfig
}

func (b *fixedBridge) EnsureBridge(_ context.Context, cfg ovsdb.BridgeConfig) error {
	b.cfg = cfg
	return nil
}
func (b *fixedBridge) EnsureTunnelPorts(context.Context, string, []string, string) error {
	return nil
}
func (b *fixedBridge) OFPorts(string) map[string]uint32 { return b.ports }
func (b *fixedBridge) Changes() <-chan struct{}         { return nil }
func (b *fixedBridge) Connected() bool                  { return true }

func siteState(t *testing.T) *State {
	t.Helper()
	s, err := Open(t.TempDir(), Options{LocalTunnelIPs: []string{"198.51.100.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateNetwork(Network{Name: "backup", Attachments: []Attachment{{Port: "eth1"}, {Port: "trunk0", VLAN: 100}}}))
	must(s.CreateRemoteGateway(RemoteGateway{Name: "site-b", TunnelIP: "198.51.100.2"}))
	must(s.CreateConnection(Connection{Name: "backup-b", Network: "backup", RemoteGateway: "site-b", SegmentationID: 5001, NetworkType: TypeVXLAN, Flood: true}))
	must(s.AddMACs("backup-b", MACBindings{{MAC: "02:0b:00:00:00:01", IPs: []string{"192.0.2.21"}}}))
	return s
}

func newTestReconciler(state *State, sw Switch) *Reconciler {
	br := &fixedBridge{ports: map[string]uint32{"eth1": 1, "trunk0": 2, ovsdb.TunnelPortName(TypeVXLAN): 3}}
	return NewReconciler(ReconcilerConfig{Bridge: "br-int"}, state, sw, br)
}

func reconcileOK(t testing.TB, r *Reconciler) {
	t.Helper()
	if err := r.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestReconcilerInstallsEverythingOnceThenNothing(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	r := newTestReconciler(state, sw)
	reconcileOK(t, r)
	if sw.bundles != 1 || len(sw.flows) == 0 || sw.mods != len(sw.flows) {
		t.Fatalf("first pass: %d bundles, %d mods, %d flows; want 1 bundle with one add per flow", sw.bundles, sw.mods, len(sw.flows))
	}
	reconcileOK(t, r)
	if sw.bundles != 1 {
		t.Fatalf("an unchanged state sent %d more bundles", sw.bundles-1)
	}
	if st := r.Status(); !st.Reconciled || st.Flows != len(sw.flows) || !st.Connected {
		t.Fatalf("status %+v", st)
	}
}

func TestRestartedDaemonSendsNothingToARightSwitch(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	reconcileOK(t, newTestReconciler(state, sw))
	before := sw.mods

	// A new daemon (new reconciler, same store) meets the same switch.
	reconcileOK(t, newTestReconciler(state, sw))
	if sw.mods != before {
		t.Fatalf("restart sent %d flow_mods to a switch that was already right", sw.mods-before)
	}
}

func TestReconnectAfterLostFlowsRepairsOnlyWhatIsMissing(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	r := newTestReconciler(state, sw)
	reconcileOK(t, r)
	want := len(sw.flows)

	// ovs-vswitchd restarted: its flows are gone and the switch reconnects.
	for c, f := range sw.flows {
		if f.table == flows.TableARPResponder && f.priority == 100 {
			delete(sw.byMatch, f.key)
			delete(sw.flows, c)
		}
	}
	sw.mods = 0
	sw.events <- flows.Event{Connected: true}
	r.synced = false // what Run does on the event
	reconcileOK(t, r)
	if len(sw.flows) != want || sw.mods != 1 {
		t.Fatalf("repair sent %d flow_mods, switch has %d flows; want 1 and %d", sw.mods, len(sw.flows), want)
	}
}

func TestAChangeSendsOnlyItsOwnFlows(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	r := newTestReconciler(state, sw)
	reconcileOK(t, r)
	sw.mods = 0
	if _, err := state.AddMACs("backup-b", MACBindings{{MAC: "02:0b:00:00:00:02", IPs: []string{"192.0.2.22", "192.0.2.23"}}}); err != nil {
		t.Fatal(err)
	}
	reconcileOK(t, r)
	if sw.mods != 3 { // forwarding + two ARP answers
		t.Fatalf("adding one binding with two IPs sent %d flow_mods, want 3", sw.mods)
	}
	sw.mods = 0
	if err := state.DeleteMAC("backup-b", "02:0b:00:00:00:02"); err != nil {
		t.Fatal(err)
	}
	reconcileOK(t, r)
	if sw.mods != 3 {
		t.Fatalf("deleting it sent %d flow_mods, want 3", sw.mods)
	}
}

func TestFailedBundleIsRetriedFromAFreshDump(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	r := newTestReconciler(state, sw)
	sw.failNext = true
	if err := r.reconcile(context.Background()); err == nil {
		t.Fatal("a rejected bundle was not reported")
	}
	if r.Status().Reconciled {
		t.Fatal("status says reconciled after a failed bundle")
	}
	reconcileOK(t, r)
	if len(sw.flows) == 0 || !r.Status().Reconciled {
		t.Fatal("the retry did not install the flows")
	}
}

func TestAttachmentWithoutOFPortWaitsForIt(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	br := &fixedBridge{ports: map[string]uint32{"eth1": 1, ovsdb.TunnelPortName(TypeVXLAN): 3}}
	r := NewReconciler(ReconcilerConfig{Bridge: "br-int"}, state, sw, br)
	reconcileOK(t, r)
	without := len(sw.flows)
	br.ports = map[string]uint32{"eth1": 1, "trunk0": 2, ovsdb.TunnelPortName(TypeVXLAN): 3}
	reconcileOK(t, r)
	if len(sw.flows) != without+3 { // classify, egress, reply for trunk0
		t.Fatalf("trunk0 appearing added %d flows, want 3", len(sw.flows)-without)
	}
}

func TestNotReconciledUntilTheTunnelPortHasAnOFPort(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	br := &fixedBridge{ports: map[string]uint32{"eth1": 1, "trunk0": 2}}
	r := NewReconciler(ReconcilerConfig{Bridge: "br-int"}, state, sw, br)
	reconcileOK(t, r)
	if r.Status().Reconciled {
		t.Fatal("reconciled while the vxlan port has no ofport and its connection no flows")
	}
	br.ports = map[string]uint32{"eth1": 1, "trunk0": 2, ovsdb.TunnelPortName(TypeVXLAN): 3}
	reconcileOK(t, r)
	if !r.Status().Reconciled {
		t.Fatal("not reconciled once the tunnel port appeared")
	}
}

func TestRestartedDaemonCompilesBeforeTheSwitchReconnects(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	reconcileOK(t, newTestReconciler(state, sw))
	want := len(sw.flows)

	// A new daemon starts while the switch has not reconnected yet.
	sw.connected, sw.mods = false, 0
	r := newTestReconciler(state, sw)
	reconcileOK(t, r)
	if r.compiling == nil || r.compiling.wait() == nil || r.compiling.wait().flows != want {
		t.Fatalf("no full compile prepared while the switch was away")
	}
	sw.connected = true
	r.synced = false // what Run does on the connect event
	reconcileOK(t, r)
	if sw.mods != 0 || !r.Status().Reconciled || r.model == nil || r.model.flows != want {
		t.Fatalf("adopting the prepared compile sent %d flow_mods, status %+v", sw.mods, r.Status())
	}
	// It is a working model: a change still sends only its own flows.
	if _, err := state.AddMACs("backup-b", MACBindings{{MAC: "02:0b:00:00:00:07"}}); err != nil {
		t.Fatal(err)
	}
	reconcileOK(t, r)
	if sw.mods != 1 {
		t.Fatalf("a change after adoption sent %d flow_mods, want 1", sw.mods)
	}
}

// TestAChangeWhileTheSwitchWasAwayGoesAsADelta: the compile prepared while
// the switch was away is adopted when the switch holds it, and a change
// made after it goes in the next pass, its own flows only.
func TestAChangeWhileTheSwitchWasAwayGoesAsADelta(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	reconcileOK(t, newTestReconciler(state, sw))
	sw.connected, sw.mods = false, 0
	r := newTestReconciler(state, sw)
	reconcileOK(t, r)
	r.compiling.wait() // the change comes after the compile
	if _, err := state.AddMACs("backup-b", MACBindings{{MAC: "02:0b:00:00:00:07", IPs: []string{"192.0.2.77"}}}); err != nil {
		t.Fatal(err)
	}
	reconcileOK(t, r) // the pass the change woke, with the switch still away
	<-r.kick          // as Run took it
	sw.connected = true
	r.synced = false
	reconcileOK(t, r)
	if sw.mods != 0 || r.Status().Reconciled || !r.hasPending() {
		t.Fatalf("the pass that adopts the prepared compile: %d flow_mods, status %+v; want none, the change pending", sw.mods, r.Status())
	}
	if len(r.kick) == 0 {
		t.Fatal("no pass is due for the change left pending")
	}
	reconcileOK(t, r)
	if sw.mods != 2 || !r.Status().Reconciled { // the new binding's forwarding and ARP flows
		t.Fatalf("a change made while the switch was away: %d flow_mods, status %+v; want 2, reconciled", sw.mods, r.Status())
	}
}

func TestTheBridgeNamesEveryPipelineTable(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	br := &fixedBridge{ports: map[string]uint32{"eth1": 1}}
	reconcileOK(t, NewReconciler(ReconcilerConfig{Bridge: "br-int"}, state, sw, br))
	for _, tc := range flows.Pipeline {
		if got := br.cfg.TableNames[int(tc.ID)]; got != tc.Name {
			t.Errorf("table %d named %q in OVSDB, want %q", tc.ID, got, tc.Name)
		}
	}
	if len(br.cfg.TableNames) != len(flows.Pipeline) {
		t.Errorf("%d tables named, the pipeline has %d", len(br.cfg.TableNames), len(flows.Pipeline))
	}
}

func TestDeletingAConnectionForgetsWhatWasLearnedThroughIt(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	r := newTestReconciler(state, sw)
	reconcileOK(t, r)
	conn, err := state.GetConnection("backup-b")
	if err != nil {
		t.Fatal(err)
	}
	// OVS learned a MAC from site-b: an entry with the connection's learned cookie.
	learned := flows.LearnedConnectionCookie(conn.ID)
	sw.flows[learned] = memFlow{table: flows.TableL2Lookup, priority: 100, key: "learned from site-b"}
	sw.byMatch["learned from site-b"] = learned

	if err := state.DeleteConnection("backup-b"); err != nil {
		t.Fatal(err)
	}
	reconcileOK(t, r)
	if _, ok := sw.flows[learned]; ok {
		t.Fatal("an entry learned through a deleted connection is still on the switch")
	}
}

// TestAFirstPassAdoptsItsCompileAndDefersChangesToDeltas: a restarted
// reconciler given a binding change before its first pass verifies the
// switch against the compile it made while reading the switch, sends
// nothing in that pass, and sends the change's flows alone in the next
// (an incremental pass), not in a full comparison.
func TestAFirstPassAdoptsItsCompileAndDefersChangesToDeltas(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	reconcileOK(t, newTestReconciler(state, sw))
	before := maps.Clone(sw.flows)

	r := newTestReconciler(state, sw) // restarted
	if _, err := state.AddMACs("backup-b", MACBindings{{MAC: "02:0b:00:00:00:99", IPs: []string{"192.0.2.99"}}}); err != nil {
		t.Fatal(err)
	}
	mods := sw.mods
	reconcileOK(t, r)
	if sw.mods != mods || !maps.Equal(sw.flows, before) {
		t.Fatalf("the first pass sent %d flow_mods, want none (the change waits for its own pass)", sw.mods-mods)
	}
	if !r.hasPending() {
		t.Fatal("the change taken by the first pass's compile is no longer pending")
	}
	reconcileOK(t, r)
	if n := sw.mods - mods; n != 2 || len(sw.flows) != len(before)+2 {
		t.Fatalf("the change's pass sent %d flow_mods (switch: %d flows, had %d), want its 2 flows added", n, len(sw.flows), len(before))
	}
}
