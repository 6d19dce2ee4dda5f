package flows

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"maps"
	"net"
	"net/netip"
	"slices"
)

// MACEventKind is what a MACEvent reports.
type MACEventKind uint8

// MAC event kinds.
const (
	// MACAdded: a MAC is learned on a local port.
	MACAdded MACEventKind = iota + 1
	// MACMoved: a MAC is now learned on another local port.
	MACMoved
	// MACRemoved: a MAC is no longer learned on a local port (Reason).
	MACRemoved
	// MACSynced: every MAC the switch had when the watch started (or,
	// for a watch started before the session first read the switch, when
	// it first did) has been reported; what follows are changes.
	MACSynced
	// MACIPs: the addresses a learned MAC announced changed (IPs), on
	// the port it was reported on.
	MACIPs
)

// String names the kind.
func (k MACEventKind) String() string {
	switch k {
	case MACAdded:
		return "added"
	case MACMoved:
		return "moved"
	case MACRemoved:
		return "removed"
	case MACSynced:
		return "synced"
	case MACIPs:
		return "ips"
	}
	return "unknown"
}

// MACRemoval is why a learned MAC went.
type MACRemoval uint8

// Removal reasons.
const (
	// RemovedIdle: the entry idled out (no traffic from the MAC for the
	// learn idle timeout).
	RemovedIdle MACRemoval = iota + 1
	// RemovedDeleted: a flow_mod deleted the entry (l2gwd flushing what a
	// network learned, or dropping the entries of a network that is gone;
	// or another OpenFlow client).
	RemovedDeleted
	// RemovedRemote: the MAC is now learned from a remote gateway.
	RemovedRemote
	// RemovedUnseen: the switch no longer had the entry when the session
	// read it again after a reconnection (ovs-vswitchd restarted, or the
	// entry went while no connection watched).
	RemovedUnseen
)

// String says why, in a few words.
func (r MACRemoval) String() string {
	switch r {
	case RemovedIdle:
		return "idle timeout"
	case RemovedDeleted:
		return "deleted"
	case RemovedRemote:
		return "learned from a remote gateway"
	case RemovedUnseen:
		return "gone while not watched"
	}
	return "unknown"
}

// MACEvent is one change of the MACs learned on local ports.
type MACEvent struct {
	Kind    MACEventKind
	Network uint32 // the network's ID (see LearnedCookie)
	MAC     net.HardwareAddr
	// Port is the ofport the MAC is learned on; for MACRemoved, the one
	// it was learned on.
	Port uint32
	// OldPort is, for MACMoved, the ofport the MAC was learned on.
	OldPort uint32
	// Reason is why a MACRemoved MAC went.
	Reason MACRemoval
	// IPs are, for MACAdded, MACMoved and MACIPs, the addresses the host
	// announced of itself in ARP and neighbour discovery (when the session
	// snoops, Session.SnoopHosts), sorted: at most MaxHostIPs, the most
	// recent. An address announced by another MAC of the network since is
	// no longer this one's. Each event has a slice of its own.
	IPs []netip.Addr
}

// ErrWatchClosed is Next's error once the watch is closed.
var ErrWatchClosed = errors.New("mac watch closed")

// MACWatch reports the MACs learned on the bridge's local ports, with the
// addresses their hosts announced: every MAC the switch has first, then a
// MACSynced event, then every change. It never holds up the OpenFlow
// session: changes not yet taken are coalesced per MAC, and Next reports
// each MAC's latest state against what it reported before (a MAC learned
// and gone between two calls is not reported; one moved twice is reported
// moved once, to where it is now; one that moved and announced an address,
// as moved with its addresses). Across switch reconnections it reports
// only what changed meanwhile.
//
// Next and Close may be called from any goroutine; Next by one at a time.
type MACWatch struct {
	t    *macTable
	wake chan struct{}

	// Under t.mu:
	told   map[macKey]toldMAC    // what Next reported of each MAC
	queue  []macKey              // MACs to look at, in the order they changed
	queued map[macKey]MACRemoval // MACs in queue, and why each was last removed
	closed bool
}

// toldMAC is what a watch reported of a MAC: its port and addresses.
type toldMAC struct {
	port uint32
	ips  []netip.Addr
}

// syncMarker stands in a watch's queue for its MACSynced event (no network
// has ID 0).
var syncMarker = macKey{}

// WatchLocalMACs starts a watch of the MACs learned on local ports. Close
// it when done.
func (s *Session) WatchLocalMACs() *MACWatch {
	t := s.macs
	w := &MACWatch{t: t, wake: make(chan struct{}, 1), told: map[macKey]toldMAC{}, queued: map[macKey]MACRemoval{}}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.synced {
		for _, k := range sortedMACs(t.entries) {
			w.enqueue(k, 0)
		}
		w.enqueue(syncMarker, 0)
	}
	t.watches[w] = struct{}{}
	return w
}

// sortedMACs returns the keys of entries by network, then MAC: batches of
// changes are reported in that order.
func sortedMACs(entries map[macKey]uint32) []macKey {
	return slices.SortedFunc(maps.Keys(entries), func(a, b macKey) int {
		return cmp.Or(cmp.Compare(a.network, b.network), bytes.Compare(a.mac[:], b.mac[:]))
	})
}

// enqueue notes that k changed (removed: why it went, 0 if it did not).
// t.mu is held.
func (w *MACWatch) enqueue(k macKey, removed MACRemoval) {
	if _, ok := w.queued[k]; !ok || k == syncMarker {
		w.queue = append(w.queue, k)
	}
	if k != syncMarker {
		w.queued[k] = removed
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Next returns the next event, waiting for one until ctx ends or the watch
// is closed (ErrWatchClosed).
func (w *MACWatch) Next(ctx context.Context) (MACEvent, error) {
	for {
		if ev, ok, err := w.take(); ok || err != nil {
			return ev, err
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			return MACEvent{}, ctx.Err()
		}
	}
}

// take returns the next event if one is due.
func (w *MACWatch) take() (MACEvent, bool, error) {
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	if w.closed {
		return MACEvent{}, false, ErrWatchClosed
	}
	for len(w.queue) > 0 {
		k := w.queue[0]
		w.queue = w.queue[1:]
		if k == syncMarker {
			return MACEvent{Kind: MACSynced}, true, nil
		}
		removed := w.queued[k]
		delete(w.queued, k)
		if ev, ok := w.event(k, removed); ok {
			return ev, true, nil
		}
	}
	w.queue = w.queue[:0]
	return MACEvent{}, false, nil
}

// event is what k's state now is against what was told, if it differs.
func (w *MACWatch) event(k macKey, removed MACRemoval) (MACEvent, bool) {
	port, present := w.t.entries[k]
	old, told := w.told[k]
	ev := MACEvent{Network: k.network, MAC: net.HardwareAddr(bytes.Clone(k.mac[:])), Port: port}
	if !present {
		if !told {
			return MACEvent{}, false
		}
		delete(w.told, k)
		ev.Kind, ev.Port, ev.Reason = MACRemoved, old.port, cmp.Or(removed, RemovedUnseen)
		return ev, true
	}
	ev.IPs = w.t.ipsOf(k)
	switch {
	case !told:
		ev.Kind = MACAdded
	case old.port != port:
		ev.Kind, ev.OldPort = MACMoved, old.port
	case !slices.Equal(old.ips, ev.IPs):
		ev.Kind = MACIPs
	default:
		return MACEvent{}, false
	}
	w.told[k] = toldMAC{port: port, ips: slices.Clone(ev.IPs)}
	return ev, true
}

// Close stops the watch; a Next waiting returns ErrWatchClosed.
func (w *MACWatch) Close() {
	w.t.mu.Lock()
	delete(w.t.watches, w)
	w.closed = true
	w.t.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}
