// Package ha keeps a site's gateway available when a node fails. It runs
// the BFD sessions the data path fails over on: to every endpoint of a
// remote gateway that has several (its fast-failover group watches them,
// so a remote site's node failure costs a BFD detection time, decided in
// the datapath), and, when this node is one of its site's pair
// (Config.Peer), to the peer over the underlay and the local segment and
// to every remote gateway (the witnesses). It tells the peer this node's
// priority (a hello over UDP), tells the reconciler whether this node is
// the standby (whose data path forwards only while the peer is silent on
// both paths and a witness is up: flows.Gate), advertises cpath_down ("do
// not use me") while this node cannot serve, and announces the remote
// MACs on the local segment when it takes over. It imports app; app never
// imports it.
package ha

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/ovsdb"
)

// Config configures a Controller.
type Config struct {
	Bridge string
	// LocalIP is this node's tunnel IP: the BFD ports' local_ip and the
	// hello's source.
	LocalIP netip.Addr
	// Peer is the other node of this site's pair, its tunnel IP; the
	// zero Addr for a node without a pair (BFD then runs only to the
	// endpoints of remote gateways that have several).
	Peer netip.Addr
	// Priority is this node's (1-255): the higher of the pair is the
	// primary; with equal priorities, the lower tunnel IP.
	Priority uint8
	// IntervalMS and Multiplier are the BFD timers: a session goes down
	// after Multiplier intervals without a packet.
	IntervalMS int
	Multiplier int
	// HelloPort is the UDP port of the hello (DefaultHelloPort when 0).
	HelloPort int
	// DataDir is where the peer's priority is remembered.
	DataDir string
	Logger  *slog.Logger
}

// OVSDB is what the controller needs of the Open_vSwitch database
// (ovsdb.Client).
type OVSDB interface {
	EnsureBFDPorts(ctx context.Context, bridge string, peers []ovsdb.BFDPeer, cfg ovsdb.BFDConfig) error
	EnsureSegmentBFD(ctx context.Context, bridge string, ports []string, cfg ovsdb.BFDConfig) error
	BFDPorts(bridge string) map[ovsdb.BFDPeer]ovsdb.BFDStatus
	SegmentBFD(bridge string) map[string]ovsdb.BFDStatus
	LinkUp(bridge string) map[string]bool
	OFPorts(bridge string) map[string]uint32
	Watch() <-chan struct{}
	Connected() bool
}

// Reconciler is what the controller needs of the reconciler (app.Reconciler).
type Reconciler interface {
	Status() app.Status
	SetGate(g app.Gate)
}

// Announcer sends frames out of a bridge port (flows.Session).
type Announcer interface {
	SendPacket(ctx context.Context, outPort uint32, frame []byte) error
}

// poll is how often the controller of a pair looks at the reconciler's
// standing (connected, reconciled) besides its other wake-ups.
const poll = 50 * time.Millisecond

// Controller runs the node's part of high availability; Run starts it.
type Controller struct {
	cfg   Config
	state *app.State
	ovs   OVSDB
	rec   Reconciler
	ann   Announcer
	log   *slog.Logger
	kick  chan struct{}
	hello *helloLink // nil without a pair

	// OnRole, when set before Run, is called (from Run's goroutine) with
	// every change of this node's role: true when it becomes active.
	OnRole func(active bool)

	mu     sync.Mutex
	status *app.HAStatus // nil without a pair

	// Owned by Run.
	hold      bool // cpath_down until the bridge is reconciled
	connected bool // the switch was connected at the last pass
	// Settling of the standby's BFD sessions to its peer (see gate):
	// since is when the switch (re)connected, upSince since when a
	// session to the peer has forwarded without a break, settled that
	// one has for settleTime since.
	since   time.Time
	upSince time.Time
	settled bool
	// fresh says the node's sessions are new (a first start, an
	// ovs-vswitchd restart) and it keeps cpath_down until they settle;
	// forwarding is which sessions forwarded at the last pass, and lastUp
	// when one last came up.
	fresh      bool
	forwarding map[string]bool
	lastUp     time.Time
	active     bool
	passes     int
	announce   context.CancelFunc
}

// New makes a controller; with a pair it opens the hello socket (an error
// when the local tunnel IP cannot be bound) and tells rec whether this
// node is gated: call it before the reconciler runs.
func New(cfg Config, state *app.State, ovs OVSDB, rec Reconciler, ann Announcer) (*Controller, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HelloPort == 0 {
		cfg.HelloPort = DefaultHelloPort
	}
	c := &Controller{cfg: cfg, state: state, ovs: ovs, rec: rec, ann: ann, log: cfg.Logger, kick: make(chan struct{}, 1)}
	if cfg.Peer.IsValid() {
		if cfg.Priority == 0 {
			return nil, fmt.Errorf("ha: priority 0: want 1-255")
		}
		if cfg.Peer == cfg.LocalIP {
			return nil, fmt.Errorf("ha: the peer %v is this node's own tunnel IP", cfg.Peer)
		}
		h, err := listenHello(cfg.LocalIP, cfg.Peer, cfg.HelloPort, cfg.Priority, cfg.DataDir, cfg.Logger, c.trigger)
		if err != nil {
			return nil, err
		}
		c.hello = h
		c.status = &app.HAStatus{Role: "standby", Priority: cfg.Priority, Peer: cfg.Peer.String(), Reason: "starting"}
		// Before the reconciler's first compile: a restarted node
		// compiles the flows it had (its peer's priority is remembered,
		// its sessions to the peer are up and settled).
		c.settled = c.peerHeard()
		c.since = time.Now()
		gate := app.GateOpen
		if c.primary(h.peerInfo()) {
			gate = app.GateNone
		}
		rec.SetGate(gate)
	}
	state.Subscribe(func(ch app.Change) {
		if ch.Topology {
			c.trigger()
		}
	})
	return c, nil
}

// primary reports whether this node is the primary of its pair, given
// what it knows of the peer: the higher priority, or with equal ones the
// lower tunnel IP. While the peer's priority is not known (never heard,
// nothing remembered) the node takes itself for the standby: its gate
// still lets it forward while the peer is silent, and a live peer's hello
// settles it within a second.
func (c *Controller) primary(info peerInfo) bool {
	if info.Priority == 0 {
		return false
	}
	return c.cfg.Priority > info.Priority || (c.cfg.Priority == info.Priority && c.cfg.LocalIP.Less(c.cfg.Peer))
}

func (c *Controller) trigger() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Status is the pair's standing for GET /v1/status; nil without a pair.
func (c *Controller) Status() *app.HAStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status == nil {
		return nil
	}
	s := *c.status
	return &s
}

// Run keeps the BFD sessions and the node's role right until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	digestChanged := make(chan struct{}, 1)
	if c.hello != nil {
		c.hello.setDigest(c.state.DesiredStateDigest())
		go c.hello.run(ctx, digestChanged)
	}
	c.hold = c.startHold()
	c.fresh = c.hold
	// Without a pair nothing depends on the reconciler's standing: the
	// BFD ports follow the topology and OVSDB alone.
	var tick <-chan time.Time
	if c.hello != nil {
		t := time.NewTicker(poll)
		defer t.Stop()
		tick = t.C
	}
	watch := c.ovs.Watch()
	for {
		if err := c.pass(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("ha: pass failed, retrying", "err", err)
		}
		if c.hello != nil && c.hello.setDigest(c.state.DesiredStateDigest()) {
			select {
			case digestChanged <- struct{}{}:
			default:
			}
		}
		select {
		case <-ctx.Done():
			if c.announce != nil {
				c.announce()
			}
			return
		case <-watch:
		case <-c.kick:
		case <-tick:
		}
	}
}

// startHold says whether cpath_down starts raised: a node whose BFD ports
// already exist keeps what they say (an l2gwd restart on a node that
// serves must not make remote sites fail over), a node without them starts
// with it raised until its bridge is reconciled.
func (c *Controller) startHold() bool {
	if c.hello == nil {
		return false
	}
	ports := c.ovs.BFDPorts(c.cfg.Bridge)
	if len(ports) == 0 {
		return true
	}
	for _, st := range ports {
		if st.LocalCPathDown {
			return true
		}
	}
	return false
}

// topology is the desired state without bindings.
func (c *Controller) topology() app.Snapshot {
	return app.Snapshot{Networks: c.state.ListNetworks(), RemoteGateways: c.state.ListRemoteGateways(),
		Connections: c.state.ListConnections()}
}

// pass makes one round: BFD ports and their cpath_down, the role, the
// gate.
func (c *Controller) pass(ctx context.Context) error {
	c.passes++
	snap := c.topology()
	peers := app.BFDPeers(&snap, c.cfg.Peer)
	st := c.rec.Status()
	if c.connected && !st.Connected {
		c.hold = true // the switch went away: its flows may be gone with it
		c.fresh, c.forwarding, c.lastUp = true, nil, time.Time{}
		c.settled, c.upSince = false, time.Time{}
	}
	if !c.connected && st.Connected {
		c.since = time.Now()
	}
	c.connected = st.Connected
	if st.Connected && st.Reconciled {
		c.hold = false
	}
	var attachments []string
	for _, n := range snap.Networks {
		for _, a := range n.Attachments {
			if !slices.Contains(attachments, a.Port) {
				attachments = append(attachments, a.Port)
			}
		}
	}
	slices.Sort(attachments)

	bfd := c.ovs.BFDPorts(c.cfg.Bridge)
	if c.hello != nil && c.fresh {
		c.noteSessions(bfd)
	}
	reason, cpath := "", false
	if c.hello != nil {
		reason, cpath = c.resign(attachments, peers, bfd)
	}
	cfg := ovsdb.BFDConfig{LocalIP: c.cfg.LocalIP, IntervalMS: c.cfg.IntervalMS, Multiplier: c.cfg.Multiplier, CPathDown: cpath}
	if c.ovs.Connected() {
		if err := c.ovs.EnsureBFDPorts(ctx, c.cfg.Bridge, peers, cfg); err != nil {
			return err
		}
		var segment []string
		if c.hello != nil {
			segment = attachments
		}
		if err := c.ovs.EnsureSegmentBFD(ctx, c.cfg.Bridge, segment, cfg); err != nil {
			return err
		}
	}
	if c.hello == nil {
		return nil
	}
	c.decide(ctx, peers, bfd, cpath, reason)
	return nil
}

// resign says whether this node must tell everybody not to use it, and
// why: until its bridge is reconciled, when all its attachments lost
// carrier, when no remote gateway's endpoint is reachable.
func (c *Controller) resign(attachments []string, peers []ovsdb.BFDPeer, bfd map[ovsdb.BFDPeer]ovsdb.BFDStatus) (string, bool) {
	if c.hold {
		return "the bridge is not reconciled yet", true
	}
	if c.fresh {
		if now := time.Now(); (c.lastUp.IsZero() || now.Sub(c.lastUp) < settleTime) && now.Sub(c.since) < maxSettle {
			return "its BFD sessions are settling", true
		}
		c.fresh = false // settled: later changes are failures, not a start
	}
	if len(attachments) > 0 {
		links := c.ovs.LinkUp(c.cfg.Bridge)
		if !slices.ContainsFunc(attachments, func(p string) bool { return links[p] }) {
			return "every attachment lost carrier", true
		}
	}
	witnesses, reachable := 0, false
	for _, p := range peers {
		if p.Remote == c.cfg.Peer {
			continue
		}
		witnesses++
		// The session, not forwarding: a remote node that itself says
		// cpath_down is still reachable.
		reachable = reachable || bfd[p].State == "up"
	}
	if witnesses > 0 && !reachable {
		return "no remote gateway is reachable", true
	}
	return "", false
}

// decide works out the role the data path gives this node (the standby's
// gate mirrors it), tells the reconciler whether to gate, and announces
// the remote MACs when this node takes over.
func (c *Controller) decide(ctx context.Context, peers []ovsdb.BFDPeer, bfd map[ovsdb.BFDPeer]ovsdb.BFDStatus, cpath bool, reason string) {
	info := c.hello.peerInfo()
	primary := c.primary(info)

	underlay := bfd[ovsdb.BFDPeer{NetworkType: app.PeerNetworkType, Remote: c.cfg.Peer}]
	segment := "down"
	segUp := false
	for _, s := range c.ovs.SegmentBFD(c.cfg.Bridge) {
		if s.Up() {
			segUp = true
		}
		if s.State == "up" {
			segment = "up"
		}
	}
	if segUp {
		segment = "up"
	}
	witnessUp := false
	for _, p := range peers {
		if p.Remote != c.cfg.Peer && bfd[p].Up() {
			witnessUp = true
		}
	}
	gate := c.gate(primary, info, underlay.Up() || segUp)
	c.rec.SetGate(gate)
	active := false
	switch {
	case cpath:
		reason = "resigned: " + reason
	case gate == app.GateClosed:
		reason = "the sessions to the peer are settling"
	case primary:
		active, reason = true, "primary"
	case info.Priority == 0 && !(underlay.Up() || segUp) && witnessUp:
		active, reason = true, "the peer's priority is not known yet and the peer is silent"
	case info.Priority == 0:
		reason = "the peer's priority is not known yet"
	case underlay.Up() || segUp:
		reason = "the primary is alive"
	case !witnessUp:
		reason = "the primary is silent but no remote gateway is reachable"
	default:
		active, reason = true, "the primary is silent on the underlay and the local segment"
	}
	if info.Priority == c.cfg.Priority && info.Priority != 0 {
		reason += " (both nodes have priority " + fmt.Sprint(info.Priority) + ": the lower tunnel IP is the primary)"
	}
	role := "standby"
	if active {
		role = "active"
	}
	c.mu.Lock()
	c.status = &app.HAStatus{Role: role, Priority: c.cfg.Priority, Peer: c.cfg.Peer.String(), PeerBFD: sessionState(underlay),
		PeerSegmentBFD: segment, PeerPriority: info.Priority, PeerDigest: info.Digest, CPathDown: cpath, Reason: reason}
	c.mu.Unlock()
	if active == c.active && c.passes > 1 {
		return
	}
	was := c.active
	c.active = active
	if c.passes > 1 || !active {
		c.log.Info("ha: role", "role", role, "reason", reason)
	}
	if c.OnRole != nil {
		c.OnRole(active)
	}
	if c.announce != nil {
		c.announce()
		c.announce = nil
	}
	if active && !was && c.passes > 1 && c.ann != nil {
		actx, cancel := context.WithCancel(ctx)
		c.announce = cancel
		go c.announceRemote(actx)
	}
}

// Timing of the standby's settling.
const (
	// settleTime is how long a new session to the peer must forward
	// without a break before the standby trusts its going down: OVS
	// starts sessions at one packet a second and moves to the interval
	// by a poll, and a new session was seen to go down once or twice in
	// its first seconds.
	settleTime = 3 * time.Second
	// maxSettle bounds the settling after the switch (re)connects: a peer
	// whose hellos come but whose sessions never come up (its datapath
	// dead, its l2gwd alive) must not keep the standby closed.
	maxSettle = 10 * time.Second
	// helloFresh is how recent the peer's last hello must be to count it
	// alive while the sessions settle.
	helloFresh = 3 * helloInterval
)

// gate is the gate this node's data path needs: none on the primary; on
// the standby, closed while its sessions to a peer whose hellos come have
// not settled since its switch (re)connected (a fresh start or an
// ovs-vswitchd restart: for at most maxSettle), else open (it passes
// while the peer is silent on both paths, in the datapath).
func (c *Controller) gate(primary bool, info peerInfo, peerUp bool) app.Gate {
	if primary {
		return app.GateNone
	}
	now := time.Now()
	switch {
	case !peerUp:
		c.upSince = time.Time{}
	case c.upSince.IsZero():
		c.upSince = now
	case now.Sub(c.upSince) >= settleTime:
		c.settled = true
	}
	if !c.settled && !info.Heard.IsZero() && now.Sub(info.Heard) < helloFresh && now.Sub(c.since) < maxSettle {
		return app.GateClosed
	}
	return app.GateOpen
}

// noteSessions records when one of a fresh node's sessions last came up:
// until one has and none has since for settleTime (maxSettle at most
// after the switch connected), the node keeps cpath_down, so that a node whose sessions
// are new (a first start, an ovs-vswitchd restart) is used only once they
// have settled: failback is make-before-break. A session going down
// does not count (a failure is no start).
func (c *Controller) noteSessions(bfd map[ovsdb.BFDPeer]ovsdb.BFDStatus) {
	now := make(map[string]bool, len(bfd))
	for p, st := range bfd {
		now[p.String()] = st.Up()
	}
	for name, st := range c.ovs.SegmentBFD(c.cfg.Bridge) {
		now["segment/"+name] = st.Up()
	}
	for name, up := range now {
		if up && !c.forwarding[name] {
			c.lastUp = time.Now()
		}
	}
	c.forwarding = now
}

// peerHeard reports whether a BFD session to the peer forwards now, on
// the underlay or the segment.
func (c *Controller) peerHeard() bool {
	if c.ovs.BFDPorts(c.cfg.Bridge)[ovsdb.BFDPeer{NetworkType: app.PeerNetworkType, Remote: c.cfg.Peer}].Up() {
		return true
	}
	for _, s := range c.ovs.SegmentBFD(c.cfg.Bridge) {
		if s.Up() {
			return true
		}
	}
	return false
}

// sessionState is a session's state as the API shows it: "up" only when
// it forwards, "cpath_down" when the peer is alive but asks not to be
// used, else OVS's state ("down" before OVS reports one).
func sessionState(s ovsdb.BFDStatus) string {
	switch {
	case s.Up():
		return "up"
	case s.CPathDown():
		return "cpath_down"
	case s.State == "":
		return "down"
	}
	return s.State
}
