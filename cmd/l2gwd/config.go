package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"

	"github.com/l2gw/l2gw/api"
)

// config is l2gwd's whole configuration. Every field is a flag, and each
// flag may also come from the environment variable L2GW_<FLAG> (upper case,
// dashes as underscores); a flag on the command line wins over the
// environment, which wins over the default.
type config struct {
	Bridge           string
	OVSDB            string
	TunnelIP         string
	APIListen        string
	APITokenFile     string
	APITLSCert       string
	APITLSKey        string
	APIClientCA      string
	APIMaxInFlight   int
	Insecure         bool
	OpenFlowListen   string
	DataDir          string
	DatapathType     string
	LearnIdleTimeout uint
	LogLevel         slog.Level
}

// parseConfig reads flags from args and the environment from getenv.
// It returns flag.ErrHelp after printing usage for -h/--help.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("l2gwd", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.Bridge, "bridge", "br-int", "Open vSwitch bridge to drive (created if missing)")
	fs.StringVar(&c.OVSDB, "ovsdb", "unix:/var/run/openvswitch/db.sock", "OVSDB server (unix:PATH or tcp:HOST:PORT)")
	fs.StringVar(&c.TunnelIP, "tunnel-ip", "", "this gateway's tunnel endpoint IPv4 address (required)")
	fs.StringVar(&c.APIListen, "api-listen", "127.0.0.1:8080", "HTTP API listen address; off loopback it needs --api-token-file (or --insecure)")
	fs.StringVar(&c.APITokenFile, "api-token-file", "", "file holding the bearer token every API request but GET /healthz must carry (one line)")
	fs.StringVar(&c.APITLSCert, "api-tls-cert", "", "PEM certificate chain of the API: serve HTTPS only (with --api-tls-key)")
	fs.StringVar(&c.APITLSKey, "api-tls-key", "", "PEM private key of --api-tls-cert")
	fs.StringVar(&c.APIClientCA, "api-client-ca", "", "PEM CA bundle: API clients must present a certificate it signed (needs --api-tls-cert)")
	fs.IntVar(&c.APIMaxInFlight, "api-max-inflight", api.DefaultMaxInFlight, "API requests served at once; more are answered 503 with Retry-After")
	fs.BoolVar(&c.Insecure, "insecure", false, "allow --api-listen off loopback without --api-token-file: anyone who reaches it owns the networks")
	fs.StringVar(&c.OpenFlowListen, "openflow-listen", "127.0.0.1:6653", "OpenFlow listen address; the bridge's controller points here")
	fs.StringVar(&c.DataDir, "data-dir", "/var/lib/l2gw", "directory of the durable state (bbolt)")
	fs.StringVar(&c.DatapathType, "datapath-type", "system", "datapath type of a bridge l2gwd creates: system (kernel) or netdev (userspace)")
	fs.UintVar(&c.LearnIdleTimeout, "learn-idle-timeout", 300, "seconds a learned MAC lives without traffic (1-65535)")
	fs.TextVar(&c.LogLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: l2gwd --tunnel-ip IP [flags]\n\n"+
			"l2gwd drives one site's Open vSwitch bridge to join layer-2 networks across sites.\n"+
			"Each flag may also be set by the environment variable L2GW_<FLAG> (e.g. L2GW_TUNNEL_IP);\n"+
			"the command line wins over the environment.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "L2GW_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("environment %s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, c.validate()
}

func (c *config) validate() error {
	if c.TunnelIP == "" {
		return errors.New("--tunnel-ip is required")
	}
	if a, err := netip.ParseAddr(c.TunnelIP); err != nil || !a.Is4() {
		return fmt.Errorf("--tunnel-ip %q: want an IPv4 address", c.TunnelIP)
	}
	if c.DatapathType != "system" && c.DatapathType != "netdev" {
		return fmt.Errorf("--datapath-type %q: want system or netdev", c.DatapathType)
	}
	if c.LearnIdleTimeout < 1 || c.LearnIdleTimeout > 65535 {
		return fmt.Errorf("--learn-idle-timeout %d: want 1-65535 seconds", c.LearnIdleTimeout)
	}
	if !strings.HasPrefix(c.OVSDB, "unix:") && !strings.HasPrefix(c.OVSDB, "tcp:") {
		return fmt.Errorf("--ovsdb %q: want unix:PATH or tcp:HOST:PORT", c.OVSDB)
	}
	for _, a := range []struct{ flag, addr string }{{"--api-listen", c.APIListen}, {"--openflow-listen", c.OpenFlowListen}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("%s %q: %w", a.flag, a.addr, err)
		}
	}
	return c.validateAPIAccess()
}

// controllerTarget is where the bridge must connect: the OpenFlow listen
// address, with a wildcard host replaced by loopback.
func (c *config) controllerTarget() string {
	host, port, _ := net.SplitHostPort(c.OpenFlowListen)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "tcp:" + net.JoinHostPort(host, port)
}

// learnIdle is LearnIdleTimeout as the flow field it becomes.
func (c *config) learnIdle() uint16 { return uint16(c.LearnIdleTimeout) }
