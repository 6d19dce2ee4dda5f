package app

import (
	"bytes"
	"net/netip"
	"slices"
)

// What the dynamic origins say of a network's remote MACs, and which of
// them win. Precedence, per network: a MAC statically bound is the static
// binding's; else the first origin (vtep, then evpn) whose entry for it
// goes through a usable tunnel (see derivedConn.usable) wins it. An IP is
// answered for the static binding that has it, else for the winning entry
// that has it whose (origin, MAC) is first. Losers are kept, shadowed, and
// take over when the winner goes; nothing is refused.

// remoteEntry is what one dynamic origin says of one remote MAC.
type remoteEntry struct {
	tunnel Tunnel
	addrs  []netip.Addr // sorted, no duplicates
	// stale says the entry was told before the feed's last Reset and not
	// since: it goes when the feed reports synced.
	stale bool
}

// remoteIndex is one network's remote MACs of every dynamic origin. It is
// kept by network name, whether or not the network exists: entries of a
// network that does not exist (yet) are kept and compile nothing.
type remoteIndex struct {
	claims map[[6]byte]*[numOrigins]*remoteEntry
	ips    map[netip.Addr][]ipClaim // IP → the entries that list it
	// active is what compiles, MAC by MAC: the winning entry and the IPs
	// it wins. It is what the last refresh found.
	active map[[6]byte]activeRemote
}

// ipClaim is one entry's claim on an IP.
type ipClaim struct {
	origin Origin
	mac    [6]byte
}

// activeRemote is a remote MAC that compiles.
type activeRemote struct {
	origin Origin
	tunnel Tunnel
	addrs  []netip.Addr // the IPs answered for it
}

func (a activeRemote) equal(b activeRemote) bool {
	return a.origin == b.origin && a.tunnel == b.tunnel && slices.Equal(a.addrs, b.addrs)
}

func newRemoteIndex() *remoteIndex {
	return &remoteIndex{
		claims: map[[6]byte]*[numOrigins]*remoteEntry{},
		ips:    map[netip.Addr][]ipClaim{},
		active: map[[6]byte]activeRemote{},
	}
}

// remoteIndexOf returns network's index, made if needed.
func (s *State) remoteIndexOf(network string) *remoteIndex {
	rix := s.remote[network]
	if rix == nil {
		rix = newRemoteIndex()
		s.remote[network] = rix
	}
	return rix
}

// entry returns origin o's entry for mac, or nil.
func (rix *remoteIndex) entry(o Origin, mac [6]byte) *remoteEntry {
	if c := rix.claims[mac]; c != nil {
		return c[o]
	}
	return nil
}

// put makes e origin o's entry for mac (replacing any) in the index.
func (rix *remoteIndex) put(o Origin, mac [6]byte, e *remoteEntry) {
	c := rix.claims[mac]
	if c == nil {
		c = new([numOrigins]*remoteEntry)
		rix.claims[mac] = c
	}
	if old := c[o]; old != nil {
		rix.unclaimIPs(o, mac, old.addrs)
	}
	c[o] = e
	for _, a := range e.addrs {
		rix.ips[a] = append(rix.ips[a], ipClaim{origin: o, mac: mac})
	}
}

// drop removes origin o's entry for mac and returns it (nil if none).
func (rix *remoteIndex) drop(o Origin, mac [6]byte) *remoteEntry {
	c := rix.claims[mac]
	if c == nil || c[o] == nil {
		return nil
	}
	old := c[o]
	rix.unclaimIPs(o, mac, old.addrs)
	c[o] = nil
	if *c == ([numOrigins]*remoteEntry{}) {
		delete(rix.claims, mac)
	}
	return old
}

func (rix *remoteIndex) unclaimIPs(o Origin, mac [6]byte, addrs []netip.Addr) {
	for _, a := range addrs {
		cs := slices.DeleteFunc(rix.ips[a], func(c ipClaim) bool { return c.origin == o && c.mac == mac })
		if len(cs) == 0 {
			delete(rix.ips, a)
		} else {
			rix.ips[a] = cs
		}
	}
}

// empty reports whether the index holds nothing.
func (rix *remoteIndex) empty() bool { return len(rix.claims) == 0 && len(rix.active) == 0 }

// remoteWinner returns the origin and entry that win mac in network (whose
// state is ns, nil when it does not exist), if any.
func (s *State) remoteWinner(network string, ns *networkState, rix *remoteIndex, mac [6]byte) (Origin, *remoteEntry, bool) {
	if ns == nil {
		return 0, nil, false
	}
	if ns.macs.has(mac) {
		return OriginStatic, nil, false
	}
	c := rix.claims[mac]
	if c == nil {
		return 0, nil, false
	}
	for o, e := range c {
		if e != nil && s.tunnelUsable(network, e.tunnel) {
			return Origin(o), e, true
		}
	}
	return 0, nil, false
}

// ipWinner returns the claim that wins IP a in network among the dynamic
// entries, and false when a static binding has it or no winning entry
// lists it.
func (s *State) ipWinner(network string, ns *networkState, rix *remoteIndex, a netip.Addr) (ipClaim, bool) {
	if ns.ips.has(keyOf(a)) {
		return ipClaim{}, false
	}
	var best ipClaim
	found := false
	for _, c := range rix.ips[a] {
		if o, _, ok := s.remoteWinner(network, ns, rix, c.mac); !ok || o != c.origin {
			continue
		}
		if !found || c.origin < best.origin || (c.origin == best.origin && bytes.Compare(c.mac[:], best.mac[:]) < 0) {
			best, found = c, true
		}
	}
	return best, found
}

// effective computes what mac of network compiles now.
func (s *State) effective(network string, ns *networkState, rix *remoteIndex, mac [6]byte) (activeRemote, bool) {
	o, e, ok := s.remoteWinner(network, ns, rix, mac)
	if !ok {
		return activeRemote{}, false
	}
	act := activeRemote{origin: o, tunnel: e.tunnel}
	for _, a := range e.addrs {
		if w, ok := s.ipWinner(network, ns, rix, a); ok && w.origin == o && w.mac == mac {
			act.addrs = append(act.addrs, a)
		}
	}
	return act, true
}

// refreshRemote brings network's active remote MACs up to date after what
// touched MACs (and, statically, the IPs addrs) said changed, and notes in
// ch every remote MAC whose flows change. What an IP's claimants win
// depends on each other, so the MACs that share an IP with a touched one
// (before or after) are looked at too.
func (s *State) refreshRemote(network string, macs [][6]byte, addrs []netip.Addr, ch *Change) {
	rix := s.remote[network]
	if rix == nil {
		return
	}
	affected := make(map[[6]byte]struct{}, len(macs))
	share := func(as []netip.Addr) {
		for _, a := range as {
			for _, c := range rix.ips[a] {
				affected[c.mac] = struct{}{}
			}
		}
	}
	share(addrs)
	for _, mac := range macs {
		affected[mac] = struct{}{}
		share(rix.active[mac].addrs)
		if c := rix.claims[mac]; c != nil {
			for _, e := range c {
				if e != nil {
					share(e.addrs)
				}
			}
		}
	}
	ns := s.networks[network]
	for mac := range affected {
		old, was := rix.active[mac]
		now, is := s.effective(network, ns, rix, mac)
		switch {
		case was && is && old.equal(now):
			continue
		case is:
			rix.active[mac] = now
		default:
			delete(rix.active, mac)
		}
		if was {
			ch.RemoteMACs = append(ch.RemoteMACs, RemoteMACChange{Origin: old.origin, Network: network, MAC: mac})
		}
		if is && (!was || old.origin != now.origin) {
			ch.RemoteMACs = append(ch.RemoteMACs, RemoteMACChange{Origin: now.origin, Network: network, MAC: mac})
		}
	}
	if rix.empty() {
		delete(s.remote, network)
	}
}

// refreshNetworkRemote refreshes every remote MAC of network: after a
// change of what its tunnels admit or of the network itself.
func (s *State) refreshNetworkRemote(network string, ch *Change) {
	rix := s.remote[network]
	if rix == nil {
		return
	}
	macs := make([][6]byte, 0, len(rix.claims)+len(rix.active))
	for mac := range rix.claims {
		macs = append(macs, mac)
	}
	for mac := range rix.active {
		if rix.claims[mac] == nil {
			macs = append(macs, mac)
		}
	}
	s.refreshRemote(network, macs, nil, ch)
}

// refreshStatic refreshes what the static bindings entries of network
// (bound, unbound or changed) may have taken from or given back to the
// dynamic origins.
func (s *State) refreshStatic(network string, entries []macEntry, ch *Change) {
	rix := s.remote[network]
	if rix == nil {
		return
	}
	var macs [][6]byte
	var addrs []netip.Addr
	for _, e := range entries {
		if _, claimed := rix.claims[e.hw]; claimed {
			macs = append(macs, e.hw)
		}
		for _, a := range e.addrs {
			if _, claimed := rix.ips[a]; claimed {
				addrs = append(addrs, a)
			}
		}
	}
	if len(macs)+len(addrs) > 0 {
		s.refreshRemote(network, macs, addrs, ch)
	}
}

// activeOn returns the remote MAC of a dynamic origin that compiles as mac
// through API connection cs (sharing its tunnel), if any; rix may be nil.
func (rix *remoteIndex) activeOn(cs *connState, mac [6]byte, s *State) (activeRemote, bool) {
	if rix == nil {
		return activeRemote{}, false
	}
	act, ok := rix.active[mac]
	if !ok || s.staticConnOf(act.tunnel) != cs {
		return activeRemote{}, false
	}
	return act, true
}
