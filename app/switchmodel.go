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
	after  map[flows.Owner][]*flows.Flow
}

func newDelta() *delta {
	return &delta{before: map[flows.Owner][]uint64{}, after: map[flows.Owner][]*flows.Flow{}}
}

// result returns the flows to add and the cookies to delete. Their order is
// free: they go in one atomic bundle, adds before deletes, and cookies are
// unique.
func (d *delta) result() (adds []*flows.Flow, dels []uint64) {
	for o, before := range d.before {
		after := d.after[o]
		for _, f := range after {
			if !slices.Contains(before, f.Cookie) {
				adds = append(adds, f)
			}
		}
		for _, c := range before {
			if !slices.ContainsFunc(after, func(f *flows.Flow) bool { return f.Cookie == c }) {
				dels = append(dels, c)
			}
		}
	}
	return adds, dels
}

// newModel starts an empty model for a full compile against in (whose
// connections, by name, are conns).
func newModel(in *flows.Input, conns map[string]connRef, ports map[string]uint32) *model {
	m := &model{owners: map[flows.Owner][]uint64{}, conns: map[string]*connModel{}, ports: ports, tunnelPorts: in.TunnelPorts}
	for name, ref := range conns {
		m.conns[name] = &connModel{connRef: ref, bindings: map[uint32]struct{}{}}
	}
	return m
}

// record notes that the switch has (or is about to have) f.
func (m *model) record(f *flows.Flow) {
	_, o, _ := flows.DecodeCookie(f.Cookie)
	m.owners[o] = append(m.owners[o], f.Cookie)
	m.flows++
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

// replaceOwner makes fs owner o's flows.
func (m *model) replaceOwner(o flows.Owner, fs []*flows.Flow, d *delta) {
	old := m.owners[o]
	if _, seen := d.before[o]; !seen {
		d.before[o] = old
	}
	d.after[o] = fs
	m.flows += len(fs) - len(old)
	if len(fs) == 0 {
		delete(m.owners, o)
		return
	}
	cookies := make([]uint64, len(fs))
	for i, f := range fs {
		cookies[i] = f.Cookie
	}
	m.owners[o] = cookies
}

// isTopology reports whether owner kind k belongs to the topology (compiled
// by flows.CompileTopology).
func isTopology(k flows.Kind) bool { return k != flows.KindBinding }

// replaceTopology makes set the flows of every topology owner.
func (m *model) replaceTopology(set flows.FlowSet, d *delta) {
	byOwner := map[flows.Owner][]*flows.Flow{}
	for c, f := range set {
		_, o, _ := flows.DecodeCookie(c)
		byOwner[o] = append(byOwner[o], f)
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
	fs, err := flows.CompileBinding(cm.networkID, &cm.conn, m.tunnelPorts, &fb)
	if err != nil {
		return err
	}
	m.replaceOwner(flows.Owner{Kind: flows.KindBinding, ID: b.ID}, fs, d)
	cm.bindings[b.ID] = struct{}{}
	return nil
}
