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
	Match        []byte
	Instructions []byte
}

// Mod is one flow_mod message ready for the wire; its xid (bytes 4-7) is
// set when it is sent.
type Mod []byte

// flowModFixedLen is the size of an OpenFlow 1.3 flow_mod without its match
// and instructions.
const flowModFixedLen = 48

// MaxMessageLen is the largest OpenFlow message (its length is 16 bits).
const MaxMessageLen = 1<<16 - 1

// WireLen is the size of f's flow_mod on the wire.
func (f *Flow) WireLen() int { return flowModFixedLen + len(f.Match) + len(f.Instructions) }

// AddMod returns the OFPFC_ADD flow_mod that installs f.
func (f *Flow) AddMod() Mod {
	return flowMod(openflow13.FC_ADD, f.Cookie, 0, f.Table, f.Priority, f.Match, f.Instructions)
}

// emptyMatch is an ofp_match that matches everything.
var emptyMatch = []byte{0, openflow13.MatchType_OXM, 0, 4, 0, 0, 0, 0}

// DeleteCookieMod returns the flow_mod that deletes the flow whose cookie is
// cookie, in any table: l2gwd's cookies are unique on the bridge, and OVS
// finds a flow by full cookie through an index.
func DeleteCookieMod(cookie uint64) Mod {
	return flowMod(openflow13.FC_DELETE, cookie, ^uint64(0), openflow13.OFPTT_ALL, 0, emptyMatch, nil)
}

// flowMod encodes an ofp_flow_mod (no timeouts, no buffer (0xffffffff),
// any out port and group, no flags).
func flowMod(command uint8, cookie, cookieMask uint64, table uint8, priority uint16, match, instructions []byte) Mod {
	n := flowModFixedLen + len(match) + len(instructions)
	m := make(Mod, flowModFixedLen, n)
	m[0] = openflow13.VERSION
	m[1] = openflow13.Type_FlowMod
	binary.BigEndian.PutUint16(m[2:], uint16(n))
	binary.BigEndian.PutUint64(m[8:], cookie)
	binary.BigEndian.PutUint64(m[16:], cookieMask)
	m[24] = table
	m[25] = command
	binary.BigEndian.PutUint16(m[30:], priority)
	binary.BigEndian.PutUint32(m[32:], 0xffffffff)
	binary.BigEndian.PutUint32(m[36:], openflow13.P_ANY)
	binary.BigEndian.PutUint32(m[40:], openflow13.OFPG_ANY)
	m = append(m, match...)
	return append(m, instructions...)
}
