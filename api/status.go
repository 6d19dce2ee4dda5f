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
	// DesiredStateDigest is app.State.DesiredStateDigest: the same on two
	// gateways given the same configuration. The handler reads it from
	// its State when the status function leaves it "".
	DesiredStateDigest string `json:"desired_state_digest"`
	// HA is this node's standing in a gateway pair; left out when l2gwd
	// runs without --ha-peer.
	HA *HAStatus `json:"ha,omitempty"`
}

// HAStatus is a node's standing in an active/standby gateway pair (see
// app.HAStatus).
type HAStatus struct {
	Role           string `json:"role"` // active or standby
	Priority       uint8  `json:"priority"`
	Peer           string `json:"peer"`             // the peer's tunnel IP
	PeerBFD        string `json:"peer_bfd"`         // BFD to the peer over the underlay
	PeerSegmentBFD string `json:"peer_segment_bfd"` // BFD to the peer on the local segment
	PeerPriority   uint8  `json:"peer_priority"`    // 0 while unknown
	// PeerDigest is the peer's desired state digest; "" while unknown.
	PeerDigest string `json:"peer_desired_state_digest"`
	CPathDown  bool   `json:"cpath_down"` // remote sites are told not to use this node
	Reason     string `json:"reason"`     // why this role, in words
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
		Reconciled: s.Reconciled, Flows: s.Flows, FlowMods: s.FlowMods, Bundles: s.Bundles, DesiredStateDigest: s.DesiredStateDigest}
	if ha := s.HA; ha != nil {
		out.HA = &HAStatus{Role: ha.Role, Priority: ha.Priority, Peer: ha.Peer, PeerBFD: ha.PeerBFD,
			PeerSegmentBFD: ha.PeerSegmentBFD, PeerPriority: ha.PeerPriority, PeerDigest: ha.PeerDigest,
			CPathDown: ha.CPathDown, Reason: ha.Reason}
	}
	for _, o := range s.Origins {
		out.Origins = append(out.Origins, OriginStatus{Origin: o.Origin.String(), Synced: o.Synced,
			RemoteMACs: o.RemoteMACs, FloodTargets: o.FloodTargets, HeldFlows: o.HeldFlows})
	}
	return out
}

// getStatus serves GET /v1/status.
func (h *handler) getStatus(*http.Request) (int, any, error) {
	st := h.status()
	if st.DesiredStateDigest == "" && h.state != nil {
		st.DesiredStateDigest = h.state.DesiredStateDigest()
	}
	return http.StatusOK, statusOf(st), nil
}
