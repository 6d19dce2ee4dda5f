package app

import (
	"math/bits"
	"slices"
)

// cookieTable maps flow cookies to values of type V in one open-addressed
// table (linear probing, deletes shift the run back: no tombstones). It
// holds the sets a full sync builds of every flow on the bridge, two
// million at a million bindings: a slot is 8 bytes and the sizeof(V), and
// at least three in eight slots are full, where a Go map of uint64 takes
// some 38 bytes an entry. It is not a splitTable (table.go): a cookie is
// its own key, kept apart from the value, with no element and no state
// byte around it (the tally's would take 17 bytes a slot, not 9).
type cookieTable[V any] struct {
	keys  []uint64 // 0: a free slot
	vals  []V
	n     int // entries, cookie 0 aside
	shift uint8
	zero  bool // cookie 0 is in (it cannot have a slot)
	zeroV V
}

// cookieSet is a set of flow cookies.
type cookieSet = cookieTable[struct{}]

// minCookieSlots is the size of a table's first allocation.
const minCookieSlots = 16

// newCookieTable returns a table with room for about n cookies.
func newCookieTable[V any](n int) *cookieTable[V] {
	t := &cookieTable[V]{}
	t.resize(n)
	return t
}

// resize makes room for n cookies (at most three quarters of the slots
// full) and puts every entry back in.
func (t *cookieTable[V]) resize(n int) {
	size := max(minCookieSlots, 1<<bits.Len(uint(n+n/3)))
	keys, vals := t.keys, t.vals
	t.keys, t.vals = make([]uint64, size), make([]V, size)
	t.shift = uint8(64 - bits.TrailingZeros(uint(size)))
	t.n = 0
	for i, k := range keys {
		if k != 0 {
			t.put(k, vals[i])
		}
	}
}

// home is the slot where cookie c's probe starts: a cookie's low half is
// a hash already, its upper half names an owner; multiplying mixes both.
func (t *cookieTable[V]) home(c uint64) int {
	return int(c * 0x9E3779B97F4A7C15 >> t.shift)
}

// find returns the slot of c, or of the free slot where it would go.
func (t *cookieTable[V]) find(c uint64) int {
	mask := len(t.keys) - 1
	i := t.home(c)
	for t.keys[i] != 0 && t.keys[i] != c {
		i = (i + 1) & mask
	}
	return i
}

// len returns the number of cookies in t.
func (t *cookieTable[V]) len() int {
	if t == nil {
		return 0
	}
	if t.zero {
		return t.n + 1
	}
	return t.n
}

// get returns c's value and whether c is in t.
func (t *cookieTable[V]) get(c uint64) (V, bool) {
	var none V
	switch {
	case t == nil:
		return none, false
	case c == 0:
		return t.zeroV, t.zero
	}
	if i := t.find(c); t.keys[i] != 0 {
		return t.vals[i], true
	}
	return none, false
}

// has reports whether c is in t.
func (t *cookieTable[V]) has(c uint64) bool {
	_, ok := t.get(c)
	return ok
}

// put sets c's value to v.
func (t *cookieTable[V]) put(c uint64, v V) {
	if c == 0 {
		t.zero, t.zeroV = true, v
		return
	}
	if (t.n+1)*4 > len(t.keys)*3 {
		t.resize(2 * (t.n + 1))
	}
	i := t.find(c)
	if t.keys[i] == 0 {
		t.keys[i] = c
		t.n++
	}
	t.vals[i] = v
}

// add puts c in a set.
func (t *cookieTable[V]) add(c uint64) {
	var v V
	t.put(c, v)
}

// del removes c, and reports whether it was in t.
func (t *cookieTable[V]) del(c uint64) bool {
	if c == 0 {
		var none V
		was := t.zero
		t.zero, t.zeroV = false, none
		return was
	}
	i := t.find(c)
	if t.keys[i] == 0 {
		return false
	}
	// Shift back every entry of the run after i whose probe started at or
	// before the hole, so that each stays reachable from its home.
	mask := len(t.keys) - 1
	var none V
	for j := (i + 1) & mask; t.keys[j] != 0; j = (j + 1) & mask {
		if h := t.home(t.keys[j]); (j-h)&mask >= (j-i)&mask {
			t.keys[i], t.vals[i] = t.keys[j], t.vals[j]
			i = j
		}
	}
	t.keys[i], t.vals[i] = 0, none
	t.n--
	return true
}

// each calls fn with every cookie and its value, until fn returns false.
// fn must not change t.
func (t *cookieTable[V]) each(fn func(c uint64, v V) bool) {
	if t == nil {
		return
	}
	if t.zero && !fn(0, t.zeroV) {
		return
	}
	for i, k := range t.keys {
		if k != 0 && !fn(k, t.vals[i]) {
			return
		}
	}
}

// deleteIf removes every cookie for which drop returns true. drop must
// not change t.
func (t *cookieTable[V]) deleteIf(drop func(c uint64, v V) bool) {
	var gone []uint64
	t.each(func(c uint64, v V) bool {
		if drop(c, v) {
			gone = append(gone, c)
		}
		return true
	})
	for _, c := range gone {
		t.del(c)
	}
}

// sorted returns t's cookies in increasing order.
func (t *cookieTable[V]) sorted() []uint64 {
	out := make([]uint64, 0, t.len())
	t.each(func(c uint64, _ V) bool {
		out = append(out, c)
		return true
	})
	slices.Sort(out)
	return out
}
