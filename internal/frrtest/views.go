package frrtest

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Route is one path of an EVPN route in bgpd's table (`show bgp l2vpn evpn
// route detail json`): FRR's own and those its peers sent.
type Route struct {
	RD   string // route distinguisher, "198.51.100.1:2"
	Type int    // 2 MAC/IP advertisement, 3 inclusive multicast (also 1, 4, 5)
	// MAC is the type-2 route's MAC, as FRR prints it (lower case).
	MAC string
	// IP is a type-2 MAC+IP route's IP (zero for MAC-only) or a type-3
	// route's originating router.
	IP      netip.Addr
	NextHop netip.Addr // the VTEP to send to
	// VNI is a type-2 route's label (the VNI) or a type-3 route's PMSI
	// tunnel label.
	VNI uint32
	// Sequence is the MAC mobility sequence number (RFC 7432 section 15.1),
	// 0 without a MAC mobility community; Sticky is its sticky flag.
	Sequence uint32
	Sticky   bool
	// ExtCommunities is FRR's rendering of the extended communities, for
	// example "RT:65000:5001 ET:8 MM:1".
	ExtCommunities string
	// From is the peer the path came from (for a reflected route, the
	// reflector, while NextHop stays the originator); zero for FRR's own.
	From netip.Addr
	Best bool // bgpd's best path for the prefix
}

// Routes returns every path in bgpd's EVPN table, sorted by RD, type, MAC
// and IP.
func (f *FRR) Routes() ([]Route, error) {
	out, err := f.Vtysh("show bgp l2vpn evpn route detail json")
	if err != nil {
		return nil, err
	}
	routes, err := parseRoutes([]byte(out))
	if err != nil {
		return nil, fmt.Errorf("frr %s: EVPN routes: %w", f.Name, err)
	}
	return routes, nil
}

// routeDetail is one prefix of `show bgp l2vpn evpn route detail json`:
// the top level maps each RD to an object that maps each prefix
// ("[2]:[0]:[48]:[MAC]:[32]:[IP]") to this, next to "rd"; the top level
// also holds "numPrefix" and "numPaths".
type routeDetail struct {
	RouteType int           `json:"routeType"`
	MAC       string        `json:"mac"`
	IP        string        `json:"ip"`
	Paths     [][]pathEntry `json:"paths"` // one single-element array per path
}

type pathEntry struct {
	VNI      string `json:"vni"` // "5001", on type-2 paths and FRR's own type 3
	Bestpath struct {
		Overall bool `json:"overall"`
	} `json:"bestpath"`
	ExtendedCommunity struct {
		String string `json:"string"`
	} `json:"extendedCommunity"`
	PMSI struct {
		Label uint32 `json:"label"`
	} `json:"pmsi"`
	Nexthops []struct {
		IP string `json:"ip"`
	} `json:"nexthops"`
	Peer struct {
		PeerID string `json:"peerId"` // "0.0.0.0" for FRR's own paths
	} `json:"peer"`
}

// macMobility matches FRR's rendering of the MAC mobility community.
var macMobility = regexp.MustCompile(`MM:(\d+)(, sticky MAC)?`)

func parseRoutes(out []byte) ([]Route, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(out, &top); err != nil {
		return nil, err
	}
	var routes []Route
	for rd, raw := range top {
		var prefixes map[string]json.RawMessage
		if json.Unmarshal(raw, &prefixes) != nil {
			continue // numPrefix, numPaths
		}
		for prefix, raw := range prefixes {
			if prefix == "rd" {
				continue
			}
			var d routeDetail
			if err := json.Unmarshal(raw, &d); err != nil {
				return nil, fmt.Errorf("%s %s: %w", rd, prefix, err)
			}
			for _, group := range d.Paths {
				for _, p := range group {
					r, err := d.route(rd, p)
					if err != nil {
						return nil, fmt.Errorf("%s %s: %w", rd, prefix, err)
					}
					routes = append(routes, r)
				}
			}
		}
	}
	sort.Slice(routes, func(i, j int) bool {
		a, b := routes[i], routes[j]
		if a.RD != b.RD {
			return a.RD < b.RD
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.MAC != b.MAC {
			return a.MAC < b.MAC
		}
		return a.IP.Less(b.IP)
	})
	return routes, nil
}

// route builds the Route of one path of d.
func (d *routeDetail) route(rd string, p pathEntry) (Route, error) {
	r := Route{RD: rd, Type: d.RouteType, MAC: d.MAC, Best: p.Bestpath.Overall,
		ExtCommunities: p.ExtendedCommunity.String, VNI: p.PMSI.Label}
	var err error
	if d.IP != "" {
		if r.IP, err = netip.ParseAddr(d.IP); err != nil {
			return r, err
		}
	}
	if len(p.Nexthops) > 0 {
		if r.NextHop, err = netip.ParseAddr(p.Nexthops[0].IP); err != nil {
			return r, err
		}
	}
	if p.Peer.PeerID != "" && p.Peer.PeerID != "0.0.0.0" {
		if r.From, err = netip.ParseAddr(p.Peer.PeerID); err != nil {
			return r, err
		}
	}
	if p.VNI != "" {
		// A route with a layer-3 VNI as second label reads "L2/L3".
		first, _, _ := strings.Cut(p.VNI, "/")
		vni, err := strconv.ParseUint(first, 10, 32)
		if err != nil {
			return r, fmt.Errorf("vni %q: %w", p.VNI, err)
		}
		r.VNI = uint32(vni)
	}
	if m := macMobility.FindStringSubmatch(r.ExtCommunities); m != nil {
		seq, err := strconv.ParseUint(m[1], 10, 32)
		if err != nil {
			return r, fmt.Errorf("MAC mobility %q: %w", m[0], err)
		}
		r.Sequence, r.Sticky = uint32(seq), m[2] != ""
	}
	return r, nil
}

// MAC is zebra's view of one MAC of a VNI (`show evpn mac vni V json`).
type MAC struct {
	Type           string     `json:"type"`       // "local" or "remote"
	Interface      string     `json:"intf"`       // the bridge port of a local MAC
	RemoteVTEP     netip.Addr `json:"remoteVtep"` // where a remote MAC lives
	LocalSequence  uint32     `json:"localSequence"`
	RemoteSequence uint32     `json:"remoteSequence"`
	Duplicate      bool       `json:"isDuplicate"` // frozen by duplicate address detection
}

// MACs returns zebra's MACs of VNI vni by MAC address (lower case).
func (f *FRR) MACs(vni uint32) (map[string]MAC, error) {
	// {"numMacs":N,"macs":{"MAC":{...}}}; an unknown VNI gives {}.
	var view struct {
		MACs map[string]MAC `json:"macs"`
	}
	if err := f.VtyshJSON(fmt.Sprintf("show evpn mac vni %d json", vni), &view); err != nil {
		return nil, err
	}
	if view.MACs == nil {
		view.MACs = map[string]MAC{}
	}
	return view.MACs, nil
}

// NeighborState is bgpd's view of one BGP session.
type NeighborState struct {
	// State is FRR's session state: "Idle", "Connect", "Active", "OpenSent",
	// "OpenConfirm", "Established", ...
	State string
	// EstablishedCount counts the times the session came up.
	EstablishedCount int
	// GracefulRestart reports that both sides announced the graceful
	// restart capability; PeerPreservesEVPN that the peer's lists L2VPN
	// EVPN with the forwarding-state bit; PeerRestartTime is the restart
	// time the peer announced.
	GracefulRestart   bool
	PeerPreservesEVPN bool
	PeerRestartTime   time.Duration
	// EndOfRIB reports that the peer sent its EVPN End-of-RIB.
	EndOfRIB bool
	// RoutesAccepted counts the EVPN routes accepted from the peer,
	// RoutesSent those advertised to it.
	RoutesAccepted, RoutesSent int
	// UpdatesReceived counts the UPDATE messages received from the peer
	// (withdrawals and End-of-RIB markers among them): one that grew says
	// everything the peer sent before it has been read.
	UpdatesReceived int
}

// neighborJSON is the part of one peer's object in `show bgp neighbors X
// json` (an object keyed by the address) that NeighborState reports.
type neighborJSON struct {
	State            string `json:"bgpState"`
	EstablishedCount int    `json:"connectionsEstablished"`
	Capabilities     struct {
		GracefulRestart string `json:"gracefulRestart"` // "advertisedAndReceived", "advertised", "received"
		RemoteTimerMsec int64  `json:"gracefulRestartRemoteTimerMsecs"`
		FamiliesByPeer  struct {
			EVPN *struct {
				Preserved bool `json:"preserved"`
			} `json:"l2VpnEvpn"`
		} `json:"addressFamiliesByPeer"`
	} `json:"neighborCapabilities"`
	MessageStats struct {
		UpdatesRecv int `json:"updatesRecv"`
	} `json:"messageStats"`
	GracefulRestartInfo struct {
		EndOfRIBRecv struct {
			EVPN bool `json:"l2VpnEvpn"`
		} `json:"endOfRibRecv"`
	} `json:"gracefulRestartInfo"`
	AddressFamilies struct {
		EVPN struct {
			Accepted int `json:"acceptedPrefixCounter"`
			Sent     int `json:"sentPrefixCounter"`
		} `json:"l2VpnEvpn"`
	} `json:"addressFamilyInfo"`
}

// Neighbor returns the state of the session with the peer at addr; a peer
// bgpd does not have is an error.
func (f *FRR) Neighbor(addr netip.Addr) (NeighborState, error) {
	var view map[string]json.RawMessage
	cmd := fmt.Sprintf("show bgp neighbors %s json", addr)
	if err := f.VtyshJSON(cmd, &view); err != nil {
		return NeighborState{}, err
	}
	raw, ok := view[addr.String()]
	if !ok {
		return NeighborState{}, fmt.Errorf("frr %s: no BGP neighbour %s", f.Name, addr)
	}
	var n neighborJSON
	if err := json.Unmarshal(raw, &n); err != nil {
		return NeighborState{}, fmt.Errorf("frr %s: %q: %w", f.Name, cmd, err)
	}
	c := n.Capabilities
	return NeighborState{
		State:             n.State,
		EstablishedCount:  n.EstablishedCount,
		GracefulRestart:   c.GracefulRestart == "advertisedAndReceived",
		PeerPreservesEVPN: c.FamiliesByPeer.EVPN != nil && c.FamiliesByPeer.EVPN.Preserved,
		PeerRestartTime:   time.Duration(c.RemoteTimerMsec) * time.Millisecond,
		EndOfRIB:          n.GracefulRestartInfo.EndOfRIBRecv.EVPN,
		RoutesAccepted:    n.AddressFamilies.EVPN.Accepted,
		RoutesSent:        n.AddressFamilies.EVPN.Sent,
		UpdatesReceived:   n.MessageStats.UpdatesRecv,
	}, nil
}
