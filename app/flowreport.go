package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/l2gw/l2gw/flows"
)

// FlowReport is the bridge's l2gw flows read back to their owners (the API
// objects), with how they differ from the desired state.
//
// The dump and the desired state are read at two instants: a change
// committed a moment ago may show as a difference until the reconciler has
// applied it (Status.Reconciled).
type FlowReport struct {
	Summary FlowSummary
	Owners  []OwnerFlows
	Learned []Learned
}

// FlowSummary counts the flows of a report's owners.
type FlowSummary struct {
	InSync    bool // nothing missing, extra or different
	Installed int
	Desired   int
	Missing   int
	Extra     int
	Different int
	Learned   int // entries OVS learned
	Held      int // installed, kept until their origin is synced
}

// OwnerFlows is one owner's flows: those installed and how they differ from
// those desired. A desired flow is named by its cookie, whose low 32 bits
// hash the flow's content, so a flow installed with another cookie than the
// desired one in the same table and priority is Different: the same flow
// with other content (the dump carries no match to tell more). So is a
// desired flow whose content was changed on the switch, its cookie kept
// (flows.DumpedFlow.Altered): Installed and Desired are then the same.
type OwnerFlows struct {
	Kind string // pipeline, network, connection, binding or tunnel
	ID   uint32 // the owner's ID in cookies
	// Origin is where the owner comes from (its cookies' tag).
	Origin Origin
	// Name is the network's or connection's name, "CONN/MAC" for a
	// binding, "pipeline", the tunnel type, or "#ID" for an owner the
	// desired state no longer has.
	Name       string
	Network    string      // the network the owner belongs to
	Connection string      // the connection the owner belongs to
	Flows      []FlowEntry // installed, by table, priority, cookie
	Missing    []FlowEntry // desired, not installed
	Extra      []FlowEntry // installed, not desired
	Different  []FlowDiff  // installed with other content
	// Held are installed, not desired (yet), and kept: their dynamic
	// origin has not told everything since l2gwd started (see Feed).
	Held []FlowEntry
}

// differs reports whether o has a missing, extra or different flow.
func (o *OwnerFlows) differs() bool {
	return len(o.Missing)+len(o.Extra)+len(o.Different) > 0
}

// FlowEntry names one flow on the bridge.
type FlowEntry struct {
	Table    string // the pipeline table's name
	TableID  uint8
	Priority uint16
	Cookie   uint64
}

// FlowDiff is a flow installed with other content than desired: same owner,
// table and priority, another content hash.
type FlowDiff struct {
	Table     string
	TableID   uint8
	Priority  uint16
	Installed uint64 // the installed flow's cookie
	Desired   uint64 // the desired flow's cookie
}

// Learned counts the MACs OVS learned for a network (from its local ports)
// or a connection (from its remote gateway).
type Learned struct {
	Kind       string // network or connection
	ID         uint32
	Name       string
	Network    string
	Connection string
	Entries    int
}

// Flows dumps the bridge's l2gw flows and learned entries, compiles the
// desired state afresh and reports both by owner, with their differences.
// It is safe to call while Run runs: it reads the state, the bridge's
// ofports and a dump, never the reconciler's own model. Without an
// OpenFlow connection it fails with an Unavailable Error.
func (r *Reconciler) Flows(ctx context.Context) (FlowReport, error) {
	installed, learned, err := r.dumpBridge(ctx)
	if err == nil {
		return r.flowReport(installed, learned)
	}
	if errors.Is(err, flows.ErrNotConnected) {
		return FlowReport{}, &Error{Kind: Unavailable,
			Message: fmt.Sprintf("cannot read the flows of bridge %s: %v", r.cfg.Bridge, err)}
	}
	return FlowReport{}, fmt.Errorf("dump the flows of bridge %s: %w", r.cfg.Bridge, err)
}

// flowReport compiles the desired state and reports it beside the dumps.
func (r *Reconciler) flowReport(installed, learned []flows.DumpedFlow) (FlowReport, error) {
	names := readOwnerNames(r.state)
	d := r.readInput(r.br.OFPorts(r.cfg.Bridge))
	in := d.in
	desired := map[uint64]flows.DumpedFlow{}
	keep := func(f *flows.Flow) {
		desired[f.Cookie] = flows.DumpedFlow{Cookie: f.Cookie, Table: f.Table, Priority: f.Priority}
	}
	topology, err := flows.CompileTopology(in)
	if err != nil {
		return FlowReport{}, fmt.Errorf("compile the desired topology: %w", err)
	}
	for _, f := range topology {
		keep(f)
	}
	for i := range in.Networks {
		n := &in.Networks[i]
		for j := range n.Connections {
			c := &n.Connections[j]
			d.takeBindings(i, j, func(b *flows.Binding) bool {
				names.binding(flows.Owner{Kind: flows.KindBinding, ID: b.ID, Origin: b.Origin}, c.ID, formatMAC(b.MAC))
				fs, cerr := flows.CompileBinding(n.ID, c, in.TunnelPorts, b)
				if cerr != nil {
					err = fmt.Errorf("compile binding %d: %w", b.ID, cerr)
					return false
				}
				for _, f := range fs {
					keep(f)
				}
				return true
			})
			if err != nil {
				return FlowReport{}, err
			}
		}
	}
	held := func(c uint64) bool {
		_, o, _ := flows.DecodeCookie(c)
		return o.Origin.Dynamic() && d.unsynced[o.Origin]
	}
	rep := FlowReport{Owners: compare(installed, desired, held, names), Learned: countLearned(learned, names)}
	rep.summarize()
	return rep, nil
}

// compare groups the installed and desired flows by owner and tells them
// apart; held says which installed flows that are not desired are kept.
func compare(installed []flows.DumpedFlow, desired map[uint64]flows.DumpedFlow, held func(uint64) bool, names *ownerNames) []OwnerFlows {
	owners := map[flows.Owner]*OwnerFlows{}
	owner := func(c uint64) *OwnerFlows {
		_, o, _ := flows.DecodeCookie(c)
		if owners[o] == nil {
			owners[o] = names.owner(o)
		}
		return owners[o]
	}
	// Missing and extra flows of one owner, table and priority.
	type slot struct {
		owner    flows.Owner
		table    uint8
		priority uint16
	}
	missing, extra := map[slot][]uint64{}, map[slot][]uint64{}
	slotOf := func(f flows.DumpedFlow) slot {
		_, o, _ := flows.DecodeCookie(f.Cookie)
		return slot{o, f.Table, f.Priority}
	}
	onBridge := make(map[uint64]bool, len(installed))
	for _, f := range installed {
		onBridge[f.Cookie] = true
		o := owner(f.Cookie)
		o.Flows = append(o.Flows, entry(f))
		if _, ok := desired[f.Cookie]; ok && f.Altered {
			o.Different = append(o.Different, FlowDiff{Table: flows.TableName(f.Table), TableID: f.Table,
				Priority: f.Priority, Installed: f.Cookie, Desired: f.Cookie})
		} else if !ok {
			if held(f.Cookie) {
				o.Held = append(o.Held, entry(f))
			} else {
				extra[slotOf(f)] = append(extra[slotOf(f)], f.Cookie)
			}
		}
	}
	for c, f := range desired {
		owner(c) // an owner with nothing installed is listed too
		if !onBridge[c] {
			missing[slotOf(f)] = append(missing[slotOf(f)], c)
		}
	}
	for s, cs := range missing {
		slices.Sort(cs)
		ex := extra[s]
		slices.Sort(ex)
		o := owners[s.owner]
		n := min(len(cs), len(ex))
		for i := range n {
			o.Different = append(o.Different, FlowDiff{Table: flows.TableName(s.table), TableID: s.table,
				Priority: s.priority, Installed: ex[i], Desired: cs[i]})
		}
		for _, c := range cs[n:] {
			o.Missing = append(o.Missing, entry(desired[c]))
		}
		extra[s] = ex[n:]
	}
	for s, ex := range extra {
		for _, c := range ex {
			owners[s.owner].Extra = append(owners[s.owner].Extra, entry(flows.DumpedFlow{Cookie: c, Table: s.table, Priority: s.priority}))
		}
	}
	out := make([]OwnerFlows, 0, len(owners))
	for _, o := range slices.SortedFunc(maps.Keys(owners), compareOwners) {
		of := owners[o]
		sortEntries(of.Flows)
		sortEntries(of.Missing)
		sortEntries(of.Extra)
		sortEntries(of.Held)
		slices.SortFunc(of.Different, func(a, b FlowDiff) int {
			return cmp.Or(cmp.Compare(a.TableID, b.TableID), cmp.Compare(b.Priority, a.Priority), cmp.Compare(a.Installed, b.Installed))
		})
		out = append(out, *of)
	}
	return out
}

// compareOwners orders owners by kind, then origin, then ID.
func compareOwners(a, b flows.Owner) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Origin, b.Origin), cmp.Compare(a.ID, b.ID))
}

// entry is f as a report lists it.
func entry(f flows.DumpedFlow) FlowEntry {
	return FlowEntry{Table: flows.TableName(f.Table), TableID: f.Table, Priority: f.Priority, Cookie: f.Cookie}
}

// sortEntries orders flows as the pipeline runs them: by table, then by
// falling priority, then by cookie.
func sortEntries(es []FlowEntry) {
	slices.SortFunc(es, func(a, b FlowEntry) int {
		return cmp.Or(cmp.Compare(a.TableID, b.TableID), cmp.Compare(b.Priority, a.Priority), cmp.Compare(a.Cookie, b.Cookie))
	})
}

// countLearned counts the learned entries by network and connection.
func countLearned(learned []flows.DumpedFlow, names *ownerNames) []Learned {
	counts := map[flows.Owner]int{}
	for _, f := range learned {
		_, o, _ := flows.DecodeCookie(f.Cookie)
		counts[o]++
	}
	out := make([]Learned, 0, len(counts))
	for _, o := range slices.SortedFunc(maps.Keys(counts), compareOwners) {
		of := names.owner(o)
		out = append(out, Learned{Kind: of.Kind, ID: o.ID, Name: of.Name, Network: of.Network,
			Connection: of.Connection, Entries: counts[o]})
	}
	return out
}

// summarize counts the report's flows.
func (rep *FlowReport) summarize() {
	s := FlowSummary{}
	for i := range rep.Owners {
		o := &rep.Owners[i]
		s.Installed += len(o.Flows)
		s.Desired += len(o.Flows) - len(o.Extra) - len(o.Held) + len(o.Missing)
		s.Held += len(o.Held)
		s.Missing += len(o.Missing)
		s.Extra += len(o.Extra)
		s.Different += len(o.Different)
	}
	for _, l := range rep.Learned {
		s.Learned += l.Entries
	}
	s.InSync = s.Missing+s.Extra+s.Different == 0
	rep.Summary = s
}

// Only returns the part of rep that belongs to network and connection
// (each "" for any): the network's own flows, its connections' and their
// bindings', and what they learned. Pipeline and tunnel flows belong to no
// network and are left out by either filter.
func (rep FlowReport) Only(network, connection string) FlowReport {
	if network == "" && connection == "" {
		return rep
	}
	in := func(net, conn string) bool {
		return net != "" && (network == "" || net == network) &&
			(connection == "" || conn == connection)
	}
	out := FlowReport{}
	for _, o := range rep.Owners {
		if in(o.Network, o.Connection) {
			out.Owners = append(out.Owners, o)
		}
	}
	for _, l := range rep.Learned {
		if in(l.Network, l.Connection) {
			out.Learned = append(out.Learned, l)
		}
	}
	out.summarize()
	return out
}

// Differences returns the owners of rep whose flows differ from the
// desired ones, and no learned entries.
func (rep FlowReport) Differences() FlowReport {
	out := FlowReport{}
	for _, o := range rep.Owners {
		if o.differs() {
			out.Owners = append(out.Owners, o)
		}
	}
	out.summarize()
	return out
}

// ownerNames resolves owners to the API objects' names.
type ownerNames struct {
	networks    map[uint32]string
	connections map[uint32]Connection
	bindings    map[flows.Owner]bindingName
}

// bindingName is a binding's MAC and connection ID.
type bindingName struct {
	conn uint32
	mac  string
}

// readOwnerNames reads the networks' and connections' names by ID.
func readOwnerNames(state *State) *ownerNames {
	names := &ownerNames{networks: map[uint32]string{}, connections: map[uint32]Connection{}, bindings: map[flows.Owner]bindingName{}}
	state.view(func(v stateView) {
		snap := v.topology()
		for _, n := range snap.Networks {
			names.networks[n.ID] = n.Name
		}
		for _, c := range snap.Connections {
			names.connections[c.ID] = c
		}
	})
	return names
}

// binding records that binding owner o is mac on connection conn.
func (n *ownerNames) binding(o flows.Owner, conn uint32, mac string) {
	n.bindings[o] = bindingName{conn: conn, mac: mac}
}

// owner returns an empty OwnerFlows naming o.
func (n *ownerNames) owner(o flows.Owner) *OwnerFlows {
	of := &OwnerFlows{Kind: o.Kind.String(), ID: o.ID, Origin: o.Origin, Name: "#" + strconv.FormatUint(uint64(o.ID), 10)}
	switch o.Kind {
	case flows.KindPipeline:
		of.Name = "pipeline"
	case flows.KindTunnel:
		if typ, ok := tunnelTypes[o.ID]; ok {
			of.Name = typ
		}
	case flows.KindNetwork:
		if name, ok := n.networks[o.ID]; ok {
			of.Name, of.Network = name, name
		}
	case flows.KindConnection:
		if c, ok := n.connections[o.ID]; ok {
			of.Name, of.Network, of.Connection = c.Name, c.Network, c.Name
		}
	case flows.KindBinding:
		if b, ok := n.bindings[o]; ok {
			if c, ok := n.connections[b.conn]; ok {
				of.Name, of.Network, of.Connection = c.Name+"/"+b.mac, c.Network, c.Name
			}
		}
	}
	return of
}

// tunnelTypes names the tunnel owners' IDs (flows numbers the types in
// its cookies; TestTunnelOwnerNames checks this against it).
var tunnelTypes = map[uint32]string{1: TypeVXLAN, 2: TypeGRE, 3: TypeGeneve}
