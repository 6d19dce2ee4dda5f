package flows

import "fmt"

// Cookie layout (64 bits):
//
//	63..60  tag: TagController for flows l2gwd computes, TagLearned for
//	        flows OVS's learn action creates
//	59..56  owner kind (Kind)
//	55..32  owner ID (network, connection or binding ID; tunnel type)
//	31..0   hash of the flow's own content (table, priority, match,
//	        instructions)
//
// The content hash lets a flow dump be diffed against the desired flows by
// cookie alone, without parsing actions back; the owner fields let a dump be
// read back to API objects.
const (
	TagController uint64 = 0xA
	TagLearned    uint64 = 0xB

	tagShift   = 60
	kindShift  = 56
	ownerShift = 32
	// MaxOwnerID is the largest owner ID a cookie can carry.
	MaxOwnerID = 1<<24 - 1
)

// ControllerCookieMask selects, with ControllerCookie, every flow l2gwd owns
// and, with LearnedTagCookie, every entry OVS's learn actions created.
const (
	ControllerCookie     = TagController << tagShift
	LearnedTagCookie     = TagLearned << tagShift
	ControllerCookieMask = uint64(0xF) << tagShift
)

// Kind is what owns a flow.
type Kind uint8

// Owner kinds.
const (
	KindPipeline   Kind = 0 // the fixed pipeline (miss flows)
	KindNetwork    Kind = 1 // a network: its attachments, learning, flooding
	KindConnection Kind = 2 // a connection: tunnel admission
	KindBinding    Kind = 3 // a static MAC binding: forwarding and ARP answers
	KindTunnel     Kind = 4 // a tunnel port (ID: tunnelTypeID)
)

func (k Kind) String() string {
	switch k {
	case KindPipeline:
		return "pipeline"
	case KindNetwork:
		return "network"
	case KindConnection:
		return "connection"
	case KindBinding:
		return "binding"
	case KindTunnel:
		return "tunnel"
	}
	return fmt.Sprintf("kind%d", uint8(k))
}

// Owner identifies the API object a flow belongs to.
type Owner struct {
	Kind Kind
	ID   uint32
}

func (o Owner) String() string { return fmt.Sprintf("%s/%d", o.Kind, o.ID) }

// makeCookie builds a controller cookie for owner with a content hash.
func makeCookie(o Owner, hash uint32) uint64 {
	return TagController<<tagShift | uint64(o.Kind&0xF)<<kindShift | uint64(o.ID&MaxOwnerID)<<ownerShift | uint64(hash)
}

// LearnedCookie is the cookie OVS gives entries learned in network id.
func LearnedCookie(networkID uint32) uint64 {
	return TagLearned<<tagShift | uint64(KindNetwork)<<kindShift | uint64(networkID&MaxOwnerID)<<ownerShift
}

// DecodeCookie reads a cookie back: its tag, owner and content hash.
func DecodeCookie(c uint64) (tag uint64, owner Owner, hash uint32) {
	return c >> tagShift, Owner{Kind: Kind(c >> kindShift & 0xF), ID: uint32(c>>ownerShift) & MaxOwnerID}, uint32(c)
}
