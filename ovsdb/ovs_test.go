package ovsdb

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// Tests against a real ovsdb-server and ovs-vswitchd (userspace datapath).

var netnsSeq atomic.Int64

// startOVS starts a private OVS in a network namespace of its own: the
// userspace datapath creates tap devices (ovs-netdev, br-int) that would
// collide with any other OVS instance in the same namespace.
func startOVS(t *testing.T) *ovstest.OVS {
	t.Helper()
	ovstest.Require(t)
	ns := fmt.Sprintf("l2gw-ovsdb-%d-%d", os.Getpid(), netnsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	return ovstest.Start(t, ns)
}

// dialOVS connects a Client to o through a transaction counter.
func dialOVS(t *testing.T, o *ovstest.OVS) (*Client, *txCounter) {
	t.Helper()
	counter := countTransactions(t, o.DBSock())
	c, err := Dial(context.Background(), counter.Endpoint(), testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, counter
}

// vsctl runs ovs-vsctl and trims its output.
func vsctl(t *testing.T, o *ovstest.OVS, args ...string) string {
	t.Helper()
	return strings.TrimSpace(o.Vsctl(t, args...))
}

// versions dumps the _uuid and _version of every Bridge and Port row.
// (Interface, Controller and Open_vSwitch rows are left out: ovs-vswitchd
// keeps writing their statistics and status.)
func versions(t *testing.T, o *ovstest.OVS) string {
	t.Helper()
	query := `["Open_vSwitch"`
	for _, table := range []string{"Bridge", "Port"} {
		query += fmt.Sprintf(`,{"op":"select","table":%q,"where":[],"columns":["_uuid","_version"]}`, table)
	}
	out, err := o.Exec("ovsdb-client", "transact", o.Endpoint(), query+"]")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOVSEnsureBridge(t *testing.T) {
	o := startOVS(t)
	c, counter := dialOVS(t, o)
	ctx := context.Background()
	if err := c.EnsureBridge(ctx, testBridge); err != nil {
		t.Fatal(err)
	}
	for _, check := range []struct{ args, want string }{
		{"get bridge br-int datapath_type", "netdev"},
		{"get bridge br-int protocols", "[OpenFlow13]"},
		{"get bridge br-int fail_mode", "secure"},
		{"get-controller br-int", "tcp:127.0.0.1:6653"},
		{"get bridge br-int external_ids:l2gw-owner", `l2gwd`},
		{"list-ports br-int", ""},
		{"get interface br-int type", "internal"},
		{"--columns=target --bare list controller", "tcp:127.0.0.1:6653"},
		{"--columns=max_backoff --bare list controller", "1000"},
	} {
		if got := vsctl(t, o, strings.Fields(check.args)...); got != check.want {
			t.Errorf("ovs-vsctl %s = %q, want %q", check.args, got, check.want)
		}
	}
	// ovs-vswitchd accepted the bridge: it has an OpenFlow port (LOCAL).
	waitFor(t, "br-int's ofport", func() bool { return c.OFPorts("br-int")["br-int"] == 65534 })

	before, tx := versions(t, o), counter.Transactions()
	if err := c.EnsureBridge(ctx, testBridge); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 0 {
		t.Errorf("second EnsureBridge sent %d transactions, want 0", n)
	}
	if after := versions(t, o); after != before {
		t.Errorf("second EnsureBridge changed rows:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// An operator's edits are repaired in one transaction.
	vsctl(t, o, "set", "bridge", "br-int", "fail_mode=standalone", "protocols=OpenFlow10,OpenFlow13")
	vsctl(t, o, "set-controller", "br-int", "tcp:192.0.2.1:6653", "tcp:127.0.0.1:6653")
	waitFor(t, "the operator's edits in the cache", func() bool {
		return len(snap(t, c).bridges["br-int"].Controller) == 2
	})
	tx = counter.Transactions()
	if err := c.EnsureBridge(ctx, testBridge); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 1 {
		t.Errorf("repair took %d transactions, want 1", n)
	}
	if got := vsctl(t, o, "get-controller", "br-int"); got != "tcp:127.0.0.1:6653" {
		t.Errorf("controllers after repair = %q", got)
	}
	if got := vsctl(t, o, "--columns=max_backoff", "--bare", "list", "controller"); got != "1000" {
		t.Errorf("controller max_backoff after repair = %q, want 1000", got)
	}
	if got := vsctl(t, o, "get", "bridge", "br-int", "fail_mode", "protocols"); got != "secure\n[OpenFlow13]" {
		t.Errorf("fail_mode, protocols after repair = %q", got)
	}
}

func TestOVSTunnelPortsAndOFPorts(t *testing.T) {
	o := startOVS(t)
	c, counter := dialOVS(t, o)
	ctx := context.Background()
	if err := c.EnsureBridge(ctx, testBridge); err != nil {
		t.Fatal(err)
	}
	all := []string{"vxlan", "gre", "geneve"}
	if err := c.EnsureTunnelPorts(ctx, "br-int", all, "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	for _, typ := range all {
		name := TunnelPortName(typ)
		if got := vsctl(t, o, "get", "interface", name, "type"); got != typ {
			t.Errorf("%s type = %q, want %s", name, got, typ)
		}
		if got, want := vsctl(t, o, "get", "interface", name, "options"), `{key=flow, local_ip="198.51.100.1", remote_ip=flow}`; got != want {
			t.Errorf("%s options = %s, want %s", name, got, want)
		}
		if got := vsctl(t, o, "get", "port", name, "external_ids:l2gw-owner"); got != "l2gwd" {
			t.Errorf("%s owner = %q", name, got)
		}
	}
	waitFor(t, "ofports of the tunnel ports", func() bool {
		p := c.OFPorts("br-int")
		return p["l2gw-vxlan"] >= 1 && p["l2gw-gre"] >= 1 && p["l2gw-geneve"] >= 1
	})
	t.Logf("OFPorts = %v", c.OFPorts("br-int"))

	tx := counter.Transactions()
	if err := c.EnsureTunnelPorts(ctx, "br-int", all, "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 0 {
		t.Errorf("EnsureTunnelPorts with nothing to do sent %d transactions", n)
	}

	// A wrong option is fixed.
	vsctl(t, o, "set", "interface", "l2gw-vxlan", "options:dst_port=4790")
	waitFor(t, "the edit in the cache", func() bool {
		return tunnelIfaces(t, c, "br-int")["l2gw-vxlan"].Options["dst_port"] == "4790"
	})
	if err := c.EnsureTunnelPorts(ctx, "br-int", all, "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	if got := vsctl(t, o, "get", "interface", "l2gw-vxlan", "options"); strings.Contains(got, "dst_port") {
		t.Errorf("l2gw-vxlan options = %s, want dst_port gone", got)
	}

	if err := c.EnsureTunnelPorts(ctx, "br-int", []string{"vxlan", "geneve"}, "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	if got := vsctl(t, o, "list-ports", "br-int"); got != "l2gw-geneve\nl2gw-vxlan" {
		t.Errorf("ports after dropping gre = %q", got)
	}
	if got := vsctl(t, o, "--columns=name", "--bare", "list", "interface"); strings.Contains(got, "l2gw-gre") {
		t.Errorf("interface l2gw-gre still in the database: %q", got)
	}
	waitFor(t, "l2gw-gre gone from OFPorts", func() bool { _, ok := c.OFPorts("br-int")["l2gw-gre"]; return !ok })

	// A port added by someone else after Dial shows up and signals Changes
	// and every Watch.
	drain(c)
	watch := c.Watch()
	select {
	case <-watch:
	default:
		t.Error("a new Watch has no first value: its reader would not read the current state")
	}
	if got, ok := c.AttachmentPorts("br-int"); !ok || len(got) != 0 {
		t.Errorf("AttachmentPorts with only tunnel ports = %v, %v; want none, true", got, ok)
	}
	if got, ok := c.AttachmentPorts("br-other"); ok {
		t.Errorf("AttachmentPorts of a bridge that is not there = %v, true; want false", got)
	}
	vsctl(t, o, "add-port", "br-int", "p1", "--", "set", "interface", "p1", "type=internal")
	awaitChange(t, c, "ovs-vsctl add-port")
	select {
	case <-watch:
	case <-time.After(10 * time.Second):
		t.Error("Watch got nothing for ovs-vsctl add-port")
	}
	waitFor(t, "p1's ofport", func() bool { return c.OFPorts("br-int")["p1"] >= 1 })
	if got, _ := c.AttachmentPorts("br-int"); !slices.Equal(got, []string{"p1"}) {
		t.Errorf("AttachmentPorts = %v, want [p1] (not the bridge's own port, not the tunnel ports)", got)
	}
}

func TestOVSReconnectsAfterServerRestart(t *testing.T) {
	o := startOVS(t)
	c, err := Dial(context.Background(), o.Endpoint(), testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx := context.Background()
	if err := c.EnsureBridge(ctx, testBridge); err != nil {
		t.Fatal(err)
	}
	if !c.Connected() {
		t.Fatal("Connected() = false on a live connection")
	}

	waitFor(t, "br-int's ofport", func() bool { return c.OFPorts("br-int")["br-int"] == 65534 })

	o.StopDB()
	waitFor(t, "Connected() = false", func() bool { return !c.Connected() })
	if got := c.OFPorts("br-int"); got["br-int"] != 65534 {
		t.Errorf("OFPorts while disconnected = %v, want the last known state", got)
	}
	drain(c)
	if err := o.StartDB(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Connected() = true", c.Connected)
	awaitChange(t, c, "reconnecting")

	moved := testBridge
	moved.ControllerTarget = "tcp:127.0.0.1:6654"
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := c.EnsureBridge(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if got := vsctl(t, o, "get-controller", "br-int"); got != moved.ControllerTarget {
		t.Errorf("controller after reconnect = %q, want %s", got, moved.ControllerTarget)
	}
}
