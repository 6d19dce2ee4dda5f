package api

import (
	"net/http"

	"github.com/l2gw/l2gw/app"
)

// movePath is the route of a MAC move: a custom method on the MAC
// collection (gorilla/mux takes the colon literally).
const movePath = "/v1/macs:move"

// MACMove is the body of POST /v1/macs:move: the static bindings of MACs
// move, each with its IPs, to connection To from wherever they are bound in
// To's network. From, when set, is a precondition: every MAC not yet on To
// must be bound on From.
type MACMove struct {
	To   string   `json:"to"`
	From string   `json:"from,omitempty"`
	MACs []string `json:"macs"`
}

// moveMACs serves POST /v1/macs:move: static bindings move, with their IPs,
// to connection "to" of their network in one change, so the switch gets
// the old flows' deletes and the new ones' adds in one bundle. It answers
// with the moved bindings as bound on "to", in request order.
func (h *handler) moveMACs(r *http.Request) (int, any, error) {
	var mv MACMove
	if err := decodeBody(r, &mv); err != nil {
		return 0, nil, err
	}
	moved, err := h.state.MoveMACs(app.MACMove{To: mv.To, From: mv.From, MACs: mv.MACs})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, macList{MACs: moved}, nil
}
