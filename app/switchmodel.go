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

// sink takes a pass's flow mods as the model changes, in the order the
// changes happen, and counts them. A pass's mods go in one atomic bundle,
// so their order matters only for the bundle's end result, and each change
// is relative to the model as the changes before it left it: the end
// result is the model's. An add replaces a flow of the same match and
// priority (with its cookie), so a delete of the replaced flow's cookie
// then finds nothing; cookies name one owner and content, so a delete
// never removes a flow another owner or a later change installed.
type sink struct {
	emit    func(flows.Mod) bool
	adds    int
	dels    int
	stopped bool // emit refused a mod: the bundle is failing
}

func (s *sink) add(f *flows.Flow) {
	s.adds++
	if !s.stopped {
		s.stopped = !s.emit(f.AddMod())
	}
}

func (s *sink) del(cookie uint64) {
	s.dels++
	if !s.stopped {
		s.stopped = !s.emit(flows.DeleteCookieMod(cookie))
	}
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

// holds reports whether installed is exactly the model's cookies.
func (m *model) holds(installed flows.Cookies) bool {
	if len(installed) != m.flows {
		return false
	}
	for _, cs := range m.owners {
		for _, c := range cs {
			if _, ok := installed[c]; !ok {
				return false
			}
		}
	}
	return true
}

// replaceOwner makes fs owner o's flows, sending out the difference.
func (m *model) replaceOwner(o flows.Owner, fs []*flows.Flow, out *sink) {
	old := m.owners[o]
	for _, f := range fs {
		if !slices.Contains(old, f.Cookie) {
			out.add(f)
		}
	}
	for _, c := range old {
		if !slices.ContainsFunc(fs, func(f *flows.Flow) bool { return f.Cookie == c }) {
			out.del(c)
		}
	}
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
func (m *model) replaceTopology(set flows.FlowSet, out *sink) {
	byOwner := map[flows.Owner][]*flows.Flow{}
	for c, f := range set {
		_, o, _ := flows.DecodeCookie(c)
		byOwner[o] = append(byOwner[o], f)
	}
	for o := range m.owners {
		if _, still := byOwner[o]; isTopology(o.Kind) && !still {
			m.replaceOwner(o, nil, out)
		}
	}
	for o, s := range byOwner {
		m.replaceOwner(o, s, out)
	}
}

// staleConnections names the connections whose bindings' flows must be
// compiled again to match refs: new ones, and those whose bindings would
// compile differently (network, key, gateway IP, type).
func (m *model) staleConnections(refs map[string]connRef) []string {
	var stale []string
	for name, ref := range refs {
		if cm := m.conns[name]; cm == nil || !cm.sameBindingFlows(ref) {
			stale = append(stale, name)
		}
	}
	return stale
}

// updateConnections brings the connections to refs: a connection gone has
// its bindings' flows and the MACs learned through it removed; a stale one
// (see staleConnections) has them removed too, its bindings compiled again
// from macs against refs.
func (m *model) updateConnections(refs map[string]connRef, macs map[string][]flows.Binding, out *sink) error {
	for name, cm := range m.conns {
		if _, still := refs[name]; !still {
			m.dropConnection(cm, out)
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
			m.dropConnection(cm, out)
		}
		cm = &connModel{connRef: ref, bindings: map[uint32]struct{}{}}
		m.conns[name] = cm
		for i := range macs[name] {
			if err := m.compileBinding(cm, &macs[name][i], out); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropConnection removes the flows of every binding of cm, and the entries
// OVS learned through it (they share its learned cookie): they point at a
// tunnel that is gone or has moved.
func (m *model) dropConnection(cm *connModel, out *sink) {
	for id := range cm.bindings {
		m.replaceOwner(flows.Owner{Kind: flows.KindBinding, ID: id}, nil, out)
	}
	clear(cm.bindings)
	out.del(flows.LearnedConnectionCookie(cm.conn.ID))
}

// learnsFor reports whether the owner of learned entries' cookie c (a
// network's local learning, a connection's) still learns: entries of a
// network or connection gone while l2gwd was not there to delete them
// (l2gwd stopped between committing a delete and sending its bundle) are
// deleted by the next full sync that reads the bridge.
func (m *model) learnsFor(c uint64) bool {
	_, o, _ := flows.DecodeCookie(c)
	switch o.Kind {
	case flows.KindNetwork:
		_, ok := m.owners[o]
		return ok
	case flows.KindConnection:
		for _, cm := range m.conns {
			if cm.conn.ID == o.ID {
				return true
			}
		}
	}
	return false
}

// updateBinding brings one binding to t. A binding ID another touch of
// the pass binds (t.rebound) only leaves the connection's books here (if
// it left the connection): its flows are the other touch's to change.
func (m *model) updateBinding(t touch, out *sink) error {
	cm := m.conns[t.conn]
	if t.binding == nil || cm == nil {
		if !t.rebound {
			m.replaceOwner(flows.Owner{Kind: flows.KindBinding, ID: t.id}, nil, out)
		}
		if cm != nil && !t.reboundHere {
			delete(cm.bindings, t.id)
		}
		return nil
	}
	return m.compileBinding(cm, t.binding, out)
}

// compileBinding (re)compiles binding b of connection cm.
func (m *model) compileBinding(cm *connModel, b *flows.Binding, out *sink) error {
	fs, err := flows.CompileBinding(cm.networkID, &cm.conn, m.tunnelPorts, b)
	if err != nil {
		return err
	}
	m.replaceOwner(flows.Owner{Kind: flows.KindBinding, ID: b.ID}, fs, out)
	cm.bindings[b.ID] = struct{}{}
	return nil
}

// connRef is what a connection's bindings compile against: its network's
// ID and its own parameters (Bindings left empty).
type connRef struct {
	networkID uint32
	conn      flows.Connection
}

// sameBindingFlows reports whether bindings compile to the same flows
// through a and b.
func (a connRef) sameBindingFlows(b connRef) bool {
	return a.networkID == b.networkID && a.conn.ID == b.conn.ID && a.conn.NetworkType == b.conn.NetworkType &&
		a.conn.RemoteIP.Equal(b.conn.RemoteIP) && a.conn.SegmentationID == b.conn.SegmentationID
}
