package api

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/l2gw/l2gw/app"
)

// connectionRequest is the body of POST /v1/connections; it tells an absent
// "flood" (which defaults to true) from false.
type connectionRequest struct {
	Name           string `json:"name"`
	Network        string `json:"network"`
	RemoteGateway  string `json:"remote_gateway"`
	SegmentationID uint32 `json:"segmentation_id"`
	NetworkType    string `json:"network_type"`
	Flood          *bool  `json:"flood"`
}

// connection is the request with the API's defaults applied: network type
// vxlan and flooding on.
func (c connectionRequest) connection() app.Connection {
	conn := app.Connection{
		Name:           c.Name,
		Network:        c.Network,
		RemoteGateway:  c.RemoteGateway,
		SegmentationID: c.SegmentationID,
		NetworkType:    c.NetworkType,
		Flood:          c.Flood == nil || *c.Flood,
	}
	if conn.NetworkType == "" {
		conn.NetworkType = app.TypeVXLAN
	}
	return conn
}

// connectionList is the body of GET /v1/connections.
type connectionList struct {
	Connections []app.Connection `json:"connections"`
}

// createConnection serves POST /v1/connections.
func (h *handler) createConnection(r *http.Request) (int, any, error) {
	var req connectionRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	created, err := h.state.CreateConnection(req.connection())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, created, nil
}

// listConnections serves GET /v1/connections.
func (h *handler) listConnections(*http.Request) (int, any, error) {
	list := connectionList{Connections: h.state.ListConnections()}
	if list.Connections == nil {
		list.Connections = []app.Connection{}
	}
	return http.StatusOK, list, nil
}

// getConnection serves GET /v1/connections/{name}.
func (h *handler) getConnection(r *http.Request) (int, any, error) {
	c, err := h.state.GetConnection(mux.Vars(r)["name"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c, nil
}

// deleteConnection serves DELETE /v1/connections/{name}.
func (h *handler) deleteConnection(r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, h.state.DeleteConnection(mux.Vars(r)["name"])
}
