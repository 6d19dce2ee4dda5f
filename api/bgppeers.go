package api

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/l2gw/l2gw/app"
)

// BGP is what the API asks of l2gwd's BGP speaker.
type BGP interface {
	// PeerStatus reports the session with the configured peer name; false
	// when the speaker does not know the peer (yet).
	PeerStatus(name string) (app.BGPPeerStatus, bool)
	// Ready is nil when BGP counts as ready (see GET /readyz), else says
	// what it waits for.
	Ready() error
}

// WithBGP makes the handler report the sessions of the BGP peers from b,
// and count b's readiness in GET /readyz while peers are configured.
// Without it every peer is idle: BGP is not enabled.
func WithBGP(b BGP) HandlerOption {
	return func(o *handlerOptions) { o.bgp = b }
}

// bgpDisabled is the last error of every peer of a daemon without BGP.
const bgpDisabled = "bgp is not enabled (start l2gwd with --bgp-asn)"

// BGPPeer is a configured BGP neighbour: the body of POST and PUT
// /v1/bgp-peers[/{name}]. Fields left 0 take their defaults (port 179,
// hold time 90 s, keepalive a third of the hold time, 100,000 routes).
type BGPPeer struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	ASN       uint32 `json:"asn"`
	Port      uint16 `json:"port,omitempty"`
	Password  string `json:"password,omitempty"` // write-only: no answer has it
	HoldTime  uint16 `json:"hold_time,omitempty"`
	Keepalive uint16 `json:"keepalive,omitempty"`
	MaxRoutes uint32 `json:"max_routes,omitempty"`
}

// bgpPeer is p as app takes it.
func (p BGPPeer) bgpPeer() app.BGPPeer {
	return app.BGPPeer{Name: p.Name, Address: p.Address, ASN: p.ASN, Port: p.Port, Password: p.Password,
		HoldTime: p.HoldTime, Keepalive: p.Keepalive, MaxRoutes: p.MaxRoutes}
}

// BGPPeerStatus is a BGP peer as the API answers it: its configuration as
// stored (the address canonical, fields left 0 omitted), never its
// password, and its session as the BGP speaker reports it.
type BGPPeerStatus struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	ASN       uint32 `json:"asn"`
	Port      uint16 `json:"port,omitempty"`
	HoldTime  uint16 `json:"hold_time,omitempty"`
	Keepalive uint16 `json:"keepalive,omitempty"`
	MaxRoutes uint32 `json:"max_routes,omitempty"`
	// HasPassword says the session has a TCP MD5 password.
	HasPassword bool `json:"has_password,omitempty"`
	// State is the BGP session state: idle, connect, active, opensent,
	// openconfirm or established.
	State string `json:"state"`
	// UptimeSeconds is how long the session has been established, in
	// whole seconds; 0 when it is not.
	UptimeSeconds    int64  `json:"uptime_seconds"`
	RoutesReceived   uint64 `json:"routes_received"`
	RoutesAccepted   uint64 `json:"routes_accepted"`
	RoutesAdvertised uint64 `json:"routes_advertised"`
	// LastError is the last reason the session went down or was refused.
	LastError string `json:"last_error,omitempty"`
}

// bgpPeerList is the body of GET /v1/bgp-peers.
type bgpPeerList struct {
	BGPPeers []BGPPeerStatus `json:"bgp_peers"`
}

// bgpPeerOf is p as the API shows it, with its session's status.
func (h *handler) bgpPeerOf(p app.BGPPeer) BGPPeerStatus {
	out := BGPPeerStatus{Name: p.Name, Address: p.Address, ASN: p.ASN, Port: p.Port, HoldTime: p.HoldTime,
		Keepalive: p.Keepalive, MaxRoutes: p.MaxRoutes, HasPassword: p.Password != "", State: app.BGPIdle}
	if h.bgp == nil {
		out.LastError = bgpDisabled
		return out
	}
	st, known := h.bgp.PeerStatus(p.Name)
	if !known {
		return out
	}
	out.State, out.LastError = st.State, st.LastError
	out.RoutesReceived, out.RoutesAccepted, out.RoutesAdvertised = st.RoutesReceived, st.RoutesAccepted, st.RoutesAdvertised
	if st.State == app.BGPEstablished && !st.Since.IsZero() {
		out.UptimeSeconds = max(0, int64(time.Since(st.Since)/time.Second))
	}
	return out
}

// createBGPPeer serves POST /v1/bgp-peers.
func (h *handler) createBGPPeer(r *http.Request) (int, any, error) {
	var p BGPPeer
	if err := decodeBody(r, &p); err != nil {
		return 0, nil, err
	}
	created, err := h.state.CreateBGPPeer(p.bgpPeer())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, h.bgpPeerOf(created), nil
}

// listBGPPeers serves GET /v1/bgp-peers.
func (h *handler) listBGPPeers(*http.Request) (int, any, error) {
	peers := h.state.ListBGPPeers()
	list := bgpPeerList{BGPPeers: make([]BGPPeerStatus, len(peers))}
	for i, p := range peers {
		list.BGPPeers[i] = h.bgpPeerOf(p)
	}
	return http.StatusOK, list, nil
}

// getBGPPeer serves GET /v1/bgp-peers/{name}.
func (h *handler) getBGPPeer(r *http.Request) (int, any, error) {
	p, err := h.state.GetBGPPeer(mux.Vars(r)["name"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, h.bgpPeerOf(p), nil
}

// replaceBGPPeer serves PUT /v1/bgp-peers/{name}.
func (h *handler) replaceBGPPeer(r *http.Request) (int, any, error) {
	name := mux.Vars(r)["name"]
	var p BGPPeer
	if err := decodeBody(r, &p); err != nil {
		return 0, nil, err
	}
	if err := sameName(p.Name, name); err != nil {
		return 0, nil, err
	}
	replaced, err := h.state.ReplaceBGPPeer(name, p.bgpPeer())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, h.bgpPeerOf(replaced), nil
}

// deleteBGPPeer serves DELETE /v1/bgp-peers/{name}.
func (h *handler) deleteBGPPeer(r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, h.state.DeleteBGPPeer(mux.Vars(r)["name"])
}
