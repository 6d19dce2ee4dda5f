package flowsim

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"

	"github.com/l2gw/l2gw/flows"
)

// Config is the bridge the flows are installed on.
type Config struct {
	// TunnelPorts maps a network type ("vxlan", "gre", "geneve") to the
	// ofport of its flow-based tunnel port, as flows.Input.TunnelPorts.
	TunnelPorts map[string]uint32
	// InstallLearned makes the flows that learn actions add visible to
	// later packets (within their limits), as on a real bridge; without it
	// learning is only recorded in each Verdict.
	InstallLearned bool
}

// Switch is a simulated bridge with a set of flows. It is safe for
// concurrent use; with InstallLearned, packets see what packets run before
// them learned.
type Switch struct {
	cfg         Config
	tunnelTypes map[uint32]string

	mu      sync.Mutex
	tables  map[uint8][]*entry // by priority, highest first
	packets uint64             // packets run so far
}

// Limits of one packet's translation (OVS's MAX_DEPTH, MAX_RESUBMITS).
const (
	maxDepth     = 64
	maxResubmits = 4096
)

// New installs set on a simulated bridge. It fails when a flow uses a
// match field, an action or an instruction the simulator does not model,
// breaks a rule OVS enforces when a flow is added (prerequisites, goto to a
// later table), or has the table, priority and match of another (OVS would
// keep only one of them).
func New(set flows.FlowSet, cfg Config) (*Switch, error) {
	s := &Switch{cfg: cfg, tunnelTypes: map[uint32]string{}, tables: map[uint8][]*entry{}}
	for typ, port := range cfg.TunnelPorts {
		s.tunnelTypes[port] = typ
	}
	seen := map[string]uint64{}
	for _, f := range set.Sorted() {
		e, err := decodeFlow(f.Table, f.Priority, f.Cookie, f.Match, f.Instructions)
		if err != nil {
			return nil, fmt.Errorf("flow %#x in table %d: %w", f.Cookie, f.Table, err)
		}
		key := fmt.Sprintf("%d/%d/%s", e.table, e.priority, matchKey(e.match))
		if other, dup := seen[key]; dup {
			return nil, fmt.Errorf("flows %#x and %#x have the same table, priority and match", other, f.Cookie)
		}
		seen[key] = f.Cookie
		s.tables[e.table] = append(s.tables[e.table], e)
	}
	return s, nil
}

// run is one packet's walk through the tables.
type run struct {
	sw      *Switch
	packet  uint64 // the packet's number: the entries it sees
	s       state
	stack   [][]byte
	verdict Verdict
	lookups int
}

// Run sends p through the tables and returns what became of it. It fails
// when the packet meets something the simulator refuses to guess at: two
// matching flows of equal priority (OVS picks either), an action whose
// fields the packet lacks (OVS skips it silently; l2gw's flows never rely
// on that), a pop from an empty stack, a VLAN tag pushed onto a tagged
// frame or popped from an untagged one, a tunnel output with no tunnel
// destination, or more nesting than OVS allows.
func (sw *Switch) Run(p Packet) (Verdict, error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.packets++
	sw.purge()
	r := &run{sw: sw, packet: sw.packets, s: state{inPort: p.InPort, tagged: p.VLAN != 0, frame: p.Frame}}
	r.verdict.InPort = p.InPort
	if err := r.s.setIngressTunnel(p.Tunnel); err != nil {
		return Verdict{}, err
	}
	if err := r.lookup(0, 0); err != nil {
		return Verdict{}, fmt.Errorf("%v: %w (after %s)", p, err, r.verdict)
	}
	return r.verdict, nil
}

// setIngressTunnel puts the metadata of the tunnel a packet came by in s.
func (s *state) setIngressTunnel(t TunnelMetadata) error {
	switch {
	case !t.Src.IsValid():
		return nil
	case t.Src.Is4() && t.Dst.Is4():
		s.tunSrc, s.tunDst = t.Src.As4(), t.Dst.As4()
	case t.Src.Is6() && t.Dst.Is6() && !t.Src.Is4In6() && !t.Dst.Is4In6():
		s.tunSrc6, s.tunDst6 = t.Src.As16(), t.Dst.As16()
	default:
		return fmt.Errorf("tunnel endpoints %s and %s are not of one IP family", t.Src, t.Dst)
	}
	s.tunID = t.ID
	return nil
}

// lookup finds the flow of table the packet meets and runs it, depth
// resubmits deep. A table miss runs nothing: in the pipeline (table 0, a
// goto_table) it drops the packet, in a resubmit the resubmitting flow goes
// on.
func (r *run) lookup(table uint8, depth int) error {
	if r.lookups++; depth >= maxDepth || r.lookups > maxResubmits {
		return fmt.Errorf("more than %d resubmits deep or %d lookups: OVS gives up", maxDepth, maxResubmits)
	}
	hit, err := r.find(table)
	if err != nil {
		return err
	}
	step := Step{Table: table, Priority: -1, Depth: depth}
	if hit == nil {
		r.verdict.Steps = append(r.verdict.Steps, step)
		return nil
	}
	step.Priority, step.Cookie = int(hit.priority), hit.cookie
	r.verdict.Steps = append(r.verdict.Steps, step)
	if err := r.execute(hit, depth); err != nil {
		return fmt.Errorf("flow %#x of table %d: %w", hit.cookie, table, err)
	}
	if hit.next >= 0 {
		return r.lookup(uint8(hit.next), depth)
	}
	return nil
}

// find returns the flow of table with the highest priority that matches
// the packet, nil if none does.
func (r *run) find(table uint8) (*entry, error) {
	var hit *entry
	for _, e := range r.sw.tables[table] {
		if hit != nil && e.priority < hit.priority {
			break
		}
		if !e.visibleTo(r.packet) || slices.ContainsFunc(e.match, func(mf matchField) bool { return !mf.matches(&r.s) }) {
			continue
		}
		if hit != nil {
			return nil, fmt.Errorf("flows %#x and %#x of table %d both match at priority %d: OVS would pick either",
				hit.cookie, e.cookie, table, e.priority)
		}
		hit = e
	}
	return hit, nil
}

// visibleTo reports whether e is installed for packet number n: a flow
// learned while a packet runs is only seen by the packets after it, as OVS
// translates a packet against the tables' version it started with.
func (e *entry) visibleTo(n uint64) bool { return e.added < n && (e.removed == 0 || e.removed > n) }

// execute runs the actions of e.
func (r *run) execute(e *entry, depth int) error {
	s := &r.s
	for _, o := range e.actions {
		switch o.kind {
		case opOutput:
			if err := r.output(o.port); err != nil {
				return err
			}
		case opPushVLAN:
			if s.tagged {
				return errors.New("push_vlan onto a tagged frame: not modelled")
			}
			s.tagged, s.frame.VLAN = true, 0
		case opPopVLAN:
			if !s.tagged {
				return errors.New("pop_vlan from an untagged frame")
			}
			s.tagged, s.frame.VLAN = false, 0
		case opSetField:
			if err := r.needs("set_field of", o.dst); err != nil {
				return err
			}
			if o.dst.f.name == "vlan_vid" && !s.tagged {
				return errors.New("set_field of vlan_vid on an untagged frame")
			}
			o.dst.f.set(s, o.value)
		case opLoad:
			o.dst.write(s, o.value)
		case opMove:
			if err := errors.Join(r.needs("move from", o.src), r.needs("move to", o.dst)); err != nil {
				return err
			}
			o.dst.write(s, o.src.read(s))
		case opStackPush:
			r.stack = append(r.stack, o.src.read(s))
		case opStackPop:
			if len(r.stack) == 0 {
				return fmt.Errorf("pop into %s from an empty stack", o.dst)
			}
			v := r.stack[len(r.stack)-1]
			r.stack = r.stack[:len(r.stack)-1]
			if len(v) != (o.dst.bits+7)/8 {
				return fmt.Errorf("pop of %d bytes into %s: not modelled", len(v), o.dst)
			}
			o.dst.write(s, v)
		case opResubmit:
			if err := r.lookup(o.table, depth+1); err != nil {
				return err
			}
		case opLearn:
			r.learn(o.learn)
		case opController:
			r.verdict.Controller = append(r.verdict.Controller,
				ControllerCopy{Table: e.table, Cookie: e.cookie, Meter: o.meter, ControllerID: o.controller, InPort: s.inPort, Frame: s.frame, Regs: s.regs})
		}
	}
	return nil
}

// needs fails when the packet lacks the field of sf.
func (r *run) needs(what string, sf subfield) error {
	if !sf.f.prereq.holds(&r.s) {
		return fmt.Errorf("%s %s, which the packet does not have: OVS would skip the action", what, sf.f.name)
	}
	return nil
}

// output sends a copy of the packet out port. A plain output to the port
// the packet came in by sends nothing (OVS skips it); output to IN_PORT
// sends it back there.
func (r *run) output(port uint32) error {
	s := &r.s
	switch port {
	case portInPort:
		port = s.inPort
	case s.inPort:
		return nil
	}
	if s.tagged && s.frame.VLAN == 0 {
		return errors.New("output of a frame tagged with VLAN 0: not modelled")
	}
	o := Output{Port: port, Frame: s.frame}
	if typ, ok := r.sw.tunnelTypes[port]; ok {
		o.Tunnel = Tunnel{Type: typ, Key: s.tunID}
		switch {
		case s.tunDst != IP4{}:
			o.Tunnel.Remote = netip.AddrFrom4(s.tunDst)
		case s.tunDst6 != IP6{}:
			o.Tunnel.Remote = netip.AddrFrom16(s.tunDst6)
		default:
			return fmt.Errorf("output to tunnel port %d without a tunnel destination", port)
		}
	}
	r.verdict.Outputs = append(r.verdict.Outputs, o)
	return nil
}

// learn runs a learn action: it records the flow, and adds it when the
// switch installs what is learned and the table holds fewer than the
// action's limit of flows with its cookie (OVS's ofproto_flow_mod_learn).
// The flow replaces one of the same table, priority and match (learn is a
// MODIFY_STRICT), and is seen from the next packet on.
func (r *run) learn(l *learnAction) {
	rec, e := l.execute(&r.s)
	sw := r.sw
	if sw.cfg.InstallLearned {
		n := 0
		for _, x := range sw.tables[l.table] {
			if x.cookie == l.cookie && x.removed == 0 {
				n++
			}
		}
		if rec.Installed = l.limit == 0 || n < int(l.limit); rec.Installed {
			sw.install(e, r.packet)
		}
	}
	r.verdict.Learned = append(r.verdict.Learned, rec)
}

// install adds e, learned by packet n, in priority order, and retires the
// flow it replaces.
func (sw *Switch) install(e *entry, n uint64) {
	e.added = n
	key := matchKey(e.match)
	table := sw.tables[e.table]
	for _, x := range table {
		if x.priority == e.priority && x.removed == 0 && matchKey(x.match) == key {
			x.removed = n + 1
		}
	}
	i, _ := slices.BinarySearchFunc(table, e.priority, func(x *entry, p uint16) int { return int(p) - int(x.priority) })
	sw.tables[e.table] = slices.Insert(table, i, e)
}

// purge drops the flows no packet from now on sees.
func (sw *Switch) purge() {
	for id, t := range sw.tables {
		sw.tables[id] = slices.DeleteFunc(t, func(e *entry) bool { return e.removed != 0 && e.removed <= sw.packets })
	}
}

// Learned returns the flows learn actions have installed, by table,
// priority and cookie.
func (sw *Switch) Learned() []Learned {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	var out []Learned
	for _, id := range slices.Sorted(maps.Keys(sw.tables)) {
		for _, e := range sw.tables[id] {
			if e.learned && e.removed == 0 {
				out = append(out, e.record())
			}
		}
	}
	return out
}

// record describes a learned entry.
func (e *entry) record() Learned {
	l := Learned{Table: e.table, Priority: e.priority, Cookie: e.cookie, Installed: true}
	for _, mf := range e.match {
		l.Match = append(l.Match, Assignment{Field: mf.f.name, Bits: mf.f.bits(), Value: mf.value})
	}
	for _, o := range e.actions {
		l.Loads = append(l.Loads, Assignment{Field: o.dst.f.name, Ofs: o.dst.ofs, Bits: o.dst.bits, Value: o.value})
	}
	return l
}
