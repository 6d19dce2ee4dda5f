package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/ovsdb"
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
		{[]string{"--tunnel-ip", "fe80::1"}, nil, "want a unicast address"},
		{[]string{"--tunnel-ip", "198.51.100.1,198.51.100.2"}, nil, "one IPv4 and one IPv6"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--datapath-type", "dpdk"}, nil, "want system or netdev"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--ovsdb", "/run/db.sock"}, nil, "unix:PATH"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--api-listen", "8080"}, nil, "--api-listen"},
		{[]string{"--tunnel-ip", "198.51.100.1"}, map[string]string{"L2GW_LEARN_IDLE_TIMEOUT": "x"}, "L2GW_LEARN_IDLE_TIMEOUT"},
		{[]string{"--tunnel-ip", "198.51.100.1", "extra"}, nil, "unexpected argument"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--learn-limit", "0"}, nil, "--learn-limit 0: want 1-4294967295"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--learn-limit", "4294967296"}, nil, "--learn-limit 4294967296"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--bgp-asn", "4294967296"}, nil, "--bgp-asn 4294967296: want 1-4294967295"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--bgp-router-id", "198.51.100.9"}, nil, "only with --bgp-asn"},
		{[]string{"--tunnel-ip", "2001:db8::1", "--bgp-asn", "65000"}, nil, "give --bgp-router-id"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--bgp-asn", "65000", "--bgp-router-id", "2001:db8::1"}, nil, "want an IPv4 address"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--bgp-asn", "65000", "--bgp-listen", "179"}, nil, "--bgp-listen"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--hold-time", "0"}, nil, "--hold-time 0: want 1-65535"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--ha-peer", "198.51.100.2"}, nil, "--ha-priority 0: want 1-255 with --ha-peer"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--ha-priority", "100"}, nil, "--ha-priority: only with --ha-peer"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--ha-peer", "198.51.100.1", "--ha-priority", "1"}, nil, "this node's own --tunnel-ip"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--ha-peer", "2001:db8::2", "--ha-priority", "1"}, nil, "not of --tunnel-ip 198.51.100.1's family"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--ha-peer", "peer", "--ha-priority", "1"}, nil, "--ha-peer \"peer\": want the other node's"},
		{[]string{"--tunnel-ip", "198.51.100.1,2001:db8::1", "--ha-peer", "198.51.100.2", "--ha-priority", "1"}, nil, "needs a single --tunnel-ip"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--ha-peer", "198.51.100.2", "--ha-priority", "256"}, nil, "--ha-priority 256"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--bfd-interval-ms", "5"}, nil, "--bfd-interval-ms 5: want 10-10000"},
		{[]string{"--tunnel-ip", "198.51.100.1", "--bfd-multiplier", "0"}, nil, "--bfd-multiplier 0: want 1-255"},
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
		"-learn-limit", "-api-token-file", "-api-tls-cert", "-api-tls-key", "-api-client-ca", "-api-max-inflight", "-insecure", "L2GW_TUNNEL_IP",
		"ssl:HOST:PORT", "-openflow-tls-cert", "-openflow-tls-key", "-openflow-tls-ca", "-ovs-ssl-key", "-ovs-ssl-cert", "-ovs-ssl-ca",
		"-config", "L2GW_CONFIG", "-print-config", "-log-format", "command line > environment > config file > default"} {
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

// tlsArgs are the flags of an OpenFlow listener over TLS whose SSL table
// l2gwd manages.
var tlsArgs = []string{"--tunnel-ip", "198.51.100.1", "--openflow-listen", "ssl:0.0.0.0:6653",
	"--openflow-tls-cert", "l2gwd.crt", "--openflow-tls-key", "l2gwd.key", "--openflow-tls-ca", "switch-ca.crt",
	"--ovs-ssl-key", "/etc/openvswitch/key.pem", "--ovs-ssl-cert", "/etc/openvswitch/cert.pem", "--ovs-ssl-ca", "/etc/openvswitch/l2gwd-ca.pem"}

func TestSSLOpenFlowListenConfiguresTLSAndTheBridge(t *testing.T) {
	c, err := parseConfig(tlsArgs, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.controllerTarget(); got != "ssl:127.0.0.1:6653" {
		t.Errorf("controller target %q, want ssl:127.0.0.1:6653", got)
	}
	if scheme, addr := c.openflowListen(); scheme != "ssl" || addr != "0.0.0.0:6653" {
		t.Errorf("listen %s %s, want ssl 0.0.0.0:6653", scheme, addr)
	}
	if f := c.openflowTLS(); f == nil || f.Cert != "l2gwd.crt" || f.Key != "l2gwd.key" || f.CA != "switch-ca.crt" {
		t.Errorf("listener TLS files %+v", f)
	}
	if s := c.ovsSSL(); s == nil || s.PrivateKey != "/etc/openvswitch/key.pem" || s.Certificate != "/etc/openvswitch/cert.pem" ||
		s.CACert != "/etc/openvswitch/l2gwd-ca.pem" {
		t.Errorf("OVS SSL settings %+v", s)
	}
}

func TestOpenFlowListenSchemes(t *testing.T) {
	for _, tc := range []struct{ listen, target string }{
		{"127.0.0.1:6653", "tcp:127.0.0.1:6653"},
		{"tcp:127.0.0.1:6654", "tcp:127.0.0.1:6654"},
		{"tcp:[::]:6655", "tcp:127.0.0.1:6655"},
	} {
		c, err := parseConfig([]string{"--tunnel-ip", "198.51.100.1", "--openflow-listen", tc.listen}, env(nil), &bytes.Buffer{})
		if err != nil {
			t.Errorf("--openflow-listen %s: %v", tc.listen, err)
			continue
		}
		if got := c.controllerTarget(); got != tc.target {
			t.Errorf("--openflow-listen %s: controller target %q, want %q", tc.listen, got, tc.target)
		}
		if c.openflowTLS() != nil || c.ovsSSL() != nil {
			t.Errorf("--openflow-listen %s: TLS configured for plain TCP", tc.listen)
		}
	}
}

func TestTLSFlagsAreFromTheEnvironmentToo(t *testing.T) {
	c, err := parseConfig([]string{"--tunnel-ip", "198.51.100.1"}, env(map[string]string{
		"L2GW_OPENFLOW_LISTEN": "ssl:127.0.0.1:6653", "L2GW_OPENFLOW_TLS_CERT": "c", "L2GW_OPENFLOW_TLS_KEY": "k",
		"L2GW_OPENFLOW_TLS_CA": "ca", "L2GW_OVS_SSL_KEY": "/k", "L2GW_OVS_SSL_CERT": "/c", "L2GW_OVS_SSL_CA": "/ca",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if f, s := c.openflowTLS(), c.ovsSSL(); f == nil || *f != (flows.TLSFiles{Cert: "c", Key: "k", CA: "ca"}) ||
		s == nil || *s != (ovsdb.SSLConfig{PrivateKey: "/k", Certificate: "/c", CACert: "/ca"}) {
		t.Fatalf("from the environment: listener %+v, OVS %+v", f, s)
	}
}

func TestBadOpenFlowTLSConfigIsRefusedWithAClearError(t *testing.T) {
	without := func(flag string) []string {
		var args []string
		for i := 0; i < len(tlsArgs); i += 2 {
			if tlsArgs[i] != flag {
				args = append(args, tlsArgs[i], tlsArgs[i+1])
			}
		}
		return args
	}
	with := func(extra ...string) []string { return append([]string{"--tunnel-ip", "198.51.100.1"}, extra...) }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{without("--openflow-tls-cert"), `--openflow-listen "ssl:0.0.0.0:6653": TLS needs --openflow-tls-cert`},
		{without("--openflow-tls-key"), "TLS needs --openflow-tls-key"},
		{without("--openflow-tls-ca"), "TLS needs --openflow-tls-ca"},
		{with("--openflow-listen", "ssl:127.0.0.1:6653"), "TLS needs --openflow-tls-cert, --openflow-tls-key, --openflow-tls-ca"},
		{with("--openflow-listen", "ssl:6653"), `--openflow-listen "ssl:6653": address 6653: missing port`},
		{without("--ovs-ssl-ca"), "--ovs-ssl-key, --ovs-ssl-cert and --ovs-ssl-ca go together"},
		{append(without("--ovs-ssl-key"), "--ovs-ssl-key", "key.pem"), `--ovs-ssl-key "key.pem": want an absolute path`},
		{with("--openflow-tls-cert", "l2gwd.crt"), "--openflow-tls-cert: only for TLS, which needs --openflow-listen ssl:HOST:PORT"},
		{with("--openflow-listen", "tcp:127.0.0.1:6653", "--ovs-ssl-key", "/k"), "--ovs-ssl-key: only for TLS"},
	} {
		_, err := parseConfig(tc.args, env(nil), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}
