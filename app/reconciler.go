package app

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contiv/libOpenflow/openflow13"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/ovsdb"
)

// Switch is the OpenFlow side the reconciler programs (flows.Session).
type Switch interface {
	Events() <-chan flows.Event
	Connected() bool
	Apply(ctx context.Context, mods []*openflow13.FlowMod) error
	Dump(ctx context.Context, cookie, cookieMask uint64) ([]*flows.Flow, error)
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
	LearnIdleTimeout uint16 // seconds; 0 = flows.DefaultLearnIdleTimeout
	Logger           *slog.Logger
}

// retryDelay is how long the reconciler waits before trying again after a
// failure (OVSDB or OpenFlow error).
const retryDelay = time.Second

// Reconciler keeps the bridge equal to the desired state: it makes sure the
// bridge and tunnel ports exist (OVSDB) and sends the switch only the
// difference between the desired flows and the flows it has (OpenFlow
// bundles). After every (re)connection it dumps the switch's l2gw flows and
// fixes only what differs, so a restarted l2gwd changes nothing on a switch
// that is already right, and a restarted ovs-vswitchd gets everything back.
type Reconciler struct {
	cfg    ReconcilerConfig
	state  *State
	sw     Switch
	br     Bridge
	log    *slog.Logger
	kick   chan struct{}
	dirty  atomic.Bool // the desired state changed since the last compile
	synced bool        // installed mirrors the switch (loop goroutine only)

	installed flows.FlowSet     // what the switch has (loop goroutine only)
	desired   flows.FlowSet     // last compiled (loop goroutine only)
	ports     map[string]uint32 // ofports the last compile used

	mu     sync.Mutex
	status Status
}

// NewReconciler wires a reconciler; Run starts it.
func NewReconciler(cfg ReconcilerConfig, state *State, sw Switch, br Bridge) *Reconciler {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	r := &Reconciler{cfg: cfg, state: state, sw: sw, br: br, log: log, kick: make(chan struct{}, 1)}
	r.status.Bridge = cfg.Bridge
	r.dirty.Store(true)
	state.Subscribe(func() {
		// Not reconciled from the moment the change is committed, so a
		// client that sees reconciled=true after its write knows the
		// write is in the switch.
		r.dirty.Store(true)
		r.mu.Lock()
		r.status.Reconciled = false
		r.mu.Unlock()
		r.trigger()
	})
	return r
}

func (r *Reconciler) trigger() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Status reports the switch side for GET /v1/status.
func (r *Reconciler) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.Connected = r.sw.Connected()
	s.OVSDBConnected = r.br.Connected()
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
			r.synced = false
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

// reconcile makes one pass: OVSDB objects, then flows. It recompiles only
// when the desired state or the bridge's ofports changed.
func (r *Reconciler) reconcile(ctx context.Context) error {
	if r.br.Connected() {
		if err := r.ensureOVSDB(ctx); err != nil {
			return err
		}
	}
	ports := r.br.OFPorts(r.cfg.Bridge)
	if r.dirty.Swap(false) || r.desired == nil || !maps.Equal(ports, r.ports) {
		snap := r.state.Snapshot()
		desired, err := flows.Compile(BuildInput(&snap, ports, r.cfg.LearnIdleTimeout))
		if err != nil {
			r.dirty.Store(true)
			return err
		}
		r.desired, r.ports = desired, ports
	}
	return r.syncFlows(ctx)
}

// ensureOVSDB makes sure the bridge and the tunnel ports in use exist.
func (r *Reconciler) ensureOVSDB(ctx context.Context) error {
	err := r.br.EnsureBridge(ctx, ovsdb.BridgeConfig{
		Name: r.cfg.Bridge, DatapathType: r.cfg.DatapathType, ControllerTarget: r.cfg.ControllerTarget,
	})
	if err != nil {
		return err
	}
	return r.br.EnsureTunnelPorts(ctx, r.cfg.Bridge, networkTypesInUse(r.state.ListConnections()), r.cfg.TunnelIP)
}

// syncFlows sends the switch the difference between desired and installed
// flows, first reading the switch's flows back when it just connected.
func (r *Reconciler) syncFlows(ctx context.Context) error {
	if !r.sw.Connected() {
		r.synced = false
		r.setStatus(false)
		return nil
	}
	if !r.synced {
		start := time.Now()
		dumped, err := r.sw.Dump(ctx, flows.ControllerCookie, flows.ControllerCookieMask)
		if err != nil {
			return err
		}
		r.installed = make(flows.FlowSet, len(dumped))
		for _, f := range dumped {
			r.installed[f.Cookie] = f
		}
		r.synced = true
		r.log.Info("read the bridge's flows", "flows", len(dumped), "took", time.Since(start))
	}
	adds, dels := flows.Diff(r.desired, r.installed)
	if len(adds)+len(dels) > 0 {
		start := time.Now()
		if err := r.sw.Apply(ctx, flows.Mods(adds, dels)); err != nil {
			r.synced = false
			r.setStatus(false)
			return err
		}
		r.log.Info("flows updated", "added", len(adds), "deleted", len(dels), "took", time.Since(start))
	}
	r.installed = r.desired
	r.setStatus(true)
	return nil
}

func (r *Reconciler) setStatus(reconciled bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// A change committed during this pass is not in the switch yet.
	r.status.Reconciled = reconciled && !r.dirty.Load()
	r.status.Flows = len(r.installed)
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

// BuildInput turns the desired state and the bridge's ofports into the
// flow compiler's input. Attachments whose port has no ofport yet, and
// tunnel types whose port has none, are left out until they appear.
func BuildInput(snap *Snapshot, ofports map[string]uint32, learnIdle uint16) *flows.Input {
	in := &flows.Input{TunnelPorts: map[string]uint32{}, LearnIdleTimeout: learnIdle}
	for _, typ := range []string{TypeVXLAN, TypeGRE, TypeGeneve} {
		if port, ok := ofports[ovsdb.TunnelPortName(typ)]; ok {
			in.TunnelPorts[typ] = port
		}
	}
	gateways := map[string]net.IP{}
	for _, g := range snap.RemoteGateways {
		if a, err := netip.ParseAddr(g.TunnelIP); err == nil && a.Is4() {
			gateways[g.Name] = net.IP(a.AsSlice())
		}
	}
	byNetwork := map[string][]Connection{}
	for _, c := range snap.Connections {
		byNetwork[c.Network] = append(byNetwork[c.Network], c)
	}
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
			for _, b := range snap.MACs[c.Name] {
				fc.Bindings = append(fc.Bindings, flowBinding(b))
			}
			fn.Connections = append(fn.Connections, fc)
		}
		in.Networks = append(in.Networks, fn)
	}
	return in
}

// flowBinding converts a validated binding; its IPv6 addresses have no
// flows yet.
func flowBinding(b MACBinding) flows.Binding {
	mac, _ := net.ParseMAC(b.MAC)
	fb := flows.Binding{ID: b.ID, MAC: mac}
	for _, s := range b.IPs {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			fb.IPv4 = append(fb.IPv4, net.IP(a.AsSlice()))
		}
	}
	return fb
}
