package api

import (
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/l2gw/l2gw/app"
)

// networkList is the body of GET /v1/networks.
type networkList struct {
	Networks []app.Network `json:"networks"`
}

// networkView is n as the API shows it: attachments always an array.
func networkView(n app.Network) app.Network {
	if n.Attachments == nil {
		n.Attachments = []app.Attachment{}
	}
	return n
}

// createNetwork serves POST /v1/networks.
func (h *handler) createNetwork(r *http.Request) (int, any, error) {
	var n app.Network
	if err := decodeBody(r, &n); err != nil {
		return 0, nil, err
	}
	created, err := h.state.CreateNetwork(n)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, networkView(created), nil
}

// listNetworks serves GET /v1/networks.
func (h *handler) listNetworks(*http.Request) (int, any, error) {
	networks := h.state.ListNetworks()
	list := networkList{Networks: make([]app.Network, 0, len(networks))}
	for _, n := range networks {
		list.Networks = append(list.Networks, networkView(n))
	}
	return http.StatusOK, list, nil
}

// getNetwork serves GET /v1/networks/{name}.
func (h *handler) getNetwork(r *http.Request) (int, any, error) {
	n, err := h.state.GetNetwork(mux.Vars(r)["name"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, networkView(n), nil
}

// replaceNetwork serves PUT /v1/networks/{name}.
func (h *handler) replaceNetwork(r *http.Request) (int, any, error) {
	name := mux.Vars(r)["name"]
	var n app.Network
	if err := decodeBody(r, &n); err != nil {
		return 0, nil, err
	}
	if err := sameName(n.Name, name); err != nil {
		return 0, nil, err
	}
	replaced, err := h.state.ReplaceNetwork(name, n)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, networkView(replaced), nil
}

// deleteNetwork serves DELETE /v1/networks/{name}.
func (h *handler) deleteNetwork(r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, h.state.DeleteNetwork(mux.Vars(r)["name"])
}

// sameName rejects a PUT whose body names another object than its path.
func sameName(body, path string) error {
	if body != "" && body != path {
		return invalid("name", fmt.Sprintf("name %q in the body differs from %q in the path", body, path))
	}
	return nil
}
