package api

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/l2gw/l2gw/app"
)

// RemoteGateway is another site's tunnel endpoint: the body of POST and
// PUT /v1/remote-gateways[/{name}] and of their answers (TunnelIP in
// canonical form).
type RemoteGateway struct {
	Name     string `json:"name"`
	TunnelIP string `json:"tunnel_ip"`
	// Origin is the dynamic origin the gateway comes from, left out for
	// the API's own (static; see origin.go).
	Origin string `json:"origin,omitempty"`
}

// remoteGatewayOf is g as the API shows it.
func remoteGatewayOf(g app.RemoteGateway) RemoteGateway {
	return RemoteGateway{Name: g.Name, TunnelIP: g.TunnelIP}
}

// remoteGateway is g as app takes it.
func (g RemoteGateway) remoteGateway() app.RemoteGateway {
	return app.RemoteGateway{Name: g.Name, TunnelIP: g.TunnelIP}
}

// remoteGatewayList is the body of GET /v1/remote-gateways.
type remoteGatewayList struct {
	RemoteGateways []RemoteGateway `json:"remote_gateways"`
}

// createRemoteGateway serves POST /v1/remote-gateways.
func (h *handler) createRemoteGateway(r *http.Request) (int, any, error) {
	var g RemoteGateway
	if err := decodeWritable(r, &g, &g.Origin); err != nil {
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
		list.RemoteGateways[i] = remoteGatewayOf(g)
	}
	return http.StatusOK, list, nil
}

// getRemoteGateway serves GET /v1/remote-gateways/{name}.
func (h *handler) getRemoteGateway(r *http.Request) (int, any, error) {
	g, err := h.state.GetRemoteGateway(mux.Vars(r)["name"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, remoteGatewayOf(g), nil
}

// replaceRemoteGateway serves PUT /v1/remote-gateways/{name}.
func (h *handler) replaceRemoteGateway(r *http.Request) (int, any, error) {
	name := mux.Vars(r)["name"]
	var g RemoteGateway
	if err := decodeWritable(r, &g, &g.Origin); err != nil {
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
