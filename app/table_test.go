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
	assertContents(t, tab, func(o macOwner) ([6]byte, string) { return o.hw, o.conn }, want)
}

// assertContents fails unless ranging over tab yields each element once,
// and what kv makes of them is want.
func assertContents[K comparable, E any, V comparable](t *testing.T, tab *splitTable[K, E], kv func(E) (K, V), want map[K]V) {
	t.Helper()
	got := map[K]V{}
	for e := range tab.all() {
		k, v := kv(e)
		if _, twice := got[k]; twice {
			t.Fatalf("all: %v twice", k)
		}
		got[k] = v
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
	if left := slices.Collect(tab.all()); tab.len() != 0 || len(left) != 0 {
		t.Fatalf("%d left (%d met)", tab.len(), len(left))
	}
}

// TestSplitTableSplitsAndHoldsWhatAMapWould puts far more elements than a
// segment holds, deletes a third and puts some back, and compares the
// table with a Go map: segments split (the directory grows) and every
// element is still found, once.
func TestSplitTableSplitsAndHoldsWhatAMapWould(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 4))
	tab := newMACTable(0)
	want := map[[6]byte]uint32{}
	for i := range 6 * maxSegment {
		hw := [6]byte{2, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		tab.put(macEntry{ID: uint32(i), hw: hw})
		want[hw] = uint32(i)
		if rng.IntN(3) == 0 {
			victim := [6]byte{2, 0, 0, 0, 0, 0}
			j := rng.IntN(i + 1)
			victim[2], victim[3], victim[4], victim[5] = byte(j>>24), byte(j>>16), byte(j>>8), byte(j)
			_, was := want[victim]
			if tab.del(victim) != was {
				t.Fatalf("del(%x) = %v", victim, !was)
			}
			delete(want, victim)
		}
	}
	if len(tab.dir) < 4 || tab.len() != len(want) {
		t.Fatalf("%d segments' places, %d elements (want %d)", len(tab.dir), tab.len(), len(want))
	}
	for hw, id := range want {
		if e, ok := tab.get(hw); !ok || e.ID != id {
			t.Fatalf("get(%x) = %v, %v; want ID %d", hw, e, ok, id)
		}
	}
	assertContents(t, tab, func(e macEntry) ([6]byte, uint32) { return e.hw, e.ID }, want)
	for _, s := range tab.dir {
		if s.n > maxSegment {
			t.Fatalf("a segment holds %d elements, over %d", s.n, maxSegment)
		}
	}
}

// TestSplitTableReservesABatchAtOnce: room reserved for a batch far
// larger than the table puts it in segments made for it (no split as it
// goes in), keeping what was there; reserving one more, as a single
// create does, changes nothing.
func TestSplitTableReservesABatchAtOnce(t *testing.T) {
	tab := newMACTable(0)
	tab.put(macEntry{ID: 1, hw: [6]byte{2, 0, 0, 0, 0, 1}})
	const n = 20 * maxSegment
	tab.reserve(n)
	places := len(tab.dir)
	if places < n/maxSegment {
		t.Fatalf("%d segment places for %d elements", places, n)
	}
	for i := 2; i <= n; i++ {
		tab.put(macEntry{ID: uint32(i), hw: [6]byte{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}})
		tab.reserve(tab.len() + 1)
	}
	if len(tab.dir) != places || tab.len() != n {
		t.Fatalf("%d places after the batch (%d before), %d elements", len(tab.dir), places, tab.len())
	}
	if e, ok := tab.get([6]byte{2, 0, 0, 0, 0, 1}); !ok || e.ID != 1 {
		t.Fatal("the element put before the reserve is gone")
	}
}
