package evpn

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	api "github.com/osrg/gobgp/v4/api"

	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"github.com/l2gw/l2gw/app"
)

// connectRetry is how long the speaker waits between connection attempts
// to a peer that is not there (GoBGP's default, 120 s, would leave a
// restarted route reflector without this site for minutes).
const connectRetry = 3

// peerState is a configured peer and its session's standing.
type peerState struct {
	app.BGPPeer
	// addr is where GoBGP knows the peer: its loopback identity at the
	// relay (relay.go), which its events and routes name.
	addr      netip.Addr
	state     string
	since     time.Time
	lastError string
	// eor says the peer sent End-of-RIB for EVPN since its session came up.
	eor bool
	// cutOff is why the speaker closed the session for good (over
	// max_routes): it stays down until the peer is reconfigured.
	cutOff string
}

// SetPeers makes the speaker's sessions those of peers (all of them, each
// time): new peers are added, removed ones deleted, changed ones replaced.
func (s *Speaker) SetPeers(ctx context.Context, peers []app.BGPPeer) error {
	want := make(map[string]app.BGPPeer, len(peers))
	for _, p := range peers {
		want[p.Name] = p
	}
	s.mu.Lock()
	var remove, add []app.BGPPeer
	for name, ps := range s.peers {
		if p, ok := want[name]; !ok || p != ps.BGPPeer {
			remove = append(remove, ps.BGPPeer)
		}
	}
	for name, p := range want {
		if ps, ok := s.peers[name]; !ok || p != ps.BGPPeer {
			add = append(add, p)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, p := range remove {
		err := s.bgp.DeletePeer(ctx, &api.DeletePeerRequest{Address: s.relay.neighbour(p.Name).String()})
		if err != nil {
			errs = append(errs, fmt.Errorf("delete BGP peer %s (%s): %w", p.Name, p.Address, err))
		}
		s.mu.Lock()
		delete(s.peers, p.Name)
		s.mu.Unlock()
		s.met.forgetPeer(p.Name)
		s.log.Info("BGP peer removed", "peer", p.Name, "address", p.Address)
	}
	// The relay changes after GoBGP let go of the peers that go (their
	// NOTIFICATION went out through it) and before it knows the new ones.
	relayed, err := s.relay.setPeers(peers)
	if err != nil {
		errs = append(errs, err)
	}
	for _, p := range add {
		via, ok := relayed[p.Name]
		if !ok {
			continue
		}
		s.mu.Lock()
		s.peers[p.Name] = &peerState{BGPPeer: p, addr: via.Addr(), state: app.BGPIdle, since: time.Now()}
		s.mu.Unlock()
		if err := s.bgp.AddPeer(ctx, &api.AddPeerRequest{Peer: s.gobgpPeer(p, via)}); err != nil {
			s.mu.Lock()
			s.peers[p.Name].lastError = err.Error()
			s.mu.Unlock()
			errs = append(errs, fmt.Errorf("add BGP peer %s (%s): %w", p.Name, p.Address, err))
			continue
		}
		s.log.Info("BGP peer configured", "peer", p.Name, "address", p.Address, "asn", p.ASN, "gobgp_neighbour", via.Addr())
		s.relay.dialNow(p.Name)
	}
	s.q.Push(peersChanged{configured: true})
	return errors.Join(errs...)
}

// gobgpPeer is p as GoBGP's neighbour: L2VPN EVPN only, graceful restart
// (as helper and restarting speaker), p's limits and timers; reached
// through the relay at via, on loopback, with the relay's MD5 key.
func (s *Speaker) gobgpPeer(p app.BGPPeer, via netip.AddrPort) *api.Peer {
	hold := uint64(orDefault(p.HoldTime, app.DefaultBGPHoldTime))
	timers := &api.TimersConfig{ConnectRetry: connectRetry, HoldTime: hold, KeepaliveInterval: uint64(orDefault(p.Keepalive, uint16(hold/3)))}
	afi := &api.AfiSafi{
		Config:            &api.AfiSafiConfig{Family: bgpFamily, Enabled: true},
		MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}},
	}
	transport := &api.Transport{RemotePort: uint32(via.Port()), LocalAddress: relayLoopback.String()}
	return &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: via.Addr().String(),
			PeerAsn:         p.ASN,
			AuthPassword:    s.relay.key,
			Description:     p.Name,
		},
		Timers:    &api.Timers{Config: timers},
		Transport: transport,
		GracefulRestart: &api.GracefulRestart{
			Enabled:     true,
			RestartTime: uint32(orDefault(s.cfg.RestartTime, DefaultRestartTime) / time.Second),
		},
		AfiSafis: []*api.AfiSafi{afi},
	}
}

// peerEvent records a peer's session state change (GoBGP's watcher).
func (s *Speaker) peerEvent(ev *apiutil.WatchEventMessage_PeerEvent, t time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	state := sessionState(ev.Peer.State.SessionState)
	s.mu.Lock()
	ps := s.peerByAddress(ev.Peer.State.NeighborAddress)
	if ps == nil {
		s.mu.Unlock()
		return
	}
	was := ps.state
	ps.state, ps.since = state, t
	reason := ev.Peer.State.DisconnectMessage
	if was == app.BGPEstablished && state != app.BGPEstablished {
		ps.eor = false
		if reason != "" {
			ps.lastError = reason
		}
	}
	if ps.cutOff != "" {
		ps.lastError = ps.cutOff
	}
	name, addr := ps.Name, ps.Address
	s.mu.Unlock()
	s.met.peerState(name, state == app.BGPEstablished)
	switch {
	case state == app.BGPEstablished:
		s.log.Info("BGP session established", "peer", name, "address", addr)
	case was == app.BGPEstablished:
		s.log.Warn("BGP session down", "peer", name, "address", addr, "state", state, "reason", reason)
	}
	s.q.Push(peersChanged{})
}

// peerByAddress returns the configured peer GoBGP knows at addr (its
// loopback identity); mu is held.
func (s *Speaker) peerByAddress(addr netip.Addr) *peerState {
	for _, ps := range s.peers {
		if ps.addr == addr.Unmap() {
			return ps
		}
	}
	return nil
}

// peerName returns the name of the peer at addr ("" when none).
func (s *Speaker) peerName(addr netip.Addr) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ps := s.peerByAddress(addr); ps != nil {
		return ps.Name
	}
	return ""
}

// sessionState is GoBGP's session state as the API names it.
func sessionState(st bgp.FSMState) string {
	switch st {
	case bgp.BGP_FSM_CONNECT:
		return app.BGPConnect
	case bgp.BGP_FSM_ACTIVE:
		return app.BGPActive
	case bgp.BGP_FSM_OPENSENT:
		return app.BGPOpenSent
	case bgp.BGP_FSM_OPENCONFIRM:
		return app.BGPOpenConfirm
	case bgp.BGP_FSM_ESTABLISHED:
		return app.BGPEstablished
	}
	return app.BGPIdle
}

// PeerStatus returns the standing of the configured peer name.
func (s *Speaker) PeerStatus(name string) (app.BGPPeerStatus, bool) {
	s.mu.Lock()
	ps, ok := s.peers[name]
	var st app.BGPPeerStatus
	var addr string
	if ok {
		st = app.BGPPeerStatus{State: ps.state, Since: ps.since, LastError: ps.lastError}
		addr = ps.addr.String()
	}
	s.mu.Unlock()
	if !ok {
		return app.BGPPeerStatus{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.bgp.ListPeer(ctx, &api.ListPeerRequest{Address: addr, EnableAdvertised: true}, func(p *api.Peer) {
		for _, a := range p.GetAfiSafis() {
			if f := a.GetState().GetFamily(); f.GetAfi() == bgpFamily.Afi && f.GetSafi() == bgpFamily.Safi {
				st.RoutesReceived = a.GetState().GetReceived()
				st.RoutesAccepted = a.GetState().GetAccepted()
				st.RoutesAdvertised = a.GetState().GetAdvertised()
			}
		}

	})
	return st, true
}

// Ready tells whether BGP counts as ready: with peers configured, at least
// one session is established and has sent its End-of-RIB.
func (s *Speaker) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.peers) == 0 {
		return nil
	}
	var down []string
	for name, ps := range s.peers {
		if ps.state == app.BGPEstablished && ps.eor {
			return nil
		}
		down = append(down, name+" "+ps.state)
	}
	slices.Sort(down)
	return fmt.Errorf("no BGP peer established and synced (%s)", strings.Join(down, ", "))
}

// markEOR records a peer's End-of-RIB; it tells whether every configured
// peer has now sent one.
func (s *Speaker) markEOR(addr netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ps := s.peerByAddress(addr); ps != nil {
		ps.eor = true
	}
	return s.allSyncedLocked()
}

// allSynced tells whether every configured peer has sent End-of-RIB.
func (s *Speaker) allSynced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.allSyncedLocked()
}

func (s *Speaker) allSyncedLocked() bool {
	for _, ps := range s.peers {
		if !ps.eor {
			return false
		}
	}
	return true
}

// enforceMaxRoutes closes, for good, the session of every peer among
// peers (by address) that has sent more routes than its max_routes.
// GoBGP's own prefix limit is not used: v4.8.0 takes the session it closes
// for a graceful restart and keeps the peer's routes for the restart time.
func (s *Speaker) enforceMaxRoutes(ctx context.Context, peers map[netip.Addr]bool) {
	for addr := range peers {
		s.mu.Lock()
		ps := s.peerByAddress(addr)
		if ps == nil || ps.cutOff != "" {
			s.mu.Unlock()
			continue
		}
		limit, name := uint64(orDefault(ps.MaxRoutes, app.DefaultBGPMaxRoutes)), ps.Name
		s.mu.Unlock()
		var received uint64
		_ = s.bgp.ListPeer(ctx, &api.ListPeerRequest{Address: addr.String()}, func(p *api.Peer) {
			for _, a := range p.GetAfiSafis() {
				if f := a.GetState().GetFamily(); f.GetAfi() == bgpFamily.Afi && f.GetSafi() == bgpFamily.Safi {
					received = a.GetState().GetReceived()
				}
			}
		})
		if received <= limit {
			continue
		}
		reason := fmt.Sprintf("sent %d routes, over max_routes %d: session closed until the peer is reconfigured or l2gwd restarts", received, limit)
		s.mu.Lock()
		if ps := s.peerByAddress(addr); ps != nil {
			ps.cutOff, ps.lastError = reason, reason
		}
		s.mu.Unlock()
		s.log.Error("BGP peer cut off", "peer", name, "address", addr, "reason", reason)
		err := s.bgp.DisablePeer(ctx, &api.DisablePeerRequest{Address: addr.String(), Communication: fmt.Sprintf("max_routes %d exceeded", limit)})
		if err != nil {
			s.log.Error("BGP peer could not be cut off", "peer", name, "err", err)
		}
	}
}
