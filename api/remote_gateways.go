package api

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/l2gw/l2gw/app"
)

// remoteGatewayList is the body of GET /v1/remote-gateways.
type remoteGatewayList struct {
	RemoteGateways []app.RemoteGateway `json:"remote_gateways"`
}

// createRemoteGateway serves POST /v1/remote-gateways.
func (h *handler) createRemoteGateway(r *http.Request) (int, any, error) {
	var g app.RemoteGateway
	if err := decodeBody(r, &g); err != nil {
		return 0, nil, err
	}
	created, err := h.state.CreateRemoteGateway(g)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, created, nil
}

// listRemoteGateways serves GET /v1/remote-gateways.
func (h *handler) listRemoteGateways(*http.Request) (int, any, error) {
	list := remoteGatewayList{RemoteGateways: h.state.ListRemoteGateways()}
	if list.RemoteGateways == nil {
		list.RemoteGateways = []app.RemoteGateway{}
	}
	return http.StatusOK, list, nil
}

// getRemoteGateway serves GET /v1/remote-gateways/{name}.
func (h *handler) getRemoteGateway(r *http.Request) (int, any, error) {
	g, err := h.state.GetRemoteGateway(mux.Vars(r)["name"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, g, nil
}

// replaceRemoteGateway serves PUT /v1/remote-gateways/{name}.
func (h *handler) replaceRemoteGateway(r *http.Request) (int, any, error) {
	name := mux.Vars(r)["name"]
	var g app.RemoteGateway
	if err := decodeBody(r, &g); err != nil {
		return 0, nil, err
	}
	if err := sameName(g.Name, name); err != nil {
		return 0, nil, err
	}
	replaced, err := h.state.ReplaceRemoteGateway(name, g)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, replaced, nil
}

// deleteRemoteGateway serves DELETE /v1/remote-gateways/{name}.
func (h *handler) deleteRemoteGateway(r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, h.state.DeleteRemoteGateway(mux.Vars(r)["name"])
}
