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
	// Origins is the standing of each dynamic origin whose source runs;
	// left out when none does.
	Origins []OriginStatus `json:"origins,omitempty"`
}

// OriginStatus is a dynamic origin's standing.
type OriginStatus struct {
	Origin string `json:"origin"`
	// Synced says the origin has told everything since l2gwd started or
	// its source reset (or its hold time passed); until then what it told
	// before stays, in HeldFlows flows it has not told again.
	Synced       bool `json:"synced"`
	RemoteMACs   int  `json:"remote_macs"`
	FloodTargets int  `json:"flood_targets"`
	HeldFlows    int  `json:"held_flows"`
}

// statusOf is s as the API shows it.
func statusOf(s app.Status) Status {
	out := Status{Bridge: s.Bridge, Connected: s.Connected, OVSDBConnected: s.OVSDBConnected,
		Reconciled: s.Reconciled, Flows: s.Flows, FlowMods: s.FlowMods, Bundles: s.Bundles}
	for _, o := range s.Origins {
		out.Origins = append(out.Origins, OriginStatus{Origin: o.Origin.String(), Synced: o.Synced,
			RemoteMACs: o.RemoteMACs, FloodTargets: o.FloodTargets, HeldFlows: o.HeldFlows})
	}
	return out
}

// getStatus serves GET /v1/status.
func (h *handler) getStatus(*http.Request) (int, any, error) {
	return http.StatusOK, statusOf(h.status()), nil
}
