package api

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/l2gw/l2gw/app"
)

// WithEndpoints makes GET /v1/remote-gateways[/{name}] show each remote
// gateway's endpoints as the switch sees them (BFD state, the one in use)
// from report, called once per gateway. Without it the answers have no
// endpoints.
func WithEndpoints(report func(app.RemoteGateway) []app.EndpointStatus) HandlerOption {
	return func(o *handlerOptions) { o.endpoints = report }
}

// RemoteGateway is another site's gateway: the body of POST and PUT
// /v1/remote-gateways[/{name}] and of their answers. A body gives the
// endpoints as tunnel_ips (preference order), as tunnel_ip (one), or both
// (tunnel_ip then being tunnel_ips[0]); answers have both, in canonical
// form.
type RemoteGateway struct {
	Name      string   `json:"name"`
	TunnelIP  string   `json:"tunnel_ip"`
	TunnelIPs []string `json:"tunnel_ips,omitempty"`
	// Origin is the dynamic origin the gateway comes from, left out for
	// the API's own (static; see origin.go).
	Origin string `json:"origin,omitempty"`
	// Endpoints is what the switch says of each endpoint, in GET answers
	// of a handler made WithEndpoints; read-only.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
}

// Endpoint is one endpoint of a remote gateway as the switch sees it.
type Endpoint struct {
	TunnelIP string `json:"tunnel_ip"`
	// BFD is the state of BFD to the endpoint: up, down, init or
	// admin_down; left out when no BFD runs to it.
	BFD string `json:"bfd,omitempty"`
	// InUse says traffic to the gateway goes to this endpoint now.
	InUse bool `json:"in_use"`
}

// remoteGatewayOf is g as the API shows it.
func remoteGatewayOf(g app.RemoteGateway) RemoteGateway {
	return RemoteGateway{Name: g.Name, TunnelIP: g.TunnelIP, TunnelIPs: g.TunnelIPs}
}

// remoteGatewayWithEndpoints is g as GET shows it: with its endpoints
// when the handler has a reporter.
func (h *handler) remoteGatewayWithEndpoints(g app.RemoteGateway) RemoteGateway {
	out := remoteGatewayOf(g)
	if h.endpoints == nil {
		return out
	}
	reported := h.endpoints(g)
	out.Endpoints = make([]Endpoint, len(reported))
	for i, e := range reported {
		out.Endpoints[i] = Endpoint{TunnelIP: e.TunnelIP, BFD: e.BFD, InUse: e.InUse}
	}
	return out
}

// remoteGateway is g as app takes it (app checks that tunnel_ip and
// tunnel_ips agree).
func (g RemoteGateway) remoteGateway() app.RemoteGateway {
	return app.RemoteGateway{Name: g.Name, TunnelIP: g.TunnelIP, TunnelIPs: g.TunnelIPs}
}

// decodeRemoteGateway decodes the body of a POST or PUT: a writable origin
// and no endpoints (the switch's to report).
func decodeRemoteGateway(r *http.Request) (RemoteGateway, error) {
	var g RemoteGateway
	if err := decodeWritable(r, &g, &g.Origin); err != nil {
		return g, err
	}
	if g.Endpoints != nil {
		return g, invalid("endpoints", "endpoints is read-only: the switch reports them; give tunnel_ips")
	}
	return g, nil
}

// remoteGatewayList is the body of GET /v1/remote-gateways.
type remoteGatewayList struct {
	RemoteGateways []RemoteGateway `json:"remote_gateways"`
}

// createRemoteGateway serves POST /v1/remote-gateways.
func (h *handler) createRemoteGateway(r *http.Request) (int, any, error) {
	g, err := decodeRemoteGateway(r)
	if err != nil {
		return 0, nil, err
	}
	created, err := h.state.CreateRemoteGateway(g.remoteGateway())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, remoteGatewayOf(created), nil
}

// listRemoteGateways serves GET /v1/remote-gateways.
func (h *handler) listRemoteGateways(*http.Request) (int, any, error) {
	gateways := h.state.ListRemoteGateways()
	list := remoteGatewayList{RemoteGateways: make([]RemoteGateway, len(gateways))}
	for i, g := range gateways {
		list.RemoteGateways[i] = h.remoteGatewayWithEndpoints(g)
	}
	return http.StatusOK, list, nil
}

// getRemoteGateway serves GET /v1/remote-gateways/{name}.
func (h *handler) getRemoteGateway(r *http.Request) (int, any, error) {
	g, err := h.state.GetRemoteGateway(mux.Vars(r)["name"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, h.remoteGatewayWithEndpoints(g), nil
}

// replaceRemoteGateway serves PUT /v1/remote-gateways/{name}.
func (h *handler) replaceRemoteGateway(r *http.Request) (int, any, error) {
	name := mux.Vars(r)["name"]
	g, err := decodeRemoteGateway(r)
	if err != nil {
		return 0, nil, err
	}
	if err := sameName(g.Name, name); err != nil {
		return 0, nil, err
	}
	replaced, err := h.state.ReplaceRemoteGateway(name, g.remoteGateway())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, remoteGatewayOf(replaced), nil
}

// deleteRemoteGateway serves DELETE /v1/remote-gateways/{name}.
func (h *handler) deleteRemoteGateway(r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, h.state.DeleteRemoteGateway(mux.Vars(r)["name"])
}
