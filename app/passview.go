package app

import (
	"net"
	"net/netip"
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
// bindings).
func (v stateView) topology() Snapshot {
	return Snapshot{Networks: v.s.listNetworks(), RemoteGateways: v.s.listGateways(), Connections: v.s.listConnections()}
}

// flowBindings returns connection conn's bindings as the flow compiler
// takes them (in no order; none if conn does not exist).
func (v stateView) flowBindings(conn string) []flows.Binding {
	cs := v.s.conns[conn]
	if cs == nil {
		return nil
	}
	ar := newArena(len(cs.macs))
	out := make([]flows.Binding, 0, len(cs.macs))
	for _, e := range cs.macs {
		out = append(out, ar.binding(&e))
	}
	return out
}

// touched returns what bc names as the state holds it now: the binding of
// bc's connection and MAC if it still has bc's ID, else nil (no longer
// bound; its ID may be another binding's by now, which a change of its own
// names).
func (v stateView) touched(bc BindingChange, ar *arena) *flows.Binding {
	if cs := v.s.conns[bc.Connection]; cs != nil {
		if e, ok := cs.macs[bc.MAC]; ok && e.ID == bc.ID {
			b := ar.binding(&e)
			return &b
		}
	}
	return nil
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

// readInput reads the whole desired state at one instant as the flow
// compiler's input (see buildInput), bindings included.
func readInput(state *State, ports map[string]uint32, learn Learning) (*flows.Input, map[string]connRef) {
	var in *flows.Input
	var refs map[string]connRef
	state.view(func(v stateView) {
		snap := v.topology()
		in, refs = buildInput(&snap, ports, learn)
		names := make(map[uint32]string, len(refs))
		for name, ref := range refs {
			names[ref.conn.ID] = name
		}
		for i := range in.Networks {
			for j := range in.Networks[i].Connections {
				c := &in.Networks[i].Connections[j]
				c.Bindings = v.flowBindings(names[c.ID])
			}
		}
	})
	return in, refs
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
}

// touch is a binding a pass compiles, as the state holds it at the pass's
// instant.
type touch struct {
	conn    string
	id      uint32
	binding *flows.Binding // nil: no longer bound with this ID
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
	for _, ch := range changes {
		p.topology = p.topology || ch.Topology
		n += len(ch.Bindings)
	}
	p.touches = make([]touch, 0, n)
	ar := newArena(n)
	state.view(func(v stateView) {
		if p.topology {
			snap := v.topology()
			p.input, p.refs = buildInput(&snap, m.ports, learn)
			p.connMACs = map[string][]flows.Binding{}
			for _, name := range m.staleConnections(p.refs) {
				p.connMACs[name] = v.flowBindings(name)
			}
		}
		for _, ch := range changes {
			for _, bc := range ch.Bindings {
				p.touches = append(p.touches, touch{conn: bc.Connection, id: bc.ID, binding: v.touched(bc, ar)})
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
		if t.binding == nil {
			unbound[t.id] = append(unbound[t.id], i)
		}
	}
	if len(unbound) == 0 {
		return
	}
	for _, t := range touches {
		if t.binding == nil {
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
	gateways := map[string]net.IP{}
	for _, g := range snap.RemoteGateways {
		if a, err := netip.ParseAddr(g.TunnelIP); err == nil {
			gateways[g.Name] = net.IP(a.Unmap().AsSlice())
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
			remote, ok := gateways[c.RemoteGateway]
			if !ok {
				continue
			}
			fc := flows.Connection{ID: c.ID, NetworkType: c.NetworkType, RemoteIP: remote,
				SegmentationID: c.SegmentationID, Flood: c.Flood}
			refs[c.Name] = connRef{networkID: n.ID, conn: fc}
			fn.Connections = append(fn.Connections, fc)
		}
		in.Networks = append(in.Networks, fn)
	}
	return in, refs
}
