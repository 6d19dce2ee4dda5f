package ovsdb

import (
	"context"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/ovsdb/vswitch"
)

var (
	testSSL = SSLConfig{
		PrivateKey:  "/etc/openvswitch/switch-privkey.pem",
		Certificate: "/etc/openvswitch/switch-cert.pem",
		CACert:      "/etc/openvswitch/l2gwd-ca.pem",
	}
	testTLSBridge = BridgeConfig{Name: "br-int", DatapathType: "netdev", ControllerTarget: "ssl:127.0.0.1:6653", SSL: &testSSL}
)

// checkSSL fails t unless Open_vSwitch.ssl holds want with bootstrapping off.
func checkSSL(t *testing.T, c *Client, want SSLConfig) *vswitch.SSL {
	t.Helper()
	got := snap(t, c).ssl
	if got == nil {
		t.Fatal("Open_vSwitch.ssl is empty")
	}
	if got.PrivateKey != want.PrivateKey || got.Certificate != want.Certificate || got.CaCert != want.CACert || got.BootstrapCaCert {
		t.Fatalf("SSL row = %+v, want %+v without bootstrap_ca_cert", *got, want)
	}
	return got
}

// insertSSL sets an SSL row the way ovs-vsctl set-ssl does.
func insertSSL(t *testing.T, c *Client, row *vswitch.SSL) {
	t.Helper()
	row.UUID = "operator_ssl"
	ops := mustOps(t)(c.ovs.Create(row))
	root := &vswitch.OpenvSwitch{UUID: snap(t, c).root, SSL: &row.UUID}
	ops = append(ops, mustOps(t)(c.ovs.Where(root).Update(root, &root.SSL))...)
	commit(t, c, ops...)
	waitFor(t, "SSL row in the cache", func() bool { return snap(t, c).ssl != nil })
}

func TestEnsureBridgeWritesSSLInTheBridgesTransaction(t *testing.T) {
	c, counter := newMemoryClient(t, true)
	ctx := context.Background()
	if err := c.EnsureBridge(ctx, testTLSBridge); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions(); n != 2 { // the Open_vSwitch row, then bridge and SSL
		t.Fatalf("transactions = %d, want 2", n)
	}
	s := snap(t, c)
	if ct := s.controllers[s.bridges["br-int"].Controller[0]]; ct.Target != "ssl:127.0.0.1:6653" {
		t.Errorf("controller target = %q", ct.Target)
	}
	if row := checkSSL(t, c, testSSL); !ownedByL2gwd(row.ExternalIDs) {
		t.Errorf("SSL row l2gwd inserted is not tagged as its own: %v", row.ExternalIDs)
	}
	if err := c.EnsureBridge(ctx, testTLSBridge); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions(); n != 2 {
		t.Errorf("second EnsureBridge wrote: transactions = %d, want still 2", n)
	}
}

func TestEnsureBridgeFixesTheExistingSSLRow(t *testing.T) {
	c, counter := newMemoryClient(t, true)
	ctx := context.Background()
	if err := c.EnsureBridge(ctx, testBridge); err != nil {
		t.Fatal(err)
	}
	insertSSL(t, c, &vswitch.SSL{PrivateKey: "/old/key.pem", Certificate: "/old/cert.pem", BootstrapCaCert: true,
		ExternalIDs: map[string]string{"site": "lab"}})
	old := snap(t, c).ssl.UUID
	tx := counter.Transactions()
	if err := c.EnsureBridge(ctx, testTLSBridge); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 1 {
		t.Errorf("fixing controller and SSL took %d transactions, want 1", n)
	}
	row := checkSSL(t, c, testSSL)
	if row.UUID != old || row.ExternalIDs["site"] != "lab" {
		t.Errorf("SSL row = %+v, want row %s updated in place, its external_ids kept", *row, old)
	}
	tx = counter.Transactions()
	if err := c.EnsureBridge(ctx, testTLSBridge); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 0 {
		t.Errorf("EnsureBridge with nothing to do sent %d transactions", n)
	}
}

func TestEnsureBridgeWithoutSSLLeavesTheSSLTableAlone(t *testing.T) {
	c, counter := newMemoryClient(t, true)
	ctx := context.Background()
	if err := c.EnsureBridge(ctx, testBridge); err != nil {
		t.Fatal(err)
	}
	operator := SSLConfig{PrivateKey: "/op/key.pem", Certificate: "/op/cert.pem", CACert: "/op/ca.pem"}
	insertSSL(t, c, &vswitch.SSL{PrivateKey: operator.PrivateKey, Certificate: operator.Certificate, CaCert: operator.CACert})
	tx := counter.Transactions()
	if err := c.EnsureBridge(ctx, testBridge); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 0 {
		t.Errorf("EnsureBridge without SSL sent %d transactions", n)
	}
	checkSSL(t, c, operator)
}

func TestEnsureBridgeRejectsIncompleteSSL(t *testing.T) {
	c, counter := newMemoryClient(t, true)
	cfg := testTLSBridge
	cfg.SSL = &SSLConfig{PrivateKey: testSSL.PrivateKey, Certificate: testSSL.Certificate}
	err := c.EnsureBridge(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "CA certificate") {
		t.Fatalf("EnsureBridge with SSL without CA: %v, want an error naming the CA certificate", err)
	}
	if n := counter.Transactions(); n != 1 {
		t.Errorf("transactions = %d, want only the Open_vSwitch row's", n)
	}
}

func TestOVSEnsureBridgeSetsSSL(t *testing.T) {
	o := startOVS(t)
	c, counter := dialOVS(t, o)
	ctx := context.Background()
	if err := c.EnsureBridge(ctx, testTLSBridge); err != nil {
		t.Fatal(err)
	}
	wantSSL := "Private key: " + testSSL.PrivateKey + "\nCertificate: " + testSSL.Certificate +
		"\nCA Certificate: " + testSSL.CACert + "\nBootstrap: false"
	if got := vsctl(t, o, "get-ssl"); got != wantSSL {
		t.Errorf("ovs-vsctl get-ssl:\n%s\nwant:\n%s", got, wantSSL)
	}
	if got := vsctl(t, o, "get-controller", "br-int"); got != "ssl:127.0.0.1:6653" {
		t.Errorf("controller = %q", got)
	}
	tx := counter.Transactions()
	if err := c.EnsureBridge(ctx, testTLSBridge); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 0 {
		t.Errorf("second EnsureBridge sent %d transactions, want 0", n)
	}

	// An operator's set-ssl wakes Changes and is put right.
	drain(c)
	vsctl(t, o, "set-ssl", "/tmp/k.pem", "/tmp/c.pem", "/tmp/ca.pem")
	awaitChange(t, c, "ovs-vsctl set-ssl")
	waitFor(t, "the operator's SSL row in the cache", func() bool {
		s := snap(t, c).ssl
		return s != nil && s.PrivateKey == "/tmp/k.pem"
	})
	if err := c.EnsureBridge(ctx, testTLSBridge); err != nil {
		t.Fatal(err)
	}
	if got := vsctl(t, o, "get-ssl"); got != wantSSL {
		t.Errorf("ovs-vsctl get-ssl after repair:\n%s\nwant:\n%s", got, wantSSL)
	}
}
