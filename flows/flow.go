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
