package app

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/l2gw/l2gw/flows"
)

// TestOwnerCookiesHoldWhatAMapWould drives the table and a plain map of
// owners to cookies with the same random adds and sets, of static bindings
// (kept as hashes) and other owners, of zero to four flows each, and
// compares everything the table answers; once every owner's flows are
// gone, so are the table's pages.
func TestOwnerCookiesHoldWhatAMapWould(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 1))
	oc := newOwnerCookies()
	want := map[flows.Owner][]uint64{}
	owners := []flows.Owner{
		{Kind: flows.KindNetwork, ID: 1},
		{Kind: flows.KindBinding, ID: 2, Origin: flows.OriginEVPN},
	}
	for id := range uint32(40) { // in three pages, one far off
		owners = append(owners, flows.Owner{Kind: flows.KindBinding, ID: id * 3},
			flows.Owner{Kind: flows.KindBinding, ID: 1<<hashPageBits + id}, flows.Owner{Kind: flows.KindBinding, ID: 1<<22 + id})
	}
	cookies := func(o flows.Owner, n int) []uint64 {
		cs := make([]uint64, n)
		for i := range cs {
			cs[i] = o.Cookie(rng.Uint32())
		}
		return cs
	}
	for step := range 5000 {
		o := owners[rng.IntN(len(owners))]
		if rng.IntN(3) == 0 {
			c := cookies(o, 1)[0]
			oc.add(o, c)
			want[o] = append(slices.Clone(want[o]), c)
		} else {
			cs := cookies(o, rng.IntN(5))
			oc.set(o, slices.Clone(cs))
			if len(cs) == 0 {
				delete(want, o)
			} else {
				want[o] = cs
			}
		}
		if oc.len() != len(want) {
			t.Fatalf("step %d: %d owners, want %d", step, oc.len(), len(want))
		}
		for _, o := range owners {
			if got := oc.get(o); !slices.Equal(got, want[o]) || oc.count(o) != len(want[o]) || oc.has(o) != (len(want[o]) > 0) {
				t.Fatalf("step %d: %v has %x (count %d, has %v), want %x", step, o, got, oc.count(o), oc.has(o), want[o])
			}
		}
	}
	seen := map[flows.Owner][]uint64{}
	oc.each(func(o flows.Owner, cs []uint64) bool {
		if _, twice := seen[o]; twice {
			t.Errorf("each: %v twice", o)
		}
		seen[o] = slices.Clone(cs)
		return true
	})
	if !maps.EqualFunc(seen, want, slices.Equal) {
		t.Errorf("each: %v, want %v", seen, want)
	}
	for _, o := range oc.otherOwners() {
		if inTable(o) {
			t.Errorf("otherOwners: %v is a static binding", o)
		}
	}
	for _, o := range owners {
		oc.set(o, nil)
	}
	if oc.len() != 0 || slices.ContainsFunc(oc.pages, func(p *hashPage) bool { return p != nil }) {
		t.Errorf("all gone: %d owners, pages %v", oc.len(), oc.pages)
	}
}
