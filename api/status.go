package api

import (
	"net/http"

	"github.com/l2gw/l2gw/app"
)

// Status is the daemon's view of its switch: the answer of GET /v1/status.
type Status struct {
	Bridge         string `json:"bridge"`
	Connected      bool   `json:"connected"`       // OpenFlow session with the bridge is up
	OVSDBConnected bool   `json:"ovsdb_connected"` // OVSDB session is up
	Reconciled     bool   `json:"reconciled"`      // installed flows match the latest committed desired state
	Flows          int    `json:"flows"`           // flows the controller owns on the bridge
	FlowMods       uint64 `json:"flow_mods"`       // flow_mods sent since l2gwd started
	Bundles        uint64 `json:"bundles"`         // OpenFlow bundles committed since l2gwd started
}

// statusOf is s as the API shows it.
func statusOf(s app.Status) Status {
	return Status{Bridge: s.Bridge, Connected: s.Connected, OVSDBConnected: s.OVSDBConnected,
		Reconciled: s.Reconciled, Flows: s.Flows, FlowMods: s.FlowMods, Bundles: s.Bundles}
}

// getStatus serves GET /v1/status.
func (h *handler) getStatus(*http.Request) (int, any, error) {
	return http.StatusOK, statusOf(h.status()), nil
}
