package evpn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"github.com/l2gw/l2gw/app"
)

// The loop's inputs, pushed in its inbox by GoBGP's watcher, the local-MAC
// watch and the configuration.
type (
	bestPaths []*apiutil.Path
	endOfRIB  struct {
		peer   netip.Addr
		family bgp.Family
	}
	peersChanged struct{ configured bool }
	networksSet  []app.Network
	localEvent   app.LocalMACEvent
	feedAttached struct{ feed *app.Feed }
)

// macKey names a MAC of a network.
type macKey struct {
	network string
	mac     [6]byte
}

// floodKey names a flood target: a network and a remote VTEP with its VNI.
type floodKey struct {
	network  string
	endpoint netip.Addr
	vni      uint32
}

// evpnNet is a network that joins EVPN, as the loop keeps it.
type evpnNet struct {
	app.Network
	vni     uint32
	orig    origination
	imports map[string]bool // explicit import route targets; nil means auto (*:VNI)
}

// ribEntry is a route of another site and the networks it was imported
// into.
type ribEntry struct {
	r    received
	peer string
	nets []string
}

// advRoute is a route this site advertises.
type advRoute struct {
	path *apiutil.Path
	seq  uint32
	ip   netip.Addr // invalid for the MAC-only route
}

// loop is the speaker's state, owned by its one goroutine (run).
type loop struct {
	s      *Speaker
	nets   map[string]*evpnNet
	rib    map[string]*ribEntry // every route of other sites, by route key
	macs   map[macKey]*macState
	locals map[macKey][]netip.Addr // what the local-MAC watch has, EVPN or not
	floods map[floodKey]int        // imported inclusive multicast routes per target
	// adv is what this site advertises: per network its inclusive
	// multicast route (key "") and per MAC its routes, by route key.
	adv    map[macKey]map[string]advRoute
	imet   map[string]*apiutil.Path
	frozen map[macKey]bool
	dirty  map[macKey]bool
	// feed is where remote MACs and flood targets go (nil until
	// attached: they wait in out); synced says every peer sent End-of-RIB
	// (told to the feed once it is there), toldSynced that the feed knows.
	feed       *app.Feed
	synced     bool
	toldSynced bool
	swept      time.Time // when thaw last swept macs
	// senders are the peers that sent routes since their route counts
	// were last checked against max_routes.
	senders map[netip.Addr]bool
	out     batch
}

// batch is what one turn of the loop sends: to GoBGP and to the feed.
type batch struct {
	add, del    []*apiutil.Path
	upsert      map[macKey]app.RemoteMAC
	withdraw    map[macKey]bool
	floodAdd    map[floodKey]bool
	floodRemove map[floodKey]bool
}

func (b *batch) reset() {
	*b = batch{upsert: map[macKey]app.RemoteMAC{}, withdraw: map[macKey]bool{}, floodAdd: map[floodKey]bool{}, floodRemove: map[floodKey]bool{}}
}

// run is the speaker's loop: it takes what its inbox holds, works out
// what changes, and sends it in one batch, until ctx ends.
func (s *Speaker) run(ctx context.Context) {
	defer close(s.done)
	l := &loop{
		s: s, feed: s.cfg.Feed, nets: map[string]*evpnNet{}, rib: map[string]*ribEntry{}, macs: map[macKey]*macState{},
		locals: map[macKey][]netip.Addr{}, floods: map[floodKey]int{}, adv: map[macKey]map[string]advRoute{},
		imet: map[string]*apiutil.Path{}, frozen: map[macKey]bool{}, dirty: map[macKey]bool{}, senders: map[netip.Addr]bool{},
	}
	l.out.reset()
	thaw := time.NewTicker(time.Second)
	defer thaw.Stop()
	// GoBGP counts a peer's routes by walking its whole Adj-RIB-In (under
	// the server's lock): at most one count per maxRoutesCheck while
	// routes keep coming, and one once they stop.
	check := time.NewTimer(0)
	defer check.Stop()
	var checked time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.q.Wake():
		case <-thaw.C:
			l.thaw(time.Now())
		case <-check.C:
		}
		for _, item := range s.q.Take() {
			l.handle(ctx, item)
		}
		l.flush(ctx)
		if len(l.senders) == 0 {
			continue
		}
		if wait := maxRoutesCheck - time.Since(checked); wait > 0 {
			check.Reset(wait)
			continue
		}
		s.enforceMaxRoutes(ctx, l.senders)
		clear(l.senders)
		checked = time.Now()
	}
}

// maxRoutesCheck is how often, at most, the speaker counts the routes of
// the peers that keep sending, against their max_routes.
const maxRoutesCheck = 500 * time.Millisecond

// handle applies one input.
func (l *loop) handle(ctx context.Context, item any) {
	switch v := item.(type) {
	case bestPaths:
		for _, p := range v {
			l.path(p)
			if p.PeerAddress.IsValid() && !p.Withdrawal {
				l.senders[p.PeerAddress] = true
			}
		}
	case endOfRIB:
		if isEVPN(v.family) && l.s.markEOR(v.peer) {
			l.markSynced()
		}
	case peersChanged:
		if v.configured && l.s.allSynced() {
			l.markSynced()
		}
	case networksSet:
		l.setNetworks(v)
	case localEvent:
		l.local(app.LocalMACEvent(v))
	case feedAttached:
		l.feed = v.feed
		if l.synced {
			l.tellSynced()
		}
	}
}

// markSynced records that every peer has told everything, and tells the
// feed once it is there.
func (l *loop) markSynced() {
	if l.synced {
		return
	}
	l.synced = true
	if l.feed != nil {
		l.tellSynced()
	}
}

// tellSynced tells the feed everything known, then that it is all.
func (l *loop) tellSynced() {
	if l.toldSynced {
		return
	}
	l.toldSynced = true
	l.flush(context.Background())
	l.feed.Synced()
}

// path takes in one best-path change of GoBGP's table.
func (l *loop) path(p *apiutil.Path) {
	if !isEVPN(p.Family) || !p.PeerAddress.IsValid() {
		return // not EVPN, or this site's own route
	}
	r, err := parsePath(p)
	old := l.rib[r.key]
	if old != nil {
		l.unimport(old)
		delete(l.rib, r.key)
	}
	if p.Withdrawal {
		return
	}
	peer := l.s.peerName(p.PeerAddress)
	if err != nil {
		l.s.met.dropped(errors.Is(err, errUnsupported))
		l.s.log.Warn("EVPN route dropped", "peer", peer, "err", err)
		return
	}
	if r.endpoint == l.s.cfg.TunnelIP || slices.Contains(l.s.cfg.SiteTunnelIPs, r.endpoint) {
		return // this site's own route, reflected back or the HA peer's
	}
	e := &ribEntry{r: r, peer: peer}
	l.rib[r.key] = e
	l.importRoute(e, l.nets)
}

// importRoute applies a route to every network of nets whose import route
// targets it matches.
func (l *loop) importRoute(e *ribEntry, nets map[string]*evpnNet) {
	for _, n := range nets {
		if n.imports != nil && !slices.ContainsFunc(e.r.rts, func(rt string) bool { return n.imports[rt] }) {
			continue
		}
		if n.imports == nil && !slices.ContainsFunc(e.r.rts, func(rt string) bool { return rtAdmin(rt) == n.vni }) {
			continue
		}
		e.nets = append(e.nets, n.Name)
		l.s.met.route(e.peer, e.r, 1)
		switch e.r.kind {
		case typeIMET:
			k := floodKey{n.Name, e.r.endpoint, e.r.vni}
			if l.floods[k]++; l.floods[k] == 1 {
				delete(l.out.floodRemove, k)
				l.out.floodAdd[k] = true
			}
		case typeMACIP:
			mk := macKey{n.Name, e.r.mac}
			m := l.mac(mk)
			m.remote.set(e.r.key, remoteRoute{endpoint: e.r.endpoint, vni: e.r.vni, seq: e.r.seq, sticky: e.r.sticky, ip: e.r.ip})
			l.dirty[mk] = true
		}
	}
}

// unimport takes a route back from the networks it was imported into.
func (l *loop) unimport(e *ribEntry) {
	for _, name := range e.nets {
		l.s.met.route(e.peer, e.r, -1)
		switch e.r.kind {
		case typeIMET:
			k := floodKey{name, e.r.endpoint, e.r.vni}
			if l.floods[k]--; l.floods[k] <= 0 {
				delete(l.floods, k)
				if !l.out.floodAdd[k] {
					l.out.floodRemove[k] = true
				}
				delete(l.out.floodAdd, k)
			}
		case typeMACIP:
			mk := macKey{name, e.r.mac}
			if m := l.macs[mk]; m != nil {
				m.remote.del(e.r.key)
				l.dirty[mk] = true
			}
		}
	}
	e.nets = nil
}

// rtAdmin returns a route target's assigned number (what follows the last
// ':'), or 0.
func rtAdmin(rt string) uint32 {
	i := strings.LastIndexByte(rt, ':')
	n, err := strconv.ParseUint(rt[i+1:], 10, 32)
	if i < 0 || err != nil {
		return 0
	}
	return uint32(n)
}

// mac returns the state of MAC k, made when new.
func (l *loop) mac(k macKey) *macState {
	m := l.macs[k]
	if m == nil {
		m = &macState{}
		l.macs[k] = m
	}
	return m
}

// local takes in one event of the local-MAC watch.
func (l *loop) local(ev app.LocalMACEvent) {
	hw, err := net.ParseMAC(ev.MAC)
	if err != nil || len(hw) != 6 {
		return
	}
	k := macKey{ev.Network, [6]byte(hw)}
	ips := slices.Clone(ev.IPs)
	slices.SortFunc(ips, netip.Addr.Compare)
	switch ev.Kind {
	case app.LocalMACAdded, app.LocalMACMoved, app.LocalMACIPs:
		_, known := l.locals[k]
		l.locals[k] = ips
		if l.nets[k.network] == nil {
			return
		}
		m := l.mac(k)
		if known && ev.Kind != app.LocalMACAdded {
			// From one local attachment to another, or new IPs: no site
			// change.
			m.local, m.localIPs = true, ips
			l.dirty[k] = true
			return
		}
		l.apply(k, m, func(now time.Time) outcome { return l.s.mob.arrive(m, ips, now) })
	case app.LocalMACRemoved:
		delete(l.locals, k)
		if m := l.macs[k]; m != nil {
			l.apply(k, m, func(now time.Time) outcome { return l.s.mob.leave(m, now) })
		}
	}
}

// apply runs one mobility decision for MAC k and queues what it changes.
func (l *loop) apply(k macKey, m *macState, decide func(time.Time) outcome) {
	now := time.Now()
	prevFed := m.fed
	out := decide(now)
	l.queueMAC(k, m, prevFed, out)
}

// queueMAC queues what a decision changes: this site's routes for the MAC
// and what the feed was told.
func (l *loop) queueMAC(k macKey, m *macState, prevFed *claim, out outcome) {
	n := l.nets[k.network]
	if out.moved {
		l.s.met.moves.Inc()
	}
	if out.frozen {
		l.frozen[k] = true
		l.s.met.frozen(len(l.frozen))
		l.s.log.Warn("duplicate MAC: moved too often, frozen", "network", k.network, "mac", net.HardwareAddr(k.mac[:]),
			"moves", l.s.mob.maxMoves, "window", l.s.mob.window, "until", m.frozenUntil.Format(time.RFC3339))
	}
	if out.lostToSticky {
		l.s.log.Warn("local MAC not advertised: another site advertises it sticky (static)", "network", k.network, "mac", net.HardwareAddr(k.mac[:]), "site", out.fed.endpoint)
	}
	l.advertise(n, k, m, out.adv)
	switch {
	case out.fed == nil && prevFed != nil:
		delete(l.out.upsert, k)
		l.out.withdraw[k] = true
	case out.fed != nil && (prevFed == nil || !sameClaim(*prevFed, *out.fed)):
		delete(l.out.withdraw, k)
		l.out.upsert[k] = app.RemoteMAC{
			Network: k.network,
			Tunnel:  app.Tunnel{Endpoint: out.fed.endpoint, NetworkType: app.TypeVXLAN, SegmentationID: out.fed.vni},
			MAC:     net.HardwareAddr(k.mac[:]),
			IPs:     out.fed.ips,
		}
	}
	if m.empty(time.Now(), l.s.mob.window) {
		delete(l.macs, k)
	}
}

// sameClaim tells whether two claims lead the same way.
func sameClaim(a, b claim) bool {
	return a.endpoint == b.endpoint && a.vni == b.vni && slices.Equal(a.ips, b.ips)
}

// advertise makes this site's routes for MAC k those of adv (nil: none);
// m is the MAC's state (nil when the network is leaving).
//
// GoBGP v4.8.0 checks the MAC mobility sequence of every MAC/IP route
// given to AddPath or DeletePath against the routes it has for the MAC
// (server.go fixupApiPath): it refuses a route whose sequence is below the
// highest another site advertises +1, and gives one without the community
// a sequence of its own. So a route (re)advertised while another site
// claims the MAC takes that site's sequence +1 (a tie this site won is made
// a take-over), and withdrawals carry no mobility community (BGP
// withdraws by prefix; the attributes do not matter).
func (l *loop) advertise(n *evpnNet, k macKey, m *macState, adv *advert) {
	have := l.adv[k]
	want := map[string]advRoute{}
	if adv != nil && n != nil {
		ips := append([]netip.Addr{{}}, adv.ips...)
		if m != nil && l.readds(n, k, have, ips, adv.seq) {
			if w, ok := m.winner(); ok && w.seq >= adv.seq {
				adv.seq = w.seq + 1
			}
		}
		for _, ip := range ips {
			p, err := n.orig.macPath(k.mac, ip, adv.seq)
			if err != nil {
				l.s.log.Error("cannot build a MAC/IP route", "network", k.network, "err", err)
				continue
			}
			key := routeKey(p.Nlri.(*bgp.EVPNNLRI))
			if cur, ok := have[key]; ok && cur.seq == adv.seq {
				want[key] = cur
				continue
			}
			want[key] = advRoute{path: p, seq: adv.seq, ip: ip}
			l.out.add = append(l.out.add, p)
		}
	}
	for key, cur := range have {
		if _, ok := want[key]; ok {
			continue
		}
		if w, err := l.withdrawal(k, cur.ip); err == nil {
			l.out.del = append(l.out.del, w)
		}
	}
	if len(want) == 0 {
		delete(l.adv, k)
		return
	}
	l.adv[k] = want
}

// readds tells whether advertising ips at seq for MAC k sends any route
// anew (a new IP, or another sequence).
func (l *loop) readds(n *evpnNet, k macKey, have map[string]advRoute, ips []netip.Addr, seq uint32) bool {
	for _, ip := range ips {
		cur, ok := have[routeKey(n.orig.macNLRI(k.mac, ip))]
		if !ok || cur.seq != seq {
			return true
		}
	}
	return false
}

// withdrawal is the route to give DeletePath for this site's route of
// MAC k (and ip): its prefix, without a mobility community.
func (l *loop) withdrawal(k macKey, ip netip.Addr) (*apiutil.Path, error) {
	n := l.nets[k.network]
	if n == nil {
		return nil, fmt.Errorf("network %s is not in EVPN", k.network)
	}
	return n.orig.macPath(k.mac, ip, 0)
}

// thaw ends the freezes that are over, and forgets the MACs kept only for
// moves now out of the window.
func (l *loop) thaw(now time.Time) {
	if now.Sub(l.swept) >= l.s.mob.window {
		l.swept = now
		for k, m := range l.macs {
			if m.empty(now, l.s.mob.window) {
				delete(l.macs, k)
			}
		}
	}
	for k := range l.frozen {
		m := l.macs[k]
		if m == nil {
			delete(l.frozen, k)
			continue
		}
		if m.thaw(now) {
			delete(l.frozen, k)
			l.s.log.Info("duplicate MAC thawed", "network", k.network, "mac", net.HardwareAddr(k.mac[:]))
			l.dirty[k] = true
		}
	}
	l.s.met.frozen(len(l.frozen))
}

// setNetworks makes the EVPN networks those of nets.
func (l *loop) setNetworks(nets []app.Network) {
	want := map[string]app.Network{}
	for _, n := range nets {
		want[n.Name] = n
	}
	for name, n := range l.nets {
		if w, ok := want[name]; !ok || !sameNetwork(w, n.Network) {
			l.leaveNetwork(n)
		}
	}
	for name, w := range want {
		if l.nets[name] != nil {
			continue
		}
		n, err := l.newNet(w)
		if err != nil {
			l.s.log.Error("network not joined to EVPN", "network", name, "err", err)
			continue
		}
		l.joinNetwork(n)
	}
}

// sameNetwork tells whether two EVPN configurations of a network are the
// same.
func sameNetwork(a, b app.Network) bool {
	return a.Name == b.Name && a.ID == b.ID && a.EVPN.VNI == b.EVPN.VNI &&
		slices.Equal(a.EVPN.ImportRTs, b.EVPN.ImportRTs) && slices.Equal(a.EVPN.ExportRTs, b.EVPN.ExportRTs)
}

// newNet works out what a network's routes carry.
func (l *loop) newNet(w app.Network) (*evpnNet, error) {
	if w.ID > 0xffff {
		return nil, fmt.Errorf("network ID %d does not fit a route distinguisher's 16-bit number", w.ID)
	}
	rd, err := bgp.NewRouteDistinguisherIPAddressAS(l.s.cfg.RouterID, uint16(w.ID))
	if err != nil {
		return nil, fmt.Errorf("route distinguisher: %w", err)
	}
	e := w.EVPN
	n := &evpnNet{Network: w, vni: e.VNI, orig: origination{rd: rd, self: l.s.cfg.TunnelIP, vni: e.VNI}}
	if len(e.ExportRTs) == 0 {
		n.orig.exports = []bgp.ExtendedCommunityInterface{autoRT(l.s.cfg.ASN, e.VNI)}
	}
	for _, rt := range e.ExportRTs {
		c, err := bgp.ParseRouteTarget(rt)
		if err != nil {
			return nil, fmt.Errorf("export route target %q: %w", rt, err)
		}
		n.orig.exports = append(n.orig.exports, c)
	}
	if len(e.ImportRTs) > 0 {
		n.imports = map[string]bool{}
		for _, rt := range e.ImportRTs {
			c, err := bgp.ParseRouteTarget(rt)
			if err != nil {
				return nil, fmt.Errorf("import route target %q: %w", rt, err)
			}
			text, _ := routeTarget(c)
			n.imports[text] = true
		}
	}
	return n, nil
}

// autoRT is a network's automatic route target, ASN:VNI as FRR makes it
// (a 4-byte ASN keeps its low 16 bits, as FRR does).
func autoRT(asn, vni uint32) bgp.ExtendedCommunityInterface {
	return bgp.NewTwoOctetAsSpecificExtended(bgp.EC_SUBTYPE_ROUTE_TARGET, uint16(asn), vni, true)
}

// joinNetwork advertises a network's inclusive multicast route and its
// local MACs, and imports what the table has for it.
func (l *loop) joinNetwork(n *evpnNet) {
	l.nets[n.Name] = n
	p, err := n.orig.imetPath()
	if err != nil {
		l.s.log.Error("cannot build the inclusive multicast route", "network", n.Name, "err", err)
	} else {
		l.imet[n.Name] = p
		l.out.add = append(l.out.add, p)
	}
	joined := map[string]*evpnNet{n.Name: n}
	for _, e := range l.rib {
		l.importRoute(e, joined)
	}
	for k, ips := range l.locals {
		if k.network == n.Name {
			m := l.mac(k)
			l.apply(k, m, func(now time.Time) outcome { return l.s.mob.arrive(m, ips, now) })
		}
	}
	l.s.log.Info("network joined EVPN", "network", n.Name, "vni", n.vni, "rd", n.orig.rd.String())
}

// leaveNetwork withdraws everything of a network: this site's routes, and
// what the feed was told of it.
func (l *loop) leaveNetwork(n *evpnNet) {
	if p := l.imet[n.Name]; p != nil {
		l.out.del = append(l.out.del, p)
		delete(l.imet, n.Name)
	}
	for _, e := range l.rib {
		if i := slices.Index(e.nets, n.Name); i >= 0 {
			l.s.met.route(e.peer, e.r, -1)
			e.nets = slices.Delete(e.nets, i, i+1)
		}
	}
	for k, count := range l.floods {
		if k.network == n.Name && count > 0 {
			delete(l.floods, k)
			delete(l.out.floodAdd, k)
			l.out.floodRemove[k] = true
		}
	}
	for k, m := range l.macs {
		if k.network != n.Name {
			continue
		}
		if m.fed != nil {
			delete(l.out.upsert, k)
			l.out.withdraw[k] = true
		}
		l.advertise(n, k, nil, nil)
		delete(l.macs, k)
		delete(l.frozen, k)
		delete(l.dirty, k)
	}
	delete(l.nets, n.Name)
	l.s.log.Info("network left EVPN", "network", n.Name)
}

// flush resolves the MACs whose routes changed and sends the batch.
func (l *loop) flush(ctx context.Context) {
	now := time.Now()
	for k := range l.dirty {
		if m := l.macs[k]; m != nil {
			prevFed := m.fed
			l.queueMAC(k, m, prevFed, l.s.mob.resolve(m, now))
		}
	}
	clear(l.dirty)
	b := &l.out
	if len(b.del) > 0 {
		if err := l.s.bgp.DeletePath(apiutil.DeletePathRequest{Paths: b.del}); err != nil {
			l.s.log.Error("BGP withdraw failed", "routes", len(b.del), "err", err)
		}
	}
	if len(b.add) > 0 {
		if _, err := l.s.bgp.AddPath(apiutil.AddPathRequest{Paths: b.add}); err != nil {
			l.s.log.Error("BGP advertise failed", "routes", len(b.add), "err", err)
		}
	}
	b.add, b.del = b.add[:0], b.del[:0]
	l.s.met.advertised(len(l.imet), len(l.adv))
	if l.feed != nil {
		l.feedOut()
		b.reset()
	}
}

// feedOut tells the feed what the batch changes. A call the feed refuses
// (a route it finds malformed, say) is retried item by item, so one bad
// route costs only itself.
func (l *loop) feedOut() {
	b := &l.out
	feed := l.feed
	var floods []app.FloodTarget
	for k := range b.floodAdd {
		floods = append(floods, floodTarget(k))
	}
	each(l, floods, feed.AddFloodTargets, "flood target")
	var macs []app.RemoteMAC
	for _, m := range b.upsert {
		macs = append(macs, m)
	}
	each(l, macs, feed.UpsertRemoteMACs, "remote MAC")
	var gone []app.RemoteMACKey
	for k := range b.withdraw {
		gone = append(gone, app.RemoteMACKey{Network: k.network, MAC: net.HardwareAddr(k.mac[:])})
	}
	each(l, gone, feed.WithdrawRemoteMACs, "withdrawal")
	floods = floods[:0]
	for k := range b.floodRemove {
		floods = append(floods, floodTarget(k))
	}
	each(l, floods, feed.RemoveFloodTargets, "flood target removal")
}

// each calls fn with all of items, or, when that fails, with each alone.
func each[T any](l *loop, items []T, fn func(...T) error, what string) {
	if len(items) == 0 || fn(items...) == nil {
		return
	}
	for _, it := range items {
		if err := fn(it); err != nil {
			l.s.met.dropped(false)
			l.s.log.Warn("EVPN "+what+" refused by the desired state", "err", err)
		}
	}
}

// floodTarget is k as the feed's flood target.
func floodTarget(k floodKey) app.FloodTarget {
	return app.FloodTarget{Network: k.network, Tunnel: app.Tunnel{Endpoint: k.endpoint, NetworkType: app.TypeVXLAN, SegmentationID: k.vni}}
}
