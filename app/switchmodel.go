package app

import (
	"slices"

	"github.com/l2gw/l2gw/flows"
)

// model is what the reconciler knows of the switch, kept small: the cookies
// of each owner's flows (a cookie names one flow), and what each connection's
// bindings were compiled against.
type model struct {
	owners map[flows.Owner][]uint64
	conns  map[string]*connModel // by connection name
	ports  map[string]uint32     // the bridge's ofports compiled against
	flows  int                   // number of cookies

	tunnelPorts map[string]uint32 // network type → tunnel ofport
}

// connModel is a connection as its bindings' flows were compiled.
type connModel struct {
	connRef
	bindings map[uint32]struct{} // binding IDs
}

// delta collects one pass's changes as a net difference: for every owner
// the pass touched, its cookies before the pass and its flows after. An
// owner touched several times (a binding ID freed and reused, a connection
// recompiled and then one of its bindings) counts once, with its final
// flows.
type delta struct {
	before map[flows.Owner][]uint64
	after  map[flows.Owner]flows.FlowSet
}

func newDelta() *delta {
	return &delta{before: map[flows.Owner][]uint64{}, after: map[flows.Owner]flows.FlowSet{}}
}

// result returns the flows to add and the cookies to delete.
func (d *delta) result() (adds []*flows.Flow, dels []uint64) {
	added := flows.FlowSet{}
	for o, before := range d.before {
		after := d.after[o]
		for c, f := range after {
			if !slices.Contains(before, c) {
				added[c] = f
			}
		}
		for _, c := range before {
			if _, kept := after[c]; !kept {
				dels = append(dels, c)
			}
		}
	}
	slices.Sort(dels)
	return added.Sorted(), dels
}

// newModel records a full compile of in (whose connections, by name, are
// conns; their bindings macs).
func newModel(in *flows.Input, desired flows.FlowSet, conns map[string]connRef, macs map[string][]MACBinding, ports map[string]uint32) *model {
	m := &model{owners: map[flows.Owner][]uint64{}, conns: map[string]*connModel{}, ports: ports,
		tunnelPorts: in.TunnelPorts, flows: len(desired)}
	for c := range desired {
		_, o, _ := flows.DecodeCookie(c)
		m.owners[o] = append(m.owners[o], c)
	}
	for name, ref := range conns {
		cm := &connModel{connRef: ref, bindings: map[uint32]struct{}{}}
		for _, b := range macs[name] {
			cm.bindings[b.ID] = struct{}{}
		}
		m.conns[name] = cm
	}
	return m
}

// cookies returns every cookie of the model.
func (m *model) cookies() flows.Cookies {
	out := make(flows.Cookies, m.flows)
	for _, cs := range m.owners {
		for _, c := range cs {
			out[c] = struct{}{}
		}
	}
	return out
}

// replaceOwner makes set owner o's flows.
func (m *model) replaceOwner(o flows.Owner, set flows.FlowSet, d *delta) {
	old := m.owners[o]
	if _, seen := d.before[o]; !seen {
		d.before[o] = old
	}
	d.after[o] = set
	m.flows += len(set) - len(old)
	if len(set) == 0 {
		delete(m.owners, o)
		return
	}
	cookies := make([]uint64, 0, len(set))
	for c := range set {
		cookies = append(cookies, c)
	}
	m.owners[o] = cookies
}

// isTopology reports whether owner kind k belongs to the topology (compiled
// by flows.CompileTopology).
func isTopology(k flows.Kind) bool { return k != flows.KindBinding }

// replaceTopology makes set the flows of every topology owner.
func (m *model) replaceTopology(set flows.FlowSet, d *delta) {
	byOwner := map[flows.Owner]flows.FlowSet{}
	for c, f := range set {
		_, o, _ := flows.DecodeCookie(c)
		if byOwner[o] == nil {
			byOwner[o] = flows.FlowSet{}
		}
		byOwner[o][c] = f
	}
	for o := range m.owners {
		if _, still := byOwner[o]; isTopology(o.Kind) && !still {
			m.replaceOwner(o, nil, d)
		}
	}
	for o, s := range byOwner {
		m.replaceOwner(o, s, d)
	}
}

// updateConnections brings the connections to refs: a connection gone, or
// whose bindings would compile differently (network, key, gateway IP, type),
// has its bindings' flows removed or recompiled from state.
func (m *model) updateConnections(refs map[string]connRef, state *State, d *delta) error {
	for name, cm := range m.conns {
		if _, still := refs[name]; !still {
			m.dropBindings(cm, d)
			delete(m.conns, name)
		}
	}
	for name, ref := range refs {
		cm := m.conns[name]
		if cm != nil && cm.sameBindingFlows(ref) {
			cm.connRef = ref
			continue
		}
		if cm != nil {
			m.dropBindings(cm, d)
		}
		cm = &connModel{connRef: ref, bindings: map[uint32]struct{}{}}
		m.conns[name] = cm
		macs, err := state.ListMACs(name)
		if err != nil {
			continue // deleted since; its change follows
		}
		for _, b := range macs {
			if err := m.compileBinding(cm, b, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropBindings removes the flows of every binding of cm.
func (m *model) dropBindings(cm *connModel, d *delta) {
	for id := range cm.bindings {
		m.replaceOwner(flows.Owner{Kind: flows.KindBinding, ID: id}, nil, d)
	}
	clear(cm.bindings)
}

// updateBinding applies one binding change.
func (m *model) updateBinding(bc BindingChange, d *delta) error {
	cm := m.conns[bc.Connection]
	if bc.Removed || cm == nil {
		m.replaceOwner(flows.Owner{Kind: flows.KindBinding, ID: bc.Binding.ID}, nil, d)
		if cm != nil {
			delete(cm.bindings, bc.Binding.ID)
		}
		return nil
	}
	return m.compileBinding(cm, bc.Binding, d)
}

// compileBinding (re)compiles binding b of connection cm.
func (m *model) compileBinding(cm *connModel, b MACBinding, d *delta) error {
	fb := flowBinding(b)
	set, err := flows.CompileBinding(cm.networkID, &cm.conn, m.tunnelPorts, &fb)
	if err != nil {
		return err
	}
	m.replaceOwner(flows.Owner{Kind: flows.KindBinding, ID: b.ID}, set, d)
	cm.bindings[b.ID] = struct{}{}
	return nil
}
