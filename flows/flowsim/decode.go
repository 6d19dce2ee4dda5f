package flowsim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// entry is one flow of a simulated table, decoded from its wire encoding.
type entry struct {
	table    uint8
	priority uint16
	cookie   uint64
	match    []matchField // sorted by field
	actions  []op         // the apply-actions instruction
	next     int          // goto_table, or -1

	learned        bool   // added by a learn action
	added, removed uint64 // the packets (Switch.packets) it is seen from and no longer by; removed 0: never
}

// matchField is one field of a match: value (already masked) under mask
// (all ones when the match is exact).
type matchField struct {
	f           *field
	value, mask []byte
}

// matches reports whether s has mf.
func (mf matchField) matches(s *state) bool {
	v := mf.f.get(s)
	for i := range v {
		if v[i]&mf.mask[i] != mf.value[i] {
			return false
		}
	}
	return true
}

// matchKey is a canonical form of a match, equal for equal matches.
func matchKey(m []matchField) string {
	var b strings.Builder
	for _, mf := range m {
		fmt.Fprintf(&b, "%s=%x/%x,", mf.f.name, mf.value, mf.mask)
	}
	return b.String()
}

// opKind is what an action does.
type opKind uint8

const (
	opOutput opKind = iota + 1
	opPushVLAN
	opPopVLAN
	opSetField // dst := value (whole field)
	opLoad     // dst subfield := value (reg_load; a learned flow's loads)
	opMove
	opStackPush
	opStackPop
	opResubmit
	opLearn
	opController
)

// op is one decoded action.
type op struct {
	kind       opKind
	port       uint32   // opOutput
	table      uint8    // opResubmit
	dst, src   subfield // opSetField, opLoad, opMove, opStackPop (dst), opStackPush (src)
	value      []byte   // opSetField (field width), opLoad (right-aligned, ceil(bits/8))
	learn      *learnAction
	meter      uint32 // opController
	controller uint16 // opController: the connection ID
}

// Wire constants: OpenFlow 1.3 instructions and actions, and the Nicira
// extension actions l2gw uses (OVS's nx_action_* encodings).
const (
	instrGotoTable    = 1
	instrApplyActions = 4

	actOutput       = 0
	actPushVLAN     = 17
	actPopVLAN      = 18
	actSetField     = 25
	actExperimenter = 0xffff
	nxExperimenter  = 0x00002320

	nxRegMove       = 6
	nxRegLoad       = 7
	nxResubmitTable = 14
	nxLearn         = 16
	nxStackPush     = 27
	nxStackPop      = 28
	nxController2   = 37
	nxLearn2        = 45

	nxac2ptMaxLen       = 0 // controller2 properties
	nxac2ptControllerID = 1
	nxac2ptReason       = 2
	nxac2ptMeterID      = 5
	reasonAction        = 1

	portInPort = 0xfffffff8 // OFPP_IN_PORT
	portMax    = 0xffffff00 // OFPP_MAX: ports above are reserved
)

// decodeFlow decodes a flow of table (its ofp_match and instruction list)
// and checks it as OVS checks a flow_mod: fields and prerequisites of the
// match, and of every action, against the match.
func decodeFlow(table uint8, priority uint16, cookie uint64, match, instructions []byte) (*entry, error) {
	e := &entry{table: table, priority: priority, cookie: cookie, next: -1}
	var err error
	if e.match, err = decodeMatch(match); err != nil {
		return nil, fmt.Errorf("match: %w", err)
	}
	applied := false
	for b := instructions; len(b) > 0; {
		if len(b) < 8 {
			return nil, errors.New("instruction list ends inside an instruction")
		}
		typ, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if n < 8 || n > len(b) {
			return nil, fmt.Errorf("instruction %d has length %d", typ, n)
		}
		switch {
		case typ == instrApplyActions && !applied && e.next < 0:
			if e.actions, err = decodeActions(b[8:n]); err != nil {
				return nil, err
			}
			applied = true
		case typ == instrGotoTable && e.next < 0:
			if b[4] <= table {
				return nil, fmt.Errorf("goto_table:%d from table %d: OVS only goes to later tables", b[4], table)
			}
			e.next = int(b[4])
		default:
			return nil, fmt.Errorf("instruction %d: the simulator models one apply-actions, then one goto_table", typ)
		}
		b = b[n:]
	}
	if err := checkPrereqs(e); err != nil {
		return nil, err
	}
	return e, nil
}

// decodeMatch decodes an OXM ofp_match: every field once, each after the
// fields its prerequisites need (as OVS requires), sorted.
func decodeMatch(m []byte) ([]matchField, error) {
	if len(m) < 4 || binary.BigEndian.Uint16(m) != 1 {
		return nil, errors.New("not an OXM match")
	}
	n := int(binary.BigEndian.Uint16(m[2:]))
	if n < 4 || n > len(m) {
		return nil, fmt.Errorf("match length %d of %d bytes", n, len(m))
	}
	var out []matchField
	view := &state{} // the match's values, for prerequisite checks
	for b := m[4:n]; len(b) > 0; {
		if len(b) < 4 {
			return nil, errors.New("match ends inside a field header")
		}
		h := binary.BigEndian.Uint32(b)
		f, masked, err := lookupField(h)
		if err != nil {
			return nil, err
		}
		tlv := b[4 : 4+int(h&0xff)]
		mf := matchField{f: f, value: slices.Clone(tlv[:f.width]), mask: bytes.Repeat([]byte{0xff}, f.width)}
		if masked {
			mf.mask = slices.Clone(tlv[f.width:])
			for i := range mf.value {
				if mf.value[i]&^mf.mask[i] != 0 {
					return nil, fmt.Errorf("field %s has value bits outside its mask", f.name)
				}
			}
		}
		if !f.prereq.holds(view) {
			return nil, fmt.Errorf("field %s without its prerequisites before it", f.name)
		}
		if slices.ContainsFunc(out, func(o matchField) bool { return o.f == f }) {
			return nil, fmt.Errorf("field %s twice", f.name)
		}
		view.assume(mf)
		out = append(out, mf)
		b = b[4+len(tlv):]
	}
	slices.SortFunc(out, func(a, b matchField) int { return strings.Compare(a.f.name, b.f.name) })
	return out, nil
}

// assume makes s a packet that has what mf matches exactly: the view of a
// match that prerequisites are checked against (OVS checks them against the
// match's values).
func (s *state) assume(mf matchField) {
	if mf.f.set != nil && !slices.ContainsFunc(mf.mask, func(b byte) bool { return b != 0xff }) {
		mf.f.set(s, mf.value)
	}
	if mf.f.name == "vlan_vid" {
		s.tagged = binary.BigEndian.Uint16(mf.value)&0x1000 != 0
	}
}

// decodeActions decodes an action list.
func decodeActions(b []byte) ([]op, error) {
	var ops []op
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, errors.New("action list ends inside an action")
		}
		typ, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if n < 8 || n%8 != 0 || n > len(b) {
			return nil, fmt.Errorf("action %d has length %d", typ, n)
		}
		o, err := decodeAction(b[:n])
		if err != nil {
			return nil, err
		}
		ops = append(ops, o)
		b = b[n:]
	}
	return ops, nil
}

func decodeAction(a []byte) (op, error) {
	switch typ := binary.BigEndian.Uint16(a); typ {
	case actOutput:
		if len(a) != 16 {
			return op{}, fmt.Errorf("output action of %d bytes", len(a))
		}
		port := binary.BigEndian.Uint32(a[4:])
		if port >= portMax && port != portInPort {
			return op{}, fmt.Errorf("output to reserved port %#x: the simulator models ports and IN_PORT", port)
		}
		return op{kind: opOutput, port: port}, nil
	case actPushVLAN:
		if et := binary.BigEndian.Uint16(a[4:]); et != 0x8100 {
			return op{}, fmt.Errorf("push_vlan of ethertype %#04x: the simulator models 802.1Q", et)
		}
		return op{kind: opPushVLAN}, nil
	case actPopVLAN:
		return op{kind: opPopVLAN}, nil
	case actSetField:
		h := binary.BigEndian.Uint32(a[4:])
		f, masked, err := lookupField(h)
		switch {
		case err != nil:
			return op{}, fmt.Errorf("set_field: %w", err)
		case masked:
			return op{}, fmt.Errorf("set_field of %s with a mask: not modelled", f.name)
		case !f.writable:
			return op{}, fmt.Errorf("set_field of %s, which is read-only", f.name)
		case 8+f.width > len(a):
			return op{}, fmt.Errorf("set_field of %s of %d bytes", f.name, len(a))
		}
		return op{kind: opSetField, dst: subfield{f: f, bits: f.bits()}, value: slices.Clone(a[8 : 8+f.width])}, nil
	case actExperimenter:
		if len(a) < 16 || binary.BigEndian.Uint32(a[4:]) != nxExperimenter {
			return op{}, errors.New("experimenter action that is not Nicira's")
		}
		return decodeNXAction(a)
	default:
		return op{}, fmt.Errorf("action type %d: not one l2gw uses", typ)
	}
}

// decodeNXAction decodes a Nicira extension action (OVS's ofp-actions.c).
func decodeNXAction(a []byte) (op, error) {
	switch sub := binary.BigEndian.Uint16(a[8:]); sub {
	case nxRegLoad: // ofs_nbits, dst, value (64 bits)
		if len(a) != 24 {
			return op{}, fmt.Errorf("reg_load of %d bytes", len(a))
		}
		ofsBits := int(binary.BigEndian.Uint16(a[10:]))
		dst, err := writableSubfield(binary.BigEndian.Uint32(a[12:]), ofsBits>>6, ofsBits&0x3f+1)
		if err != nil {
			return op{}, fmt.Errorf("reg_load: %w", err)
		}
		v := binary.BigEndian.Uint64(a[16:])
		if dst.bits < 64 && v>>dst.bits != 0 {
			return op{}, fmt.Errorf("reg_load of %#x into %d bits", v, dst.bits)
		}
		value := make([]byte, (dst.bits+7)/8)
		copyBits(value, 0, a[16:24], 0, dst.bits)
		return op{kind: opLoad, dst: dst, value: value}, nil
	case nxRegMove: // n_bits, src_ofs, dst_ofs, src, dst
		if len(a) != 24 {
			return op{}, fmt.Errorf("move of %d bytes", len(a))
		}
		n := int(binary.BigEndian.Uint16(a[10:]))
		src, err := newSubfield(binary.BigEndian.Uint32(a[16:]), int(binary.BigEndian.Uint16(a[12:])), n)
		if err != nil {
			return op{}, fmt.Errorf("move source: %w", err)
		}
		dst, err := writableSubfield(binary.BigEndian.Uint32(a[20:]), int(binary.BigEndian.Uint16(a[14:])), n)
		if err != nil {
			return op{}, fmt.Errorf("move destination: %w", err)
		}
		return op{kind: opMove, src: src, dst: dst}, nil
	case nxStackPush, nxStackPop: // offset, field, n_bits
		if len(a) != 24 {
			return op{}, fmt.Errorf("stack action of %d bytes", len(a))
		}
		h, ofs, n := binary.BigEndian.Uint32(a[12:]), int(binary.BigEndian.Uint16(a[10:])), int(binary.BigEndian.Uint16(a[16:]))
		if sub == nxStackPush {
			sf, err := newSubfield(h, ofs, n)
			return op{kind: opStackPush, src: sf}, err
		}
		sf, err := writableSubfield(h, ofs, n)
		return op{kind: opStackPop, dst: sf}, err
	case nxResubmitTable: // in_port, table
		if len(a) != 16 {
			return op{}, fmt.Errorf("resubmit of %d bytes", len(a))
		}
		if in := binary.BigEndian.Uint16(a[10:]); in != 0xfff8 {
			return op{}, fmt.Errorf("resubmit with in_port %#x: the simulator models resubmit(,TABLE)", in)
		}
		if a[12] == 255 {
			return op{}, errors.New("resubmit to the current table (255): not modelled")
		}
		return op{kind: opResubmit, table: a[12]}, nil
	case nxLearn, nxLearn2:
		l, err := decodeLearn(a, sub == nxLearn2)
		return op{kind: opLearn, learn: l}, err
	case nxController2:
		return decodeController(a)
	default:
		return op{}, fmt.Errorf("Nicira action %d: not one l2gw uses", sub)
	}
}

// decodeController decodes a controller2 action (an ext_action_header,
// then properties, each type, length, value, padded to 8): a copy of the
// whole packet, reason action, to a controller connection ID, through a
// meter. Anything else (user data, pause, a length limit) is not
// modelled.
func decodeController(a []byte) (op, error) {
	o := op{kind: opController}
	for props := a[16:]; len(props) > 0; {
		if len(props) < 4 {
			return op{}, errors.New("controller action ends inside a property")
		}
		typ, n := binary.BigEndian.Uint16(props), int(binary.BigEndian.Uint16(props[2:]))
		if n < 4 || (n+7)/8*8 > len(props) {
			return op{}, fmt.Errorf("controller property %d of length %d", typ, n)
		}
		v := props[4:n]
		switch {
		case typ == nxac2ptMeterID && len(v) == 4:
			o.meter = binary.BigEndian.Uint32(v)
		case typ == nxac2ptControllerID && (len(v) == 2 || len(v) == 4):
			// OVS reads a 16-bit property's value from the first 2 bytes
			// of a payload of 2 or more, and writes it in 4.
			o.controller = binary.BigEndian.Uint16(v)
		case typ == nxac2ptMaxLen && (len(v) == 2 || len(v) == 4) && binary.BigEndian.Uint16(v) == 0xffff,
			typ == nxac2ptReason && len(v) == 1 && v[0] == reasonAction:
		default:
			return op{}, fmt.Errorf("controller property %d (%x): not modelled", typ, v)
		}
		props = props[(n+7)/8*8:]
	}
	if o.meter == 0 {
		return op{}, errors.New("controller action without a meter: l2gw meters every copy")
	}
	return o, nil
}

func writableSubfield(header uint32, ofs, bits int) (subfield, error) {
	sf, err := newSubfield(header, ofs, bits)
	if err == nil && !sf.f.writable {
		err = fmt.Errorf("%s is read-only", sf.f.name)
	}
	return sf, err
}

// checkPrereqs checks every field an action reads or writes against the
// flow's match, as OVS does when it adds a flow (ofpacts_check): set_field,
// move and stack actions need their fields' prerequisites in the match, and
// set_field of vlan_vid a tag (the match's, or a push_vlan's before it).
// set_field does not change what later actions are checked against.
func checkPrereqs(e *entry) error {
	view := &state{}
	for _, mf := range e.match {
		view.assume(mf)
	}
	need := func(what string, sf subfield) error {
		if sf.f != nil && !sf.f.prereq.holds(view) {
			return fmt.Errorf("%s %s without its prerequisites in the match", what, sf.f.name)
		}
		return nil
	}
	for _, o := range e.actions {
		var err error
		switch o.kind {
		case opPushVLAN:
			view.tagged = true
		case opPopVLAN:
			view.tagged = false
		case opSetField:
			if o.dst.f.name == "vlan_vid" && !view.tagged {
				err = errors.New("set_field of vlan_vid on a frame without a tag")
			}
			err = errors.Join(err, need("set_field of", o.dst))
		case opMove:
			err = errors.Join(need("move from", o.src), need("move to", o.dst))
		case opStackPush:
			err = need("push of", o.src)
		case opStackPop:
			err = need("pop into", o.dst)
		case opLearn:
			for _, s := range o.learn.specs {
				err = errors.Join(err, need("learn from", s.src))
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
