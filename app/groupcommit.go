package app

import bolt "go.etcd.io/bbolt"

// AddMACs binds a batch of MACs to a connection, all or nothing, and returns
// them normalised with IDs, in request order, once they are committed.
//
// Concurrent calls share fsync'd transactions (group commit) in three
// steps: under the lock, the batch is checked against the bindings
// committed and those of the calls in flight, and reserved (IDs taken,
// MACs and IPs in the network's index); without the lock, it is written
// with the other calls in flight (db.Batch); under the lock again, it is
// applied to the connection, or, if the write failed, its reservation is
// dropped. Other changes wait until no call is in flight, so a call's
// connection stays as it was checked until the call is settled.
func (s *State) AddMACs(conn string, macs MACBatch) ([]MACBinding, error) {
	entries, parseErr := parseMACs(macs)
	cs, alone, err := s.reserveMACs(conn, batchLen(macs), entries, parseErr)
	if err != nil {
		return nil, err
	}
	var txID int // the transaction of the last (the deciding) run of write
	write := func(tx *bolt.Tx) error {
		txID = tx.ID()
		if err := putMACs(tx, conn, entries); err != nil {
			return err
		}
		// The cursor as it is now, which is past this call's IDs and
		// those of every call committed before: it never goes back,
		// however the calls are batched, and may be run again.
		return putCursor(tx, kindMAC, s.macIDs.next.Load())
	}
	commit := s.batch
	if alone {
		commit = s.update // no one to share with: no batch delay either
	}
	err = commit(write)
	return s.settleMACs(cs, entries, txID, err)
}

// reserveMACs checks a parsed batch (parseErr is what parsing said) and
// reserves it: IDs assigned to entries, MACs and IPs in the network's
// index, the call counted in flight. alone says no other call was.
func (s *State) reserveMACs(conn string, n int, entries []macEntry, parseErr error) (*connState, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.draining > 0 {
		s.idle.Wait()
	}
	if s.txs.suspect {
		s.waitForAdds() // checkStore may rewrite the store: alone
		if err := s.checkStore(); err != nil {
			return nil, false, err
		}
	}
	cs := s.conns[conn]
	if cs == nil {
		return nil, false, s.connNotFound(conn)
	}
	if n == 0 {
		return nil, false, invalid(At(FieldMACs), "at least one MAC binding is required")
	}
	if parseErr != nil {
		return nil, false, parseErr
	}
	if err := s.checkMACs(cs, entries, true); err != nil {
		return nil, false, err
	}
	ids, next, err := s.macIDs.allocate(len(entries))
	if err != nil {
		return nil, false, err
	}
	ns := s.networks[cs.Network]
	reserveIndexes(ns, entries)
	for i := range entries {
		entries[i].ID = ids[i]
		s.indexMAC(cs, ns, entries[i])
	}
	s.macIDs.next.Store(next)
	s.adding++
	return cs, s.adding == 1, nil
}

// settleMACs ends an AddMACs call whose write, last run in transaction
// txID, returned werr: the bindings go to the connection and the
// subscribers, or their reservation is dropped.
func (s *State) settleMACs(cs *connState, entries []macEntry, txID int, werr error) ([]MACBinding, error) {
	var out []MACBinding
	s.mu.Lock()
	werr = s.wrote(txID, werr)
	if werr == nil {
		cs.macs.reserve(cs.macs.len() + len(entries))
		for _, e := range entries {
			cs.setBinding(e)
		}
		out = cloneBindings(entries)
		var ch Change
		ch.bound(cs.Name, entries, allFresh)
		s.refreshStatic(cs.Network, entries, &ch)
		s.publish(ch)
	} else {
		ns := s.networks[cs.Network]
		for _, e := range entries {
			s.unindexMAC(ns, e)
		}
	}
	s.adding--
	if s.adding == 0 {
		s.idle.Broadcast()
	}
	s.mu.Unlock()
	if werr != nil {
		return nil, werr
	}
	s.log.Info("macs added", "connection", cs.Name, "count", len(entries))
	s.deliver()
	return out, nil
}

// waitForAdds waits, mu held, until no AddMACs is in flight; AddMACs calls
// that arrive meanwhile wait for this change.
func (s *State) waitForAdds() {
	s.draining++
	for s.adding > 0 {
		s.idle.Wait()
	}
	s.draining--
	if s.draining == 0 {
		s.idle.Broadcast()
	}
}
