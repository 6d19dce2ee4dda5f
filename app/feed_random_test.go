package app

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestFeedsAndAPIInAnyOrderEndWhereAFullCompileDoes mixes random feed
// calls of both dynamic origins with API changes that take MACs, IPs and
// tunnels from them and give them back, and after each pass checks that
// the switch holds what a full compile of the state gives and that every
// remote MAC compiles as a fresh evaluation of the precedence rules says.
func TestFeedsAndAPIInAnyOrderEndWhereAFullCompileDoes(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { checkFeedsMatchFull(t, seed) })
	}
}

func checkFeedsMatchFull(t *testing.T, seed uint64) {
	l := newFeedLab(t, 0)
	s := l.s
	reconcileOK(t, l.r)
	rng := rand.New(rand.NewPCG(seed, 7))
	feeds := []*Feed{l.vtep, l.evpn}
	mac := func() string { return fmt.Sprintf("02:0b:00:00:00:%02x", 1+rng.IntN(12)) }
	ip := func() string {
		if rng.IntN(4) == 0 {
			return fmt.Sprintf("2001:db8::%x", 1+rng.IntN(8))
		}
		return fmt.Sprintf("192.0.2.%d", 20+rng.IntN(8))
	}
	networks := []string{"backup", "red"}
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
			return feeds[rng.IntN(2)].UpsertRemoteMACs(batch...)
		},
		func() error { // a feed withdraws one
			return feeds[rng.IntN(2)].WithdrawRemoteMACs(remoteKeyOf(networks[rng.IntN(2)], mac()))
		},
		func() error { // flooding on or off
			f := feeds[rng.IntN(2)]
			target := FloodTarget{Network: networks[rng.IntN(2)], Tunnel: tunnel()}
			if rng.IntN(2) == 0 {
				return f.AddFloodTargets(target)
			}
			return f.RemoveFloodTargets(target)
		},
		func() error { // a reset, later synced
			f := feeds[rng.IntN(2)]
			if rng.IntN(2) == 0 {
				f.Reset()
			} else {
				f.Synced()
			}
			return nil
		},
		func() error { // the API binds a MAC, maybe with an IP a feed gives
			_, err := s.AddMACs("backup-b", MACBindings{{MAC: mac(), IPs: []string{ip()}}})
			return err
		},
		func() error { // the API lets one go
			macs, _ := s.ListMACs("backup-b")
			if len(macs) == 0 {
				return nil
			}
			return s.DeleteMAC("backup-b", macs[rng.IntN(len(macs))].MAC)
		},
		func() error { // network red comes and goes
			if _, err := s.GetNetwork("red"); err == nil {
				return s.DeleteNetwork("red")
			}
			_, err := s.CreateNetwork(Network{Name: "red", Attachments: []Attachment{{Port: "eth1", VLAN: 7}}})
			return err
		},
		func() error { // the API connection with backup-b's tunnel comes and goes
			if _, err := s.GetConnection("backup-b"); err == nil {
				if rng.IntN(3) > 0 {
					return nil
				}
				return s.DeleteConnection("backup-b")
			}
			_, err := s.CreateConnection(Connection{Name: "backup-b", Network: "backup", RemoteGateway: "site-b",
				SegmentationID: 5001, NetworkType: TypeVXLAN, Flood: rng.IntN(2) == 0})
			return err
		},
		func() error { // site-b moves: the tunnels it shares change
			_, err := s.ReplaceRemoteGateway("site-b", RemoteGateway{TunnelIP: []string{"198.51.100.2", "198.51.100.3"}[rng.IntN(2)]})
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
		checkSwitchIsFullCompile(t, s, l.sw, l.r)
		if st := l.r.Status(); !st.Reconciled {
			t.Fatalf("step %d: not reconciled: %+v", step, st)
		}
	}
}
