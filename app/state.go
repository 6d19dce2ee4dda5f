package app

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

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
	netIDs    *idSpace
	connIDs   *idSpace
	macIDs    *idSpace

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
	byGateway map[string]string      // remote gateway → connection
	macs      map[[6]byte]string     // bound or reserved MAC → connection
	ips       map[netip.Addr][6]byte // bound or reserved IP → MAC
}

// connState is a connection and its committed MAC bindings.
type connState struct {
	Connection
	macs map[[6]byte]macEntry
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
		log:       opts.Logger,
		networks:  make(map[string]*networkState),
		gateways:  make(map[string]RemoteGateway),
		conns:     make(map[string]*connState),
		ports:     make(map[Attachment]string),
		tunnelIPs: make(map[netip.Addr]string),
		tunnels:   make(map[tunnelKey]string),
		netIDs:    newIDSpace(kindNetwork),
		connIDs:   newIDSpace(kindConnection),
		macIDs:    newIDSpace(kindMAC),
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
	if err := releasePages(db); err != nil {
		s.log.Warn("could not release the store's pages from memory", "err", err)
	}
	s.log.Info("desired state loaded", "path", s.path, "networks", len(s.networks),
		"remote_gateways", len(s.gateways), "connections", len(s.conns), "macs", len(s.macIDs.used))
	return s, nil
}

// restore builds memory from what the store holds, checking that it is
// consistent.
func (s *State) restore(st *storedState) error {
	for _, n := range st.networks {
		if !s.netIDs.free(n.ID) {
			return fmt.Errorf("network %s: id %d out of range or duplicate", n.Name, n.ID)
		}
		s.addNetwork(n)
	}
	for _, g := range st.gateways {
		ip, err := netip.ParseAddr(g.TunnelIP)
		if err != nil {
			return fmt.Errorf("remote gateway %s: %w", g.Name, err)
		}
		s.addGateway(g, ip)
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
	for conn, entries := range st.macs {
		cs := s.conns[conn]
		if cs == nil {
			return fmt.Errorf("bindings of missing connection %s", conn)
		}
		ns := s.networks[cs.Network]
		for _, e := range entries {
			if !s.macIDs.free(e.ID) {
				return fmt.Errorf("mac %s of %s: id %d out of range or duplicate", formatMAC(e.hw), conn, e.ID)
			}
			s.bindMAC(cs, ns, e)
		}
	}
	for _, ids := range []*idSpace{s.netIDs, s.connIDs, s.macIDs} {
		if next, ok := st.cursors[ids.kind]; ok {
			ids.next.Store(next)
		}
	}
	return nil
}

// Close closes the store. Reads still answer from memory afterwards;
// changes fail as Unavailable.
func (s *State) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return nil
}

// Subscribe registers fn to be called with every change committed from now
// on, exactly once, in the order the changes became visible (which is their
// commit order; AddMACs calls committed in one shared transaction come in
// any order among themselves), outside the State's lock and before the
// change's caller gets its answer. fn may read the State; calls are never
// concurrent.
func (s *State) Subscribe(fn func(Change)) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.deliverLocked() // changes committed before now go to the others only
	s.subs = append(s.subs, fn)
}

// mutate runs change under the write lock, alone (no AddMACs in flight),
// and, if it committed and touched something, tells the subscribers what
// (change fills ch in).
func (s *State) mutate(change func(ch *Change) error) error {
	var ch Change
	s.mu.Lock()
	s.waitForAdds()
	err := change(&ch)
	if err == nil && (ch.Topology || len(ch.Bindings) > 0) {
		s.publish(ch)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.deliver()
	return nil
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

// publish queues a committed change for the subscribers; mu is held, so
// the queue is in the order changes became visible.
func (s *State) publish(ch Change) {
	s.changesMu.Lock()
	s.changes = append(s.changes, ch)
	s.changesMu.Unlock()
}

// deliver hands every queued change to the subscribers. Called after
// publish, without mu: when it returns, the caller's change has been
// delivered, by this call or by the one that holds subMu before it.
func (s *State) deliver() {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.deliverLocked()
}

func (s *State) deliverLocked() {
	s.changesMu.Lock()
	changes := s.changes
	s.changes = nil
	s.changesMu.Unlock()
	for _, ch := range changes {
		for _, fn := range s.subs {
			fn(ch)
		}
	}
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

// ---- networks ----

// CreateNetwork adds a network and returns it as stored, ID assigned.
func (s *State) CreateNetwork(n Network) (Network, error) {
	var out Network
	err := s.mutate(func(ch *Change) error {
		ch.Topology = true
		n, err := validateNetwork(n)
		if err != nil {
			return err
		}
		if s.networks[n.Name] != nil {
			return alreadyExists("network", n.Name)
		}
		if err := s.checkPorts(n); err != nil {
			return err
		}
		ids, next, err := s.netIDs.allocate(1)
		if err != nil {
			return err
		}
		n.ID = ids[0]
		err = s.commit(func(tx *bolt.Tx) error {
			if err := putNetwork(tx, n); err != nil {
				return err
			}
			return putCursor(tx, kindNetwork, next)
		})
		if err != nil {
			return err
		}
		s.netIDs.next.Store(next)
		s.addNetwork(n)
		s.log.Info("network created", "network", n.Name, "id", n.ID, "attachments", len(n.Attachments))
		out = cloneNetwork(n)
		return nil
	})
	return out, err
}

// ReplaceNetwork replaces the attachments of an existing network (PUT);
// n.Name must be "" or name. The network keeps its ID and connections.
func (s *State) ReplaceNetwork(name string, n Network) (Network, error) {
	var out Network
	err := s.mutate(func(ch *Change) error {
		ch.Topology = true
		ns := s.networks[name]
		if ns == nil {
			return notFound("", "network %q not found", name)
		}
		if n.Name != "" && n.Name != name {
			return invalid("name", "name %q does not match network %q being replaced", n.Name, name)
		}
		n.Name = name
		n, err := validateNetwork(n)
		if err != nil {
			return err
		}
		if err := s.checkPorts(n); err != nil {
			return err
		}
		n.ID = ns.ID
		if err := s.commit(func(tx *bolt.Tx) error { return putNetwork(tx, n) }); err != nil {
			return err
		}
		s.setAttachments(ns, n.Attachments)
		s.log.Info("network replaced", "network", n.Name, "attachments", len(n.Attachments))
		out = cloneNetwork(n)
		return nil
	})
	return out, err
}

// DeleteNetwork deletes a network no connection uses.
func (s *State) DeleteNetwork(name string) error {
	return s.mutate(func(ch *Change) error {
		ch.Topology = true
		ns := s.networks[name]
		if ns == nil {
			return notFound("", "network %q not found", name)
		}
		if len(ns.byGateway) > 0 {
			return inUse("network %q is used by connections %s", name, quotedList(slices.Collect(maps.Values(ns.byGateway))))
		}
		if err := s.commit(func(tx *bolt.Tx) error { return deleteKey(tx, bucketNetworks, name) }); err != nil {
			return err
		}
		s.setAttachments(ns, nil)
		delete(s.networks, name)
		s.netIDs.release(ns.ID)
		s.log.Info("network deleted", "network", name)
		return nil
	})
}

// GetNetwork returns one network.
func (s *State) GetNetwork(name string) (Network, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ns := s.networks[name]
	if ns == nil {
		return Network{}, notFound("", "network %q not found", name)
	}
	return cloneNetwork(ns.Network), nil
}

// ListNetworks returns every network, sorted by name.
func (s *State) ListNetworks() []Network {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.listNetworks()
}

func (s *State) listNetworks() []Network {
	out := make([]Network, 0, len(s.networks))
	for _, name := range slices.Sorted(maps.Keys(s.networks)) {
		out = append(out, cloneNetwork(s.networks[name].Network))
	}
	return out
}

// checkPorts rejects attachments another network already has.
func (s *State) checkPorts(n Network) error {
	for i, a := range n.Attachments {
		if owner, taken := s.ports[a]; taken && owner != n.Name {
			return conflict(fmt.Sprintf("attachments[%d]", i), "port %q %s is already attached to network %q", a.Port, vlanText(a.VLAN), owner)
		}
	}
	return nil
}

func vlanText(vlan uint16) string {
	if vlan == 0 {
		return "untagged"
	}
	return fmt.Sprintf("vlan %d", vlan)
}

func (s *State) addNetwork(n Network) {
	ns := &networkState{
		Network:   Network{Name: n.Name, ID: n.ID},
		byGateway: make(map[string]string),
		macs:      make(map[[6]byte]string),
		ips:       make(map[netip.Addr][6]byte),
	}
	s.networks[n.Name] = ns
	s.netIDs.mark(n.ID)
	s.setAttachments(ns, n.Attachments)
}

func (s *State) setAttachments(ns *networkState, atts []Attachment) {
	for _, a := range ns.Attachments {
		delete(s.ports, a)
	}
	ns.Attachments = atts
	for _, a := range atts {
		s.ports[a] = ns.Name
	}
}

func cloneNetwork(n Network) Network {
	n.Attachments = append(make([]Attachment, 0, len(n.Attachments)), n.Attachments...)
	return n
}

// ---- remote gateways ----

// CreateRemoteGateway adds a remote gateway; its tunnel IP is returned in
// canonical form.
func (s *State) CreateRemoteGateway(g RemoteGateway) (RemoteGateway, error) {
	var out RemoteGateway
	err := s.mutate(func(ch *Change) error {
		ch.Topology = true
		if err := validateName(g.Name); err != nil {
			return err
		}
		ip, err := parseTunnelIP(g.TunnelIP, s.local)
		if err != nil {
			return err
		}
		g.TunnelIP = ip.String()
		if _, exists := s.gateways[g.Name]; exists {
			return alreadyExists("remote gateway", g.Name)
		}
		if err := s.checkTunnelIP(g.Name, ip); err != nil {
			return err
		}
		if err := s.commit(func(tx *bolt.Tx) error { return putGateway(tx, g) }); err != nil {
			return err
		}
		s.addGateway(g, ip)
		s.log.Info("remote gateway created", "remote_gateway", g.Name, "tunnel_ip", g.TunnelIP)
		out = g
		return nil
	})
	return out, err
}

// ReplaceRemoteGateway changes an existing remote gateway's tunnel IP (PUT);
// g.Name must be "" or name.
func (s *State) ReplaceRemoteGateway(name string, g RemoteGateway) (RemoteGateway, error) {
	var out RemoteGateway
	err := s.mutate(func(ch *Change) error {
		ch.Topology = true
		old, exists := s.gateways[name]
		if !exists {
			return notFound("", "remote gateway %q not found", name)
		}
		if g.Name != "" && g.Name != name {
			return invalid("name", "name %q does not match remote gateway %q being replaced", g.Name, name)
		}
		g.Name = name
		ip, err := parseTunnelIP(g.TunnelIP, s.local)
		if err != nil {
			return err
		}
		g.TunnelIP = ip.String()
		if err := s.checkTunnelIP(name, ip); err != nil {
			return err
		}
		if err := s.commit(func(tx *bolt.Tx) error { return putGateway(tx, g) }); err != nil {
			return err
		}
		delete(s.tunnelIPs, netip.MustParseAddr(old.TunnelIP))
		s.addGateway(g, ip)
		s.log.Info("remote gateway replaced", "remote_gateway", name, "tunnel_ip", g.TunnelIP)
		out = g
		return nil
	})
	return out, err
}

// DeleteRemoteGateway deletes a remote gateway no connection uses.
func (s *State) DeleteRemoteGateway(name string) error {
	return s.mutate(func(ch *Change) error {
		ch.Topology = true
		g, exists := s.gateways[name]
		if !exists {
			return notFound("", "remote gateway %q not found", name)
		}
		var users []string
		for _, cs := range s.conns {
			if cs.RemoteGateway == name {
				users = append(users, cs.Name)
			}
		}
		if len(users) > 0 {
			return inUse("remote gateway %q is used by connections %s", name, quotedList(users))
		}
		if err := s.commit(func(tx *bolt.Tx) error { return deleteKey(tx, bucketGateways, name) }); err != nil {
			return err
		}
		delete(s.tunnelIPs, netip.MustParseAddr(g.TunnelIP))
		delete(s.gateways, name)
		s.log.Info("remote gateway deleted", "remote_gateway", name)
		return nil
	})
}

// GetRemoteGateway returns one remote gateway.
func (s *State) GetRemoteGateway(name string) (RemoteGateway, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g, exists := s.gateways[name]
	if !exists {
		return RemoteGateway{}, notFound("", "remote gateway %q not found", name)
	}
	return g, nil
}

// ListRemoteGateways returns every remote gateway, sorted by name.
func (s *State) ListRemoteGateways() []RemoteGateway {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.listGateways()
}

func (s *State) listGateways() []RemoteGateway {
	out := make([]RemoteGateway, 0, len(s.gateways))
	for _, name := range slices.Sorted(maps.Keys(s.gateways)) {
		out = append(out, s.gateways[name])
	}
	return out
}

func (s *State) checkTunnelIP(gateway string, ip netip.Addr) error {
	if owner, taken := s.tunnelIPs[ip]; taken && owner != gateway {
		return conflict("tunnel_ip", "tunnel_ip %s is already used by remote gateway %q", ip, owner)
	}
	return nil
}

func (s *State) addGateway(g RemoteGateway, ip netip.Addr) {
	s.gateways[g.Name] = g
	s.tunnelIPs[ip] = g.Name
}

// ---- connections ----

// CreateConnection joins a network to a remote gateway. NetworkType ""
// means vxlan; Flood is taken as given.
func (s *State) CreateConnection(c Connection) (Connection, error) {
	var out Connection
	err := s.mutate(func(ch *Change) error {
		ch.Topology = true
		c, err := validateConnection(c)
		if err != nil {
			return err
		}
		ns := s.networks[c.Network]
		if ns == nil {
			return notFound("network", "network %q not found", c.Network)
		}
		if _, exists := s.gateways[c.RemoteGateway]; !exists {
			return notFound("remote_gateway", "remote gateway %q not found", c.RemoteGateway)
		}
		if s.conns[c.Name] != nil {
			return alreadyExists("connection", c.Name)
		}
		if other, taken := ns.byGateway[c.RemoteGateway]; taken {
			return conflict("remote_gateway", "network %q already has connection %q to remote gateway %q", c.Network, other, c.RemoteGateway)
		}
		if other, taken := s.tunnels[tunnelKeyOf(c)]; taken {
			return conflict("segmentation_id", "remote gateway %q already carries %s segmentation_id %d for connection %q",
				c.RemoteGateway, c.NetworkType, c.SegmentationID, other)
		}
		ids, next, err := s.connIDs.allocate(1)
		if err != nil {
			return err
		}
		c.ID = ids[0]
		err = s.commit(func(tx *bolt.Tx) error {
			if err := putConnection(tx, c); err != nil {
				return err
			}
			return putCursor(tx, kindConnection, next)
		})
		if err != nil {
			return err
		}
		s.connIDs.next.Store(next)
		s.addConnection(c)
		s.log.Info("connection created", "connection", c.Name, "id", c.ID, "network", c.Network,
			"remote_gateway", c.RemoteGateway, "network_type", c.NetworkType, "segmentation_id", c.SegmentationID)
		out = c
		return nil
	})
	return out, err
}

// DeleteConnection deletes a connection and, in the same transaction, its
// MAC bindings.
func (s *State) DeleteConnection(name string) error {
	return s.mutate(func(ch *Change) error {
		ch.Topology = true
		cs := s.conns[name]
		if cs == nil {
			return notFound("", "connection %q not found", name)
		}
		err := s.commit(func(tx *bolt.Tx) error {
			if err := deleteMACs(tx, name); err != nil {
				return err
			}
			return deleteKey(tx, bucketConns, name)
		})
		if err != nil {
			return err
		}
		bindings := len(cs.macs)
		for _, e := range cs.macs {
			ch.unbound(name, e)
		}
		s.unbindAll(cs)
		delete(s.networks[cs.Network].byGateway, cs.RemoteGateway)
		delete(s.tunnels, tunnelKeyOf(cs.Connection))
		delete(s.conns, name)
		s.connIDs.release(cs.ID)
		s.log.Info("connection deleted", "connection", name, "macs", bindings)
		return nil
	})
}

// GetConnection returns one connection.
func (s *State) GetConnection(name string) (Connection, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	cs := s.conns[name]
	if cs == nil {
		return Connection{}, notFound("", "connection %q not found", name)
	}
	return cs.Connection, nil
}

// ListConnections returns every connection, sorted by name.
func (s *State) ListConnections() []Connection {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.listConnections()
}

func (s *State) listConnections() []Connection {
	out := make([]Connection, 0, len(s.conns))
	for _, name := range slices.Sorted(maps.Keys(s.conns)) {
		out = append(out, s.conns[name].Connection)
	}
	return out
}

func (s *State) addConnection(c Connection) {
	s.conns[c.Name] = &connState{Connection: c, macs: make(map[[6]byte]macEntry)}
	s.networks[c.Network].byGateway[c.RemoteGateway] = c.Name
	s.tunnels[tunnelKeyOf(c)] = c.Name
	s.connIDs.mark(c.ID)
}

// ---- MAC bindings ----

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
func (s *State) AddMACs(conn string, macs []MACBinding) ([]MACBinding, error) {
	entries, parseErr := parseMACs(macs)
	cs, alone, err := s.reserveMACs(conn, len(macs), entries, parseErr)
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
		return nil, false, notFound("", "connection %q not found", conn)
	}
	if n == 0 {
		return nil, false, invalid("macs", "at least one MAC binding is required")
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
		for _, e := range entries {
			cs.macs[e.hw] = e
		}
		out = cloneBindings(entries)
		var ch Change
		ch.bound(cs.Name, entries)
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

// ReplaceMACs makes macs the connection's whole set of bindings (empty
// clears it) and returns them normalised, in request order. A MAC that
// stays keeps its ID.
func (s *State) ReplaceMACs(conn string, macs []MACBinding) ([]MACBinding, error) {
	var out []MACBinding
	err := s.mutate(func(ch *Change) error {
		cs := s.conns[conn]
		if cs == nil {
			return notFound("", "connection %q not found", conn)
		}
		entries, err := parseMACs(macs)
		if err != nil {
			return err
		}
		if err := s.checkMACs(cs, entries, false); err != nil {
			return err
		}
		// Write only the difference to the current set (memory mirrors the
		// store): a PUT of a mostly unchanged set stays cheap.
		var fresh, changed []int
		newSet := make(map[[6]byte]struct{}, len(entries))
		for i, e := range entries {
			newSet[e.hw] = struct{}{}
			old, kept := cs.macs[e.hw]
			switch {
			case !kept:
				fresh = append(fresh, i)
				changed = append(changed, i)
			case !slices.Equal(old.addrs, e.addrs):
				changed = append(changed, i)
				fallthrough
			default:
				entries[i].ID = old.ID
			}
		}
		var removed [][6]byte
		for hw, old := range cs.macs {
			if _, stays := newSet[hw]; !stays {
				removed = append(removed, hw)
				ch.unbound(conn, old)
			}
		}
		ids, next, err := s.macIDs.allocate(len(fresh))
		if err != nil {
			return err
		}
		for j, i := range fresh {
			entries[i].ID = ids[j]
		}
		writes := make([]macEntry, len(changed))
		for j, i := range changed {
			writes[j] = entries[i]
		}
		err = s.commit(func(tx *bolt.Tx) error {
			for _, hw := range removed {
				if err := deleteMAC(tx, conn, hw); err != nil {
					return err
				}
			}
			if err := putMACs(tx, conn, writes); err != nil {
				return err
			}
			return putCursor(tx, kindMAC, next)
		})
		if err != nil {
			return err
		}
		s.macIDs.next.Store(next)
		s.unbindAll(cs)
		s.bindMACs(cs, entries)
		s.log.Info("macs replaced", "connection", conn, "count", len(entries), "written", len(writes), "removed", len(removed))
		out = cloneBindings(entries)
		ch.bound(conn, writes)
		return nil
	})
	return out, err
}

// ListMACs returns a connection's bindings, sorted by MAC.
func (s *State) ListMACs(conn string) ([]MACBinding, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	cs := s.conns[conn]
	if cs == nil {
		return nil, notFound("", "connection %q not found", conn)
	}
	return cs.sortedBindings(), nil
}

// DeleteMAC unbinds one MAC (in any notation net.ParseMAC reads) from a
// connection.
func (s *State) DeleteMAC(conn, mac string) error {
	return s.mutate(func(ch *Change) error {
		cs := s.conns[conn]
		if cs == nil {
			return notFound("", "connection %q not found", conn)
		}
		parsed, err := net.ParseMAC(mac)
		if err != nil || len(parsed) != 6 {
			return invalid("", "mac %q is not a 6-byte MAC address", mac)
		}
		e, bound := cs.macs[[6]byte(parsed)]
		if !bound {
			return notFound("", "mac %s is not bound on connection %q", parsed, conn)
		}
		if err := s.commit(func(tx *bolt.Tx) error { return deleteMAC(tx, conn, e.hw) }); err != nil {
			return err
		}
		s.unbindMAC(cs, s.networks[cs.Network], e)
		s.log.Info("mac deleted", "connection", conn, "mac", formatMAC(e.hw))
		ch.unbound(conn, e)
		return nil
	})
}

// checkMACs rejects bindings that clash with the connection's network: a
// MAC bound on another connection (or, when adding, on this one), or an IP
// bound to a different MAC. When replacing, this connection's current set
// is about to go and clashes with it do not count.
func (s *State) checkMACs(cs *connState, entries []macEntry, adding bool) error {
	ns := s.networks[cs.Network]
	for i, e := range entries {
		if owner, bound := ns.macs[e.hw]; bound && (adding || owner != cs.Name) {
			return conflict(fmt.Sprintf(macFieldFmt, i), "mac %s is already bound on connection %q of network %q", formatMAC(e.hw), owner, ns.Name)
		}
		for k, a := range e.addrs {
			if mac, bound := ns.ips[a]; bound && (adding || ns.macs[mac] != cs.Name) {
				return conflict(fmt.Sprintf(ipFieldFmt, i, k), "ip %s is already bound to mac %s on connection %q of network %q",
					a, formatMAC(mac), ns.macs[mac], ns.Name)
			}
		}
	}
	return nil
}

func (s *State) bindMACs(cs *connState, entries []macEntry) {
	ns := s.networks[cs.Network]
	for _, e := range entries {
		s.bindMAC(cs, ns, e)
	}
}

func (s *State) bindMAC(cs *connState, ns *networkState, e macEntry) {
	cs.macs[e.hw] = e
	s.indexMAC(cs, ns, e)
}

// indexMAC takes e's ID and puts its MAC and IPs in the network's index.
func (s *State) indexMAC(cs *connState, ns *networkState, e macEntry) {
	ns.macs[e.hw] = cs.Name
	for _, a := range e.addrs {
		ns.ips[a] = e.hw
	}
	s.macIDs.mark(e.ID)
}

func (s *State) unbindAll(cs *connState) {
	ns := s.networks[cs.Network]
	for _, e := range cs.macs {
		s.unbindMAC(cs, ns, e)
	}
}

func (s *State) unbindMAC(cs *connState, ns *networkState, e macEntry) {
	delete(cs.macs, e.hw)
	s.unindexMAC(ns, e)
}

// unindexMAC undoes indexMAC.
func (s *State) unindexMAC(ns *networkState, e macEntry) {
	delete(ns.macs, e.hw)
	for _, a := range e.addrs {
		delete(ns.ips, a)
	}
	s.macIDs.release(e.ID)
}

func (cs *connState) sortedBindings() []MACBinding {
	entries := slices.Collect(maps.Values(cs.macs))
	slices.SortFunc(entries, func(a, b macEntry) int { return bytes.Compare(a.hw[:], b.hw[:]) })
	return cloneBindings(entries)
}

// cloneBindings returns the API form of entries (all IP lists carved from
// one array).
func cloneBindings(entries []macEntry) []MACBinding {
	total := 0
	for _, e := range entries {
		total += len(e.addrs)
	}
	ips := make([]string, 0, total)
	out := make([]MACBinding, len(entries))
	for i, e := range entries {
		out[i] = MACBinding{MAC: formatMAC(e.hw), ID: e.ID}
		if len(e.addrs) > 0 {
			start := len(ips)
			for _, a := range e.addrs {
				ips = append(ips, a.String())
			}
			out[i].IPs = ips[start:len(ips):len(ips)]
		}
	}
	return out
}

func quotedList(names []string) string {
	slices.Sort(names)
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(quoted, ", ")
}

// ---- IDs ----

// idSpace hands out the IDs of one kind of object: 1..maxObjectID, unique
// among live objects, from a cursor that wraps around, so a freed ID is
// reused as late as possible.
type idSpace struct {
	kind string
	used map[uint32]struct{}
	// next is the cursor. It changes under the State's lock; AddMACs's
	// store writes read it without.
	next atomic.Uint32
}

func newIDSpace(kind string) *idSpace {
	ids := &idSpace{kind: kind, used: make(map[uint32]struct{})}
	ids.next.Store(1)
	return ids
}

// allocate picks n free IDs without taking them, and returns the cursor to
// store once they are taken.
func (ids *idSpace) allocate(n int) ([]uint32, uint32, error) {
	if len(ids.used)+n > maxObjectID {
		return nil, 0, conflict("", "no free %s IDs left: %d are in use", ids.kind, len(ids.used))
	}
	out := make([]uint32, 0, n)
	id := ids.next.Load()
	for len(out) < n {
		if id < 1 || id > maxObjectID {
			id = 1
		}
		if _, used := ids.used[id]; !used {
			out = append(out, id)
		}
		id++
	}
	return out, id, nil
}

// free reports whether id is in range and not taken.
func (ids *idSpace) free(id uint32) bool {
	_, used := ids.used[id]
	return id >= 1 && id <= maxObjectID && !used
}

func (ids *idSpace) mark(id uint32)    { ids.used[id] = struct{}{} }
func (ids *idSpace) release(id uint32) { delete(ids.used, id) }
