package api

import (
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

// macCount is the answer of an NDJSON batch: how many bindings it added
// or set, rather than every binding again (a million of them are 70 MB).
type macCount struct {
	Count int `json:"count"`
}

// batchAnswer is the answer of a batch read as mediaType that made macs:
// every binding for JSON (as it always has been), the count for NDJSON.
func batchAnswer(mediaType string, macs []app.MACBinding) any {
	if mediaType == mediaNDJSON {
		return macCount{Count: len(macs)}
	}
	return macList{MACs: macs}
}

// addMACs serves POST /v1/connections/{name}/macs: the batch is added whole
// or not at all.
func (h *handler) addMACs(r *http.Request) (int, any, error) {
	macs, mediaType, err := decodeMACs(r)
	if err != nil {
		return 0, nil, err
	}
	added, err := h.state.AddMACs(mux.Vars(r)["name"], macs)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, batchAnswer(mediaType, added), nil
}

// replaceMACs serves PUT /v1/connections/{name}/macs.
func (h *handler) replaceMACs(r *http.Request) (int, any, error) {
	macs, mediaType, err := decodeMACs(r)
	if err != nil {
		return 0, nil, err
	}
	set, err := h.state.ReplaceMACs(mux.Vars(r)["name"], macs)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, batchAnswer(mediaType, set), nil
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
