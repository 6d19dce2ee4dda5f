package ovntest

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/l2gw/l2gw/internal/ovstest"
)

const (
	mac1 = "00:00:5e:00:53:01"
	mac2 = "00:00:5e:00:53:02"
)

var (
	ip1 = netip.MustParsePrefix("192.0.2.1/24")
	ip2 = netip.MustParsePrefix("192.0.2.2/24")
)

// mustNB runs ovn-nbctl, failing t on error.
func mustNB(t *testing.T, c *Central, args ...string) string {
	t.Helper()
	out, err := c.NBCtl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mustSB runs ovn-sbctl, failing t on error.
func mustSB(t *testing.T, c *Central, args ...string) string {
	t.Helper()
	out, err := c.SBCtl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// addSwitchPort adds logical switch port name with mac and ip to sw.
func addSwitchPort(t *testing.T, c *Central, sw, name, mac string, ip netip.Prefix) {
	t.Helper()
	mustNB(t, c, "lsp-add", sw, name, "--", "lsp-set-addresses", name, mac+" "+ip.Addr().String())
}

// eventually polls cond (which says what is not yet so, or "") until it
// holds, failing t with its last answer after 30 s.
func eventually(t *testing.T, what string, cond func() string) {
	t.Helper()
	if err := waitFor(what, cond); err != nil {
		t.Fatal(err)
	}
}

// chassisOf returns the name of the chassis logical port lp is bound to
// ("" when unbound).
func chassisOf(t *testing.T, c *Central, lp string) string {
	t.Helper()
	uuid := strings.TrimSpace(mustSB(t, c, "--bare", "--columns=chassis", "find", "Port_Binding", "logical_port="+lp))
	if uuid == "" {
		return ""
	}
	return strings.TrimSpace(mustSB(t, c, "--bare", "--columns=name", "list", "Chassis", uuid))
}

// TestHypervisorBindsVMPorts brings up a central and one hypervisor with
// two VM ports on one logical switch: ovn-controller binds both to its
// chassis, ovn-sbctl show lists the chassis with its vxlan encap and the
// ports, and the VMs ping each other through br-int's OVN flows.
func TestHypervisorBindsVMPorts(t *testing.T) {
	Require(t)
	began := time.Now()
	c := StartCentral(t)
	centralTook := time.Since(began)
	hv := StartHypervisor(t, c, HypervisorConfig{
		Name: "hv1", NetNS: ovstest.NetNS(t, "ovnt-hv1"), Encap: netip.MustParsePrefix("198.51.100.11/24")})
	hvTook := time.Since(began) - centralTook
	mustNB(t, c, "ls-add", "sw0")
	addSwitchPort(t, c, "sw0", "vm1", mac1, ip1)
	addSwitchPort(t, c, "sw0", "vm2", mac2, ip2)
	vm1 := hv.AddVM(t, "vm1", mac1, ip1)
	vm2 := hv.AddVM(t, "vm2", mac2, ip2)
	vm1.WaitInstalled(t)
	vm2.WaitInstalled(t)
	t.Logf("central up in %v, hypervisor in %v, both VMs installed %v after start",
		centralTook.Round(time.Millisecond), hvTook.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))

	for _, lp := range []string{"vm1", "vm2"} {
		if got := chassisOf(t, c, lp); got != "hv1" {
			t.Errorf("Port_Binding %s: chassis %q, want hv1", lp, got)
		}
	}
	show := mustSB(t, c, "show")
	for _, want := range []string{`Chassis hv1`, "Encap vxlan", `ip: "198.51.100.11"`, "Port_Binding vm1", "Port_Binding vm2"} {
		if !strings.Contains(show, want) {
			t.Errorf("ovn-sbctl show lacks %q:\n%s", want, show)
		}
	}
	if out, err := vm1.Run("ping", "-c", "3", "-i", "0.2", "-W", "2", ip2.Addr().String()); err != nil {
		t.Fatalf("vm1 does not reach vm2: %v\n%s\nbr-int:\n%s", err, out, hv.OVS.Ofctl(t, "dump-flows", IntBridge))
	}
	if out, err := vm2.Run("ping", "-c", "1", "-W", "2", ip1.Addr().String()); err != nil {
		t.Fatalf("vm2 does not reach vm1: %v\n%s", err, out)
	}
}

// TestVTEPControllerWritesRemoteMACs runs ovn-controller-vtep against a
// hardware_vtep database of its own whose physical switch ps0 has port p0
// bound (VLAN 0) to logical switch ls0, and a logical switch port of type
// vtep naming ps0 and ls0 on the switch of a hypervisor's VM:
// ovn-controller-vtep registers ps0 as a vxlan chassis at its tunnel IP,
// binds the vtep port to it, and writes the VM's MAC into
// Ucast_Macs_Remote toward the hypervisor's encap IP.
func TestVTEPControllerWritesRemoteMACs(t *testing.T) {
	Require(t)
	const psTunnelIP, hvEncapIP = "198.51.100.20", "198.51.100.11"
	c := StartCentral(t)
	hv := StartHypervisor(t, c, HypervisorConfig{
		Name: "hv1", NetNS: ovstest.NetNS(t, "ovnt-hv1"), Encap: netip.MustParsePrefix(hvEncapIP + "/24")})
	mustNB(t, c, "ls-add", "sw0")
	addSwitchPort(t, c, "sw0", "vm1", mac1, ip1)
	hv.AddVM(t, "vm1", mac1, ip1).WaitInstalled(t)

	vdb := ovstest.StartVTEPDB(t)
	for _, args := range [][]string{
		{"add-ps", "ps0"},
		{"set", "Physical_Switch", "ps0", "tunnel_ips=" + psTunnelIP},
		{"add-port", "ps0", "p0"},
		{"add-ls", "ls0"},
		{"bind-ls", "ps0", "p0", "0", "ls0"},
	} {
		if _, err := vdb.TryCtl(args...); err != nil {
			t.Fatal(err)
		}
	}
	StartVTEPController(t, c, vdb.Endpoint())
	mustNB(t, c, "lsp-add", "sw0", "vtep0", "--",
		"lsp-set-type", "vtep0", "vtep", "--",
		"lsp-set-options", "vtep0", "vtep-physical-switch=ps0", "vtep-logical-switch=ls0", "--",
		"lsp-set-addresses", "vtep0", "unknown")

	eventually(t, "ps0 is a vxlan chassis at its tunnel IP", func() string {
		show := mustSB(t, c, "show")
		if i := strings.Index(show, `Chassis ps0`); i < 0 || !strings.Contains(show[i:], `ip: "`+psTunnelIP+`"`) {
			return "ovn-sbctl show:\n" + show
		}
		return ""
	})
	eventually(t, "vtep0 bound to ps0", func() string {
		if got := chassisOf(t, c, "vtep0"); got != "ps0" {
			return fmt.Sprintf("chassis %q", got)
		}
		return ""
	})
	want := mac1 + " -> vxlan_over_ipv4/" + hvEncapIP
	var macs string
	eventually(t, "ls0 has vm1's MAC toward hv1", func() string {
		var err error
		if macs, err = vdb.TryCtl("list-remote-macs", "ls0"); err != nil {
			return err.Error()
		}
		if !strings.Contains(macs, want) {
			return "vtep-ctl list-remote-macs ls0:\n" + macs
		}
		return ""
	})
	t.Logf("vtep-ctl list-remote-macs ls0:\n%s", macs)
	// What ovn-controller-vtep writes besides, as the interop notes record
	// it: the datapath's tunnel key, source-node replication, no ipaddr.
	key := strings.TrimSpace(mustSB(t, c, "--bare", "--columns=tunnel_key", "find", "Datapath_Binding", "external_ids:name=sw0"))
	ls, err := vdb.TryCtl("--columns=tunnel_key,replication_mode", "list", "Logical_Switch", "ls0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ls, ": "+key+"\n") || !strings.Contains(ls, "source_node") {
		t.Errorf("ls0 is %q, want tunnel_key %s (sw0's datapath key) and replication_mode source_node", ls, key)
	}
	ipaddr, err := vdb.TryCtl("--bare", "--columns=ipaddr", "find", "Ucast_Macs_Remote", `MAC="`+mac1+`"`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(ipaddr) != "" {
		t.Errorf("Ucast_Macs_Remote for vm1 has ipaddr %q, the notes say ovn-controller-vtep writes none", ipaddr)
	}
}

// TestTwoHypervisorsOverVXLAN joins two hypervisors' underlays with a
// veth: a VM on each, on one logical switch, reach each other through
// OVN's vxlan tunnel between the chassis.
func TestTwoHypervisorsOverVXLAN(t *testing.T) {
	Require(t)
	c := StartCentral(t)
	ns1, ns2 := ovstest.NetNS(t, "ovnt-hv1"), ovstest.NetNS(t, "ovnt-hv2")
	if _, err := run(nil, "ip", "-n", ns1, "link", "add", "wan0", "type", "veth", "peer", "name", "wan0", "netns", ns2); err != nil {
		t.Fatal(err)
	}
	hv1 := StartHypervisor(t, c, HypervisorConfig{Name: "hv1", NetNS: ns1, Underlay: "wan0",
		Encap: netip.MustParsePrefix("198.51.100.11/24")})
	hv2 := StartHypervisor(t, c, HypervisorConfig{Name: "hv2", NetNS: ns2, Underlay: "wan0",
		Encap: netip.MustParsePrefix("198.51.100.12/24")})
	mustNB(t, c, "ls-add", "sw0")
	addSwitchPort(t, c, "sw0", "vm1", mac1, ip1)
	addSwitchPort(t, c, "sw0", "vm2", mac2, ip2)
	vm1 := hv1.AddVM(t, "vm1", mac1, ip1)
	vm2 := hv2.AddVM(t, "vm2", mac2, ip2)
	vm1.WaitInstalled(t)
	vm2.WaitInstalled(t)
	// Both chassis must have each other's tunnel port before the first
	// packet: --wait=hv returns once every chassis has caught up.
	mustNB(t, c, "--wait=hv", "sync")
	if out, err := vm1.Run("ping", "-c", "3", "-i", "0.2", "-W", "2", ip2.Addr().String()); err != nil {
		t.Fatalf("vm1 on hv1 does not reach vm2 on hv2: %v\n%s\nhv1 br-int:\n%s", err, out,
			hv1.OVS.Ofctl(t, "dump-flows", IntBridge))
	}
}
