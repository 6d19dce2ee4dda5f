package api

import (
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/l2gw/l2gw/app"
)

// Network is a local layer-2 segment on the gateway bridge: the body of
// POST and PUT /v1/networks[/{name}] and of their answers.
type Network struct {
	Name string `json:"name"`
	// Attachments are the bridge ports that carry the network; an answer
	// always has the array, empty if there are none.
	Attachments []Attachment `json:"attachments"`
	// EVPN is the network's membership of BGP EVPN; left out when it is
	// not in EVPN.
	EVPN *EVPN `json:"evpn,omitempty"`
	// Origin is the dynamic origin the network comes from, left out for
	// the API's own (static; see origin.go).
	Origin string `json:"origin,omitempty"`
}

// Attachment is a bridge port that carries a network: untagged when VLAN is
// 0 (omitted), else tagged with VLAN 1-4094.
type Attachment struct {
	Port string `json:"port"`
	VLAN uint16 `json:"vlan,omitempty"`
}

// EVPN is a network's membership of BGP EVPN.
type EVPN struct {
	// VNI is the network's VXLAN network identifier in EVPN routes,
	// 1-16777215, unique among EVPN networks.
	VNI uint32 `json:"vni"`
	// RouteTargets may be left out of a body (automatic); an answer
	// always has them.
	RouteTargets *RouteTargets `json:"route_targets,omitempty"`
}

// RouteTargets are an EVPN network's route targets, "ASN:NN" or
// "IPv4:NN", in canonical form in answers. An empty (or absent) list is
// automatic: export ASN:VNI, import any *:VNI.
type RouteTargets struct {
	Import []string `json:"import"`
	Export []string `json:"export"`
}

// networkOf is n as the API shows it.
func networkOf(n app.Network) Network {
	out := Network{Name: n.Name, Attachments: make([]Attachment, len(n.Attachments)), Origin: originOf(n.Origin)}
	for i, a := range n.Attachments {
		out.Attachments[i] = Attachment{Port: a.Port, VLAN: a.VLAN}
	}
	if e := n.EVPN; e != nil {
		out.EVPN = &EVPN{VNI: e.VNI, RouteTargets: &RouteTargets{
			Import: append([]string{}, e.ImportRTs...), Export: append([]string{}, e.ExportRTs...)}}
	}
	return out
}

// network is n as app takes it.
func (n Network) network() app.Network {
	out := app.Network{Name: n.Name, Attachments: make([]app.Attachment, len(n.Attachments))}
	for i, a := range n.Attachments {
		out.Attachments[i] = app.Attachment{Port: a.Port, VLAN: a.VLAN}
	}
	if e := n.EVPN; e != nil {
		out.EVPN = &app.EVPN{VNI: e.VNI}
		if rt := e.RouteTargets; rt != nil {
			out.EVPN.ImportRTs, out.EVPN.ExportRTs = rt.Import, rt.Export
		}
	}
	return out
}

// networkList is the body of GET /v1/networks.
type networkList struct {
	Networks []Network `json:"networks"`
}

// createNetwork serves POST /v1/networks.
func (h *handler) createNetwork(r *http.Request) (int, any, error) {
	var n Network
	if err := decodeWritable(r, &n, &n.Origin); err != nil {
		return 0, nil, err
	}
	created, err := h.state.CreateNetwork(n.network())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, networkOf(created), nil
}

// listNetworks serves GET /v1/networks.
func (h *handler) listNetworks(*http.Request) (int, any, error) {
	networks := h.state.ListNetworks()
	list := networkList{Networks: make([]Network, len(networks))}
	for i, n := range networks {
		list.Networks[i] = networkOf(n)
	}
	return http.StatusOK, list, nil
}

// getNetwork serves GET /v1/networks/{name}.
func (h *handler) getNetwork(r *http.Request) (int, any, error) {
	n, err := h.state.GetNetwork(mux.Vars(r)["name"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, networkOf(n), nil
}

// replaceNetwork serves PUT /v1/networks/{name}.
func (h *handler) replaceNetwork(r *http.Request) (int, any, error) {
	name := mux.Vars(r)["name"]
	var n Network
	if err := decodeWritable(r, &n, &n.Origin); err != nil {
		return 0, nil, err
	}
	if err := sameName(n.Name, name); err != nil {
		return 0, nil, err
	}
	replaced, err := h.state.ReplaceNetwork(name, n.network())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, networkOf(replaced), nil
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
