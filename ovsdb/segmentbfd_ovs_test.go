package ovsdb

import (
	"context"
	"net/netip"
	"os/exec"
	"testing"
	"time"
)

// awaitSegmentBFD waits, woken by Watch alone, until s's segment BFD on
// port satisfies cond, and returns its status and the time it took.
func awaitSegmentBFD(t *testing.T, s *bfdSite, port, what string, cond func(BFDStatus) bool) (BFDStatus, time.Duration) {
	t.Helper()
	start := time.Now()
	w := s.c.Watch()
	deadline := time.After(15 * time.Second)
	for {
		st, ok := s.c.SegmentBFD("br-int")[port]
		if ok && cond(st) {
			return st, time.Since(start)
		}
		select {
		case <-w:
		case <-deadline:
			t.Fatalf("%s: segment BFD on %s is %+v (known %v) after %v", what, port, st, ok, time.Since(start))
		}
	}
}

// Two nodes on one local segment (a veth pair between their br-ints, the
// attachment port "seg" on each) hear each other over BFD on that port:
// the sessions come up, a cut is seen as down, carrier as LinkUp,
// cpath_down on one side as CPathDown on the other, and taking the
// attachment out of EnsureSegmentBFD's list removes exactly what l2gwd set.
func TestOVSSegmentBFD(t *testing.T) {
	a, b := startBFDSites(t, netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("192.0.2.2/24"), "vxlan")
	ctx := context.Background()
	const seg = "seg"
	nsA, nsB := a.ovs.NetNS, b.ovs.NetNS
	if out, err := exec.Command("ip", "-n", nsA, "link", "add", seg, "type", "veth", "peer", "name", seg, "netns", nsB).CombinedOutput(); err != nil {
		t.Fatalf("segment veth: %v: %s", err, out)
	}
	for _, s := range []*bfdSite{a, b} {
		if _, err := s.ovs.Exec("ip", "link", "set", seg, "up"); err != nil {
			t.Fatal(err)
		}
		s.ovs.Vsctl(t, "add-port", "br-int", seg, "--", "set", "interface", seg, "external_ids:owner=operator")
	}
	start := time.Now()
	for _, s := range []*bfdSite{a, b} {
		if err := s.c.EnsureSegmentBFD(ctx, "br-int", []string{seg}, s.bfdConfig(false)); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := awaitSegmentBFD(t, a, seg, "segment BFD up", BFDStatus.Up)
	t.Logf("segment BFD up %v after EnsureSegmentBFD (100 ms): %+v", time.Since(start).Round(time.Millisecond), st)
	if st.OFPort < 1 || st.OFPort != a.c.OFPorts("br-int")[seg] {
		t.Errorf("SegmentBFD = %+v, want %s's ofport %d", st, seg, a.c.OFPorts("br-int")[seg])
	}
	waitFor(t, "carrier on "+seg, func() bool { return a.c.LinkUp("br-int")[seg] })

	tx := a.counter.Transactions()
	if err := a.c.EnsureSegmentBFD(ctx, "br-int", []string{seg}, a.bfdConfig(false)); err != nil {
		t.Fatal(err)
	}
	if n := a.counter.Transactions() - tx; n != 0 {
		t.Errorf("EnsureSegmentBFD with nothing to do sent %d transactions", n)
	}

	// B resigns: A sees it alive but not forwarding.
	if err := b.c.EnsureSegmentBFD(ctx, "br-int", []string{seg}, b.bfdConfig(true)); err != nil {
		t.Fatal(err)
	}
	_, took := awaitSegmentBFD(t, a, seg, "B's cpath_down", BFDStatus.CPathDown)
	t.Logf("B's cpath_down seen by A in %v", took.Round(time.Millisecond))

	// The segment is cut (B's end loses carrier): A's session goes down.
	if _, err := b.ovs.Exec("ip", "link", "set", seg, "down"); err != nil {
		t.Fatal(err)
	}
	_, took = awaitSegmentBFD(t, a, seg, "segment cut", func(st BFDStatus) bool { return st.State != "up" })
	t.Logf("segment cut seen by A in %v", took.Round(time.Millisecond))
	waitFor(t, "B's "+seg+" without carrier", func() bool { return !b.c.LinkUp("br-int")[seg] })

	// Off again: the bfd column empty, the operator's external_ids kept.
	if err := a.c.EnsureSegmentBFD(ctx, "br-int", nil, a.bfdConfig(false)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "segment BFD gone", func() bool { _, ok := a.c.SegmentBFD("br-int")[seg]; return !ok })
	if got := vsctl(t, a.ovs, "get", "interface", seg, "bfd"); got != "{}" {
		t.Errorf("%s's bfd = %s, want {}", seg, got)
	}
	if got := vsctl(t, a.ovs, "get", "interface", seg, "external_ids"); got != `{owner=operator}` {
		t.Errorf("%s's external_ids = %s, want the operator's alone", seg, got)
	}

	// A BFD somebody else configured is refused and left alone.
	a.ovs.Vsctl(t, "set", "interface", seg, "bfd:enable=true")
	if err := a.c.EnsureSegmentBFD(ctx, "br-int", []string{seg}, a.bfdConfig(false)); err == nil {
		t.Error("EnsureSegmentBFD took over a BFD it did not configure")
	}
}
