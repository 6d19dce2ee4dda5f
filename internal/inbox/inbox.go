// Package inbox is the unbounded inbox of a single-goroutine event loop
// (the EVPN speaker's, the hardware_vtep origin's): pushing never blocks
// the pusher (a library's callback, the local-MAC watch), and the loop
// takes everything pushed since its last turn at once.
package inbox

import "sync"

// Inbox holds items for one reader. The zero value is not usable: use New.
type Inbox struct {
	mu    sync.Mutex
	items []any
	wake  chan struct{}
}

// New returns an empty inbox.
func New() *Inbox { return &Inbox{wake: make(chan struct{}, 1)} }

// Push adds v and wakes the reader.
func (q *Inbox) Push(v any) {
	q.mu.Lock()
	q.items = append(q.items, v)
	q.mu.Unlock()
	q.Poke()
}

// Poke wakes the reader without an item (it never allocates nor blocks):
// for a change the reader reads elsewhere.
func (q *Inbox) Poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Wake receives a value after every Push or Poke not yet seen (coalesced).
func (q *Inbox) Wake() <-chan struct{} { return q.wake }

// Take returns the items pushed since the last Take, in order.
func (q *Inbox) Take() []any {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}
