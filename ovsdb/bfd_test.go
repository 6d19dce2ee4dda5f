package ovsdb

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/l2gw/l2gw/ovsdb/vswitch"
)

var (
	peerV4    = BFDPeer{NetworkType: "vxlan", Remote: netip.MustParseAddr("198.51.100.1")}
	peerV4Gre = BFDPeer{NetworkType: "gre", Remote: netip.MustParseAddr("198.51.100.11")}
	peerV6    = BFDPeer{NetworkType: "geneve", Remote: netip.MustParseAddr("2001:db8::1")}
	bfd100    = BFDConfig{IntervalMS: 100}
)

func TestBFDPortName(t *testing.T) {
	if got := BFDPortName(peerV4); got != "bfdv4-c6336401" {
		t.Errorf("BFDPortName(%v) = %q, want bfdv4-c6336401", peerV4, got)
	}
	seen := map[string]BFDPeer{}
	for _, typ := range tunnelTypes {
		for _, addr := range []string{"198.51.100.1", "203.0.113.255", "2001:db8::1", "2001:db8::2",
			"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"} {
			p := BFDPeer{NetworkType: typ, Remote: netip.MustParseAddr(addr)}
			name := BFDPortName(p)
			if len(name) > 15 {
				t.Errorf("BFDPortName(%v) = %q: %d bytes, more than a Linux interface name's 15", p, name, len(name))
			}
			if other, ok := seen[name]; ok {
				t.Errorf("BFDPortName(%v) = BFDPortName(%v) = %q", p, other, name)
			}
			seen[name] = p
			same := BFDPeer{NetworkType: typ, Remote: netip.MustParseAddr(strings.ToUpper(addr))}
			if again := BFDPortName(same); again != name {
				t.Errorf("BFDPortName is not stable: %q then %q for %v", name, again, p)
			}
		}
	}
}

// bfdIfaces returns the interfaces of bridge's BFD ports, by name.
func bfdIfaces(t *testing.T, c *Client, bridge string) map[string]vswitch.Interface {
	t.Helper()
	s := snap(t, c)
	ifaces := make(map[string]vswitch.Interface)
	for name, port := range s.portsByName(s.bridges[bridge]) {
		if strings.HasPrefix(name, "bfd") {
			ifaces[name] = s.ifaces[port.Interfaces[0]]
		}
	}
	return ifaces
}

func TestEnsureBFDPorts(t *testing.T) {
	c, counter := newMemoryBridge(t)
	ctx := context.Background()
	if err := c.EnsureTunnelPorts(ctx, "br-int", []string{"vxlan", "gre"}, "198.51.100.2"); err != nil {
		t.Fatal(err)
	}
	cfg := BFDConfig{LocalIP: netip.MustParseAddr("198.51.100.2"), IntervalMS: 100, Multiplier: 3}
	tx := counter.Transactions()
	if err := c.EnsureBFDPorts(ctx, "br-int", []BFDPeer{peerV4, peerV4Gre, peerV4}, cfg); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 1 {
		t.Errorf("creating two BFD ports took %d transactions, want 1", n)
	}
	ifaces := bfdIfaces(t, c, "br-int")
	if len(ifaces) != 2 {
		t.Fatalf("BFD interfaces = %v, want 2", slices.Collect(maps.Keys(ifaces)))
	}
	for _, p := range []BFDPeer{peerV4, peerV4Gre} {
		iface := ifaces[BFDPortName(p)]
		wantOpts := map[string]string{"remote_ip": p.Remote.String(), "key": "0", "local_ip": "198.51.100.2"}
		wantBFD := map[string]string{"enable": "true", "min_tx": "100", "min_rx": "100", "cpath_down": "false", "mult": "3"}
		if iface.Type != p.NetworkType || !maps.Equal(iface.Options, wantOpts) || !maps.Equal(iface.BFD, wantBFD) ||
			!ownedByL2gwd(iface.ExternalIDs) || iface.ExternalIDs[bfdPeerKey] != p.String() {
			t.Errorf("%s = type %q options %v bfd %v external_ids %v; want %s, %v, %v, owned, peer %v",
				iface.Name, iface.Type, iface.Options, iface.BFD, iface.ExternalIDs, p.NetworkType, wantOpts, wantBFD, p)
		}
	}
	if ifaces := tunnelIfaces(t, c, "br-int"); ifaces["l2gw-vxlan"].Options["remote_ip"] != "flow" || ifaces["l2gw-gre"].Options["remote_ip"] != "flow" {
		t.Errorf("flow-based tunnel ports changed: %v", ifaces)
	}
	if got, ok := c.AttachmentPorts("br-int"); !ok || len(got) != 0 {
		t.Errorf("AttachmentPorts = %v, %v; want none (BFD ports are not attachments)", got, ok)
	}

	tx = counter.Transactions()
	if err := c.EnsureBFDPorts(ctx, "br-int", []BFDPeer{peerV4Gre, peerV4}, cfg); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 0 {
		t.Errorf("EnsureBFDPorts with nothing to do wrote %d transactions", n)
	}
	// The flow-based ports' upkeep leaves the BFD ports alone.
	if err := c.EnsureTunnelPorts(ctx, "br-int", []string{"vxlan"}, "198.51.100.2"); err != nil {
		t.Fatal(err)
	}
	if n := len(bfdIfaces(t, c, "br-int")); n != 2 {
		t.Errorf("EnsureTunnelPorts left %d BFD ports, want 2", n)
	}

	// cpath_down and the interval change in place; a peer no longer
	// listed goes, with its interface row.
	cfg.CPathDown, cfg.IntervalMS, cfg.Multiplier = true, 30, 0
	tx = counter.Transactions()
	if err := c.EnsureBFDPorts(ctx, "br-int", []BFDPeer{peerV4}, cfg); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 1 {
		t.Errorf("changing the BFD ports took %d transactions, want 1", n)
	}
	ifaces = bfdIfaces(t, c, "br-int")
	wantBFD := map[string]string{"enable": "true", "min_tx": "30", "min_rx": "30", "cpath_down": "true"}
	if len(ifaces) != 1 || !maps.Equal(ifaces[BFDPortName(peerV4)].BFD, wantBFD) {
		t.Errorf("BFD interfaces = %v, want only %s with bfd %v", ifaces, BFDPortName(peerV4), wantBFD)
	}
	for _, iface := range snap(t, c).ifaces {
		if iface.Name == BFDPortName(peerV4Gre) {
			t.Errorf("interface row of the removed BFD port %s is still there", iface.Name)
		}
	}

	// IPv6 peers need an IPv6 local IP, or none.
	if err := c.EnsureBFDPorts(ctx, "br-int", []BFDPeer{peerV6}, bfd100); err != nil {
		t.Fatal(err)
	}
	ifaces = bfdIfaces(t, c, "br-int")
	if iface := ifaces[BFDPortName(peerV6)]; len(ifaces) != 1 || iface.Type != "geneve" ||
		!maps.Equal(iface.Options, map[string]string{"remote_ip": "2001:db8::1", "key": "0"}) {
		t.Errorf("BFD interfaces = %v, want only %s, geneve to 2001:db8::1", ifaces, BFDPortName(peerV6))
	}
	if err := c.EnsureBFDPorts(ctx, "br-int", nil, bfd100); err != nil {
		t.Fatal(err)
	}
	if ifaces := bfdIfaces(t, c, "br-int"); len(ifaces) != 0 {
		t.Errorf("BFD interfaces after asking for none = %v", ifaces)
	}
	if _, ok := tunnelIfaces(t, c, "br-int")["l2gw-vxlan"]; !ok {
		t.Error("EnsureBFDPorts removed the flow-based port l2gw-vxlan")
	}
}

func TestEnsureBFDPortsFixesDrift(t *testing.T) {
	c, counter := newMemoryBridge(t)
	ctx := context.Background()
	if err := c.EnsureBFDPorts(ctx, "br-int", []BFDPeer{peerV4}, bfd100); err != nil {
		t.Fatal(err)
	}
	name := BFDPortName(peerV4)
	good := bfdIfaces(t, c, "br-int")[name]
	broken := good
	broken.Type = "gre"
	broken.Options = map[string]string{"remote_ip": "192.0.2.9", "key": "flow"}
	broken.BFD = map[string]string{"enable": "true", "min_tx": "1000", "min_rx": "100", "decay_min_rx": "2000"}
	broken.ExternalIDs = ownerIDs()
	commit(t, c, mustOps(t)(c.ovs.Where(&vswitch.Interface{UUID: broken.UUID}).
		Update(&broken, &broken.Type, &broken.Options, &broken.BFD, &broken.ExternalIDs))...)
	waitFor(t, "the hand edit in the cache", func() bool { return bfdIfaces(t, c, "br-int")[name].Type == "gre" })

	tx := counter.Transactions()
	if err := c.EnsureBFDPorts(ctx, "br-int", []BFDPeer{peerV4}, bfd100); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 1 {
		t.Errorf("fixing took %d transactions, want 1", n)
	}
	fixed := bfdIfaces(t, c, "br-int")[name]
	if fixed.UUID != good.UUID || fixed.Type != good.Type || !maps.Equal(fixed.Options, good.Options) ||
		!maps.Equal(fixed.BFD, good.BFD) || !maps.Equal(fixed.ExternalIDs, good.ExternalIDs) {
		t.Errorf("after EnsureBFDPorts: %+v, want %+v", fixed, good)
	}
}

func TestEnsureBFDPortsKeepsPortsItDoesNotOwn(t *testing.T) {
	c, counter := newMemoryBridge(t)
	br := snap(t, c).bridges["br-int"]
	name := BFDPortName(peerV4)
	iface := &vswitch.Interface{UUID: "i", Name: name, Type: "vxlan", Options: map[string]string{"remote_ip": "192.0.2.7"}}
	port := &vswitch.Port{UUID: "p", Name: name, Interfaces: []string{"i"}}
	other := &vswitch.Interface{UUID: "j", Name: "bfd-mine", Type: "vxlan", Options: map[string]string{"remote_ip": "192.0.2.8"},
		BFD: map[string]string{"enable": "true"}}
	otherPort := &vswitch.Port{UUID: "q", Name: "bfd-mine", Interfaces: []string{"j"}}
	ops := mustOps(t)(c.ovs.Create(iface, port, other, otherPort))
	ops = append(ops, mustOps(t)(c.bridgePortsOps(br, ovsdb.MutateOperationInsert, "p", "q"))...)
	commit(t, c, ops...)
	waitFor(t, "hand-made ports in the cache", func() bool { return len(bfdIfaces(t, c, "br-int")) == 2 })

	tx := counter.Transactions()
	if err := c.EnsureBFDPorts(context.Background(), "br-int", []BFDPeer{peerV4}, bfd100); err == nil {
		t.Error("EnsureBFDPorts took over a port it does not own")
	}
	if err := c.EnsureBFDPorts(context.Background(), "br-int", nil, bfd100); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 0 {
		t.Errorf("EnsureBFDPorts wrote %d transactions to ports it does not own", n)
	}
	if got := c.BFDPorts("br-int"); len(got) != 0 {
		t.Errorf("BFDPorts = %v, want none of the hand-made ports", got)
	}
}

func TestEnsureBFDPortsErrors(t *testing.T) {
	c, counter := newMemoryBridge(t)
	v4 := BFDConfig{LocalIP: netip.MustParseAddr("198.51.100.2"), IntervalMS: 100}
	for _, bad := range []struct {
		bridge string
		peers  []BFDPeer
		cfg    BFDConfig
	}{
		{"br-int", []BFDPeer{{NetworkType: "stt", Remote: peerV4.Remote}}, bfd100},
		{"br-int", []BFDPeer{{NetworkType: "vxlan"}}, bfd100},
		{"br-int", []BFDPeer{{NetworkType: "vxlan", Remote: netip.MustParseAddr("::ffff:198.51.100.1")}}, bfd100},
		{"br-int", []BFDPeer{{NetworkType: "vxlan", Remote: netip.MustParseAddr("fe80::1%eth0")}}, bfd100},
		{"br-int", []BFDPeer{{NetworkType: "vxlan", Remote: netip.MustParseAddr("0.0.0.0")}}, bfd100},
		{"br-int", []BFDPeer{peerV6}, v4},
		{"br-int", []BFDPeer{peerV4}, BFDConfig{}},
		{"br-int", []BFDPeer{peerV4}, BFDConfig{IntervalMS: 100, Multiplier: 256}},
		{"br-missing", []BFDPeer{peerV4}, bfd100},
	} {
		if err := c.EnsureBFDPorts(context.Background(), bad.bridge, bad.peers, bad.cfg); err == nil {
			t.Errorf("EnsureBFDPorts(%s, %v, %+v) accepted", bad.bridge, bad.peers, bad.cfg)
		} else {
			t.Log(err)
		}
	}
	if n := counter.Transactions(); n != 2 {
		t.Errorf("failed calls wrote %d transactions", n-2)
	}
}

func TestBFDPortsAndChanges(t *testing.T) {
	c, _ := newMemoryBridge(t)
	if err := c.EnsureBFDPorts(context.Background(), "br-int", []BFDPeer{peerV4, peerV6}, bfd100); err != nil {
		t.Fatal(err)
	}
	got := c.BFDPorts("br-int")
	if len(got) != 2 || got[peerV4].Port != BFDPortName(peerV4) || got[peerV4].State != "" || got[peerV4].Up() || got[peerV6].OFPort != 0 {
		t.Errorf("BFDPorts before ovs-vswitchd reported = %+v, want two ports in no state", got)
	}
	// What ovs-vswitchd writes: an ofport, then a session's state.
	report := func(status map[string]string) {
		t.Helper()
		iface := bfdIfaces(t, c, "br-int")[BFDPortName(peerV4)]
		ofport := 7
		iface.Ofport, iface.BFDStatus = &ofport, status
		drain(c)
		w := c.Watch()
		<-w // its first value, the current state
		commit(t, c, mustOps(t)(c.ovs.Where(&vswitch.Interface{UUID: iface.UUID}).Update(&iface, &iface.Ofport, &iface.BFDStatus))...)
		awaitChange(t, c, "a BFD status update")
		select {
		case <-w:
		case <-time.After(10 * time.Second):
			t.Fatal("Watch got nothing for a BFD status update")
		}
	}
	report(map[string]string{"state": "up", "forwarding": "true", "remote_state": "up",
		"diagnostic": "No Diagnostic", "remote_diagnostic": "No Diagnostic", "flap_count": "1"})
	waitFor(t, "the session up", func() bool { return c.BFDPorts("br-int")[peerV4].Up() })
	if st := c.BFDPorts("br-int")[peerV4]; st.OFPort != 7 || st.CPathDown() {
		t.Errorf("BFDPorts[%v] = %+v, want ofport 7, not cpath_down", peerV4, st)
	}
	report(map[string]string{"state": "up", "forwarding": "false", "remote_state": "up",
		"diagnostic": "No Diagnostic", "remote_diagnostic": "Concatenated Path Down", "flap_count": "1"})
	waitFor(t, "cpath_down", func() bool { return c.BFDPorts("br-int")[peerV4].CPathDown() })
	if st := c.BFDPorts("br-int")[peerV4]; st.Up() {
		t.Errorf("BFDPorts[%v] = %+v: Up with the peer's cpath_down", peerV4, st)
	}
	report(map[string]string{"state": "down", "forwarding": "false", "remote_state": "down",
		"diagnostic": "Control Detection Time Expired", "remote_diagnostic": "No Diagnostic", "flap_count": "2"})
	waitFor(t, "the session down", func() bool { return c.BFDPorts("br-int")[peerV4].State == "down" })
	if st := c.BFDPorts("br-int")[peerV4]; st.Up() || st.CPathDown() || st.Diagnostic != "Control Detection Time Expired" {
		t.Errorf("BFDPorts[%v] = %+v, want down, not cpath_down", peerV4, st)
	}
	if got := c.BFDPorts("br-other"); len(got) != 0 {
		t.Errorf("BFDPorts of an unknown bridge = %v", got)
	}
}
