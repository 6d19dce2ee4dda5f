package flows

import (
	"github.com/contiv/libOpenflow/openflow13"
)

// Flow is one OpenFlow 1.3 flow entry: where it lives (table, priority, match),
// what it does (instructions) and who owns it (cookie, see cookie.go).
//
// A Flow read back from the switch (a flow dump) carries its cookie, table,
// priority and match but no instructions: the cookie's content hash stands for
// them.
type Flow struct {
	Cookie       uint64
	Table        uint8
	Priority     uint16
	Match        openflow13.Match
	Instructions []openflow13.Instruction
}

// AddMod returns the OFPFC_ADD flow_mod that installs f.
func (f *Flow) AddMod() *openflow13.FlowMod {
	m := openflow13.NewFlowMod()
	m.Command = openflow13.FC_ADD
	m.Cookie = f.Cookie
	m.TableId = f.Table
	m.Priority = f.Priority
	m.Match = f.Match
	m.Instructions = f.Instructions
	return m
}

// DeleteMod returns the OFPFC_DELETE_STRICT flow_mod that removes exactly f:
// same table, priority and match, and (through a full cookie mask) the same
// cookie, so a flow that replaced f with another cookie is left alone.
func (f *Flow) DeleteMod() *openflow13.FlowMod {
	m := openflow13.NewFlowMod()
	m.Command = openflow13.FC_DELETE_STRICT
	m.Cookie = f.Cookie
	m.CookieMask = ^uint64(0)
	m.TableId = f.Table
	m.Priority = f.Priority
	m.Match = f.Match
	m.OutPort = openflow13.P_ANY
	m.OutGroup = openflow13.OFPG_ANY
	return m
}

// flowModFixedLen is the size of an OpenFlow 1.3 flow_mod without its match
// and instructions.
const flowModFixedLen = 48

// MaxMessageLen is the largest OpenFlow message (its length is 16 bits).
const MaxMessageLen = 1<<16 - 1

// WireLen is the size of f's flow_mod on the wire, computed without the
// 16-bit length fields that would wrap for an oversized flow.
func (f *Flow) WireLen() int {
	n := flowModFixedLen + int(f.Match.Len())
	for _, in := range f.Instructions {
		if acts, ok := in.(*openflow13.InstrActions); ok {
			n += 8
			for _, a := range acts.Actions {
				n += int(a.Len())
			}
			continue
		}
		n += int(in.Len())
	}
	return n
}
