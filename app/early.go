package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/l2gw/l2gw/flows"
)

// A full sync that reads the bridge reads it in pieces, and a change of a
// few bindings committed meanwhile goes to the switch between two pieces
// instead of after the last one. OVS builds a request's whole reply before
// it handles anything else, from any connection: at a million bindings
// one request held a change posted at start for ~4 s; a piece of
// dumpPieceFlows flows holds it ~0.2 s.
//
// Nothing verified tells what the switch has of those bindings yet, so
// each goes without a model to diff against: its flows as the state holds
// them, after a delete of every flow of its owner (DeleteOwnerMod) unless
// its ID was free until the change (BindingChange.Fresh). What the pieces
// read of the owners cleared, before or after, is then replaced by what
// was sent (earlyDeltas.correct); what they read of the others stays, so
// that the comparison still finds what no one should have. The changes go
// again, as deltas, once the switch is verified.

// dumpPieceFlows is about how many flows one request of a full sync's dump
// reads: OVS then answers others within a fraction of a second.
const dumpPieceFlows = 1 << 17

// maxDumpPieces caps the requests of one dump: each walks all of OVS's
// tables (~0.1 s at two million flows) to pick its part.
const maxDumpPieces = 64

// earlyOwnersMax is the most bindings a change sent between two pieces
// may touch: a delete of an owner's flows by cookie mask walks OVS's
// tables too. A larger change waits for the end of the dump.
const earlyOwnersMax = 16

// dumpPieces returns in how many requests the bridge is read, a power of
// two: each reads the flows whose cookie's low bits (its content hash)
// are the request's number.
func (r *Reconciler) dumpPieces() int {
	want := 2 * r.state.compiledBindings() // a binding's MAC and address flows
	n := 1
	for n < maxDumpPieces && n*r.pieceFlows < want {
		n *= 2
	}
	return n
}

// earlyDeltas are the changes a full sync sent while it read the bridge.
type earlyDeltas struct {
	// owners holds, for each binding owner whose flows were sent, the
	// cookies sent (none: the binding went).
	owners map[flows.Owner][]uint64
	// cleared are the owners whose every flow was deleted first.
	cleared map[flows.Owner]bool
	tables  map[uint64]uint8 // the table of each cookie sent
	changes []Change         // those applied, to go again once the switch is verified
}

// applyEarly sends the pending changes to the switch, between two pieces of
// a dump, if they touch no more than earlyOwnersMax bindings and nothing
// else; others wait for the dump to end.
func (r *Reconciler) applyEarly(ctx context.Context, ports map[string]uint32, e *earlyDeltas) error {
	changes := r.takeEarly()
	if changes == nil {
		return nil
	}
	start := time.Now()
	e.changes = append(e.changes, changes...)
	var ids []uint32           // the owners, in order, once each
	stale := map[uint32]bool{} // IDs whose flows may be on the switch
	type bound struct {
		conn    string
		binding *flows.Binding
	}
	now := map[uint32]bound{} // the binding that holds each ID now
	var refs map[string]connRef
	var tunnelPorts map[string]uint32
	ar := newArena(earlyOwnersMax)
	r.state.view(func(v stateView) {
		snap := v.topology()
		var in *flows.Input
		in, refs = buildInput(&snap, ports, r.cfg.Learning)
		tunnelPorts = in.TunnelPorts
		for _, ch := range changes {
			for _, bc := range ch.Bindings {
				if !slices.Contains(ids, bc.ID) {
					ids = append(ids, bc.ID)
				}
				stale[bc.ID] = stale[bc.ID] || !bc.Fresh
				if e, ok := v.touched(bc); ok {
					b := ar.binding(&e)
					now[bc.ID] = bound{conn: bc.Connection, binding: &b}
				}
			}
		}
	})
	err := r.send(ctx, func(out *sink) error {
		for _, id := range ids {
			o := flows.Owner{Kind: flows.KindBinding, ID: id}
			for _, c := range e.owners[o] {
				delete(e.tables, c) // sent by an earlier pass: this one replaces them
			}
			if stale[id] {
				out.clear(o)
				e.cleared[o] = true
			}
			var cookies []uint64
			if b, ok := now[id]; ok {
				if ref, ok := refs[b.conn]; ok {
					fs, err := flows.CompileBinding(ref.networkID, &ref.conn, tunnelPorts, b.binding)
					if err != nil {
						return fmt.Errorf("binding %d: %w", id, err)
					}
					for _, f := range fs {
						out.add(f)
						cookies = append(cookies, f.Cookie)
						e.tables[f.Cookie] = f.Table
					}
				}
			}
			e.owners[o] = cookies
		}
		return nil
	})
	if err == nil {
		r.log.Info("applied changes while reading the bridge", "bindings", len(ids), "took", time.Since(start))
	}
	return err
}

// takeEarly takes the pending changes if applyEarly may send them.
func (r *Reconciler) takeEarly() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ch := range r.pending {
		if ch.Topology || len(ch.RemoteMACs) > 0 || len(ch.Synced) > 0 {
			return nil
		}
		n += len(ch.Bindings)
	}
	if n == 0 || n > earlyOwnersMax {
		return nil
	}
	changes := r.pending
	r.pending = nil
	return changes
}

// clearedCookie reports whether c is the cookie of a flow of an owner
// applyEarly cleared: what the dump read of it is not what the switch has.
func (e *earlyDeltas) clearedCookie(c uint64) bool {
	_, o, _ := flows.DecodeCookie(c)
	return e.cleared[o] && flows.IsController(c)
}

// correct makes installed and altered (what the dump read) what the switch
// has: the cookies of cleared owners the dump read go, those applyEarly
// sent come.
func (e *earlyDeltas) correct(installed *cookieSet, altered flows.Cookies) {
	if len(e.cleared) > 0 {
		installed.deleteIf(func(c uint64, _ struct{}) bool {
			if e.clearedCookie(c) {
				delete(altered, c)
				return true
			}
			return false
		})
	}
	for _, cs := range e.owners {
		for _, c := range cs {
			installed.add(c)
		}
	}
}

// newEarlyDeltas returns an empty earlyDeltas.
func newEarlyDeltas() *earlyDeltas {
	return &earlyDeltas{owners: map[flows.Owner][]uint64{}, cleared: map[flows.Owner]bool{}, tables: map[uint64]uint8{}}
}

// overlay makes the owners e sent hold, in m (a compile made before the
// switch was verified), the cookies sent: the changes, applied again, then
// diff against what the switch has.
func (e *earlyDeltas) overlay(m *model) {
	for o, cs := range e.owners {
		m.flows += len(cs) - m.owners.count(o)
		m.owners.set(o, cs)
	}
}
