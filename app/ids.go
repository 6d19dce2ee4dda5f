package app

import "sync/atomic"

// idSpace hands out the IDs of one kind of object: 1..maxObjectID, unique
// among live objects, from a cursor that wraps around, so a freed ID is
// reused as late as possible.
type idSpace struct {
	kind string
	used map[uint32]struct{}
	// next is the cursor. It changes under the State's lock; AddMACs's
	// store writes read it without.
	next atomic.Uint32
}

func newIDSpace(kind string) *idSpace {
	ids := &idSpace{kind: kind, used: make(map[uint32]struct{})}
	ids.next.Store(1)
	return ids
}

// allocate picks n free IDs without taking them, and returns the cursor to
// store once they are taken.
func (ids *idSpace) allocate(n int) ([]uint32, uint32, error) {
	if len(ids.used)+n > maxObjectID {
		return nil, 0, conflict(nil, "no free %s IDs left: %d are in use", ids.kind, len(ids.used))
	}
	out := make([]uint32, 0, n)
	id := ids.next.Load()
	for len(out) < n {
		if id < 1 || id > maxObjectID {
			id = 1
		}
		if _, used := ids.used[id]; !used {
			out = append(out, id)
		}
		id++
	}
	return out, id, nil
}

// free reports whether id is in range and not taken.
func (ids *idSpace) free(id uint32) bool {
	_, used := ids.used[id]
	return id >= 1 && id <= maxObjectID && !used
}

func (ids *idSpace) mark(id uint32)    { ids.used[id] = struct{}{} }
func (ids *idSpace) release(id uint32) { delete(ids.used, id) }
