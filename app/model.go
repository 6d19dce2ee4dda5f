// Package app owns the desired state of one site's gateway: the API objects
// (networks, remote gateways, connections, MAC bindings, BGP peers), their
// validation and durable store, and the reconciler that turns them into
// flows and tunnel ports. It speaks Go types and typed errors (Error: a Kind and a Path of
// Fields) and never HTTP or JSON: package api owns the wire shapes, the
// error codes and the field paths' text. Its one JSON is the store's own
// record format (store.go). It never builds an OpenFlow message itself
// (package flows does).
package app

// Network is a local layer-2 segment on the gateway bridge.
type Network struct {
	Name        string
	Attachments []Attachment
	// ID is the network's number in the data path (register and cookie);
	// assigned by the store, stable for the network's life, never reused
	// while the network exists.
	ID uint32
	// EVPN is the network's membership of BGP EVPN; nil when it is not
	// in EVPN.
	EVPN *EVPN
	// Origin is where the network comes from: static for the API's, else
	// the dynamic origin whose feed told it (see feednetworks.go).
	Origin Origin
}

// EVPN is a network's membership of BGP EVPN.
type EVPN struct {
	// VNI is the network's VXLAN network identifier in EVPN routes,
	// 1-16777215, unique among EVPN networks.
	VNI uint32
	// ImportRTs and ExportRTs are route targets in canonical text
	// (decimal, no leading zeros): "ASN:NN" (an ASN up to 65535 and a
	// number up to 4294967295, or a larger ASN and a number up to 65535)
	// or "IPv4:NN" (a number up to 65535). An empty list is automatic:
	// export ASN:VNI, import any *:VNI.
	ImportRTs []string
	ExportRTs []string
}

// Attachment is a bridge port that carries a network: untagged when VLAN is
// 0, else tagged with VLAN (1-4094; stripped on ingress, pushed on egress).
type Attachment struct {
	Port string
	VLAN uint16
}

// RemoteGateway is another site's gateway: one tunnel endpoint, or
// several (the nodes of a gateway pair) in preference order.
type RemoteGateway struct {
	Name string
	// TunnelIP is the first endpoint, TunnelIPs[0]. A gateway handed to
	// State with TunnelIP alone has that one endpoint.
	TunnelIP string
	// TunnelIPs are the gateway's endpoints in preference order, 1 to
	// MaxTunnelIPs of them, all IPv4 or all IPv6: traffic to the gateway
	// goes to the first one that is up. A gateway handed to State with
	// both must have TunnelIP == TunnelIPs[0]; State answers with both
	// filled in, in canonical form.
	TunnelIPs []string
}

// Endpoints is the gateway's endpoints in preference order: TunnelIPs,
// or TunnelIP alone when TunnelIPs is empty (nil when neither is set).
func (g RemoteGateway) Endpoints() []string {
	switch {
	case len(g.TunnelIPs) > 0:
		return g.TunnelIPs
	case g.TunnelIP != "":
		return []string{g.TunnelIP}
	}
	return nil
}

// EndpointStatus is what the switch says of one endpoint of a remote
// gateway.
type EndpointStatus struct {
	TunnelIP string
	// BFD is the endpoint's BFD session state as OVS reports it ("up",
	// "down", "init", "admin_down"), or "" when no BFD runs to it.
	BFD string
	// InUse says traffic to the gateway goes to this endpoint now.
	InUse bool
}

// Network types (tunnel encapsulations) a connection may use.
const (
	TypeVXLAN  = "vxlan"
	TypeGRE    = "gre"
	TypeGeneve = "geneve"
)

// Connection joins a network to a remote gateway on one segmentation ID.
type Connection struct {
	Name           string
	Network        string
	RemoteGateway  string
	SegmentationID uint32
	NetworkType    string
	Flood          bool
	// ID is the connection's number in cookies; assigned by the store.
	ID uint32
	// Origin is where the connection comes from: static for the API's,
	// else the first origin in precedence that names its tunnel.
	Origin Origin
	// TunnelIP is the remote endpoint of a connection a dynamic origin
	// named; "" for an API connection (its remote gateway has it).
	TunnelIP string
}

// MACBinding is a static MAC (and its IP addresses) reachable through a
// connection's remote gateway.
type MACBinding struct {
	MAC string
	IPs []string
	// ID is the binding's number in cookies; assigned by the store.
	ID uint32
	// Origin is static for the API's bindings, else the dynamic origin
	// that told the remote MAC.
	Origin Origin
}

// MACBatch is a batch of bindings handed to AddMACs or ReplaceMACs in the
// caller's own form: Len bindings, binding i read by Binding (its ID is
// ignored). A caller that decoded a large batch hands it over as it is,
// not copied into MACBindings first. A nil MACBatch is empty.
type MACBatch interface {
	Len() int
	Binding(i int) MACBinding
}

// MACBindings is a MACBatch of MACBindings.
type MACBindings []MACBinding

// Len is the number of bindings.
func (b MACBindings) Len() int { return len(b) }

// Binding is binding i.
func (b MACBindings) Binding(i int) MACBinding { return b[i] }

// batchLen is the number of bindings of b, 0 for nil.
func batchLen(b MACBatch) int {
	if b == nil {
		return 0
	}
	return b.Len()
}

// Snapshot is a consistent, read-only copy of the whole desired state.
type Snapshot struct {
	Networks       []Network
	RemoteGateways []RemoteGateway
	Connections    []Connection
	// MACs holds each connection's bindings, keyed by connection name.
	MACs map[string][]MACBinding
}

// Status is the daemon's view of its switch.
type Status struct {
	Bridge         string
	Connected      bool   // OpenFlow session with the bridge is up
	OVSDBConnected bool   // OVSDB session is up
	Reconciled     bool   // installed flows match the latest committed desired state
	Flows          int    // flows the controller owns on the bridge
	FlowMods       uint64 // flow_mods sent since l2gwd started
	Bundles        uint64 // OpenFlow bundles committed since l2gwd started
	// Origins is the standing of each dynamic origin with a feed.
	Origins []OriginStatus
	// DesiredStateDigest is State.DesiredStateDigest: equal on two
	// gateways given the same configuration.
	DesiredStateDigest string
	// HA is this node's standing in a gateway pair; nil when l2gwd runs
	// without a peer (--ha-peer).
	HA *HAStatus
}

// HAStatus is a node's standing in an active/standby gateway pair.
type HAStatus struct {
	// Role is "active" or "standby".
	Role string
	// Priority is this node's priority (1-255; the higher is primary).
	Priority uint8
	// Peer is the other node's tunnel IP.
	Peer string
	// PeerBFD is the state of BFD to the peer over the underlay ("up",
	// "down", "init", "admin_down"); PeerSegmentBFD that on the local
	// segment (the attachments).
	PeerBFD        string
	PeerSegmentBFD string
	// PeerPriority is the priority the peer told; 0 while unknown.
	PeerPriority uint8
	// PeerDigest is the desired state digest the peer told; "" while
	// unknown.
	PeerDigest string
	// CPathDown says this node tells remote sites and its peer not to
	// use it (BFD's concatenated path down).
	CPathDown bool
	// Reason says, in words, why the node has this role.
	Reason string
}
