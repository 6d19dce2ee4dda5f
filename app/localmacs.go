package app

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/l2gw/l2gw/flows"
)

// LocalMACKind is what a LocalMACEvent reports.
type LocalMACKind string

// Local MAC event kinds.
const (
	// LocalMACAdded: the MAC is learned on a local attachment.
	LocalMACAdded LocalMACKind = "added"
	// LocalMACMoved: the MAC is now learned on another attachment of its
	// network (From says which it was on).
	LocalMACMoved LocalMACKind = "moved"
	// LocalMACRemoved: the MAC is no longer learned locally (Reason).
	LocalMACRemoved LocalMACKind = "removed"
	// LocalMACSynced: every MAC learned when the watch started has been
	// reported (as added); what follows are changes. A watch started
	// before l2gwd first read the switch gets it once it has.
	LocalMACSynced LocalMACKind = "synced"
	// LocalMACIPs: the addresses a MAC already reported announced changed
	// (IPs), on the attachment it was reported on.
	LocalMACIPs LocalMACKind = "ips"
)

// LocalMACRemoval is why a local MAC was removed.
type LocalMACRemoval string

// Removal reasons.
const (
	// RemovalAgedOut: no frame from the MAC for the learn idle timeout.
	RemovalAgedOut LocalMACRemoval = "aged out"
	// RemovalFlushed: deleted (FlushLearned, or another OpenFlow client).
	RemovalFlushed LocalMACRemoval = "flushed"
	// RemovalOwnerGone: its network no longer exists.
	RemovalOwnerGone LocalMACRemoval = "owner gone"
	// RemovalMovedRemote: the MAC is now learned from a remote gateway.
	RemovalMovedRemote LocalMACRemoval = "moved to a remote site"
	// RemovalLost: the switch no longer had it when l2gwd read it again
	// after the OpenFlow connection came back (ovs-vswitchd restarted, or
	// it aged out or was flushed while the connection was down).
	RemovalLost LocalMACRemoval = "lost"
)

// LocalMACEvent is one change of the MACs this site learned on its local
// attachments.
type LocalMACEvent struct {
	Kind    LocalMACKind
	Network string // its name
	MAC     string
	// Attachment is where the MAC is learned (for LocalMACRemoved: where
	// it was): the port's name ("" for an ofport the bridge does not name)
	// and the VLAN of that attachment in the network.
	Attachment Attachment
	OFPort     uint32 // the port's OpenFlow number
	// From is, for LocalMACMoved, the attachment the MAC was on.
	From Attachment
	// Reason is why a LocalMACRemoved MAC went.
	Reason LocalMACRemoval
	// IPs are the addresses the host announced of itself in ARP and IPv6
	// neighbour discovery, as far as l2gwd snoops them
	// (ReconcilerConfig.SnoopHosts), sorted: at most flows.MaxHostIPs, the
	// most recent; an address another MAC of the network announced since
	// is that MAC's. Added and moved events carry what is known so far,
	// LocalMACIPs events every change, and a removed event the addresses
	// last reported (they go with the MAC). Link-local addresses are not
	// reported. Each event has a slice of its own.
	IPs []netip.Addr
}

// localMACSwitch is a Switch that watches the MACs learned on local ports
// (flows.Session).
type localMACSwitch interface {
	WatchLocalMACs() *flows.MACWatch
}

// macFeed is what a local-MAC watch reads: the switch's changes, coalesced
// per MAC while nobody reads them (*flows.MACWatch).
type macFeed interface {
	Next(ctx context.Context) (flows.MACEvent, error)
	Close()
}

// errNoMACWatch is WatchLocalMACs's error on a switch that cannot watch.
var errNoMACWatch = errors.New("the switch side cannot watch learned MACs")

// WatchLocalMACs watches the MACs learned on the local attachments of
// every network, with the addresses their hosts announced, until ctx ends
// (the channel is then closed): first every MAC learned now (added), then
// LocalMACSynced, then every change, in the order the switch made them
// (learned, moved to another attachment, announced addresses, removed). A watch that falls behind never holds up the switch and loses
// nothing that still matters: the changes it has not read are coalesced
// per MAC, so it gets each MAC's latest state. When the OpenFlow
// connection comes back, only what changed meanwhile is reported. Safe to
// call while Run runs.
func (r *Reconciler) WatchLocalMACs(ctx context.Context) (<-chan LocalMACEvent, error) {
	sw, ok := r.sw.(localMACSwitch)
	if !ok {
		return nil, fmt.Errorf("watch local MACs on bridge %s: %w", r.cfg.Bridge, errNoMACWatch)
	}
	return r.watchLocalMACs(ctx, sw.WatchLocalMACs()), nil
}

// watchLocalMACs turns feed's events into LocalMACEvents on the returned
// channel, one at a time: while the reader lags, feed coalesces.
func (r *Reconciler) watchLocalMACs(ctx context.Context, feed macFeed) <-chan LocalMACEvent {
	out := make(chan LocalMACEvent)
	go func() {
		defer close(out)
		defer feed.Close()
		v := &localMACView{r: r, told: map[macRef]LocalMACEvent{}}
		for {
			ev, err := feed.Next(ctx)
			if err != nil {
				return
			}
			le, ok := v.translate(ev)
			if !ok {
				continue
			}
			select {
			case out <- le:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// macRef names a learned MAC: its network's ID and the MAC.
type macRef struct {
	network uint32
	mac     string
}

// localMACView names what the switch reports after the desired state and
// the bridge's ports, and remembers what it told.
type localMACView struct {
	r    *Reconciler
	told map[macRef]LocalMACEvent // the last added or moved event of each MAC told
	// names are the bridge's port names by ofport, from the reconciler's
	// ports of generation gen: reading OVSDB's cache for every event
	// would cost a copy of its tables each.
	names map[uint32]string
	gen   uint64
}

// translate returns the event ev is for the watch, if it tells anything
// new. A MAC of a network the state no longer has (its entries stay until
// they age out or a full sync deletes them) is not reported, or is
// reported removed (owner gone) if it was.
func (v *localMACView) translate(ev flows.MACEvent) (LocalMACEvent, bool) {
	if ev.Kind == flows.MACSynced {
		return LocalMACEvent{Kind: LocalMACSynced}, true
	}
	k := macRef{network: ev.Network, mac: ev.MAC.String()}
	old, told := v.told[k]
	n, exists := v.network(ev.Network)
	exists = exists && (!told || n.Name == old.Network)
	if ev.Kind == flows.MACRemoved || !exists {
		if !told {
			return LocalMACEvent{}, false
		}
		delete(v.told, k)
		old.Kind, old.From, old.Reason = LocalMACRemoved, Attachment{}, removal(ev, exists)
		return old, true // old.IPs: told's own, no longer kept
	}
	e := LocalMACEvent{Kind: LocalMACAdded, Network: n.Name, MAC: k.mac, Attachment: v.attachment(n, ev.Port), OFPort: ev.Port,
		IPs: ev.IPs}
	switch {
	case !told:
	case old.Attachment != e.Attachment || old.OFPort != e.OFPort:
		e.Kind, e.From = LocalMACMoved, old.Attachment
	case !slices.Equal(old.IPs, e.IPs):
		e.Kind = LocalMACIPs
	default:
		return LocalMACEvent{}, false
	}
	v.told[k] = e
	out := e
	out.IPs = slices.Clone(e.IPs)
	return out, true
}

// removal is why the MAC of ev went; exists says whether its network
// still does.
func removal(ev flows.MACEvent, exists bool) LocalMACRemoval {
	if ev.Kind != flows.MACRemoved {
		return RemovalOwnerGone // still learned, but its network was deleted
	}
	switch {
	case ev.Reason == flows.RemovedIdle:
		return RemovalAgedOut
	case ev.Reason == flows.RemovedRemote:
		return RemovalMovedRemote
	case !exists:
		return RemovalOwnerGone // deleted by the sync that dropped its network's entries
	case ev.Reason == flows.RemovedDeleted:
		return RemovalFlushed
	}
	return RemovalLost
}

// network returns the network with ID id.
func (v *localMACView) network(id uint32) (Network, bool) {
	for _, n := range v.r.state.ListNetworks() {
		if n.ID == id {
			return n, true
		}
	}
	return Network{}, false
}

// attachment returns the attachment of n on ofport: its port's name and
// VLAN, or no name when the bridge has no port with that number.
func (v *localMACView) attachment(n Network, ofport uint32) Attachment {
	name, ok := v.portName(ofport)
	if !ok {
		return Attachment{}
	}
	for _, a := range n.Attachments {
		if a.Port == name {
			return a
		}
	}
	return Attachment{Port: name}
}

// portName returns the name of the bridge's port with number ofport: from
// the ports the reconciler read last (every OVSDB change makes it read
// them again), or, for a number they lack (a port the reconciler has not
// seen yet), from OVSDB now.
func (v *localMACView) portName(ofport uint32) (string, bool) {
	if ports, gen := v.r.portsRead(); gen != v.gen {
		v.names = make(map[uint32]string, len(ports))
		for name, p := range ports {
			v.names[p] = name
		}
		v.gen = gen
	}
	if name, ok := v.names[ofport]; ok {
		return name, true
	}
	for name, p := range v.r.br.OFPorts(v.r.cfg.Bridge) {
		if p == ofport {
			return name, true
		}
	}
	return "", false
}
