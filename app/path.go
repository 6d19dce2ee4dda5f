package app

import "slices"

// Field is a field of an object a request hands to State, as a Path names
// it.
type Field uint8

// Fields of the objects State takes.
const (
	FieldName           Field = iota + 1 // every object's name
	FieldAttachments                     // Network.Attachments
	FieldPort                            // Attachment.Port
	FieldVLAN                            // Attachment.VLAN
	FieldTunnelIP                        // RemoteGateway.TunnelIP
	FieldNetwork                         // Connection.Network
	FieldRemoteGateway                   // Connection.RemoteGateway
	FieldSegmentationID                  // Connection.SegmentationID
	FieldNetworkType                     // Connection.NetworkType
	FieldMACs                            // a batch of bindings; MACMove.MACs
	FieldMAC                             // MACBinding.MAC
	FieldIPs                             // MACBinding.IPs
	FieldTo                              // MACMove.To
	FieldFrom                            // MACMove.From
	FieldEVPN                            // Network.EVPN
	FieldVNI                             // EVPN.VNI
	FieldImportRTs                       // EVPN.ImportRTs
	FieldExportRTs                       // EVPN.ExportRTs
	FieldAddress                         // BGPPeer.Address
	FieldASN                             // BGPPeer.ASN
	FieldPassword                        // BGPPeer.Password
	FieldHoldTime                        // BGPPeer.HoldTime
	FieldKeepalive                       // BGPPeer.Keepalive
	FieldTunnelIPs                       // RemoteGateway.TunnelIPs
)

// PathStep is one step of a Path: into Field of an object or, when Field
// is 0, into element Index of a list.
type PathStep struct {
	Field Field
	Index int
}

// Path locates a value of a request from its top, e.g. FieldMACs, index
// 3, FieldIPs, index 0: the first IP of the fourth binding.
type Path []PathStep

// At is the path of the top-level field f.
func At(f Field) Path { return Path{{Field: f}} }

// Field is p, then field f of the object p locates.
func (p Path) Field(f Field) Path { return append(slices.Clip(p), PathStep{Field: f}) }

// Index is p, then element i of the list p locates.
func (p Path) Index(i int) Path { return append(slices.Clip(p), PathStep{Index: i}) }
