package app

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestFeedsAndAPIInAnyOrderEndWhereAFullCompileDoes mixes random feed
// calls of both dynamic origins (remote MACs, flood targets and networks)
// with API changes that take MACs, IPs, tunnels, network names and ports
// from them and give them back, and restarts of l2gwd (which must send no
// flow_mod), and after each pass checks that
// the switch holds what a full compile of the state gives and that every
// remote MAC compiles as a fresh evaluation of the precedence rules says.
func TestFeedsAndAPIInAnyOrderEndWhereAFullCompileDoes(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { checkFeedsMatchFull(t, seed) })
	}
}

func checkFeedsMatchFull(t *testing.T, seed uint64) {
	l := newFeedLab(t, 0)
	reconcileOK(t, l.r)
	rng := rand.New(rand.NewPCG(seed, 7))
	feed := func() *Feed { return []*Feed{l.vtep, l.evpn}[rng.IntN(2)] }
	mac := func() string { return fmt.Sprintf("02:0b:00:00:00:%02x", 1+rng.IntN(12)) }
	ip := func() string {
		if rng.IntN(4) == 0 {
			return fmt.Sprintf("2001:db8::%x", 1+rng.IntN(8))
		}
		return fmt.Sprintf("192.0.2.%d", 20+rng.IntN(8))
	}
	networks := []string{"backup", "red", "green"}
	tunnel := func() Tunnel {
		// 198.51.100.2 with key 5001 is backup-b's; key 9 to .3 lands in
		// both networks (one admits it, the other is excluded).
		ends := []Tunnel{vxlanTo("198.51.100.2", 5001), vxlanTo("198.51.100.3", 9), vxlanTo("198.51.100.4", 5004),
			{Endpoint: netip.MustParseAddr("2001:db8::5"), NetworkType: TypeGRE, SegmentationID: 55}}
		return ends[rng.IntN(len(ends))]
	}
	ops := []func() error{
		func() error { // a feed tells a few remote MACs
			var batch []RemoteMAC
			seen := map[string]bool{}
			network := networks[rng.IntN(len(networks))]
			for range 1 + rng.IntN(3) {
				m := mac()
				if seen[m] {
					continue
				}
				seen[m] = true
				ips := []string{}
				for range rng.IntN(3) {
					ips = append(ips, ip())
				}
				batch = append(batch, remote(network, tunnel(), m, ips...))
			}
			return feed().UpsertRemoteMACs(batch...)
		},
		func() error { // a feed withdraws one
			return feed().WithdrawRemoteMACs(remoteKeyOf(networks[rng.IntN(len(networks))], mac()))
		},
		func() error { // flooding on or off
			f := feed()
			target := FloodTarget{Network: networks[rng.IntN(len(networks))], Tunnel: tunnel()}
			if rng.IntN(2) == 0 {
				return f.AddFloodTargets(target)
			}
			return f.RemoveFloodTargets(target)
		},
		func() error { // a reset, later synced
			f := feed()
			if rng.IntN(2) == 0 {
				f.Reset()
			} else {
				f.Synced()
			}
			return nil
		},
		func() error { // the API binds a MAC, maybe with an IP a feed gives
			_, err := l.s.AddMACs("backup-b", MACBindings{{MAC: mac(), IPs: []string{ip()}}})
			return err
		},
		func() error { // the API lets one go
			macs, _ := l.s.ListMACs("backup-b")
			if len(macs) == 0 {
				return nil
			}
			return l.s.DeleteMAC("backup-b", macs[rng.IntN(len(macs))].MAC)
		},
		func() error { // network red comes and goes
			if _, err := l.s.GetNetwork("red"); err == nil {
				return l.s.DeleteNetwork("red")
			}
			_, err := l.s.CreateNetwork(Network{Name: "red", Attachments: []Attachment{{Port: "eth1", VLAN: 7}}})
			return err
		},
		func() error { // the API connection with backup-b's tunnel comes and goes
			if _, err := l.s.GetConnection("backup-b"); err == nil {
				if rng.IntN(3) > 0 {
					return nil
				}
				return l.s.DeleteConnection("backup-b")
			}
			_, err := l.s.CreateConnection(Connection{Name: "backup-b", Network: "backup", RemoteGateway: "site-b",
				SegmentationID: 5001, NetworkType: TypeVXLAN, Flood: rng.IntN(2) == 0})
			return err
		},
		func() error { // a feed tells a network, maybe with the API's name or ports
			// Attachments: red's, backup's, and free ones (one per port).
			pool := [][]Attachment{{{Port: "eth1", VLAN: 7}}, {{Port: "trunk0", VLAN: 100}, {Port: "trunk0", VLAN: 8}}, {{Port: "eth2"}, {Port: "eth2", VLAN: 9}}}
			var atts []Attachment
			for _, choices := range pool {
				if k := rng.IntN(len(choices) + 1); k < len(choices) {
					atts = append(atts, choices[k])
				}
			}
			return feed().UpsertNetworks(Network{Name: networks[rng.IntN(len(networks))], Attachments: atts})
		},
		func() error { // a feed takes one back
			return feed().RemoveNetworks(networks[rng.IntN(len(networks))])
		},
		func() error { // l2gwd restarts: not a flow changes
			reconcileOK(t, l.r)
			l.restart(t, feedOptions(0))
			l.sw.mods = 0
			reconcileOK(t, l.r)
			if l.sw.mods != 0 {
				t.Fatalf("the restart sent %d flow_mods", l.sw.mods)
			}
			return nil
		},
		func() error { // site-b moves: the tunnels it shares change
			_, err := l.s.ReplaceRemoteGateway("site-b", RemoteGateway{TunnelIP: []string{"198.51.100.2", "198.51.100.3"}[rng.IntN(2)]})
			return err
		},
	}
	for step := range 300 {
		op := rng.IntN(len(ops))
		if err := ops[op](); err != nil {
			if _, rejected := err.(*Error); !rejected {
				t.Fatalf("step %d op %d: %v", step, op, err)
			}
		}
		if rng.IntN(3) > 0 {
			continue
		}
		reconcileOK(t, l.r)
		checkSwitchIsFullCompile(t, l.s, l.sw, l.r)
		checkFeedNetworks(t, l.s)
		if st := l.r.Status(); !st.Reconciled {
			t.Fatalf("step %d: not reconciled: %+v", step, st)
		}
	}
}
