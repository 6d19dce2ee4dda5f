package flows

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"

	"github.com/contiv/libOpenflow/openflow13"
)

// field is one encoded OXM/NXM match TLV (header, value, mask).
type field []byte

// action is one encoded OpenFlow 1.3 action (standard or Nicira extension).
type action []byte

// builder assembles one flow straight into its wire encoding:
// flow(table, prio).match(...).apply(...).goTo(t).done(owner). Encoding
// once, without libOpenflow's object trees, is what lets l2gwd compile
// 100,000 bindings in a fraction of a second; the tests check every shape
// against libOpenflow's encoding byte for byte.
type builder struct {
	f       Flow
	fields  []byte // OXM TLVs, without the ofp_match header
	actions []byte
	next    int // goto table, or -1
}

// flow starts a flow of table. Every part the builder is given is checked
// against the table's contract (contract.go): the first breach is kept with
// the flow, and makes compiling it fail.
func flow(table uint8, priority uint16) *builder {
	b := &builder{f: Flow{Table: table, Priority: priority}, next: -1}
	if !contracts[table].declared {
		b.f.breach = newBreach(breachTable, uint32(table))
	}
	return b
}

// keep records breach br unless the flow already broke its contract.
func (b *builder) keep(br breach) {
	if b.f.breach == 0 {
		b.f.breach = br
	}
}

// match adds match fields.
func (b *builder) match(fields ...field) *builder {
	r := &contracts[b.f.Table]
	for _, f := range fields {
		b.fields = append(b.fields, f...)
		if br := checkMatch(r, f); br != 0 {
			b.keep(br)
		}
	}
	return b
}

// apply appends actions to the flow's apply-actions instruction.
func (b *builder) apply(actions ...action) *builder {
	r := &contracts[b.f.Table]
	for _, a := range actions {
		b.actions = append(b.actions, a...)
		if br := checkActions(contracts, r, a); br != 0 {
			b.keep(br)
		}
	}
	return b
}

// goTo sets the flow's goto_table instruction.
func (b *builder) goTo(table uint8) *builder {
	b.next = int(table)
	b.keep(checkGoto(&contracts[b.f.Table], b.f.Table, b.next))
	return b
}

// done finishes the flow and gives it owner's cookie. A flow with neither
// actions nor goto drops. The flow is built as its OFPFC_ADD flow_mod, in
// one buffer: fixed part, ofp_match (OXM, padded to 8), instructions.
func (b *builder) done(owner Owner) *Flow {
	matchLen := 4 + len(b.fields)
	n := flowModFixedLen + pad8(matchLen)
	if len(b.actions) > 0 {
		n += 8 + len(b.actions)
	}
	if b.next >= 0 {
		n += 8
	}
	m := appendFlowModFixed(make(Mod, 0, n), openflow13.FC_ADD, 0, 0, b.f.Table, b.f.Priority)
	m = binary.BigEndian.AppendUint16(m, openflow13.MatchType_OXM)
	m = binary.BigEndian.AppendUint16(m, uint16(matchLen))
	m = append(m, b.fields...)
	m = append(m, make([]byte, pad8(matchLen)-matchLen)...)
	instr := len(m)
	if len(b.actions) > 0 {
		m = append(m, 0, openflow13.InstrType_APPLY_ACTIONS)
		m = binary.BigEndian.AppendUint16(m, uint16(8+len(b.actions)))
		m = append(m, 0, 0, 0, 0)
		m = append(m, b.actions...)
	}
	if b.next >= 0 {
		m = append(m, 0, openflow13.InstrType_GOTO_TABLE, 0, 8, byte(b.next), 0, 0, 0)
	}
	binary.BigEndian.PutUint16(m[2:], uint16(len(m)))
	b.f.add = m
	b.f.Match = m[flowModFixedLen:instr]
	b.f.Instructions = m[instr:]
	b.f.setCookie(makeCookie(owner, contentHash(&b.f)))
	return &b.f
}

// pad8 rounds n up to a multiple of 8.
func pad8(n int) int { return (n + 7) / 8 * 8 }

// contentHash is a 32-bit FNV-1a hash of everything that makes a flow what
// it is: table, priority, match and instructions.
func contentHash(f *Flow) uint32 {
	return contentHashOf(f.Table, f.Priority, f.Match, f.Instructions)
}

// contentHashOf is contentHash of a flow's parts as the wire carries them:
// match is the padded ofp_match. OVS reports a flow's instructions in the
// encoding l2gwd installs them in, and its match fields in an order of its
// own (TestDumpedFlowsHashToTheirCookies): the match's fields are hashed
// in the order of their encodings, so that a dumped flow whose parts no
// longer hash to its cookie was changed on the switch.
func contentHashOf(table uint8, priority uint16, match, instructions []byte) uint32 {
	h := uint32(fnvOffset32)
	h = fnv1a(h, []byte{table, byte(priority >> 8), byte(priority)})
	h = matchHash(h, match)
	return fnv1a(h, instructions)
}

// maxSortedFields is how many OXM fields of a match matchHash sorts; l2gwd
// matches 8 at most.
const maxSortedFields = 16

// matchHash adds an ofp_match to h: its type and length, then its OXM
// fields sorted by their encoding (header, value, mask), without padding.
// A match it cannot split into fields, or of more than maxSortedFields, is
// hashed as it is.
func matchHash(h uint32, match []byte) uint32 {
	if len(match) < 4 {
		return fnv1a(h, match)
	}
	l := int(binary.BigEndian.Uint16(match[2:4]))
	if l < 4 || l > len(match) {
		return fnv1a(h, match)
	}
	var fields [maxSortedFields][]byte
	n := 0
	for oxm := match[4:l]; len(oxm) > 0; n++ {
		if len(oxm) < 4 || 4+int(oxm[3]) > len(oxm) || n == len(fields) {
			return fnv1a(h, match)
		}
		fields[n], oxm = oxm[:4+int(oxm[3])], oxm[4+int(oxm[3]):]
	}
	for i := 1; i < n; i++ {
		for j := i; j > 0 && bytes.Compare(fields[j], fields[j-1]) < 0; j-- {
			fields[j], fields[j-1] = fields[j-1], fields[j]
		}
	}
	h = fnv1a(h, match[:4])
	for _, f := range fields[:n] {
		h = fnv1a(h, f)
	}
	return h
}

// FNV-1a, 32 bits (as hash/fnv, without its allocation).
const (
	fnvOffset32 = 2166136261
	fnvPrime32  = 16777619
)

func fnv1a(h uint32, b []byte) uint32 {
	for _, c := range b {
		h ^= uint32(c)
		h *= fnvPrime32
	}
	return h
}

// Field headers, by NXM/OXM name, from libOpenflow's table of fields.
var (
	hdrInPort   = fieldHeader("OXM_OF_IN_PORT")
	hdrVLANVID  = fieldHeader("OXM_OF_VLAN_VID")
	hdrEthDst   = fieldHeader("OXM_OF_ETH_DST")
	hdrEthSrc   = fieldHeader("OXM_OF_ETH_SRC")
	hdrEthType  = fieldHeader("OXM_OF_ETH_TYPE")
	hdrARPOp    = fieldHeader("OXM_OF_ARP_OP")
	hdrARPTPA   = fieldHeader("OXM_OF_ARP_TPA")
	hdrARPSPA   = fieldHeader("OXM_OF_ARP_SPA")
	hdrARPSHA   = fieldHeader("OXM_OF_ARP_SHA")
	hdrTunnelID = fieldHeader("OXM_OF_TUNNEL_ID")
	hdrTunIPv4S = fieldHeader("NXM_NX_TUN_IPV4_SRC")
	hdrTunIPv4D = fieldHeader("NXM_NX_TUN_IPV4_DST")
	hdrRegs     = regHeaders()

	// NXM names of the fields the ARP responder moves and the source
	// lookup saves.
	nxmEthSrc = fieldHeader("NXM_OF_ETH_SRC")
	nxmEthDst = fieldHeader("NXM_OF_ETH_DST")
	nxmARPSHA = fieldHeader("NXM_NX_ARP_SHA")
	nxmARPTHA = fieldHeader("NXM_NX_ARP_THA")
	nxmARPSPA = fieldHeader("NXM_OF_ARP_SPA")
	nxmARPTPA = fieldHeader("NXM_OF_ARP_TPA")
	nxmTunID  = fieldHeader("NXM_NX_TUN_ID")
	nxmTunDst = fieldHeader("NXM_NX_TUN_IPV4_DST")
)

// regHeaders are the headers of NXM_NX_REG0 to NXM_NX_REG15, known before
// any package-level action (such as sourceLookup) is built with them.
func regHeaders() (h [16]uint32) {
	for i := range h {
		h[i] = fieldHeader(fmt.Sprintf("NXM_NX_REG%d", i))
	}
	return h
}

// fieldHeader is the 32-bit OXM/NXM header of a field matched exactly.
func fieldHeader(name string) uint32 {
	f, err := openflow13.FindFieldHeaderByName(name, false)
	if err != nil {
		panic(fmt.Sprintf("flows: unknown field %s", name))
	}
	return f.MarshalHeader()
}

// tlv encodes a field: header, then value (and mask, when given: the
// header's has-mask bit is set and its length doubled).
func tlv(header uint32, value, mask []byte) field {
	out := make(field, 4, 4+len(value)+len(mask))
	if mask != nil {
		header = header&^0xff | 1<<8 | uint32(2*len(value))
	}
	binary.BigEndian.PutUint32(out, header)
	out = append(out, value...)
	return append(out, mask...)
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// Match fields.

func matchInPort(port uint32) field { return tlv(hdrInPort, be32(port), nil) }

// matchNoVLAN matches frames without an 802.1Q header.
func matchNoVLAN() field { return tlv(hdrVLANVID, be16(openflow13.OFPVID_NONE), nil) }

// matchVLAN matches frames tagged with vid.
func matchVLAN(vid uint16) field { return tlv(hdrVLANVID, be16(vid|openflow13.OFPVID_PRESENT), nil) }

func matchReg(reg int, value uint32) field { return tlv(hdrRegs[reg], be32(value), nil) }

func matchTunID(id uint32) field { return tlv(hdrTunnelID, be64(uint64(id)), nil) }

func matchEthDst(mac net.HardwareAddr) field { return tlv(hdrEthDst, mac, nil) }

// matchEthSrcMulticast matches frames whose source MAC has the group bit set.
func matchEthSrcMulticast() field {
	group := []byte{1, 0, 0, 0, 0, 0}
	return tlv(hdrEthSrc, group, group)
}

func matchARPRequest(tpa net.IP) []field {
	return []field{
		tlv(hdrEthType, be16(0x0806), nil),
		tlv(hdrARPOp, be16(1), nil),
		tlv(hdrARPTPA, tpa.To4(), nil),
	}
}

// Actions.

// output sends the packet out port (the controller-bound length is the
// one libOpenflow uses, unused for ports).
func output(port uint32) action {
	a := action{0, openflow13.ActionType_Output, 0, 16}
	a = binary.BigEndian.AppendUint32(a, port)
	a = binary.BigEndian.AppendUint16(a, 256)
	return append(a, 0, 0, 0, 0, 0, 0)
}

func outputInPort() action { return output(openflow13.P_IN_PORT) }

func popVLAN() action { return action{0, openflow13.ActionType_PopVlan, 0, 8, 0, 0, 0, 0} }

// pushVLAN returns the actions that tag a frame with vid.
func pushVLAN(vid uint16) []action {
	return []action{
		{0, openflow13.ActionType_PushVlan, 0, 8, 0x81, 0x00, 0, 0},
		setField(matchVLAN(vid)),
	}
}

// setField sets the field f encodes (OFPAT_SET_FIELD, padded to 8).
func setField(f field) action {
	n := pad8(4 + len(f))
	a := make(action, 4, n)
	binary.BigEndian.PutUint16(a, openflow13.ActionType_SetField)
	binary.BigEndian.PutUint16(a[2:], uint16(n))
	a = append(a, f...)
	return a[:n]
}

// nxAction starts a Nicira extension action of subtype and total length n.
func nxAction(subtype uint16, n int) action {
	a := make(action, 10, n)
	binary.BigEndian.PutUint16(a, openflow13.ActionType_Experimenter)
	binary.BigEndian.PutUint16(a[2:], uint16(n))
	binary.BigEndian.PutUint32(a[4:], openflow13.NxExperimenterID)
	binary.BigEndian.PutUint16(a[8:], subtype)
	return a
}

// loadReg loads value into the whole of register reg (NXAST_REG_LOAD).
func loadReg(reg int, value uint32) action {
	a := nxAction(openflow13.NXAST_REG_LOAD, 24)
	a = binary.BigEndian.AppendUint16(a, 0<<6|31) // ofs 0, 32 bits
	a = binary.BigEndian.AppendUint32(a, hdrRegs[reg])
	return binary.BigEndian.AppendUint64(a, uint64(value))
}

// groupAction sends the packet to group id (OFPAT_GROUP): the group's
// bucket works on a copy of it, so the actions after this one see the
// packet as it was (checked on OVS 3.1: TestFloodThroughAFailoverGroup).
func groupAction(id uint32) action {
	return binary.BigEndian.AppendUint32(action{0, openflow13.ActionType_Group, 0, 8}, id)
}

// resubmit runs table's matching flow's actions here (NXAST_RESUBMIT_TABLE).
func resubmit(table uint8) action {
	a := nxAction(openflow13.NXAST_RESUBMIT_TABLE, 16)
	a = binary.BigEndian.AppendUint16(a, openflow13.OFPP_IN_PORT)
	return append(a, table, 0, 0, 0)
}

// move copies nBits of field src to field dst (NXAST_REG_MOVE; headers
// from fieldHeader).
func move(src, dst uint32, nBits uint16) action {
	a := nxAction(openflow13.NXAST_REG_MOVE, 24)
	a = binary.BigEndian.AppendUint16(a, nBits)
	a = append(a, 0, 0, 0, 0) // src and dst offsets
	a = binary.BigEndian.AppendUint32(a, src)
	return binary.BigEndian.AppendUint32(a, dst)
}

// push saves nBits of field (a header from fieldHeader) on the packet's
// stack (NXAST_STACK_PUSH); pop restores the last value pushed into field
// (NXAST_STACK_POP).
func push(field uint32, nBits uint16) action {
	return stackAction(openflow13.NXAST_STACK_PUSH, field, nBits)
}

func pop(field uint32, nBits uint16) action {
	return stackAction(openflow13.NXAST_STACK_POP, field, nBits)
}

// stackAction encodes nx_action_stack: bit offset 0, the field's header,
// its number of bits, zero padding to 24 bytes.
func stackAction(subtype uint16, field uint32, nBits uint16) action {
	a := nxAction(subtype, 24)
	a = binary.BigEndian.AppendUint16(a, 0)
	a = binary.BigEndian.AppendUint32(a, field)
	a = binary.BigEndian.AppendUint16(a, nBits)
	return a[:cap(a)]
}
