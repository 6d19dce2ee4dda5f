package evpn

import (
	"net/netip"
	"slices"
	"time"
)

// Duplicate detection defaults, as FRR's: a MAC that moves DefaultMaxMoves
// times within DefaultMoveWindow is frozen.
const (
	DefaultMaxMoves   = 5
	DefaultMoveWindow = 180 * time.Second
)

// remoteRoute is one type-2 route of another site for a MAC: MAC-only when
// ip is invalid, else MAC+IP.
type remoteRoute struct {
	endpoint netip.Addr // the route's next hop: the remote VTEP
	vni      uint32
	seq      uint32 // MAC mobility sequence (0 without the community)
	sticky   bool
	ip       netip.Addr
}

// remoteRoutes are a MAC's routes from other sites, by route key (see
// routeKey). A MAC has one or two per site (MAC-only, MAC+IP), and a few
// sites at most: a slice costs a tenth of a map.
type remoteRoutes []keyedRoute

// keyedRoute is a remote route and its route key.
type keyedRoute struct {
	key string
	remoteRoute
}

// set makes r the route of key.
func (rs *remoteRoutes) set(key string, r remoteRoute) {
	for i := range *rs {
		if (*rs)[i].key == key {
			(*rs)[i].remoteRoute = r
			return
		}
	}
	*rs = append(*rs, keyedRoute{key: key, remoteRoute: r})
}

// del removes the route of key, if there is one.
func (rs *remoteRoutes) del(key string) {
	if *rs = slices.DeleteFunc(*rs, func(r keyedRoute) bool { return r.key == key }); len(*rs) == 0 {
		*rs = nil
	}
}

// claim is what one remote site says of a MAC: all its routes for it
// taken together.
type claim struct {
	endpoint netip.Addr
	vni      uint32
	seq      uint32
	sticky   bool
	ips      []netip.Addr // sorted
}

// beats tells whether claim c wins over d (RFC 7432 section 15): a sticky
// MAC never moves, a higher sequence wins, and of equal sequences the lower
// endpoint IP.
func (c claim) beats(d claim) bool {
	if c.sticky != d.sticky {
		return c.sticky
	}
	if c.seq != d.seq {
		return c.seq > d.seq
	}
	return c.endpoint.Less(d.endpoint)
}

// advert is what this site advertises of a MAC.
type advert struct {
	seq uint32
	ips []netip.Addr // sorted
}

// macState is everything known of one MAC of one EVPN network: the other
// sites' routes, whether it is learned here, what this site advertises and
// what the feed was told, and its recent moves.
type macState struct {
	remote remoteRoutes
	// local says the local-MAC watch has the MAC on a local attachment;
	// localIPs are the IPs the host announced there.
	local    bool
	localIPs []netip.Addr
	// adv is what this site advertises (nil: nothing); fed is what the
	// feed was told (nil: nothing).
	adv *advert
	fed *claim
	// moves are the times the MAC changed site, within the move window;
	// frozenUntil is when a frozen MAC thaws (zero: not frozen).
	moves       []time.Time
	frozenUntil time.Time
}

// winner returns the remote claim that wins, if any.
func (m *macState) winner() (claim, bool) {
	var best claim
	found := false
	for _, c := range m.claims() {
		if !found || c.beats(best) {
			best, found = c, true
		}
	}
	return best, found
}

// claims groups the remote routes by site.
func (m *macState) claims() []claim {
	var out []claim
	for _, r := range m.remote {
		i := slices.IndexFunc(out, func(c claim) bool { return c.endpoint == r.endpoint })
		if i < 0 {
			out = append(out, claim{endpoint: r.endpoint, vni: r.vni})
			i = len(out) - 1
		}
		c := &out[i]
		c.seq = max(c.seq, r.seq)
		c.sticky = c.sticky || r.sticky
		if r.ip.IsValid() && !slices.Contains(c.ips, r.ip) {
			c.ips = append(c.ips, r.ip)
		}
	}
	for i := range out {
		slices.SortFunc(out[i].ips, netip.Addr.Compare)
	}
	return out
}

// mobility decides, per MAC, what this site advertises and what it
// follows, from the MAC's state; self is this gateway's tunnel IP (its
// claims' endpoint).
type mobility struct {
	self     netip.Addr
	maxMoves int
	window   time.Duration
}

// outcome is what resolve decided for a MAC, and what happened.
type outcome struct {
	adv    *advert
	fed    *claim
	moved  bool // the MAC changed site
	frozen bool // it is frozen now, and was not before
	// lostToSticky says a local MAC is not advertised because another site
	// advertises it sticky.
	lostToSticky bool
}

// arrive is the local-MAC watch reporting the MAC learned here (again):
// a MAC the other sites have is taken over with their highest sequence +1.
func (mb mobility) arrive(m *macState, ips []netip.Addr, now time.Time) outcome {
	wasLocal := m.local
	m.local, m.localIPs = true, ips
	w, remote := m.winner()
	if !remote || w.sticky || m.isFrozen(now) {
		// Nothing to take over (or nothing may move): keep advertising
		// at the sequence already given.
		return mb.resolve(m, now)
	}
	if m.adv != nil && w.seq < m.adv.seq {
		return mb.resolve(m, now)
	}
	// From another site (or back from one), or a tie to break for good.
	fromRemote := !wasLocal || m.fed != nil
	m.adv = &advert{seq: w.seq + 1, ips: ips}
	return mb.settle(m, now, fromRemote)
}

// leave is the local-MAC watch reporting the MAC gone from here.
func (mb mobility) leave(m *macState, now time.Time) outcome {
	m.local, m.localIPs = false, nil
	return mb.resolve(m, now)
}

// resolve decides again after the remote routes or the local IPs changed.
func (mb mobility) resolve(m *macState, now time.Time) outcome {
	return mb.settle(m, now, false)
}

// settle works out what to advertise and follow; arrived says the MAC
// just came here from another site (a move).
func (mb mobility) settle(m *macState, now time.Time, arrived bool) outcome {
	if m.isFrozen(now) {
		return outcome{adv: m.adv, fed: m.fed}
	}
	prevSite, hadSite := m.site()
	w, remote := m.winner()
	var adv *advert
	var fed *claim
	lostToSticky := false
	switch {
	case !m.local:
		if remote {
			fed = &w
		}
	case !remote:
		seq := uint32(0)
		if m.adv != nil {
			seq = m.adv.seq
		}
		adv = &advert{seq: seq, ips: m.localIPs}
	case w.sticky:
		fed, lostToSticky = &w, true
	case m.adv == nil:
		// Learned here, but another site won since: follow it until the
		// host speaks here again (arrive).
		fed = &w
	case w.seq > m.adv.seq || w.seq == m.adv.seq && w.endpoint.Less(mb.self):
		fed = &w
	default:
		adv = &advert{seq: m.adv.seq, ips: m.localIPs}
	}
	m.adv, m.fed = adv, fed
	out := outcome{adv: adv, fed: fed, lostToSticky: lostToSticky}
	site, hasSite := m.site()
	if arrived || hadSite && hasSite && site != prevSite {
		out.moved = true
		out.frozen = mb.recordMove(m, now)
	}
	return out
}

// site is where the MAC is now, as decided: this gateway or the endpoint
// it is followed to.
func (m *macState) site() (netip.Addr, bool) {
	switch {
	case m.adv != nil:
		return netip.Addr{}, true
	case m.fed != nil:
		return m.fed.endpoint, true
	}
	return netip.Addr{}, false
}

// recordMove counts a move and freezes the MAC when it moved maxMoves
// times within the window; it tells whether the MAC froze now.
func (mb mobility) recordMove(m *macState, now time.Time) bool {
	cut := now.Add(-mb.window)
	m.moves = slices.DeleteFunc(m.moves, func(t time.Time) bool { return !t.After(cut) })
	m.moves = append(m.moves, now)
	if len(m.moves) < mb.maxMoves {
		return false
	}
	m.frozenUntil = now.Add(mb.window)
	m.moves = nil
	return true
}

// isFrozen tells whether the MAC is frozen at now.
func (m *macState) isFrozen(now time.Time) bool {
	return !m.frozenUntil.IsZero() && now.Before(m.frozenUntil)
}

// thaw ends a freeze that is over; it tells whether it did.
func (m *macState) thaw(now time.Time) bool {
	if m.frozenUntil.IsZero() || now.Before(m.frozenUntil) {
		return false
	}
	m.frozenUntil = time.Time{}
	return true
}

// empty tells whether nothing is known of the MAC any more: no route, not
// here, not frozen, and no move within the window before now (a MAC that
// comes back soon must find its moves counted).
func (m *macState) empty(now time.Time, window time.Duration) bool {
	if len(m.remote) > 0 || m.local || m.adv != nil || m.fed != nil || !m.frozenUntil.IsZero() {
		return false
	}
	return len(m.moves) == 0 || !m.moves[len(m.moves)-1].After(now.Add(-window))
}
