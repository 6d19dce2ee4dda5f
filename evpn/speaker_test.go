package evpn

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	gobgpapi "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/internal/ovstest"
)

// site is one gateway of the speaker tests: its desired state (the feed's
// destination, with one network) and its speaker.
type site struct {
	state  *app.State
	sp     *Speaker
	tunnel netip.Addr
	local  chan app.LocalMACEvent
}

const testASN = 65000

// startSite starts a gateway whose speaker listens on bgpIP:port; it has
// no network in EVPN yet (join). Start every site before any joins:
// GoBGP's StartBgp writes package-level route selection options that a
// running server reads.
func startSite(t *testing.T, bgpIP, tunnel string, port int, opts ...func(*Config)) *site {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	state, err := app.Open(t.TempDir(), app.Options{Logger: log, Origins: []app.Origin{app.OriginEVPN}, LocalTunnelIPs: []string{tunnel}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { state.Close() })
	if _, err := state.CreateNetwork(app.Network{Name: "blue", Attachments: []app.Attachment{{Port: "eth1"}}}); err != nil {
		t.Fatal(err)
	}
	feed, err := state.Feed(app.OriginEVPN)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		ASN: testASN, RouterID: netip.MustParseAddr(tunnel), Listen: net.JoinHostPort(bgpIP, strconv.Itoa(port)),
		TunnelIP: netip.MustParseAddr(tunnel), Feed: feed, Logger: log,
	}
	for _, o := range opts {
		o(&cfg)
	}
	sp, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Sessions end with a NOTIFICATION first, not as a graceful
		// restart: the peer still running would mark this site's routes
		// stale while its watcher may be converting them (GoBGP's own
		// data race, see barrier).
		_ = sp.SetPeers(context.Background(), nil)
		sp.Close()
	})
	s := &site{state: state, sp: sp, tunnel: netip.MustParseAddr(tunnel), local: make(chan app.LocalMACEvent, 16)}
	sp.WatchLocal(s.local)
	return s
}

// join makes network blue join EVPN with VNI 5001.
func (s *site) join(t *testing.T) {
	t.Helper()
	n, err := s.state.ReplaceNetwork("blue", app.Network{Attachments: []app.Attachment{{Port: "eth1"}}, EVPN: &app.EVPN{VNI: 5001}})
	if err != nil {
		t.Fatal(err)
	}
	s.sp.SetNetworks([]app.Network{n})
}

// peerWith makes s peer with the speaker at addr:port.
func (s *site) peerWith(t *testing.T, name, addr string, port int) {
	t.Helper()
	err := s.sp.SetPeers(context.Background(), []app.BGPPeer{{Name: name, Address: addr, ASN: testASN, Port: uint16(port), HoldTime: 9}})
	if err != nil {
		t.Fatal(err)
	}
}

// remoteMAC returns what s's desired state has of mac from EVPN.
func (s *site) remoteMAC(t *testing.T, mac string) (app.RemoteMACInfo, bool) {
	t.Helper()
	macs, err := s.state.RemoteMACs("blue", app.OriginEVPN)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range macs {
		if m.MAC == mac {
			return m, true
		}
	}
	return app.RemoteMACInfo{}, false
}

// floodsTo tells whether s floods network blue to endpoint.
func (s *site) floodsTo(endpoint netip.Addr) bool {
	for _, c := range s.state.ListConnections() {
		if c.Origin == app.OriginEVPN && c.TunnelIP == endpoint.String() && c.Flood {
			return true
		}
	}
	return false
}

// hasRouteFrom tells whether s's BGP table has a MAC/IP route for mac
// with next hop from.
func (s *site) hasRouteFrom(t *testing.T, mac string, from netip.Addr) bool {
	t.Helper()
	found := false
	err := s.sp.bgp.ListPath(apiutil.ListPathRequest{TableType: gobgpapi.TableType_TABLE_TYPE_GLOBAL, Family: bgp.RF_EVPN}, func(_ bgp.NLRI, paths []*apiutil.Path) {
		for _, p := range paths {
			if r, ok := p.Nlri.(*bgp.EVPNNLRI).RouteTypeData.(*bgp.EVPNMacIPAdvertisementRoute); ok && r.MacAddress.String() == mac && nextHop(p.Attrs) == from {
				found = true
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// ListPath reads the paths unlocked too: a management operation now
	// orders that before GoBGP's next peer event (see type barrier).
	if _, err := s.sp.bgp.GetBgp(context.Background(), &gobgpapi.GetBgpRequest{}); err != nil {
		t.Fatal(err)
	}
	return found
}

func (s *site) learn(mac string) {
	s.local <- app.LocalMACEvent{Kind: app.LocalMACAdded, Network: "blue", MAC: mac, Attachment: app.Attachment{Port: "eth1"}}
}

func (s *site) forget(mac string) {
	s.local <- app.LocalMACEvent{Kind: app.LocalMACRemoved, Network: "blue", MAC: mac, Reason: app.RemovalAgedOut}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTwoSpeakers: two gateways peered over loopback learn each other's
// flood target and MACs, and follow a MAC that moves (sequence numbers).
func TestTwoSpeakers(t *testing.T) {
	_, portText, _ := net.SplitHostPort(ovstest.FreeAddr(t))
	port, _ := strconv.Atoi(portText)
	a := startSite(t, "127.0.0.11", "192.0.2.1", port)
	b := startSite(t, "127.0.0.12", "192.0.2.2", port)
	a.peerWith(t, "b", "127.0.0.12", port)
	b.peerWith(t, "a", "127.0.0.11", port)
	a.join(t)
	b.join(t)

	waitUntil(t, "each floods to the other", func() bool { return a.floodsTo(b.tunnel) && b.floodsTo(a.tunnel) })
	const host = "02:00:00:00:00:0a"
	a.learn(host)
	waitUntil(t, "b has a's host toward a", func() bool {
		m, ok := b.remoteMAC(t, host)
		return ok && m.TunnelIP == a.tunnel.String() && m.SegmentationID == 5001
	})
	if st, ok := b.sp.PeerStatus("a"); !ok || st.State != app.BGPEstablished || st.RoutesAccepted < 2 {
		t.Errorf("b's view of peer a: %+v, %v; want established with both of a's routes", st, ok)
	}

	// A route a cannot use (a multi-homed segment) is dropped and counted;
	// the session and the other routes stay.
	o := testOrigination(t, b.tunnel.String())
	bad, err := o.macPath([6]byte{0x02, 0, 0, 0, 0, 0x0b}, netip.Addr{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	bad.Nlri.(*bgp.EVPNNLRI).RouteTypeData.(*bgp.EVPNMacIPAdvertisementRoute).ESI = bgp.EthernetSegmentIdentifier{Type: bgp.ESI_ARBITRARY, Value: []byte{0, 0, 0, 0, 0, 0, 0, 0, 1}}
	if _, err := b.sp.bgp.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{bad}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a counting the multi-homed route as unsupported", func() bool {
		return testutil.ToFloat64(a.sp.met.drops.WithLabelValues("unsupported")) == 1
	})
	if _, ok := a.remoteMAC(t, "02:00:00:00:00:0b"); ok {
		t.Errorf("a imported the multi-homed route")
	}

	// The host moves to b: b takes it over with sequence 1, a follows.
	b.learn(host)
	waitUntil(t, "a follows the host to b", func() bool {
		m, ok := a.remoteMAC(t, host)
		return ok && m.TunnelIP == b.tunnel.String()
	})
	waitUntil(t, "a withdrawing its route for the host", func() bool { return !b.hasRouteFrom(t, host, a.tunnel) })
	a.forget(host)
	if _, ok := b.remoteMAC(t, host); ok {
		t.Errorf("b still has its own host as remote")
	}
	// And back to a: sequence 2 wins over b's 1.
	a.learn(host)
	waitUntil(t, "b follows the host back to a", func() bool {
		m, ok := b.remoteMAC(t, host)
		return ok && m.TunnelIP == a.tunnel.String()
	})
	waitUntil(t, "b withdrawing its route for the host", func() bool { return !a.hasRouteFrom(t, host, b.tunnel) })
}

// TestRouteTargetsChooseTheNetwork: explicit route targets decide what a
// network imports; a network whose import targets change takes what the
// table already holds.
func TestRouteTargetsChooseTheNetwork(t *testing.T) {
	_, portText, _ := net.SplitHostPort(ovstest.FreeAddr(t))
	port, _ := strconv.Atoi(portText)
	a := startSite(t, "127.0.0.21", "192.0.2.1", port)
	b := startSite(t, "127.0.0.22", "192.0.2.2", port)
	a.peerWith(t, "b", "127.0.0.22", port)
	b.peerWith(t, "a", "127.0.0.21", port)
	join := func(s *site, e app.EVPN) {
		t.Helper()
		n, err := s.state.ReplaceNetwork("blue", app.Network{Attachments: []app.Attachment{{Port: "eth1"}}, EVPN: &e})
		if err != nil {
			t.Fatal(err)
		}
		s.sp.SetNetworks([]app.Network{n})
	}
	join(a, app.EVPN{VNI: 5001, ExportRTs: []string{"65000:7777"}})
	join(b, app.EVPN{VNI: 5001, ImportRTs: []string{"65000:8888"}})
	const host = "02:00:00:00:00:0c"
	a.learn(host)
	waitUntil(t, "b receiving a's route", func() bool { return b.hasRouteFrom(t, host, a.tunnel) })
	if _, ok := b.remoteMAC(t, host); ok {
		t.Fatalf("b imported a route whose route target (65000:7777) it does not import")
	}
	if b.floodsTo(a.tunnel) {
		t.Fatalf("b floods to a, whose route target it does not import")
	}
	join(b, app.EVPN{VNI: 5001, ImportRTs: []string{"65000:8888", "65000:7777"}})
	waitUntil(t, "b importing a's host once it imports 65000:7777", func() bool {
		m, ok := b.remoteMAC(t, host)
		return ok && m.TunnelIP == a.tunnel.String() && b.floodsTo(a.tunnel)
	})
	// Auto import (any *:VNI) does not take 65000:7777 for VNI 5001.
	join(b, app.EVPN{VNI: 5001})
	waitUntil(t, "b dropping a's host with auto route targets", func() bool {
		_, ok := b.remoteMAC(t, host)
		return !ok && !b.floodsTo(a.tunnel)
	})
}
