package lab

import (
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// HostIf is the name of every host's interface inside its namespace.
const HostIf = "eth0"

// Host is an end system: a namespace whose eth0 is one end of a veth pair;
// the other end (Port) sits in its site's namespace.
type Host struct {
	Site  *Site
	Name  string // host name as given to AddHost
	NetNS string // namespace, <prefix><site><name>
	MAC   string // eth0's MAC address
	IP    string // eth0's IPv4 address (a /24)
	Port  string // the veth end in the site's namespace; named like the host
	VLAN  uint16 // access VLAN on br-tor, 0 for a host on br-int
}

// AddHost creates host name (lower-case letters and digits, at most 15
// characters) in namespace <prefix><site><name>: eth0 with mac and ip/24
// (from 192.0.2.0/24), its veth peer named name in the site's namespace.
//
// With vlan 0 the peer becomes a port of br-int (waiting up to 10 s for br-int
// to exist). Otherwise it becomes an access port (tag=vlan) of the site's VLAN
// switch br-tor, which is joined to br-int by a patch-port pair whose br-int
// end is trunkPort: br-int sees the host's frames tagged with vlan on
// trunkPort. All VLAN hosts of a site share one trunk port.
func (s *Site) AddHost(t testing.TB, name, mac, ip string, vlan uint16, trunkPort string) *Host {
	t.Helper()
	checkHost(t, name, mac, ip)
	if vlan > 4094 {
		t.Fatalf("host %s: VLAN %d out of range 1-4094", name, vlan)
	}
	h := &Host{Site: s, Name: name, NetNS: s.NetNS + name, MAC: mac, IP: ip, Port: name, VLAN: vlan}
	if err := s.lab.addNetNS(h.NetNS); err != nil {
		t.Fatal(err)
	}
	err := runAll(
		[]string{"ip", "-n", s.NetNS, "link", "add", h.Port, "type", "veth", "peer", "name", HostIf, "netns", h.NetNS},
		[]string{"ip", "-n", h.NetNS, "link", "set", HostIf, "address", mac},
		[]string{"ip", "-n", h.NetNS, "addr", "add", ip + "/24", "dev", HostIf},
		[]string{"ip", "-n", h.NetNS, "link", "set", HostIf, "up"},
		[]string{"ip", "-n", s.NetNS, "link", "set", h.Port, "up"},
	)
	if err != nil {
		t.Fatalf("host %s: create link: %v", name, err)
	}
	ovstest.DisableTxChecksum(t, h.NetNS, HostIf)
	if vlan == 0 {
		s.AttachPort(t, h.Port)
		return h
	}
	s.ensureTor(t, trunkPort)
	s.ovs.Vsctl(t, "add-port", TorBridge, h.Port, fmt.Sprintf("tag=%d", vlan))
	return h
}

// checkHost fails t unless name (lower-case letters and digits, an
// interface name), mac and ip (IPv4) are a host's.
func checkHost(t testing.TB, name, mac, ip string) {
	t.Helper()
	if !namePattern.MatchString(name) {
		t.Fatalf("host name %q: only lower-case letters and digits", name)
	}
	checkIfName(t, name)
	if _, err := net.ParseMAC(mac); err != nil {
		t.Fatalf("host %s: %v", name, err)
	}
	if addr, err := netip.ParseAddr(ip); err != nil || !addr.Is4() {
		t.Fatalf("host %s: %q is not an IPv4 address", name, ip)
	}
}

// ensureTor creates br-tor and its patch-port pair to br-int (br-int end
// trunkPort) on first use.
func (s *Site) ensureTor(t testing.TB, trunkPort string) {
	t.Helper()
	if s.trunk == trunkPort {
		return
	}
	if s.trunk != "" {
		t.Fatalf("site %s: VLAN hosts already use trunk port %s, not %s", s.Name, s.trunk, trunkPort)
	}
	torEnd := "tor-" + trunkPort
	checkIfName(t, trunkPort)
	checkIfName(t, torEnd)
	s.ovs.Vsctl(t, "--may-exist", "add-br", TorBridge,
		"--", "set", "bridge", TorBridge, "datapath_type=netdev", "fail_mode=standalone",
		"--", "--may-exist", "add-port", TorBridge, torEnd,
		"--", "set", "interface", torEnd, "type=patch", "options:peer="+trunkPort)
	s.AttachPort(t, trunkPort, "type=patch", "options:peer="+torEnd)
	s.trunk = trunkPort
}

// Exec runs cmd inside the host's namespace and returns its standard output;
// a failure's error carries its standard error.
func (h *Host) Exec(t testing.TB, cmd ...string) (string, error) {
	t.Helper()
	if len(cmd) == 0 {
		t.Fatal("Host.Exec: empty command")
	}
	return run("ip", append([]string{"netns", "exec", h.NetNS}, cmd...)...)
}

// ForeignHost is a host that another implementation's site made (an FRR
// site's, say): namespace netns, whose eth0 has mac and the IPv4 address
// ip. It has no Site; the probes (Exec, Ping, Arping, Capture, ...) work on
// it as on any host.
func ForeignHost(name, netns, mac, ip string) *Host {
	return &Host{Name: name, NetNS: netns, MAC: mac, IP: ip}
}
