package app

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/flows"
	"github.com/prometheus/client_golang/prometheus"
)

// piecewiseSwitch is a memSwitch that runs during when the reconciler
// asks for the first piece of a dump, and records, at each later request,
// how many flow_mods it had received.
type piecewiseSwitch struct {
	*memSwitch
	during  func()
	pieces  int
	modsAt  []int // flow_mods received when each later piece was asked for
	masks   []uint64
	cookies []uint64
}

func (s *piecewiseSwitch) Dump(ctx context.Context, cookie, mask uint64) ([]flows.DumpedFlow, error) {
	s.pieces++
	s.masks, s.cookies = append(s.masks, mask), append(s.cookies, cookie)
	if s.pieces > 1 {
		s.modsAt = append(s.modsAt, s.mods)
	}
	out, err := s.memSwitch.Dump(ctx, cookie, mask)
	if s.pieces == 1 && s.during != nil {
		s.during()
	}
	return out, err
}

// startWhileAway restarts the reconciler of state on sw as l2gwd starts
// when OVS reconnects after the store is loaded: it compiles while the
// switch is away, then reads the switch in pieces of 8 flows.
func startWhileAway(t *testing.T, state *State, sw *piecewiseSwitch) *Reconciler {
	t.Helper()
	r := newTestReconciler(state, sw)
	r.pieceFlows = 8
	sw.connected = false
	reconcileOK(t, r)
	if r.compiling == nil || r.compiling.wait() == nil {
		t.Fatal("no compile while the switch was away")
	}
	sw.connected = true
	return r
}

// reconciledSite is siteState with 40 more bindings, on a piecewiseSwitch
// a first reconciler has programmed.
func reconciledSite(t *testing.T) (*State, *piecewiseSwitch) {
	t.Helper()
	state := siteState(t)
	if _, err := state.AddMACs("backup-b", manyBindings(40, 1)); err != nil {
		t.Fatal(err)
	}
	sw := &piecewiseSwitch{memSwitch: newMemSwitch()}
	reconcileOK(t, newTestReconciler(state, sw.memSwitch))
	return state, sw
}

// bindingsWith is the state's bindings of connection backup-b with edit
// applied, for ReplaceMACs.
func bindingsWith(t *testing.T, state *State, edit func(MACBindings) MACBindings) MACBindings {
	t.Helper()
	now, err := state.ListMACs("backup-b")
	if err != nil {
		t.Fatal(err)
	}
	return edit(slices.Clone(MACBindings(now)))
}

func TestChangesWhileTheBridgeIsReadGoBetweenItsPieces(t *testing.T) {
	state, sw := reconciledSite(t)

	r := startWhileAway(t, state, sw)
	reg := prometheus.NewRegistry()
	if err := r.Instrument(reg); err != nil {
		t.Fatal(err)
	}
	mods := sw.mods
	// One change, committed while the first piece is read: a binding
	// added, one removed, one whose address changed.
	sw.during = func() {
		next := bindingsWith(t, state, func(b MACBindings) MACBindings {
			b = slices.DeleteFunc(b, func(m MACBinding) bool { return m.MAC == "02:aa:00:00:00:01" })
			for i := range b {
				if b[i].MAC == "02:aa:00:00:00:02" {
					b[i].IPs = []string{"2001:db8:aa::99"}
				}
			}
			return append(b, MACBinding{MAC: "02:0b:00:00:00:99", IPs: []string{"192.0.2.99"}})
		})
		if _, err := state.ReplaceMACs("backup-b", next); err != nil {
			t.Fatal(err)
		}
	}
	reconcileOK(t, r)
	if sw.pieces < 8 || sw.masks[0] != flows.AnyTagCookie|uint64(sw.pieces-1) {
		t.Fatalf("the bridge was read in %d pieces (first mask %#x), want at least 8 of a hash-bit mask", sw.pieces, sw.masks[0])
	}
	for i, c := range sw.cookies {
		if c != flows.AnyTagCookie|uint64(i) {
			t.Fatalf("piece %d asked for cookie %#x", i, c)
		}
	}
	// 2 owner deletes (the added binding's ID was free), and the new and
	// the changed binding's 2 flows each.
	if got := sw.modsAt[0] - mods; got != 6 {
		t.Fatalf("%d flow_mods before the second piece, want 6 (the change, sent between the first two)", got)
	}
	if sw.mods != sw.modsAt[0] {
		t.Fatalf("the full pass sent %d more flow_mods after the change, want none", sw.mods-sw.modsAt[0])
	}
	if r.Status().Reconciled || !r.hasPending() {
		t.Fatal("reconciled before the change went again against the verified switch")
	}
	reconcileOK(t, r)
	if sw.mods != sw.modsAt[0] || !r.Status().Reconciled {
		t.Fatalf("the change's own pass sent %d flow_mods (reconciled %v), want none: the switch has it", sw.mods-sw.modsAt[0], r.Status().Reconciled)
	}
	assertFlowsOf(t, state, sw.memSwitch)
	if r.model.cookies().len() != len(sw.flows) {
		t.Fatalf("the model holds %d cookies, the switch %d flows", r.model.cookies().len(), len(sw.flows))
	}
	perTable := 0.0
	for series, v := range scrape(t, reg) {
		if strings.HasPrefix(series, "l2gw_flows{") {
			perTable += v
		}
	}
	if int(perTable) != len(sw.flows) {
		t.Fatalf("l2gw_flows counts %v flows, the switch has %d", perTable, len(sw.flows))
	}
}

// TestAChangeTheCompileSawGoesBetweenPieces: a binding added as l2gwd
// starts, before the compile made while the switch is away begins, still
// reaches the switch between the first two pieces of the read, not after
// the whole bridge: the compile leaves it pending.
func TestAChangeTheCompileSawGoesBetweenPieces(t *testing.T) {
	state, sw := reconciledSite(t)
	r := newTestReconciler(state, sw)
	r.pieceFlows = 8
	sw.connected = false
	if _, err := state.AddMACs("backup-b", MACBindings{{MAC: "02:0b:00:00:00:99", IPs: []string{"192.0.2.99"}}}); err != nil {
		t.Fatal(err)
	}
	reconcileOK(t, r)
	if r.compiling == nil || r.compiling.wait() == nil {
		t.Fatal("no compile while the switch was away")
	}
	sw.connected = true
	mods := sw.mods
	reconcileOK(t, r)
	if len(sw.modsAt) == 0 || sw.modsAt[0]-mods != 2 {
		t.Fatalf("flow_mods before the second piece: %v (from %d), want the new binding's 2", sw.modsAt, mods)
	}
	if sw.mods != sw.modsAt[0] {
		t.Fatalf("the full pass sent %d more flow_mods after the change, want none", sw.mods-sw.modsAt[0])
	}
	reconcileOK(t, r)
	if sw.mods != sw.modsAt[0] || !r.Status().Reconciled {
		t.Fatalf("the change's own pass sent %d flow_mods (reconciled %v), want none", sw.mods-sw.modsAt[0], r.Status().Reconciled)
	}
	assertFlowsOf(t, state, sw.memSwitch)
}

// assertFlowsOf fails unless sw holds exactly the flows a fresh start on an
// empty switch installs for state.
func assertFlowsOf(t *testing.T, state *State, sw *memSwitch) {
	t.Helper()
	fresh := newMemSwitch()
	reconcileOK(t, newTestReconciler(state, fresh))
	if !maps.Equal(sw.flows, fresh.flows) {
		t.Fatalf("the switch has %d flows, a fresh start %d: they differ", len(sw.flows), len(fresh.flows))
	}
}

func TestChangesTooLargeOrNotOfBindingsWaitForTheWholeBridge(t *testing.T) {
	for name, change := range map[string]func(*State) error{
		"bindings over the cap": func(s *State) error {
			_, err := s.AddMACs("backup-b", manyBindings(earlyOwnersMax+1, 1000))
			return err
		},
		"a connection": func(s *State) error {
			if _, err := s.CreateRemoteGateway(RemoteGateway{Name: "site-c", TunnelIP: "198.51.100.3"}); err != nil {
				return err
			}
			_, err := s.CreateConnection(Connection{Name: "backup-c", Network: "backup", RemoteGateway: "site-c", SegmentationID: 5009, NetworkType: TypeVXLAN})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			state, sw := reconciledSite(t)
			r := startWhileAway(t, state, sw)
			mods := sw.mods
			sw.during = func() {
				if err := change(state); err != nil {
					t.Fatal(err)
				}
			}
			reconcileOK(t, r)
			if last := sw.modsAt[len(sw.modsAt)-1]; last != mods {
				t.Fatalf("%d flow_mods while the bridge was read, want none", last-mods)
			}
			reconcileOK(t, r)
			if !r.Status().Reconciled {
				t.Fatal("not reconciled after the change's pass")
			}
			assertFlowsOf(t, state, sw.memSwitch)
		})
	}
}

// TestAFlowLeftOfAFreshIDIsStillFound: a binding added while the bridge is
// read goes without deleting its owner's flows first (its ID was free),
// and a flow the switch holds of that ID nonetheless (a bridge not as
// l2gwd left it) is still found by the comparison and deleted.
func TestAFlowLeftOfAFreshIDIsStillFound(t *testing.T) {
	state, sw := reconciledSite(t)
	id := state.macIDs.next.Load() // the next binding's
	stale := flows.ControllerCookie | uint64(flows.KindBinding)<<56 | uint64(id)<<32 | 0x5eed
	sw.flows[stale] = memFlow{table: 30, priority: 1, key: "left by no one"}
	sw.byMatch["left by no one"] = stale

	r := startWhileAway(t, state, sw)
	mods := sw.mods
	sw.during = func() {
		b, err := state.AddMACs("backup-b", MACBindings{{MAC: "02:0b:00:00:00:99", IPs: []string{"192.0.2.99"}}})
		if err != nil || b[0].ID != id {
			t.Fatalf("added %v (%v), want ID %d", b, err, id)
		}
	}
	reconcileOK(t, r)
	if got := sw.modsAt[0] - mods; got != 2 {
		t.Fatalf("%d flow_mods before the second piece, want the new binding's 2 adds", got)
	}
	reconcileOK(t, r)
	if _, ok := sw.flows[stale]; ok || !r.Status().Reconciled {
		t.Fatalf("the flow left of ID %d is still there (reconciled %v)", id, r.Status().Reconciled)
	}
	assertFlowsOf(t, state, sw.memSwitch)
}
