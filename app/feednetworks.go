package app

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Networks that dynamic origins own. A feed tells networks (a name and
// attachments, never EVPN) with UpsertNetworks and takes them back with
// RemoveNetworks. Every network a feed told has an ID of the networks' ID
// space from the moment it is first told, and the store remembers it with
// its attachments (a few records, written when a network is told anew or
// otherwise, never when it is told again as it was): a restarted l2gwd
// has it in force, with the same ID and so the same flows, until its
// origin is synced again; what the origin then has not told again goes.
//
// A network a feed told is in force (it is a network of the desired
// state, listed and compiled like the API's, Origin its origin) unless it
// conflicts. The API's networks come first: a feed's network whose name
// is an API network's, or one of whose attachments an API network has, is
// shadowed. Then the feeds' networks in order of origin precedence, and
// within one origin by name: each is in force if its name and every one
// of its attachments are free of those in force before it. A shadowed
// network is kept, with the reason in NetworkConflicts, and comes into
// force when its conflict goes. Nothing is refused: the API, which cannot
// take what a feed's network in force has (its name, its attachments, or
// a connection in it), answers a conflict instead. The outcome depends on
// what is told, never on the order it was told in.

// feedNetKey names a network a dynamic origin told.
type feedNetKey struct {
	origin Origin
	name   string
}

// recordName is the network's key in the store: "ORIGIN:NAME" (names hold
// no ':').
func (k feedNetKey) recordName() string { return k.origin.String() + ":" + k.name }

func compareFeedNetKeys(a, b feedNetKey) int {
	return cmp.Or(cmp.Compare(a.origin, b.origin), cmp.Compare(a.name, b.name))
}

// feedNetwork is a network a dynamic origin told.
type feedNetwork struct {
	feedNetKey
	// id is the network's ID, 0 only when none was free.
	id uint32
	// attachments are sorted by port, then VLAN.
	attachments []Attachment
	// stale says the network was told before the feed's last Reset (or
	// before l2gwd restarted) and not since: it goes when the feed
	// reports synced.
	stale bool
	// conflict says why the network is not in force; "" when it is.
	conflict string
}

// UpsertNetworks makes each network the feed's own (Name and Attachments;
// ID is assigned by the state, EVPN must be nil), replacing what the feed
// told of it before. Names follow the API's rules (1-63 characters of
// a-z, 0-9 and '-'), ports the kernel's interface-name rules, VLANs are
// 0 (untagged) or 1-4094, and a network has at most one attachment per
// port, as in the API; an attachment is told for one network of a call
// only. Anything else is malformed: the call is refused and nothing of it
// applies. A network that conflicts is kept, shadowed (NetworkConflicts).
func (f *Feed) UpsertNetworks(nets ...Network) error {
	told := make([]Network, len(nets))
	names := make(map[string]int, len(nets))
	ports := map[Attachment]int{}
	for i, n := range nets {
		if n.EVPN != nil {
			return invalid(nil, "%s network %d (%q) is in EVPN: a dynamic origin's network never is", f.origin, i, n.Name)
		}
		v, err := validateNetwork(Network{Name: n.Name, Attachments: n.Attachments})
		if err != nil {
			return invalid(nil, "%s network %d (%q): %v", f.origin, i, n.Name, err)
		}
		if j, dup := names[v.Name]; dup {
			return invalid(nil, "%s network %d (%q) is also network %d of this call", f.origin, i, v.Name, j)
		}
		names[v.Name] = i
		for _, a := range v.Attachments {
			if j, dup := ports[a]; dup {
				return invalid(nil, "%s network %d (%q): port %q %s is also attached to network %d of this call", f.origin, i, v.Name, a.Port, vlanText(a.VLAN), j)
			}
			ports[a] = i
		}
		slices.SortFunc(v.Attachments, compareAttachments)
		told[i] = v
	}
	s := f.s
	return s.mutate(func(ch *Change) error {
		var save []*feedNetwork
		for _, n := range told {
			k := feedNetKey{origin: f.origin, name: n.Name}
			fn := s.feedNets[k]
			if fn == nil {
				fn = &feedNetwork{feedNetKey: k}
				s.feedNets[k] = fn
			}
			fn.stale = false
			if fn.id == 0 || !slices.Equal(fn.attachments, n.Attachments) {
				fn.attachments = n.Attachments
				save = append(save, fn)
			}
		}
		s.saveFeedNetworks(save, nil)
		s.resolveFeedNetworks(ch)
		return nil
	})
}

// RemoveNetworks withdraws the feed's networks of these names (unknown
// names are no error).
func (f *Feed) RemoveNetworks(names ...string) error {
	s := f.s
	return s.mutate(func(ch *Change) error {
		var gone []*feedNetwork
		for _, name := range names {
			if fn := s.feedNets[feedNetKey{origin: f.origin, name: name}]; fn != nil {
				gone = append(gone, fn)
			}
		}
		s.dropFeedNetworks(gone, ch)
		return nil
	})
}

// NetworkConflicts returns, for each network the feed told that is not in
// force, why (its name is another origin's network; one of its
// ports/VLANs is bound by another network).
func (f *Feed) NetworkConflicts() map[string]string {
	s := f.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]string{}
	for k, fn := range s.feedNets {
		if k.origin == f.origin && fn.conflict != "" {
			out[k.name] = fn.conflict
		}
	}
	return out
}

// dropFeedNetworks forgets the feed networks gone (taking those in force
// out of the desired state into ch) and their records; mu is held.
func (s *State) dropFeedNetworks(gone []*feedNetwork, ch *Change) {
	if len(gone) == 0 {
		return
	}
	keys := make([]feedNetKey, len(gone))
	for i, fn := range gone {
		delete(s.feedNets, fn.feedNetKey)
		keys[i] = fn.feedNetKey
	}
	s.resolveFeedNetworks(ch)
	for _, fn := range gone {
		if fn.id != 0 {
			s.netIDs.release(fn.id)
		}
		s.log.Info("network of a dynamic origin removed", "origin", fn.origin, "network", fn.name, "id", fn.id)
	}
	s.saveFeedNetworks(nil, keys)
}

// staleFeedNetworks marks every network origin o told stale; mu is held.
func (s *State) staleFeedNetworks(o Origin) {
	for k, fn := range s.feedNets {
		if k.origin == o {
			fn.stale = true
		}
	}
}

// dropStaleFeedNetworks removes the networks origin o told before it was
// last reset (or l2gwd restarted) and has not told since, and returns
// how many; mu is held.
func (s *State) dropStaleFeedNetworks(o Origin, ch *Change) int {
	var gone []*feedNetwork
	for k, fn := range s.feedNets {
		if k.origin == o && fn.stale {
			gone = append(gone, fn)
		}
	}
	s.dropFeedNetworks(gone, ch)
	return len(gone)
}

// resolveFeedNetworks works out which feed networks are in force (see the
// rules above) and brings the desired state's networks in line, noting in
// ch what changed. It runs after every change of a feed's networks and of
// the API's networks. mu is held.
func (s *State) resolveFeedNetworks(ch *Change) {
	if len(s.feedNets) == 0 && len(s.feedInForce) == 0 {
		return
	}
	accepted := make(map[string]*feedNetwork, len(s.feedNets))
	claimed := map[Attachment]*feedNetwork{}
	for _, k := range slices.SortedFunc(maps.Keys(s.feedNets), compareFeedNetKeys) {
		fn := s.feedNets[k]
		fn.conflict = s.feedNetworkConflict(fn, accepted, claimed)
		if fn.conflict != "" {
			continue
		}
		accepted[fn.name] = fn
		for _, a := range fn.attachments {
			claimed[a] = fn
		}
	}
	changed := false
	// What leaves, or changes its attachments, lets go of its ports
	// first: another network may take them over below.
	for name, cur := range s.feedInForce {
		ns := s.networks[name]
		stays := accepted[name] == cur
		if stays && slices.Equal(ns.Attachments, cur.attachments) {
			continue
		}
		changed = true
		s.setAttachments(ns, nil)
		if !stays {
			delete(s.networks, name)
			delete(s.feedInForce, name)
			s.log.Info("network of a dynamic origin out of force", "origin", cur.origin, "network", name, "id", cur.id, "conflict", cur.conflict)
		}
	}
	var added []string
	for name, fn := range accepted {
		if s.feedInForce[name] == fn {
			if ns := s.networks[name]; !slices.Equal(ns.Attachments, fn.attachments) {
				s.setAttachments(ns, slices.Clone(fn.attachments))
			}
			continue
		}
		changed = true
		s.addNetwork(Network{Name: name, ID: fn.id, Attachments: slices.Clone(fn.attachments), Origin: fn.origin})
		s.feedInForce[name] = fn
		added = append(added, name)
		s.log.Info("network of a dynamic origin in force", "origin", fn.origin, "network", name, "id", fn.id, "attachments", len(fn.attachments))
	}
	if !changed {
		return
	}
	ch.Topology = true
	s.resolveDerived(ch)
	// A network that came into force under the name of one that just
	// went (an API network deleted, another origin's) has another ID:
	// the remote MACs of the name compile anew, whatever resolveDerived
	// found of their tunnels.
	slices.Sort(added)
	for _, name := range added {
		if rix := s.remote[name]; rix != nil {
			for _, mac := range slices.SortedFunc(maps.Keys(rix.active), compareMACs) {
				ch.RemoteMACs = append(ch.RemoteMACs, RemoteMACChange{Origin: rix.active[mac].origin, Network: name, MAC: mac})
			}
		}
	}
}

// feedNetworkConflict says why fn cannot be in force beside the API's
// networks and the feed networks accepted before it (claimed: their
// attachments), or "".
func (s *State) feedNetworkConflict(fn *feedNetwork, accepted map[string]*feedNetwork, claimed map[Attachment]*feedNetwork) string {
	if fn.id == 0 {
		return "no network ID is free"
	}
	if ns := s.networks[fn.name]; ns != nil && ns.Origin == OriginStatic {
		return fmt.Sprintf("network %q is the API's", fn.name)
	}
	if other := accepted[fn.name]; other != nil {
		return fmt.Sprintf("network %q is origin %s's", fn.name, other.origin)
	}
	for _, a := range fn.attachments {
		if owner, taken := s.ports[a]; taken && s.networks[owner].Origin == OriginStatic {
			return fmt.Sprintf("port %q %s is attached to the API's network %q", a.Port, vlanText(a.VLAN), owner)
		}
		if other := claimed[a]; other != nil {
			return fmt.Sprintf("port %q %s is attached to network %q of origin %s", a.Port, vlanText(a.VLAN), other.name, other.origin)
		}
	}
	return ""
}

// saveFeedNetworks gives the networks of put that have none an ID and
// writes their records, and deletes those of gone. The records only keep
// a restart hitless: when the store cannot write, the state goes on and
// the failure is logged. mu is held and no AddMACs call is in flight.
func (s *State) saveFeedNetworks(put []*feedNetwork, gone []feedNetKey) {
	if len(put)+len(gone) == 0 {
		return
	}
	var fresh []*feedNetwork
	for _, fn := range put {
		if fn.id == 0 {
			fresh = append(fresh, fn)
		}
	}
	var next uint32
	if len(fresh) > 0 {
		ids, n, err := s.netIDs.allocate(len(fresh))
		if err != nil {
			s.log.Error("no network ID for networks a dynamic origin told: they are not in force", "err", err, "networks", len(fresh))
			fresh = nil
		}
		for i, fn := range fresh {
			fn.id = ids[i]
			s.netIDs.mark(fn.id)
		}
		next = n
	}
	err := s.commit(func(tx *bolt.Tx) error {
		for _, fn := range put {
			if fn.id == 0 {
				continue
			}
			if err := putJSON(tx, bucketFeedNetworks, fn.recordName(), fn.record()); err != nil {
				return err
			}
		}
		for _, k := range gone {
			if err := deleteKey(tx, bucketFeedNetworks, k.recordName()); err != nil {
				return err
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		return putCursor(tx, kindNetwork, next)
	})
	if len(fresh) > 0 {
		s.netIDs.next.Store(next)
	}
	if err != nil {
		s.log.Warn("could not remember the networks dynamic origins told: a restart of l2gwd may renumber them", "err", err)
	}
}

// record is what the store remembers of fn.
func (fn *feedNetwork) record() feedNetworkRecord {
	r := feedNetworkRecord{ID: fn.id, Origin: fn.origin.String(), Name: fn.name, Attachments: make([]attachmentRecord, len(fn.attachments))}
	for i, a := range fn.attachments {
		r.Attachments[i] = attachmentRecord{Port: a.Port, VLAN: a.VLAN}
	}
	return r
}

// restoreFeedNetworks brings back the networks dynamic origins told
// before l2gwd stopped, stale (held until their origin is synced), for the
// origins that have a feed now. It returns the names of the records to
// delete: those of origins without a feed, and those that cannot be taken
// back (malformed, or their ID another network's).
func (s *State) restoreFeedNetworks(records map[string]feedNetworkRecord) []string {
	var dropped []string
	for name, r := range records {
		fn, err := s.feedNetworkOfRecord(r)
		if err != nil {
			s.log.Warn("dropping a network a dynamic origin told before the restart", "network", name, "err", err)
			dropped = append(dropped, name)
			continue
		}
		if s.feeds[fn.origin] == nil || fn.recordName() != name {
			dropped = append(dropped, name)
			continue
		}
		s.netIDs.mark(fn.id)
		s.feedNets[fn.feedNetKey] = fn
	}
	return dropped
}

// feedNetworkOfRecord is the feed network r remembers, stale.
func (s *State) feedNetworkOfRecord(r feedNetworkRecord) (*feedNetwork, error) {
	o, err := ParseOrigin(r.Origin)
	if err != nil || !o.Dynamic() {
		return nil, fmt.Errorf("origin %q is not a dynamic origin", r.Origin)
	}
	n := Network{Name: r.Name, Attachments: make([]Attachment, len(r.Attachments))}
	for i, a := range r.Attachments {
		n.Attachments[i] = Attachment{Port: a.Port, VLAN: a.VLAN}
	}
	n, err = validateNetwork(n)
	if err != nil {
		return nil, err
	}
	if !s.netIDs.free(r.ID) {
		return nil, fmt.Errorf("id %d out of range or another network's", r.ID)
	}
	slices.SortFunc(n.Attachments, compareAttachments)
	return &feedNetwork{feedNetKey: feedNetKey{origin: o, name: n.Name}, id: r.ID, attachments: n.Attachments, stale: true}, nil
}

// dynamicNetworkConflict is the error for a write of the API to network
// ns, when a dynamic origin owns it; nil for the API's own.
func dynamicNetworkConflict(field Path, ns *networkState, what string) error {
	if ns == nil || !ns.Origin.Dynamic() {
		return nil
	}
	return conflict(field, "network %q belongs to origin %s: %s", ns.Name, ns.Origin, what)
}

func compareAttachments(a, b Attachment) int {
	return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.VLAN, b.VLAN))
}

func compareMACs(a, b [6]byte) int { return slices.Compare(a[:], b[:]) }
