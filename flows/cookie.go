package flows

import "fmt"

// Cookie layout (64 bits):
//
//	63..60  tag: the origin of the flow's owner for flows l2gwd computes
//	        (TagController for the topology and the static bindings,
//	        TagVTEP and TagEVPN for what dynamic origins told), TagLearned
//	        for flows OVS's learn action creates
//	59..56  owner kind (Kind)
//	55..32  owner ID (network, connection or binding ID; tunnel type)
//	31..0   hash of the flow's own content (table, priority, match,
//	        instructions)
//
// The content hash lets a flow dump be diffed against the desired flows by
// cookie alone, without parsing actions back; the owner fields let a dump be
// read back to API objects, and the tag lets it be read back per origin
// (Origin.Cookie).
const (
	TagController uint64 = 0xA
	TagLearned    uint64 = 0xB
	TagVTEP       uint64 = 0xC
	TagEVPN       uint64 = 0xD

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

// OwnerCookieMask selects, under a cookie made for an owner, every flow of
// that owner whatever its content hash.
const OwnerCookieMask = uint64(0xFFFFFFFF) << ownerShift

// AnyTagCookie, as both cookie and mask, selects the flows of every tag
// (each has the top bit set), and others' flows whose cookies have it.
const AnyTagCookie = uint64(0x8) << tagShift

// Origin is where the desired state a flow serves comes from. The static
// origin (the API, and the topology every origin shares) has tag
// TagController; each dynamic origin has a tag of its own, so that the
// flows of an origin that has not told everything since a restart can be
// told apart from the others and kept until it has.
type Origin uint8

// Origins, in order of precedence: when two disagree about a MAC or an IP
// in one network, the lower value wins.
const (
	OriginStatic Origin = 0 // the HTTP API (and the topology)
	OriginVTEP   Origin = 1 // the OVSDB hardware_vtep schema
	OriginEVPN   Origin = 2 // BGP EVPN
)

// Origins lists every origin, in order of precedence.
var Origins = []Origin{OriginStatic, OriginVTEP, OriginEVPN}

// originTags are the cookie tags of the origins.
var originTags = [...]uint64{OriginStatic: TagController, OriginVTEP: TagVTEP, OriginEVPN: TagEVPN}

// originNames name the origins, as the API does.
var originNames = [...]string{OriginStatic: "static", OriginVTEP: "vtep", OriginEVPN: "evpn"}

func (o Origin) String() string {
	if int(o) < len(originNames) {
		return originNames[o]
	}
	return fmt.Sprintf("origin%d", uint8(o))
}

// Dynamic reports whether o is told by a feed rather than stored.
func (o Origin) Dynamic() bool { return o != OriginStatic }

// Cookie is the cookie that, under ControllerCookieMask, selects every flow
// of origin o.
func (o Origin) Cookie() uint64 { return originTags[o] << tagShift }

// ComputedTag reports whether tag is that of flows l2gwd computes (any
// origin's), whose cookies end with their content hash.
func ComputedTag(tag uint64) bool {
	_, ok := originOfTag(tag)
	return ok
}

// computedTag reports whether cookie is that of a flow l2gwd computes.
func computedTag(cookie uint64) bool { return ComputedTag(cookie >> tagShift) }

// originOfTag returns the origin whose flows carry tag, if any.
func originOfTag(tag uint64) (Origin, bool) {
	for o, t := range originTags {
		if t == tag {
			return Origin(o), true
		}
	}
	return 0, false
}

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

// Owner identifies the object a flow belongs to: its kind and ID, and the
// origin it comes from (the cookie's tag).
type Owner struct {
	Kind   Kind
	ID     uint32
	Origin Origin
}

func (o Owner) String() string {
	if o.Origin.Dynamic() {
		return fmt.Sprintf("%s %s/%d", o.Origin, o.Kind, o.ID)
	}
	return fmt.Sprintf("%s/%d", o.Kind, o.ID)
}

// Cookie is the cookie of o's flow whose content hash is hash.
func (o Owner) Cookie(hash uint32) uint64 { return makeCookie(o, hash) }

// makeCookie builds a controller cookie for owner with a content hash.
func makeCookie(o Owner, hash uint32) uint64 {
	return originTags[o.Origin]<<tagShift | uint64(o.Kind&0xF)<<kindShift | uint64(o.ID&MaxOwnerID)<<ownerShift | uint64(hash)
}

// LearnedCookie is the cookie OVS gives entries learned in network id.
func LearnedCookie(networkID uint32) uint64 {
	return TagLearned<<tagShift | uint64(KindNetwork)<<kindShift | uint64(networkID&MaxOwnerID)<<ownerShift
}

// DecodeCookie reads a cookie back: its tag, owner and content hash. The
// owner's origin is the tag's (static for a tag that is no origin's).
func DecodeCookie(c uint64) (tag uint64, owner Owner, hash uint32) {
	tag = c >> tagShift
	origin, _ := originOfTag(tag)
	return tag, Owner{Kind: Kind(c >> kindShift & 0xF), ID: uint32(c>>ownerShift) & MaxOwnerID, Origin: origin}, uint32(c)
}

// IsController reports whether c is the cookie of a flow l2gwd computes,
// of any origin.
func IsController(c uint64) bool {
	_, ok := originOfTag(c >> tagShift)
	return ok
}
