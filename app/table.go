package app

import (
	"encoding/binary"
	"iter"
	"math/bits"
	"math/rand/v2"
)

// openTable is a set of elements of type E, each known by its key K
// (keyOf), in one array: open addressing with linear probing over a
// capacity of any size (an element's home is its hash scaled to the
// capacity), at most four slots in five taken. It holds what the state
// indexes per binding, a million of them on a large gateway: a Go map
// there took 2.4 times its slots (119 MB for a million bindings' entries,
// 63 MB for the MAC index), this takes 1.25-2 times. The key lives in the
// element, not beside it. A delete leaves a tombstone, so a range over the
// table may delete what it meets, as over a Go map; it must not put.
type openTable[K comparable, E any] struct {
	slots []E
	state []uint8 // slotFree, slotUsed or slotDeleted
	n     int     // used slots
	gone  int     // deleted slots
	keyOf func(*E) K
	hash  func(K) uint64
}

const (
	slotFree uint8 = iota
	slotUsed
	slotDeleted
)

// minTableSlots is the smallest capacity a table allocates.
const minTableSlots = 8

func newOpenTable[K comparable, E any](keyOf func(*E) K, hash func(K) uint64, hint int) *openTable[K, E] {
	t := &openTable[K, E]{keyOf: keyOf, hash: hash}
	t.rehash(hint + hint/16) // room for a sixteenth more before it grows
	return t
}

// rehash makes the table hold n elements at four in five slots, and puts
// the used ones back in (tombstones go).
func (t *openTable[K, E]) rehash(n int) {
	slots, state := t.slots, t.state
	size := max(minTableSlots, n+n/4+1)
	t.slots, t.state, t.n, t.gone = make([]E, size), make([]uint8, size), 0, 0
	for i := range slots {
		if state[i] == slotUsed {
			t.place(&slots[i])
		}
	}
}

// reserve makes room for n elements in all, so that a batch goes in with
// one rehash at most, not one per growth (each holds the old and the new
// arrays at once). It grows as put does, by half at least: a table
// reserved one more each time rehashes now and then, not every time.
func (t *openTable[K, E]) reserve(n int) {
	if (n+t.gone)*5 > len(t.slots)*4 {
		t.rehash(max(n, t.n*3/2))
	}
}

// home returns the slot where key k's probe starts.
func (t *openTable[K, E]) home(k K) int {
	hi, _ := bits.Mul64(t.hash(k), uint64(len(t.slots)))
	return int(hi)
}

// find returns k's slot and true, or false and the slot a new element of
// key k goes to (the first tombstone on its probe, else the free slot that
// ends it).
func (t *openTable[K, E]) find(k K) (int, bool) {
	spare := -1
	for i := t.home(k); ; {
		switch t.state[i] {
		case slotFree:
			if spare < 0 {
				spare = i
			}
			return spare, false
		case slotDeleted:
			if spare < 0 {
				spare = i
			}
		default:
			if t.keyOf(&t.slots[i]) == k {
				return i, true
			}
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

// place puts e, whose key is not in the table, in a free slot.
func (t *openTable[K, E]) place(e *E) {
	i, _ := t.find(t.keyOf(e))
	t.slots[i], t.state[i] = *e, slotUsed
	t.n++
}

// len returns the number of elements.
func (t *openTable[K, E]) len() int { return t.n }

// get returns the element of key k, if there is one.
func (t *openTable[K, E]) get(k K) (E, bool) {
	if i, ok := t.find(k); ok {
		return t.slots[i], true
	}
	var none E
	return none, false
}

// has reports whether an element has key k.
func (t *openTable[K, E]) has(k K) bool {
	_, ok := t.find(k)
	return ok
}

// put adds e, or replaces the element of its key.
func (t *openTable[K, E]) put(e E) {
	i, ok := t.find(t.keyOf(&e))
	if ok {
		t.slots[i] = e
		return
	}
	if t.state[i] == slotFree && (t.n+t.gone+1)*5 > len(t.slots)*4 {
		t.rehash((t.n + 1) * 3 / 2) // tombstones aside, half as much room again
		i, _ = t.find(t.keyOf(&e))
	}
	if t.state[i] == slotDeleted {
		t.gone--
	}
	t.slots[i], t.state[i] = e, slotUsed
	t.n++
}

// del removes the element of key k, and reports whether there was one.
func (t *openTable[K, E]) del(k K) bool {
	i, ok := t.find(k)
	if !ok {
		return false
	}
	var none E
	t.slots[i], t.state[i] = none, slotDeleted
	t.n--
	t.gone++
	return true
}

// all yields every element. The range may delete elements: one deleted
// before it is reached is not yielded.
func (t *openTable[K, E]) all() iter.Seq[E] {
	return func(yield func(E) bool) {
		for i := range t.slots {
			if t.state[i] == slotUsed && !yield(t.slots[i]) {
				return
			}
		}
	}
}

// tableSeed keys the tables' hashes for this process: keys a client
// chooses (MACs, IPs) cannot be picked to share a probe.
var tableSeed = rand.Uint64()

// mix is a 64-bit finaliser (MurmurHash3's): every input bit moves about
// half the output bits.
func mix(v uint64) uint64 {
	v ^= v >> 33
	v *= 0xff51afd7ed558ccd
	v ^= v >> 33
	v *= 0xc4ceb9fe1a85ec53
	v ^= v >> 33
	return v
}

func hashMAC(hw [6]byte) uint64 {
	return mix(tableSeed ^ (uint64(hw[0])<<40 | uint64(hw[1])<<32 | uint64(binary.BigEndian.Uint32(hw[2:]))))
}

func hashAddr(k addrKey) uint64 {
	hi, lo := binary.BigEndian.Uint64(k.a[:8]), binary.BigEndian.Uint64(k.a[8:])
	if k.is4 {
		lo ^= 1
	}
	return mix(mix(tableSeed^hi) ^ lo)
}

// macTable holds a connection's bindings by MAC.
type macTable = openTable[[6]byte, macEntry]

func newMACTable(hint int) *macTable {
	return newOpenTable(func(e *macEntry) [6]byte { return e.hw }, hashMAC, hint)
}

// macOwner is a MAC of a network's index: the connection that binds (or
// reserves) it.
type macOwner struct {
	hw   [6]byte
	conn string
}

// macOwners is a network's index of MACs.
type macOwners = openTable[[6]byte, macOwner]

func newMACOwners(hint int) *macOwners {
	return newOpenTable(func(o *macOwner) [6]byte { return o.hw }, hashMAC, hint)
}

// ipOwner is an IP of a network's index: the MAC it is bound (or
// reserved) to.
type ipOwner struct {
	ip addrKey
	hw [6]byte
}

// ipOwners is a network's index of IPs.
type ipOwners = openTable[addrKey, ipOwner]

func newIPOwners(hint int) *ipOwners {
	return newOpenTable(func(o *ipOwner) addrKey { return o.ip }, hashAddr, hint)
}
