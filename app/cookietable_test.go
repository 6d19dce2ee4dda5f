package app

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestCookieTableHoldsWhatAMapWould drives the table and a Go map with the
// same random puts and deletes, of cookies drawn from a small pool (long
// probe runs, deletes inside them) and cookie 0, through several resizes,
// and compares every lookup and the contents.
func TestCookieTableHoldsWhatAMapWould(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 2))
	pool := []uint64{0}
	for range 3000 {
		pool = append(pool, rng.Uint64()&^0xF|uint64(rng.IntN(4))) // some share their low bits
	}
	tab := newCookieTable[uint8](0)
	want := map[uint64]uint8{}
	for step := range 40000 {
		c := pool[rng.IntN(len(pool))]
		if rng.IntN(3) == 0 {
			_, was := want[c]
			if got := tab.del(c); got != was {
				t.Fatalf("step %d: del(%x) = %v, want %v", step, c, got, was)
			}
			delete(want, c)
		} else {
			v := uint8(rng.Uint32())
			tab.put(c, v)
			want[c] = v
		}
		if tab.len() != len(want) {
			t.Fatalf("step %d: %d cookies, want %d", step, tab.len(), len(want))
		}
		if step%997 == 0 {
			for _, c := range pool {
				v, ok := tab.get(c)
				if w, wok := want[c]; ok != wok || v != w {
					t.Fatalf("step %d: get(%x) = %d, %v; want %d, %v", step, c, v, ok, w, wok)
				}
			}
		}
	}
	got := map[uint64]uint8{}
	tab.each(func(c uint64, v uint8) bool {
		got[c] = v
		return true
	})
	if !maps.Equal(got, want) {
		t.Fatalf("each: %d entries, want %d", len(got), len(want))
	}
	if !slices.Equal(tab.sorted(), slices.Sorted(maps.Keys(want))) {
		t.Fatal("sorted: not the cookies in order")
	}
	odd := func(c uint64, _ uint8) bool { return c%2 == 1 }
	tab.deleteIf(odd)
	maps.DeleteFunc(want, odd)
	if tab.len() != len(want) {
		t.Fatalf("deleteIf: %d left, want %d", tab.len(), len(want))
	}
	for c, v := range want {
		if g, ok := tab.get(c); !ok || g != v {
			t.Fatalf("after deleteIf: get(%x) = %d, %v; want %d", c, g, ok, v)
		}
	}
}
