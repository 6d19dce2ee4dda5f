package app

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Failed writes.
//
// Why a failed write leaves the file sound (bbolt v1.4.3, Tx.Commit): a
// transaction writes its tree pages and its freelist only to pages no
// committed tree uses (copy-on-write), fdatasyncs them, then writes its
// meta page into one of two slots (used in turn, each with a checksum) and
// fdatasyncs again. A failure before the meta page is written (ENOSPC or
// EROFS from a page write or from growing the file, a failed first
// fdatasync) leaves the last committed meta in charge, and what reached
// the free pages is garbage in free space. A meta page torn by a failed
// write fails its checksum, and bbolt reads the other slot: the last
// commit. Either way bbolt rolls back, reloads its freelist from the
// committed meta and takes the next transaction on the same handle.
//
// Two outcomes need more; checkStore deals with them before the next write:
//   - The meta page was written but its fdatasync failed. The page cache
//     holds it, so this process sees the change whose caller was told it
//     failed, and the next commit builds on it. The State finds this out
//     from transaction IDs and rewrites the store from memory, which holds
//     exactly the acknowledged changes. (Until then a crash may or may not
//     keep that change: its data pages were synced, its meta page perhaps
//     not. Either file is sound.)
//   - bbolt lost its memory map (a remap that failed while the file grew
//     past the mapped size, initialMmapSize at first): every later
//     transaction fails with ErrInvalidMapping, and bbolt could not reload
//     its freelist. The State reopens the file and rewrites it from memory.

// txLog is what the State knows about its write transactions since one
// failed; checkStore empties it once the store is known to hold what
// memory holds.
type txLog struct {
	suspect bool
	// unknown says the store may not hold what memory holds.
	unknown bool
	// failed are the IDs of the transactions that failed; committed, of
	// those that committed since the first failure was recorded.
	failed    []int
	committed map[int]bool
}

// record notes how write transaction id (0 if none began) ended.
func (l *txLog) record(id int, err error) {
	switch {
	case err != nil:
		l.suspect = true
		if id != 0 {
			l.failed = append(l.failed, id)
		}
	case l.suspect:
		if l.committed == nil {
			l.committed = make(map[int]bool)
		}
		l.committed[id] = true
	}
}

// landed reports whether a failed transaction is part of a store whose
// last committed transaction is txid. bbolt gives a write transaction the
// last committed ID + 1: one that failed without landing is followed by
// another with its ID, one that landed by the next ID. A commit of the
// same ID recorded before the failure (concurrent AddMACs calls settle in
// any order) makes a false alarm, which costs one rewrite.
func (l *txLog) landed(txid int) bool {
	for _, id := range l.failed {
		if id <= txid && !l.committed[id] {
			return true
		}
	}
	return false
}

// wrote records how write transaction id (0 if none began) ended and turns
// a failure into the error the caller gets; mu is held.
func (s *State) wrote(id int, err error) error {
	s.txs.record(id, err)
	if err != nil {
		return s.storeFailed(err)
	}
	if s.failing {
		s.failing = false
		s.log.Info("store writes work again", "path", s.path)
	}
	return nil
}

// storeFailed logs a failed store write and returns the error that rejects
// the change, naming the file if err does not; mu is held.
func (s *State) storeFailed(err error) error {
	s.failing = true
	path := s.path
	s.log.Error("store write failed, change rejected", "path", path, "err", err)
	if !strings.Contains(err.Error(), path) {
		err = fmt.Errorf("%s: %w", path, err)
	}
	return unavailable(err)
}

// checkStore makes sure, after a failed write, that the store holds what
// memory holds (see "Failed writes" in storefault.go) before the next write goes in;
// mu is held and no AddMACs call is in flight. It returns the error that
// rejects the write if it cannot.
func (s *State) checkStore() error {
	if !s.txs.suspect {
		return nil
	}
	txid, err := s.storedTxID()
	switch {
	case err == nil:
		if !s.txs.unknown && s.txs.landed(txid) {
			s.log.Warn("a write reported as failed reached the store; rewriting the store from memory", "path", s.path)
			s.txs.unknown = true
		}
	case !s.closed && (errors.Is(err, berrors.ErrInvalidMapping) || errors.Is(err, berrors.ErrDatabaseNotOpen)):
		// bbolt cannot use this handle any more (it lost its memory map,
		// or an earlier reopen closed it and then failed), and what the
		// file holds is not known: reopen it and write memory in.
		s.log.Warn("store handle unusable; reopening the store and rewriting it from memory", "path", s.path, "err", err)
		if err = s.reopen(); err == nil {
			s.txs.unknown = true
		}
	}
	if err != nil {
		return s.storeFailed(err)
	}
	if s.txs.unknown {
		st := s.stored()
		var id int
		err := s.update(func(tx *bolt.Tx) error {
			id = tx.ID()
			return rewriteStore(tx, st)
		})
		if err != nil {
			s.txs.record(id, err)
			return s.storeFailed(fmt.Errorf("rewrite the store from memory: %w", err))
		}
	}
	s.txs = txLog{}
	return nil
}

// storedTxID returns the ID of the store's last committed transaction.
func (s *State) storedTxID() (int, error) {
	var id int
	err := s.db.View(func(tx *bolt.Tx) error {
		id = tx.ID()
		return nil
	})
	return id, err
}

// reopen replaces an unusable bbolt handle with a new one on the same file.
// The file lock is let go in between: should another l2gwd take the data
// directory in that moment, this one keeps rejecting writes.
func (s *State) reopen() error {
	if err := s.db.Close(); err != nil {
		s.log.Warn("close unusable store handle", "path", s.path, "err", err)
	}
	db, err := openDB(filepath.Dir(s.path))
	if err != nil {
		return err
	}
	s.db = db
	return nil
}

// stored returns memory as the store holds it; mu is held.
func (s *State) stored() *storedState {
	st := &storedState{macs: make(map[string][]macEntry), cursors: make(map[string]uint32), derived: make(map[string]derivedRecord),
		feedNetworks: make(map[string]feedNetworkRecord)}
	for _, ns := range s.networks {
		if !ns.Origin.Dynamic() {
			st.networks = append(st.networks, ns.Network)
		}
	}
	for _, fn := range s.feedNets {
		if fn.id != 0 {
			st.feedNetworks[fn.recordName()] = fn.record()
		}
	}
	for _, g := range s.gateways {
		st.gateways = append(st.gateways, g)
	}
	for name, cs := range s.conns {
		st.connections = append(st.connections, cs.Connection)
		st.macs[name] = slices.Collect(cs.macs.all())
	}
	for _, ids := range []*idSpace{s.netIDs, s.connIDs, s.macIDs} {
		st.cursors[ids.kind] = ids.next.Load()
	}
	for _, d := range s.derived {
		if d.id != 0 {
			st.derived[derivedName(d.network, d.tunnel)] = d.record()
		}
	}
	return st
}

// rewriteStore makes the store hold exactly st.
func rewriteStore(tx *bolt.Tx, st *storedState) error {
	for _, name := range [][]byte{bucketNetworks, bucketGateways, bucketConns, bucketMACs, bucketDerived, bucketFeedNetworks} {
		if err := tx.DeleteBucket(name); err != nil {
			return fmt.Errorf("delete bucket %s: %w", name, err)
		}
		if _, err := tx.CreateBucket(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	for kind, next := range st.cursors {
		if err := putCursor(tx, kind, next); err != nil {
			return err
		}
	}
	for _, n := range st.networks {
		if err := putNetwork(tx, n); err != nil {
			return err
		}
	}
	for _, g := range st.gateways {
		if err := putGateway(tx, g); err != nil {
			return err
		}
	}
	for _, c := range st.connections {
		if err := putConnection(tx, c); err != nil {
			return err
		}
	}
	for conn, entries := range st.macs {
		if err := putMACs(tx, conn, entries); err != nil {
			return err
		}
	}
	for name, r := range st.derived {
		if err := putJSON(tx, bucketDerived, name, r); err != nil {
			return err
		}
	}
	for name, r := range st.feedNetworks {
		if err := putJSON(tx, bucketFeedNetworks, name, r); err != nil {
			return err
		}
	}
	return nil
}
