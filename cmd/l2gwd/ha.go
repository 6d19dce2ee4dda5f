package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/evpn"
	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/ha"
	"github.com/l2gw/l2gw/ovsdb"
)

// validateHA checks the --ha-* and --bfd-* flags: a pair needs a peer of
// the tunnel IP's family (a single-stack node: the peer's BFD port and the
// hello go from the one tunnel IP) and a priority.
func (c *config) validateHA() error {
	if c.BFDIntervalMS < 10 || c.BFDIntervalMS > 10000 {
		return fmt.Errorf("--bfd-interval-ms %d: want 10-10000", c.BFDIntervalMS)
	}
	if c.BFDMultiplier < 1 || c.BFDMultiplier > 255 {
		return fmt.Errorf("--bfd-multiplier %d: want 1-255", c.BFDMultiplier)
	}
	if c.HAHelloPort < 1 || c.HAHelloPort > 65535 {
		return fmt.Errorf("--ha-hello-port %d: want 1-65535", c.HAHelloPort)
	}
	if c.HAPeer == "" {
		if c.HAPriority != 0 {
			return errors.New("--ha-priority: only with --ha-peer")
		}
		return nil
	}
	peer, err := netip.ParseAddr(c.HAPeer)
	if err != nil || peer.Zone() != "" || !peer.IsGlobalUnicast() {
		return fmt.Errorf("--ha-peer %q: want the other node's unicast tunnel IP", c.HAPeer)
	}
	ips := c.tunnelIPs()
	if len(ips) != 1 {
		return fmt.Errorf("--ha-peer: needs a single --tunnel-ip (have %d)", len(ips))
	}
	if peer.Unmap() == ips[0] {
		return fmt.Errorf("--ha-peer %v: that is this node's own --tunnel-ip", peer)
	}
	if peer.Unmap().Is4() != ips[0].Is4() {
		return fmt.Errorf("--ha-peer %v: not of --tunnel-ip %v's family", peer, ips[0])
	}
	if c.HAPriority < 1 || c.HAPriority > 255 {
		return fmt.Errorf("--ha-priority %d: want 1-255 with --ha-peer (the higher is the primary)", c.HAPriority)
	}
	return nil
}

// haConfig is the ha controller's configuration of these flags.
func (c *config) haConfig() ha.Config {
	cfg := ha.Config{IntervalMS: int(c.BFDIntervalMS), Multiplier: int(c.BFDMultiplier), HelloPort: int(c.HAHelloPort),
		Priority: uint8(c.HAPriority), DataDir: c.DataDir}
	if ips := c.tunnelIPs(); len(ips) == 1 {
		cfg.LocalIP = ips[0]
	}
	if p, err := netip.ParseAddr(c.HAPeer); err == nil {
		cfg.Peer = p.Unmap()
	}
	return cfg
}

// siteTunnelIPs are the tunnel IPs of this site's other node: the HA
// peer's, none without a pair.
func (c *config) siteTunnelIPs() []netip.Addr {
	if p := c.haConfig().Peer; p.IsValid() {
		return []netip.Addr{p}
	}
	return nil
}

// newHA makes the ha controller (before the reconciler runs: it tells it
// whether this node is gated): the BFD sessions the data path fails over
// on and, with --ha-peer, this node's part in its pair; BGP EVPN then
// advertises this site only while the node is active (until ctx ends).
func newHA(ctx context.Context, cfg *config, state *app.State, ovs *ovsdb.Client, rec *app.Reconciler, session *flows.Session, speaker *evpn.Speaker, log *slog.Logger) (*ha.Controller, error) {
	hc := cfg.haConfig()
	hc.Bridge, hc.Logger = cfg.Bridge, log
	ctl, err := ha.New(hc, state, ovs, rec, session)
	if err != nil {
		return nil, err
	}
	if speaker != nil && hc.Peer.IsValid() {
		// Silent until the first pass knows the role: a restarted
		// standby must not advertise the site for a moment.
		if err := speaker.SetAdvertise(ctx, false); err != nil {
			return nil, err
		}
		ctl.OnRole = func(active bool) {
			if err := speaker.SetAdvertise(ctx, active); err != nil {
				log.Error("bgp: cannot follow the node's role", "active", active, "err", err)
			}
		}
	}
	return ctl, nil
}
