package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// newL2gwdVtep describes l2gwd as a VTEP under test: a fresh l2gwd (the
// static scenarios' one stopped, its bridge deleted) with --vtep-db on the
// benchmark's ovsdb-server (vtep.db beside conf.db, as for ovs-vtep) and
// --vtep-switch vtepSwitch. It drives its own bridge, bridgeName: it
// creates the Physical_Switch (tunnel_ips = localTunnel) and a
// Physical_Port for vtepPort, an internal port of that bridge. Its
// remote-MAC flows carry the vtep origin's cookie tag (0xc), one unicast
// flow per row matching the MAC as destination (its ARP or ND answer,
// compiled and sent in the same bundle, matches no destination MAC).
func newL2gwdVtep(b *bench) *vtepTarget {
	d := newDaemon(b.opts.l2gwd, b.opts.workDir, "l2gwd-vtep", b.sw.Endpoint(),
		"--vtep-db", b.sw.Endpoint(), "--vtep-switch", vtepSwitch)
	start := func(ctx context.Context) error {
		if err := d.start(); err != nil {
			return err
		}
		_, _, err := d.waitStatus(ctx, 10*time.Millisecond, func(s status) bool { return s.Connected })
		return err
	}
	return &vtepTarget{
		name:        "l2gwd",
		macBridge:   bridgeName,
		macFlows:    vtepCookies + ",dl_dst=" + remoteMACPrefix + ":00:00:00:00/ff:ff:00:00:00:00",
		flowsPerMAC: 1,
		poll:        ovsPoll, // as scenario 1 counts l2gwd's flows
		setup: func(ctx context.Context) error {
			b.d.stop()
			if _, err := b.sw.vsctl("--if-exists", "del-br", bridgeName); err != nil {
				return err
			}
			if err := start(ctx); err != nil {
				return err
			}
			if _, err := b.sw.vsctl("add-port", bridgeName, vtepPort, "--", "set", "interface", vtepPort, "type=internal"); err != nil {
				return err
			}
			return waitVtepctl(ctx, b.sw, "l2gwd's Physical_Port "+vtepPort, func(out string) bool {
				return slices.Contains(strings.Fields(out), vtepPort)
			}, "list-ports", vtepSwitch)
		},
		start: start,
		stop:  func() error { d.stop(); return nil },
		// l2gwd has the logical switch as a network of origin vtep, in
		// force, flooding toward the unknown-dst locator, all in OVS.
		wired: func(ctx context.Context) error {
			_, _, err := d.waitStatus(ctx, 10*time.Millisecond, func(s status) bool {
				for _, o := range s.Origins {
					if o.Origin == "vtep" && o.Synced && o.FloodTargets == 1 {
						return ready(s)
					}
				}
				return false
			})
			return err
		},
		close: func() {
			d.stop()
			b.sw.vsctl("--if-exists", "del-br", bridgeName)
		},
	}
}

// waitVtepctl runs vtep-ctl args until ok accepts its output.
func waitVtepctl(ctx context.Context, sw *ovsSwitch, what string, ok func(string) bool, args ...string) error {
	for {
		out, err := sw.vtepctl(args...)
		if err == nil && ok(out) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s (vtep-ctl %s: %q, error %v): %w", what, strings.Join(args, " "), out, err, ctx.Err())
		case <-time.After(vtepPoll):
		}
	}
}
