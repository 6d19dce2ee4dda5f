package evpn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/internal/inbox"
)

// DefaultListen is where the speaker accepts BGP sessions by default.
const DefaultListen = "0.0.0.0:179"

// DefaultRestartTime is the graceful-restart time (RFC 4724) this speaker
// announces: how long a helper should keep its routes while it restarts.
const DefaultRestartTime = 120 * time.Second

// Config configures a Speaker.
type Config struct {
	// ASN is this gateway's autonomous system number.
	ASN uint32
	// RouterID is the BGP identifier (an IPv4 address); it is also the
	// administrator field of this gateway's route distinguishers.
	RouterID netip.Addr
	// Listen is HOST:PORT to accept sessions on ("" means DefaultListen);
	// port 0 accepts none (the speaker only connects out).
	Listen string
	// TunnelIP is this gateway's VXLAN endpoint: the next hop of its
	// routes and the PMSI tunnel endpoint of its inclusive multicast route.
	TunnelIP netip.Addr
	// SiteTunnelIPs are the tunnel IPs of this site's other gateway
	// nodes (the other node of an HA pair): what they advertise is this
	// site's own, not a remote site's, and is not imported.
	SiteTunnelIPs []netip.Addr
	// Feed receives what the other sites advertise (origin EVPN); nil
	// until Attach gives it (what arrives before is kept for it).
	Feed *app.Feed
	// Logger receives the speaker's log and GoBGP's; nil means
	// slog.Default().
	Logger *slog.Logger
	// MaxMoves and MoveWindow are duplicate detection's limits (0 means
	// DefaultMaxMoves and DefaultMoveWindow).
	MaxMoves   int
	MoveWindow time.Duration
	// RestartTime is the graceful-restart time announced (0 means
	// DefaultRestartTime).
	RestartTime time.Duration
}

// Speaker is the embedded BGP EVPN speaker of one gateway.
type Speaker struct {
	cfg  Config
	log  *slog.Logger
	bgp  *server.BgpServer
	mob  mobility
	q    *inbox.Inbox
	bar  *barrier
	done chan struct{}
	stop context.CancelFunc
	met  *metrics
	// relay carries every session between GoBGP and the peers (relay.go).
	relay *relay

	// mu guards peers: what the API's status reads see.
	mu    sync.Mutex
	peers map[string]*peerState // by name

	// advMu serialises SetAdvertise; advertising is the export policy in
	// force (see SetAdvertise), resetDue that the peers may not have been
	// given what it lets out yet (a soft reset that failed).
	advMu       sync.Mutex
	advertising bool
	resetDue    bool
}

// Start starts the speaker: GoBGP's server, its listener, and the loop
// that turns routes into the feed's remote MACs and flood targets. It
// advertises nothing and has no peers until SetNetworks, SetPeers and
// local MACs (WatchLocal) say so.
func Start(ctx context.Context, cfg Config) (*Speaker, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	host, port, err := listenParts(cfg.Listen)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	level := new(slog.LevelVar)
	level.Set(slog.LevelInfo)
	s := &Speaker{
		cfg:   cfg,
		log:   log,
		bgp:   server.NewBgpServer(server.LoggerOption(log.With("component", "gobgp"), level)),
		mob:   mobility{self: cfg.TunnelIP, maxMoves: orDefault(cfg.MaxMoves, DefaultMaxMoves), window: orDefault(cfg.MoveWindow, DefaultMoveWindow)},
		q:     inbox.New(),
		done:  make(chan struct{}),
		peers: make(map[string]*peerState),
		met:   newMetrics(),
		bar:   newBarrier(),
		// advertising: onlyLocalRoutesOut below.
		advertising: true,
	}
	go s.bgp.Serve()
	if s.relay, err = newRelay(log, cfg.ASN, host, port, s.met.strippedCommunity); err != nil {
		s.bgp.Stop()
		return nil, err
	}
	global := &api.Global{Asn: cfg.ASN, RouterId: cfg.RouterID.String()}
	if err := s.relay.startBGP(ctx, s.bgp, global); err != nil {
		s.bgp.Stop()
		s.relay.close()
		return nil, fmt.Errorf("start BGP (AS %d, router ID %s, listen %s): %w", cfg.ASN, cfg.RouterID, cfg.Listen, err)
	}
	if err := s.onlyLocalRoutesOut(ctx); err != nil {
		s.bgp.Stop()
		s.relay.close()
		return nil, err
	}
	loopCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	err = s.bgp.WatchEvent(loopCtx, server.WatchEventMessageCallbacks{
		OnBestPath: func(paths []*apiutil.Path, _ time.Time) {
			s.q.Push(bestPaths(paths))
			s.bar.ask()
		},
		OnPathEor:    func(p *apiutil.Path, _ time.Time) { s.q.Push(endOfRIB{peer: p.PeerAddress, family: p.Family}) },
		OnPeerUpdate: func(ev *apiutil.WatchEventMessage_PeerEvent, t time.Time) { s.peerEvent(ev, t) },
	}, server.WatchBestPath(true), server.WatchEor(false), server.WatchPeer())
	if err != nil {
		stop()
		s.bgp.Stop()
		s.relay.close()
		return nil, fmt.Errorf("watch BGP events: %w", err)
	}
	go s.bar.run(loopCtx, s.bgp)
	go s.run(loopCtx)
	log.Info("BGP EVPN speaker started", "asn", cfg.ASN, "router_id", cfg.RouterID, "listen", net.JoinHostPort(host, strconv.Itoa(port)), "tunnel_ip", cfg.TunnelIP)
	return s, nil
}

// barrier orders what GoBGP's watcher goroutine read of the paths it
// handed over before anything GoBGP's peers do next, with one management
// operation of GoBGP's server after the read. GoBGP v4.8.0 converts an
// event's paths (reading each path's shared origin info, its stale flag
// among them) in the watcher goroutine without a lock (ListPath too, in
// its caller), while a peer's FSM goroutine marks the same paths stale,
// under the server's read lock, when a graceful restart begins; a
// management operation takes the server's write lock, so after it the
// FSM's next write is ordered after the read. Requests made while an
// operation runs share the next one. (A write during the conversion itself
// stays GoBGP's race.)
type barrier struct {
	mu    sync.Mutex
	asked int
	wake  chan struct{}
}

func newBarrier() *barrier { return &barrier{wake: make(chan struct{}, 1)} }

// ask requests a barrier after what the calling goroutine read so far.
func (b *barrier) ask() {
	b.mu.Lock()
	b.asked++
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// run performs the barriers asked for, until ctx ends.
func (b *barrier) run(ctx context.Context, s *server.BgpServer) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		}
		b.mu.Lock()
		asked := b.asked
		b.asked = 0
		b.mu.Unlock()
		if asked > 0 {
			_, _ = s.GetBgp(ctx, &api.GetBgpRequest{})
		}
	}
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// check validates a Config.
func (cfg *Config) check() error {
	switch {
	case cfg.ASN == 0:
		return errors.New("bgp: ASN must be 1-4294967295")
	case !cfg.RouterID.Is4():
		return fmt.Errorf("bgp: router ID %v is not an IPv4 address", cfg.RouterID)
	case !cfg.TunnelIP.IsValid():
		return errors.New("bgp: no tunnel IP to advertise as next hop")
	}
	return nil
}

// listenParts splits a --bgp-listen value.
func listenParts(listen string) (string, int, error) {
	if listen == "" {
		listen = DefaultListen
	}
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("bgp listen %q: %w", listen, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bgp listen %q: port %q is not 0-65535", listen, portText)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return "", 0, fmt.Errorf("bgp listen %q: host %q is not an IP address", listen, host)
	}
	return host, int(port), nil
}

// localRoutesPolicy is the export policy statement that lets out this
// site's own routes.
const localRoutesPolicy = "l2gw-only-local-routes"

// onlyLocalRoutesOut installs the global export policy: only this site's
// own routes are advertised, never what a peer sent (GoBGP would otherwise
// pass eBGP routes on to other peers).
func (s *Speaker) onlyLocalRoutesOut(ctx context.Context) error {
	policy := &api.Policy{
		Name: localRoutesPolicy,
		Statements: []*api.Statement{{
			Name:       "l2gw-local",
			Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT},
		}},
	}
	if err := s.bgp.AddPolicy(ctx, &api.AddPolicyRequest{Policy: policy}); err != nil {
		return fmt.Errorf("bgp export policy: %w", err)
	}
	err := s.bgp.AddPolicyAssignment(ctx, &api.AddPolicyAssignmentRequest{Assignment: exportAssignment(true)})
	if err != nil {
		return fmt.Errorf("bgp export policy assignment: %w", err)
	}
	s.met.advertising(true)
	return nil
}

// exportAssignment is the global export policy: this site's own routes
// when advertising, else nothing at all.
func exportAssignment(advertising bool) *api.PolicyAssignment {
	a := &api.PolicyAssignment{
		Name:          "global",
		Direction:     api.PolicyDirection_POLICY_DIRECTION_EXPORT,
		DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT,
	}
	if advertising {
		a.Policies = []*api.Policy{{Name: localRoutesPolicy}}
	}
	return a
}

// SetAdvertise turns the advertisement of this site's routes (its MAC/IP
// and inclusive multicast routes) on or off. Off, peers see every one of
// them withdrawn and get none until it is on again; on, they get every
// route the speaker holds at that moment, as it holds it (the same RDs and
// MAC mobility sequence numbers), once. Either way the sessions stay up,
// and what peers advertise keeps reaching the feed: the standby node of a
// local HA pair, which calls it with false, has every remote MAC ready for
// when it takes over. A call with the value in force does nothing (unless
// the previous call failed half way: it is completed); a speaker that was
// never told advertises. It does not wait for the speaker's loop, which
// goes on as if nothing changed, and costs two operations of GoBGP's
// server (about a millisecond, at a few hundred routes).
//
// How: the speaker keeps its routes in GoBGP's table, and only what leaves
// it changes. The global export policy (onlyLocalRoutesOut) becomes "reject
// everything", or this site's routes again, and a soft reset out of every
// peer makes GoBGP v4.8.0 send what the policy now lets out and withdraw
// what it now rejects, among the routes it sent that peer (softResetOut:
// it tracks what it sent per peer by prefix, so a route replaced while off,
// with a new sequence, is withdrawn too). GoBGP's server runs its
// operations one at a time, the loop's AddPath and DeletePath among them:
// one that comes before the policy changes is undone or completed by the
// soft reset, one that comes after meets the new policy, so whatever
// arrives meanwhile, peers end with what the policy admits of the table
// as it is then. Routes the loop adds or replaces while off are rejected
// on the way out (and the route they replace, which the policy rejects as
// well, draws no withdrawal); its withdrawals still go out, for prefixes
// the peer no longer has, which it ignores. The other way, deleting this site's routes from GoBGP and adding them back,
// was not taken: GoBGP's table would lose the routes its MAC mobility
// check reads (see advertise in loop.go), and every step of the loop
// (advertise, joinNetwork, leaveNetwork, flush) would need to know whether
// it may send, while an event that arrives during the switch could be sent
// or lost. The policy is GoBGP's one writer of what goes out; the test
// against FRR (TestSetAdvertiseWithFRR) shows the withdrawals, the
// re-advertisement with the same sequence numbers and nothing stale.
func (s *Speaker) SetAdvertise(ctx context.Context, on bool) error {
	s.advMu.Lock()
	defer s.advMu.Unlock()
	if on == s.advertising && !s.resetDue {
		return nil
	}
	began := time.Now()
	if on != s.advertising {
		err := s.bgp.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: exportAssignment(on)})
		if err != nil {
			return fmt.Errorf("bgp export policy (advertise %t): %w", on, err)
		}
		s.advertising, s.resetDue = on, true
		s.met.advertising(on)
	}
	err := s.bgp.ResetPeer(ctx, &api.ResetPeerRequest{Address: "all", Soft: true, Direction: api.ResetPeerRequest_DIRECTION_OUT})
	if err != nil {
		return fmt.Errorf("bgp soft reset out of every peer (advertise %t): %w", on, err)
	}
	s.resetDue = false
	s.log.Info("EVPN advertisement of this site's routes", "on", on, "took", time.Since(began))
	return nil
}

// Attach gives the speaker the feed of what peers advertise, when Start
// had none: a restarting l2gwd starts BGP before it loads its store.
func (s *Speaker) Attach(feed *app.Feed) { s.q.Push(feedAttached{feed}) }

// SetNetworks gives the networks that join EVPN (all of them, each time:
// State.EVPNNetworks); a network without EVPN is ignored.
func (s *Speaker) SetNetworks(nets []app.Network) {
	var in []app.Network
	for _, n := range nets {
		if n.EVPN != nil {
			in = append(in, n)
		}
	}
	s.q.Push(networksSet(in))
}

// WatchLocal feeds the speaker the local-MAC watch's events until the
// channel closes.
func (s *Speaker) WatchLocal(events <-chan app.LocalMACEvent) {
	go func() {
		for ev := range events {
			s.q.Push(localEvent(ev))
		}
	}()
}

// Close stops the speaker as a graceful restart (RFC 4724): its sessions
// end without a NOTIFICATION, so peers that help keep its routes for its
// restart time (FRR 8.4 does not for EVPN: it withdraws them at once).
func (s *Speaker) Close() {
	s.stop()
	<-s.done
	if err := s.bgp.StopBgp(context.Background(), &api.StopBgpRequest{AllowGracefulRestart: true}); err != nil {
		s.log.Warn("BGP stop", "err", err)
	}
	s.relay.close()
}

// bgpFamily is the L2VPN EVPN address family in GoBGP's API.
var bgpFamily = &api.Family{Afi: api.Family_AFI_L2VPN, Safi: api.Family_SAFI_EVPN}

// isEVPN tells whether f is L2VPN EVPN.
func isEVPN(f bgp.Family) bool { return f == bgp.RF_EVPN }
