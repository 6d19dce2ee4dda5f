package app

import "slices"

// Change says what one committed mutation touched, so that a subscriber
// (the reconciler) can redo only that: a change's cost follows its size,
// not the size of the state.
type Change struct {
	// Topology is set when networks, remote gateways or connections
	// changed.
	Topology bool
	// Bindings lists the bindings added or changed and removed (also
	// those a deleted connection took with it), in order. What a binding
	// holds is read from the State.
	Bindings []BindingChange
	// RemoteMACs lists the remote MACs of dynamic origins whose flows
	// change: one that starts or stops compiling (told, withdrawn,
	// shadowed, taking over) or compiles differently (other IPs it
	// answers for, another tunnel). What it holds is read from the State.
	RemoteMACs []RemoteMACChange
	// Synced lists the dynamic origins that have told everything since
	// l2gwd started or their feed was reset (or whose hold time passed):
	// what the switch still holds of them and they did not tell again
	// goes.
	Synced []Origin
	// BGPPeers is set when a BGP peer was created, replaced or deleted.
	// No flow depends on the peers: the reconciler ignores a change of
	// only them.
	BGPPeers bool
}

// RemoteMACChange names one remote MAC of a dynamic origin in a network.
type RemoteMACChange struct {
	Origin  Origin
	Network string
	MAC     [6]byte
}

// empty reports whether c touches nothing.
func (c *Change) empty() bool {
	return !c.touchesFlows() && !c.BGPPeers
}

// touchesFlows reports whether c touches what the flows are compiled from.
func (c *Change) touchesFlows() bool {
	return c.Topology || len(c.Bindings) > 0 || len(c.RemoteMACs) > 0 || len(c.Synced) > 0
}

// BindingChange names one binding added, changed or removed.
type BindingChange struct {
	Connection string
	MAC        [6]byte
	ID         uint32 // the binding's ID (for a removal, the ID it had)
	Removed    bool
	// Fresh says the ID was free until this change: a switch that holds
	// the desired state has no flow of it yet.
	Fresh bool
}

// bound names entries, bound through conn; fresh says which have an ID
// that was free until now.
func (c *Change) bound(conn string, entries []macEntry, fresh func(i int) bool) {
	c.Bindings = slices.Grow(c.Bindings, len(entries))
	for i, e := range entries {
		c.Bindings = append(c.Bindings, BindingChange{Connection: conn, MAC: e.hw, ID: e.ID, Fresh: fresh(i)})
	}
}

// allFresh and noneFresh are bound's fresh for entries of new IDs only, or
// of IDs they had.
func allFresh(int) bool  { return true }
func noneFresh(int) bool { return false }

func (c *Change) unbound(conn string, e macEntry) {
	c.Bindings = append(c.Bindings, BindingChange{Connection: conn, MAC: e.hw, ID: e.ID, Removed: true})
}

// Subscribe registers fn to be called with every change committed from now
// on, exactly once, in the order the changes became visible (which is their
// commit order; AddMACs calls committed in one shared transaction come in
// any order among themselves), outside the State's lock and before the
// change's caller gets its answer. fn may read the State; calls are never
// concurrent.
func (s *State) Subscribe(fn func(Change)) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.deliverLocked() // changes committed before now go to the others only
	s.subs = append(s.subs, fn)
}

// publish queues a committed change for the subscribers; mu is held, so
// the queue is in the order changes became visible.
func (s *State) publish(ch Change) {
	s.changesMu.Lock()
	s.changes = append(s.changes, ch)
	s.changesMu.Unlock()
}

// deliver hands every queued change to the subscribers. Called after
// publish, without mu: when it returns, the caller's change has been
// delivered, by this call or by the one that holds subMu before it.
func (s *State) deliver() {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.deliverLocked()
}

func (s *State) deliverLocked() {
	s.changesMu.Lock()
	changes := s.changes
	s.changes = nil
	s.changesMu.Unlock()
	for _, ch := range changes {
		for _, fn := range s.subs {
			fn(ch)
		}
	}
}
