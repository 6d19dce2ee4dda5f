package app

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/l2gw/l2gw/flows"
)

// ownerFlows finds the owner of kind named name in rep.
func ownerFlows(t *testing.T, rep FlowReport, kind, name string) OwnerFlows {
	t.Helper()
	for _, o := range rep.Owners {
		if o.Kind == kind && o.Name == name {
			return o
		}
	}
	t.Fatalf("no %s %q in the report; owners: %+v", kind, name, rep.Owners)
	return OwnerFlows{}
}

func flowReportOK(t *testing.T, r *Reconciler) FlowReport {
	t.Helper()
	rep, err := r.Flows(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestFlowReportOfAReconciledBridgeIsInSync(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	r := newTestReconciler(state, sw)
	reconcileOK(t, r)
	rep := flowReportOK(t, r)
	if s := rep.Summary; !s.InSync || s.Installed != len(sw.flows) || s.Desired != len(sw.flows) || s.Learned != 0 {
		t.Fatalf("summary %+v; want in sync with %d flows", s, len(sw.flows))
	}
	for _, want := range []struct{ kind, name, network, conn string }{
		{"pipeline", "pipeline", "", ""},
		{"network", "backup", "backup", ""},
		{"connection", "backup-b", "backup", "backup-b"},
		{"binding", "backup-b/02:0b:00:00:00:01", "backup", "backup-b"},
		{"tunnel", "vxlan", "", ""},
	} {
		o := ownerFlows(t, rep, want.kind, want.name)
		if o.Network != want.network || o.Connection != want.conn || len(o.Flows) == 0 {
			t.Errorf("%s %s: network %q, connection %q, %d flows", want.kind, want.name, o.Network, o.Connection, len(o.Flows))
		}
	}
	b := ownerFlows(t, rep, "binding", "backup-b/02:0b:00:00:00:01")
	if len(b.Flows) != 2 || b.Flows[0].Table != "arp_responder" || b.Flows[1].Table != "l2_lookup" {
		t.Errorf("binding flows %+v; want its ARP answer (arp_responder) and forwarding (l2_lookup)", b.Flows)
	}
}

func TestFlowReportFindsMissingExtraAndDifferentFlows(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	r := newTestReconciler(state, sw)
	reconcileOK(t, r)
	conn, err := state.GetConnection("backup-b")
	if err != nil {
		t.Fatal(err)
	}
	var lost, changed uint64
	for c, f := range sw.flows {
		_, o, _ := flows.DecodeCookie(c)
		switch {
		case o.Kind == flows.KindBinding && f.table == flows.TableARPResponder:
			lost = c
		case o.Kind == flows.KindConnection && f.table == flows.TableClassifier:
			changed = c
		}
	}
	// The binding's ARP answer is gone, the connection's admission has
	// other content, and a binding that no longer exists left a flow.
	delete(sw.flows, lost)
	sw.flows[changed+1] = sw.flows[changed]
	delete(sw.flows, changed)
	stray := uint64(0xA3000063_12345678) // binding 99
	sw.flows[stray] = memFlow{table: flows.TableL2Lookup, priority: 200}
	sw.flows[flows.LearnedCookie(1)] = memFlow{table: flows.TableL2Lookup, priority: 100, key: "a"}
	sw.flows[flows.LearnedCookie(1)|1] = memFlow{table: flows.TableL2Lookup, priority: 100, key: "b"}
	sw.flows[flows.LearnedConnectionCookie(conn.ID)] = memFlow{table: flows.TableL2Lookup, priority: 100, key: "c"}

	rep := flowReportOK(t, r)
	if s := rep.Summary; s.InSync || s.Missing != 1 || s.Extra != 1 || s.Different != 1 || s.Learned != 3 {
		t.Fatalf("summary %+v; want 1 missing, 1 extra, 1 different, 3 learned", s)
	}
	b := ownerFlows(t, rep, "binding", "backup-b/02:0b:00:00:00:01")
	if len(b.Missing) != 1 || b.Missing[0] != (FlowEntry{Table: "arp_responder", TableID: 20, Priority: 100, Cookie: lost}) {
		t.Errorf("binding missing %+v", b.Missing)
	}
	c := ownerFlows(t, rep, "connection", "backup-b")
	if len(c.Different) != 1 || c.Different[0].Installed != changed+1 || c.Different[0].Desired != changed ||
		c.Different[0].Table != "classifier" || len(c.Missing)+len(c.Extra) != 0 {
		t.Errorf("connection: different %+v, missing %+v, extra %+v; want one different classifier flow", c.Different, c.Missing, c.Extra)
	}
	x := ownerFlows(t, rep, "binding", "#99")
	if len(x.Extra) != 1 || x.Extra[0].Cookie != stray || x.Network != "" {
		t.Errorf("stray binding %+v", x)
	}
	want := []Learned{
		{Kind: "network", ID: 1, Name: "backup", Network: "backup", Entries: 2},
		{Kind: "connection", ID: conn.ID, Name: "backup-b", Network: "backup", Connection: "backup-b", Entries: 1},
	}
	if fmt.Sprint(rep.Learned) != fmt.Sprint(want) {
		t.Errorf("learned %+v, want %+v", rep.Learned, want)
	}

	diff := rep.Differences()
	if len(diff.Owners) != 3 || len(diff.Learned) != 0 || diff.Summary.Missing != 1 || diff.Summary.InSync {
		t.Errorf("differences: %+v", diff)
	}
	only := rep.Only("", "backup-b")
	if len(only.Owners) != 2 || only.Owners[0].Kind != "connection" || only.Owners[1].Kind != "binding" ||
		len(only.Learned) != 1 || only.Summary.Extra != 0 || only.Summary.Different != 1 {
		t.Errorf("connection backup-b only: %+v", only)
	}
	if net := rep.Only("backup", ""); len(net.Owners) != 3 || len(net.Learned) != 2 {
		t.Errorf("network backup only: %d owners, %d learned; want 3 and 2", len(net.Owners), len(net.Learned))
	}
}

// downSwitch is a switch whose OpenFlow session is down.
type downSwitch struct{ *memSwitch }

func (downSwitch) Dump(context.Context, uint64, uint64) ([]flows.DumpedFlow, error) {
	return nil, fmt.Errorf("dump flows: %w", flows.ErrNotConnected)
}

func TestFlowReportWithoutASwitchIsUnavailable(t *testing.T) {
	r := newTestReconciler(siteState(t), downSwitch{newMemSwitch()})
	_, err := r.Flows(context.Background())
	var appErr *Error
	if !errors.As(err, &appErr) || appErr.Kind != Unavailable {
		t.Fatalf("error %v; want an Unavailable Error", err)
	}
}

func TestTunnelOwnerNames(t *testing.T) {
	for _, typ := range []string{TypeVXLAN, TypeGRE, TypeGeneve} {
		set, err := flows.CompileTopology(&flows.Input{TunnelPorts: map[string]uint32{typ: 9}})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for c := range set {
			if _, o, _ := flows.DecodeCookie(c); o.Kind == flows.KindTunnel {
				found = true
				if tunnelTypes[o.ID] != typ {
					t.Errorf("tunnel owner %d is named %q, want %q", o.ID, tunnelTypes[o.ID], typ)
				}
			}
		}
		if !found {
			t.Errorf("%s: no tunnel-owned flow", typ)
		}
	}
}
