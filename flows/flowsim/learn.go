package flowsim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// learnAction is a decoded NXAST_LEARN or NXAST_LEARN2: the flow it adds
// to table, made of specs.
type learnAction struct {
	table      uint8
	priority   uint16
	idle, hard uint16
	cookie     uint64
	limit      uint32 // NXAST_LEARN2; 0: no limit
	specs      []learnSpec
}

// learnSpec makes one field of the learned flow: it matches dst (load
// false) or loads dst (load true) with the packet's src.
type learnSpec struct {
	load     bool
	src, dst subfield
}

// Learn spec header bits (nx_learn_spec): source type bit 13 (1: an
// immediate value), destination type bits 11-12 (0 match, 1 load, 2
// output), the number of bits in bits 0-10.
const (
	learnSrcImmediate = 1 << 13
	learnDstShift     = 11
	learnBits         = 1<<11 - 1
)

// decodeLearn decodes nx_action_learn (and learn2's limit; OVS's
// ofp-actions.c): the specs l2gw writes, from fields to a match or a load.
func decodeLearn(a []byte, learn2 bool) (*learnAction, error) {
	fixed := 32
	if learn2 {
		fixed = 40
	}
	if len(a) < fixed {
		return nil, fmt.Errorf("learn action of %d bytes", len(a))
	}
	l := &learnAction{idle: binary.BigEndian.Uint16(a[10:]), hard: binary.BigEndian.Uint16(a[12:]),
		priority: binary.BigEndian.Uint16(a[14:]), cookie: binary.BigEndian.Uint64(a[16:]), table: a[26]}
	if flags := binary.BigEndian.Uint16(a[24:]); flags != 0 {
		return nil, fmt.Errorf("learn with flags %#x: not modelled", flags)
	}
	if fin := binary.BigEndian.Uint32(a[28:]); fin != 0 {
		return nil, errors.New("learn with fin timeouts: not modelled")
	}
	if learn2 {
		l.limit = binary.BigEndian.Uint32(a[32:])
	}
	for b := a[fixed:]; len(b) >= 2; {
		h := binary.BigEndian.Uint16(b)
		if h == 0 {
			if slices.ContainsFunc(b, func(c byte) bool { return c != 0 }) {
				return nil, errors.New("learn action with bytes after its end")
			}
			break
		}
		n := int(h & learnBits)
		if h&learnSrcImmediate != 0 {
			return nil, errors.New("learn spec from an immediate value: not one l2gw uses")
		}
		dstType := h >> learnDstShift & 3
		if dstType > 1 {
			return nil, errors.New("learn spec that outputs: not one l2gw uses")
		}
		if len(b) < 14 {
			return nil, errors.New("learn action ends inside a spec")
		}
		src, err := newSubfield(binary.BigEndian.Uint32(b[2:]), int(binary.BigEndian.Uint16(b[6:])), n)
		if err != nil {
			return nil, fmt.Errorf("learn source: %w", err)
		}
		dst, err := newSubfield(binary.BigEndian.Uint32(b[8:]), int(binary.BigEndian.Uint16(b[12:])), n)
		if err != nil {
			return nil, fmt.Errorf("learn destination: %w", err)
		}
		if dstType == 1 && !dst.f.writable {
			return nil, fmt.Errorf("learn loads read-only %s", dst.f.name)
		}
		l.specs = append(l.specs, learnSpec{load: dstType == 1, src: src, dst: dst})
		b = b[14:]
	}
	return l, nil
}

// Learned is a flow a learn action adds, with the values the packet gave
// it, or (past the action's limit) would have added.
type Learned struct {
	Table       uint8
	Priority    uint16
	Cookie      uint64
	IdleTimeout uint16
	HardTimeout uint16
	Limit       uint32 // 0: none
	// Match and Loads are the learned flow's match (fields equal to
	// values) and its actions (loads of values into fields).
	Match, Loads []Assignment
	// Installed is false when the table already held Limit flows with
	// Cookie, so OVS learned nothing; it is true only on a Switch that
	// installs what is learned.
	Installed bool
}

// Assignment is a value for bits [Ofs, Ofs+Bits) of a field.
type Assignment struct {
	Field     string // as ovs-ofctl names it
	Ofs, Bits int
	Value     []byte // big-endian, Bits right-aligned
}

// Value returns what l's match or loads set field (the first) to.
func (l Learned) Value(field string) ([]byte, bool) {
	for _, a := range slices.Concat(l.Match, l.Loads) {
		if a.Field == field {
			return a.Value, true
		}
	}
	return nil, false
}

func (a Assignment) String() string { return fmt.Sprintf("%s=%#x", a.Field, a.Value) }

func (l Learned) String() string {
	var m, ld []string
	for _, a := range l.Match {
		m = append(m, a.String())
	}
	for _, a := range l.Loads {
		ld = append(ld, "load:"+a.String())
	}
	s := fmt.Sprintf("table=%d,priority=%d,cookie=%#x,%s actions=%s", l.Table, l.Priority, l.Cookie,
		strings.Join(m, ","), strings.Join(ld, ","))
	if !l.Installed {
		s += " (not installed)"
	}
	return s
}

// execute builds the flow l learns from s: its record, and its entry.
func (l *learnAction) execute(s *state) (Learned, *entry) {
	rec := Learned{Table: l.table, Priority: l.priority, Cookie: l.cookie, IdleTimeout: l.idle, HardTimeout: l.hard, Limit: l.limit}
	e := &entry{table: l.table, priority: l.priority, cookie: l.cookie, next: -1, learned: true}
	for _, sp := range l.specs {
		v := sp.src.read(s)
		a := Assignment{Field: sp.dst.f.name, Ofs: sp.dst.ofs, Bits: sp.dst.bits, Value: v}
		if sp.load {
			rec.Loads = append(rec.Loads, a)
			e.actions = append(e.actions, op{kind: opLoad, dst: sp.dst, value: v})
			continue
		}
		rec.Match = append(rec.Match, a)
		i := slices.IndexFunc(e.match, func(mf matchField) bool { return mf.f == sp.dst.f })
		if i < 0 {
			e.match = append(e.match, matchField{f: sp.dst.f, value: make([]byte, sp.dst.f.width), mask: make([]byte, sp.dst.f.width)})
			i = len(e.match) - 1
		}
		copyBits(e.match[i].value, sp.dst.ofs, v, 0, sp.dst.bits)
		copyBits(e.match[i].mask, sp.dst.ofs, onesBits(sp.dst.bits), 0, sp.dst.bits)
	}
	slices.SortFunc(e.match, func(a, b matchField) int { return strings.Compare(a.f.name, b.f.name) })
	return rec, e
}

// onesBits is n one bits, right-aligned.
func onesBits(n int) []byte {
	b := make([]byte, (n+7)/8)
	for i := range n {
		b[len(b)-1-i/8] |= 1 << (i % 8)
	}
	return b
}
