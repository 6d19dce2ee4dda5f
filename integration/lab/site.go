package lab

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// Interface and bridge names inside a site's namespace.
const (
	// PhyBridge is the underlay bridge (standalone, NORMAL switching) whose
	// internal port carries the site's tunnel IP and whose other port is the
	// WAN link.
	PhyBridge = "br-phy"
	// IntBridge is the gateway bridge l2gwd manages; the lab only adds ports to it.
	IntBridge = "br-int"
	// TorBridge is the VLAN access switch that tagged hosts hang off.
	TorBridge = "br-tor"
	// WANPort is the site's end of its WAN link, a port of br-phy.
	WANPort = "wan0"
	// wanBridge is the Linux bridge in the WAN namespace.
	wanBridge = "br-wan"
)

// Site is one gateway node: a namespace with its own Open vSwitch, an
// underlay bridge br-phy holding the tunnel IP, and a link to the WAN.
type Site struct {
	lab   *Lab
	Name  string // site name as given to AddSite
	NetNS string // namespace, <prefix><name>
	// TunnelIP is the underlay address on br-phy as AddSite took it (and as
	// l2gwd's --tunnel-ip takes it): IPv4, IPv6, or one of each
	// comma-separated.
	TunnelIP    string
	tunnelAddrs []netip.Addr
	ovs         *ovstest.OVS
	wanPeer     string // the WAN link's end in the WAN namespace
	trunk       string // br-int's patch port to br-tor, once a VLAN host exists
}

// AddSite creates site name (lower-case letters and digits) in namespace
// <prefix><name>: a private OVS, the netdev bridge br-phy in standalone mode
// whose internal port carries the tunnel IP, and a WAN link (MTU WANMTU)
// from br-phy to the lab's WAN bridge. tunnelIP is an IPv4 address (from
// 198.51.100.0/24, put on br-phy as /24), an IPv6 address (from
// 2001:db8::/32, as /64: an IPv6 WAN), or one of each separated by a comma
// (a dual-stack WAN). It returns once OVS's tunnel route table knows every
// tunnel subnet, so tunnel ports can send at once. br-int is not created
// here.
func (l *Lab) AddSite(name, tunnelIP string) *Site {
	t := l.t
	t.Helper()
	if !namePattern.MatchString(name) {
		t.Fatalf("site name %q: only lower-case letters and digits", name)
	}
	if _, ok := l.sites[name]; ok {
		t.Fatalf("site %s already exists", name)
	}
	addrs, err := parseTunnelIPs(tunnelIP)
	if err != nil {
		t.Fatalf("site %s: %v", name, err)
	}
	s := &Site{lab: l, Name: name, NetNS: l.prefix + name, TunnelIP: tunnelIP, tunnelAddrs: addrs, wanPeer: "w-" + name}
	checkIfName(t, s.wanPeer)
	if err := l.ensureWAN(); err != nil {
		t.Fatal(err)
	}
	if err := l.addNetNS(s.NetNS); err != nil {
		t.Fatal(err)
	}
	s.ovs = ovstest.Start(t, s.NetNS)
	s.ovs.Vsctl(t, "add-br", PhyBridge, "--", "set", "bridge", PhyBridge,
		"datapath_type=netdev", "fail_mode=standalone")
	mtu := fmt.Sprint(WANMTU)
	err = runAll(
		[]string{"ip", "-n", s.NetNS, "link", "add", WANPort, "mtu", mtu, "type", "veth",
			"peer", "name", s.wanPeer, "mtu", mtu, "netns", l.wanNS},
		[]string{"ip", "-n", l.wanNS, "link", "set", s.wanPeer, "master", wanBridge, "up"},
		[]string{"ip", "-n", s.NetNS, "link", "set", WANPort, "up"},
		// The tunnel IP lives on br-phy: the kernel must not also answer
		// ARP for it from wan0 with wan0's MAC, since OVS takes tunnel
		// packets only addressed to br-phy's.
		[]string{"ip", "netns", "exec", s.NetNS, "sysctl", "-qw", "net.ipv4.conf." + WANPort + ".arp_ignore=1"},
	)
	if err != nil {
		t.Fatalf("site %s: create WAN link: %v", name, err)
	}
	s.ovs.Vsctl(t, "add-port", PhyBridge, WANPort)
	s.RestoreUnderlay(t)
	l.sites[name] = s
	return s
}

// RestoreUnderlay (re)puts the tunnel IPs on br-phy's internal port and
// waits until OVS routes tunnels through it. AddSite does it once; a test
// that restarts ovs-vswitchd calls it again, because the userspace datapath
// recreates its internal ports (tap devices) without their addresses, as a
// host's network configuration would on a real gateway.
//
// The lab's namespaces have IPv6 off; for an IPv6 tunnel IP it is turned on
// for br-phy alone, without duplicate address detection (the address is
// usable at once) and without router solicitations.
func (s *Site) RestoreUnderlay(t testing.TB) {
	t.Helper()
	s.WaitBridge(t, PhyBridge)
	var cmds [][]string
	for _, a := range s.tunnelAddrs {
		if a.Is6() {
			sysctl := func(key string) []string {
				return []string{"ip", "netns", "exec", s.NetNS, "sysctl", "-qw", "net.ipv6.conf." + PhyBridge + "." + key}
			}
			cmds = append(cmds, sysctl("disable_ipv6=0"), sysctl("accept_dad=0"), sysctl("router_solicitations=0"))
		}
		cmds = append(cmds, []string{"ip", "-n", s.NetNS, "addr", "replace", tunnelPrefix(a).String(), "dev", PhyBridge})
	}
	cmds = append(cmds, []string{"ip", "-n", s.NetNS, "link", "set", PhyBridge, "up"})
	var err error
	ok := poll(func() bool {
		err = runAll(cmds...)
		return err == nil
	})
	if !ok {
		t.Fatalf("site %s: configure %s: %v", s.Name, PhyBridge, err)
	}
	s.waitTunnelRoute(t)
}

// TunnelAddr returns the site's IPv4 (ipv6 false) or IPv6 tunnel address,
// "" when it has none of that family.
func (s *Site) TunnelAddr(ipv6 bool) string {
	for _, a := range s.tunnelAddrs {
		if a.Is6() == ipv6 {
			return a.String()
		}
	}
	return ""
}

// ipv6WAN is the range an IPv6 WAN is addressed from (RFC 3849).
var ipv6WAN = netip.MustParsePrefix("2001:db8::/32")

// parseTunnelIPs parses AddSite's tunnelIP: one IPv4 address, one IPv6
// address from ipv6WAN, or one of each, comma-separated.
func parseTunnelIPs(s string) ([]netip.Addr, error) {
	parts := strings.Split(s, ",")
	var addrs []netip.Addr
	for _, p := range parts {
		a, err := netip.ParseAddr(p)
		switch {
		case err != nil || a.Zone() != "" || a.Is4In6():
			return nil, fmt.Errorf("tunnel IP %q is not an IPv4 or IPv6 address", p)
		case a.Is6() && !ipv6WAN.Contains(a):
			return nil, fmt.Errorf("tunnel IP %s is not in %s", a, ipv6WAN)
		case len(parts) > 2 || (len(addrs) == 1 && addrs[0].Is4() == a.Is4()):
			return nil, fmt.Errorf("tunnel IP %q: want one address, or one IPv4 and one IPv6", s)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

// tunnelPrefix is a on its subnet: /24 for IPv4, /64 for IPv6.
func tunnelPrefix(a netip.Addr) netip.Prefix {
	if a.Is6() {
		return netip.PrefixFrom(a, 64)
	}
	return netip.PrefixFrom(a, 24)
}

// ensureWAN creates the WAN namespace and its bridge on first use.
func (l *Lab) ensureWAN() error {
	if l.wanNS != "" {
		return nil
	}
	ns := l.prefix + "wan"
	if err := l.addNetNS(ns); err != nil {
		return err
	}
	err := runAll(
		[]string{"ip", "-n", ns, "link", "add", wanBridge, "mtu", fmt.Sprint(WANMTU), "type", "bridge"},
		[]string{"ip", "-n", ns, "link", "set", wanBridge, "up"},
	)
	if err != nil {
		return fmt.Errorf("create WAN bridge: %w", err)
	}
	l.wanNS = ns
	return nil
}

// waitTunnelRoute waits until ovs-vswitchd has learned the routes to the
// tunnel subnets from the namespace's kernel routes.
func (s *Site) waitTunnelRoute(t testing.TB) {
	t.Helper()
	for _, a := range s.tunnelAddrs {
		prefix := tunnelPrefix(a).Masked().String()
		var out string
		ok := poll(func() bool {
			out = s.ovs.Appctl(t, "ovs-vswitchd", "ovs/route/show")
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, prefix) && strings.Contains(line, "dev "+PhyBridge) {
					return true
				}
			}
			return false
		})
		if !ok {
			t.Fatalf("site %s: OVS never learned a route to %s via %s:\n%s", s.Name, prefix, PhyBridge, out)
		}
	}
}

// OVS returns the site's private Open vSwitch.
func (s *Site) OVS() *ovstest.OVS { return s.ovs }

// Exec runs cmd inside the site's namespace with the environment of its OVS
// (so plain ovs-vsctl and ovs-ofctl reach it) and returns its standard output;
// a failure's error carries its standard error.
func (s *Site) Exec(t testing.TB, cmd ...string) (string, error) {
	t.Helper()
	if len(cmd) == 0 {
		t.Fatal("Site.Exec: empty command")
	}
	return s.ovs.Exec(cmd[0], cmd[1:]...)
}

// SetWAN takes the site's WAN link down (up=false) or back up. The link is
// switched at its WAN-side end, so the site's wan0 loses carrier and OVS
// cannot send or receive tunnel traffic, while everything inside the site
// keeps running.
func (s *Site) SetWAN(t testing.TB, up bool) {
	t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	if _, err := run("ip", "-n", s.lab.wanNS, "link", "set", s.wanPeer, state); err != nil {
		t.Fatalf("site %s: set WAN %s: %v", s.Name, state, err)
	}
}

// AttachPort adds port (an existing interface in the site's namespace) to
// br-int, waiting up to 10 s for br-int to exist (l2gwd creates it). extra
// are ovs-vsctl "set interface" column settings, such as "type=patch".
func (s *Site) AttachPort(t testing.TB, port string, extra ...string) {
	t.Helper()
	s.WaitBridge(t, IntBridge)
	args := []string{"--may-exist", "add-port", IntBridge, port}
	if len(extra) > 0 {
		args = append(append(args, "--", "set", "interface", port), extra...)
	}
	s.ovs.Vsctl(t, args...)
}

// WaitBridge waits up to 10 s for bridge to exist in the site's OVS.
func (s *Site) WaitBridge(t testing.TB, bridge string) {
	t.Helper()
	ok := poll(func() bool {
		_, err := s.ovs.Exec("ovs-vsctl", "--db="+s.ovs.Endpoint(), "br-exists", bridge)
		return err == nil
	})
	if !ok {
		t.Fatalf("site %s: bridge %s does not exist after %s", s.Name, bridge, pollTimeout)
	}
}
