package flows

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// macRig is a macTable fed through an inboundTap, as a switch connection
// feeds it: the captured messages are the bytes OVS sent.
type macRig struct {
	t     *testing.T
	mt    *macTable
	tap   *inboundTap
	chunk int // bytes per read
}

func newMACRig(t *testing.T, chunk int) *macRig {
	r := &macRig{t: t, mt: newMACTable(slog.New(slog.DiscardHandler)), chunk: chunk}
	r.connect()
	return r
}

// connect starts a new connection, as a switch (re)connection does, whose
// monitor request and dump have xids 0x65 and 0x66 (the captured dump's).
func (r *macRig) connect() {
	r.tap = &inboundTap{onError: func(switchError) {}}
	r.mt.attach(r.tap)
	r.mt.begin(r.tap, 0x65, 0x66)
}

// read has the connection read msgs (hex), in reads of r.chunk bytes.
func (r *macRig) read(msgs ...string) {
	r.readOn(r.tap, msgs...)
}

func (r *macRig) readOn(tap *inboundTap, msgs ...string) {
	var stream []byte
	for _, m := range msgs {
		stream = append(stream, unhex(r.t, m)...)
	}
	for len(stream) > 0 {
		k := min(r.chunk, len(stream))
		tap.scan(stream[:k])
		stream = stream[k:]
	}
}

// emptyDump is the reply to a dump that finds no learned entry.
const emptyDump = "0413001000000066" + "0001000000000000"

// events takes every event due on w without waiting, as text.
func events(t *testing.T, w *MACWatch) []string {
	t.Helper()
	var out []string
	for {
		ev, ok, err := w.take()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, eventText(ev))
	}
}

// eventText is ev as text; the addresses, when it has some (or is about
// them), follow in brackets.
func eventText(ev MACEvent) string {
	var s string
	switch ev.Kind {
	case MACSynced:
		return "synced"
	case MACMoved:
		s = fmt.Sprintf("moved %d %s port %d from %d", ev.Network, ev.MAC, ev.Port, ev.OldPort)
	case MACRemoved:
		return fmt.Sprintf("removed %d %s port %d (%s)", ev.Network, ev.MAC, ev.Port, ev.Reason)
	default:
		s = fmt.Sprintf("%s %d %s port %d", ev.Kind, ev.Network, ev.MAC, ev.Port)
	}
	if len(ev.IPs) > 0 || ev.Kind == MACIPs {
		s += fmt.Sprintf(" %v", ev.IPs)
	}
	return s
}

func expectEvents(t *testing.T, w *MACWatch, want ...string) {
	t.Helper()
	if got := events(t, w); !slices.Equal(got, want) {
		t.Errorf("events:\n%q\nwant:\n%q", got, want)
	}
}

// asReplies returns each update of the captured message as a reply of its
// own.
func asReplies(t *testing.T, msg string) []string {
	var out []string
	for _, u := range updatesOf(t, unhex(t, msg)) {
		out = append(out, fmt.Sprintf("%x", monitorReply(0, u)))
	}
	return out
}

func TestWatchReportsUpdatesInTheOrderTheSwitchSentThem(t *testing.T) {
	for _, chunk := range []int{1, 5, 2048} {
		t.Run(fmt.Sprintf("reads of %d bytes", chunk), func(t *testing.T) {
			r := newMACRig(t, chunk)
			w := newWatch(r.mt)
			r.read(capturedMonitorReply, emptyDump)
			expectEvents(t, w, "synced")
			want := []string{
				"added 7 02:0b:00:00:00:01 port 5",
				"moved 7 02:0b:00:00:00:01 port 6 from 5",
				"removed 7 02:0b:00:00:00:01 port 6 (learned from a remote gateway)",
				"added 7 02:0b:00:00:00:01 port 6",
				"removed 7 02:0b:00:00:00:01 port 6 (idle timeout)",
			}
			for i, reply := range asReplies(t, capturedLearnMoveIdle) {
				r.read(capturedPaused, reply, capturedResumed)
				expectEvents(t, w, want[i])
			}
		})
	}
}

func newWatch(mt *macTable) *MACWatch { return (&Session{macs: mt}).WatchLocalMACs() }

func TestWatchCoalescesWhatItWasNotAskedForYet(t *testing.T) {
	r := newMACRig(t, 2048)
	w := newWatch(r.mt)
	replies := asReplies(t, capturedLearnMoveIdle)
	r.read(emptyDump, replies[0])
	expectEvents(t, w, "synced", "added 7 02:0b:00:00:00:01 port 5")
	// Moved, moved away, back, idled out, before the watch looks again:
	// it reports the MAC gone, and why it went last.
	r.read(replies[1:]...)
	expectEvents(t, w, "removed 7 02:0b:00:00:00:01 port 5 (idle timeout)")
	// Learned and gone between two looks: nothing to report.
	r.read(capturedLearnMoveIdle)
	expectEvents(t, w)
	// Learned, moved, moved again: once, where it is now.
	r.read(replies[0], replies[1], replies[3])
	expectEvents(t, w, "added 7 02:0b:00:00:00:01 port 6")

	// A watch nobody reads holds one entry per MAC, however often it
	// changes.
	for range 1000 {
		r.read(replies[1:]...)
		r.read(replies[0])
	}
	if n := len(w.queue); n != 1 {
		t.Errorf("after 5,000 changes of one MAC the watch holds %d of them", n)
	}
	expectEvents(t, w, "moved 7 02:0b:00:00:00:01 port 5 from 6")
}

func TestLateWatchGetsTheCurrentSetFirst(t *testing.T) {
	r := newMACRig(t, 2048)
	early := newWatch(r.mt)
	r.read(replies0(t)) // before the dump: applied once it is complete
	expectEvents(t, early)
	r.read(capturedLearnedDump)
	want := []string{"added 7 02:0b:00:00:00:01 port 5", "added 7 02:0b:00:00:00:02 port 6", "synced"}
	expectEvents(t, early, want...)
	late := newWatch(r.mt)
	expectEvents(t, late, want...)
	r.read(capturedDeletedByOfctl) // 02:0b:00:00:00:04, never learned: no change
	r.read(asReplies(t, capturedLearnMoveIdle)[1])
	expectEvents(t, late, "moved 7 02:0b:00:00:00:01 port 6 from 5")
	expectEvents(t, early, "moved 7 02:0b:00:00:00:01 port 6 from 5")
}

// replies0 is the first captured update (02:0b:00:00:00:01 learned on port
// 5), alone.
func replies0(t *testing.T) string { return asReplies(t, capturedLearnMoveIdle)[0] }

func TestReconnectionReportsOnlyWhatChanged(t *testing.T) {
	r := newMACRig(t, 7)
	w := newWatch(r.mt)
	r.read(capturedLearnedDump)
	expectEvents(t, w, "added 7 02:0b:00:00:00:01 port 5", "added 7 02:0b:00:00:00:02 port 6", "synced")

	// The switch reconnects and has the same entries.
	r.connect()
	r.read(capturedMonitorReply, capturedLearnedDump)
	expectEvents(t, w)

	// It reconnects again; an update (the MAC moved to port 6) comes
	// before the dump's reply, which still shows port 5: the update is
	// newer than the dump, since OVS reports only changes made after the
	// monitor was armed, and the dump was asked for after that.
	old := r.tap
	r.connect()
	r.read(asReplies(t, capturedLearnMoveIdle)[1], capturedLearnedDump)
	expectEvents(t, w, "moved 7 02:0b:00:00:00:01 port 6 from 5")

	// What the previous connection still delivers does not count.
	r.readOn(old, capturedDeletedByOfctl, asReplies(t, capturedLearnMoveIdle)[4])
	expectEvents(t, w)

	// ovs-vswitchd restarted: the new connection finds nothing.
	r.connect()
	r.read(emptyDump)
	expectEvents(t, w, "removed 7 02:0b:00:00:00:01 port 6 (gone while not watched)",
		"removed 7 02:0b:00:00:00:02 port 6 (gone while not watched)")
}

func TestOwnBundleDeletesRemoveTheNetworksEntries(t *testing.T) {
	r := newMACRig(t, 2048)
	w := newWatch(r.mt)
	r.read(capturedLearnedDump)
	events(t, w)

	// An abbreviated update no bundle announced (l2gwd's bundles of
	// static bindings) changes nothing.
	r.read(capturedAbbrev)
	expectEvents(t, w)
	// Nor does one outside the announced bundle's xids.
	done := r.mt.expectOwnDeletes(0x68, 0x70, []uint64{LearnedCookie(7)})
	r.read(capturedAbbrev)
	done()
	expectEvents(t, w)

	// The bundle with the flow_mod of xid 0x67 deleted network 7's
	// learned entries (and a connection's, which are not local).
	done = r.mt.expectOwnDeletes(0x60, 0x67, []uint64{LearnedConnectionCookie(9), LearnedCookie(7)})
	r.read(capturedAbbrev)
	done()
	expectEvents(t, w, "removed 7 02:0b:00:00:00:01 port 5 (deleted)", "removed 7 02:0b:00:00:00:02 port 6 (deleted)")
}

func TestStaticBindingsAndOtherRepliesAreNotLearnedMACs(t *testing.T) {
	r := newMACRig(t, 3)
	w := newWatch(r.mt)
	// The captured dump with another xid: the reconciler's own dump, say.
	other := unhex(t, capturedLearnedDump)
	other[7] = 0x99
	r.read(fmt.Sprintf("%x", other), capturedBindingAdded, capturedLearnedDump)
	expectEvents(t, w, "added 7 02:0b:00:00:00:01 port 5", "added 7 02:0b:00:00:00:02 port 6", "synced")
	// A static binding for a MAC learned locally is another flow (a
	// higher priority, l2gwd's cookie): the learned entry stays.
	r.read(strings.Replace(capturedBindingAdded, "020b00000009", "020b00000001", 1))
	expectEvents(t, w)
}

func TestARefusedMonitorLeavesTheWatchAsItWas(t *testing.T) {
	r := newMACRig(t, 2048)
	w := newWatch(r.mt)
	r.read(capturedLearnedDump)
	events(t, w)
	r.connect()
	r.tap.onError = r.mt.refused
	// OFPT_ERROR (bad request, bad experimenter type) about the monitor
	// request, xid 0x65.
	r.read("040100140000006501010004" + capturedMonitorRequest[:16])
	r.read(emptyDump)
	expectEvents(t, w)
	if r.mt.cur != nil {
		t.Error("the connection whose monitor was refused still counts")
	}
}
