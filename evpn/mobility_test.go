package evpn

import (
	"net/netip"
	"strconv"
	"testing"
	"time"
)

var (
	selfIP  = netip.MustParseAddr("192.0.2.5")
	lowerIP = netip.MustParseAddr("192.0.2.1")
	upperIP = netip.MustParseAddr("192.0.2.9")
)

func testMobility() mobility {
	return mobility{self: selfIP, maxMoves: DefaultMaxMoves, window: DefaultMoveWindow}
}

func newMAC() *macState { return &macState{} }

// where says where a decision puts the MAC: "here@SEQ", the endpoint it
// follows, or "nowhere".
func where(o outcome) string {
	switch {
	case o.adv != nil:
		return "here@" + strconv.FormatUint(uint64(o.adv.seq), 10)
	case o.fed != nil:
		return o.fed.endpoint.String()
	}
	return "nowhere"
}

func TestMobilitySequences(t *testing.T) {
	mb := testMobility()
	now := time.Unix(1000, 0)
	m := newMAC()

	if got := where(mb.arrive(m, nil, now)); got != "here@0" {
		t.Fatalf("first learned here: %s, want here@0", got)
	}
	// Another site advertises it with sequence 1: it moved there.
	m.remote.set("b", remoteRoute{endpoint: upperIP, vni: 5001, seq: 1})
	if got := where(mb.resolve(m, now)); got != upperIP.String() {
		t.Fatalf("remote sequence 1 over ours 0: %s, want to follow %s", got, upperIP)
	}
	// Learned here again: highest seen + 1.
	if got := where(mb.arrive(m, nil, now)); got != "here@2" {
		t.Fatalf("back here: %s, want here@2", got)
	}
	// A remote with an equal sequence and a lower IP wins; a higher IP loses.
	m.remote.set("b", remoteRoute{endpoint: upperIP, vni: 5001, seq: 2})
	if got := where(mb.resolve(m, now)); got != "here@2" {
		t.Errorf("equal sequence, remote IP higher: %s, want here@2", got)
	}
	m.remote.set("b", remoteRoute{endpoint: lowerIP, vni: 5001, seq: 2})
	if got := where(mb.resolve(m, now)); got != lowerIP.String() {
		t.Errorf("equal sequence, remote IP lower: %s, want %s", got, lowerIP)
	}
	// Gone here and remotely: nowhere.
	mb.leave(m, now)
	m.remote.del("b")
	if got := where(mb.resolve(m, now)); got != "nowhere" {
		t.Errorf("gone everywhere: %s, want nowhere", got)
	}
	if m.empty(now, mb.window) || !m.empty(now.Add(mb.window), mb.window) {
		t.Errorf("a MAC gone everywhere must be kept for its moves during the window, and only then")
	}
}

func TestMobilityStickyNeverMoves(t *testing.T) {
	mb := testMobility()
	now := time.Unix(1000, 0)
	m := newMAC()
	m.remote.set("b", remoteRoute{endpoint: upperIP, vni: 5001, sticky: true})
	o := mb.arrive(m, nil, now)
	if where(o) != upperIP.String() || !o.lostToSticky {
		t.Errorf("learned here against a sticky route: %s (lostToSticky %v), want to stay at %s", where(o), o.lostToSticky, upperIP)
	}
}

func TestMobilityIPsOfTheWinner(t *testing.T) {
	mb := testMobility()
	m := newMAC()
	ip := netip.MustParseAddr("203.0.113.7")
	m.remote.set("b-mac", remoteRoute{endpoint: upperIP, vni: 5001})
	m.remote.set("b-ip", remoteRoute{endpoint: upperIP, vni: 5001, ip: ip})
	m.remote.set("c-mac", remoteRoute{endpoint: lowerIP, vni: 5001})
	o := mb.resolve(m, time.Unix(1000, 0))
	if o.fed == nil || o.fed.endpoint != lowerIP || len(o.fed.ips) != 0 {
		t.Fatalf("two sites at sequence 0: %+v, want the lower IP without the other's IPs", o.fed)
	}
	m.remote.set("b-ip", remoteRoute{endpoint: upperIP, vni: 5001, ip: ip, seq: 1})
	o = mb.resolve(m, time.Unix(1000, 0))
	if o.fed == nil || o.fed.endpoint != upperIP || len(o.fed.ips) != 1 || o.fed.ips[0] != ip {
		t.Fatalf("one site at sequence 1: %+v, want %s with %s", o.fed, upperIP, ip)
	}
}

// TestMobilityDuplicateFreezes: the fifth move within the window freezes
// the MAC where it is; moves are ignored until the window passes.
func TestMobilityDuplicateFreezes(t *testing.T) {
	mb := testMobility()
	now := time.Unix(1000, 0)
	m := newMAC()
	mb.arrive(m, nil, now)
	seq := uint32(0)
	frozen := false
	for i := 1; i <= DefaultMaxMoves; i++ {
		now = now.Add(time.Second)
		seq++
		m.remote.set("b", remoteRoute{endpoint: upperIP, vni: 5001, seq: seq})
		var o outcome
		if i%2 == 1 {
			o = mb.resolve(m, now) // away to b
		} else {
			o = mb.arrive(m, nil, now) // back here
			seq = m.adv.seq
		}
		if !o.moved {
			t.Fatalf("move %d not counted", i)
		}
		frozen = o.frozen
		if frozen != (i == DefaultMaxMoves) {
			t.Fatalf("move %d: frozen %v", i, frozen)
		}
	}
	at := where(outcome{adv: m.adv, fed: m.fed})
	m.remote.set("b", remoteRoute{endpoint: upperIP, vni: 5001, seq: seq + 10})
	if got := where(mb.arrive(m, nil, now.Add(time.Second))); got != at {
		t.Errorf("frozen MAC moved from %s to %s", at, got)
	}
	thawAt := now.Add(DefaultMoveWindow)
	if !m.thaw(thawAt) {
		t.Fatal("did not thaw after the window")
	}
	if got := where(mb.resolve(m, thawAt)); got != upperIP.String() {
		t.Errorf("thawed: %s, want to follow the higher sequence at %s", got, upperIP)
	}
}
