package app

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestOpenTableHoldsWhatAMapWould drives a table of MAC owners and a Go map
// with the same random puts and deletes, over a small pool of MACs (long
// probes that wrap around, tombstones reused), through growth and
// compaction, and compares every lookup and the contents.
func TestOpenTableHoldsWhatAMapWould(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 3))
	var pool [][6]byte
	for range 2000 {
		var hw [6]byte
		for i := range hw {
			hw[i] = byte(rng.IntN(4)) // few distinct bytes: many alike
		}
		hw[5] = byte(len(pool))
		hw[4] = byte(len(pool) >> 8)
		pool = append(pool, hw)
	}
	tab := newMACOwners(0)
	want := map[[6]byte]string{}
	for step := range 60000 {
		hw := pool[rng.IntN(len(pool))]
		switch rng.IntN(5) {
		case 0, 1:
			_, was := want[hw]
			if got := tab.del(hw); got != was {
				t.Fatalf("step %d: del(%x) = %v, want %v", step, hw, got, was)
			}
			delete(want, hw)
		default:
			o := macOwner{hw: hw, conn: string(rune('a' + rng.IntN(26)))}
			tab.put(o)
			want[hw] = o.conn
		}
		if tab.len() != len(want) {
			t.Fatalf("step %d: %d elements, want %d", step, tab.len(), len(want))
		}
		if step%1499 == 0 {
			for _, hw := range pool {
				o, ok := tab.get(hw)
				if w, wok := want[hw]; ok != wok || ok && (o.conn != w || o.hw != hw) || tab.has(hw) != wok {
					t.Fatalf("step %d: get(%x) = %v, %v; want %q, %v", step, hw, o, ok, w, wok)
				}
			}
		}
	}
	got := map[[6]byte]string{}
	for o := range tab.all() {
		if _, twice := got[o.hw]; twice {
			t.Fatalf("all: %x twice", o.hw)
		}
		got[o.hw] = o.conn
	}
	if !maps.Equal(got, want) {
		t.Fatalf("all: %d elements, want %d", len(got), len(want))
	}
}

// TestOpenTableRangeMayDelete deletes, during a range, each element met
// and others not yet met: every element is met once, but for those
// deleted before they were reached, as over a Go map.
func TestOpenTableRangeMayDelete(t *testing.T) {
	tab := newMACOwners(0)
	var all [][6]byte
	for i := range 3000 {
		hw := [6]byte{2, 0, 0, 0, byte(i >> 8), byte(i)}
		tab.put(macOwner{hw: hw, conn: "c"})
		all = append(all, hw)
	}
	met := map[[6]byte]bool{}
	deletedEarly := map[[6]byte]bool{}
	for o := range tab.all() {
		if met[o.hw] || deletedEarly[o.hw] {
			t.Fatalf("met %x again, or after it was deleted", o.hw)
		}
		met[o.hw] = true
		tab.del(o.hw)
		if other := all[len(met)*7%len(all)]; !met[other] && tab.del(other) {
			deletedEarly[other] = true
		}
	}
	for _, hw := range all {
		if !met[hw] && !deletedEarly[hw] {
			t.Fatalf("%x was never met", hw)
		}
	}
	if tab.len() != 0 || slices.ContainsFunc(tab.state, func(s uint8) bool { return s == slotUsed }) {
		t.Fatalf("%d left", tab.len())
	}
}

// TestOpenTableReservingOneMoreEachTimeGrowsGeometrically: a table
// reserved one more element before each put (a create of one binding at a
// time) rehashes a few dozen times over twenty thousand puts, not at
// each.
func TestOpenTableReservingOneMoreEachTimeGrowsGeometrically(t *testing.T) {
	tab := newMACOwners(0)
	rehashes, size := 0, len(tab.slots)
	for i := range 20_000 {
		tab.reserve(tab.len() + 1)
		tab.put(macOwner{hw: [6]byte{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}})
		if len(tab.slots) != size {
			rehashes, size = rehashes+1, len(tab.slots)
		}
	}
	if rehashes > 40 {
		t.Fatalf("%d rehashes over 20,000 puts", rehashes)
	}
}
