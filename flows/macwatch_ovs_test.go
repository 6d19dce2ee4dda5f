package flows

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/contiv/libOpenflow/openflow13"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// timedEvent is a watch event and when Next returned it.
type timedEvent struct {
	MACEvent
	at time.Time
}

// collect runs w.Next until the test ends, handing every event over.
func collect(t *testing.T, w *MACWatch) <-chan timedEvent {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan timedEvent, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := w.Next(ctx)
			if err != nil {
				return
			}
			ch <- timedEvent{ev, time.Now()}
		}
	}()
	t.Cleanup(func() { cancel(); <-done; w.Close() })
	return ch
}

// expectEvent waits up to within for the next event and checks it.
func expectEvent(t *testing.T, ch <-chan timedEvent, within time.Duration, want string) timedEvent {
	t.Helper()
	select {
	case ev := <-ch:
		if got := eventText(ev.MACEvent); got != want {
			t.Fatalf("event %q, want %q", got, want)
		}
		return ev
	case <-time.After(within):
		t.Fatalf("no event within %s, want %q", within, want)
	}
	return timedEvent{}
}

// expectQuiet checks that no event comes for d.
func expectQuiet(t *testing.T, ch <-chan timedEvent, d time.Duration) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected event %q", eventText(ev.MACEvent))
	case <-time.After(d):
	}
}

// waitMonitorSynced waits until the session has read the learned entries
// of its current connection.
func waitMonitorSynced(t *testing.T, s *Session) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		s.macs.mu.Lock()
		done := s.macs.cur != nil && s.macs.cur.dump == nil
		s.macs.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the learned-MAC monitor did not sync within 10 s")
		}
	}
}

// watchLab is a lab whose br0 runs network 7's pipeline on two host ports,
// learning with a 2 s idle timeout.
type watchLab struct {
	*lab
	h1, h2 *ovstest.Host
	p1, p2 uint32
}

const watchNetwork = 7

func startWatchLab(t *testing.T) *watchLab {
	l := &watchLab{lab: startLab(t)}
	l.h1 = l.ovs.AddHost(t, "br0", "h1", "p1")
	l.h2 = l.ovs.AddHost(t, "br0", "h2", "p2")
	l.p1, l.p2 = l.ovs.OFPort(t, "p1"), l.ovs.OFPort(t, "p2")
	l.installPipeline(t)
	return l
}

func (l *watchLab) installPipeline(t *testing.T) {
	t.Helper()
	set, err := CompileTopology(&Input{TunnelPorts: map[string]uint32{}, LearnIdleTimeout: 2,
		Networks: []Network{{ID: watchNetwork, Attachments: []Attachment{{OFPort: l.p1}, {OFPort: l.p2}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.s.Apply(context.Background(), ModList(Mods(set.Sorted(), nil))); err != nil {
		t.Fatal(err)
	}
}

// TestWatchFollowsWhatOVSLearnsFromFrames: hosts send frames into the
// pipeline's learning on real OVS, and the watch reports each MAC learned,
// moved, idled out and deleted, and nothing for a switch reconnection that
// changed nothing.
//
// Learning is immediate for a frame the datapath has no flow for: the
// upcall runs the learn action. A frame that hits a datapath flow left by
// an earlier one (same source, port and destination) is learned when OVS
// runs that flow's learn action again from its statistics, later (seen:
// from a few ms to over 100 ms). The MACs below are fresh wherever the test
// measures the watch itself.
func TestWatchFollowsWhatOVSLearnsFromFrames(t *testing.T) {
	l := startWatchLab(t)
	ch := collect(t, l.s.WatchLocalMACs())
	expectEvent(t, ch, 10*time.Second, "synced")
	mac := func(i int) string { return fmt.Sprintf("02:0a:00:00:00:%02x", i) }
	frame := func(i int) []byte { return ovstest.Frame(mac(i), "ff:ff:ff:ff:ff:ff", 0) }
	p1, p2 := itoa(l.p1), itoa(l.p2)

	sent := l.h1.Send(t, frame(1))
	ev := expectEvent(t, ch, 100*time.Millisecond, "added 7 "+mac(1)+" port "+p1)
	t.Logf("frame sent → watch reported the MAC: %s", ev.at.Sub(sent))

	sent = l.h2.Send(t, frame(1))
	ev = expectEvent(t, ch, 100*time.Millisecond, "moved 7 "+mac(1)+" port "+p2+" from "+p1)
	t.Logf("frame from the new port → watch reported the move: %s", ev.at.Sub(sent))

	sent = time.Now()
	ev = expectEvent(t, ch, 10*time.Second, "removed 7 "+mac(1)+" port "+p2+" (idle timeout)")
	t.Logf("idle timeout 2 s → watch reported the removal %s after the last frame", ev.at.Sub(sent))

	sent = l.h2.Send(t, frame(1)) // the datapath flow of the move is still there
	ev = expectEvent(t, ch, 2*time.Second, "added 7 "+mac(1)+" port "+p2)
	t.Logf("frame through an existing datapath flow → learned and reported after %s", ev.at.Sub(sent))

	// l2gwd's own delete (FlushLearned's bundle) is reported, although
	// the monitor abbreviates this connection's changes.
	l.h1.Send(t, frame(2))
	expectEvent(t, ch, 100*time.Millisecond, "added 7 "+mac(2)+" port "+p1)
	if err := l.s.Apply(context.Background(), ModList([]Mod{DeleteCookieMod(LearnedCookie(watchNetwork))})); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, ch, 100*time.Millisecond, "removed 7 "+mac(1)+" port "+p2+" (deleted)")
	expectEvent(t, ch, 100*time.Millisecond, "removed 7 "+mac(2)+" port "+p1+" (deleted)")

	// The connection drops and the switch reconnects, its flows kept: the
	// MAC learned before (its host still talking) is still there, and
	// nothing is reported. (Not del-controller: OVS flushes every flow of
	// a bridge that loses its last controller.)
	l.h2.Send(t, frame(3))
	expectEvent(t, ch, 100*time.Millisecond, "added 7 "+mac(3)+" port "+p2)
	stop := l.h2.Keep(t, frame(3), 300*time.Millisecond) // it must not idle out
	l.relay.Drop()
	l.waitEvent(t, false)
	l.waitEvent(t, true)
	waitMonitorSynced(t, l.s)
	expectQuiet(t, ch, 300*time.Millisecond)
	// And the re-armed monitor reports what happens next.
	l.h1.Send(t, frame(4))
	expectEvent(t, ch, 100*time.Millisecond, "added 7 "+mac(4)+" port "+p1)

	// ovs-vswitchd restarts: its flows, learned entries with them, are
	// gone.
	l.ovs.StopVswitchd()
	stop()
	l.waitEvent(t, false)
	if err := l.ovs.StartVswitchd(); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(t, true)
	expectEvent(t, ch, 10*time.Second, "removed 7 "+mac(3)+" port "+p2+" (gone while not watched)")
	expectEvent(t, ch, time.Second, "removed 7 "+mac(4)+" port "+p1+" (gone while not watched)")
}

func itoa(n uint32) string { return fmt.Sprint(n) }

// TestBundleOfStaticBindingsSendsNoWatchTraffic applies 200,000 flows
// (100,000 bindings, half of the flows in the monitored l2_lookup table)
// with the learned-MAC monitor armed: the switch reports this connection's
// own bundle as one abbreviated update, not one update per flow, and the
// watch reports nothing. It logs the time of the same bundle with the
// monitor cancelled.
func TestBundleOfStaticBindingsSendsNoWatchTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("200,000 flows")
	}
	l := startLab(t)
	ch := collect(t, l.s.WatchLocalMACs())
	expectEvent(t, ch, 10*time.Second, "synced")
	flows := bulkFlows(t, 100000)
	cookies := make([]uint64, len(flows))
	for i, f := range flows {
		cookies[i] = f.Cookie
	}
	apply := func(mods []Mod) (time.Duration, int64) {
		t.Helper()
		before, start := l.relay.FromSwitch.Load(), time.Now()
		if err := l.s.Apply(context.Background(), ModList(mods)); err != nil {
			t.Fatal(err)
		}
		return time.Since(start), l.relay.FromSwitch.Load() - before
	}

	armed, traffic := apply(Mods(flows, nil))
	_, delTraffic := apply(Mods(nil, cookies))
	expectQuiet(t, ch, 300*time.Millisecond)
	for what, n := range map[string]int64{"adding": traffic, "deleting": delTraffic} {
		if n > 1024 {
			t.Errorf("while %s %d flows the switch sent %d bytes: the monitor reported the bundle's flows", what, len(flows), n)
		}
	}

	if err := l.s.current().Send(monitorCancel(monitorID)); err != nil {
		t.Fatal(err)
	}
	unarmed, _ := apply(Mods(flows, nil))
	t.Logf("%d flows in one bundle: %s with the monitor armed (the switch sent %d bytes meanwhile, %d while deleting them), %s without",
		len(flows), armed.Round(time.Millisecond), traffic, delTraffic, unarmed.Round(time.Millisecond))
}

// monitorCancel is ONFT13_FLOW_MONITOR_CANCEL of monitor id.
func monitorCancel(id uint32) rawMessage {
	b := []byte{openflow13.VERSION, openflow13.Type_Experimenter, 0, 20, 0, 0, 0, 0}
	b = binary.BigEndian.AppendUint32(b, onfExperimenterID)
	b = binary.BigEndian.AppendUint32(b, onfFlowMonitor)
	return binary.BigEndian.AppendUint32(b, id)
}
