package flows

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/contiv/libOpenflow/openflow13"
)

// Every flow is checked against its table's contract (Pipeline) when it is
// built: the fields it matches, the registers and fields it writes, the
// tables it goes to, resubmits to and learns into, and the flows its learn
// actions add, against the contract of the table they are added to. A flow
// that breaks its contract is a programming error; it is built all the same,
// carrying what it broke (Flow.breach), and compiling it fails with an error
// that names its table and the field or table at fault.
//
// The builder checks each match field, action and goto as it is given them
// (builder.go), on their encoding, so it checks what is sent to the switch.
// The check allocates nothing and finds a field in a table's contract with
// two loads, in bit sets built once from Pipeline, so that it costs the
// compiler little: about 130 ns for a binding's two flows
// (BenchmarkContractCheck), some 2% of compiling 100,000 bindings.

// breach is what a flow broke of its table's contract: 0 when nothing, or a
// breachKind in the top 4 bits and its subject (a field key, a table ID, an
// action) in the others.
type breach uint32

type breachKind uint32

const (
	breachMatch        breachKind = iota + 1 // subject: field key
	breachWrite                              // field key
	breachGoto                               // table
	breachResubmit                           // table
	breachLearnTable                         // table
	breachLearnedMatch                       // field key
	breachLearnedWrite                       // field key
	breachAction                             // action type, or NX subtype | nxSubject
	breachTable                              // the flow's table is not in Pipeline
	breachMalformed                          // an action the check cannot read
	breachController                         // none: a copy to the controller
	breachGroup                              // groupNotAllowed or groupForeign
)

// breachGroup subjects: a group action in a table whose contract has no
// Groups, or to a group that is not l2gwd's.
const (
	groupNotAllowed = iota
	groupForeign
)

// nxSubject marks a breachAction subject as a Nicira subtype.
const nxSubject = 1 << 16

// unmetered is the breachController subject of a plain output to the
// controller, which no meter limits.
const unmetered = 1

func newBreach(k breachKind, subject uint32) breach { return breach(uint32(k)<<28 | subject&(1<<28-1)) }

func (b breach) kind() breachKind { return breachKind(b >> 28) }
func (b breach) subject() uint32  { return uint32(b) & (1<<28 - 1) }

// fieldKey identifies a field by its OXM/NXM class and field number: its
// header without the has-mask bit and the length.
func fieldKey(header uint32) uint32 { return header >> 9 }

// contractFields names every field a contract may declare, under each of
// its headers (OXM and NXM), as ovs-ofctl names it.
var contractFields = func() map[uint32]string {
	m := map[uint32]string{fieldKey(hdrNDReserved): "nd_reserved", fieldKey(hdrNDOptsType): "nd_options_type"}
	for i, h := range hdrRegs {
		m[fieldKey(h)] = fmt.Sprintf("reg%d", i)
	}
	for name, headers := range map[string][]string{
		"in_port":      {"OXM_OF_IN_PORT", "NXM_OF_IN_PORT"},
		"vlan_vid":     {"OXM_OF_VLAN_VID"},
		"eth_src":      {"OXM_OF_ETH_SRC", "NXM_OF_ETH_SRC"},
		"eth_dst":      {"OXM_OF_ETH_DST", "NXM_OF_ETH_DST"},
		"eth_type":     {"OXM_OF_ETH_TYPE", "NXM_OF_ETH_TYPE"},
		"arp_op":       {"OXM_OF_ARP_OP", "NXM_OF_ARP_OP"},
		"arp_spa":      {"OXM_OF_ARP_SPA", "NXM_OF_ARP_SPA"},
		"arp_tpa":      {"OXM_OF_ARP_TPA", "NXM_OF_ARP_TPA"},
		"arp_sha":      {"OXM_OF_ARP_SHA", "NXM_NX_ARP_SHA"},
		"arp_tha":      {"OXM_OF_ARP_THA", "NXM_NX_ARP_THA"},
		"ip_proto":     {"OXM_OF_IP_PROTO", "NXM_OF_IP_PROTO"},
		"ipv6_src":     {"OXM_OF_IPV6_SRC", "NXM_NX_IPV6_SRC"},
		"ipv6_dst":     {"OXM_OF_IPV6_DST", "NXM_NX_IPV6_DST"},
		"icmpv6_type":  {"OXM_OF_ICMPV6_TYPE", "NXM_NX_ICMPV6_TYPE"},
		"icmpv6_code":  {"OXM_OF_ICMPV6_CODE", "NXM_NX_ICMPV6_CODE"},
		"nd_target":    {"OXM_OF_IPV6_ND_TARGET", "NXM_NX_ND_TARGET"},
		"nd_sll":       {"OXM_OF_IPV6_ND_SLL", "NXM_NX_ND_SLL"},
		"nd_tll":       {"OXM_OF_IPV6_ND_TLL", "NXM_NX_ND_TLL"},
		"tun_id":       {"OXM_OF_TUNNEL_ID", "NXM_NX_TUN_ID"},
		"tun_src":      {"NXM_NX_TUN_IPV4_SRC"},
		"tun_dst":      {"NXM_NX_TUN_IPV4_DST"},
		"tun_ipv6_src": {"NXM_NX_TUN_IPV6_SRC"},
		"tun_ipv6_dst": {"NXM_NX_TUN_IPV6_DST"},
	} {
		for _, h := range headers {
			m[fieldKey(fieldHeader(h))] = name
		}
	}
	return m
}()

// fieldKeyName names the field with key k for an error message.
func fieldKeyName(k uint32) string {
	if name, ok := contractFields[k]; ok {
		return name
	}
	return fmt.Sprintf("field %d of class %#04x", k&0x7f, k>>7)
}

// fieldSet is a set of fields, by OXM class and field number: the field
// with key k is bit k&0x7f of its class's bits. The classes are those of
// contractFields, numbered by classSlots.
type fieldSet [4][2]uint64

// classSlots maps an OXM class to its index in a fieldSet, with slotKnown
// set (0: a class no contract field has). A table as large as the classes,
// so that the check finds a field's bit in two loads.
var classSlots = func() (slots [1 << 16]uint8) {
	n := uint8(0)
	for _, k := range slices.Sorted(maps.Keys(contractFields)) {
		if c := k >> 7; slots[c] == 0 {
			if int(n) == len(fieldSet{}) {
				panic("flows: contract fields of more OXM classes than a fieldSet holds")
			}
			slots[c] = slotKnown | n
			n++
		}
	}
	return slots
}()

const slotKnown = 4

func (s *fieldSet) add(k uint32) { s[classSlots[k>>7&0xffff]&3][k>>6&1] |= 1 << (k & 63) }

// has reports whether the field with key k is in s.
func (s *fieldSet) has(k uint32) bool {
	slot := classSlots[k>>7&0xffff]
	return slot&slotKnown != 0 && s[slot&3][k>>6&1]&(1<<(k&63)) != 0
}

// tableSet is a set of table IDs.
type tableSet [4]uint64

func (s *tableSet) add(id uint8)      { s[id/64] |= 1 << (id % 64) }
func (s *tableSet) has(id uint8) bool { return s[id/64]&(1<<(id%64)) != 0 }
func newTableSet(ids []uint8) (s tableSet) {
	for _, id := range ids {
		s.add(id)
	}
	return s
}

// tableRules is a table's contract in the form the check reads.
type tableRules struct {
	declared, controller, groups bool
	matches, writes              fieldSet // writes: Loads and Sets
	next, resubmits, learns      tableSet
	bucketResubmits              tableSet // resubmits of its groups' buckets: Resubmits and BucketResubmits
}

func (r *tableRules) mayMatch(k uint32) bool { return r.matches.has(k) }
func (r *tableRules) mayWrite(k uint32) bool { return r.writes.has(k) }

// contracts are Pipeline's tables, indexed by table ID.
var contracts = buildContracts(Pipeline)

// buildContracts turns table declarations into the check's rules. A field
// name no header is known by is a mistake in the declaration: it panics,
// when the package is initialised.
func buildContracts(tables []Table) *[256]tableRules {
	keys := map[string][]uint32{}
	for k, name := range contractFields {
		keys[name] = append(keys[name], k)
	}
	set := func(t Table, names ...[]string) (s fieldSet) {
		for _, list := range names {
			for _, name := range list {
				ks, ok := keys[name]
				if !ok {
					panic(fmt.Sprintf("flows: table %s's contract names unknown field %q", t.Name, name))
				}
				for _, k := range ks {
					s.add(k)
				}
			}
		}
		return s
	}
	var rules [256]tableRules
	for _, t := range tables {
		rules[t.ID] = tableRules{declared: true, controller: t.Controller, groups: t.Groups,
			matches: set(t, t.Matches), writes: set(t, t.Loads, t.Sets),
			next: newTableSet(t.Next), resubmits: newTableSet(t.Resubmits), learns: newTableSet(t.Learns),
			bucketResubmits: newTableSet(append(slices.Clone(t.Resubmits), t.BucketResubmits...))}
	}
	return &rules
}

// checkContract returns what a flow of table with match TLVs fields (no
// ofp_match header), apply-actions actions and goto table next (-1: none)
// breaks of its table's contract in rules. The builder runs its parts as it
// is given each match field and action (builder.go).
func checkContract(rules *[256]tableRules, table uint8, fields, actions []byte, next int) breach {
	r := &rules[table]
	if !r.declared {
		return newBreach(breachTable, uint32(table))
	}
	for len(fields) >= 4 {
		n := min(len(fields), 4+int(fields[3]))
		if b := checkMatch(r, fields[:n]); b != 0 {
			return b
		}
		fields = fields[n:]
	}
	if b := checkGoto(r, table, next); b != 0 {
		return b
	}
	return checkActions(rules, r, actions)
}

// checkMatch checks the match TLV f of a flow of the table whose rules are r.
func checkMatch(r *tableRules, f []byte) breach {
	if k := fieldKey(binary.BigEndian.Uint32(f)); !r.matches.has(k) {
		return newBreach(breachMatch, k)
	}
	return 0
}

// checkGoto checks a goto to table next (-1: none) of a flow of table.
func checkGoto(r *tableRules, table uint8, next int) breach {
	if next >= 0 && (next <= int(table) || !r.next.has(uint8(next))) {
		return newBreach(breachGoto, uint32(next))
	}
	return 0
}

// checkActions checks a list of actions of a flow of the table whose rules
// are r. It runs on every action built, so it is written to be cheap: one
// pass, no calls on the common paths.
func checkActions(rules *[256]tableRules, r *tableRules, actions []byte) breach {
	for len(actions) > 0 {
		n := 0
		if len(actions) >= 8 {
			n = int(binary.BigEndian.Uint16(actions[2:]))
		}
		if n < 8 || n > len(actions) {
			return newBreach(breachMalformed, 0)
		}
		a := actions[:n]
		actions = actions[n:]
		var written uint32 // the key of the field a writes
		switch typ := binary.BigEndian.Uint16(a); typ {
		case openflow13.ActionType_Output:
			if binary.BigEndian.Uint32(a[4:]) == openflow13.P_CONTROLLER {
				return newBreach(breachController, unmetered)
			}
			continue
		case openflow13.ActionType_Group:
			switch {
			case !r.groups:
				return newBreach(breachGroup, groupNotAllowed)
			case !IsControllerGroup(binary.BigEndian.Uint32(a[4:])):
				return newBreach(breachGroup, groupForeign)
			}
			continue
		case openflow13.ActionType_PushVlan, openflow13.ActionType_PopVlan:
			written = fieldKey(hdrVLANVID)
		case openflow13.ActionType_SetField:
			written = fieldKey(binary.BigEndian.Uint32(a[4:]))
		case openflow13.ActionType_Experimenter:
			if n < 16 || binary.BigEndian.Uint32(a[4:]) != openflow13.NxExperimenterID {
				return newBreach(breachMalformed, 0)
			}
			switch sub := binary.BigEndian.Uint16(a[8:]); sub {
			case openflow13.NXAST_REG_LOAD, openflow13.NXAST_STACK_POP:
				written = fieldKey(binary.BigEndian.Uint32(a[12:]))
			case openflow13.NXAST_REG_MOVE:
				if n < 24 {
					return newBreach(breachMalformed, 0)
				}
				written = fieldKey(binary.BigEndian.Uint32(a[20:]))
			case openflow13.NXAST_STACK_PUSH:
				continue
			case openflow13.NXAST_CONTROLLER2:
				if !r.controller {
					return newBreach(breachController, 0)
				}
				continue
			case openflow13.NXAST_RESUBMIT_TABLE:
				if !r.resubmits.has(a[12]) {
					return newBreach(breachResubmit, uint32(a[12]))
				}
				continue
			case openflow13.NXAST_LEARN, nxastLearn2:
				if b := checkLearn(rules, r, a, sub == nxastLearn2); b != 0 {
					return b
				}
				continue
			default:
				return newBreach(breachAction, nxSubject|uint32(sub))
			}
		default:
			return newBreach(breachAction, uint32(typ))
		}
		if !r.writes.has(written) {
			return newBreach(breachWrite, written)
		}
	}
	return 0
}

// checkLearn checks a learn action (learnAction's encoding): its table may
// learn into the learned flows' table, whose contract allows what they
// match and load.
func checkLearn(rules *[256]tableRules, r *tableRules, a []byte, learn2 bool) breach {
	const tableAt = 26 // nx_action_learn: table_id after the flags
	fixed := learnFixedLen
	if learn2 {
		fixed = learn2FixedLen
	}
	if len(a) < fixed {
		return newBreach(breachMalformed, 0)
	}
	target := a[tableAt]
	if !r.learns.has(target) {
		return newBreach(breachLearnTable, uint32(target))
	}
	learned := &rules[target]
	for specs := a[fixed:]; len(specs) >= 2; {
		h := binary.BigEndian.Uint16(specs)
		if h == 0 {
			break // padding
		}
		n := 2
		if h&learnSpecImmediate != 0 {
			n += (int(h&learnSpecBits) + 15) / 16 * 2
		} else {
			n += 6
		}
		if h&learnSpecDstMask == learnSpecOutput {
			specs = specs[min(len(specs), n):]
			continue
		}
		if len(specs) < n+6 {
			return newBreach(breachMalformed, 0)
		}
		dst := fieldKey(binary.BigEndian.Uint32(specs[n:]))
		switch {
		case h&learnSpecDstMask == 0 && !learned.mayMatch(dst):
			return newBreach(breachLearnedMatch, dst)
		case h&learnSpecDstMask == learnSpecLoad && !learned.mayWrite(dst):
			return newBreach(breachLearnedWrite, dst)
		}
		specs = specs[n+6:]
	}
	return 0
}

// checkBucketContract checks the actions of every bucket of group g
// against the contract of table, whose flows send to g, in which they may
// also resubmit to the table's BucketResubmits.
func checkBucketContract(g *Group, table uint8) error {
	r := contracts[table]
	if !r.declared {
		return fmt.Errorf("group %#x: sent to from table %s, which Pipeline does not declare", g.id, TableName(table))
	}
	r.resubmits = r.bucketResubmits
	for i, b := 0, g.buckets; len(b) >= bucketFixedLen; i++ {
		n := int(binary.BigEndian.Uint16(b))
		if br := checkActions(contracts, &r, b[bucketFixedLen:n]); br != 0 {
			return fmt.Errorf("bucket %d of group %#x breaks the contract of table %s, whose flows send to it: it %s",
				i, g.id, TableName(table), br.what(table))
		}
		b = b[n:]
	}
	return nil
}

// err describes b, broken by flow f, as an error naming f's table and the
// field or table at fault; nil when b is 0.
func (b breach) err(f *Flow) error {
	if b == 0 {
		return nil
	}
	_, owner, _ := DecodeCookie(f.Cookie)
	return fmt.Errorf("a flow of %s in table %s (priority %d) breaks its table's contract: it %s", owner, TableName(f.Table), f.Priority, b.what(f.Table))
}

// what says what b broke of the contract of the table with ID id.
func (b breach) what(id uint8) string {
	table := TableName(id)
	var what string
	switch s := b.subject(); b.kind() {
	case breachMatch:
		what = fmt.Sprintf("matches %s, not in table %s's Matches", fieldKeyName(s), table)
	case breachWrite:
		what = fmt.Sprintf("writes %s, not in table %s's Loads or Sets", fieldKeyName(s), table)
	case breachGoto:
		what = fmt.Sprintf("goes to table %s, not in table %s's Next", TableName(uint8(s)), table)
	case breachResubmit:
		what = fmt.Sprintf("resubmits to table %s, not in table %s's Resubmits", TableName(uint8(s)), table)
	case breachLearnTable:
		what = fmt.Sprintf("learns into table %s, not in table %s's Learns", TableName(uint8(s)), table)
	case breachLearnedMatch:
		what = fmt.Sprintf("learns flows that match %s, not in their table's Matches", fieldKeyName(s))
	case breachLearnedWrite:
		what = fmt.Sprintf("learns flows that write %s, not in their table's Loads or Sets", fieldKeyName(s))
	case breachAction:
		if s&nxSubject != 0 {
			what = fmt.Sprintf("uses Nicira action %d, which the contract check does not know", s&^nxSubject)
		} else {
			what = fmt.Sprintf("uses action %d, which the contract check does not know", s)
		}
	case breachController:
		what = fmt.Sprintf("sends a copy to the controller, which table %s's contract does not allow", table)
		if s == unmetered {
			what = "outputs to the controller without a meter"
		}
	case breachTable:
		what = "is in a table Pipeline does not declare"
	case breachGroup:
		what = fmt.Sprintf("sends to a group (action %d), which table %s's contract does not allow", openflow13.ActionType_Group, table)
		if s == groupForeign {
			what = "sends to a group that is not l2gwd's (GroupID)"
		}
	default:
		what = "has an action the contract check cannot read"
	}
	return what
}
