package app

import "sync/atomic"

// idSpace hands out the IDs of one kind of object: 1..maxObjectID, unique
// among live objects, from a cursor that wraps around, so a freed ID is
// reused as late as possible.
type idSpace struct {
	kind string
	// used has bit id%64 of word id/64 set for each ID taken; it grows to
	// the highest ID taken (2 MiB at most), a bit per ID where a map of a
	// million IDs held 20 MB and missed the cache on every lookup.
	used  []uint64
	count int // IDs taken
	// next is the cursor. It changes under the State's lock; AddMACs's
	// store writes read it without.
	next atomic.Uint32
}

func newIDSpace(kind string) *idSpace {
	ids := &idSpace{kind: kind}
	ids.next.Store(1)
	return ids
}

// inUse returns how many IDs are taken.
func (ids *idSpace) inUse() int { return ids.count }

// allocate picks n free IDs without taking them, and returns the cursor to
// store once they are taken.
func (ids *idSpace) allocate(n int) ([]uint32, uint32, error) {
	if ids.count+n > maxObjectID {
		return nil, 0, conflict(nil, "no free %s IDs left: %d are in use", ids.kind, ids.count)
	}
	out := make([]uint32, 0, n)
	id := ids.next.Load()
	for len(out) < n {
		if id < 1 || id > maxObjectID {
			id = 1
		}
		if !ids.taken(id) {
			out = append(out, id)
		}
		id++
	}
	return out, id, nil
}

// taken reports whether id is in use.
func (ids *idSpace) taken(id uint32) bool {
	w := int(id / 64)
	return w < len(ids.used) && ids.used[w]&(1<<(id%64)) != 0
}

// free reports whether id is in range and not taken.
func (ids *idSpace) free(id uint32) bool {
	return id >= 1 && id <= maxObjectID && !ids.taken(id)
}

func (ids *idSpace) mark(id uint32) {
	w, bit := int(id/64), uint64(1)<<(id%64)
	if w >= len(ids.used) {
		ids.used = append(ids.used, make([]uint64, w+1-len(ids.used))...)
	}
	if ids.used[w]&bit == 0 {
		ids.used[w] |= bit
		ids.count++
	}
}

func (ids *idSpace) release(id uint32) {
	w, bit := int(id/64), uint64(1)<<(id%64)
	if w < len(ids.used) && ids.used[w]&bit != 0 {
		ids.used[w] &^= bit
		ids.count--
	}
}
