package app

import (
	"context"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/ovsdb"
)

// Switch is the OpenFlow side the reconciler programs (flows.Session).
type Switch interface {
	Events() <-chan flows.Event
	Connected() bool
	Apply(ctx context.Context, src flows.ModSource) error
	Dump(ctx context.Context, cookie, cookieMask uint64) ([]flows.DumpedFlow, error)
}

// Bridge is the OVSDB side the reconciler keeps right (ovsdb.Client).
type Bridge interface {
	EnsureBridge(ctx context.Context, cfg ovsdb.BridgeConfig) error
	EnsureTunnelPorts(ctx context.Context, bridge string, networkTypes []string, localIP string) error
	OFPorts(bridge string) map[string]uint32
	Changes() <-chan struct{}
	Connected() bool
}

// ReconcilerConfig is what the reconciler needs to know of its site.
type ReconcilerConfig struct {
	Bridge           string // bridge name, e.g. br-int
	DatapathType     string // "system", "netdev" or "" (OVS default)
	ControllerTarget string // e.g. tcp:127.0.0.1:6653
	TunnelIP         string // this gateway's tunnel endpoint (tunnel ports' local_ip)
	Learning         Learning
	// SnoopHosts has the data path copy to l2gwd, rate-limited, the ARP
	// and neighbour discovery messages local hosts announce their
	// addresses in, so that WatchLocalMACs reports each MAC's IPs (BGP
	// EVPN's MAC+IP routes). It needs a switch that installs the meter
	// (flows.Session); on any other it is left off, with an error logged.
	SnoopHosts bool
	// HAPeer is the tunnel IP of the other node of this site's HA pair;
	// the zero Addr without a pair. With it, SetGate says whether this
	// node is the pair's standby, whose data path then forwards only
	// while the peer is silent (flows.Gate).
	HAPeer netip.Addr
	Logger *slog.Logger
}

// groupSwitch is a Switch that reads back the OpenFlow groups l2gwd owns
// (flows.Session). On any other, the groups the desired state needs are
// taken to be missing after every (re)connection.
type groupSwitch interface {
	DumpGroups(ctx context.Context) (flows.GroupSet, error)
}

// generationSwitch is a Switch that numbers its connections
// (flows.Session): an Event of a connection a full sync already read is
// no reason for another. On any other, every connection event is.
type generationSwitch interface {
	Generation() uint64
}

// hostSnooper is a Switch that rate-limits the copies of host snooping
// and counts them (flows.Session).
type hostSnooper interface {
	SnoopHosts()
	SnoopStats() flows.SnoopStats
}

// Learning is how the data path learns MACs.
type Learning struct {
	IdleTimeout uint16 // seconds a learned MAC lives without traffic; 0 = flows.DefaultLearnIdleTimeout
	Limit       uint32 // MACs learned per connection at most; 0 = flows.DefaultLearnLimit
}

// retryDelay is how long the reconciler waits before trying again after a
// failure (OVSDB or OpenFlow error).
const retryDelay = time.Second

// Reconciler keeps the bridge equal to the desired state: it makes sure the
// bridge and tunnel ports exist (OVSDB) and sends the switch only the
// difference between the desired flows and the flows it has (OpenFlow
// bundles).
//
// After every (re)connection it dumps the switch's l2gw flows and fixes only
// what differs, so a restarted l2gwd changes nothing on a switch that is
// already right, and a restarted ovs-vswitchd gets everything back. Between
// connections it works from the State's Changes: a change recompiles only
// the owners it touched, so its cost follows its size, not the state's.
// What it keeps of the switch is the cookies of each owner's flows.
type Reconciler struct {
	cfg   ReconcilerConfig
	state *State
	sw    Switch
	br    Bridge
	log   *slog.Logger
	kick  chan struct{}

	mu      sync.Mutex
	pending []Change // committed, not yet in the switch
	status  Status
	held    [numOrigins]int // flows the model holds, by origin
	// ports are the bridge's ofports as the last pass read them, and
	// portsGen counts their changes: the local-MAC watch names the
	// ports MACs are learned on from them.
	ports    map[string]uint32
	portsGen uint64
	// gate is SetGate's.
	gate Gate

	// Owned by the Run goroutine.
	synced bool // model mirrors the switch
	// syncedGen is the switch connection (flows.Event.Generation) the
	// last dump was read from: 0 for none, or a switch that does not tell.
	syncedGen uint64
	model     *model // nil until the first full sync
	// snoop says the flows snoop hosts (cfg.SnoopHosts, on a switch that
	// can).
	snoop bool
	// compiling is a full compile of the desired state started while no
	// switch was connected (a restarted l2gwd waiting for OVS to
	// reconnect), nil once a full sync took it. If the switch turns out
	// to hold its cookies, it is adopted (model.adopt).
	compiling *backgroundCompile
	metrics   *reconcilerMetrics // nil unless Instrument was called
	// pieceFlows is about how many flows a request of a dump reads
	// (dumpPieceFlows; tests make it small).
	pieceFlows int
}

// NewReconciler wires a reconciler; Run starts it.
func NewReconciler(cfg ReconcilerConfig, state *State, sw Switch, br Bridge) *Reconciler {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	r := &Reconciler{cfg: cfg, state: state, sw: sw, br: br, log: log, kick: make(chan struct{}, 1), pieceFlows: dumpPieceFlows}
	if cfg.SnoopHosts {
		// Before any flow is sent: the meter must exist when the flows
		// that use it are added.
		if hs, ok := sw.(hostSnooper); ok {
			hs.SnoopHosts()
			r.snoop = true
		} else {
			log.Error("host snooping is off: the switch side cannot rate-limit it", "bridge", cfg.Bridge)
		}
	}
	r.status.Bridge = cfg.Bridge
	state.Subscribe(func(ch Change) {
		if !ch.touchesFlows() {
			return // BGP peers only: the switch has nothing of them
		}
		// Not reconciled from the moment the change is committed, so a
		// client that sees reconciled=true after its write knows the
		// write is in the switch.
		r.mu.Lock()
		r.pending = append(r.pending, ch)
		r.status.Reconciled = false
		r.mu.Unlock()
		r.trigger()
	})
	return r
}

// Gate is what the standby's gate does (package ha decides it).
type Gate uint8

// Gates.
const (
	// GateNone: no gate, the node forwards (no pair, or its primary).
	GateNone Gate = iota
	// GateOpen: the standby's gate, which passes only while the peer is
	// silent on both paths and a witness forwards (flows.Gate).
	GateOpen
	// GateClosed: the standby's gate passing nothing, while its BFD
	// sessions to a peer that is known to be alive have not settled yet.
	GateClosed
)

// SetGate says whether this node is the standby of its HA pair (package
// ha decides it from the priorities the nodes tell each other) and how
// its gate stands: the topology is compiled again when it changes.
func (r *Reconciler) SetGate(g Gate) {
	r.mu.Lock()
	changed := r.gate != g
	if changed {
		r.gate = g
		r.pending = append(r.pending, Change{Topology: true})
		r.status.Reconciled = false
	}
	r.mu.Unlock()
	if changed {
		r.trigger()
	}
}

// pair is the HA pair as the next compile sees it.
func (r *Reconciler) pair() pairView {
	r.mu.Lock()
	defer r.mu.Unlock()
	return pairView{peer: r.cfg.HAPeer, gate: r.gate}
}

func (r *Reconciler) trigger() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// takePending returns the changes committed since the last call.
func (r *Reconciler) takePending() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pending
	r.pending = nil
	return p
}

// seePending returns the changes pending, leaving them pending.
func (r *Reconciler) seePending() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clip(r.pending)
}

// requeue puts changes back in front of those pending, for the next pass.
func (r *Reconciler) requeue(changes []Change) {
	if len(changes) == 0 {
		return
	}
	r.mu.Lock()
	r.pending = append(slices.Clip(changes), r.pending...)
	r.mu.Unlock()
	r.trigger()
}

// Status reports the switch side for GET /v1/status.
// It asks the switch, the bridge and the state before it takes the
// reconciler's lock, never while holding it: a pass holds the switch's
// Apply while it takes that lock (pending changes).
func (r *Reconciler) Status() Status {
	connected, ovsdbConnected, origins := r.sw.Connected(), r.br.Connected(), r.state.OriginStatuses()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.Connected, s.OVSDBConnected, s.Origins = connected, ovsdbConnected, origins
	for i := range s.Origins {
		s.Origins[i].HeldFlows = r.held[s.Origins[i].Origin]
	}
	return s
}

// Run reconciles until ctx ends: at start, on every desired-state change,
// OVSDB change and switch (re)connection, and after a failure.
func (r *Reconciler) Run(ctx context.Context) {
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-r.sw.Events():
			// A connection whose flows a full sync already read (its
			// event was still queued when the pass began) needs no
			// second one: at a million bindings that is seconds.
			if !ev.Connected || ev.Generation == 0 || ev.Generation > r.syncedGen {
				r.synced = false
			}
			r.log.Info("openflow switch", "bridge", r.cfg.Bridge, "connected", ev.Connected)
		case <-r.br.Changes():
		case <-r.kick:
		case <-retry.C:
		}
		if err := r.reconcile(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.log.Warn("reconcile failed, retrying", "err", err, "in", retryDelay)
			retry.Reset(retryDelay)
		}
	}
}

// reconcile makes one pass: OVSDB objects, then flows.
func (r *Reconciler) reconcile(ctx context.Context) error {
	if r.br.Connected() {
		if err := r.ensureOVSDB(ctx); err != nil {
			return err
		}
	}
	ports := r.br.OFPorts(r.cfg.Bridge)
	r.notePorts(ports)
	if !r.sw.Connected() {
		r.synced = false
		r.setStatus(false)
		if r.model == nil && r.compiling == nil {
			r.compiling = r.compileInBackground(ports)
		}
		return nil
	}
	if !r.synced || r.model == nil || !maps.Equal(ports, r.model.ports) {
		defer r.metrics.timePass(passFull, time.Now())
		return r.fullSync(ctx, ports)
	}
	defer r.metrics.timePass(passIncremental, time.Now())
	return r.incremental(ctx, r.takePending())
}

// notePorts records the ofports a pass read, for portsRead.
func (r *Reconciler) notePorts(ports map[string]uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.portsGen == 0 || !maps.Equal(ports, r.ports) {
		r.ports = ports
		r.portsGen++
	}
}

// portsRead returns the bridge's ofports as the last pass read them (not
// to be modified) and their generation (0: no pass read them yet).
func (r *Reconciler) portsRead() (map[string]uint32, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ports, r.portsGen
}

// ensureOVSDB makes sure the bridge, with its tables named after the
// pipeline's, and the tunnel ports in use exist.
func (r *Reconciler) ensureOVSDB(ctx context.Context) error {
	tableNames := make(map[int]string, len(flows.Pipeline))
	for _, t := range flows.Pipeline {
		tableNames[int(t.ID)] = t.Name
	}
	err := r.br.EnsureBridge(ctx, ovsdb.BridgeConfig{
		Name: r.cfg.Bridge, DatapathType: r.cfg.DatapathType, ControllerTarget: r.cfg.ControllerTarget,
		TableNames: tableNames,
	})
	if err != nil {
		return err
	}
	return r.br.EnsureTunnelPorts(ctx, r.cfg.Bridge, networkTypesInUse(r.state.compiledConnections()), r.cfg.TunnelIP)
}

// fullSync compiles the whole desired state and compares it with the
// switch: with a dump of its flows after a (re)connection or a failure,
// else with the model (the ofports changed). It compiles binding by binding
// while the bundle is being sent, handing on only the flows the switch
// lacks, so neither verifying a switch that is right nor refilling an empty
// one holds more than the cookies; a compile prepared while the switch was
// away is adopted without compiling again when it still holds.
func (r *Reconciler) fullSync(ctx context.Context, ports map[string]uint32) error {
	var installed *cookieSet
	var installedGroups flows.GroupSet
	var prepared *model               // compiled while the bridge was read
	var learnedBy map[uint64]struct{} // learned entries' cookies, one per network or connection
	var altered flows.Cookies         // installed flows changed on the switch (flows.DumpedFlow.Altered)
	if r.synced && r.model != nil {
		installed = r.model.cookies()
		installedGroups = r.model.groups
	} else {
		v, err := r.readSwitch(ctx, ports)
		if err != nil {
			return err
		}
		installed, altered, learnedBy, installedGroups, prepared = v.installed, v.altered, v.learnedBy, v.groups, v.prepared
	}
	// The old model goes now, not after the new one is built: a failure
	// leaves synced false, and the next pass starts from a dump. Only its
	// connections are kept, to forget what was learned through those that
	// are gone or have moved.
	oldConns := map[string]connRef{}
	if r.model != nil {
		for name, cm := range r.model.conns {
			oldConns[name] = cm.connRef
		}
	}
	r.model = nil
	// forget deletes what OVS learned for owners m no longer has.
	forget := func(m *model, out *sink) {
		for name, old := range oldConns {
			if now, ok := m.conns[name]; !ok || !now.sameBindingFlows(old) {
				out.del(flows.LearnedConnectionCookie(old.conn.ID))
			}
		}
		for _, c := range slices.Sorted(maps.Keys(learnedBy)) {
			if !m.learnsFor(c) {
				out.del(c)
			}
		}
	}
	if p := prepared; p != nil {
		if maps.Equal(ports, p.ports) && len(altered) == 0 && flows.DiffGroups(p.groups, installedGroups).Empty() && p.adopt(installed) {
			// The changes the compile saw are still pending, with those
			// made after it (or applied between two pieces of the read,
			// requeued): they go again, now against what the switch has.
			// The next pass is due now: a change made while the switch
			// was away woke a pass that could not apply it.
			p.taken = nil
			if r.hasPending() {
				r.trigger()
			}
			r.model = p
			return r.apply(ctx, func(out *sink) error {
				forget(p, out)
				return nil
			})
		}
	}
	return r.apply(ctx, func(out *sink) error {
		var groups flows.GroupChanges
		m, err := r.compileAll(ports, true, func(desired flows.GroupSet) bool {
			groups = flows.DiffGroups(desired, installedGroups)
			out.mods(groups.Before())
			return !out.stopped
		}, func(f *flows.Flow) bool {
			ok := installed.del(f.Cookie)
			if _, changed := altered[f.Cookie]; !ok || changed {
				out.add(f) // an add replaces the changed flow of the same match and priority
			}
			return !out.stopped
		})
		if err != nil || out.stopped {
			return err
		}
		for _, c := range installed.sorted() {
			if !m.hold(c) {
				out.del(c)
			}
		}
		forget(m, out)
		out.mods(groups.After())
		m.taken = nil
		r.model = m
		return nil
	})
}

// dumpGroups reads the groups l2gwd owns on the switch; a switch that
// cannot tell has none.
func (r *Reconciler) dumpGroups(ctx context.Context) (flows.GroupSet, error) {
	gs, ok := r.sw.(groupSwitch)
	if !ok {
		return flows.GroupSet{}, nil
	}
	return gs.DumpGroups(ctx)
}

// switchView is what a full sync read of the switch.
type switchView struct {
	installed *cookieSet          // the flows l2gwd computed
	altered   flows.Cookies       // those changed on the switch (flows.DumpedFlow.Altered)
	learnedBy map[uint64]struct{} // learned entries' cookies, one per network or connection
	groups    flows.GroupSet
	prepared  *model // the desired state compiled meanwhile, nil if that was stopped or failed
}

// readSwitch reads the bridge's flows and groups for a full sync. OVS
// builds a whole reply before it sends any of it (seconds for a million
// flows): the desired state is compiled meanwhile (or goes on compiling,
// when that began while the switch was away), and the bridge is read in
// pieces, small changes going between two (early.go). Each piece is taken
// into the cookie sets as it comes and let go.
func (r *Reconciler) readSwitch(ctx context.Context, ports map[string]uint32) (switchView, error) {
	start := time.Now()
	r.syncedGen = 0
	if gs, ok := r.sw.(generationSwitch); ok {
		r.syncedGen = gs.Generation() // before the dump: a newer connection means another
	}
	overlapped := r.compiling
	if r.compiling = nil; overlapped == nil {
		overlapped = r.compileInBackground(ports)
	}
	early := newEarlyDeltas()
	v := switchView{altered: flows.Cookies{}, learnedBy: map[uint64]struct{}{}}
	read, learned := 0, 0
	err := r.readBridge(ctx, func() error { return r.applyEarly(ctx, ports, early) }, func(computed, learnedPart []flows.DumpedFlow, pieces int) {
		if v.installed == nil {
			v.installed = newCookieTable[struct{}](len(computed) * pieces)
			r.metrics.startDump(len(computed) * pieces)
		}
		for i := range computed {
			f := &computed[i]
			v.installed.add(f.Cookie)
			if f.Altered {
				v.altered[f.Cookie] = struct{}{}
			}
			r.metrics.dumpedFlow(f.Cookie, f.Table)
		}
		// Learned entries are read to delete those whose owner is gone.
		for _, f := range learnedPart {
			v.learnedBy[f.Cookie] = struct{}{}
		}
		read, learned = read+len(computed), learned+len(learnedPart)
	})
	r.requeue(early.changes) // applied, but not yet against a model
	if err != nil {
		overlapped.stop()
		return v, err
	}
	if read == 0 {
		overlapped.stop() // an empty bridge (ovs-vswitchd restarted): every flow goes out, compiled once
	}
	if v.prepared = overlapped.wait(); v.prepared != nil {
		early.overlay(v.prepared)
	}
	early.correct(v.installed, v.altered)
	r.metrics.endDump(early)
	if len(v.altered) > 0 {
		r.log.Warn("flows changed on the switch since they were installed: installing them again", "flows", len(v.altered))
	}
	if v.groups, err = r.dumpGroups(ctx); err != nil {
		return v, err
	}
	r.log.Info("read the bridge's flows", "flows", read, "learned", learned, "groups", len(v.groups), "took", time.Since(start))
	return v, nil
}

// readBridge reads every flow l2gwd computed (what dynamic origins no
// longer running left included: it goes) and every entry its learn
// actions created, in dumpPieces requests, calling between (if not nil)
// between two, and handing each piece's flows to visit as it comes: those
// computed and those learned, and the number of pieces. Every tag l2gwd
// uses has the cookie's top bit set; flows of other tags are someone
// else's.
func (r *Reconciler) readBridge(ctx context.Context, between func() error, visit func(computed, learned []flows.DumpedFlow, pieces int)) error {
	pieces := r.dumpPieces()
	var learned []flows.DumpedFlow
	for i := range pieces {
		if i > 0 && between != nil {
			if err := between(); err != nil {
				return err
			}
		}
		part, err := r.sw.Dump(ctx, flows.AnyTagCookie|uint64(i), flows.AnyTagCookie|uint64(pieces-1))
		if err != nil {
			return err
		}
		computed := part[:0] // in place: each flow is read before it is written
		learned = learned[:0]
		for _, f := range part {
			switch tag, _, _ := flows.DecodeCookie(f.Cookie); {
			case tag == flows.TagLearned:
				learned = append(learned, f)
			case flows.ComputedTag(tag):
				computed = append(computed, f)
			}
		}
		visit(computed, learned, pieces)
	}
	return nil
}

// dumpBridge reads the bridge as readBridge does, into two lists.
func (r *Reconciler) dumpBridge(ctx context.Context) (computed, learned []flows.DumpedFlow, err error) {
	err = r.readBridge(ctx, nil, func(c, l []flows.DumpedFlow, _ int) {
		computed, learned = append(computed, c...), append(learned, l...)
	})
	return computed, learned, err
}

// backgroundCompile is a compile of the desired state into a model (its
// flows let go) running while the switch is away or its flows are read.
type backgroundCompile struct {
	stopped atomic.Bool
	done    chan struct{} // closed when the compile ended
	model   *model        // once done: the model, nil when stopped or failed
}

// compileInBackground starts compiling the desired state for a full sync
// that reads the bridge. The compile reads the state and takes pending
// changes, as the reconciler's loop would, and nothing else of the
// reconciler's.
func (r *Reconciler) compileInBackground(ports map[string]uint32) *backgroundCompile {
	b := &backgroundCompile{done: make(chan struct{})}
	go func() {
		defer close(b.done)
		start := time.Now()
		going := func() bool { return !b.stopped.Load() }
		m, err := r.compileAll(ports, false, func(flows.GroupSet) bool { return going() }, func(*flows.Flow) bool { return going() })
		switch {
		case err != nil:
			r.log.Warn("compile of the desired state", "err", err)
		case going():
			r.log.Info("compiled the desired state before comparing it with the bridge", "flows", m.flows, "took", time.Since(start))
			b.model = m
		}
	}()
	return b
}

// stop asks the compile to end early; wait then returns nil.
func (b *backgroundCompile) stop() { b.stopped.Store(true) }

// wait returns the compiled model once the compile ended, nil if it was
// stopped or failed.
func (b *backgroundCompile) wait() *model {
	<-b.done
	if b.stopped.Load() {
		return nil
	}
	return b.model
}

// compileAll compiles the whole desired state, one owner at a time, into a
// new model, handing its groups to groups first (the flows may point to
// them), then each flow to visit, until either returns false. The state
// read after the changes pending so far (at one instant) holds them: take
// says they are taken (the compile goes to the switch as it is made), else
// they stay pending (a compile made before the switch is read: changes
// may go to it between two pieces of the read, early.go) and the model
// only notes them (model.taken).
func (r *Reconciler) compileAll(ports map[string]uint32, take bool, groups func(flows.GroupSet) bool, visit func(*flows.Flow) bool) (*model, error) {
	var taken []Change
	if take {
		taken = r.takePending()
	} else {
		taken = r.seePending()
	}
	d := r.readInput(ports)
	in := d.in
	m := newModel(in, d.refs, ports)
	m.unsynced = d.unsynced
	m.taken = taken
	var err error
	if m.groups, err = flows.CompileGroups(in); err != nil {
		return nil, err
	}
	if !groups(m.groups) {
		return m, nil
	}
	byID := make(map[uint32]*connModel, len(m.conns))
	for _, cm := range m.conns {
		byID[cm.conn.ID] = cm
	}
	keep := func(f *flows.Flow) bool {
		m.record(f)
		return visit(f)
	}
	topology, err := flows.CompileTopology(in)
	if err != nil {
		return nil, err
	}
	for _, f := range topology.Sorted() {
		if !keep(f) {
			return m, nil
		}
	}
	stopped := false
	for i := range in.Networks {
		n := &in.Networks[i]
		for j := range n.Connections {
			c := &n.Connections[j]
			cm := byID[c.ID]
			d.takeBindings(i, j, func(b *flows.Binding) bool {
				fs, cerr := flows.CompileBinding(n.ID, c, in.TunnelPorts, b)
				if cerr != nil {
					err = cerr
					return false
				}
				dynamic, key := b.Origin.Dynamic(), remoteKey{origin: b.Origin, network: d.networks[i], mac: b.MAC}
				if !dynamic {
					cm.bindings[b.ID] = struct{}{}
				}
				for _, f := range fs {
					if dynamic {
						m.recordRemote(key, f)
					} else {
						m.record(f)
					}
					if !visit(f) {
						stopped = true
						return false
					}
				}
				return true
			})
			if err != nil {
				return nil, err
			}
			if stopped {
				return m, nil
			}
		}
	}
	return m, nil
}

// readInput reads the whole desired state at one instant (readInput),
// as the reconciler compiles it.
func (r *Reconciler) readInput(ports map[string]uint32) *desired {
	d := readInput(r.state, ports, r.cfg.Learning)
	d.in.SnoopHosts = r.snoop
	addBFD(d.in, ports, r.pair())
	return d
}

// hasPending reports whether changes wait to be applied.
func (r *Reconciler) hasPending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending) > 0
}

// incremental recompiles what changes touched: the topology (networks,
// connections, pipeline: few flows) when it changed, each changed
// connection's bindings, and each changed binding, all as the state holds
// them at one instant (see pass). The differences go to the switch as they
// are found, in one bundle.
func (r *Reconciler) incremental(ctx context.Context, changes []Change) error {
	p := readPass(r.state, r.model, changes, r.cfg.Learning)
	if p.input != nil {
		p.input.SnoopHosts = r.snoop
		addBFD(p.input, r.model.ports, r.pair())
	}
	var groups flows.GroupChanges
	return r.apply(ctx, func(out *sink) error {
		if p.topology {
			desired, err := flows.CompileGroups(p.input)
			if err != nil {
				return err
			}
			groups = flows.DiffGroups(desired, r.model.groups)
			r.model.groups = desired
			if out.mods(groups.Before()); out.stopped {
				return nil
			}
			set, err := flows.CompileTopology(p.input)
			if err != nil {
				return err
			}
			r.model.replaceTopology(set, out)
			if err := r.model.updateConnections(p.refs, p.connMACs, out); err != nil {
				return err
			}
		}
		scratch := newArena(1)
		for i := range p.touches {
			if err := r.model.updateBinding(&p.touches[i], scratch, out); err != nil {
				return err
			}
			if out.stopped {
				return nil
			}
		}
		for i := range p.remotes {
			t := &p.remotes[i]
			if err := r.model.updateRemote(*t, out); err != nil {
				return err
			}
			t.binding = nil
			if out.stopped {
				return nil
			}
		}
		// Last: what the origins told again before saying they are
		// synced was taken back above.
		for _, o := range p.synced {
			r.model.release(o, out)
		}
		out.mods(groups.After())
		return nil
	})
}

// apply sends the flow mods produce hands to its sink, as it goes, in one
// bundle. After a failure the model no longer mirrors the switch, and the
// next pass starts from a dump.
func (r *Reconciler) apply(ctx context.Context, produce func(out *sink) error) error {
	if err := r.send(ctx, produce); err != nil {
		return err
	}
	r.synced = true
	r.setStatus(r.tunnelPortsReady())
	return nil
}

// send sends the flow mods produce hands to its sink in one bundle, and
// counts them; after a failure the next pass starts from a dump.
func (r *Reconciler) send(ctx context.Context, produce func(out *sink) error) error {
	start := time.Now()
	var out sink
	err := r.sw.Apply(ctx, func(emit func(flows.Mod) bool) error {
		out.emit = r.metrics.watch(emit)
		return produce(&out)
	})
	r.metrics.applied(err)
	if err != nil {
		r.synced = false
		r.setStatus(false)
		return err
	}
	if out.adds+out.dels+out.groups > 0 {
		r.log.Info("flows updated", "added", out.adds, "deleted", out.dels, "group_mods", out.groups, "took", time.Since(start))
		r.mu.Lock()
		r.status.FlowMods += uint64(out.adds + out.dels)
		r.status.Bundles++
		r.mu.Unlock()
	}
	return nil
}

// tunnelPortsReady reports whether every tunnel type in use has its port
// (with an ofport): until then its connections' flows are missing, and the
// switch is not yet what the desired state asks for.
func (r *Reconciler) tunnelPortsReady() bool {
	for _, typ := range networkTypesInUse(r.state.compiledConnections()) {
		if _, ok := r.model.tunnelPorts[typ]; !ok {
			return false
		}
	}
	return true
}

func (r *Reconciler) setStatus(reconciled bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// A change committed since this pass began is not in the switch yet.
	r.status.Reconciled = reconciled && len(r.pending) == 0
	if r.model != nil {
		r.status.Flows = r.model.flows + len(r.model.held)
		r.held = r.model.heldByOrigin()
	}
}

// networkTypesInUse lists the tunnel types the connections use, sorted.
func networkTypesInUse(conns []Connection) []string {
	seen := map[string]bool{}
	var types []string
	for _, c := range conns {
		if !seen[c.NetworkType] {
			seen[c.NetworkType] = true
			types = append(types, c.NetworkType)
		}
	}
	sort.Strings(types)
	return types
}
