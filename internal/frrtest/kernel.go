package frrtest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// BridgeName is the Linux bridge of VNI vni in an instance's namespace.
func BridgeName(vni uint32) string { return fmt.Sprintf("br%d", vni) }

// VXLANName is the VXLAN device of VNI vni, a port of BridgeName(vni).
func VXLANName(vni uint32) string { return fmt.Sprintf("vx%d", vni) }

// addVNI creates v's bridge and VXLAN device, both up. Neither gets an IPv6
// link-local address, so they send nothing of their own (no router
// solicitations or MLD reports into the overlay).
func (f *FRR) addVNI(v VNI) error {
	br, vx := BridgeName(v.ID), VXLANName(v.ID)
	cmds := [][]string{
		{"ip", "-n", f.NetNS, "link", "add", br, "type", "bridge"},
		{"ip", "-n", f.NetNS, "link", "set", br, "addrgenmode", "none"},
		{"ip", "-n", f.NetNS, "link", "add", vx, "type", "vxlan", "id", fmt.Sprint(v.ID),
			"local", v.LocalIP.String(), "dstport", "4789", "nolearning", "noudpcsum"},
		{"ip", "-n", f.NetNS, "link", "set", vx, "addrgenmode", "none"},
		{"ip", "-n", f.NetNS, "link", "set", vx, "master", br},
		{"bridge", "-n", f.NetNS, "link", "set", "dev", vx, "learning", "off"},
	}
	for _, p := range v.BridgeAddrs {
		if p.Addr().Is6() {
			cmds = append(cmds, []string{"ip", "netns", "exec", f.NetNS, "sysctl", "-qw", "net.ipv6.conf." + br + ".disable_ipv6=0"})
			cmds = append(cmds, []string{"ip", "-n", f.NetNS, "addr", "add", p.String(), "dev", br, "nodad"})
		} else {
			cmds = append(cmds, []string{"ip", "-n", f.NetNS, "addr", "add", p.String(), "dev", br})
		}
	}
	cmds = append(cmds,
		[]string{"ip", "-n", f.NetNS, "link", "set", vx, "up"},
		[]string{"ip", "-n", f.NetNS, "link", "set", br, "up"})
	for _, c := range cmds {
		if _, err := run(c[0], c[1:]...); err != nil {
			return fmt.Errorf("VNI %d: %w", v.ID, err)
		}
	}
	return nil
}

// deleteVNI deletes the VNI's devices (its hosts' ports go with their
// namespaces).
func (f *FRR) deleteVNI(vni uint32) {
	run("ip", "-n", f.NetNS, "link", "del", VXLANName(vni))
	run("ip", "-n", f.NetNS, "link", "del", BridgeName(vni))
}

// Host is an end system on one of an instance's VNIs: a namespace whose
// eth0 is one end of a veth pair; the other end (Port) is a port of the
// VNI's bridge.
type Host struct {
	NetNS string         // the host's namespace
	Port  string         // the veth end on the bridge, in the instance's namespace
	MAC   string         // eth0's MAC address
	Addrs []netip.Prefix // eth0's addresses
}

// HostIf is the name of every host's interface inside its namespace.
const HostIf = "eth0"

// AddHost creates a host on VNI vni: a namespace of its own (deleted when
// the test ends) whose eth0 has mac and addrs (IPv4 and IPv6; IPv6 is off
// unless an IPv6 address is given, and its addresses skip duplicate address
// detection), and transmit checksum offload off, so its TCP and UDP
// packets cross userspace OVS intact. Its veth peer, named port (at most 15
// characters), joins the VNI's bridge. Any error fails t.
func (f *FRR) AddHost(t testing.TB, vni uint32, port, mac string, addrs ...netip.Prefix) *Host {
	t.Helper()
	if _, err := net.ParseMAC(mac); err != nil {
		t.Fatalf("frrtest: host %s: %v", port, err)
	}
	if len(port) == 0 || len(port) > 15 {
		t.Fatalf("frrtest: host port name %q: want 1-15 characters", port)
	}
	known := false
	for _, v := range f.VNIs {
		known = known || v.ID == vni
	}
	if !known {
		t.Fatalf("frrtest %s: host %s: no VNI %d", f.Name, port, vni)
	}
	h := &Host{NetNS: ovstest.NetNS(t, "frrh-"+port), Port: port, MAC: mac, Addrs: addrs}
	ipv6 := false
	for _, p := range addrs {
		ipv6 = ipv6 || p.Addr().Is6()
	}
	cmds := [][]string{
		{"ip", "-n", f.NetNS, "link", "add", port, "type", "veth", "peer", "name", HostIf, "netns", h.NetNS},
		{"ip", "-n", f.NetNS, "link", "set", port, "addrgenmode", "none"},
		{"ip", "-n", h.NetNS, "link", "set", "lo", "up"},
		{"ip", "-n", h.NetNS, "link", "set", HostIf, "address", mac},
	}
	if !ipv6 {
		cmds = append(cmds, []string{"ip", "netns", "exec", h.NetNS, "sysctl", "-qw", "net.ipv6.conf." + HostIf + ".disable_ipv6=1"})
	}
	for _, p := range addrs {
		add := []string{"ip", "-n", h.NetNS, "addr", "add", p.String(), "dev", HostIf}
		if p.Addr().Is6() {
			add = append(add, "nodad")
		}
		cmds = append(cmds, add)
	}
	cmds = append(cmds,
		[]string{"ip", "-n", h.NetNS, "link", "set", HostIf, "up"},
		[]string{"ip", "-n", f.NetNS, "link", "set", port, "master", BridgeName(vni), "up"})
	for _, c := range cmds {
		if _, err := run(c[0], c[1:]...); err != nil {
			t.Fatalf("frrtest %s: host %s: %v", f.Name, port, err)
		}
	}
	ovstest.DisableTxChecksum(t, h.NetNS, HostIf)
	return h
}

// Exec runs a command inside the host's namespace (say `ping -c 1
// 192.0.2.2`) and returns its standard output; a failure's error carries
// its standard error.
func (h *Host) Exec(name string, args ...string) (string, error) {
	return run("ip", append([]string{"netns", "exec", h.NetNS, name}, args...)...)
}

// FDBEntry is one entry of the kernel's forwarding database on a VNI's
// VXLAN device, as `bridge -j fdb show dev vxVNI` reports it. Zebra installs
// a remote MAC as an entry with Dst set and flags self and extern_learn,
// and each flood target (from type-3 routes) as MAC 00:00:00:00:00:00 with
// Dst set, permanent.
type FDBEntry struct {
	MAC   string     `json:"mac"`
	Dst   netip.Addr `json:"dst"`   // remote VTEP; zero for the bridge's own entry
	Flags []string   `json:"flags"` // "self", "extern_learn", ...
	State string     `json:"state"` // "permanent", "" (dynamic), ...
}

// FDB returns the kernel's forwarding database on VNI vni's VXLAN device.
func (f *FRR) FDB(vni uint32) ([]FDBEntry, error) {
	out, err := f.Exec("bridge", "-j", "fdb", "show", "dev", VXLANName(vni))
	if err != nil {
		return nil, err
	}
	var entries []FDBEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		return nil, fmt.Errorf("fdb of %s: %w", VXLANName(vni), err)
	}
	return entries, nil
}
