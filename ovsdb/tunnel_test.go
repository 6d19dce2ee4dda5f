package ovsdb

import (
	"context"
	"maps"
	"testing"

	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/l2gw/l2gw/ovsdb/vswitch"
)

func TestTunnelPortName(t *testing.T) {
	for typ, want := range map[string]string{"vxlan": "l2gw-vxlan", "gre": "l2gw-gre", "geneve": "l2gw-geneve"} {
		if got := TunnelPortName(typ); got != want {
			t.Errorf("TunnelPortName(%q) = %q, want %q", typ, got, want)
		}
	}
}

// tunnelIfaces returns the interfaces of bridge's ports named like tunnel
// ports, by name.
func tunnelIfaces(t *testing.T, c *Client, bridge string) map[string]vswitch.Interface {
	t.Helper()
	s := snap(t, c)
	ifaces := make(map[string]vswitch.Interface)
	for name, port := range s.portsByName(s.bridges[bridge]) {
		if name == bridge {
			continue
		}
		for _, uuid := range port.Interfaces {
			ifaces[name] = s.ifaces[uuid]
		}
	}
	return ifaces
}

func newMemoryBridge(t *testing.T) (*Client, *txCounter) {
	t.Helper()
	c, counter := newMemoryClient(t, true)
	if err := c.EnsureBridge(context.Background(), testBridge); err != nil {
		t.Fatal(err)
	}
	return c, counter
}

func TestEnsureTunnelPorts(t *testing.T) {
	c, counter := newMemoryBridge(t)
	ctx := context.Background()
	tx := counter.Transactions()
	if err := c.EnsureTunnelPorts(ctx, "br-int", []string{"vxlan", "gre", "geneve"}, "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 1 {
		t.Errorf("creating three tunnel ports took %d transactions, want 1", n)
	}
	ifaces := tunnelIfaces(t, c, "br-int")
	if len(ifaces) != 3 {
		t.Fatalf("tunnel interfaces = %v, want 3", ifaces)
	}
	wantOpts := map[string]string{"remote_ip": "flow", "key": "flow", "local_ip": "198.51.100.1"}
	for _, typ := range []string{"vxlan", "gre", "geneve"} {
		iface := ifaces[TunnelPortName(typ)]
		if iface.Type != typ || !maps.Equal(iface.Options, wantOpts) || !ownedByL2gwd(iface.ExternalIDs) {
			t.Errorf("%s = type %q options %v external_ids %v; want %s, %v, owned",
				TunnelPortName(typ), iface.Type, iface.Options, iface.ExternalIDs, typ, wantOpts)
		}
	}

	tx = counter.Transactions()
	if err := c.EnsureTunnelPorts(ctx, "br-int", []string{"geneve", "vxlan", "gre"}, "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 0 {
		t.Errorf("EnsureTunnelPorts with nothing to do wrote %d transactions", n)
	}

	if err := c.EnsureTunnelPorts(ctx, "br-int", []string{"vxlan", "geneve"}, ""); err != nil {
		t.Fatal(err)
	}
	ifaces = tunnelIfaces(t, c, "br-int")
	if _, ok := ifaces["l2gw-gre"]; ok || len(ifaces) != 2 {
		t.Errorf("tunnel interfaces = %v, want l2gw-gre removed", ifaces)
	}
	for name, iface := range snap(t, c).ifaces {
		if iface.Name == "l2gw-gre" {
			t.Errorf("interface row %s of the removed port l2gw-gre is still there", name)
		}
	}
	if opts := ifaces["l2gw-vxlan"].Options; !maps.Equal(opts, map[string]string{"remote_ip": "flow", "key": "flow"}) {
		t.Errorf("l2gw-vxlan options = %v, want no local_ip", opts)
	}
}

func TestEnsureTunnelPortsFixesInterface(t *testing.T) {
	c, _ := newMemoryBridge(t)
	ctx := context.Background()
	if err := c.EnsureTunnelPorts(ctx, "br-int", []string{"vxlan"}, ""); err != nil {
		t.Fatal(err)
	}
	broken := tunnelIfaces(t, c, "br-int")["l2gw-vxlan"]
	broken.Type, broken.Options = "gre", map[string]string{"remote_ip": "192.0.2.9", "dst_port": "4790"}
	commit(t, c, mustOps(t)(c.ovs.Where(&vswitch.Interface{UUID: broken.UUID}).Update(&broken, &broken.Type, &broken.Options))...)
	waitFor(t, "broken interface in the cache", func() bool { return tunnelIfaces(t, c, "br-int")["l2gw-vxlan"].Type == "gre" })

	if err := c.EnsureTunnelPorts(ctx, "br-int", []string{"vxlan"}, ""); err != nil {
		t.Fatal(err)
	}
	fixed := tunnelIfaces(t, c, "br-int")["l2gw-vxlan"]
	if fixed.Type != "vxlan" || !maps.Equal(fixed.Options, map[string]string{"remote_ip": "flow", "key": "flow"}) {
		t.Errorf("after EnsureTunnelPorts: type %q options %v", fixed.Type, fixed.Options)
	}
}

func TestEnsureTunnelPortsKeepsPortsItDoesNotOwn(t *testing.T) {
	c, _ := newMemoryBridge(t)
	br := snap(t, c).bridges["br-int"]
	iface := &vswitch.Interface{UUID: "i", Name: "l2gw-gre", Type: "gre", Options: map[string]string{"remote_ip": "192.0.2.7"}}
	port := &vswitch.Port{UUID: "p", Name: "l2gw-gre", Interfaces: []string{"i"}}
	ops := mustOps(t)(c.ovs.Create(iface, port))
	ops = append(ops, mustOps(t)(c.bridgePortsOps(br, ovsdb.MutateOperationInsert, "p"))...)
	commit(t, c, ops...)
	waitFor(t, "hand-made port in the cache", func() bool { _, ok := tunnelIfaces(t, c, "br-int")["l2gw-gre"]; return ok })

	if err := c.EnsureTunnelPorts(context.Background(), "br-int", []string{"vxlan"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := tunnelIfaces(t, c, "br-int")["l2gw-gre"]; !ok {
		t.Error("EnsureTunnelPorts removed a port l2gwd does not own")
	}
}

func TestEnsureTunnelPortsErrors(t *testing.T) {
	c, counter := newMemoryBridge(t)
	tx := counter.Transactions()
	if err := c.EnsureTunnelPorts(context.Background(), "br-int", []string{"vxlan", "stt"}, ""); err == nil {
		t.Error("unknown network type accepted")
	}
	if err := c.EnsureTunnelPorts(context.Background(), "br-missing", []string{"vxlan"}, ""); err == nil {
		t.Error("missing bridge accepted")
	}
	if n := counter.Transactions() - tx; n != 0 {
		t.Errorf("failed calls wrote %d transactions", n)
	}
}

func TestOFPortsAndChanges(t *testing.T) {
	c, _ := newMemoryBridge(t)
	if err := c.EnsureTunnelPorts(context.Background(), "br-int", []string{"vxlan", "gre"}, ""); err != nil {
		t.Fatal(err)
	}
	if got := c.OFPorts("br-int"); len(got) != 0 {
		t.Errorf("OFPorts before any ofport = %v, want empty", got)
	}
	drain(c)
	ifaces := tunnelIfaces(t, c, "br-int")
	vxlan, gre := ifaces["l2gw-vxlan"], ifaces["l2gw-gre"]
	five, failed := 5, -1
	vxlan.Ofport, gre.Ofport = &five, &failed
	ops := mustOps(t)(c.ovs.Where(&vswitch.Interface{UUID: vxlan.UUID}).Update(&vxlan, &vxlan.Ofport))
	ops = append(ops, mustOps(t)(c.ovs.Where(&vswitch.Interface{UUID: gre.UUID}).Update(&gre, &gre.Ofport))...)
	commit(t, c, ops...)

	awaitChange(t, c, "an ofport update")
	waitFor(t, "l2gw-vxlan's ofport", func() bool { return c.OFPorts("br-int")["l2gw-vxlan"] == 5 })
	if got := c.OFPorts("br-int"); len(got) != 1 {
		t.Errorf("OFPorts = %v, want only l2gw-vxlan (l2gw-gre's ofport is -1)", got)
	}
	if got := c.OFPorts("br-other"); len(got) != 0 {
		t.Errorf("OFPorts of an unknown bridge = %v, want empty", got)
	}
}
