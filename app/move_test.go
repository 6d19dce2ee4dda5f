package app

import (
	"context"
	"encoding/binary"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/contiv/libOpenflow/openflow13"
	bolt "go.etcd.io/bbolt"

	"github.com/l2gw/l2gw/flows"
)

// moveFixture is fixture plus a third connection a-d (site-d) on net-a and
// a second binding on a-b:
//
//	a-b: 02:0b:00:00:00:01 192.0.2.21, 02:0b:00:00:00:03 192.0.2.23 2001:db8::23
//	a-c: 02:0c:00:00:00:01 192.0.2.31;  a-d: none;  b-b (net-b): 02:0b:00:00:00:02
func moveFixture(t *testing.T, s *State) {
	t.Helper()
	fixture(t, s)
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-d", TunnelIP: "198.51.100.4"}))
	must[Connection](t)(s.CreateConnection(Connection{Name: "a-d", Network: "net-a", RemoteGateway: "site-d", SegmentationID: 5001}))
	must[[]MACBinding](t)(s.AddMACs("a-b", MACBindings{{MAC: "02:0b:00:00:00:03", IPs: []string{"192.0.2.23", "2001:db8::23"}}}))
}

// TestMoveMACs: a move takes bindings from their connections (two
// different ones here) to the target with their IPs and IDs, in one change
// that unbinds each from where it was and binds it on the target; it is
// durable, and a retry changes nothing and still succeeds.
func TestMoveMACs(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	moveFixture(t, s)
	before := s.Snapshot()
	idOf := func(conn, mac string) uint32 {
		for _, b := range before.MACs[conn] {
			if b.MAC == mac {
				return b.ID
			}
		}
		t.Fatalf("%s not bound on %s", mac, conn)
		return 0
	}
	var changes []Change
	s.Subscribe(func(ch Change) { changes = append(changes, ch) })

	got := must[[]MACBinding](t)(s.MoveMACs(MACMove{To: "a-d", MACs: []string{"02:0C:00:00:00:01", "02-0b-00-00-00-03"}}))
	want := []MACBinding{
		{MAC: "02:0c:00:00:00:01", IPs: []string{"192.0.2.31"}, ID: idOf("a-c", "02:0c:00:00:00:01")},
		{MAC: "02:0b:00:00:00:03", IPs: []string{"192.0.2.23", "2001:db8::23"}, ID: idOf("a-b", "02:0b:00:00:00:03")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("MoveMACs = %+v, want %+v", got, want)
	}
	after := s.Snapshot()
	wantMACs := map[string][]MACBinding{
		"a-b": {before.MACs["a-b"][0]},
		"a-c": {},
		"a-d": {want[1], want[0]}, // sorted by MAC
		"b-b": before.MACs["b-b"],
	}
	for conn, w := range wantMACs {
		if g := after.MACs[conn]; len(g) != len(w) || (len(w) > 0 && !reflect.DeepEqual(g, w)) {
			t.Errorf("%s after the move: %+v, want %+v", conn, g, w)
		}
	}
	wantChange := []BindingChange{
		{Connection: "a-c", MAC: [6]byte{2, 0xc, 0, 0, 0, 1}, ID: want[0].ID, Removed: true},
		{Connection: "a-b", MAC: [6]byte{2, 0xb, 0, 0, 0, 3}, ID: want[1].ID, Removed: true},
		{Connection: "a-d", MAC: [6]byte{2, 0xc, 0, 0, 0, 1}, ID: want[0].ID},
		{Connection: "a-d", MAC: [6]byte{2, 0xb, 0, 0, 0, 3}, ID: want[1].ID},
	}
	if len(changes) != 1 || changes[0].Topology || !reflect.DeepEqual(changes[0].Bindings, wantChange) {
		t.Fatalf("changes = %+v, want one: %+v", changes, wantChange)
	}

	// A retry (with from, which the MACs no longer satisfy) is a no-op.
	again := must[[]MACBinding](t)(s.MoveMACs(MACMove{To: "a-d", From: "a-c", MACs: []string{"02:0c:00:00:00:01"}}))
	if !reflect.DeepEqual(again, want[:1]) || len(changes) != 1 {
		t.Fatalf("retry: %+v and %d changes, want %+v and no new change", again, len(changes), want[:1])
	}
	// The IPs moved with their MAC: they are taken on the target now.
	_, err := s.AddMACs("a-c", MACBindings{{MAC: "02:0c:00:00:00:09", IPs: []string{"192.0.2.31"}}})
	wantError(t, err, Conflict, At(FieldMACs).Index(0).Field(FieldIPs).Index(0))

	s = reopen(t, s, dir)
	if got := s.Snapshot(); !reflect.DeepEqual(got, after) {
		t.Fatalf("reopened store:\n got %+v\nwant %+v", got, after)
	}
}

// TestMoveMACsFrom: with from, MACs bound there move and MACs already on
// the target are left alone, in one call.
func TestMoveMACsFrom(t *testing.T) {
	s := newState(t)
	moveFixture(t, s)
	got := must[[]MACBinding](t)(s.MoveMACs(MACMove{To: "a-c", From: "a-b", MACs: []string{"02:0c:00:00:00:01", "02:0b:00:00:00:01"}}))
	if len(got) != 2 || got[0].MAC != "02:0c:00:00:00:01" || got[1].MAC != "02:0b:00:00:00:01" {
		t.Fatalf("MoveMACs = %+v", got)
	}
	if macs := must[[]MACBinding](t)(s.ListMACs("a-c")); len(macs) != 2 {
		t.Fatalf("a-c holds %+v, want both MACs", macs)
	}
	if macs := must[[]MACBinding](t)(s.ListMACs("a-b")); len(macs) != 1 || macs[0].MAC != "02:0b:00:00:00:03" {
		t.Fatalf("a-b holds %+v, want only 02:0b:00:00:00:03", macs)
	}
}

// TestMoveMACsRejected: every rejected move says why, and changes nothing
// in memory, on disk or for subscribers, also when only its last MAC is
// wrong or the store cannot write.
func TestMoveMACsRejected(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	moveFixture(t, s)
	before := s.Snapshot()
	notified := 0
	s.Subscribe(func(Change) { notified++ })
	ok := []string{"02:0b:00:00:00:01"}
	for _, tc := range []struct {
		name string
		move MACMove
		kind ErrorKind
		at   Path
	}{
		{"no target", MACMove{MACs: ok}, Invalid, At(FieldTo)},
		{"unknown target", MACMove{To: "x-y", MACs: ok}, NotFound, At(FieldTo)},
		{"unknown from", MACMove{To: "a-c", From: "x-y", MACs: ok}, NotFound, At(FieldFrom)},
		{"from on another network", MACMove{To: "a-c", From: "b-b", MACs: ok}, Invalid, At(FieldFrom)},
		{"no MACs", MACMove{To: "a-c"}, Invalid, At(FieldMACs)},
		{"garbage MAC", MACMove{To: "a-c", MACs: []string{"02:0b:00:00:00:01", "zz"}}, Invalid, At(FieldMACs).Index(1)},
		{"broadcast MAC", MACMove{To: "a-c", MACs: []string{"ff:ff:ff:ff:ff:ff"}}, Invalid, At(FieldMACs).Index(0)},
		{"MAC twice", MACMove{To: "a-c", MACs: []string{"02:0b:00:00:00:01", "02-0B-00-00-00-01"}}, Invalid, At(FieldMACs).Index(1)},
		{"MAC bound nowhere", MACMove{To: "a-c", MACs: []string{"02:0b:00:00:00:01", "02:0b:00:00:00:99"}}, NotFound, At(FieldMACs).Index(1)},
		{"MAC bound on another network only", MACMove{To: "a-c", MACs: []string{"02:0b:00:00:00:01", "02:0b:00:00:00:02"}}, NotFound, At(FieldMACs).Index(1)},
		{"MAC not on from", MACMove{To: "a-d", From: "a-b", MACs: []string{"02:0b:00:00:00:01", "02:0c:00:00:00:01"}}, Conflict, At(FieldMACs).Index(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.MoveMACs(tc.move)
			wantError(t, err, tc.kind, tc.at)
			if got := s.Snapshot(); !reflect.DeepEqual(got, before) {
				t.Fatal("state changed by a rejected move")
			}
		})
	}

	// A store that cannot write rejects the move as Unavailable.
	update := s.update
	s.update = func(fn func(*bolt.Tx) error) error {
		return update(func(tx *bolt.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			return errors.New("injected: write failed")
		})
	}
	_, err := s.MoveMACs(MACMove{To: "a-c", MACs: ok})
	wantError(t, err, Unavailable, nil)
	s.update = update
	if got := s.Snapshot(); !reflect.DeepEqual(got, before) {
		t.Fatal("state changed by a move the store did not save")
	}
	if notified != 0 {
		t.Errorf("subscribers called %d times for rejected moves", notified)
	}
	s = reopen(t, s, dir)
	if got := s.Snapshot(); !reflect.DeepEqual(got, before) {
		t.Fatalf("stored state changed by rejected moves:\n got %+v\nwant %+v", got, before)
	}
}

// bundleLog is a memSwitch that keeps every bundle it committed.
type bundleLog struct {
	*memSwitch
	bundles [][]flows.Mod
}

func (s *bundleLog) Apply(ctx context.Context, src flows.ModSource) error {
	var mods []flows.Mod
	err := s.memSwitch.Apply(ctx, func(emit func(flows.Mod) bool) error {
		return src(func(m flows.Mod) bool {
			mods = append(mods, append(flows.Mod(nil), m...))
			return emit(m)
		})
	})
	if err == nil && len(mods) > 0 {
		s.bundles = append(s.bundles, mods)
	}
	return err
}

// bindingCookies returns the cookies of binding id's flows on sw, sorted.
func bindingCookies(sw *memSwitch, id uint32) []uint64 {
	var out []uint64
	for c := range sw.flows {
		if _, o, _ := flows.DecodeCookie(c); o == (flows.Owner{Kind: flows.KindBinding, ID: id}) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// TestMoveGoesToTheSwitchInOneBundle: the reconciler sends a move as one
// bundle that deletes the binding's flows toward the old gateway and adds
// those toward the new one, and nothing else; the switch ends where a full
// compile of the new state does.
func TestMoveGoesToTheSwitchInOneBundle(t *testing.T) {
	state := siteState(t)
	must[RemoteGateway](t)(state.CreateRemoteGateway(RemoteGateway{Name: "site-c", TunnelIP: "198.51.100.3"}))
	must[Connection](t)(state.CreateConnection(Connection{Name: "backup-c", Network: "backup", RemoteGateway: "site-c",
		SegmentationID: 5002, NetworkType: TypeVXLAN, Flood: true}))
	sw := &bundleLog{memSwitch: newMemSwitch()}
	r := newTestReconciler(state, sw)
	reconcileOK(t, r)
	id := must[[]MACBinding](t)(state.ListMACs("backup-b"))[0].ID
	old := bindingCookies(sw.memSwitch, id)
	sw.bundles = nil

	must[[]MACBinding](t)(state.MoveMACs(MACMove{To: "backup-c", From: "backup-b", MACs: []string{"02:0b:00:00:00:01"}}))
	reconcileOK(t, r)
	if len(sw.bundles) != 1 {
		t.Fatalf("the move went to the switch in %d bundles, want 1", len(sw.bundles))
	}
	now := bindingCookies(sw.memSwitch, id)
	var deleted, added []uint64
	for _, m := range sw.bundles[0] {
		cookie := binary.BigEndian.Uint64(m[8:])
		switch m[25] {
		case openflow13.FC_DELETE:
			deleted = append(deleted, cookie)
		case openflow13.FC_ADD:
			added = append(added, cookie)
		}
	}
	slices.Sort(deleted)
	slices.Sort(added)
	// Only what differs: the forwarding flow (new gateway), not the ARP
	// answer (same network, IP and MAC).
	gone := slices.DeleteFunc(slices.Clone(old), func(c uint64) bool { return slices.Contains(now, c) })
	fresh := slices.DeleteFunc(slices.Clone(now), func(c uint64) bool { return slices.Contains(old, c) })
	if !slices.Equal(deleted, gone) || !slices.Equal(added, fresh) {
		t.Fatalf("the bundle deleted %x and added %x; want the old flows %x deleted and the new %x added", deleted, added, gone, fresh)
	}
	if len(gone) != 1 || len(fresh) != 1 || len(now) != 2 {
		t.Fatalf("flows %x before the move, %x after: want the forwarding flow changed and the ARP answer kept", old, now)
	}

	full := newMemSwitch()
	reconcileOK(t, newTestReconciler(state, full))
	if !reflect.DeepEqual(sw.flows, full.flows) {
		t.Fatalf("after the move the switch holds %d flows, a full compile %d, and they differ", len(sw.flows), len(full.flows))
	}
}
