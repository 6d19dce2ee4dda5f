package app

import (
	"net"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// ReplaceMACs makes macs the connection's whole set of bindings (empty
// clears it) and returns them normalised, in request order. A MAC that
// stays keeps its ID.
func (s *State) ReplaceMACs(conn string, macs MACBatch) ([]MACBinding, error) {
	var out []MACBinding
	err := s.mutate(func(ch *Change) error {
		cs := s.conns[conn]
		if cs == nil {
			return s.connNotFound(conn)
		}
		entries, err := parseMACs(macs)
		if err != nil {
			return err
		}
		if err := s.checkMACs(cs, entries, false); err != nil {
			return err
		}
		// Write only the difference to the current set (memory mirrors the
		// store): a PUT of a mostly unchanged set stays cheap.
		var fresh, changed []int
		newSet := make(map[[6]byte]struct{}, len(entries))
		for i, e := range entries {
			newSet[e.hw] = struct{}{}
			old, kept := cs.macs.get(e.hw)
			switch {
			case !kept:
				fresh = append(fresh, i)
				changed = append(changed, i)
			case !slices.Equal(old.addrs, e.addrs):
				changed = append(changed, i)
				fallthrough
			default:
				entries[i].ID = old.ID
			}
		}
		var removed [][6]byte
		for old := range cs.macs.all() {
			if _, stays := newSet[old.hw]; !stays {
				removed = append(removed, old.hw)
				ch.unbound(conn, old)
			}
		}
		ids, next, err := s.macIDs.allocate(len(fresh))
		if err != nil {
			return err
		}
		for j, i := range fresh {
			entries[i].ID = ids[j]
		}
		writes := make([]macEntry, len(changed))
		freshWrite := make([]bool, len(changed)) // fresh and changed are in request order
		for j, i := range changed {
			writes[j] = entries[i]
			freshWrite[j] = len(fresh) > 0 && fresh[0] == i
			if freshWrite[j] {
				fresh = fresh[1:]
			}
		}
		err = s.commit(func(tx *bolt.Tx) error {
			for _, hw := range removed {
				if err := deleteMAC(tx, conn, hw); err != nil {
					return err
				}
			}
			if err := putMACs(tx, conn, writes); err != nil {
				return err
			}
			return putCursor(tx, kindMAC, next)
		})
		if err != nil {
			return err
		}
		s.macIDs.next.Store(next)
		var before []macEntry
		if s.remote[cs.Network] != nil {
			before = slices.Collect(cs.macs.all())
		}
		s.unbindAll(cs)
		s.bindMACs(cs, entries)
		s.refreshStatic(cs.Network, append(before, entries...), ch)
		s.log.Info("macs replaced", "connection", conn, "count", len(entries), "written", len(writes), "removed", len(removed))
		out = cloneBindings(entries)
		ch.bound(conn, writes, func(j int) bool { return freshWrite[j] })
		return nil
	})
	return out, err
}

// ListMACs returns a connection's bindings, sorted by MAC.
func (s *State) ListMACs(conn string) ([]MACBinding, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	cs := s.conns[conn]
	if cs == nil {
		if d := s.derivedConnNamed(conn); d != nil {
			return s.derivedBindings(d), nil
		}
		return nil, notFound(nil, "connection %q not found", conn)
	}
	return cs.sortedBindings(), nil
}

// DeleteMAC unbinds one MAC (in any notation net.ParseMAC reads) from a
// connection.
func (s *State) DeleteMAC(conn, mac string) error {
	return s.mutate(func(ch *Change) error {
		cs := s.conns[conn]
		if cs == nil {
			return s.connNotFound(conn)
		}
		parsed, err := net.ParseMAC(mac)
		if err != nil || len(parsed) != 6 {
			return invalid(nil, "mac %q is not a 6-byte MAC address", mac)
		}
		e, bound := cs.macs.get([6]byte(parsed))
		if !bound {
			if act, ok := s.remote[cs.Network].activeOn(cs, [6]byte(parsed), s); ok {
				return conflict(nil, "mac %s on connection %q is told by origin %s: it is read-only here", parsed, conn, act.origin)
			}
			return notFound(nil, "mac %s is not bound on connection %q", parsed, conn)
		}
		if err := s.commit(func(tx *bolt.Tx) error { return deleteMAC(tx, conn, e.hw) }); err != nil {
			return err
		}
		s.unbindMAC(cs, s.networks[cs.Network], e)
		s.log.Info("mac deleted", "connection", conn, "mac", formatMAC(e.hw))
		ch.unbound(conn, e)
		s.refreshStatic(cs.Network, []macEntry{e}, ch)
		return nil
	})
}

// checkMACs rejects bindings that clash with the connection's network: a
// MAC bound on another connection (or, when adding, on this one), or an IP
// bound to a different MAC. When replacing, this connection's current set
// is about to go and clashes with it do not count.
func (s *State) checkMACs(cs *connState, entries []macEntry, adding bool) error {
	ns := s.networks[cs.Network]
	for i, e := range entries {
		if owner, bound := ns.macs.get(e.hw); bound && (adding || owner.conn != cs.Name) {
			return conflict(macPath(i), "mac %s is already bound on connection %q of network %q", formatMAC(e.hw), owner.conn, ns.Name)
		}
		for k, a := range e.addrs {
			if ip, bound := ns.ips.get(keyOf(a)); bound {
				if owner, _ := ns.macs.get(ip.hw); adding || owner.conn != cs.Name {
					return conflict(ipPath(i, k), "ip %s is already bound to mac %s on connection %q of network %q",
						a, formatMAC(ip.hw), owner.conn, ns.Name)
				}
			}
		}
	}
	return nil
}

func (s *State) bindMACs(cs *connState, entries []macEntry) {
	ns := s.networks[cs.Network]
	cs.macs.reserve(cs.macs.len() + len(entries))
	reserveIndexes(ns, entries)
	for _, e := range entries {
		s.bindMAC(cs, ns, e)
	}
}

func (s *State) bindMAC(cs *connState, ns *networkState, e macEntry) {
	cs.setBinding(e)
	s.indexMAC(cs, ns, e)
}

// indexMAC takes e's ID and puts its MAC and IPs in the network's index.
func (s *State) indexMAC(cs *connState, ns *networkState, e macEntry) {
	indexAddresses(cs, ns, e)
	s.macIDs.mark(e.ID)
}

// reserveIndexes makes room in ns's indexes for entries, not yet in them.
func reserveIndexes(ns *networkState, entries []macEntry) {
	ips := 0
	for i := range entries {
		ips += len(entries[i].addrs)
	}
	ns.macs.reserve(ns.macs.len() + len(entries))
	ns.ips.reserve(ns.ips.len() + ips)
}

// indexAddresses puts e's MAC and IPs, bound through cs, in the network's
// index.
func indexAddresses(cs *connState, ns *networkState, e macEntry) {
	ns.macs.put(macOwner{hw: e.hw, conn: cs.Name})
	for _, a := range e.addrs {
		ns.ips.put(ipOwner{ip: keyOf(a), hw: e.hw})
	}
}

func (s *State) unbindAll(cs *connState) {
	ns := s.networks[cs.Network]
	for e := range cs.macs.all() {
		s.unbindMAC(cs, ns, e)
	}
}

func (s *State) unbindMAC(cs *connState, ns *networkState, e macEntry) {
	cs.dropBinding(e.hw)
	s.unindexMAC(ns, e)
}

// unindexMAC undoes indexMAC.
func (s *State) unindexMAC(ns *networkState, e macEntry) {
	ns.macs.del(e.hw)
	for _, a := range e.addrs {
		ns.ips.del(keyOf(a))
	}
	s.macIDs.release(e.ID)
}

func (cs *connState) sortedBindings() []MACBinding {
	entries := slices.Collect(cs.macs.all())
	sortMACEntries(entries)
	return cloneBindings(entries)
}

// cloneBindings returns the API form of entries (all IP lists carved from
// one array).
func cloneBindings(entries []macEntry) []MACBinding {
	total := 0
	for _, e := range entries {
		total += len(e.addrs)
	}
	ips := make([]string, 0, total)
	out := make([]MACBinding, len(entries))
	for i, e := range entries {
		out[i] = MACBinding{MAC: formatMAC(e.hw), ID: e.ID}
		if len(e.addrs) > 0 {
			start := len(ips)
			for _, a := range e.addrs {
				ips = append(ips, a.String())
			}
			out[i].IPs = ips[start:len(ips):len(ips)]
		}
	}
	return out
}
