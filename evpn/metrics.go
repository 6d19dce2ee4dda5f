package evpn

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the speaker's Prometheus collectors.
type metrics struct {
	peerUp     *prometheus.GaugeVec
	routes     *prometheus.GaugeVec
	advRoutes  *prometheus.GaugeVec
	advOn      prometheus.Gauge
	moves      prometheus.Counter
	frozenMACs prometheus.Gauge
	duplicates prometheus.Counter
	drops      *prometheus.CounterVec
	stripped   *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		peerUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "l2gw_bgp_peer_established", Help: "1 when the BGP session with the peer is established, else 0.",
		}, []string{"peer"}),
		routes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "l2gw_evpn_routes_imported", Help: "EVPN routes of other sites imported into a network, by peer and route type (mac, mac_ip, imet).",
		}, []string{"peer", "type"}),
		advRoutes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "l2gw_evpn_advertised", Help: "What this site advertises (while l2gw_evpn_advertising is 1): inclusive multicast routes (imet) and MACs (mac).",
		}, []string{"type"}),
		advOn: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "l2gw_evpn_advertising", Help: "1 while this site's routes are advertised, 0 while they are held back (the standby node of an HA pair).",
		}),
		moves: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "l2gw_evpn_mac_moves_total", Help: "MAC moves between sites seen (RFC 7432 section 15).",
		}),
		frozenMACs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "l2gw_evpn_frozen_macs", Help: "MACs frozen by duplicate detection now.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "l2gw_evpn_duplicate_macs_total", Help: "Times duplicate detection froze a MAC.",
		}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "l2gw_evpn_routes_dropped_total", Help: "Received EVPN routes dropped, by reason (malformed, unsupported).",
		}, []string{"reason"}),
		stripped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "l2gw_evpn_communities_stripped_total", Help: "EVPN extended communities GoBGP cannot parse, stripped by the relay from what peers sent, by subtype.",
		}, []string{"subtype"}),
	}
}

// Collectors returns the speaker's metrics, to register with the daemon's
// registry.
func (s *Speaker) Collectors() []prometheus.Collector {
	m := s.met
	return []prometheus.Collector{m.peerUp, m.routes, m.advRoutes, m.advOn, m.moves, m.frozenMACs, m.duplicates, m.drops, m.stripped}
}

func (m *metrics) peerState(peer string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.peerUp.WithLabelValues(peer).Set(v)
}

func (m *metrics) forgetPeer(peer string) {
	m.peerUp.DeleteLabelValues(peer)
	m.routes.DeletePartialMatch(prometheus.Labels{"peer": peer})
}

// route counts a route imported (delta 1) or taken back (-1).
func (m *metrics) route(peer string, r received, delta float64) {
	kind := "imet"
	if r.kind == typeMACIP {
		kind = "mac"
		if r.ip.IsValid() {
			kind = "mac_ip"
		}
	}
	m.routes.WithLabelValues(peer, kind).Add(delta)
}

func (m *metrics) advertised(imet, macs int) {
	m.advRoutes.WithLabelValues("imet").Set(float64(imet))
	m.advRoutes.WithLabelValues("mac").Set(float64(macs))
}

func (m *metrics) advertising(on bool) {
	v := 0.0
	if on {
		v = 1
	}
	m.advOn.Set(v)
}

func (m *metrics) frozen(n int) { m.frozenMACs.Set(float64(n)) }

func (m *metrics) dropped(unsupported bool) {
	reason := "malformed"
	if unsupported {
		reason = "unsupported"
	}
	m.drops.WithLabelValues(reason).Inc()
}

// strippedCommunity counts an extended community the relay stripped.
func (m *metrics) strippedCommunity(subtype uint8) {
	m.stripped.WithLabelValues(strconv.Itoa(int(subtype))).Inc()
}
