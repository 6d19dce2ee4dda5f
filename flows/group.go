package flows

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/contiv/libOpenflow/openflow13"
)

// GroupType is the type of an OpenFlow 1.3 group l2gwd may own. Select
// groups (weighted buckets) are not among them.
type GroupType uint8

// Group types.
const (
	// GroupAll runs every bucket (replication).
	GroupAll GroupType = openflow13.OFPGT_ALL
	// GroupIndirect runs its one bucket.
	GroupIndirect GroupType = openflow13.OFPGT_INDIRECT
	// GroupFastFailover runs the first bucket whose watch port is live:
	// OVS moves to the next one in the datapath, with no controller, when
	// a port goes down (a BFD-down tunnel port loses OpenFlow LIVE).
	GroupFastFailover GroupType = openflow13.OFPGT_FF
)

func (t GroupType) String() string {
	switch t {
	case GroupAll:
		return "all"
	case GroupIndirect:
		return "indirect"
	case GroupFastFailover:
		return "ff"
	}
	return fmt.Sprintf("type%d", uint8(t))
}

// Group is one OpenFlow group l2gwd owns: its ID, its type and its
// buckets, built once (NewGroup) as the ofp_bucket list of its group_mod,
// in the very encoding OVS dumps back, so that an installed group is
// compared with a desired one byte for byte (groups carry no cookie).
type Group struct {
	id      uint32
	typ     GroupType
	buckets []byte // ofp_bucket list
}

// Bucket is one bucket of a group: its actions and, in a fast-failover
// group, the port whose liveness it follows. Build it with TunnelBucket.
type Bucket struct {
	watchPort uint32
	actions   []byte
}

// TunnelBucket is the bucket that sends a packet to the remote tunnel
// endpoint remote through tunnelPort (a flow-based tunnel port: it sets
// tun_dst, or tun_ipv6_dst for an IPv6 remote, and outputs), live while
// watchPort is (in a fast-failover group: the per-remote BFD port of that
// endpoint). The tunnel key (tun_id) is the referencing flow's to set.
func TunnelBucket(watchPort, tunnelPort uint32, remote net.IP) Bucket {
	var acts []action
	if isIPv6(remote) {
		acts = []action{tunDstCleared, setField(tlv(hdrTunIPv6D, remote.To16(), nil))}
	} else {
		acts = []action{setField(tlv(hdrTunIPv4D, remote.To4(), nil))}
	}
	return bucket(watchPort, append(acts, output(tunnelPort))...)
}

// bucket builds a bucket of acts that watches watchPort.
func bucket(watchPort uint32, acts ...action) Bucket {
	b := Bucket{watchPort: watchPort}
	for _, a := range acts {
		b.actions = append(b.actions, a...)
	}
	return b
}

// Sizes of the fixed parts of group messages.
const (
	groupModFixedLen  = 16 // ofp_header, command, type, pad, group_id
	groupDescFixedLen = 8  // length, type, pad, group_id
	bucketFixedLen    = 16 // length, weight, watch_port, watch_group, pad
)

// NewGroup builds group id of type typ with buckets, in order (a
// fast-failover group prefers its first live bucket). id must be one of
// l2gwd's (GroupID): the others on the bridge are left alone. A
// fast-failover bucket must watch a port; the buckets of other types
// watch none (their watch ports are ignored). The group's group_mod, in a
// bundle add, must fit an OpenFlow message.
func NewGroup(id uint32, typ GroupType, buckets ...Bucket) (*Group, error) {
	if !IsControllerGroup(id) {
		return nil, fmt.Errorf("group %#x: not an l2gwd group ID", id)
	}
	switch typ {
	case GroupAll, GroupIndirect, GroupFastFailover:
	default:
		return nil, fmt.Errorf("group %#x: unsupported group type %s", id, typ)
	}
	if typ == GroupIndirect && len(buckets) != 1 {
		return nil, fmt.Errorf("group %#x: an indirect group has one bucket, not %d", id, len(buckets))
	}
	g := &Group{id: id, typ: typ}
	for i, b := range buckets {
		watch := uint32(openflow13.P_ANY)
		if typ == GroupFastFailover {
			if b.watchPort == 0 || b.watchPort > openflow13.P_MAX {
				return nil, fmt.Errorf("group %#x: fast-failover bucket %d watches no port", id, i)
			}
			watch = b.watchPort
		}
		n := bucketFixedLen + pad8(len(b.actions))
		g.buckets = binary.BigEndian.AppendUint16(g.buckets, uint16(n))
		g.buckets = binary.BigEndian.AppendUint16(g.buckets, 0) // weight: select groups only
		g.buckets = binary.BigEndian.AppendUint32(g.buckets, watch)
		g.buckets = binary.BigEndian.AppendUint32(g.buckets, openflow13.OFPG_ANY)
		g.buckets = append(g.buckets, 0, 0, 0, 0)
		g.buckets = append(g.buckets, b.actions...)
		g.buckets = append(g.buckets, make([]byte, pad8(len(b.actions))-len(b.actions))...)
	}
	if n := bundleAddHeaderLen + groupModFixedLen + len(g.buckets); n > MaxMessageLen {
		return nil, fmt.Errorf("group %#x: group_mod of %d bytes in its bundle add, over OpenFlow's limit of %d", id, n, MaxMessageLen)
	}
	return g, nil
}

// ID is the group's ID.
func (g *Group) ID() uint32 { return g.id }

// Type is the group's type.
func (g *Group) Type() GroupType { return g.typ }

func (g *Group) String() string {
	return fmt.Sprintf("group %#x (%s, %d bytes of buckets)", g.id, g.typ, len(g.buckets))
}

// same reports whether g and o are the same group: ID, type and buckets.
func (g *Group) same(o *Group) bool {
	return g.id == o.id && g.typ == o.typ && bytes.Equal(g.buckets, o.buckets)
}

// mod returns the group_mod that performs command (OFPGC_ADD or
// OFPGC_MODIFY) with g.
func (g *Group) mod(command uint16) Mod {
	m := groupModFixed(command, g.typ, g.id, len(g.buckets))
	return append(m, g.buckets...)
}

// groupDeleteMod returns the group_mod that deletes group id (and, in
// OVS, every flow that points to it).
func groupDeleteMod(id uint32) Mod {
	return groupModFixed(openflow13.OFPGC_DELETE, GroupAll, id, 0)
}

// groupModFixed encodes the fixed part of an ofp_group_mod whose buckets,
// of bucketsLen bytes, follow.
func groupModFixed(command uint16, typ GroupType, id uint32, bucketsLen int) Mod {
	m := make(Mod, groupModFixedLen, groupModFixedLen+bucketsLen)
	m[0] = openflow13.VERSION
	m[1] = openflow13.Type_GroupMod
	binary.BigEndian.PutUint16(m[2:], uint16(groupModFixedLen+bucketsLen))
	binary.BigEndian.PutUint16(m[8:], command)
	m[10] = byte(typ)
	binary.BigEndian.PutUint32(m[12:], id)
	return m
}

// GroupID is the ID of the group owner o owns: the upper half of its
// cookies (cookie.go: the origin's tag, the owner's kind and ID), so an
// owner has one group at most and l2gwd's group IDs never collide with
// the groups of anybody else who uses the cookie scheme's free tags.
func GroupID(o Owner) uint32 { return uint32(makeCookie(o, 0) >> 32) }

// IsControllerGroup reports whether id is the ID of a group l2gwd owns
// (GroupID of some owner): DumpGroups reports only those, and a
// reconciliation deletes only those.
func IsControllerGroup(id uint32) bool { return IsController(uint64(id) << 32) }

// GroupSet is a set of groups by ID (the key is the group's ID).
type GroupSet map[uint32]*Group

// GroupChanges is what turns the installed groups into the desired ones:
// the groups to add (desired, not installed), to modify (installed with
// other buckets or type) and the IDs of those to delete (installed, not
// desired), each sorted by ID. An unchanged group is in none.
type GroupChanges struct {
	Add, Modify []*Group
	Delete      []uint32
}

// DiffGroups compares desired with installed (as DumpGroups reports it).
func DiffGroups(desired, installed GroupSet) GroupChanges {
	var c GroupChanges
	for id, g := range desired {
		switch old, ok := installed[id]; {
		case !ok:
			c.Add = append(c.Add, g)
		case !old.same(g):
			c.Modify = append(c.Modify, g)
		}
	}
	for id := range installed {
		if _, ok := desired[id]; !ok {
			c.Delete = append(c.Delete, id)
		}
	}
	byID := func(a, b *Group) int { return int(int64(a.id) - int64(b.id)) }
	slices.SortFunc(c.Add, byID)
	slices.SortFunc(c.Modify, byID)
	slices.Sort(c.Delete)
	return c
}

// Empty reports whether there is nothing to change.
func (c GroupChanges) Empty() bool { return len(c.Add)+len(c.Modify)+len(c.Delete) == 0 }

// Around is the source of one bundle that makes the group changes around
// the flow_mods flows produces (nil: none): Before, then the flows, then
// After. The desired flows must point only to desired groups. A modified
// group keeps its flows (and its statistics) in OVS.
func (c GroupChanges) Around(flows ModSource) ModSource {
	return func(emit func(Mod) bool) error {
		for _, src := range []ModSource{c.Before(), flows, c.After()} {
			if src == nil {
				continue
			}
			stopped := false
			err := src(func(m Mod) bool {
				stopped = !emit(m)
				return !stopped
			})
			if err != nil || stopped {
				return err
			}
		}
		return nil
	}
}

// Before is the source of the group adds and modifies, which go before
// the flows of the same bundle, so that no added flow points at a missing
// group.
func (c GroupChanges) Before() ModSource {
	return func(emit func(Mod) bool) error {
		for _, g := range c.Add {
			if !emit(g.mod(openflow13.OFPGC_ADD)) {
				return nil
			}
		}
		for _, g := range c.Modify {
			if !emit(g.mod(openflow13.OFPGC_MODIFY)) {
				return nil
			}
		}
		return nil
	}
}

// After is the source of the group deletes, which go after the flows of
// the same bundle, once the flows that pointed to the deleted groups are
// gone or replaced (OVS deletes the flows that point to a group it
// deletes).
func (c GroupChanges) After() ModSource {
	return func(emit func(Mod) bool) error {
		for _, id := range c.Delete {
			if !emit(groupDeleteMod(id)) {
				return nil
			}
		}
		return nil
	}
}

// parseGroupDescReply decodes a group-description reply into an
// openflow13.MultipartReply whose body holds *groupDesc entries (one per
// group, l2gwd's or not), which libOpenflow cannot decode.
func parseGroupDescReply(b []byte) (*openflow13.MultipartReply, error) {
	rep := &openflow13.MultipartReply{}
	if err := rep.Header.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("group desc reply: %w", err)
	}
	if int(rep.Length) > len(b) || rep.Length < multipartHeaderLen {
		return nil, fmt.Errorf("group desc reply: length %d, have %d bytes", rep.Length, len(b))
	}
	rep.Type = binary.BigEndian.Uint16(b[8:10])
	rep.Flags = binary.BigEndian.Uint16(b[10:12])
	for body := b[multipartHeaderLen:rep.Length]; len(body) > 0; {
		if len(body) < groupDescFixedLen {
			return nil, fmt.Errorf("group desc reply: entry %d: %d bytes left", len(rep.Body), len(body))
		}
		n := int(binary.BigEndian.Uint16(body))
		if n < groupDescFixedLen || n > len(body) {
			return nil, fmt.Errorf("group desc reply: entry %d: length %d, have %d bytes", len(rep.Body), n, len(body))
		}
		if err := checkBuckets(body[groupDescFixedLen:n]); err != nil {
			return nil, fmt.Errorf("group desc reply: entry %d: %w", len(rep.Body), err)
		}
		rep.Body = append(rep.Body, &groupDesc{Group{id: binary.BigEndian.Uint32(body[4:8]), typ: GroupType(body[2]),
			buckets: slices.Clone(body[groupDescFixedLen:n])}})
		body = body[n:]
	}
	return rep, nil
}

// checkBuckets checks that b is a list of whole ofp_buckets.
func checkBuckets(b []byte) error {
	for i := 0; len(b) > 0; i++ {
		if len(b) < bucketFixedLen {
			return fmt.Errorf("bucket %d: %d bytes left", i, len(b))
		}
		n := int(binary.BigEndian.Uint16(b))
		if n < bucketFixedLen || n > len(b) {
			return fmt.Errorf("bucket %d: length %d, have %d bytes", i, n, len(b))
		}
		b = b[n:]
	}
	return nil
}

// groupDesc is one entry of a group-description reply.
type groupDesc struct{ Group }

// Len is the entry's length on the wire.
func (d *groupDesc) Len() uint16 { return uint16(groupDescFixedLen + len(d.buckets)) }

// MarshalBinary encodes the entry as the switch sent it.
func (d *groupDesc) MarshalBinary() ([]byte, error) {
	b := binary.BigEndian.AppendUint16(nil, d.Len())
	b = append(b, byte(d.typ), 0)
	b = binary.BigEndian.AppendUint32(b, d.id)
	return append(b, d.buckets...), nil
}

// UnmarshalBinary refuses: entries are decoded by parseGroupDescReply.
func (d *groupDesc) UnmarshalBinary([]byte) error {
	return errors.New("group desc entry: decoded by parseGroupDescReply")
}
