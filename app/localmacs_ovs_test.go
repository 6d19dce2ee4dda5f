package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/internal/ovstest"
	"github.com/l2gw/l2gw/ovsdb"
)

// ovsSite is l2gwd's app side (State, Reconciler running) on a private
// Open vSwitch in a namespace of its own, whose bridge br-int has network
// "blue" on two hosts' ports: p1 untagged, p2 tagged 10. Learned MACs idle
// out after 2 s.
type ovsSite struct {
	ovs    *ovstest.OVS
	relay  *ovstest.Relay
	state  *State
	r      *Reconciler
	h1, h2 *ovstest.Host
}

func startOVSSite(t *testing.T) *ovsSite {
	t.Helper()
	s := &ovsSite{ovs: ovstest.StartIsolated(t)}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	addr := ovstest.FreeAddr(t)
	sess, err := flows.Listen(addr, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sess.Close)
	var target string
	target, s.relay = s.ovs.Controller(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	br, err := ovsdb.Dial(ctx, s.ovs.Endpoint(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(br.Close)
	if s.state, err = Open(t.TempDir(), Options{Logger: log}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.state.Close() })
	if _, err := s.state.CreateNetwork(Network{Name: "blue", Attachments: []Attachment{{Port: "p1"}, {Port: "p2", VLAN: 10}}}); err != nil {
		t.Fatal(err)
	}
	s.r = NewReconciler(ReconcilerConfig{Bridge: "br-int", DatapathType: "netdev", ControllerTarget: target,
		TunnelIP: "198.51.100.1", Learning: Learning{IdleTimeout: 2}, Logger: log}, s.state, sess, br)
	done := make(chan struct{})
	go func() { defer close(done); s.r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	waitFor(t, "the bridge", func() bool {
		_, err := s.ovs.Exec("ovs-vsctl", "--db="+s.ovs.Endpoint(), "br-exists", "br-int")
		return err == nil
	})
	s.h1 = s.ovs.AddHost(t, "br-int", "h1", "p1")
	s.h2 = s.ovs.AddHost(t, "br-int", "h2", "p2")
	s.waitReconciled(t)
	return s
}

// waitFor polls done for up to 30 s.
func waitFor(t *testing.T, what string, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !done(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30 s", what)
		}
	}
}

// waitReconciled waits until the switch is connected and has blue's flows
// for both ports.
func (s *ovsSite) waitReconciled(t *testing.T) {
	t.Helper()
	waitFor(t, "reconciled switch with both ports", func() bool {
		st := s.r.Status()
		if !st.Connected || !st.Reconciled {
			return false
		}
		classifier, err := s.ovs.Exec("ovs-ofctl", "-O", "OpenFlow13", "--no-names", "dump-flows", "br-int", "table=0")
		return err == nil && strings.Contains(classifier, fmt.Sprintf("in_port=%d,", s.ovs.OFPort(t, "p1"))) &&
			strings.Contains(classifier, fmt.Sprintf("in_port=%d,", s.ovs.OFPort(t, "p2")))
	})
}

// next waits up to within for the next event and checks it.
func next(t *testing.T, ch <-chan LocalMACEvent, within time.Duration, want LocalMACEvent) time.Time {
	t.Helper()
	select {
	case ev := <-ch:
		if !sameLocalMAC(ev, want) {
			t.Fatalf("event %+v,\nwant  %+v", ev, want)
		}
		return time.Now()
	case <-time.After(within):
		t.Fatalf("no event within %s, want %+v", within, want)
	}
	return time.Time{}
}

func quiet(t *testing.T, ch <-chan LocalMACEvent, d time.Duration) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(d):
	}
}

// TestWatchLocalMACsOnOVS: hosts send frames into l2gwd's pipeline on
// real OVS; the watch names each MAC's network, port and VLAN as it is
// learned, moves, ages out and is flushed, says nothing when the OpenFlow
// connection drops and comes back, and reports what a restarted
// ovs-vswitchd lost.
func TestWatchLocalMACsOnOVS(t *testing.T) {
	s := startOVSSite(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := s.r.WatchLocalMACs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch, 10*time.Second, LocalMACEvent{Kind: LocalMACSynced})
	p1, p2 := s.ovs.OFPort(t, "p1"), s.ovs.OFPort(t, "p2")
	at1, at2 := Attachment{Port: "p1"}, Attachment{Port: "p2", VLAN: 10}
	const m1, m2, m3, m4, bcast = "02:0a:00:00:00:01", "02:0a:00:00:00:02", "02:0a:00:00:00:03", "02:0a:00:00:00:04", "ff:ff:ff:ff:ff:ff"
	added := func(mac string, at Attachment, port uint32) LocalMACEvent {
		return LocalMACEvent{Kind: LocalMACAdded, Network: "blue", MAC: mac, Attachment: at, OFPort: port}
	}
	removed := func(mac string, at Attachment, port uint32, why LocalMACRemoval) LocalMACEvent {
		return LocalMACEvent{Kind: LocalMACRemoved, Network: "blue", MAC: mac, Attachment: at, OFPort: port, Reason: why}
	}

	sent := s.h1.Send(t, ovstest.Frame(m1, bcast, 0))
	t.Logf("frame from h1 → added: %s", next(t, ch, 100*time.Millisecond, added(m1, at1, p1)).Sub(sent))
	sent = s.h2.Send(t, ovstest.Frame(m1, bcast, 10))
	t.Logf("frame from h2 (VLAN 10) → moved: %s", next(t, ch, 100*time.Millisecond,
		LocalMACEvent{Kind: LocalMACMoved, Network: "blue", MAC: m1, Attachment: at2, OFPort: p2, From: at1}).Sub(sent))
	t.Logf("idle timeout 2 s → aged out %s after the last frame", next(t, ch, 10*time.Second, removed(m1, at2, p2, RemovalAgedOut)).Sub(sent))

	// A fresh MAC (a frame through the datapath flow h1's first frame
	// left would be learned later, see the flows package's watch test).
	s.h1.Send(t, ovstest.Frame(m4, bcast, 0))
	next(t, ch, 100*time.Millisecond, added(m4, at1, p1))
	start := time.Now()
	if n, err := s.r.FlushLearned(ctx, "blue"); err != nil || n != 1 {
		t.Fatalf("FlushLearned(blue) = %d, %v; want 1", n, err)
	}
	t.Logf("FlushLearned → flushed: %s", next(t, ch, 100*time.Millisecond, removed(m4, at1, p1, RemovalFlushed)).Sub(start))

	// The OpenFlow connection drops; OVS connects again with its flows
	// intact (m2 learned, kept alive by h1's traffic); the reconciler
	// verifies them, and the watch says nothing.
	s.h1.Send(t, ovstest.Frame(m2, bcast, 0))
	next(t, ch, 100*time.Millisecond, added(m2, at1, p1))
	stop := s.h1.Keep(t, ovstest.Frame(m2, bcast, 0), 300*time.Millisecond)
	s.relay.Drop()
	waitFor(t, "disconnection", func() bool { return !s.r.Status().Connected })
	s.waitReconciled(t)
	quiet(t, ch, time.Second)
	// The monitor armed on the new connection reports what comes next.
	s.h2.Send(t, ovstest.Frame(m3, bcast, 10))
	next(t, ch, 100*time.Millisecond, added(m3, at2, p2))

	// ovs-vswitchd restarts: the MACs it had learned are lost; l2gwd puts
	// its flows back and learning goes on.
	s.ovs.StopVswitchd()
	stop()
	if err := s.ovs.StartVswitchd(); err != nil {
		t.Fatal(err)
	}
	next(t, ch, 30*time.Second, removed(m2, at1, p1, RemovalLost))
	next(t, ch, time.Second, removed(m3, at2, p2, RemovalLost))
	s.waitReconciled(t)
	s.h1.Send(t, ovstest.Frame(m1, bcast, 0))
	next(t, ch, 100*time.Millisecond, added(m1, at1, s.ovs.OFPort(t, "p1")))

	// A watch that starts now gets the current set first.
	late, err := s.r.WatchLocalMACs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next(t, late, time.Second, added(m1, at1, s.ovs.OFPort(t, "p1")))
	next(t, late, time.Second, LocalMACEvent{Kind: LocalMACSynced})
}
