package app

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/l2gw/l2gw/flows"
)

// learnedSwitch is a memSwitch that also holds entries OVS learned, and
// deletes them by cookie as OVS does.
type learnedSwitch struct {
	*memSwitch
	learned []flows.DumpedFlow
}

func (s *learnedSwitch) Dump(ctx context.Context, cookie, mask uint64) ([]flows.DumpedFlow, error) {
	out, err := s.memSwitch.Dump(ctx, cookie, mask)
	for _, f := range s.learned {
		if f.Cookie&mask == cookie&mask {
			out = append(out, f)
		}
	}
	return out, err
}

func (s *learnedSwitch) Apply(ctx context.Context, src flows.ModSource) error {
	var learnedDeletes []uint64
	err := s.memSwitch.Apply(ctx, func(emit func(flows.Mod) bool) error {
		return src(func(m flows.Mod) bool {
			if c := binary.BigEndian.Uint64(m[8:]); c&flows.ControllerCookieMask == flows.LearnedTagCookie {
				learnedDeletes = append(learnedDeletes, c)
			}
			return emit(m)
		})
	})
	if err == nil {
		s.learned = slices.DeleteFunc(s.learned, func(f flows.DumpedFlow) bool { return slices.Contains(learnedDeletes, f.Cookie) })
	}
	return err
}

func learnedEntry(cookie uint64, mac string, port uint32, age time.Duration) flows.DumpedFlow {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		panic(err)
	}
	return flows.DumpedFlow{Cookie: cookie, Table: flows.TableL2Lookup, Priority: flows.PriorityLearned, HasEthDst: true, EthDst: [6]byte(hw), LearnedPort: port, Duration: age}
}

func TestLearnedListsAndFlushesOneNetwork(t *testing.T) {
	state := siteState(t)
	if _, err := state.CreateNetwork(Network{Name: "other", Attachments: []Attachment{{Port: "eth9"}}}); err != nil {
		t.Fatal(err)
	}
	backup, _ := state.GetNetwork("backup")
	other, _ := state.GetNetwork("other")
	conn, _ := state.GetConnection("backup-b")
	sw := &learnedSwitch{memSwitch: newMemSwitch(), learned: []flows.DumpedFlow{
		learnedEntry(flows.LearnedCookie(backup.ID), "02:00:00:00:00:02", 1, 90*time.Second+500*time.Millisecond),
		learnedEntry(flows.LearnedCookie(backup.ID), "02:00:00:00:00:01", 7, time.Second),
		learnedEntry(flows.LearnedConnectionCookie(conn.ID), "02:0b:00:00:00:09", 3, 5*time.Second),
		learnedEntry(flows.LearnedCookie(other.ID), "02:00:00:00:00:03", 1, time.Second),
	}}
	r := newTestReconciler(state, sw)
	reconcileOK(t, r)
	ctx := context.Background()

	got, err := r.Learned(ctx, "backup")
	if err != nil {
		t.Fatal(err)
	}
	want := []LearnedMAC{
		{MAC: "02:00:00:00:00:01", Via: "port 7", Age: time.Second}, // an ofport the bridge does not name
		{MAC: "02:00:00:00:00:02", Via: "port eth1", Age: 90*time.Second + 500*time.Millisecond},
		{MAC: "02:0b:00:00:00:09", Via: "gateway site-b (connection backup-b)", Age: 5 * time.Second},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Learned(backup) = %+v, want %+v", got, want)
	}

	controllerFlows := len(sw.flows)
	n, err := r.FlushLearned(ctx, "backup")
	if err != nil || n != 3 {
		t.Fatalf("FlushLearned(backup) = %d, %v; want 3", n, err)
	}
	if got, _ := r.Learned(ctx, "backup"); len(got) != 0 {
		t.Errorf("after flushing, backup still learned %+v", got)
	}
	if got, _ := r.Learned(ctx, "other"); len(got) != 1 {
		t.Errorf("flushing backup left other with %+v, want its one entry", got)
	}
	if len(sw.flows) != controllerFlows {
		t.Errorf("flushing learned MACs changed the controller's flows: %d, were %d", len(sw.flows), controllerFlows)
	}
}

func TestLearnedUnknownNetworkIsNotFound(t *testing.T) {
	r := newTestReconciler(siteState(t), newMemSwitch())
	var e *Error
	if _, err := r.Learned(context.Background(), "nope"); !errors.As(err, &e) || e.Kind != NotFound {
		t.Errorf("Learned(nope): %v, want a NotFound Error", err)
	}
	if _, err := r.FlushLearned(context.Background(), "nope"); !errors.As(err, &e) || e.Kind != NotFound {
		t.Errorf("FlushLearned(nope): %v, want a NotFound Error", err)
	}
}

func TestLearnedWithoutSwitchIsUnavailable(t *testing.T) {
	r := newTestReconciler(siteState(t), downSwitch{newMemSwitch()})
	var e *Error
	if _, err := r.Learned(context.Background(), "backup"); !errors.As(err, &e) || e.Kind != Unavailable {
		t.Errorf("Learned: %v, want an Unavailable Error", err)
	}
}

// TestRestartDeletesEntriesLearnedForOwnersThatAreGone: a reconciler that
// starts from a dump (a restarted l2gwd) deletes what OVS learned for a
// network or connection that no longer exists (deleted while the bundle
// that would have flushed them never went out) and keeps the entries of
// the ones that do.
func TestRestartDeletesEntriesLearnedForOwnersThatAreGone(t *testing.T) {
	state := siteState(t)
	sw := &learnedSwitch{memSwitch: newMemSwitch()}
	reconcileOK(t, newTestReconciler(state, sw))
	backup, _ := state.GetNetwork("backup")
	conn, _ := state.GetConnection("backup-b")
	live := []flows.DumpedFlow{
		learnedEntry(flows.LearnedCookie(backup.ID), "02:0a:00:00:00:01", 1, time.Second),
		learnedEntry(flows.LearnedConnectionCookie(conn.ID), "02:0b:00:00:00:07", 3, time.Second),
	}
	gone := []flows.DumpedFlow{
		learnedEntry(flows.LearnedCookie(backup.ID+1), "02:0a:00:00:00:02", 5, time.Second),
		learnedEntry(flows.LearnedConnectionCookie(conn.ID+1), "02:0c:00:00:00:01", 3, time.Second),
	}
	sw.learned = slices.Concat(live, gone)
	mods := sw.mods

	reconcileOK(t, newTestReconciler(state, sw))
	var kept []uint64
	for _, f := range sw.learned {
		kept = append(kept, f.Cookie)
	}
	if want := []uint64{live[0].Cookie, live[1].Cookie}; !slices.Equal(kept, want) {
		t.Errorf("after a restart the switch holds entries learned for %x, want %x", kept, want)
	}
	if n := sw.mods - mods; n != len(gone) {
		t.Errorf("the restart sent %d flow_mods, want %d (one delete per gone owner)", n, len(gone))
	}
}
