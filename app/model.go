// Package app owns the desired state of one site's gateway: the API objects
// (networks, remote gateways, connections, MAC bindings), their validation and
// durable store, and the reconciler that turns them into flows and tunnel
// ports. It never speaks HTTP (package api does) and never builds an OpenFlow
// message itself (package flows does).
package app

// Network is a local layer-2 segment on the gateway bridge.
type Network struct {
	Name        string       `json:"name"`
	Attachments []Attachment `json:"attachments"`
	// ID is the network's number in the data path (register and cookie);
	// assigned by the store, stable for the network's life, never reused
	// while the network exists.
	ID uint32 `json:"-"`
}

// Attachment is a bridge port that carries a network: untagged when VLAN is
// 0, else tagged with VLAN (1-4094; stripped on ingress, pushed on egress).
type Attachment struct {
	Port string `json:"port"`
	VLAN uint16 `json:"vlan,omitempty"`
}

// RemoteGateway is another site's tunnel endpoint.
type RemoteGateway struct {
	Name     string `json:"name"`
	TunnelIP string `json:"tunnel_ip"`
}

// Network types (tunnel encapsulations) a connection may use.
const (
	TypeVXLAN  = "vxlan"
	TypeGRE    = "gre"
	TypeGeneve = "geneve"
)

// Connection joins a network to a remote gateway on one segmentation ID.
type Connection struct {
	Name           string `json:"name"`
	Network        string `json:"network"`
	RemoteGateway  string `json:"remote_gateway"`
	SegmentationID uint32 `json:"segmentation_id"`
	NetworkType    string `json:"network_type"`
	Flood          bool   `json:"flood"`
	// ID is the connection's number in cookies; assigned by the store.
	ID uint32 `json:"-"`
	// Origin is where the connection comes from: static for the API's,
	// else the first origin in precedence that names its tunnel.
	Origin Origin `json:"-"`
	// TunnelIP is the remote endpoint of a connection a dynamic origin
	// named; "" for an API connection (its remote gateway has it).
	TunnelIP string `json:"-"`
}

// MACBinding is a static MAC (and its IP addresses) reachable through a
// connection's remote gateway.
type MACBinding struct {
	MAC string   `json:"mac"`
	IPs []string `json:"ips,omitempty"`
	// ID is the binding's number in cookies; assigned by the store.
	ID uint32 `json:"-"`
	// Origin is static for the API's bindings, else the dynamic origin
	// that told the remote MAC.
	Origin Origin `json:"-"`
}

// Snapshot is a consistent, read-only copy of the whole desired state.
type Snapshot struct {
	Networks       []Network
	RemoteGateways []RemoteGateway
	Connections    []Connection
	// MACs holds each connection's bindings, keyed by connection name.
	MACs map[string][]MACBinding
}

// Status is the daemon's view of its switch, as GET /v1/status serves it.
type Status struct {
	Bridge         string `json:"bridge"`
	Connected      bool   `json:"connected"`       // OpenFlow session with the bridge is up
	OVSDBConnected bool   `json:"ovsdb_connected"` // OVSDB session is up
	Reconciled     bool   `json:"reconciled"`      // installed flows match the latest committed desired state
	Flows          int    `json:"flows"`           // flows the controller owns on the bridge
	FlowMods       uint64 `json:"flow_mods"`       // flow_mods sent since l2gwd started
	Bundles        uint64 `json:"bundles"`         // OpenFlow bundles committed since l2gwd started
	// Origins is the standing of each dynamic origin with a feed.
	Origins []OriginStatus `json:"-"`
}
