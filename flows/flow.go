package flows

import (
	"encoding/binary"

	"github.com/contiv/libOpenflow/openflow13"
)

// Flow is one OpenFlow 1.3 flow entry: where it lives (table, priority,
// match), what it does (instructions) and who owns it (cookie, see
// cookie.go). Match and Instructions are wire encodings: the ofp_match
// (padded) and the instruction list. A flow read back from the switch (a
// dump) carries its cookie, table and priority only: the cookie's content
// hash stands for the rest.
type Flow struct {
	Cookie       uint64
	Table        uint8
	Priority     uint16
	breach       breach // what the flow broke of its table's contract (contract.go)
	Match        []byte
	Instructions []byte

	add Mod // the OFPFC_ADD flow_mod; Match and Instructions are parts of it
}

// Mod is one flow_mod (or group_mod, see GroupChanges) message ready for
// the wire; its xid (bytes 4-7) is set when it is sent.
type Mod []byte

// isGroupMod reports whether m is a group_mod (else a flow_mod, once
// wellFormed).
func (m Mod) isGroupMod() bool { return len(m) >= 2 && m[1] == openflow13.Type_GroupMod }

// wellFormed reports whether m is one whole OpenFlow 1.3 flow_mod or
// group_mod.
func (m Mod) wellFormed() bool {
	if len(m) < ofpHeaderLen || m[0] != openflow13.VERSION || int(binary.BigEndian.Uint16(m[2:4])) != len(m) {
		return false
	}
	switch m[1] {
	case openflow13.Type_FlowMod:
		return len(m) >= flowModFixedLen
	case openflow13.Type_GroupMod:
		return len(m) >= groupModFixedLen
	}
	return false
}

// flowModFixedLen is the size of an OpenFlow 1.3 flow_mod without its match
// and instructions.
const flowModFixedLen = 48

// MaxMessageLen is the largest OpenFlow message (its length is 16 bits).
const MaxMessageLen = 1<<16 - 1

// WireLen is the size of f's flow_mod on the wire.
func (f *Flow) WireLen() int { return flowModFixedLen + len(f.Match) + len(f.Instructions) }

// AddMod returns the OFPFC_ADD flow_mod that installs f. A compiled flow
// is built as its flow_mod, so this costs nothing.
func (f *Flow) AddMod() Mod {
	if f.add == nil {
		f.add = flowMod(openflow13.FC_ADD, f.Cookie, 0, f.Table, f.Priority, f.Match, f.Instructions)
	}
	return f.add
}

// setCookie gives f cookie c (in its flow_mod too).
func (f *Flow) setCookie(c uint64) {
	f.Cookie = c
	if f.add != nil {
		binary.BigEndian.PutUint64(f.add[8:], c)
	}
}

// emptyMatch is an ofp_match that matches everything.
var emptyMatch = []byte{0, openflow13.MatchType_OXM, 0, 4, 0, 0, 0, 0}

// DeleteCookieMod returns the flow_mod that deletes the flow whose cookie is
// cookie, in any table: l2gwd's cookies are unique on the bridge, and OVS
// finds a flow by full cookie through an index.
func DeleteCookieMod(cookie uint64) Mod {
	return flowMod(openflow13.FC_DELETE, cookie, ^uint64(0), openflow13.OFPTT_ALL, 0, emptyMatch, nil)
}

// DeleteOwnerMod returns the flow_mod that deletes every flow of owner o,
// in any table, whatever their content. OVS finds them by walking its
// tables (a cookie mask is not its cookie index): ~0.1 s at two million
// flows, where DeleteCookieMod costs microseconds.
func DeleteOwnerMod(o Owner) Mod {
	return flowMod(openflow13.FC_DELETE, makeCookie(o, 0), OwnerCookieMask, openflow13.OFPTT_ALL, 0, emptyMatch, nil)
}

// flowMod encodes an ofp_flow_mod (no timeouts, no buffer (0xffffffff),
// any out port and group, no flags).
func flowMod(command uint8, cookie, cookieMask uint64, table uint8, priority uint16, match, instructions []byte) Mod {
	m := appendFlowModFixed(make(Mod, 0, flowModFixedLen+len(match)+len(instructions)), command, cookie, cookieMask, table, priority)
	m = append(m, match...)
	m = append(m, instructions...)
	binary.BigEndian.PutUint16(m[2:], uint16(len(m)))
	return m
}

// appendFlowModFixed appends the fixed part of an ofp_flow_mod; its length
// field is set once the match and instructions follow.
func appendFlowModFixed(m Mod, command uint8, cookie, cookieMask uint64, table uint8, priority uint16) Mod {
	start := len(m)
	m = append(m, make([]byte, flowModFixedLen)...)
	h := m[start:]
	h[0] = openflow13.VERSION
	h[1] = openflow13.Type_FlowMod
	binary.BigEndian.PutUint64(h[8:], cookie)
	binary.BigEndian.PutUint64(h[16:], cookieMask)
	h[24] = table
	h[25] = command
	binary.BigEndian.PutUint16(h[30:], priority)
	binary.BigEndian.PutUint32(h[32:], 0xffffffff) // no buffer
	binary.BigEndian.PutUint32(h[36:], openflow13.P_ANY)
	binary.BigEndian.PutUint32(h[40:], openflow13.OFPG_ANY)
	return m
}

// Cookies is a set of installed flows, known by their cookies alone: a
// cookie names one flow (its owner and content hash), so it is all l2gwd
// keeps of what the switch has.
type Cookies map[uint64]struct{}
