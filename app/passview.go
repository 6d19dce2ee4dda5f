package app

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"sort"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/ovsdb"
)

// stateView reads the state with its read lock held (see State.view):
// whatever is read through one view is from one instant.
type stateView struct{ s *State }

// view runs fn with the read lock held. fn must be quick, must not call
// State's exported methods, and must not keep what it reads past its
// return except as copies (what topology and bindings return are).
func (s *State) view(fn func(v stateView)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(stateView{s})
}

// topology returns the networks, remote gateways and connections (no
// bindings) that compile: the API's, and those dynamic origins named that
// compile as connections of their own.
func (v stateView) topology() Snapshot {
	return Snapshot{Networks: v.s.listNetworks(), RemoteGateways: v.s.listGateways(),
		Connections: append(v.s.listConnections(), v.s.listDerived(false)...)}
}

// compiledConnections returns the connections that compile, as topology
// lists them.
func (s *State) compiledConnections() []Connection {
	var conns []Connection
	s.view(func(v stateView) { conns = v.topology().Connections })
	return conns
}

// compiledBindings returns how many bindings and remote MACs of dynamic
// origins the state holds, as many as compile at most.
func (s *State) compiledBindings() int {
	var n int
	s.view(func(v stateView) {
		n = v.s.macIDs.inUse()
		for _, ri := range v.s.remote {
			n += len(ri.active)
		}
	})
	return n
}

// remoteKey names a remote MAC of a dynamic origin, as the model keeps its
// flows.
type remoteKey struct {
	origin  Origin
	network string
	mac     [6]byte
}

// remoteBinding returns what k compiles to as the state holds it now: its
// network's ID, the tunnel it goes through (as a connection: its bindings'
// flows read nothing else of it) and the binding; nil when k compiles
// nothing (withdrawn, shadowed, or another origin's now).
func (v stateView) remoteBinding(k remoteKey, ar *arena) (uint32, flows.Connection, *flows.Binding) {
	rix := v.s.remote[k.network]
	if rix == nil {
		return 0, flows.Connection{}, nil
	}
	act, ok := rix.active[k.mac]
	if !ok || act.origin != k.origin {
		return 0, flows.Connection{}, nil
	}
	networkID := v.s.networks[k.network].ID
	b := ar.remote(networkID, k.mac, act)
	return networkID, tunnelConnection(act.tunnel), &b
}

// tunnelConnection is t as the flow compiler's connection, for the flows
// of the remote MACs through it.
func tunnelConnection(t Tunnel) flows.Connection {
	return flows.Connection{NetworkType: t.NetworkType, RemoteIP: net.IP(t.Endpoint.AsSlice()), SegmentationID: t.SegmentationID}
}

// remoteOwnerID is the owner ID in the cookies of the flows of remote MAC
// mac in network networkID: a 24-bit hash of both, so that the same remote
// MAC gets the same cookies in every run of l2gwd whatever order its
// origin tells it in. Two remote MACs may share an owner ID; their flows'
// cookies still differ by their content hashes (their matches differ).
func remoteOwnerID(networkID uint32, mac [6]byte) uint32 {
	var key [10]byte
	binary.BigEndian.PutUint32(key[:], networkID)
	copy(key[4:], mac[:])
	h := uint32(2166136261)
	for _, b := range key {
		h = (h ^ uint32(b)) * 16777619
	}
	if id := h>>8 ^ h&0xff; id != 0 {
		return id & flows.MaxOwnerID
	}
	return 1
}

// entries returns connection conn's bindings as the state holds them (in
// no order; none if conn does not exist). The copies share the state's
// address lists, which are never changed in place.
func (v stateView) entries(conn string) []macEntry {
	cs := v.s.conns[conn]
	if cs == nil {
		return nil
	}
	return slices.AppendSeq(make([]macEntry, 0, cs.macs.len()), cs.macs.all())
}

// flowBindings returns connection conn's bindings as the flow compiler
// takes them (in no order; none if conn does not exist).
func (v stateView) flowBindings(conn string) []flows.Binding {
	cs := v.s.conns[conn]
	if cs == nil {
		return nil
	}
	ar := newArena(cs.macs.len())
	out := make([]flows.Binding, 0, cs.macs.len())
	for e := range cs.macs.all() {
		out = append(out, ar.binding(&e))
	}
	return out
}

// touched returns what bc names as the state holds it now: the entry of
// bc's connection and MAC if it still has bc's ID, else false (no longer
// bound; its ID may be another binding's by now, which a change of its own
// names).
func (v stateView) touched(bc BindingChange) (macEntry, bool) {
	if cs := v.s.conns[bc.Connection]; cs != nil {
		if e, ok := cs.macs.get(bc.MAC); ok && e.ID == bc.ID {
			return e, true
		}
	}
	return macEntry{}, false
}

// arena carves the flow compiler's bindings from few allocations: their
// IP addresses and address lists come from chunks it allocates as it
// goes, so a pass over many bindings neither allocates per binding nor
// keeps the outgrown arrays a growing slice would leave behind (carved
// slices point into them). Nothing of the state is shared.
type arena struct {
	bytes     []byte   // addresses
	lists     []net.IP // address lists
	byteChunk int      // size of a new bytes chunk
	listChunk int      // size of a new lists chunk
}

// Chunk sizes: enough for a few bindings, at most 64 KiB of bytes.
const (
	maxArenaBytes = 64 << 10
	maxArenaLists = 4 << 10
)

// newArena returns an arena for about n bindings.
func newArena(n int) *arena {
	return &arena{byteChunk: min(max(n, 1)*16, maxArenaBytes), listChunk: min(max(n, 1), maxArenaLists)}
}

// reset lets the arena carve its current chunks again: nothing it handed
// out before may be used after.
func (ar *arena) reset() {
	ar.bytes, ar.lists = ar.bytes[:0], ar.lists[:0]
}

// carve returns n fresh bytes.
func (ar *arena) carve(n int) []byte {
	if cap(ar.bytes)-len(ar.bytes) < n {
		ar.bytes = make([]byte, 0, max(n, ar.byteChunk))
	}
	start := len(ar.bytes)
	ar.bytes = ar.bytes[:start+n]
	return ar.bytes[start : start+n : start+n]
}

// list returns an empty address list with room for n.
func (ar *arena) list(n int) []net.IP {
	if n == 0 {
		return nil
	}
	if cap(ar.lists)-len(ar.lists) < n {
		ar.lists = make([]net.IP, 0, max(n, ar.listChunk))
	}
	start := len(ar.lists)
	ar.lists = ar.lists[:start+n]
	return ar.lists[start : start : start+n]
}

// remote returns an active remote MAC of network networkID as the flow
// compiler takes it.
func (ar *arena) remote(networkID uint32, mac [6]byte, act activeRemote) flows.Binding {
	e := macEntry{ID: remoteOwnerID(networkID, mac), hw: mac, addrs: act.addrs}
	b := ar.binding(&e)
	b.Origin = act.origin
	return b
}

// binding returns e as the flow compiler takes it.
func (ar *arena) binding(e *macEntry) flows.Binding {
	b := flows.Binding{ID: e.ID, MAC: e.hw}
	v4 := 0
	for _, a := range e.addrs {
		if a.Is4() {
			v4++
		}
	}
	b.IPv4, b.IPv6 = ar.list(v4), ar.list(len(e.addrs)-v4)
	for _, a := range e.addrs {
		if a.Is4() {
			ip, a4 := ar.carve(4), a.As4()
			copy(ip, a4[:])
			b.IPv4 = append(b.IPv4, ip)
		} else {
			ip, a16 := ar.carve(16), a.As16()
			copy(ip, a16[:])
			b.IPv6 = append(b.IPv6, ip)
		}
	}
	return b
}

// desired is the whole desired state read at one instant as the flow
// compiler's input (see buildInput), bindings included.
type desired struct {
	// in holds the remote MACs of dynamic origins as the connections'
	// Bindings; the static bindings are in static until taken (see
	// takeBindings, input).
	in *flows.Input
	// static are the static bindings of in.Networks[i].Connections[j] as
	// the state holds them (40 bytes; the compiler's form takes ~100), made
	// into it one at a time as they are compiled.
	static [][][]macEntry
	refs   map[string]connRef // what each connection (by name) compiles against
	// networks are the names of in.Networks, in order.
	networks []string
	// unsynced says which dynamic origins were not synced at that instant.
	unsynced [numOrigins]bool
}

// readInput reads the whole desired state at one instant.
func readInput(state *State, ports map[string]uint32, learn Learning) *desired {
	d := &desired{}
	state.view(func(v stateView) {
		snap := v.topology()
		d.in, d.refs = buildInput(&snap, ports, learn)
		d.in.Dynamic = v.s.dynamic()
		names := make(map[uint32]string, len(d.refs))
		for name, ref := range d.refs {
			names[ref.conn.ID] = name
		}
		d.static = make([][][]macEntry, len(d.in.Networks))
		for i := range d.in.Networks {
			d.static[i] = make([][]macEntry, len(d.in.Networks[i].Connections))
			for j := range d.in.Networks[i].Connections {
				d.static[i][j] = v.entries(names[d.in.Networks[i].Connections[j].ID])
			}
			v.addRemoteBindings(snap.Networks[i].Name, &d.in.Networks[i])
			d.networks = append(d.networks, snap.Networks[i].Name)
		}
		for o := range d.unsynced {
			d.unsynced[o] = !v.s.originSynced(Origin(o))
		}
	})
	return d
}

// takeBindings calls fn with each binding of connection j of network i,
// the static ones first, until fn returns false; it lets them go as it
// goes. A static binding is made in memory fn must not keep past the call.
func (d *desired) takeBindings(i, j int, fn func(b *flows.Binding) bool) {
	c := &d.in.Networks[i].Connections[j]
	static := d.static[i][j]
	d.static[i][j] = nil
	scratch := newArena(1)
	for k := range static {
		scratch.reset()
		b := scratch.binding(&static[k])
		if !fn(&b) {
			return
		}
	}
	for k := range c.Bindings {
		b := &c.Bindings[k]
		if !fn(b) {
			return
		}
		*b = flows.Binding{} // compiled: let its bytes go (see arena)
	}
	c.Bindings = nil
}

// input returns the whole input, the static bindings put into their
// connections' Bindings (for a compile of everything at once).
func (d *desired) input() *flows.Input {
	for i := range d.in.Networks {
		for j := range d.in.Networks[i].Connections {
			c := &d.in.Networks[i].Connections[j]
			ar := newArena(len(d.static[i][j]))
			for k := range d.static[i][j] {
				c.Bindings = append(c.Bindings, ar.binding(&d.static[i][j][k]))
			}
			d.static[i][j] = nil
		}
	}
	return d.in
}

// addRemoteBindings adds network's active remote MACs to the connections
// of n (its compiler input) they go through.
func (v stateView) addRemoteBindings(network string, n *flows.Network) {
	rix := v.s.remote[network]
	if rix == nil || len(rix.active) == 0 {
		return
	}
	byTunnel := make(map[Tunnel]*flows.Connection, len(n.Connections))
	for j := range n.Connections {
		c := &n.Connections[j]
		ip, _ := netip.AddrFromSlice(c.RemoteIP)
		byTunnel[Tunnel{Endpoint: ip.Unmap(), NetworkType: c.NetworkType, SegmentationID: c.SegmentationID}] = c
	}
	ar := newArena(len(rix.active))
	for mac, act := range rix.active {
		if c := byTunnel[act.tunnel]; c != nil {
			c.Bindings = append(c.Bindings, ar.remote(n.ID, mac, act))
		}
	}
}

// pass is what one incremental pass compiles, read from the state at one
// instant: everything the changes name, as it is at that instant.
// Compiling every owner of a pass from one instant keeps the switch right
// although ADD replaces a flow of the same match: every flow a pass adds is
// desired at its instant, and passes' instants follow each other, so a
// later add never brings back a flow that another owner has since taken
// over. (A change committed but not yet taken may already be in the state:
// what a change names is read as the state holds it.)
type pass struct {
	topology bool
	input    *flows.Input               // networks, connections, ports, when topology changed
	refs     map[string]connRef         // every connection, when topology changed
	connMACs map[string][]flows.Binding // bindings of the connections to recompile
	touches  []touch                    // the bindings the changes name, in order
	remotes  []remoteTouch              // the remote MACs the changes name, in order
	synced   []Origin                   // the origins the changes say are synced
}

// remoteTouch is a remote MAC a pass compiles, as the state holds it at the
// pass's instant.
type remoteTouch struct {
	key       remoteKey
	networkID uint32
	tunnel    flows.Connection
	binding   *flows.Binding // nil: k compiles nothing now
}

// touch is a binding a pass compiles, as the state holds it at the pass's
// instant.
type touch struct {
	conn string
	id   uint32
	// entry is the binding as the state holds it (its address list
	// shared: never changed in place), made into the compiler's form only
	// when it is compiled; bound false: no longer bound with this ID.
	entry macEntry
	bound bool
	// rebound is set, for a touch whose binding is nil, when another touch
	// of the same pass binds the ID (a move keeps the binding's ID): that
	// touch brings the ID's flows where they must be, changing only what
	// differs, so this one deletes nothing. reboundHere says that touch
	// is on this touch's connection (another MAC took the ID over).
	rebound, reboundHere bool
}

// readPass reads, at one instant, what changes ask to recompile against
// model m.
func readPass(state *State, m *model, changes []Change, learn Learning) *pass {
	p := &pass{}
	n := 0
	remotes := 0
	for _, ch := range changes {
		p.topology = p.topology || ch.Topology
		n += len(ch.Bindings)
		remotes += len(ch.RemoteMACs)
		p.synced = append(p.synced, ch.Synced...)
	}
	p.touches = make([]touch, 0, n)
	p.remotes = make([]remoteTouch, 0, remotes)
	ar := newArena(remotes)
	state.view(func(v stateView) {
		if p.topology {
			snap := v.topology()
			p.input, p.refs = buildInput(&snap, m.ports, learn)
			p.input.Dynamic = v.s.dynamic()
			p.connMACs = map[string][]flows.Binding{}
			for _, name := range m.staleConnections(p.refs) {
				p.connMACs[name] = v.flowBindings(name)
			}
		}
		for _, ch := range changes {
			for _, bc := range ch.Bindings {
				e, bound := v.touched(bc)
				p.touches = append(p.touches, touch{conn: bc.Connection, id: bc.ID, entry: e, bound: bound})
			}
			for _, rc := range ch.RemoteMACs {
				t := remoteTouch{key: remoteKey{origin: rc.Origin, network: rc.Network, mac: rc.MAC}}
				t.networkID, t.tunnel, t.binding = v.remoteBinding(t.key, ar)
				p.remotes = append(p.remotes, t)
			}
		}
	})
	markRebound(p.touches)
	return p
}

// markRebound sets rebound (and reboundHere) on the touches that unbind an
// ID another touch binds. Most passes unbind nothing, and a bulk pass binds
// many: only unbound IDs are indexed.
func markRebound(touches []touch) {
	unbound := map[uint32][]int{} // ID → its unbinding touches
	for i, t := range touches {
		if !t.bound {
			unbound[t.id] = append(unbound[t.id], i)
		}
	}
	if len(unbound) == 0 {
		return
	}
	for _, t := range touches {
		if !t.bound {
			continue
		}
		for _, i := range unbound[t.id] {
			touches[i].rebound = true
			touches[i].reboundHere = touches[i].reboundHere || touches[i].conn == t.conn
		}
	}
}

// buildInput turns the desired topology (snap's networks, gateways and
// connections; not its bindings) and the bridge's ofports into the flow
// compiler's input without bindings, and says what each connection (by
// name) compiles against. Attachments whose port has no ofport yet, and
// tunnel types whose port has none, are left out until they appear; so are
// connections whose gateway has no valid tunnel address (IPv4 or IPv6).
func buildInput(snap *Snapshot, ofports map[string]uint32, learn Learning) (*flows.Input, map[string]connRef) {
	in := &flows.Input{TunnelPorts: map[string]uint32{}, LearnIdleTimeout: learn.IdleTimeout, LearnLimit: learn.Limit}
	for _, typ := range []string{TypeVXLAN, TypeGRE, TypeGeneve} {
		if port, ok := ofports[ovsdb.TunnelPortName(typ)]; ok {
			in.TunnelPorts[typ] = port
		}
	}
	gateways := map[string][]net.IP{}
	for _, g := range snap.RemoteGateways {
		for _, ip := range g.Endpoints() {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				gateways[g.Name] = nil // no valid list: no flows
				break
			}
			gateways[g.Name] = append(gateways[g.Name], net.IP(a.Unmap().AsSlice()))
		}
	}
	byNetwork := map[string][]Connection{}
	for _, c := range snap.Connections {
		byNetwork[c.Network] = append(byNetwork[c.Network], c)
	}
	refs := map[string]connRef{}
	for _, n := range snap.Networks {
		fn := flows.Network{ID: n.ID}
		for _, a := range n.Attachments {
			if port, ok := ofports[a.Port]; ok {
				fn.Attachments = append(fn.Attachments, flows.Attachment{OFPort: port, VLAN: a.VLAN})
			}
		}
		conns := byNetwork[n.Name]
		sort.Slice(conns, func(i, j int) bool { return conns[i].Name < conns[j].Name })
		for _, c := range conns {
			remotes := gateways[c.RemoteGateway]
			if c.Origin.Dynamic() {
				remotes = nil
				if a, err := netip.ParseAddr(c.TunnelIP); err == nil {
					remotes = []net.IP{net.IP(a.AsSlice())}
				}
			}
			if len(remotes) == 0 {
				continue
			}
			fc := flows.Connection{ID: c.ID, Origin: c.Origin, NetworkType: c.NetworkType, RemoteIP: remotes[0],
				RemoteIPs: remotes, SegmentationID: c.SegmentationID, Flood: c.Flood}
			refs[c.Name] = connRef{networkID: n.ID, conn: fc}
			fn.Connections = append(fn.Connections, fc)
		}
		in.Networks = append(in.Networks, fn)
	}
	return in, refs
}
