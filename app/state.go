package app

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Options configures a State.
type Options struct {
	// Logger receives the state's log; nil means slog.Default().
	Logger *slog.Logger
	// LocalTunnelIPs are this gateway's own tunnel endpoints (--tunnel-ip:
	// one address, or an IPv4 and an IPv6 one); a remote gateway may use
	// none of them.
	LocalTunnelIPs []string
	// Origins are the dynamic origins whose sources run (each gets a
	// Feed). The data path of a dynamic origin not listed is empty: what
	// a previous run of l2gwd had of it goes at the first sync.
	Origins []Origin
	// HoldTime is how long what a dynamic origin told before a restart
	// (or its feed's Reset) stays while it has not reported synced; 0
	// means DefaultHoldTime.
	HoldTime time.Duration
}

// State is the desired state of one site's gateway, validated and durable.
// Reads are served from memory; every change is written to bbolt first and
// applied to memory only once committed, so a change the store could not
// save (a full or read-only disk) is rejected as Unavailable and leaves
// both untouched, and reads go on. The next change tries the store again
// (see checkStore). A State is safe for concurrent use.
//
// AddMACs calls run concurrently and share fsync'd transactions (group
// commit, see AddMACs); every other change runs alone, once no AddMACs is
// in flight.
type State struct {
	log   *slog.Logger
	local []netip.Addr
	// db is the store at path; it changes (reopen) only under mu with no
	// AddMACs call in flight.
	db   *bolt.DB
	path string
	// update runs fn in one read-write transaction of its own (db.Update);
	// batch may run it in a transaction shared with concurrent calls and
	// may call it more than once (db.Batch). Tests swap them to make
	// writes fail.
	update func(fn func(*bolt.Tx) error) error
	batch  func(fn func(*bolt.Tx) error) error

	mu sync.RWMutex
	// closed says Close was called: the store stays closed.
	closed bool
	// txs tracks write transactions since one failed (checkStore);
	// failing says the last write failed.
	txs     txLog
	failing bool
	// idle is signalled (on mu) when adding or draining drops to 0.
	idle *sync.Cond
	// adding counts AddMACs calls between reserving their bindings and
	// settling them; draining counts other changes waiting for adding to
	// reach 0 (new AddMACs wait for those first, so neither starves).
	adding    int
	draining  int
	networks  map[string]*networkState
	gateways  map[string]RemoteGateway
	conns     map[string]*connState
	ports     map[Attachment]string // (port, VLAN) → network
	tunnelIPs map[netip.Addr]string // tunnel IP → remote gateway
	tunnels   map[tunnelKey]string  // what admits tunnel traffic → connection
	vnis      map[uint32]string     // EVPN VNI → network
	peers     map[string]BGPPeer
	peerAddrs map[netip.Addr]string // BGP peer address → peer
	netIDs    *idSpace
	connIDs   *idSpace
	macIDs    *idSpace

	// What the dynamic origins told (see feed.go, remote.go, derived.go).
	feeds    [numOrigins]*feedState // nil for the static origin and origins without a source
	holdTime time.Duration
	remote   map[string]*remoteIndex // by network name
	derived  map[derivedKey]*derivedConn
	// droppedDerived names the records restore could not take back.
	droppedDerived []string
	// The networks the dynamic origins told (see feednetworks.go), and
	// those of them in force by name (in networks too); dropped names
	// the records of them restore could not take back.
	feedNets    map[feedNetKey]*feedNetwork
	feedInForce map[string]*feedNetwork
	droppedNets []string

	// changesMu guards changes: committed, not yet delivered, in the
	// order they were applied to memory. It is taken under mu (publish)
	// and under subMu (deliver), and holds nothing else.
	changesMu sync.Mutex
	changes   []Change
	// subMu serialises delivery to subs; it is never taken under mu.
	subMu sync.Mutex
	subs  []func(Change)
}

// networkState is a network and the index of what is bound in it. The
// index also holds the bindings of AddMACs calls in flight (reserved, not
// yet committed), so that concurrent adds are checked against each other.
type networkState struct {
	Network
	byGateway map[string]string // remote gateway → connection
	macs      *macOwners        // bound or reserved MAC → connection
	ips       *ipOwners         // bound or reserved IP → MAC
}

// addrKey is an IP address as a network's index keys it: its 16-byte form
// and whether it is IPv4. A netip.Addr holds a pointer; a million of them
// as keys cost the collector a million pointers to follow.
type addrKey struct {
	a   [16]byte
	is4 bool
}

func keyOf(a netip.Addr) addrKey { return addrKey{a: a.As16(), is4: a.Is4()} }

// connState is a connection and its committed MAC bindings.
type connState struct {
	Connection
	macs *macTable
	// bindingSum is the multiset hash of macs (DesiredStateDigest); only
	// setBinding and dropBinding change macs, and keep it.
	bindingSum multisetSum
}

// tunnelKey is what the data path admits tunnel traffic by: the remote IP
// (one per gateway) on one tunnel port (one per type) with one key.
type tunnelKey struct {
	gateway        string
	networkType    string
	segmentationID uint32
}

func tunnelKeyOf(c Connection) tunnelKey {
	return tunnelKey{gateway: c.RemoteGateway, networkType: c.NetworkType, segmentationID: c.SegmentationID}
}

// Open loads the state stored in dataDir (created if needed) from its bbolt
// file. It fails if another process holds the file.
func Open(dataDir string, opts Options) (*State, error) {
	s := &State{
		log:         opts.Logger,
		networks:    make(map[string]*networkState),
		gateways:    make(map[string]RemoteGateway),
		conns:       make(map[string]*connState),
		ports:       make(map[Attachment]string),
		tunnelIPs:   make(map[netip.Addr]string),
		tunnels:     make(map[tunnelKey]string),
		vnis:        make(map[uint32]string),
		peers:       make(map[string]BGPPeer),
		peerAddrs:   make(map[netip.Addr]string),
		netIDs:      newIDSpace(kindNetwork),
		connIDs:     newIDSpace(kindConnection),
		macIDs:      newIDSpace(kindMAC),
		holdTime:    opts.HoldTime,
		remote:      make(map[string]*remoteIndex),
		derived:     make(map[derivedKey]*derivedConn),
		feedNets:    make(map[feedNetKey]*feedNetwork),
		feedInForce: make(map[string]*feedNetwork),
	}
	if s.holdTime == 0 {
		s.holdTime = DefaultHoldTime
	}
	for _, o := range opts.Origins {
		if !o.Dynamic() || int(o) >= numOrigins {
			return nil, fmt.Errorf("origin %s is not a dynamic origin", o)
		}
		s.feeds[o] = &feedState{}
	}
	s.idle = sync.NewCond(&s.mu)
	if s.log == nil {
		s.log = slog.Default()
	}
	for _, ip := range opts.LocalTunnelIPs {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, fmt.Errorf("local tunnel IP: %w", err)
		}
		s.local = append(s.local, a.Unmap())
	}
	db, err := openDB(dataDir)
	if err != nil {
		return nil, err
	}
	s.db = db
	s.path = db.Path()
	s.update = func(fn func(*bolt.Tx) error) error { return s.db.Update(fn) }
	s.batch = func(fn func(*bolt.Tx) error) error { return s.db.Batch(fn) }
	stored, err := loadDB(db)
	if err == nil {
		err = s.restore(stored)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("load desired state from %s: %w", s.path, err)
	}
	s.startFeeds()
	if err := releasePages(db); err != nil {
		s.log.Warn("could not release the store's pages from memory", "err", err)
	}
	s.log.Info("desired state loaded", "path", s.path, "networks", len(s.networks),
		"remote_gateways", len(s.gateways), "connections", len(s.conns), "macs", s.macIDs.inUse(),
		"evpn_networks", len(s.vnis), "bgp_peers", len(s.peers))
	return s, nil
}

// restore builds memory from what the store holds, checking that it is
// consistent.
func (s *State) restore(st *storedState) error {
	for _, n := range st.networks {
		if !s.netIDs.free(n.ID) {
			return fmt.Errorf("network %s: id %d out of range or duplicate", n.Name, n.ID)
		}
		if n.EVPN != nil {
			if owner, taken := s.vnis[n.EVPN.VNI]; taken {
				return fmt.Errorf("network %s: evpn vni %d is network %s's too", n.Name, n.EVPN.VNI, owner)
			}
		}
		s.addNetwork(n)
	}
	for _, g := range st.gateways {
		ips := make([]netip.Addr, len(g.TunnelIPs))
		for i, text := range g.TunnelIPs {
			ip, err := netip.ParseAddr(text)
			if err != nil {
				return fmt.Errorf("remote gateway %s: %w", g.Name, err)
			}
			if owner, taken := s.tunnelIPs[ip]; taken {
				return fmt.Errorf("remote gateway %s: tunnel ip %s is remote gateway %s's too", g.Name, ip, owner)
			}
			ips[i] = ip
		}
		s.addGateway(g, ips)
	}
	for _, p := range st.peers {
		addr, err := netip.ParseAddr(p.Address)
		if err != nil {
			return fmt.Errorf("bgp peer %s: %w", p.Name, err)
		}
		if owner, taken := s.peerAddrs[addr]; taken {
			return fmt.Errorf("bgp peer %s: address %s is bgp peer %s's too", p.Name, addr, owner)
		}
		s.addBGPPeer(p, addr)
	}
	for _, c := range st.connections {
		if _, ok := s.gateways[c.RemoteGateway]; !ok || s.networks[c.Network] == nil {
			return fmt.Errorf("connection %s refers to a missing network or remote gateway", c.Name)
		}
		if !s.connIDs.free(c.ID) {
			return fmt.Errorf("connection %s: id %d out of range or duplicate", c.Name, c.ID)
		}
		s.addConnection(c)
	}
	if err := s.restoreBindings(st.macs); err != nil {
		return err
	}
	for _, ids := range []*idSpace{s.netIDs, s.connIDs, s.macIDs} {
		if next, ok := st.cursors[ids.kind]; ok {
			ids.next.Store(next)
		}
	}
	s.droppedNets = s.restoreFeedNetworks(st.feedNetworks)
	s.droppedDerived = s.restoreDerived(st.derived)
	return nil
}

// restoreBindings binds the stored bindings (by connection). A million
// of them fill three maps of a million entries, each insert a cache miss:
// the connections' maps (and their digests) fill on one core while the
// networks' MAC and IP indexes fill on another (bindMAC, in two halves).
func (s *State) restoreBindings(macs map[string][]macEntry) error {
	if err := s.presizeIndexes(macs); err != nil {
		return err
	}
	for conn, entries := range macs {
		for _, e := range entries {
			if !s.macIDs.free(e.ID) {
				return fmt.Errorf("mac %s of %s: id %d out of range or duplicate", formatMAC(e.hw), conn, e.ID)
			}
			s.macIDs.mark(e.ID)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for conn, entries := range macs {
			cs := s.conns[conn]
			for _, e := range entries {
				cs.setBinding(e)
			}
		}
	})
	for conn, entries := range macs {
		cs := s.conns[conn]
		ns := s.networks[cs.Network]
		for _, e := range entries {
			indexAddresses(cs, ns, e)
		}
	}
	wg.Wait()
	return nil
}

// presizeIndexes makes the MAC and IP indexes of the connections and
// networks of macs (the stored bindings, by connection) as large as what
// restore puts in them: a million bindings grown insert by insert rehash
// the maps over and over.
func (s *State) presizeIndexes(macs map[string][]macEntry) error {
	type sizes struct{ macs, ips int }
	byNet := map[*networkState]sizes{}
	for conn, entries := range macs {
		cs := s.conns[conn]
		if cs == nil {
			return fmt.Errorf("bindings of missing connection %s", conn)
		}
		if cs.macs.len() == 0 {
			cs.macs = newMACTable(len(entries))
		}
		ns := s.networks[cs.Network]
		n := byNet[ns]
		n.macs += len(entries)
		for _, e := range entries {
			n.ips += len(e.addrs)
		}
		byNet[ns] = n
	}
	for ns, n := range byNet {
		if ns.macs.len() == 0 {
			ns.macs = newMACOwners(n.macs)
		}
		if ns.ips.len() == 0 {
			ns.ips = newIPOwners(n.ips)
		}
	}
	return nil
}

// restoreDerived brings back the connections dynamic origins named before
// l2gwd stopped, held for each origin that has a feed now until it is
// synced (see derived.go). The records only keep a restart hitless: one
// that cannot be taken back (its ID is another connection's, say, after a
// write that failed) is dropped, and the names of those are returned.
func (s *State) restoreDerived(records map[string]derivedRecord) []string {
	var dropped []string
	for name, r := range records {
		d, err := s.derivedOfRecord(r)
		if err != nil {
			s.log.Warn("dropping a connection a dynamic origin named before the restart", "connection", name, "err", err)
			dropped = append(dropped, name)
			continue
		}
		s.connIDs.mark(d.id)
		s.derived[d.derivedKey] = d
	}
	return dropped
}

// derivedOfRecord is the derived connection record r remembers, held for
// the origins that have a feed.
func (s *State) derivedOfRecord(r derivedRecord) (*derivedConn, error) {
	ip, err := netip.ParseAddr(r.Endpoint)
	if err != nil {
		return nil, err
	}
	if !s.connIDs.free(r.ID) {
		return nil, fmt.Errorf("id %d out of range or another connection's", r.ID)
	}
	d := &derivedConn{derivedKey: derivedKey{network: r.Network,
		tunnel: Tunnel{Endpoint: ip, NetworkType: r.NetworkType, SegmentationID: r.SegmentationID}}, id: r.ID}
	for name, ro := range r.Origins {
		o, err := ParseOrigin(name)
		if err != nil || !o.Dynamic() {
			return nil, fmt.Errorf("origin %q is not a dynamic origin", name)
		}
		d.saved[o] = recordedNamed
		if ro.Flood {
			d.saved[o] = recordedFlood
		}
		if s.feeds[o] != nil {
			d.refs[o] = derivedRef{held: true, heldFlood: ro.Flood}
		}
	}
	return d, nil
}

// startFeeds settles what restore brought back of the dynamic origins: the
// records of origins without a feed now go, as do those restore dropped,
// the networks they told are in force again unless they conflict, and the
// hold time of every feed starts.
func (s *State) startFeeds() {
	if len(s.droppedDerived)+len(s.droppedNets) > 0 {
		derived, nets := s.droppedDerived, s.droppedNets
		s.droppedDerived, s.droppedNets = nil, nil
		err := s.commit(func(tx *bolt.Tx) error {
			for _, name := range derived {
				if err := deleteKey(tx, bucketDerived, name); err != nil {
					return err
				}
			}
			for _, name := range nets {
				if err := deleteKey(tx, bucketFeedNetworks, name); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			s.log.Warn("could not delete the dropped records of dynamic origins' connections and networks", "err", err)
		}
	}
	s.resolveFeedNetworks(&Change{})
	var stale []*derivedConn
	for _, d := range s.derived {
		if d.saved != d.recordState() {
			stale = append(stale, d)
		}
		if !d.named() {
			delete(s.derived, d.derivedKey)
		}
	}
	if len(stale) > 0 {
		s.saveDerived(stale)
	}
	s.resolveDerived(&Change{})
	for o, fs := range s.feeds {
		if fs != nil {
			s.startHold(Origin(o))
		}
	}
}

// Close closes the store. Reads still answer from memory afterwards;
// changes fail as Unavailable.
func (s *State) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, fs := range s.feeds {
		if fs != nil && fs.hold != nil {
			fs.hold.Stop()
		}
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return nil
}

// Snapshot returns a deep copy of the whole state, IDs filled in, every
// list sorted by name (bindings by MAC).
func (s *State) Snapshot() Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	snap := Snapshot{
		Networks:       s.listNetworks(),
		RemoteGateways: s.listGateways(),
		Connections:    s.listConnections(),
		MACs:           make(map[string][]MACBinding, len(s.conns)),
	}
	for name, cs := range s.conns {
		snap.MACs[name] = cs.sortedBindings()
	}
	return snap
}
