package api

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/l2gw/l2gw/app"
)

// Connection joins a network to a remote gateway on one segmentation ID:
// the answer of POST and GET /v1/connections[/{name}]. A POST's body has
// the same fields; its network_type defaults to vxlan and its flood to
// true. A connection a dynamic origin made (a remote tunnel endpoint it
// named) has no remote gateway: its tunnel_ip is that endpoint, and its
// name "NETWORK:TYPE:SEGID@ENDPOINT" is derived from what it joins.
type Connection struct {
	Name           string `json:"name"`
	Network        string `json:"network"`
	RemoteGateway  string `json:"remote_gateway,omitempty"`
	SegmentationID uint32 `json:"segmentation_id"`
	NetworkType    string `json:"network_type"` // vxlan, gre or geneve
	Flood          bool   `json:"flood"`        // broadcast and unknown traffic go to the gateway
	// Origin is the dynamic origin that named the connection's tunnel,
	// left out for the API's own (static; see origin.go).
	Origin   string `json:"origin,omitempty"`
	TunnelIP string `json:"tunnel_ip,omitempty"`
}

// connectionOf is c as the API shows it.
func connectionOf(c app.Connection) Connection {
	return Connection{Name: c.Name, Network: c.Network, RemoteGateway: c.RemoteGateway,
		SegmentationID: c.SegmentationID, NetworkType: c.NetworkType, Flood: c.Flood,
		Origin: originOf(c.Origin), TunnelIP: c.TunnelIP}
}

// connectionRequest is the body of POST /v1/connections; it tells an absent
// "flood" (which defaults to true) from false.
type connectionRequest struct {
	Name           string `json:"name"`
	Network        string `json:"network"`
	RemoteGateway  string `json:"remote_gateway"`
	SegmentationID uint32 `json:"segmentation_id"`
	NetworkType    string `json:"network_type"`
	Flood          *bool  `json:"flood"`
	Origin         string `json:"origin"`
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
	Connections []Connection `json:"connections"`
}

// createConnection serves POST /v1/connections.
func (h *handler) createConnection(r *http.Request) (int, any, error) {
	var req connectionRequest
	if err := decodeWritable(r, &req, &req.Origin); err != nil {
		return 0, nil, err
	}
	created, err := h.state.CreateConnection(req.connection())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, connectionOf(created), nil
}

// listConnections serves GET /v1/connections.
func (h *handler) listConnections(*http.Request) (int, any, error) {
	conns := h.state.ListConnections()
	list := connectionList{Connections: make([]Connection, len(conns))}
	for i, c := range conns {
		list.Connections[i] = connectionOf(c)
	}
	return http.StatusOK, list, nil
}

// getConnection serves GET /v1/connections/{name}.
func (h *handler) getConnection(r *http.Request) (int, any, error) {
	c, err := h.state.GetConnection(mux.Vars(r)["name"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, connectionOf(c), nil
}

// deleteConnection serves DELETE /v1/connections/{name}.
func (h *handler) deleteConnection(r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, h.state.DeleteConnection(mux.Vars(r)["name"])
}
