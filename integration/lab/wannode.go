package lab

import (
	"fmt"
	"net/netip"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// AddWANNode creates namespace <prefix><name> with one link to the WAN,
// eth0 (transmit checksum offload off), that carries addr (an IPv4
// address of 198.51.100.0/24, put as /24):
// a node of the underlay that is no Open vSwitch site, for another
// implementation (FRR) to run in. It returns the namespace's name.
func (l *Lab) AddWANNode(name string, addr netip.Addr) string {
	t := l.t
	t.Helper()
	if !namePattern.MatchString(name) {
		t.Fatalf("WAN node name %q: only lower-case letters and digits", name)
	}
	if !addr.Is4() {
		t.Fatalf("WAN node %s: address %s is not IPv4", name, addr)
	}
	ns := l.prefix + name
	peer := "w-" + name
	checkIfName(t, peer)
	if err := l.ensureWAN(); err != nil {
		t.Fatal(err)
	}
	if err := l.addNetNS(ns); err != nil {
		t.Fatal(err)
	}
	mtu := fmt.Sprint(WANMTU)
	err := runAll(
		[]string{"ip", "-n", ns, "link", "add", "eth0", "mtu", mtu, "type", "veth", "peer", "name", peer, "mtu", mtu, "netns", l.wanNS},
		[]string{"ip", "-n", l.wanNS, "link", "set", peer, "master", wanBridge, "up"},
		[]string{"ip", "-n", ns, "addr", "add", netip.PrefixFrom(addr, 24).String(), "dev", "eth0"},
		[]string{"ip", "-n", ns, "link", "set", "eth0", "up"},
		[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
	)
	if err != nil {
		t.Fatalf("WAN node %s: %v", name, err)
	}
	// Its TCP (BGP) crosses the sites' userspace br-phy, which forwards
	// unfinished checksums unfinished.
	ovstest.DisableTxChecksum(t, ns, "eth0")
	return ns
}
