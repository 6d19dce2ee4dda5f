package app

import (
	"fmt"
	"maps"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultHoldTime is how long, after l2gwd starts or a feed is reset, what
// a dynamic origin told before stays in force while it has not reported
// synced.
const DefaultHoldTime = 120 * time.Second

// Feed is how the source of a dynamic origin (BGP EVPN, hardware_vtep)
// tells the desired state what it knows: networks of its own (see
// feednetworks.go), remote MACs behind remote tunnel endpoints, and flood
// targets. Its source tells it all again after a restart, and says so with
// Synced. Until then, and for at most the hold time, what the origin told
// before stays in force: its networks and the derived connections it
// named (the store remembers those, with their IDs) and its flows on the
// bridge (the reconciler keeps them). The remote MACs live in memory only
// and are never fsync'd.
//
// A feed never gets a conflict: when origins disagree, the first in
// precedence wins and the others are kept, shadowed (see remote.go). It
// gets an error only for what it tells that is malformed, and then nothing
// of that call is applied. A Feed is safe for concurrent use; each call is
// one change of the desired state.
type Feed struct {
	s      *State
	origin Origin
}

// feedState is a dynamic origin's standing.
type feedState struct {
	synced bool
	// hold fires when the hold time passes without Synced; generation
	// tells a timer of an earlier Reset from the current one.
	hold       *time.Timer
	generation int
	// macs counts the remote MACs the feed told.
	macs int
}

// Feed returns the feed of dynamic origin o, which must be one of
// Options.Origins.
func (s *State) Feed(o Origin) (*Feed, error) {
	if int(o) >= numOrigins || s.feeds[o] == nil {
		return nil, fmt.Errorf("origin %s has no feed: it is not one of the dynamic origins the state was opened with", o)
	}
	return &Feed{s: s, origin: o}, nil
}

// Origin returns the feed's origin.
func (f *Feed) Origin() Origin { return f.origin }

// parsedRemote is a remote MAC a feed told, validated.
type parsedRemote struct {
	network string
	mac     [6]byte
	entry   remoteEntry
}

// UpsertRemoteMACs tells remote MACs: each replaces what the feed said
// before of its MAC in its network (one MAC per network and origin).
func (f *Feed) UpsertRemoteMACs(macs ...RemoteMAC) error {
	parsed := make([]parsedRemote, len(macs))
	type key struct {
		network string
		mac     [6]byte
	}
	seen := make(map[key]int, len(macs))
	for i, m := range macs {
		e, hw, problem := checkRemoteMAC(m, f.s.local)
		if problem != "" {
			return invalid(nil, "%s remote MAC %d: %s", f.origin, i, problem)
		}
		k := key{m.Network, hw}
		if j, dup := seen[k]; dup {
			return invalid(nil, "%s remote MAC %d: mac %s of network %q is also remote MAC %d of this call", f.origin, i, m.MAC, m.Network, j)
		}
		seen[k] = i
		parsed[i] = parsedRemote{network: m.Network, mac: hw, entry: e}
	}
	return f.s.feedChange(func(fc *feedChange) {
		for i := range parsed {
			fc.upsert(f.origin, &parsed[i])
		}
	})
}

// WithdrawRemoteMACs withdraws remote MACs the feed told; one it did not
// tell is ignored.
func (f *Feed) WithdrawRemoteMACs(keys ...RemoteMACKey) error {
	hws := make([][6]byte, len(keys))
	for i, k := range keys {
		if len(k.MAC) != 6 {
			return invalid(nil, "%s withdrawal %d: mac %v is not a 6-byte MAC address", f.origin, i, k.MAC)
		}
		hws[i] = [6]byte(k.MAC)
	}
	return f.s.feedChange(func(fc *feedChange) {
		for i, k := range keys {
			fc.withdraw(f.origin, k.Network, hws[i])
		}
	})
}

// AddFloodTargets asks for each target's network to flood to its tunnel.
func (f *Feed) AddFloodTargets(targets ...FloodTarget) error {
	keys, err := f.floodKeys(targets)
	if err != nil {
		return err
	}
	return f.s.feedChange(func(fc *feedChange) {
		for _, k := range keys {
			d := fc.conn(k)
			r := &d.refs[f.origin]
			r.floodStale = false
			if !r.flood {
				fc.changed(d)
				r.flood = true
			}
		}
	})
}

// RemoveFloodTargets takes flood targets back; one the feed did not add is
// ignored.
func (f *Feed) RemoveFloodTargets(targets ...FloodTarget) error {
	keys, err := f.floodKeys(targets)
	if err != nil {
		return err
	}
	return f.s.feedChange(func(fc *feedChange) {
		for _, k := range keys {
			if d := f.s.derived[k]; d != nil && d.refs[f.origin].flood {
				fc.changed(d)
				d.refs[f.origin].flood = false
			}
		}
	})
}

// floodKeys validates flood targets.
func (f *Feed) floodKeys(targets []FloodTarget) ([]derivedKey, error) {
	keys := make([]derivedKey, len(targets))
	for i, t := range targets {
		if t.Network == "" {
			return nil, invalid(nil, "%s flood target %d names no network", f.origin, i)
		}
		if problem := checkTunnel(&t.Tunnel, f.s.local); problem != "" {
			return nil, invalid(nil, "%s flood target %d: %s", f.origin, i, problem)
		}
		keys[i] = derivedKey{network: t.Network, tunnel: t.Tunnel}
	}
	return keys, nil
}

// Reset says the source is about to tell everything again (it lost its
// session, say): what the feed told so far stays in force until Synced, or
// until the hold time passes, and what is not told again by then goes.
func (f *Feed) Reset() {
	s := f.s
	_ = s.mutate(func(*Change) error {
		for _, rix := range s.remote {
			for _, c := range rix.claims {
				if e := c[f.origin]; e != nil {
					e.stale = true
				}
			}
		}
		for _, d := range s.derived {
			d.refs[f.origin].floodStale = d.refs[f.origin].flood
		}
		s.staleFeedNetworks(f.origin)
		s.startHold(f.origin)
		s.log.Info("feed reset: what it told stays until it is synced", "origin", f.origin, "hold", s.holdTime)
		return nil
	})
}

// Synced says the source has told everything it knows: what the origin
// told before (before a Reset, or before l2gwd started) and did not tell
// again goes now.
func (f *Feed) Synced() {
	_ = f.s.syncOrigin(f.origin, false)
}

// startHold marks origin o unsynced and (re)starts its hold timer; mu is
// held.
func (s *State) startHold(o Origin) {
	fs := s.feeds[o]
	fs.synced = false
	fs.generation++
	if fs.hold != nil {
		fs.hold.Stop()
	}
	gen := fs.generation
	fs.hold = time.AfterFunc(s.holdTime, func() { s.holdExpired(o, gen) })
}

// holdExpired treats origin o as synced when its hold time passed since
// the Reset (or start) of generation gen and it has not reported synced.
func (s *State) holdExpired(o Origin, gen int) {
	s.mu.RLock()
	current := s.feeds[o].generation == gen && !s.feeds[o].synced && !s.closed
	s.mu.RUnlock()
	if current {
		_ = s.syncOrigin(o, true)
	}
}

// syncOrigin removes what origin o told before and did not tell again, and
// marks it synced; expired says its hold time passed.
func (s *State) syncOrigin(o Origin, expired bool) error {
	return s.feedChange(func(fc *feedChange) {
		fs := s.feeds[o]
		if fs.synced {
			return
		}
		fs.synced = true
		fs.generation++
		if fs.hold != nil {
			fs.hold.Stop()
		}
		stale := 0
		for network, rix := range s.remote {
			for mac, c := range rix.claims {
				if e := c[o]; e != nil && e.stale {
					fc.withdraw(o, network, mac)
					stale++
				}
			}
		}
		for _, d := range s.derived {
			r := &d.refs[o]
			if r.held || r.floodStale {
				fc.changed(d)
				if r.floodStale {
					r.flood, r.floodStale = false, false
				}
				r.held, r.heldFlood = false, false
			}
		}
		nets := s.dropStaleFeedNetworks(o, fc.ch)
		fc.ch.Synced = append(fc.ch.Synced, o)
		if expired {
			s.log.Warn("origin did not report synced within its hold time: what it has not told again is removed",
				"origin", o, "hold", s.holdTime, "removed_macs", stale, "removed_networks", nets)
		} else {
			s.log.Info("origin synced", "origin", o, "removed_macs", stale, "removed_networks", nets)
		}
	})
}

// feedChange is one feed call's change in the making: what it touched, to
// refresh and persist once at the end.
type feedChange struct {
	s       *State
	ch      *Change
	touched map[string][][6]byte          // network → MACs whose entries changed
	conns   map[*derivedConn]derivedShape // derived connections whose refs changed, as they were
}

// feedChange runs fn as one change of the desired state.
func (s *State) feedChange(fn func(fc *feedChange)) error {
	return s.mutate(func(ch *Change) error {
		fc := &feedChange{s: s, ch: ch, touched: map[string][][6]byte{}, conns: map[*derivedConn]derivedShape{}}
		fn(fc)
		fc.finish()
		return nil
	})
}

// upsert puts one remote MAC of origin o.
func (fc *feedChange) upsert(o Origin, p *parsedRemote) {
	rix := fc.s.remoteIndexOf(p.network)
	old := rix.entry(o, p.mac)
	if old != nil && old.tunnel == p.entry.tunnel && slices.Equal(old.addrs, p.entry.addrs) {
		old.stale = false
		return
	}
	if old == nil || old.tunnel != p.entry.tunnel {
		if old != nil {
			fc.unref(o, derivedKey{p.network, old.tunnel})
		}
		d := fc.conn(derivedKey{p.network, p.entry.tunnel})
		fc.changed(d)
		d.refs[o].macs++
	}
	if old == nil {
		fc.s.feeds[o].macs++
	}
	e := p.entry
	rix.put(o, p.mac, &e)
	fc.touched[p.network] = append(fc.touched[p.network], p.mac)
}

// withdraw removes origin o's entry for mac in network, if any.
func (fc *feedChange) withdraw(o Origin, network string, mac [6]byte) {
	rix := fc.s.remote[network]
	if rix == nil {
		return
	}
	old := rix.drop(o, mac)
	if old == nil {
		return
	}
	fc.s.feeds[o].macs--
	fc.unref(o, derivedKey{network, old.tunnel})
	fc.touched[network] = append(fc.touched[network], mac)
}

// unref counts one remote MAC of origin o less through k.
func (fc *feedChange) unref(o Origin, k derivedKey) {
	if d := fc.s.derived[k]; d != nil {
		fc.changed(d)
		d.refs[o].macs--
	}
}

// conn returns the derived connection of k, made if needed.
func (fc *feedChange) conn(k derivedKey) *derivedConn {
	d := fc.s.derived[k]
	if d == nil {
		d = &derivedConn{derivedKey: k}
		fc.s.derived[k] = d
		fc.changed(d)
	}
	return d
}

// changed notes, before d's refs change, what d is like: finish compares.
func (fc *feedChange) changed(d *derivedConn) {
	if _, noted := fc.conns[d]; !noted {
		fc.conns[d] = d.shape()
	}
}

// finish takes the derived connections that changed (persisting them,
// dropping those no origin names), works out what compiles now, and
// refreshes the remote MACs touched.
func (fc *feedChange) finish() {
	s := fc.s
	// A remote MAC more or less through a tunnel changes nothing of its
	// connection; only a tunnel that appears or goes, another owner or
	// other flooding does.
	var save []*derivedConn
	resolve := false
	for d, before := range fc.conns {
		now := d.shape()
		if now == before {
			continue
		}
		fc.ch.Topology = fc.ch.Topology || d.status == derivedOwn
		resolve = resolve || now.named != before.named || now.owner != before.owner
		if !now.named {
			delete(s.derived, d.derivedKey)
		}
		if (now.named && d.id == 0) || d.saved != d.recordState() {
			save = append(save, d)
		}
	}
	if len(save) > 0 {
		s.saveDerived(save)
	}
	if resolve {
		s.resolveDerived(fc.ch)
	}
	for _, network := range slices.Sorted(maps.Keys(fc.touched)) {
		s.refreshRemote(network, fc.touched[network], nil, fc.ch)
	}
}

// saveDerived writes the records of ds (deleting those of the derived
// connections gone), giving new ones an ID. It writes only when a tunnel
// appears or goes, or the origins that name it or flood to it change:
// never for a remote MAC. The records only keep a
// restart hitless: when the store cannot write, the state goes on and the
// failure is logged. mu is held and no AddMACs call is in flight.
func (s *State) saveDerived(ds []*derivedConn) {
	if len(ds) == 0 {
		return
	}
	var fresh []*derivedConn
	for _, d := range ds {
		if d.id == 0 && d.named() {
			fresh = append(fresh, d)
		}
	}
	ids, next, err := s.connIDs.allocate(len(fresh))
	if err != nil {
		s.log.Error("no connection ID for the tunnels a dynamic origin named: they compile nothing", "err", err, "tunnels", len(fresh))
		for _, d := range fresh {
			delete(s.derived, d.derivedKey)
		}
		return
	}
	for i, d := range fresh {
		d.id = ids[i]
		s.connIDs.mark(d.id)
	}
	err = s.commit(func(tx *bolt.Tx) error {
		for _, d := range ds {
			name := derivedName(d.network, d.tunnel)
			if !d.named() {
				if err := deleteKey(tx, bucketDerived, name); err != nil {
					return err
				}
				continue
			}
			if err := putJSON(tx, bucketDerived, name, d.record()); err != nil {
				return err
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		return putCursor(tx, kindConnection, next)
	})
	if len(fresh) > 0 {
		s.connIDs.next.Store(next)
	}
	for _, d := range ds {
		d.saved = d.recordState()
		if !d.named() && d.id != 0 {
			s.connIDs.release(d.id)
		}
	}
	if err != nil {
		s.log.Warn("could not remember the connections dynamic origins named: a restart of l2gwd may renumber them", "err", err)
	}
}

// OriginStatus is a dynamic origin's standing, for GET /v1/status.
type OriginStatus struct {
	Origin Origin
	// Synced says the origin has told everything since l2gwd started or
	// its feed was reset (or its hold time passed).
	Synced bool
	// RemoteMACs counts the remote MACs it told; FloodTargets the tunnels
	// it asks to flood to.
	RemoteMACs, FloodTargets int
	// HeldFlows counts its flows the switch still has from before it was
	// last synced, kept until it is (set by the Reconciler's Status).
	HeldFlows int
}

// OriginStatuses returns the standing of every dynamic origin the state
// has a feed for, in order of precedence.
func (s *State) OriginStatuses() []OriginStatus {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []OriginStatus
	for o, fs := range s.feeds {
		if fs == nil {
			continue
		}
		st := OriginStatus{Origin: Origin(o), Synced: fs.synced, RemoteMACs: fs.macs}
		for _, d := range s.derived {
			if d.refs[o].flood {
				st.FloodTargets++
			}
		}
		out = append(out, st)
	}
	return out
}

// dynamic reports whether the state has a feed for some dynamic origin.
func (s *State) dynamic() bool {
	return slices.ContainsFunc(s.feeds[:], func(fs *feedState) bool { return fs != nil })
}

// originSynced reports, mu held, whether dynamic origin o is synced; an
// origin without a feed has nothing to tell and counts as synced.
func (s *State) originSynced(o Origin) bool {
	fs := s.feeds[o]
	return fs == nil || fs.synced
}
