package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsAreTheDocumentedContract(t *testing.T) {
	c, err := parseConfig([]string{"--tunnel-ip", "198.51.100.1"}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Bridge != "br-int" || c.OVSDB != "unix:/var/run/openvswitch/db.sock" || c.APIListen != "127.0.0.1:8080" ||
		c.OpenFlowListen != "127.0.0.1:6653" || c.DataDir != "/var/lib/l2gw" || c.DatapathType != "system" {
		t.Fatalf("defaults drifted from the contract: %+v", c)
	}
	if got := c.controllerTarget(); got != "tcp:127.0.0.1:6653" {
		t.Fatalf("controller target %q", got)
	}
}

func TestFlagWinsOverEnvironmentWhichWinsOverDefault(t *testing.T) {
	e := env(map[string]string{"L2GW_TUNNEL_IP": "198.51.100.1", "L2GW_BRIDGE": "br-env", "L2GW_DATA_DIR": "/env"})
	c, err := parseConfig([]string{"--bridge", "br-flag"}, e, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Bridge != "br-flag" || c.DataDir != "/env" || c.TunnelIP != "198.51.100.1" {
		t.Fatalf("precedence broken: %+v", c)
	}
}

func TestBadConfigIsRefusedWithAClearError(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "--tunnel-ip is required"},
		{[]string{"--tunnel-ip", "2001:db8::1"}, nil, "want an IPv4 address"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--datapath-type", "dpdk"}, nil, "want system or netdev"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--ovsdb", "/run/db.sock"}, nil, "unix:PATH"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--api-listen", "8080"}, nil, "--api-listen"},
		{[]string{"--tunnel-ip", "198.51.100.1"}, map[string]string{"L2GW_LEARN_IDLE_TIMEOUT": "x"}, "L2GW_LEARN_IDLE_TIMEOUT"},
		{[]string{"--tunnel-ip", "198.51.100.1", "extra"}, nil, "unexpected argument"},
	} {
		_, err := parseConfig(tc.args, env(tc.env), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: error %v, want it to mention %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestHelpDocumentsEveryFlagAndTheEnvironment(t *testing.T) {
	var out bytes.Buffer
	_, err := parseConfig([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"-bridge", "-ovsdb", "-tunnel-ip", "-api-listen", "-openflow-listen", "-data-dir", "-datapath-type",
		"-api-token-file", "-api-tls-cert", "-api-tls-key", "-api-client-ca", "-api-max-inflight", "-insecure", "L2GW_TUNNEL_IP"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not mention %s", want)
		}
	}
}

func TestWildcardOpenFlowListenPointsTheBridgeAtLoopback(t *testing.T) {
	c, err := parseConfig([]string{"--tunnel-ip", "198.51.100.1", "--openflow-listen", "0.0.0.0:6700"}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.controllerTarget(); got != "tcp:127.0.0.1:6700" {
		t.Fatalf("controller target %q", got)
	}
}
