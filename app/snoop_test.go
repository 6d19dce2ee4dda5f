package app

import (
	"maps"
	"net/netip"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/ovsdb"
)

// snoopingSwitch is a memSwitch that can rate-limit host snooping, and
// counts the times it was asked to.
type snoopingSwitch struct {
	*memSwitch
	snooping int
	stats    flows.SnoopStats
}

func (s *snoopingSwitch) SnoopHosts() { s.snooping++ }

func (s *snoopingSwitch) SnoopStats() flows.SnoopStats { return s.stats }

// installed returns the cookies of sw's flows, and how many are in the
// snoop table.
func installed(sw *memSwitch) (cookies []uint64, snoop int) {
	for c, f := range sw.flows {
		cookies = append(cookies, c)
		if f.table == flows.TableSnoop {
			snoop++
		}
	}
	slices.Sort(cookies)
	return cookies, snoop
}

// compiled returns the cookies of a full compile of r's desired state.
func compiled(t *testing.T, r *Reconciler) []uint64 {
	t.Helper()
	set, err := flows.Compile(r.readInput(r.br.OFPorts(r.cfg.Bridge)).input())
	if err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(set))
}

// TestSnoopingHostsPutsTheSnoopTableOnTheSwitch: with SnoopHosts, the
// switch is asked to rate-limit snooping before any flow is sent, and it
// gets the snoop table's flows, in full syncs and incremental passes
// alike; a switch that cannot rate-limit gets none.
func TestSnoopingHostsPutsTheSnoopTableOnTheSwitch(t *testing.T) {
	br := func() *fixedBridge {
		return &fixedBridge{ports: map[string]uint32{"eth1": 1, "trunk0": 2, "eth2": 4, ovsdb.TunnelPortName(TypeVXLAN): 3}}
	}
	state := siteState(t)
	sw := &snoopingSwitch{memSwitch: newMemSwitch()}
	r := NewReconciler(ReconcilerConfig{Bridge: "br-int", SnoopHosts: true}, state, sw, br())
	if sw.snooping != 1 || sw.bundles != 0 {
		t.Fatalf("asked to snoop %d times before %d bundles, want once, before any", sw.snooping, sw.bundles)
	}
	reconcileOK(t, r)
	got, snoop := installed(sw.memSwitch)
	if want := compiled(t, r); snoop == 0 || !slices.Equal(got, want) {
		t.Fatalf("after the full sync: %d flows (%d snoop), want the %d of a full compile with snooping", len(got), snoop, len(want))
	}
	if _, err := state.CreateNetwork(Network{Name: "front", Attachments: []Attachment{{Port: "eth2"}}}); err != nil {
		t.Fatal(err)
	}
	reconcileOK(t, r)
	if got, snoop = installed(sw.memSwitch); snoop == 0 || !slices.Equal(got, compiled(t, r)) {
		t.Fatalf("after a new network: %d flows (%d snoop), not a full compile with snooping", len(got), snoop)
	}

	plain := newMemSwitch()
	r = NewReconciler(ReconcilerConfig{Bridge: "br-int", SnoopHosts: true}, state, plain, br())
	reconcileOK(t, r)
	if _, snoop := installed(plain); snoop != 0 || r.snoop {
		t.Errorf("a switch that cannot rate-limit snooping got %d snoop flows", snoop)
	}
}

func ips(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// TestLocalMACsCarryTheirHostsAddresses: added and moved events carry the
// addresses known so far, a change of them alone is an ips event, and a
// removed event names the addresses last reported.
func TestLocalMACsCarryTheirHostsAddresses(t *testing.T) {
	state := siteState(t)
	r := newTestReconciler(state, newMemSwitch()) // ofports: eth1 1, trunk0 2
	backup, _ := state.GetNetwork("backup")
	const m = "02:0a:00:00:00:01"
	with := func(ev flows.MACEvent, addrs ...string) flows.MACEvent { ev.IPs = ips(addrs...); return ev }
	added := macEvent(flows.MACAdded, backup.ID, m, 1)
	changed := macEvent(flows.MACIPs, backup.ID, m, 1)
	got := watchAll(t, r,
		with(added, "192.0.2.11"),
		with(changed, "192.0.2.11", "2001:db8::11"),
		with(changed, "192.0.2.11", "2001:db8::11"), // nothing new
		with(macEvent(flows.MACMoved, backup.ID, m, 2), "2001:db8::11"),
		removed(backup.ID, m, 2, flows.RemovedIdle),
	)
	eth1, trunk0 := Attachment{Port: "eth1"}, Attachment{Port: "trunk0", VLAN: 100}
	expectLocalMACs(t, got,
		LocalMACEvent{Kind: LocalMACAdded, Network: "backup", MAC: m, Attachment: eth1, OFPort: 1, IPs: ips("192.0.2.11")},
		LocalMACEvent{Kind: LocalMACIPs, Network: "backup", MAC: m, Attachment: eth1, OFPort: 1, IPs: ips("192.0.2.11", "2001:db8::11")},
		LocalMACEvent{Kind: LocalMACMoved, Network: "backup", MAC: m, Attachment: trunk0, OFPort: 2, From: eth1, IPs: ips("2001:db8::11")},
		LocalMACEvent{Kind: LocalMACRemoved, Network: "backup", MAC: m, Attachment: trunk0, OFPort: 2, Reason: RemovalAgedOut, IPs: ips("2001:db8::11")},
	)
}

// TestSnoopedCopiesAreCounted: a snooping reconciler reports the copies
// its switch received, taken and ignored; one that does not snoop has no
// such metric.
func TestSnoopedCopiesAreCounted(t *testing.T) {
	sw := &snoopingSwitch{memSwitch: newMemSwitch(), stats: flows.SnoopStats{Announcements: 7, Ignored: 2}}
	br := &fixedBridge{ports: map[string]uint32{"eth1": 1, "trunk0": 2}}
	for _, snoop := range []bool{true, false} {
		r := NewReconciler(ReconcilerConfig{Bridge: "br-int", SnoopHosts: snoop}, siteState(t), sw, br)
		reg := prometheus.NewRegistry()
		if err := r.Instrument(reg); err != nil {
			t.Fatal(err)
		}
		got := scrape(t, reg)
		taken, ok1 := got[`l2gw_host_snoop_copies_total{result="announcement"}`]
		ignored, ok2 := got[`l2gw_host_snoop_copies_total{result="ignored"}`]
		switch {
		case snoop && (taken != 7 || ignored != 2):
			t.Errorf("snooping: copies %v taken, %v ignored; want 7 and 2", taken, ignored)
		case !snoop && (ok1 || ok2):
			t.Errorf("not snooping, yet copies are reported")
		}
	}
}
