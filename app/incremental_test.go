package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/ovsdb"
)

// TestIncrementalChangesEndWhereAFullCompileDoes applies random mutations
// of every kind and, after each, checks that the switch holds exactly the
// flows a full compile of the state gives, while every pass sent only what
// it had to.
func TestIncrementalChangesEndWhereAFullCompileDoes(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { checkIncrementalMatchesFull(t, seed) })
	}
}

func checkIncrementalMatchesFull(t *testing.T, seed uint64) {
	state, sw := siteState(t), newMemSwitch()
	ports := map[string]uint32{"eth1": 1, "trunk0": 2, "eth2": 4, "eth3": 5,
		ovsdb.TunnelPortName(TypeVXLAN): 3, ovsdb.TunnelPortName(TypeGRE): 6}
	// A second gateway on network backup, for moves.
	must[RemoteGateway](t)(state.CreateRemoteGateway(RemoteGateway{Name: "site-d", TunnelIP: "2001:db8::d"}))
	must[Connection](t)(state.CreateConnection(Connection{Name: "backup-d", Network: "backup", RemoteGateway: "site-d",
		SegmentationID: 77, NetworkType: TypeGRE, Flood: true}))
	r := NewReconciler(ReconcilerConfig{Bridge: "br-int"}, state, sw, &fixedBridge{ports: ports})
	reconcileOK(t, r)

	rng := rand.New(rand.NewPCG(seed, 2))
	mac := func() string { return fmt.Sprintf("02:0b:00:00:%02x:%02x", rng.IntN(4), rng.IntN(32)) }
	ip := func() string {
		if rng.IntN(3) == 0 {
			return fmt.Sprintf("2001:db8::%x", 1+rng.IntN(60))
		}
		return fmt.Sprintf("192.0.2.%d", 1+rng.IntN(60))
	}
	conns := []string{"backup-b", "backup-d"}
	ops := []func() error{
		func() error { // add a few bindings
			var batch MACBindings
			for range 1 + rng.IntN(3) {
				batch = append(batch, MACBinding{MAC: mac(), IPs: []string{ip()}})
			}
			_, err := state.AddMACs(conns[rng.IntN(len(conns))], batch)
			return err
		},
		func() error { // replace a connection's set
			_, err := state.ReplaceMACs(conns[rng.IntN(len(conns))], MACBindings{{MAC: mac(), IPs: []string{ip(), ip()}}, {MAC: mac()}})
			return err
		},
		func() error { // delete one binding
			c := conns[rng.IntN(len(conns))]
			macs, _ := state.ListMACs(c)
			if len(macs) == 0 {
				return nil
			}
			return state.DeleteMAC(c, macs[rng.IntN(len(macs))].MAC)
		},
		func() error { // move bindings between backup's connections, sometimes with a wrong from
			from, to := "backup-b", "backup-d"
			if rng.IntN(2) == 0 {
				from, to = to, from
			}
			macs, _ := state.ListMACs(from)
			if len(macs) == 0 {
				return nil
			}
			mv := MACMove{To: to, MACs: []string{macs[rng.IntN(len(macs))].MAC}}
			if n := rng.IntN(4); n == 1 {
				mv.From = from
			} else if n == 2 {
				mv.From = to
			}
			if extra := macs[rng.IntN(len(macs))].MAC; !slices.Contains(mv.MACs, extra) && rng.IntN(2) == 0 {
				mv.MACs = append(mv.MACs, extra)
			}
			_, err := state.MoveMACs(mv)
			return err
		},
		func() error { // move a gateway: its connections' bindings change
			_, err := state.ReplaceRemoteGateway("site-b", RemoteGateway{TunnelIP: fmt.Sprintf("198.51.100.%d", 2+rng.IntN(5))})
			return err
		},
		func() error { // change a network's attachments
			atts := [][]Attachment{{{Port: "eth1"}}, {{Port: "eth1"}, {Port: "trunk0", VLAN: 100}}, {{Port: "eth1"}, {Port: "eth2"}}}
			_, err := state.ReplaceNetwork("backup", Network{Attachments: atts[rng.IntN(len(atts))]})
			return err
		},
		func() error { // a second network and connection come and go
			if slices.Contains(conns, "red-c") {
				conns = slices.DeleteFunc(conns, func(c string) bool { return c == "red-c" })
				if err := state.DeleteConnection("red-c"); err != nil {
					return err
				}
				if err := state.DeleteRemoteGateway("site-c"); err != nil {
					return err
				}
				return state.DeleteNetwork("red")
			}
			if _, err := state.CreateNetwork(Network{Name: "red", Attachments: []Attachment{{Port: "eth3"}}}); err != nil {
				return err
			}
			if _, err := state.CreateRemoteGateway(RemoteGateway{Name: "site-c", TunnelIP: "203.0.113.3"}); err != nil {
				return err
			}
			if _, err := state.CreateConnection(Connection{Name: "red-c", Network: "red", RemoteGateway: "site-c", SegmentationID: 9, NetworkType: TypeGRE, Flood: true}); err != nil {
				return err
			}
			conns = append(conns, "red-c")
			return nil
		},
	}
	for step := range 300 {
		op := rng.IntN(len(ops))
		if err := ops[op](); err != nil {
			if _, rejected := err.(*Error); !rejected {
				t.Fatalf("step %d op %d: %v", step, op, err)
			}
		}
		// Several changes may wait for one pass, as under load.
		if rng.IntN(3) > 0 {
			continue
		}
		reconcileOK(t, r)
		in := snapshotInput(state, ports)
		want, err := flows.Compile(in)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := sw.Dump(context.Background(), flows.ControllerCookie, flows.ControllerCookieMask)
		if len(got) != len(want) {
			have := map[uint64]bool{}
			for _, f := range got {
				have[f.Cookie] = true
			}
			var missing []string
			for c := range want {
				if !have[c] {
					_, o, _ := flows.DecodeCookie(c)
					missing = append(missing, fmt.Sprintf("%x(%s)", c, o))
				}
			}
			t.Fatalf("step %d (op %d): switch has %d flows, full compile %d; missing %v", step, op, len(got), len(want), missing)
		}
		for _, f := range got {
			if _, ok := want[f.Cookie]; !ok {
				t.Fatalf("step %d (op %d): switch has flow %x a full compile does not", step, op, f.Cookie)
			}
		}
		if st := r.Status(); st.Flows != len(want) || !st.Reconciled {
			t.Fatalf("step %d: status %+v, want %d flows reconciled", step, st, len(want))
		}
	}
}

// TestAPassCompilesFromOneInstant: a change committed while a pass reads
// the state (in the state, not yet handed to the reconciler) must not let
// the pass add a flow its owner no longer has, over the flow of the owner
// that now has its match (here the ARP answer for one IP moving between
// bindings of a new connection).
func TestAPassCompilesFromOneInstant(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	ports := map[string]uint32{"eth1": 1, "trunk0": 2, "eth3": 5,
		ovsdb.TunnelPortName(TypeVXLAN): 3, ovsdb.TunnelPortName(TypeGRE): 6}
	r := NewReconciler(ReconcilerConfig{Bridge: "br-int"}, state, sw, &fixedBridge{ports: ports})
	reconcileOK(t, r)

	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(state.CreateNetwork(Network{Name: "red", Attachments: []Attachment{{Port: "eth3"}}}))
	must(state.CreateRemoteGateway(RemoteGateway{Name: "site-c", TunnelIP: "203.0.113.3"}))
	must(state.CreateConnection(Connection{Name: "red-c", Network: "red", RemoteGateway: "site-c", SegmentationID: 9, NetworkType: TypeGRE}))
	must(state.AddMACs("red-c", MACBindings{{MAC: "02:0c:00:00:00:01", IPs: []string{"192.0.2.32"}}}))
	must(state.ReplaceMACs("red-c", MACBindings{{MAC: "02:0c:00:00:00:02", IPs: []string{"192.0.2.32"}}}))

	// The replace is in the state but reaches the reconciler only after
	// its next pass.
	late := r.takePending()
	r.pending = late[:len(late)-1]
	reconcileOK(t, r)
	r.pending = late[len(late)-1:]
	reconcileOK(t, r)

	in := snapshotInput(state, ports)
	want, err := flows.Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := sw.Dump(context.Background(), flows.ControllerCookie, flows.ControllerCookieMask)
	for _, f := range got {
		delete(want, f.Cookie)
	}
	for c := range want {
		_, o, _ := flows.DecodeCookie(c)
		t.Errorf("switch lacks flow %#x of %s", c, o)
	}
}

// snapshotInput is the flow compiler's input for the whole state, built
// from its public Snapshot: the reference the reconciler's own reads are
// checked against.
func snapshotInput(state *State, ports map[string]uint32) *flows.Input {
	snap := state.Snapshot()
	in, refs := buildInput(&snap, ports, Learning{})
	for i := range in.Networks {
		for j := range in.Networks[i].Connections {
			c := &in.Networks[i].Connections[j]
			for name, ref := range refs {
				if ref.conn.ID == c.ID {
					for _, b := range snap.MACs[name] {
						c.Bindings = append(c.Bindings, flowBinding(b))
					}
				}
			}
		}
	}
	return in
}

// flowBinding converts a validated binding as the reconciler's passes do.
func flowBinding(b MACBinding) flows.Binding {
	mac, _ := net.ParseMAC(b.MAC)
	fb := flows.Binding{ID: b.ID, MAC: [6]byte(mac)}
	for _, s := range b.IPs {
		switch a, err := netip.ParseAddr(s); {
		case err != nil:
		case a.Is4():
			fb.IPv4 = append(fb.IPv4, net.IP(a.AsSlice()))
		default:
			fb.IPv6 = append(fb.IPv6, net.IP(a.AsSlice()))
		}
	}
	return fb
}
