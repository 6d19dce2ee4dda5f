package app

import (
	"net"

	"github.com/l2gw/l2gw/flows"
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
// takes them (in no order; none if conn does not exist), their MACs and
// IPv4 addresses carved from two arrays: a whole connection costs three
// allocations, and nothing of the state is shared.
func (v stateView) flowBindings(conn string) []flows.Binding {
	cs := v.s.conns[conn]
	if cs == nil {
		return nil
	}
	n4 := 0
	for _, e := range cs.macs {
		for _, a := range e.addrs {
			if a.Is4() {
				n4++
			}
		}
	}
	out := make([]flows.Binding, 0, len(cs.macs))
	macs := make([]byte, 0, 6*len(cs.macs))
	ips := make([]byte, 0, 4*n4)
	for _, e := range cs.macs {
		macs = append(macs, e.hw[:]...)
		b := flows.Binding{ID: e.ID, MAC: net.HardwareAddr(macs[len(macs)-6 : len(macs) : len(macs)])}
		for _, a := range e.addrs {
			if a.Is4() {
				a4 := a.As4()
				ips = append(ips, a4[:]...)
				b.IPv4 = append(b.IPv4, net.IP(ips[len(ips)-4:len(ips):len(ips)]))
			}
		}
		out = append(out, b)
	}
	return out
}

// current returns bc's binding as the state holds it now: the binding of
// bc's connection and MAC if it still has bc's ID, else bc as a removal.
func (v stateView) current(bc BindingChange) BindingChange {
	if cs := v.s.conns[bc.Connection]; cs != nil {
		if hw, err := net.ParseMAC(bc.Binding.MAC); err == nil && len(hw) == 6 {
			if e, ok := cs.macs[[6]byte(hw)]; ok && e.ID == bc.Binding.ID {
				return BindingChange{Connection: bc.Connection, Binding: e.binding()}
			}
		}
	}
	return BindingChange{Connection: bc.Connection, Binding: bc.Binding, Removed: true}
}

// readInput reads the whole desired state at one instant as the flow
// compiler's input (see buildInput), bindings included.
func readInput(state *State, ports map[string]uint32, learnIdle uint16) (*flows.Input, map[string]connRef) {
	var in *flows.Input
	var refs map[string]connRef
	state.view(func(v stateView) {
		snap := v.topology()
		in, refs = buildInput(&snap, ports, learnIdle)
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
// over. (Changes carry their bindings as they were when committed; a later
// change, committed but not yet taken, may already be in the state.)
type pass struct {
	topology bool
	input    *flows.Input               // networks, connections, ports, when topology changed
	refs     map[string]connRef         // every connection, when topology changed
	connMACs map[string][]flows.Binding // bindings of the connections to recompile
	changes  []Change                   // their bindings replaced by what the state holds now
}

// readPass reads, at one instant, what changes ask to recompile against
// model m. It rewrites the changes' bindings in place.
func readPass(state *State, m *model, changes []Change, learnIdle uint16) *pass {
	p := &pass{changes: changes}
	for _, ch := range changes {
		p.topology = p.topology || ch.Topology
	}
	state.view(func(v stateView) {
		if p.topology {
			snap := v.topology()
			p.input, p.refs = buildInput(&snap, m.ports, learnIdle)
			p.connMACs = map[string][]flows.Binding{}
			for _, name := range m.staleConnections(p.refs) {
				p.connMACs[name] = v.flowBindings(name)
			}
		}
		for _, ch := range changes {
			for i, bc := range ch.Bindings {
				ch.Bindings[i] = v.current(bc)
			}
		}
	})
	return p
}
