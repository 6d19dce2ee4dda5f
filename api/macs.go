package api

import (
	"fmt"
	"io"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/l2gw/l2gw/app"
)

// MACBinding is a static MAC and its IP addresses, reachable through a
// connection's remote gateway: an element of the "macs" of POST and PUT
// /v1/connections/{name}/macs and of MAC answers (normalised: lowercase
// colon MAC, canonical IPs; ips left out when there are none).
type MACBinding struct {
	MAC string   `json:"mac"`
	IPs []string `json:"ips,omitempty"`
	// Origin is the dynamic origin that told the remote MAC, left out for
	// the API's own bindings (static; see origin.go).
	Origin string `json:"origin,omitempty"`
}

// macsRequest is the body of POST and PUT /v1/connections/{name}/macs;
// "macs" is required so that a PUT of {} cannot clear a connection's
// bindings by mistake.
type macsRequest struct {
	MACs *bindingBatch `json:"macs"`
}

// bindingBatch is a decoded batch, handed to app as it is (an app.MACBatch):
// a batch of a million bindings is never copied into app's type.
type bindingBatch []MACBinding

// Len is the number of bindings.
func (b bindingBatch) Len() int { return len(b) }

// Binding is binding i as app takes it.
func (b bindingBatch) Binding(i int) app.MACBinding {
	return app.MACBinding{MAC: b[i].MAC, IPs: b[i].IPs}
}

// macList is the body of MAC answers: app's bindings, each shown as a
// MACBinding while it is written.
type macList struct {
	MACs []app.MACBinding
}

// writeJSON writes l as json.Encoder would write {"macs":[MACBinding...]},
// one binding at a time (streamList).
func (l macList) writeJSON(w io.Writer) error {
	return streamList(w, "macs", len(l.MACs), func(i int, m *MACBinding) {
		b := &l.MACs[i]
		*m = MACBinding{MAC: b.MAC, IPs: b.IPs, Origin: originOf(b.Origin)}
	})
}

// decodeMACs reads the batch of a POST or PUT.
func decodeMACs(r *http.Request) (bindingBatch, error) {
	var req macsRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.MACs == nil {
		return nil, invalid("macs", `"macs" is required (an array, may be empty)`)
	}
	for i, m := range *req.MACs {
		if err := writableOrigin(fmt.Sprintf("macs[%d].origin", i), m.Origin); err != nil {
			return nil, err
		}
	}
	return *req.MACs, nil
}

// addMACs serves POST /v1/connections/{name}/macs: the batch is added whole
// or not at all.
func (h *handler) addMACs(r *http.Request) (int, any, error) {
	macs, err := decodeMACs(r)
	if err != nil {
		return 0, nil, err
	}
	added, err := h.state.AddMACs(mux.Vars(r)["name"], macs)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, macList{MACs: added}, nil
}

// replaceMACs serves PUT /v1/connections/{name}/macs.
func (h *handler) replaceMACs(r *http.Request) (int, any, error) {
	macs, err := decodeMACs(r)
	if err != nil {
		return 0, nil, err
	}
	set, err := h.state.ReplaceMACs(mux.Vars(r)["name"], macs)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, macList{MACs: set}, nil
}

// listMACs serves GET /v1/connections/{name}/macs.
func (h *handler) listMACs(r *http.Request) (int, any, error) {
	macs, err := h.state.ListMACs(mux.Vars(r)["name"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, macList{MACs: macs}, nil
}

// deleteMAC serves DELETE /v1/connections/{name}/macs/{mac}.
func (h *handler) deleteMAC(r *http.Request) (int, any, error) {
	vars := mux.Vars(r)
	return http.StatusNoContent, nil, h.state.DeleteMAC(vars["name"], vars["mac"])
}
