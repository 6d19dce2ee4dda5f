package ovntest

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// Bridge names in a hypervisor's Open vSwitch.
const (
	// IntBridge is OVN's integration bridge, where VM ports are.
	IntBridge = "br-int"
	// PhyBridge is the underlay bridge (standalone, NORMAL switching) whose
	// internal port carries the encap IP when HypervisorConfig.Underlay
	// names a device.
	PhyBridge = "br-phy"
)

// HypervisorConfig describes one OVN hypervisor.
type HypervisorConfig struct {
	// Name is the chassis name (Open_vSwitch external_ids:system-id), and
	// part of the hypervisor's directory's name (required).
	Name string
	// NetNS is the network namespace its Open vSwitch, ovn-controller and
	// underlay live in (required), for example one made with ovstest.NetNS.
	// One hypervisor per namespace: userspace datapaths that share one
	// collide.
	NetNS string
	// Encap is the tunnel address with its underlay subnet, IPv4 (required):
	// its address is ovn-encap-ip (encapsulation vxlan), the locator other
	// chassis and VTEPs send this hypervisor's MACs to.
	Encap netip.Prefix
	// Underlay, when not empty, is a network device of NetNS (the caller's
	// link to the other tunnel endpoints, say a veth) that becomes a port
	// of br-phy, whose internal port gets Encap: the userspace datapath
	// sends tunnel packets only through a bridge. When empty the
	// hypervisor has no data path to other chassis (enough for tests of
	// the control plane, or of VMs on one hypervisor).
	Underlay string
}

// Hypervisor is a running OVN hypervisor: its own Open vSwitch in its
// namespace with the integration bridge br-int (userspace datapath, fail
// mode secure, in-band control off) and ovn-controller.
type Hypervisor struct {
	HypervisorConfig              // as given to StartHypervisor
	OVS              *ovstest.OVS // its Open vSwitch (ovsdb-server and ovs-vswitchd)
	Dir              string       // ovn-controller's OVN_RUNDIR: pid file, control socket and log
	central          *Central
	controller       *daemon
}

// StartHypervisor starts an Open vSwitch in cfg.NetNS, adds br-int (and
// br-phy with the underlay when cfg.Underlay is set), configures it as a
// chassis of central (system-id, ovn-remote, ovn-encap-type vxlan,
// ovn-encap-ip, ovn-bridge-datapath-type netdev), starts ovn-controller
// with that Open vSwitch's OVS_RUNDIR and an OVN_RUNDIR of its own, and
// returns once the chassis is in the southbound database. When the test
// ends ovn-controller is stopped (before its Open vSwitch) and its
// directory removed (kept, with the log's last lines printed, when the
// test failed). Any error fails t.
func StartHypervisor(t testing.TB, central *Central, cfg HypervisorConfig) *Hypervisor {
	t.Helper()
	Require(t)
	if err := cfg.validate(); err != nil {
		t.Fatalf("ovntest: hypervisor %s: %v", cfg.Name, err)
	}
	h := &Hypervisor{HypervisorConfig: cfg, central: central}
	h.OVS = ovstest.Start(t, cfg.NetNS)
	h.Dir = makeDir(t, "hv-"+cfg.Name, "ovn-controller.log")
	t.Cleanup(func() { h.controller.stop() })
	h.OVS.Vsctl(t, "add-br", IntBridge, "--", "set", "bridge", IntBridge,
		"datapath_type=netdev", "fail_mode=secure", "other-config:disable-in-band=true")
	if cfg.Underlay != "" {
		if err := h.addUnderlay(t); err != nil {
			t.Fatalf("ovntest: hypervisor %s: %v", cfg.Name, err)
		}
	}
	h.OVS.Vsctl(t, "set", "open_vswitch", ".",
		"external_ids:system-id="+cfg.Name,
		"external_ids:ovn-remote="+central.Endpoint(),
		"external_ids:ovn-encap-type=vxlan",
		"external_ids:ovn-encap-ip="+cfg.Encap.Addr().String(),
		"external_ids:ovn-bridge-datapath-type=netdev")
	var err error
	h.controller, err = launch(h.Dir, cfg.NetNS, "ovn-controller",
		[]string{"OVS_RUNDIR=" + h.OVS.Dir, "OVN_RUNDIR=" + h.Dir}, h.registered,
		h.OVS.Endpoint(),
		"--pidfile="+filepath.Join(h.Dir, "ovn-controller.pid"),
		"--log-file="+filepath.Join(h.Dir, "ovn-controller.log"), "-vconsole:off")
	if err != nil {
		t.Fatalf("ovntest: hypervisor %s: %v", cfg.Name, err)
	}
	return h
}

// validate checks c and says what is wrong first.
func (c *HypervisorConfig) validate() error {
	switch {
	case c.Name == "" || strings.ContainsAny(c.Name, " /\n\"="):
		return fmt.Errorf("config: name %q is empty or holds a space, '/', '\"', '=' or newline", c.Name)
	case c.NetNS == "":
		return errors.New("config: NetNS is required (a hypervisor runs in a namespace of its own)")
	case !c.Encap.IsValid() || !c.Encap.Addr().Is4():
		return fmt.Errorf("config: encap %v is not an IPv4 address with its prefix length", c.Encap)
	}
	return nil
}

// addUnderlay makes the underlay device a port of br-phy and puts the
// encap address on br-phy, then waits until Open vSwitch routes the
// encap subnet through br-phy.
func (h *Hypervisor) addUnderlay(t testing.TB) error {
	h.OVS.Vsctl(t, "add-br", PhyBridge, "--", "set", "bridge", PhyBridge, "datapath_type=netdev", "fail_mode=standalone")
	h.OVS.Vsctl(t, "add-port", PhyBridge, h.Underlay)
	for _, c := range [][]string{
		{"ip", "addr", "flush", "dev", h.Underlay},
		// The kernel must not answer ARP for the encap IP from the
		// underlay device with that device's MAC: OVS takes tunnel packets
		// only addressed to br-phy's.
		{"sysctl", "-qw", "net.ipv4.conf." + h.Underlay + ".arp_ignore=1"},
		{"ip", "link", "set", h.Underlay, "up"},
	} {
		if _, err := h.OVS.Exec(c[0], c[1:]...); err != nil {
			return fmt.Errorf("underlay: %w", err)
		}
	}
	// br-phy's device appears once ovs-vswitchd has made it.
	err := waitFor("encap address on "+PhyBridge, func() string {
		for _, c := range [][]string{
			{"ip", "addr", "replace", h.Encap.String(), "dev", PhyBridge},
			{"ip", "link", "set", PhyBridge, "up"},
		} {
			if _, err := h.OVS.Exec(c[0], c[1:]...); err != nil {
				return err.Error()
			}
		}
		return ""
	})
	if err != nil {
		return err
	}
	subnet := h.Encap.Masked().String()
	return waitFor("Open vSwitch's route to "+subnet, func() string {
		out, err := h.OVS.Exec("ovs-appctl", "-t", filepath.Join(h.OVS.Dir, "ovs-vswitchd.ctl"), "ovs/route/show")
		if err != nil {
			return err.Error()
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, subnet) && strings.Contains(line, "dev "+PhyBridge) {
				return ""
			}
		}
		return out
	})
}

// registered reports whether the chassis is in the southbound database
// with its vxlan encap.
func (h *Hypervisor) registered() error {
	out, err := h.central.SBCtl("--bare", "--columns=encaps", "find", "Chassis", "name="+h.Name)
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) == "" {
		return fmt.Errorf("no chassis %s with encaps in the southbound database", h.Name)
	}
	return nil
}

// Appctl runs ovn-appctl against the hypervisor's ovn-controller and
// returns its standard output; a failure's error carries its standard
// error.
func (h *Hypervisor) Appctl(args ...string) (string, error) {
	return run([]string{"OVN_RUNDIR=" + h.Dir}, "ovn-appctl", append([]string{"-t", "ovn-controller"}, args...)...)
}

// VM is a virtual machine's port on a hypervisor: a host with a network
// stack of its own (a namespace whose eth0 is a veth's end), the other end
// a port of br-int with external_ids:iface-id set to the logical switch
// port's name, as a hypervisor's VIF is.
type VM struct {
	*ovstest.StackHost
	Name string // the logical switch port (iface-id), also the br-int port's name
	hv   *Hypervisor
}

// AddVM creates a VM port named name (at most 15 bytes: it is the br-int
// port's device name too) for the logical switch port of that name, its
// eth0 with mac and addrs and transmit checksum offload off (so TCP and UDP
// cross the userspace datapath). The namespace is deleted when the test
// ends. The VM is bound once a logical switch port name exists; see
// WaitInstalled.
func (h *Hypervisor) AddVM(t testing.TB, name, mac string, addrs ...netip.Prefix) *VM {
	t.Helper()
	if len(name) == 0 || len(name) > 15 {
		t.Fatalf("ovntest: VM name %q: want 1 to 15 bytes", name)
	}
	var cidrs []string
	for _, a := range addrs {
		cidrs = append(cidrs, a.String())
	}
	host := h.OVS.AddStackHost(t, IntBridge, name, mac, cidrs...)
	ovstest.DisableTxChecksum(t, host.NetNS, "eth0")
	h.OVS.Vsctl(t, "set", "interface", name, "external_ids:iface-id="+name)
	return &VM{StackHost: host, Name: name, hv: h}
}

// WaitInstalled waits until ovn-controller has bound the VM's logical port
// and installed its flows (it sets external_ids:ovn-installed on the
// interface), failing t after a while.
func (vm *VM) WaitInstalled(t testing.TB) {
	t.Helper()
	err := waitFor("VM "+vm.Name+" installed by ovn-controller", func() string {
		out, err := vm.hv.OVS.Exec("ovs-vsctl", "--db="+vm.hv.OVS.Endpoint(), "--timeout=10",
			"--if-exists", "get", "interface", vm.Name, "external_ids:ovn-installed")
		if err != nil {
			return err.Error()
		}
		if strings.Trim(strings.TrimSpace(out), `"`) != "true" {
			return fmt.Sprintf("ovn-installed is %q", strings.TrimSpace(out))
		}
		return ""
	})
	if err != nil {
		t.Fatalf("ovntest: %v", err)
	}
}
