package app

import bolt "go.etcd.io/bbolt"

// mutate runs change under the write lock, alone (no AddMACs in flight),
// and, if it committed and touched something, tells the subscribers what
// (change fills ch in).
func (s *State) mutate(change func(ch *Change) error) error {
	var ch Change
	s.mu.Lock()
	s.waitForAdds()
	err := change(&ch)
	if err == nil && !ch.empty() {
		s.publish(ch)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.deliver()
	return nil
}

// commit writes one change in one transaction of its own; mu is held and
// no AddMACs call is in flight.
func (s *State) commit(fn func(*bolt.Tx) error) error {
	if err := s.checkStore(); err != nil {
		return err
	}
	var id int
	err := s.update(func(tx *bolt.Tx) error {
		id = tx.ID()
		return fn(tx)
	})
	return s.wrote(id, err)
}
