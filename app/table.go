package app

import (
	"encoding/binary"
	"iter"
	"math/bits"
	"math/rand/v2"
)

// openTable is a set of elements of type E, each known by its key K
// (keyOf), in one array: open addressing with linear probing over a
// capacity of any size (an element's home is its hash's upper bits scaled
// to the capacity), at most four slots in five taken. The key lives in the
// element, not beside it. A delete leaves a tombstone, so a range over the
// table may delete what it meets, as over a Go map; it must not put. It
// is a segment of a splitTable.
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

// splitTable is a set of elements of type E known by their keys K, in
// openTable segments chosen by the hash's lower bits (extendible hashing):
// a segment that would grow past maxSegment elements splits in two, so no
// put rehashes more than that, where one table of a million would hold the
// state's lock for a rehash of all (~0.4 s). It holds what the state
// indexes per binding, a million of them on a large gateway: a Go map
// there took 2.4 times its slots (119 MB for a million bindings' entries,
// 63 MB for the MAC index), this takes 1.25-2 times. A range may delete
// what it meets, as over a Go map; it must not put.
type splitTable[K comparable, E any] struct {
	dir   []*segment[K, E] // by hash & (len(dir)-1); a segment may sit at several
	n     int
	keyOf func(*E) K
	hash  func(K) uint64
}

// segment is an openTable of the elements whose hashes end with the
// depth bits of its first place in the directory.
type segment[K comparable, E any] struct {
	openTable[K, E]
	depth uint8
}

// maxSegment is the most elements a segment holds: a rehash of one moves
// at most 8,192 elements (~0.3 MB of bindings' entries).
const maxSegment = 8192

func newSplitTable[K comparable, E any](keyOf func(*E) K, hash func(K) uint64, hint int) *splitTable[K, E] {
	t := &splitTable[K, E]{keyOf: keyOf, hash: hash}
	depth := uint8(0)
	for hint>>depth > maxSegment*3/4 {
		depth++
	}
	t.dir = make([]*segment[K, E], 1<<depth)
	for i := range t.dir {
		t.dir[i] = &segment[K, E]{openTable: *newOpenTable(keyOf, hash, hint>>depth), depth: depth}
	}
	return t
}

// reserve makes room for n elements in all. A batch far larger than the
// table (a bulk of a million into an empty connection) goes into segments
// made for all of it at once, where splitting as it grew moved each
// element some seven times; smaller ones grow as put does.
func (t *splitTable[K, E]) reserve(n int) {
	if n <= maxSegment || n < 2*t.n {
		return
	}
	bigger := newSplitTable(t.keyOf, t.hash, n)
	for e := range t.all() {
		bigger.put(e)
	}
	*t = *bigger
}

func (t *splitTable[K, E]) segmentOf(k K) *segment[K, E] {
	return t.dir[t.hash(k)&uint64(len(t.dir)-1)]
}

// len returns the number of elements.
func (t *splitTable[K, E]) len() int { return t.n }

// get returns the element of key k, if there is one.
func (t *splitTable[K, E]) get(k K) (E, bool) { return t.segmentOf(k).get(k) }

// has reports whether an element has key k.
func (t *splitTable[K, E]) has(k K) bool { return t.segmentOf(k).has(k) }

// put adds e, or replaces the element of its key.
func (t *splitTable[K, E]) put(e E) {
	k := t.keyOf(&e)
	s := t.segmentOf(k)
	if s.n >= maxSegment && !s.has(k) {
		t.split(s)
		s = t.segmentOf(k)
	}
	before := s.n
	s.openTable.put(e)
	t.n += s.n - before
}

// del removes the element of key k, and reports whether there was one.
func (t *splitTable[K, E]) del(k K) bool {
	if t.segmentOf(k).del(k) {
		t.n--
		return true
	}
	return false
}

// split parts segment s in two by the next bit of its elements' hashes,
// doubling the directory first if s is as deep as it.
func (t *splitTable[K, E]) split(s *segment[K, E]) {
	if 1<<s.depth == len(t.dir) {
		t.dir = append(t.dir, t.dir...)
	}
	bit := uint64(1) << s.depth
	lo := &segment[K, E]{openTable: *newOpenTable(t.keyOf, t.hash, maxSegment*3/4), depth: s.depth + 1}
	hi := &segment[K, E]{openTable: *newOpenTable(t.keyOf, t.hash, maxSegment*3/4), depth: s.depth + 1}
	for e := range s.all() {
		if t.hash(t.keyOf(&e))&bit == 0 {
			lo.place(&e)
		} else {
			hi.place(&e)
		}
	}
	for i := range t.dir {
		if t.dir[i] == s {
			if uint64(i)&bit == 0 {
				t.dir[i] = lo
			} else {
				t.dir[i] = hi
			}
		}
	}
}

// all yields every element. The range may delete elements: one deleted
// before it is reached is not yielded.
func (t *splitTable[K, E]) all() iter.Seq[E] {
	return func(yield func(E) bool) {
		for i, s := range t.dir {
			if uint64(i) >= 1<<s.depth {
				continue // met at its first place
			}
			for e := range s.all() {
				if !yield(e) {
					return
				}
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
type macTable = splitTable[[6]byte, macEntry]

func newMACTable(hint int) *macTable {
	return newSplitTable(func(e *macEntry) [6]byte { return e.hw }, hashMAC, hint)
}

// macOwner is a MAC of a network's index: the connection that binds (or
// reserves) it.
type macOwner struct {
	hw   [6]byte
	conn string
}

// macOwners is a network's index of MACs.
type macOwners = splitTable[[6]byte, macOwner]

func newMACOwners(hint int) *macOwners {
	return newSplitTable(func(o *macOwner) [6]byte { return o.hw }, hashMAC, hint)
}

// ipOwner is an IP of a network's index: the MAC it is bound (or
// reserved) to.
type ipOwner struct {
	ip addrKey
	hw [6]byte
}

// ipOwners is a network's index of IPs.
type ipOwners = splitTable[addrKey, ipOwner]

func newIPOwners(hint int) *ipOwners {
	return newSplitTable(func(o *ipOwner) addrKey { return o.ip }, hashAddr, hint)
}
