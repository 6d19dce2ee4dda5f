package app

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/l2gw/l2gw/flows"
)

// sliceFeed is a macFeed handing out events, then waiting for its context
// to end; it records whether the watch closed it.
type sliceFeed struct {
	events []flows.MACEvent
	closed chan struct{}
}

func (f *sliceFeed) Next(ctx context.Context) (flows.MACEvent, error) {
	if len(f.events) > 0 {
		ev := f.events[0]
		f.events = f.events[1:]
		return ev, nil
	}
	<-ctx.Done()
	return flows.MACEvent{}, ctx.Err()
}

func (f *sliceFeed) Close() { close(f.closed) }

func macEvent(kind flows.MACEventKind, network uint32, mac string, port uint32) flows.MACEvent {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		panic(err)
	}
	return flows.MACEvent{Kind: kind, Network: network, MAC: hw, Port: port}
}

func removed(network uint32, mac string, port uint32, why flows.MACRemoval) flows.MACEvent {
	ev := macEvent(flows.MACRemoved, network, mac, port)
	ev.Reason = why
	return ev
}

// watchAll runs a watch over events and returns what it reports.
func watchAll(t *testing.T, r *Reconciler, events ...flows.MACEvent) []LocalMACEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	feed := &sliceFeed{events: events, closed: make(chan struct{})}
	ch := r.watchLocalMACs(ctx, feed)
	var out []LocalMACEvent
	for {
		select {
		case ev := <-ch:
			out = append(out, ev)
			continue
		case <-time.After(50 * time.Millisecond):
		}
		cancel()
		for range ch {
		}
		<-feed.closed
		return out
	}
}

func expectLocalMACs(t *testing.T, got []LocalMACEvent, want ...LocalMACEvent) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("events %+v,\nwant %+v", got, want)
	}
	for i := range want {
		if !sameLocalMAC(got[i], want[i]) {
			t.Errorf("event %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// sameLocalMAC reports whether a and b say the same.
func sameLocalMAC(a, b LocalMACEvent) bool {
	return a.Kind == b.Kind && a.Network == b.Network && a.MAC == b.MAC && a.Attachment == b.Attachment &&
		a.OFPort == b.OFPort && a.From == b.From && a.Reason == b.Reason && slices.Equal(a.IPs, b.IPs)
}

func TestLocalMACsAreNamedByNetworkPortAndVLAN(t *testing.T) {
	state := siteState(t)
	r := newTestReconciler(state, newMemSwitch()) // ofports: eth1 1, trunk0 2
	backup, _ := state.GetNetwork("backup")
	const m = "02:0a:00:00:00:01"
	got := watchAll(t, r,
		macEvent(flows.MACAdded, backup.ID, m, 1),
		flows.MACEvent{Kind: flows.MACSynced},
		macEvent(flows.MACMoved, backup.ID, m, 2),
		macEvent(flows.MACMoved, backup.ID, m, 2), // nothing new
		removed(backup.ID, m, 2, flows.RemovedIdle),
		macEvent(flows.MACAdded, backup.ID, m, 9), // an ofport the bridge does not name
	)
	eth1, trunk0 := Attachment{Port: "eth1"}, Attachment{Port: "trunk0", VLAN: 100}
	expectLocalMACs(t, got,
		LocalMACEvent{Kind: LocalMACAdded, Network: "backup", MAC: m, Attachment: eth1, OFPort: 1},
		LocalMACEvent{Kind: LocalMACSynced},
		LocalMACEvent{Kind: LocalMACMoved, Network: "backup", MAC: m, Attachment: trunk0, OFPort: 2, From: eth1},
		LocalMACEvent{Kind: LocalMACRemoved, Network: "backup", MAC: m, Attachment: trunk0, OFPort: 2, Reason: RemovalAgedOut},
		LocalMACEvent{Kind: LocalMACAdded, Network: "backup", MAC: m, OFPort: 9},
	)
}

func TestLocalMACRemovalsSayWhy(t *testing.T) {
	state := siteState(t)
	r := newTestReconciler(state, newMemSwitch())
	backup, _ := state.GetNetwork("backup")
	added := func(mac string) flows.MACEvent { return macEvent(flows.MACAdded, backup.ID, mac, 1) }
	removedAs := func(mac string, why LocalMACRemoval) LocalMACEvent {
		return LocalMACEvent{Kind: LocalMACRemoved, Network: "backup", MAC: mac, Attachment: Attachment{Port: "eth1"}, OFPort: 1, Reason: why}
	}
	got := watchAll(t, r,
		added("02:00:00:00:00:01"), removed(backup.ID, "02:00:00:00:00:01", 1, flows.RemovedDeleted),
		added("02:00:00:00:00:02"), removed(backup.ID, "02:00:00:00:00:02", 1, flows.RemovedRemote),
		added("02:00:00:00:00:03"), removed(backup.ID, "02:00:00:00:00:03", 1, flows.RemovedUnseen),
		removed(backup.ID, "02:00:00:00:00:04", 1, flows.RemovedIdle), // never told
	)
	var want []LocalMACEvent
	for _, w := range []struct {
		mac string
		why LocalMACRemoval
	}{{"02:00:00:00:00:01", RemovalFlushed}, {"02:00:00:00:00:02", RemovalMovedRemote}, {"02:00:00:00:00:03", RemovalLost}} {
		want = append(want, LocalMACEvent{Kind: LocalMACAdded, Network: "backup", MAC: w.mac, Attachment: Attachment{Port: "eth1"}, OFPort: 1},
			removedAs(w.mac, w.why))
	}
	expectLocalMACs(t, got, want...)

	// The network is deleted: what the switch still reports of it is
	// removed (its owner is gone), and nothing new of it is reported.
	v := &localMACView{r: r, told: map[macRef]LocalMACEvent{}}
	for _, mac := range []string{"02:00:00:00:00:05", "02:00:00:00:00:06", "02:00:00:00:00:07"} {
		v.translate(added(mac))
	}
	if err := state.DeleteConnection("backup-b"); err != nil {
		t.Fatal(err)
	}
	if err := state.DeleteNetwork("backup"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ev   flows.MACEvent
		want LocalMACEvent
	}{
		{macEvent(flows.MACMoved, backup.ID, "02:00:00:00:00:05", 2), removedAs("02:00:00:00:00:05", RemovalOwnerGone)},
		{removed(backup.ID, "02:00:00:00:00:06", 1, flows.RemovedDeleted), removedAs("02:00:00:00:00:06", RemovalOwnerGone)},
		{removed(backup.ID, "02:00:00:00:00:07", 1, flows.RemovedIdle), removedAs("02:00:00:00:00:07", RemovalAgedOut)},
	} {
		if got, ok := v.translate(c.ev); !ok || !sameLocalMAC(got, c.want) {
			t.Errorf("%+v after the network was deleted: %+v (%t), want %+v", c.ev, got, ok, c.want)
		}
	}
	if got, ok := v.translate(added("02:00:00:00:00:08")); ok {
		t.Errorf("a MAC of the deleted network was reported: %+v", got)
	}
}

func TestWatchLocalMACsNeedsASwitchThatWatches(t *testing.T) {
	r := newTestReconciler(siteState(t), newMemSwitch())
	if _, err := r.WatchLocalMACs(context.Background()); !errors.Is(err, errNoMACWatch) {
		t.Errorf("WatchLocalMACs on a switch that cannot watch: %v, want %v", err, errNoMACWatch)
	}
}
