package ovsdb

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/l2gw/l2gw/ovsdb/vswitch"
)

var testBridge = BridgeConfig{Name: "br-int", DatapathType: "netdev", ControllerTarget: "tcp:127.0.0.1:6653"}

func TestEnsureBridgeCreatesBridgeInOneTransaction(t *testing.T) {
	c, counter := newMemoryClient(t, true)
	if err := c.EnsureBridge(context.Background(), testBridge); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions(); n != 2 { // the Open_vSwitch row, then the bridge
		t.Fatalf("transactions = %d, want 2", n)
	}
	s := snap(t, c)
	br, ok := s.bridges["br-int"]
	if !ok {
		t.Fatal("bridge br-int not created")
	}
	if br.DatapathType != "netdev" || !slices.Equal(br.Protocols, []string{"OpenFlow13"}) ||
		br.FailMode == nil || *br.FailMode != "secure" || !ownedByL2gwd(br.ExternalIDs) {
		t.Errorf("bridge = %+v, want netdev, [OpenFlow13], secure, owned", br)
	}
	if len(br.Controller) != 1 {
		t.Fatalf("controllers = %v, want one", br.Controller)
	}
	if ct := s.controllers[br.Controller[0]]; ct.Target != testBridge.ControllerTarget || !ownedByL2gwd(ct.ExternalIDs) {
		t.Errorf("controller = %+v", ct)
	}
	port, ok := s.portsByName(br)["br-int"]
	if !ok || len(port.Interfaces) != 1 {
		t.Fatalf("internal port = %+v, want port br-int with one interface", port)
	}
	if iface := s.ifaces[port.Interfaces[0]]; iface.Name != "br-int" || iface.Type != "internal" {
		t.Errorf("internal interface = %+v", iface)
	}
	roots, err := list[vswitch.OpenvSwitch](context.Background(), c.ovs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(roots[0].Bridges, br.UUID) {
		t.Errorf("Open_vSwitch.bridges = %v, want it to hold %s", roots[0].Bridges, br.UUID)
	}

	if err := c.EnsureBridge(context.Background(), testBridge); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions(); n != 2 {
		t.Errorf("second EnsureBridge wrote: transactions = %d, want still 2", n)
	}
}

// insertBridge creates a bridge the way an operator would (not owned by l2gwd).
func insertBridge(t *testing.T, c *Client, br *vswitch.Bridge, controllers ...*vswitch.Controller) {
	t.Helper()
	var ops []ovsdb.Operation
	for i, ct := range controllers {
		ct.UUID = "ctrl" + string(rune('a'+i))
		br.Controller = append(br.Controller, ct.UUID)
		ops = append(ops, mustOps(t)(c.ovs.Create(ct))...)
	}
	br.UUID = "br"
	ops = append(ops, mustOps(t)(c.ovs.Create(br))...)
	root := &vswitch.OpenvSwitch{UUID: snap(t, c).root}
	ops = append(ops, mustOps(t)(c.ovs.Where(root).Mutate(root, model.Mutation{
		Field: &root.Bridges, Mutator: ovsdb.MutateOperationInsert, Value: []string{br.UUID},
	}))...)
	commit(t, c, ops...)
	waitFor(t, "bridge in the cache", func() bool { _, ok := snap(t, c).bridges[br.Name]; return ok })
}

func TestEnsureBridgeFixesExistingBridge(t *testing.T) {
	c, counter := newMemoryClient(t, true)
	standalone := "standalone"
	insertBridge(t, c, &vswitch.Bridge{Name: "br-int", FailMode: &standalone, Protocols: []string{"OpenFlow10", "OpenFlow13"}},
		&vswitch.Controller{Target: "tcp:192.0.2.1:6653"}, &vswitch.Controller{Target: testBridge.ControllerTarget})
	before := snap(t, c)
	var right string
	for uuid, ct := range before.controllers {
		if ct.Target == testBridge.ControllerTarget {
			right = uuid
		}
	}
	txBefore := counter.Transactions()

	if err := c.EnsureBridge(context.Background(), testBridge); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - txBefore; n != 1 {
		t.Errorf("EnsureBridge used %d transactions, want 1", n)
	}
	s := snap(t, c)
	br := s.bridges["br-int"]
	if !slices.Equal(br.Protocols, []string{"OpenFlow13"}) || *br.FailMode != "secure" {
		t.Errorf("bridge protocols %v, fail_mode %v; want [OpenFlow13], secure", br.Protocols, *br.FailMode)
	}
	if !slices.Equal(br.Controller, []string{right}) {
		t.Errorf("controllers = %v, want only the existing right one %s", br.Controller, right)
	}
	if len(s.controllers) != 1 {
		t.Errorf("controller rows = %v, want the dropped one garbage-collected", s.controllers)
	}
	if ownedByL2gwd(br.ExternalIDs) {
		t.Error("EnsureBridge tagged a bridge it did not create as its own")
	}
}

func TestEnsureBridgeReplacesWrongController(t *testing.T) {
	c, _ := newMemoryClient(t, true)
	secure := "secure"
	insertBridge(t, c, &vswitch.Bridge{Name: "br-int", FailMode: &secure, Protocols: []string{"OpenFlow13"}},
		&vswitch.Controller{Target: "tcp:192.0.2.1:6653"})
	if err := c.EnsureBridge(context.Background(), testBridge); err != nil {
		t.Fatal(err)
	}
	s := snap(t, c)
	br := s.bridges["br-int"]
	if len(br.Controller) != 1 {
		t.Fatalf("controllers = %v, want one", br.Controller)
	}
	if ct := s.controllers[br.Controller[0]]; ct.Target != testBridge.ControllerTarget || !ownedByL2gwd(ct.ExternalIDs) {
		t.Errorf("controller = %+v, want a new owned one at %s", ct, testBridge.ControllerTarget)
	}
}

func TestEnsureBridgeNeedsInitialisedDatabase(t *testing.T) {
	c, counter := newMemoryClient(t, false)
	err := c.EnsureBridge(context.Background(), testBridge)
	if err == nil || !strings.Contains(err.Error(), "ovs-vsctl init") {
		t.Fatalf("err = %v, want a hint at ovs-vsctl init", err)
	}
	if n := counter.Transactions(); n != 0 {
		t.Errorf("transactions = %d, want 0", n)
	}
}

func TestEnsureBridgeRejectsIncompleteConfig(t *testing.T) {
	c, _ := newMemoryClient(t, true)
	for _, cfg := range []BridgeConfig{{Name: "br-int"}, {ControllerTarget: "tcp:127.0.0.1:6653"}} {
		if err := c.EnsureBridge(context.Background(), cfg); err == nil {
			t.Errorf("EnsureBridge(%+v) succeeded, want an error", cfg)
		}
	}
}
