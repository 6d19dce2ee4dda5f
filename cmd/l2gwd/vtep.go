package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/ovsdb"
	"github.com/l2gw/l2gw/vtep"
)

// validateVTEP checks the --vtep-* flags: a database endpoint of a known
// kind, an IPv4 tunnel IP (hardware_vtep locators are vxlan_over_ipv4),
// and no switch name without a database.
func (c *config) validateVTEP() error {
	if c.VTEPDB == "" {
		if c.VTEPSwitch != "" {
			return errors.New("--vtep-switch: only with --vtep-db (hardware_vtep is off)")
		}
		return nil
	}
	if !strings.HasPrefix(c.VTEPDB, "unix:") && !strings.HasPrefix(c.VTEPDB, "tcp:") {
		return fmt.Errorf("--vtep-db %q: want unix:PATH or tcp:HOST:PORT", c.VTEPDB)
	}
	if _, ok := c.ipv4TunnelIP(); !ok {
		return fmt.Errorf("--vtep-db: hardware_vtep locators are vxlan_over_ipv4: --tunnel-ip %q needs an IPv4 address", c.TunnelIP)
	}
	return nil
}

// vtepSwitch is this gateway's Physical_Switch name: --vtep-switch, or
// the bridge's name.
func (c *config) vtepSwitch() string {
	if c.VTEPSwitch != "" {
		return c.VTEPSwitch
	}
	return c.Bridge
}

// ipv4TunnelIP is the IPv4 address of --tunnel-ip, if it has one.
func (c *config) ipv4TunnelIP() (netip.Addr, bool) {
	for _, a := range c.tunnelIPs() {
		if a.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// startVTEP makes l2gwd the physical switch of --vtep-db (nil, nil when
// it is unset): the origin tells the state's vtep feed what the
// database's controller wrote, and its Physical_Port rows follow the
// bridge's ports from now on.
func startVTEP(ctx context.Context, cfg *config, state *app.State, ovs *ovsdb.Client, log *slog.Logger) (*vtep.VTEP, error) {
	if cfg.VTEPDB == "" {
		return nil, nil
	}
	feed, err := state.Feed(app.OriginVTEP)
	if err != nil {
		return nil, err
	}
	tunnelIP, _ := cfg.ipv4TunnelIP()
	v, err := vtep.Start(ctx, vtep.Config{
		DB: cfg.VTEPDB, Switch: cfg.vtepSwitch(), TunnelIP: tunnelIP, Feed: feed, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("hardware_vtep database %s: %w", cfg.VTEPDB, err)
	}
	// Whether its networks are in force depends on the API's networks.
	state.Subscribe(func(ch app.Change) {
		if ch.Topology {
			v.NetworksChanged()
		}
	})
	go followPorts(ctx, v, ovs, cfg.Bridge)
	return v, nil
}

// followPorts keeps the switch's ports those of bridge until ctx ends.
// While OVSDB is away or the bridge is not there, the switch keeps its
// ports: removing a Physical_Port removes the controller's bindings of it.
func followPorts(ctx context.Context, v *vtep.VTEP, ovs *ovsdb.Client, bridge string) {
	changes := ovs.Watch()
	var told []string
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
		}
		ports, ok := ovs.AttachmentPorts(bridge)
		if ok && (told == nil || !slices.Equal(ports, told)) {
			v.SetPorts(ports)
			told = ports
		}
	}
}
