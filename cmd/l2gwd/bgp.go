package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/evpn"
)

// dynamicOrigins are the dynamic origins whose sources this configuration
// runs: hardware_vtep with --vtep-db, EVPN with --bgp-asn.
func (c *config) dynamicOrigins() []app.Origin {
	var origins []app.Origin
	if c.VTEPDB != "" {
		origins = append(origins, app.OriginVTEP)
	}
	if c.BGPASN != 0 {
		origins = append(origins, app.OriginEVPN)
	}
	return origins
}

// evpnTunnelIP is the tunnel IP EVPN advertises as this gateway's VTEP:
// the IPv4 one when there are two.
func (c *config) evpnTunnelIP() netip.Addr {
	addrs := c.tunnelIPs()
	for _, a := range addrs {
		if a.Is4() {
			return a
		}
	}
	return addrs[0]
}

// startBGP starts the BGP EVPN speaker of --bgp-asn (nil, nil when BGP is
// off) with the peers and EVPN networks of the store, read before the rest
// of it: its sessions open and it advertises its inclusive multicast
// routes while l2gwd loads and reconciles. followState then feeds it.
func startBGP(ctx context.Context, cfg *config, reg prometheus.Registerer, log *slog.Logger) (*evpn.Speaker, error) {
	if cfg.BGPASN == 0 {
		return nil, nil
	}
	peers, nets, err := app.ReadBGPConfig(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	routerID, _ := cfg.bgpRouterID()
	sp, err := evpn.Start(ctx, evpn.Config{
		ASN: uint32(cfg.BGPASN), RouterID: routerID, Listen: cfg.BGPListen,
		TunnelIP: cfg.evpnTunnelIP(), SiteTunnelIPs: cfg.siteTunnelIPs(), Logger: log.With("component", "evpn"),
	})
	if err != nil {
		return nil, err
	}
	for _, c := range sp.Collectors() {
		if err := reg.Register(c); err != nil {
			sp.Close()
			return nil, fmt.Errorf("register BGP metrics: %w", err)
		}
	}
	sp.SetNetworks(nets)
	if err := sp.SetPeers(ctx, peers); err != nil {
		log.Error("BGP peers", "err", err)
	}
	return sp, nil
}

// followState attaches the speaker to the state's EVPN feed and keeps its
// peers and networks those of the state from now on.
func followState(ctx context.Context, sp *evpn.Speaker, state *app.State, log *slog.Logger) error {
	feed, err := state.Feed(app.OriginEVPN)
	if err != nil {
		return err
	}
	changed := make(chan struct{}, 1)
	state.Subscribe(func(ch app.Change) {
		if ch.BGPPeers || ch.Topology {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	})
	sync := func() {
		sp.SetNetworks(state.EVPNNetworks())
		if err := sp.SetPeers(ctx, state.ListBGPPeers()); err != nil {
			log.Error("BGP peers", "err", err)
		}
	}
	sync()
	sp.Attach(feed)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				sync()
			}
		}
	}()
	return nil
}
