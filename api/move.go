package api

import (
	"net/http"

	"github.com/l2gw/l2gw/app"
)

// movePath is the route of a MAC move: a custom method on the MAC
// collection (gorilla/mux takes the colon literally).
const movePath = "/v1/macs:move"

// moveMACs serves POST /v1/macs:move: static bindings move, with their IPs,
// to connection "to" of their network in one change, so the switch gets
// the old flows' deletes and the new ones' adds in one bundle. It answers
// with the moved bindings as bound on "to", in request order.
func (h *handler) moveMACs(r *http.Request) (int, any, error) {
	var mv app.MACMove
	if err := decodeBody(r, &mv); err != nil {
		return 0, nil, err
	}
	moved, err := h.state.MoveMACs(mv)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, newMACList(moved), nil
}
