package app

import bolt "go.etcd.io/bbolt"

// MACMove asks to move static bindings, each with its IPs, to connection To
// from wherever they are bound in To's network. From, when set, is a
// precondition: every MAC not yet on To must be bound on From.
type MACMove struct {
	To   string
	From string
	MACs []string
}

// MoveMACs moves bindings from the connections they are bound on to
// connection mv.To of the same network in one change: one transaction,
// one Change (each moved binding unbound from its old connection, then
// bound to To), so the reconciler sends the old forwarding and ARP flows'
// deletes and the new ones' adds in one bundle. A binding keeps its IPs
// and its ID. A MAC already on To is left as it is, so a retried move
// succeeds; a MAC bound nowhere in To's network is NotFound, and one bound
// elsewhere than mv.From (when given) is a Conflict. It returns the moved
// bindings as bound on To now, in request order. A rejected move changes
// nothing.
func (s *State) MoveMACs(mv MACMove) ([]MACBinding, error) {
	var out []MACBinding
	err := s.mutate(func(ch *Change) error {
		to, bindings, moves, err := s.planMove(mv)
		if err != nil {
			return err
		}
		out = cloneBindings(bindings)
		if len(moves) == 0 {
			return nil // all on to already: nothing to write or tell
		}
		moved := make([]macEntry, len(moves))
		for i, m := range moves {
			moved[i] = m.entry
		}
		err = s.commit(func(tx *bolt.Tx) error {
			for _, m := range moves {
				if err := deleteMAC(tx, m.from.Name, m.entry.hw); err != nil {
					return err
				}
			}
			return putMACs(tx, to.Name, moved)
		})
		if err != nil {
			return err
		}
		ns := s.networks[to.Network]
		for _, m := range moves {
			s.unbindMAC(m.from, ns, m.entry)
			ch.unbound(m.from.Name, m.entry)
		}
		s.bindMACs(to, moved)
		ch.bound(to.Name, moved, noneFresh)
		s.log.Info("macs moved", "to", to.Name, "from", mv.From, "moved", len(moves), "already_there", len(bindings)-len(moves))
		return nil
	})
	return out, err
}

// movedMACPath is the path of MAC i of a move request.
func movedMACPath(i int) Path { return At(FieldMACs).Index(i) }

// macMove is one MAC of a move request: its binding and the connection it
// is bound on now.
type macMove struct {
	entry macEntry
	from  *connState
}

// planMove checks a move request against the state and returns its target
// connection, every requested MAC's binding (in request order) and, of
// those not on the target yet, each binding and where it is.
func (s *State) planMove(mv MACMove) (*connState, []macEntry, []macMove, error) {
	if mv.To == "" {
		return nil, nil, nil, invalid(At(FieldTo), "to (the target connection) is required")
	}
	to := s.conns[mv.To]
	if to == nil {
		return nil, nil, nil, s.connNotFoundAt(At(FieldTo), mv.To)
	}
	var from *connState
	if mv.From != "" {
		if from = s.conns[mv.From]; from == nil {
			return nil, nil, nil, s.connNotFoundAt(At(FieldFrom), mv.From)
		}
		if from.Network != to.Network {
			return nil, nil, nil, invalid(At(FieldFrom), "connection %q is on network %q, not on %q's network %q",
				mv.From, from.Network, mv.To, to.Network)
		}
	}
	if len(mv.MACs) == 0 {
		return nil, nil, nil, invalid(At(FieldMACs), "at least one MAC is required")
	}
	ns := s.networks[to.Network]
	bindings := make([]macEntry, len(mv.MACs))
	var moves []macMove
	seen := make(map[[6]byte]int, len(mv.MACs))
	var scratch [64]byte
	for i, text := range mv.MACs {
		hw, _, problem := parseMAC(text, &scratch)
		if problem != "" {
			return nil, nil, nil, invalid(movedMACPath(i), "mac %q %s", text, problem)
		}
		if j, dup := seen[hw]; dup {
			return nil, nil, nil, invalid(movedMACPath(i), "mac %s is also macs[%d] of this request", formatMAC(hw), j)
		}
		seen[hw] = i
		o, bound := ns.macs.get(hw)
		owner := o.conn
		switch {
		case !bound:
			return nil, nil, nil, notFound(movedMACPath(i), "mac %s is not bound on any connection of network %q", formatMAC(hw), ns.Name)
		case owner == to.Name: // already there: from does not matter
		case from != nil && owner != from.Name:
			return nil, nil, nil, conflict(movedMACPath(i), "mac %s is bound on connection %q, not on %q", formatMAC(hw), owner, from.Name)
		}
		cs := s.conns[owner]
		bindings[i], _ = cs.macs.get(hw)
		if cs != to {
			moves = append(moves, macMove{entry: bindings[i], from: cs})
		}
	}
	return to, bindings, moves, nil
}
