package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/l2gw/l2gw/api"
	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/evpn"
	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/ha"
	"github.com/l2gw/l2gw/ovsdb"
)

// config is l2gwd's whole configuration. Every field is a flag, and every
// flag may also be set by the environment variable L2GW_<FLAG> (upper case,
// dashes as underscores) and by the key <flag> of the YAML file of --config
// (see sources.go): command line > environment > config file > default.
//
// Secrets are never flag values: a flag names the file that holds one
// (--api-token-file), so --print-config can show every value.
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
	OpenFlowTLSCert  string
	OpenFlowTLSKey   string
	OpenFlowTLSCA    string
	OVSSSLKey        string
	OVSSSLCert       string
	OVSSSLCA         string
	DataDir          string
	DatapathType     string
	LearnIdleTimeout uint
	LearnLimit       uint
	BGPASN           uint
	BGPRouterID      string
	BGPListen        string
	VTEPDB           string
	VTEPSwitch       string
	HoldTime         uint
	HAPeer           string
	HAPriority       uint
	HAHelloPort      uint
	BFDIntervalMS    uint
	BFDMultiplier    uint
	LogLevel         slog.Level
	LogFormat        logFormat
	ConfigFile       string
	PrintConfig      bool

	// sources says where each value came from, for --print-config.
	sources *sources
}

// flagSet declares every flag of l2gwd, bound to c's fields. A new setting
// is one field above and one line here: the environment, the config file
// and --print-config pick it up from the flag set.
func (c *config) flagSet(out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("l2gwd", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.Bridge, "bridge", "br-int", "Open vSwitch bridge to drive (created if missing)")
	fs.StringVar(&c.OVSDB, "ovsdb", "unix:/var/run/openvswitch/db.sock", "OVSDB server (unix:PATH or tcp:HOST:PORT)")
	fs.StringVar(&c.TunnelIP, "tunnel-ip", "", "this gateway's tunnel endpoint: an IPv4 or IPv6 address, or one of each, comma-separated,\nfor a dual-stack underlay whose remote gateways are of both families (required)")
	fs.StringVar(&c.APIListen, "api-listen", "127.0.0.1:8080", "HTTP API listen address; off loopback it needs --api-token-file (or --insecure)")
	fs.StringVar(&c.APITokenFile, "api-token-file", "", "file holding the bearer token every API request but GET /healthz must carry (one line)")
	fs.StringVar(&c.APITLSCert, "api-tls-cert", "", "PEM certificate chain of the API: serve HTTPS only (with --api-tls-key)")
	fs.StringVar(&c.APITLSKey, "api-tls-key", "", "PEM private key of --api-tls-cert")
	fs.StringVar(&c.APIClientCA, "api-client-ca", "", "PEM CA bundle: API clients must present a certificate it signed (needs --api-tls-cert)")
	fs.IntVar(&c.APIMaxInFlight, "api-max-inflight", api.DefaultMaxInFlight, "API requests served at once; more are answered 503 with Retry-After")
	fs.BoolVar(&c.Insecure, "insecure", false, "allow --api-listen off loopback without --api-token-file: anyone who reaches it owns the networks")
	fs.StringVar(&c.OpenFlowListen, "openflow-listen", "127.0.0.1:6653", "OpenFlow listen address, HOST:PORT or tcp:HOST:PORT, or ssl:HOST:PORT for TLS\n(needs --openflow-tls-cert, --openflow-tls-key, --openflow-tls-ca); the bridge's controller points here")
	fs.StringVar(&c.OpenFlowTLSCert, "openflow-tls-cert", "", "PEM certificate chain l2gwd presents to the switch on an ssl: --openflow-listen")
	fs.StringVar(&c.OpenFlowTLSKey, "openflow-tls-key", "", "PEM private key of --openflow-tls-cert")
	fs.StringVar(&c.OpenFlowTLSCA, "openflow-tls-ca", "", "PEM CA bundle: the switch must present a certificate it signed (ssl: --openflow-listen)")
	fs.StringVar(&c.OVSSSLKey, "ovs-ssl-key", "", "private key ovs-vswitchd presents to l2gwd, an absolute path as ovs-vswitchd sees it;\nl2gwd writes it with --ovs-ssl-cert and --ovs-ssl-ca into OVS's SSL table (unset: the table is left alone)")
	fs.StringVar(&c.OVSSSLCert, "ovs-ssl-cert", "", "certificate of --ovs-ssl-key, signed by --openflow-tls-ca (absolute path as ovs-vswitchd sees it)")
	fs.StringVar(&c.OVSSSLCA, "ovs-ssl-ca", "", "CA certificate that signed --openflow-tls-cert, for ovs-vswitchd to check l2gwd (absolute path as ovs-vswitchd sees it)")
	fs.StringVar(&c.DataDir, "data-dir", "/var/lib/l2gw", "directory of the durable state (bbolt)")
	fs.StringVar(&c.DatapathType, "datapath-type", "system", "datapath type of a bridge l2gwd creates: system (kernel) or netdev (userspace)")
	fs.UintVar(&c.LearnIdleTimeout, "learn-idle-timeout", 300, "seconds a learned MAC lives without traffic (1-65535)")
	fs.UintVar(&c.LearnLimit, "learn-limit", flows.DefaultLearnLimit, "MACs learned from each remote gateway's connection at most (1-4294967295); past it, traffic to new MACs floods")
	fs.UintVar(&c.BGPASN, "bgp-asn", 0, "this gateway's BGP autonomous system number (1-4294967295): enables BGP EVPN (0: no BGP)")
	fs.StringVar(&c.BGPRouterID, "bgp-router-id", "", "BGP identifier, an IPv4 address (default: the IPv4 --tunnel-ip)")
	fs.StringVar(&c.BGPListen, "bgp-listen", evpn.DefaultListen, "BGP listen address HOST:PORT (port 0: accept no session, only connect out)")
	fs.StringVar(&c.VTEPDB, "vtep-db", "", "hardware_vtep database (unix:PATH or tcp:HOST:PORT): l2gwd is a physical switch of it,\ndriven by what its controller writes (ovn-controller-vtep, vtep-ctl, networking-l2gw); unset: no hardware_vtep")
	fs.StringVar(&c.VTEPSwitch, "vtep-switch", "", "this gateway's Physical_Switch name in --vtep-db (default: --bridge)")
	fs.UintVar(&c.HoldTime, "hold-time", uint(app.DefaultHoldTime/time.Second), "seconds what a dynamic origin (EVPN, hardware_vtep) told before a restart stays in force\nwhile it has not told everything again (1-65535)")
	fs.StringVar(&c.HAPeer, "ha-peer", "", "tunnel IP of the other gateway node of this site: the two run as an active/standby pair\n(BFD between them over the underlay and the local segment; see the README's High availability)")
	fs.UintVar(&c.HAPriority, "ha-priority", 0, "this node's priority in its pair (1-255, needed with --ha-peer): the higher is the primary")
	fs.UintVar(&c.HAHelloPort, "ha-hello-port", ha.DefaultHelloPort, "UDP port, on the tunnel IP, the pair's nodes tell each other their priority on")
	fs.UintVar(&c.BFDIntervalMS, "bfd-interval-ms", 100, "BFD transmit and receive interval (ms, 10-10000) of the sessions l2gwd runs:\nto its HA peer, to remote gateways' endpoints (a failure is detected in interval x multiplier)")
	fs.UintVar(&c.BFDMultiplier, "bfd-multiplier", 3, "BFD detection multiplier (1-255): intervals without a packet that take a session down")
	fs.TextVar(&c.LogLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	fs.TextVar(&c.LogFormat, "log-format", logFormatText, "log format: text (key=value) or json (one object per line)")
	fs.StringVar(&c.ConfigFile, flagConfig, "", "YAML config file whose keys are the flag names, e.g. \"tunnel-ip: 198.51.100.1\" (env L2GW_CONFIG)")
	fs.BoolVar(&c.PrintConfig, flagPrintConfig, false, "print the effective configuration as YAML, each value's source in a comment, and exit\n(command line only; the output is valid input for --config; no secret is ever printed)")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: l2gwd --tunnel-ip IP [flags]\n"+
			"       l2gwd --config /etc/l2gw/l2gwd.yaml [flags] [--print-config]\n\n"+
			"l2gwd drives one site's Open vSwitch bridge to join layer-2 networks across sites.\n\n"+
			"Every flag may be set in three places: on the command line (--tunnel-ip 198.51.100.1),\n"+
			"by the environment variable L2GW_<FLAG> (L2GW_TUNNEL_IP=198.51.100.1), and as a key of the\n"+
			"YAML file of --config (tunnel-ip: 198.51.100.1). Precedence, highest first:\n"+
			"  command line > environment > config file > default.\n"+
			"--config itself comes from the command line or L2GW_CONFIG; --print-config from the\n"+
			"command line only.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseConfig reads the command line args, the environment from getenv and
// the config file of --config (or L2GW_CONFIG), and validates the result.
// It returns flag.ErrHelp after printing usage to out for -h/--help.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (*config, error) {
	c := &config{}
	fs := c.flagSet(out)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	src, err := applySources(fs, (&config{}).flagSet(io.Discard), getenv)
	if err != nil {
		return nil, err
	}
	c.sources = src
	return c, c.validate()
}

func (c *config) validate() error {
	if c.TunnelIP == "" {
		return errors.New("--tunnel-ip is required")
	}
	if _, err := parseTunnelIPs(c.TunnelIP); err != nil {
		return fmt.Errorf("--tunnel-ip %q: %w", c.TunnelIP, err)
	}
	if c.DatapathType != "system" && c.DatapathType != "netdev" {
		return fmt.Errorf("--datapath-type %q: want system or netdev", c.DatapathType)
	}
	if c.LearnIdleTimeout < 1 || c.LearnIdleTimeout > 65535 {
		return fmt.Errorf("--learn-idle-timeout %d: want 1-65535 seconds", c.LearnIdleTimeout)
	}
	if c.LearnLimit < 1 || c.LearnLimit > math.MaxUint32 {
		return fmt.Errorf("--learn-limit %d: want 1-4294967295 MACs", c.LearnLimit)
	}
	if err := c.validateBGP(); err != nil {
		return err
	}
	if err := c.validateVTEP(); err != nil {
		return err
	}
	if c.HoldTime < 1 || c.HoldTime > 65535 {
		return fmt.Errorf("--hold-time %d: want 1-65535 seconds", c.HoldTime)
	}
	if err := c.validateHA(); err != nil {
		return err
	}
	if !strings.HasPrefix(c.OVSDB, "unix:") && !strings.HasPrefix(c.OVSDB, "tcp:") {
		return fmt.Errorf("--ovsdb %q: want unix:PATH or tcp:HOST:PORT", c.OVSDB)
	}
	_, openflowAddr := c.openflowListen()
	for _, a := range []struct{ flag, value, addr string }{
		{"--api-listen", c.APIListen, c.APIListen}, {"--openflow-listen", c.OpenFlowListen, openflowAddr},
	} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("%s %q: %w", a.flag, a.value, err)
		}
	}
	if err := c.validateOpenFlowTLS(); err != nil {
		return err
	}
	return c.validateAPIAccess()
}

// validateBGP checks the --bgp-* flags: a router ID is needed (given, or
// the IPv4 tunnel IP) when BGP is on, and none is given when it is off.
func (c *config) validateBGP() error {
	if c.BGPASN > math.MaxUint32 {
		return fmt.Errorf("--bgp-asn %d: want 1-4294967295", c.BGPASN)
	}
	if c.BGPASN == 0 {
		if c.BGPRouterID != "" {
			return errors.New("--bgp-router-id: only with --bgp-asn (BGP is off)")
		}
		return nil
	}
	if _, err := c.bgpRouterID(); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.BGPListen); err != nil {
		return fmt.Errorf("--bgp-listen %q: %w", c.BGPListen, err)
	}
	return nil
}

// bgpRouterID is --bgp-router-id, or the IPv4 tunnel IP.
func (c *config) bgpRouterID() (netip.Addr, error) {
	if c.BGPRouterID != "" {
		id, err := netip.ParseAddr(c.BGPRouterID)
		if err != nil || !id.Is4() {
			return netip.Addr{}, fmt.Errorf("--bgp-router-id %q: want an IPv4 address", c.BGPRouterID)
		}
		return id, nil
	}
	for _, a := range c.tunnelIPs() {
		if a.Is4() {
			return a, nil
		}
	}
	return netip.Addr{}, errors.New("--bgp-asn: BGP needs an IPv4 router ID: give --bgp-router-id (--tunnel-ip has no IPv4 address)")
}

// tunnelIPs is --tunnel-ip parsed.
func (c *config) tunnelIPs() []netip.Addr {
	addrs, _ := parseTunnelIPs(c.TunnelIP)
	return addrs
}

// openflowListen splits --openflow-listen into its scheme, "tcp" (also
// when none is given) or "ssl", and HOST:PORT.
func (c *config) openflowListen() (scheme, addr string) {
	for _, scheme := range []string{"tcp", "ssl"} {
		if addr, ok := strings.CutPrefix(c.OpenFlowListen, scheme+":"); ok {
			return scheme, addr
		}
	}
	return "tcp", c.OpenFlowListen
}

// validateOpenFlowTLS checks that an ssl: --openflow-listen has its three
// files, that the --ovs-ssl-* flags come all together, as absolute paths,
// and that no TLS flag is given for plain TCP.
func (c *config) validateOpenFlowTLS() error {
	listener := []struct{ flag, value string }{
		{"--openflow-tls-cert", c.OpenFlowTLSCert}, {"--openflow-tls-key", c.OpenFlowTLSKey}, {"--openflow-tls-ca", c.OpenFlowTLSCA},
	}
	ovs := []struct{ flag, value string }{
		{"--ovs-ssl-key", c.OVSSSLKey}, {"--ovs-ssl-cert", c.OVSSSLCert}, {"--ovs-ssl-ca", c.OVSSSLCA},
	}
	var missing, given, ovsGiven []string
	for _, f := range listener {
		if f.value == "" {
			missing = append(missing, f.flag)
		} else {
			given = append(given, f.flag)
		}
	}
	for _, f := range ovs {
		if f.value == "" {
			continue
		}
		if !filepath.IsAbs(f.value) {
			return fmt.Errorf("%s %q: want an absolute path (as ovs-vswitchd sees it)", f.flag, f.value)
		}
		ovsGiven = append(ovsGiven, f.flag)
	}
	if scheme, _ := c.openflowListen(); scheme != "ssl" {
		if given = append(given, ovsGiven...); len(given) > 0 {
			return fmt.Errorf("%s: only for TLS, which needs --openflow-listen ssl:HOST:PORT (got %q)", strings.Join(given, ", "), c.OpenFlowListen)
		}
		return nil
	}
	if len(missing) > 0 {
		return fmt.Errorf("--openflow-listen %q: TLS needs %s", c.OpenFlowListen, strings.Join(missing, ", "))
	}
	if len(ovsGiven) > 0 && len(ovsGiven) < len(ovs) {
		return errors.New("--ovs-ssl-key, --ovs-ssl-cert and --ovs-ssl-ca go together: give all three, or none to leave OVS's SSL table alone")
	}
	return nil
}

// openflowTLS is the listener's TLS files; nil for plain TCP.
func (c *config) openflowTLS() *flows.TLSFiles {
	if scheme, _ := c.openflowListen(); scheme != "ssl" {
		return nil
	}
	return &flows.TLSFiles{Cert: c.OpenFlowTLSCert, Key: c.OpenFlowTLSKey, CA: c.OpenFlowTLSCA}
}

// ovsSSL is what OVS's SSL table must hold; nil when the --ovs-ssl-* flags
// are not given (the table is then left as it is).
func (c *config) ovsSSL() *ovsdb.SSLConfig {
	if c.OVSSSLKey == "" {
		return nil
	}
	return &ovsdb.SSLConfig{PrivateKey: c.OVSSSLKey, Certificate: c.OVSSSLCert, CACert: c.OVSSSLCA}
}

// controllerTarget is where the bridge must connect: the OpenFlow listen
// address with its scheme (tcp: or ssl:), a wildcard host replaced by
// loopback.
func (c *config) controllerTarget() string {
	scheme, addr := c.openflowListen()
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return scheme + ":" + net.JoinHostPort(host, port)
}

// learning is how the data path learns, as the reconciler takes it.
func (c *config) learning() app.Learning {
	return app.Learning{IdleTimeout: uint16(c.LearnIdleTimeout), Limit: uint32(c.LearnLimit)}
}

// parseTunnelIPs parses --tunnel-ip: one unicast IPv4 or IPv6 address, or
// one of each separated by a comma, in canonical form (IPv4-mapped IPv6
// addresses as IPv4).
func parseTunnelIPs(s string) ([]netip.Addr, error) {
	parts := strings.Split(s, ",")
	if len(parts) > 2 {
		return nil, errors.New("want one IPv4 or IPv6 address, or one of each")
	}
	var addrs []netip.Addr
	for _, p := range parts {
		a, err := netip.ParseAddr(strings.TrimSpace(p))
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q: want an IPv4 or IPv6 address without a zone", p)
		}
		a = a.Unmap()
		if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || (a.Is6() && a.IsLinkLocalUnicast()) {
			return nil, fmt.Errorf("%s: want a unicast address remote gateways can reach", a)
		}
		if len(addrs) == 1 && addrs[0].Is4() == a.Is4() {
			return nil, errors.New("two addresses must be one IPv4 and one IPv6")
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

// ownTunnelIPs are the addresses remote gateways must not claim as theirs:
// all of --tunnel-ip's.
func (c *config) ownTunnelIPs() []string {
	addrs, _ := parseTunnelIPs(c.TunnelIP)
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// tunnelPortLocalIP is the tunnel ports' local_ip: the address of a
// single-stack gateway, none for a dual-stack one. One flow-based port per
// type carries both families, and OVS cannot bind it to two addresses:
// without local_ip it takes tunnel packets addressed to any of the node's
// addresses (the classifier still admits only known gateways' tun_src) and
// sends each from the source address of its route to the remote gateway.
func (c *config) tunnelPortLocalIP() string {
	addrs, _ := parseTunnelIPs(c.TunnelIP)
	if len(addrs) != 1 {
		return ""
	}
	return addrs[0].String()
}
