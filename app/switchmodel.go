package app

import (
	"maps"
	"slices"

	"github.com/l2gw/l2gw/flows"
)

// model is what the reconciler knows of the switch, kept small: the cookies
// of each owner's flows (a cookie names one flow), and what each connection's
// bindings were compiled against.
type model struct {
	owners ownerCookies
	// remote holds the cookies of the remote MACs of dynamic origins,
	// by what names them (their cookies' owner IDs are hashes and may be
	// shared; see remoteOwnerID).
	remote map[remoteKey][]uint64
	conns  map[string]*connModel // by connection name
	ports  map[string]uint32     // the bridge's ofports compiled against
	flows  int                   // number of cookies in owners and remote

	// held are flows of dynamic origins the switch has and the desired
	// state does not (yet): kept, as their origin was not synced when they
	// were found, until it is (see heldOrigins). A flow the desired state
	// comes to want again is taken back without being sent.
	held map[uint64]struct{}
	// unsynced says, per origin, that it was not synced when the model was
	// compiled: its flows the desired state lacks are held.
	unsynced [numOrigins]bool

	tunnelPorts map[string]uint32 // network type → tunnel ofport
	// groups are the OpenFlow groups the flows point to, as compiled.
	groups flows.GroupSet
	// taken are the changes pending when the compile began: the state it
	// read holds them. Kept only by a compile made before the switch was
	// read, which leaves them pending (see adopt).
	taken []Change
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
	groups  int  // group_mods
	stopped bool // emit refused a mod: the bundle is failing
}

// mods sends the group_mods of src.
func (s *sink) mods(src flows.ModSource) {
	if s.stopped {
		return
	}
	src(func(m flows.Mod) bool {
		s.groups++
		s.stopped = !s.emit(m)
		return !s.stopped
	})
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

// clear deletes every flow of owner o, whatever the model knows of them.
func (s *sink) clear(o flows.Owner) {
	s.dels++
	if !s.stopped {
		s.stopped = !s.emit(flows.DeleteOwnerMod(o))
	}
}

// newModel starts an empty model for a full compile against in (whose
// connections, by name, are conns).
func newModel(in *flows.Input, conns map[string]connRef, ports map[string]uint32) *model {
	m := &model{owners: newOwnerCookies(), remote: map[remoteKey][]uint64{}, conns: map[string]*connModel{},
		held: map[uint64]struct{}{}, ports: ports, tunnelPorts: in.TunnelPorts}
	for name, ref := range conns {
		m.conns[name] = &connModel{connRef: ref, bindings: map[uint32]struct{}{}}
	}
	return m
}

// record notes that the switch has (or is about to have) f.
func (m *model) record(f *flows.Flow) {
	_, o, _ := flows.DecodeCookie(f.Cookie)
	m.owners.add(o, f.Cookie)
	m.flows++
}

// recordRemote notes that the switch has (or is about to have) f, a flow
// of remote MAC k.
func (m *model) recordRemote(k remoteKey, f *flows.Flow) {
	m.remote[k] = append(m.remote[k], f.Cookie)
	m.flows++
}

// cookieLists calls fn with every list of cookies the model wants.
func (m *model) cookieLists(fn func([]uint64) bool) {
	stopped := false
	m.owners.each(func(_ flows.Owner, cs []uint64) bool {
		stopped = !fn(cs)
		return !stopped
	})
	if stopped {
		return
	}
	for _, cs := range m.remote {
		if !fn(cs) {
			return
		}
	}
}

// cookies returns every cookie of the switch the model knows: those it
// wants and those it holds.
func (m *model) cookies() *cookieSet {
	out := newCookieTable[struct{}](m.flows + len(m.held))
	m.cookieLists(func(cs []uint64) bool {
		for _, c := range cs {
			out.add(c)
		}
		return true
	})
	for c := range m.held {
		out.add(c)
	}
	return out
}

// adopt tells whether the model can stand for the switch whose flows are
// installed, and makes it do so: the switch must have every flow the model
// wants and no other, but for the bindings the changes the compile took
// touched (changes of bindings only). Those bindings' cookies become the
// ones the switch has, so that the changes, applied again as deltas,
// bring the switch over: a change posted while l2gwd starts costs its own
// flows, not a full comparison.
func (m *model) adopt(installed *cookieSet) bool {
	touched := map[flows.Owner]bool{}
	for _, ch := range m.taken {
		if ch.Topology || len(ch.RemoteMACs) > 0 || len(ch.Synced) > 0 {
			return false
		}
		for _, b := range ch.Bindings {
			touched[flows.Owner{Kind: flows.KindBinding, ID: b.ID}] = true
		}
	}
	wanted := 0 // the model's flows, touched bindings aside: all on the switch
	missing := false
	m.owners.each(func(o flows.Owner, cs []uint64) bool {
		if touched[o] {
			return true
		}
		for _, c := range cs {
			if !installed.has(c) {
				missing = true
				return false
			}
		}
		wanted += len(cs)
		return true
	})
	if missing {
		return false
	}
	for _, cs := range m.remote {
		for _, c := range cs {
			if !installed.has(c) {
				return false
			}
		}
		wanted += len(cs)
	}
	if len(touched) == 0 {
		return installed.len() == wanted
	}
	now := map[flows.Owner][]uint64{}
	n := 0
	installed.each(func(c uint64, _ struct{}) bool {
		if _, o, _ := flows.DecodeCookie(c); touched[o] && flows.IsController(c) {
			now[o] = append(now[o], c)
			n++
		}
		return true
	})
	if installed.len() != wanted+n {
		return false // flows of no one the model knows: a full comparison deletes them
	}
	for o := range touched {
		m.flows += len(now[o]) - m.owners.count(o)
		m.owners.set(o, now[o])
	}
	return true
}

// replaceOwner makes fs owner o's flows, sending out the difference.
func (m *model) replaceOwner(o flows.Owner, fs []*flows.Flow, out *sink) {
	m.owners.set(o, m.replaceCookies(m.owners.get(o), fs, out))
}

// replaceRemote makes fs the flows of remote MAC k.
func (m *model) replaceRemote(k remoteKey, fs []*flows.Flow, out *sink) {
	if cookies := m.replaceCookies(m.remote[k], fs, out); len(cookies) > 0 {
		m.remote[k] = cookies
	} else {
		delete(m.remote, k)
	}
}

// replaceCookies replaces the flows whose cookies are old with fs, sending
// out the difference (a held flow fs has is taken back, not sent), and
// returns fs's cookies.
func (m *model) replaceCookies(old []uint64, fs []*flows.Flow, out *sink) []uint64 {
	for _, f := range fs {
		if slices.Contains(old, f.Cookie) {
			continue
		}
		if _, held := m.held[f.Cookie]; held {
			delete(m.held, f.Cookie)
			continue
		}
		out.add(f)
	}
	for _, c := range old {
		if !slices.ContainsFunc(fs, func(f *flows.Flow) bool { return f.Cookie == c }) {
			out.del(c)
		}
	}
	m.flows += len(fs) - len(old)
	if len(fs) == 0 {
		return nil
	}
	cookies := make([]uint64, len(fs))
	for i, f := range fs {
		cookies[i] = f.Cookie
	}
	return cookies
}

// hold keeps installed flow c, of a dynamic origin not synced, or says it
// must go.
func (m *model) hold(c uint64) bool {
	_, o, _ := flows.DecodeCookie(c)
	if flows.IsController(c) && o.Origin.Dynamic() && m.unsynced[o.Origin] {
		m.held[c] = struct{}{}
		return true
	}
	return false
}

// isHeld reports whether the model holds flow c.
func (m *model) isHeld(c uint64) bool {
	_, ok := m.held[c]
	return ok
}

// heldByOrigin counts the held flows of each origin.
func (m *model) heldByOrigin() (n [numOrigins]int) {
	for c := range m.held {
		_, o, _ := flows.DecodeCookie(c)
		n[o.Origin]++
	}
	return n
}

// release deletes the held flows of origin o, which is synced now.
func (m *model) release(o Origin, out *sink) {
	m.unsynced[o] = false
	for _, c := range slices.Sorted(maps.Keys(m.held)) {
		if _, owner, _ := flows.DecodeCookie(c); owner.Origin == o {
			delete(m.held, c)
			out.del(c)
		}
	}
}

// updateRemote brings the flows of one remote MAC to t.
func (m *model) updateRemote(t remoteTouch, out *sink) error {
	if t.binding == nil {
		m.replaceRemote(t.key, nil, out)
		return nil
	}
	fs, err := flows.CompileBinding(t.networkID, &t.tunnel, m.tunnelPorts, t.binding)
	if err != nil {
		return err
	}
	m.replaceRemote(t.key, fs, out)
	return nil
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
	for _, o := range m.owners.otherOwners() {
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
		return m.owners.has(o)
	case flows.KindConnection:
		for _, cm := range m.conns {
			if cm.conn.ID == o.ID {
				return true
			}
		}
	}
	return false
}

// updateBinding brings one binding to t, made into the compiler's form in
// scratch. A binding ID another touch of the pass binds (t.rebound) only
// leaves the connection's books here (if it left the connection): its
// flows are the other touch's to change.
func (m *model) updateBinding(t *touch, scratch *arena, out *sink) error {
	cm := m.conns[t.conn]
	if !t.bound || cm == nil {
		if !t.rebound {
			m.replaceOwner(flows.Owner{Kind: flows.KindBinding, ID: t.id}, nil, out)
		}
		if cm != nil && !t.reboundHere {
			delete(cm.bindings, t.id)
		}
		return nil
	}
	scratch.reset()
	b := scratch.binding(&t.entry)
	return m.compileBinding(cm, &b, out)
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
