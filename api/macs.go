package api

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/l2gw/l2gw/app"
)

// macsRequest is the body of POST and PUT /v1/connections/{name}/macs. The
// batch decodes straight into the bindings app takes; "macs" is required so
// that a PUT of {} cannot clear a connection's bindings by mistake.
type macsRequest struct {
	MACs *[]app.MACBinding `json:"macs"`
}

// macList is the body of MAC responses.
type macList struct {
	MACs []app.MACBinding `json:"macs"`
}

// writeJSON writes l as json.Encoder would, one binding at a time through
// a small buffer: a list of 100,000 bindings is never whole in memory as
// JSON.
func (l macList) writeJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(`{"macs":[`)
	for i := range l.MACs {
		if i > 0 {
			bw.WriteByte(',')
		}
		b, err := json.Marshal(&l.MACs[i])
		if err != nil {
			return err
		}
		bw.Write(b)
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

// newMACList wraps macs, never as a JSON null.
func newMACList(macs []app.MACBinding) macList {
	if macs == nil {
		macs = []app.MACBinding{}
	}
	return macList{MACs: macs}
}

// decodeMACs reads the batch of a POST or PUT.
func decodeMACs(r *http.Request) ([]app.MACBinding, error) {
	var req macsRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.MACs == nil {
		return nil, invalid("macs", `"macs" is required (an array, may be empty)`)
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
	return http.StatusCreated, newMACList(added), nil
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
	return http.StatusOK, newMACList(set), nil
}

// listMACs serves GET /v1/connections/{name}/macs.
func (h *handler) listMACs(r *http.Request) (int, any, error) {
	macs, err := h.state.ListMACs(mux.Vars(r)["name"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, newMACList(macs), nil
}

// deleteMAC serves DELETE /v1/connections/{name}/macs/{mac}.
func (h *handler) deleteMAC(r *http.Request) (int, any, error) {
	vars := mux.Vars(r)
	return http.StatusNoContent, nil, h.state.DeleteMAC(vars["name"], vars["mac"])
}
