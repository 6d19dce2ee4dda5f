package app

import (
	"context"
	"log/slog"
	"testing"

	"github.com/l2gw/l2gw/ovsdb"
)

// boundReconciler returns a reconciler whose switch holds the flows of
// 100,000 bindings (and the fixture's), in sync.
func boundReconciler(b *testing.B) (*State, *memSwitch, *Reconciler) {
	s := openState(b, b.TempDir())
	b.Cleanup(func() { s.Close() })
	fixture(b, s)
	must[[]MACBinding](b)(s.AddMACs("a-b", manyBindings(100_000, 1)))
	sw := newMemSwitch()
	br := &fixedBridge{ports: map[string]uint32{"eth1": 1, "trunk0": 2, "eth2": 3,
		ovsdb.TunnelPortName(TypeVXLAN): 4, ovsdb.TunnelPortName(TypeGeneve): 5}}
	r := NewReconciler(ReconcilerConfig{Bridge: "br-int", Logger: slog.New(slog.DiscardHandler)}, s, sw, br)
	reconcileOK(b, r)
	return s, sw, r
}

// BenchmarkVerify100k is what a restarted l2gwd does at 100,000 bindings
// when the switch is right: dump, compile everything, compare; nothing to
// send.
func BenchmarkVerify100k(b *testing.B) {
	_, sw, r := boundReconciler(b)
	sw.mods = 0
	b.ReportAllocs()
	for b.Loop() {
		r.synced = false // a reconnection
		if err := r.reconcile(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	if sw.mods != 0 {
		b.Fatalf("verifying a right switch sent %d flow_mods", sw.mods)
	}
}

// BenchmarkOneBindingAt100k is the reconciler's work for one binding added
// at 100,000 bound: read the change, compile its flows, compare with the
// model, send its two flow_mods (the durable write is not measured).
func BenchmarkOneBindingAt100k(b *testing.B) {
	s, sw, r := boundReconciler(b)
	next := 200_000
	sw.mods = 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		must[[]MACBinding](b)(s.AddMACs("a-b", manyBindings(1, next)))
		next++
		b.StartTimer()
		if err := r.reconcile(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	if sw.mods != 2*b.N { // forwarding and the ND answer of its IPv6 address
		b.Fatalf("%d bindings added sent %d flow_mods, want %d", b.N, sw.mods, 2*b.N)
	}
}
