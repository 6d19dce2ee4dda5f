package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/l2gw/l2gw/flows"
)

// LearnedMAC is one MAC OVS learned in a network.
type LearnedMAC struct {
	MAC string
	// Via is where the MAC was learned: "port NAME" (or "port NUMBER" for
	// an ofport l2gw does not know) for a local port, "gateway GW
	// (connection CONN)" for a remote gateway.
	Via string
	// Age is how long the entry has existed: since the MAC was first
	// learned, not since it was last seen (OpenFlow 1.3 reports no idle
	// age).
	Age time.Duration
}

// Learned lists the MACs OVS learned in network, from its local ports and
// from its connections' remote gateways, sorted by MAC. An unknown network
// is a NotFound Error; without an OpenFlow connection it fails with an
// Unavailable Error. Safe to call while Run runs.
func (r *Reconciler) Learned(ctx context.Context, network string) ([]LearnedMAC, error) {
	netID, conns, err := r.learnedOwners(network)
	if err != nil {
		return nil, err
	}
	dump, err := r.sw.Dump(ctx, flows.LearnedTagCookie, flows.ControllerCookieMask)
	if err != nil {
		return nil, r.switchError("read the learned MACs of network "+strconv.Quote(network), err)
	}
	ports := map[uint32]string{}
	for name, n := range r.br.OFPorts(r.cfg.Bridge) {
		ports[n] = name
	}
	out := []LearnedMAC{}
	for _, f := range dump {
		if !f.HasEthDst {
			continue // not a MAC entry
		}
		_, o, _ := flows.DecodeCookie(f.Cookie)
		var via string
		switch {
		case o.Kind == flows.KindNetwork && o.ID == netID:
			via = "port " + cmp.Or(ports[f.LearnedPort], strconv.FormatUint(uint64(f.LearnedPort), 10))
		case o.Kind == flows.KindConnection && conns[o.ID].Name != "":
			via = fmt.Sprintf("gateway %s (connection %s)", conns[o.ID].RemoteGateway, conns[o.ID].Name)
		default:
			continue
		}
		out = append(out, LearnedMAC{MAC: f.MAC().String(), Via: via, Age: f.Duration})
	}
	slices.SortFunc(out, func(a, b LearnedMAC) int { return cmp.Or(cmp.Compare(a.MAC, b.MAC), cmp.Compare(a.Via, b.Via)) })
	return out, nil
}

// FlushLearned deletes every MAC OVS learned in network (from its local
// ports and its connections' gateways) and returns how many there were. The
// reconciler's model holds no learned entries, so this never puts it out of
// step with the bridge. Errors are as Learned's.
func (r *Reconciler) FlushLearned(ctx context.Context, network string) (int, error) {
	netID, conns, err := r.learnedOwners(network)
	if err != nil {
		return 0, err
	}
	cookies := []uint64{flows.LearnedCookie(netID)}
	for id := range conns {
		cookies = append(cookies, flows.LearnedConnectionCookie(id))
	}
	what := "flush the learned MACs of network " + strconv.Quote(network)
	dump, err := r.sw.Dump(ctx, flows.LearnedTagCookie, flows.ControllerCookieMask)
	if err != nil {
		return 0, r.switchError(what, err)
	}
	n := 0
	for _, f := range dump {
		if slices.Contains(cookies, f.Cookie) {
			n++
		}
	}
	mods := make([]flows.Mod, len(cookies))
	for i, c := range cookies {
		mods[i] = flows.DeleteCookieMod(c)
	}
	if err := r.sw.Apply(ctx, flows.ModList(mods)); err != nil {
		return 0, r.switchError(what, err)
	}
	return n, nil
}

// learnedOwners returns network's ID and its connections by ID.
func (r *Reconciler) learnedOwners(network string) (uint32, map[uint32]Connection, error) {
	n, err := r.state.GetNetwork(network)
	if err != nil {
		return 0, nil, err
	}
	conns := map[uint32]Connection{}
	for _, c := range r.state.ListConnections() {
		if c.Network == network {
			conns[c.ID] = c
		}
	}
	return n.ID, conns, nil
}

// switchError wraps err, from doing what on the switch: an Unavailable
// Error without an OpenFlow connection.
func (r *Reconciler) switchError(what string, err error) error {
	if errors.Is(err, flows.ErrNotConnected) {
		return &Error{Kind: Unavailable,
			Message: fmt.Sprintf("cannot %s on bridge %s: %v", what, r.cfg.Bridge, err)}
	}
	return fmt.Errorf("%s on bridge %s: %w", what, r.cfg.Bridge, err)
}
