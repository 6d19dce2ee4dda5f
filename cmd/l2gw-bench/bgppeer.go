package main

import (
	"context"
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
)

// The EVPN scenario's BGP sessions: l2gwd, and GoBGP alone, with the
// benchmark's own speaker, iBGP on loopback addresses of the namespace.
const (
	bgpASN        = 65000
	l2gwdBGPAddr  = "127.0.0.2"
	benchBGPAddr  = "127.0.0.3"
	sinkBGPAddr   = "127.0.0.4" // GoBGP alone (the floor of figure 1)
	bgpPort       = 179
	benchPeerName = "bench-rr"
)

// benchSpeaker is the benchmark's own BGP EVPN speaker: GoBGP embedded in
// the benchmark process (never package evpn's code), an iBGP peer of
// l2gwd that advertises the remote VTEPs' routes, as a route reflector
// does for the sites behind it, and records the routes l2gwd advertises.
type benchSpeaker struct {
	s    *server.BgpServer
	stop context.CancelFunc

	mu          sync.Mutex
	established time.Time // when the session with l2gwd last came up
	// local are the MACs of the type-2 routes l2gwd advertises whose MAC
	// the filter accepts, and lastLocal when the last new one arrived.
	local      map[[6]byte]struct{}
	filter     func([6]byte) bool
	lastLocal  time.Time
	localWant  int
	localFull  chan struct{} // closed when local holds localWant MACs
	sessionUp  chan struct{} // closed at the first established
	sessionSig bool
}

// startBenchSpeaker starts the speaker on benchBGPAddr with l2gwd
// (l2gwdBGPAddr) as its passive iBGP neighbour: l2gwd opens the session.
func startBenchSpeaker(ctx context.Context, log *slog.Logger) (*benchSpeaker, error) {
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	b := &benchSpeaker{
		s:         server.NewBgpServer(server.LoggerOption(log.With("component", "bench-gobgp"), level)),
		local:     map[[6]byte]struct{}{},
		sessionUp: make(chan struct{}),
	}
	go b.s.Serve()
	err := b.s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: bgpASN, RouterId: benchBGPAddr, ListenPort: bgpPort, ListenAddresses: []string{benchBGPAddr},
	}})
	if err != nil {
		b.s.Stop()
		return nil, fmt.Errorf("start the benchmark's BGP speaker: %w", err)
	}
	watchCtx, stop := context.WithCancel(context.Background())
	b.stop = stop
	err = b.s.WatchEvent(watchCtx, server.WatchEventMessageCallbacks{
		OnBestPath:   b.bestPaths,
		OnPeerUpdate: b.peerEvent,
	}, server.WatchBestPath(false), server.WatchPeer())
	if err != nil {
		b.close()
		return nil, fmt.Errorf("watch the benchmark's BGP speaker: %w", err)
	}
	// Graceful restart, as route reflectors run it: GoBGP sends End-of-RIB
	// after the table only with it, and l2gwd counts EVPN synced on it.
	if err := b.addPassivePeer(ctx, l2gwdBGPAddr); err != nil {
		b.close()
		return nil, fmt.Errorf("add l2gwd as the benchmark speaker's peer: %w", err)
	}
	return b, nil
}

// addPassivePeer adds addr as an iBGP neighbour that opens the session.
// Graceful restart is on, as route reflectors run it: GoBGP sends
// End-of-RIB after the table only with it, and l2gwd counts EVPN synced
// on it.
func (b *benchSpeaker) addPassivePeer(ctx context.Context, addr string) error {
	family := &api.Family{Afi: api.Family_AFI_L2VPN, Safi: api.Family_SAFI_EVPN}
	return b.s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:            &api.PeerConf{NeighborAddress: addr, PeerAsn: bgpASN},
		Transport:       &api.Transport{LocalAddress: benchBGPAddr, PassiveMode: true},
		GracefulRestart: &api.GracefulRestart{Enabled: true, RestartTime: 120},
		AfiSafis: []*api.AfiSafi{{
			Config:            &api.AfiSafiConfig{Family: family, Enabled: true},
			MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}},
		}},
	}})
}

// close stops the speaker.
func (b *benchSpeaker) close() {
	b.stop()
	b.s.Stop()
}

// peerEvent records when the session with l2gwd comes up.
func (b *benchSpeaker) peerEvent(ev *apiutil.WatchEventMessage_PeerEvent, t time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE || ev.Peer.State.SessionState != bgp.BGP_FSM_ESTABLISHED ||
		ev.Peer.Conf.NeighborAddress != netip.MustParseAddr(l2gwdBGPAddr) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.established = t
	if !b.sessionSig {
		b.sessionSig = true
		close(b.sessionUp)
	}
}

// waitEstablished waits for the session with l2gwd and returns when it
// came up (GoBGP's timestamp of the state change).
func (b *benchSpeaker) waitEstablished(ctx context.Context) (time.Time, error) {
	select {
	case <-b.sessionUp:
	case <-ctx.Done():
		return time.Time{}, fmt.Errorf("BGP session with l2gwd: %w", ctx.Err())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.established, nil
}

// expectLocal starts counting l2gwd's type-2 routes of MACs that accept
// takes, until want of them have arrived.
func (b *benchSpeaker) expectLocal(want int, accept func([6]byte) bool) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.local)
	b.filter, b.localWant, b.localFull = accept, want, make(chan struct{})
	return b.localFull
}

// waitLocal returns when full is closed (expectLocal's channel), or when
// no new route has arrived for quiet.
func (b *benchSpeaker) waitLocal(ctx context.Context, full <-chan struct{}, quiet time.Duration) error {
	since := time.Now()
	for {
		select {
		case <-full:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("wait for l2gwd's routes: %w", ctx.Err())
		case <-time.After(quiet / 10):
		}
		b.mu.Lock()
		idle := time.Since(b.lastLocal)
		b.mu.Unlock()
		if idle >= quiet && time.Since(since) >= quiet {
			return nil
		}
	}
}

// missingLocal lists the indexes 0..n-1 whose MAC (mac) l2gwd has not
// advertised yet.
func (b *benchSpeaker) missingLocal(n int, mac func(int) [6]byte) []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []int
	for i := range n {
		if _, ok := b.local[mac(i)]; !ok {
			out = append(out, i)
		}
	}
	return out
}

// lastLocalAt is when the last new route counted arrived.
func (b *benchSpeaker) lastLocalAt() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastLocal
}

// bestPaths counts what l2gwd advertises (GoBGP's best-path watch).
func (b *benchSpeaker) bestPaths(paths []*apiutil.Path, t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.filter == nil {
		return
	}
	for _, p := range paths {
		n, ok := p.Nlri.(*bgp.EVPNNLRI)
		if !ok || p.Withdrawal || !p.PeerAddress.IsValid() {
			continue
		}
		r, ok := n.RouteTypeData.(*bgp.EVPNMacIPAdvertisementRoute)
		if !ok || len(r.MacAddress) != 6 || !b.filter([6]byte(r.MacAddress)) {
			continue
		}
		mac := [6]byte(r.MacAddress)
		if _, dup := b.local[mac]; dup {
			continue
		}
		b.local[mac] = struct{}{}
		b.lastLocal = t
		if len(b.local) == b.localWant {
			close(b.localFull)
		}
	}
}

// advertise adds paths to the speaker's table (sent to l2gwd at once, or
// when the session comes up).
func (b *benchSpeaker) advertise(paths []*apiutil.Path) error {
	if _, err := b.s.AddPath(apiutil.AddPathRequest{Paths: paths}); err != nil {
		return fmt.Errorf("benchmark speaker: add %d routes: %w", len(paths), err)
	}
	return nil
}

// withdraw deletes paths from the speaker's table.
func (b *benchSpeaker) withdraw(paths []*apiutil.Path) error {
	if err := b.s.DeletePath(apiutil.DeletePathRequest{Paths: paths}); err != nil {
		return fmt.Errorf("benchmark speaker: withdraw %d routes: %w", len(paths), err)
	}
	return nil
}

// vtepRoutes builds the routes of remote VTEPs, as an EVPN site
// advertises them (RFC 8365): RD vtep:1, route target ASN:VNI, VXLAN
// encapsulation, the VNI as label.
type vtepRoutes struct{ vni uint32 }

// attrs are the attributes of a route of vtep, with extra communities.
func (v vtepRoutes) attrs(nlri bgp.NLRI, vtep netip.Addr, extra ...bgp.ExtendedCommunityInterface) ([]bgp.PathAttributeInterface, error) {
	reach, err := bgp.NewPathAttributeMpReachNLRI(bgp.RF_EVPN, []bgp.PathNLRI{{NLRI: nlri}}, vtep)
	if err != nil {
		return nil, fmt.Errorf("next hop %s: %w", vtep, err)
	}
	comms := append([]bgp.ExtendedCommunityInterface{
		bgp.NewTwoOctetAsSpecificExtended(bgp.EC_SUBTYPE_ROUTE_TARGET, bgpASN, v.vni, true),
		bgp.NewEncapExtended(bgp.TUNNEL_TYPE_VXLAN),
	}, extra...)
	return []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		reach,
		bgp.NewPathAttributeLocalPref(100),
		bgp.NewPathAttributeExtendedCommunities(comms),
	}, nil
}

// rd is vtep's route distinguisher.
func (v vtepRoutes) rd(vtep netip.Addr) (bgp.RouteDistinguisherInterface, error) {
	rd, err := bgp.NewRouteDistinguisherIPAddressAS(vtep, 1)
	if err != nil {
		return nil, fmt.Errorf("route distinguisher of %s: %w", vtep, err)
	}
	return rd, nil
}

// imet is vtep's inclusive multicast route (type 3, ingress replication).
func (v vtepRoutes) imet(vtep netip.Addr) (*apiutil.Path, error) {
	rd, err := v.rd(vtep)
	if err != nil {
		return nil, err
	}
	nlri, err := bgp.NewEVPNMulticastEthernetTagRoute(rd, 0, vtep)
	if err != nil {
		return nil, fmt.Errorf("inclusive multicast route of %s: %w", vtep, err)
	}
	id, err := bgp.NewIngressReplTunnelID(vtep)
	if err != nil {
		return nil, fmt.Errorf("inclusive multicast route of %s: %w", vtep, err)
	}
	attrs, err := v.attrs(nlri, vtep)
	if err != nil {
		return nil, err
	}
	attrs = append(attrs, bgp.NewPathAttributePmsiTunnel(bgp.PMSI_TUNNEL_TYPE_INGRESS_REPL, false, v.vni, id))
	return &apiutil.Path{Family: bgp.RF_EVPN, Nlri: nlri, Attrs: attrs}, nil
}

// macIP is a MAC/IP route (type 2) of a host behind vtep, with a MAC
// mobility sequence when seq > 0.
func (v vtepRoutes) macIP(vtep netip.Addr, mac string, ip netip.Addr, seq uint32) (*apiutil.Path, error) {
	rd, err := v.rd(vtep)
	if err != nil {
		return nil, err
	}
	esi := bgp.EthernetSegmentIdentifier{Type: bgp.ESI_ARBITRARY, Value: make([]byte, 9)}
	nlri, err := bgp.NewEVPNMacIPAdvertisementRoute(rd, esi, 0, mac, ip, []uint32{v.vni})
	if err != nil {
		return nil, fmt.Errorf("MAC/IP route of %s: %w", mac, err)
	}
	var mobility []bgp.ExtendedCommunityInterface
	if seq > 0 {
		mobility = append(mobility, bgp.NewMacMobilityExtended(seq, false))
	}
	attrs, err := v.attrs(nlri, vtep, mobility...)
	if err != nil {
		return nil, err
	}
	return &apiutil.Path{Family: bgp.RF_EVPN, Nlri: nlri, Attrs: attrs}, nil
}

// hostAddr is host's BGP address as HOST:PORT.
func hostAddr(host string) string { return net.JoinHostPort(host, strconv.Itoa(bgpPort)) }
