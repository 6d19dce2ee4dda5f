package ovsdb

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// Tests of BFD ports between two real Open vSwitch instances (userspace
// datapath), each in a network namespace of its own, joined by a veth pair
// that is the underlay: as on a gateway, the tunnel IP lives on the internal
// port of br-phy, the bridge of the underlay device, and l2gwd's bridge
// br-int holds the tunnel ports.

// bfdSite is one end of the underlay: an OVS with br-phy and br-int, and a
// Client on it.
type bfdSite struct {
	ovs     *ovstest.OVS
	c       *Client
	counter *txCounter
	tunnel  netip.Prefix // the tunnel IP on br-phy, with its subnet
}

// underlayDev is each namespace's end of the veth pair.
const underlayDev = "u0"

// startBFDSites starts two sites with tunnel IPs a and b (one subnet) and
// joins them by a veth pair; both have br-int, made by EnsureBridge, with
// the flow-based tunnel port of networkType, local_ip their tunnel IP.
func startBFDSites(t *testing.T, a, b netip.Prefix, networkType string) (*bfdSite, *bfdSite) {
	t.Helper()
	ovstest.Require(t)
	nsA, nsB := ovstest.NetNS(t, "l2gw-bfd"), ovstest.NetNS(t, "l2gw-bfd")
	if out, err := exec.Command("ip", "-n", nsA, "link", "add", underlayDev, "type", "veth", "peer", "name", underlayDev, "netns", nsB).CombinedOutput(); err != nil {
		t.Fatalf("veth between %s and %s: %v: %s", nsA, nsB, err, out)
	}
	var sites []*bfdSite
	for _, s := range []struct {
		ns     string
		tunnel netip.Prefix
	}{{nsA, a}, {nsB, b}} {
		site := &bfdSite{ovs: ovstest.Start(t, s.ns), tunnel: s.tunnel}
		site.ovs.Vsctl(t, "add-br", "br-phy", "--", "set", "bridge", "br-phy", "datapath_type=netdev", "fail_mode=standalone",
			"--", "add-port", "br-phy", underlayDev)
		for _, cmd := range [][]string{
			// The tunnel IP lives on br-phy: the kernel must not answer
			// for it from the underlay device, whose packets OVS takes.
			{"sysctl", "-qw", "net.ipv4.conf." + underlayDev + ".arp_ignore=1"},
			{"sysctl", "-qw", "net.ipv6.conf." + underlayDev + ".disable_ipv6=1"},
			{"ip", "link", "set", underlayDev, "up"},
		} {
			if _, err := site.ovs.Exec(cmd[0], cmd[1:]...); err != nil {
				t.Fatal(err)
			}
		}
		site.addressUnderlay(t)
		site.c, site.counter = dialOVS(t, site.ovs)
		if err := site.c.EnsureBridge(context.Background(), testBridge); err != nil {
			t.Fatal(err)
		}
		if err := site.c.EnsureTunnelPorts(context.Background(), "br-int", []string{networkType}, s.tunnel.Addr().String()); err != nil {
			t.Fatal(err)
		}
		sites = append(sites, site)
	}
	return sites[0], sites[1]
}

// addressUnderlay puts the tunnel IP on br-phy (once ovs-vswitchd has made
// its device: again after a restart, which recreates it bare) and waits
// until OVS routes the tunnel subnet through it.
func (s *bfdSite) addressUnderlay(t *testing.T) {
	t.Helper()
	cmds := [][]string{}
	if s.tunnel.Addr().Is6() {
		for _, key := range []string{"disable_ipv6=0", "accept_dad=0"} {
			cmds = append(cmds, []string{"sysctl", "-qw", "net.ipv6.conf.br-phy." + key})
		}
	}
	cmds = append(cmds, []string{"ip", "addr", "replace", s.tunnel.String(), "dev", "br-phy"}, []string{"ip", "link", "set", "br-phy", "up"})
	var last error
	waitFor(t, "the tunnel IP on br-phy", func() bool {
		for _, cmd := range cmds {
			if _, last = s.ovs.Exec(cmd[0], cmd[1:]...); last != nil {
				return false
			}
		}
		return true
	})
	subnet := s.tunnel.Masked().String()
	waitFor(t, "OVS's route to "+subnet, func() bool {
		out := s.ovs.Appctl(t, "ovs-vswitchd", "ovs/route/show")
		for line := range strings.Lines(out) {
			if strings.Contains(line, subnet) && strings.Contains(line, "dev br-phy") {
				return true
			}
		}
		return false
	})
}

// peer is s as the other site's BFD peer over networkType.
func (s *bfdSite) peer(networkType string) BFDPeer {
	return BFDPeer{NetworkType: networkType, Remote: s.tunnel.Addr()}
}

// bfdConfig is the BFDConfig of s's ports: 100 ms.
func (s *bfdSite) bfdConfig(cpathDown bool) BFDConfig {
	return BFDConfig{LocalIP: s.tunnel.Addr(), IntervalMS: 100, Multiplier: 3, CPathDown: cpathDown}
}

// awaitBFD waits, woken by Watch alone, until s's BFD port toward peer
// satisfies cond, and returns its status and the time it took.
func awaitBFD(t *testing.T, s *bfdSite, peer BFDPeer, what string, cond func(BFDStatus) bool) (BFDStatus, time.Duration) {
	t.Helper()
	start := time.Now()
	w := s.c.Watch()
	deadline := time.After(15 * time.Second)
	for {
		st := s.c.BFDPorts("br-int")[peer]
		if cond(st) {
			return st, time.Since(start)
		}
		select {
		case <-w:
		case <-deadline:
			t.Fatalf("%s: the BFD port toward %v is %+v after %v", what, peer, st, time.Since(start))
		}
	}
}

// ofctlPackets returns n_packets of s's br-int flows matching match.
func ofctlPackets(t *testing.T, s *bfdSite, match string) int {
	t.Helper()
	m := regexp.MustCompile(`n_packets=(\d+)`).FindStringSubmatch(s.ovs.Ofctl(t, "dump-flows", "br-int", match))
	if m == nil {
		t.Fatalf("no flow matches %s", match)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// killVswitchd kills s's ovs-vswitchd with SIGKILL, as a crash would, and
// returns once it has gone.
func killVswitchd(t *testing.T, s *bfdSite) {
	t.Helper()
	pidFile := filepath.Join(s.ovs.Dir, "ovs-vswitchd.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	os.Remove(pidFile) // so that nothing signals the pid once it is reused
	waitFor(t, "ovs-vswitchd gone", func() bool { return !ovstest.Running(pid) })
}

func TestOVSBFDPorts(t *testing.T) {
	a, b := startBFDSites(t, netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("192.0.2.2/24"), "vxlan")
	ctx := context.Background()
	toA, toB := a.peer("vxlan"), b.peer("vxlan")
	waitFor(t, "l2gw-vxlan's ofport", func() bool { return a.c.OFPorts("br-int")["l2gw-vxlan"] >= 1 })
	flowPort := a.c.OFPorts("br-int")["l2gw-vxlan"]

	start := time.Now()
	if err := a.c.EnsureBFDPorts(ctx, "br-int", []BFDPeer{toB}, a.bfdConfig(false)); err != nil {
		t.Fatal(err)
	}
	if err := b.c.EnsureBFDPorts(ctx, "br-int", []BFDPeer{toA}, b.bfdConfig(false)); err != nil {
		t.Fatal(err)
	}
	stA, _ := awaitBFD(t, a, toB, "sessions up", BFDStatus.Up)
	awaitBFD(t, b, toA, "sessions up", BFDStatus.Up)
	t.Logf("BFD up on both sides %v after the first EnsureBFDPorts (100 ms interval): %+v", time.Since(start).Round(time.Millisecond), stA)

	name := BFDPortName(toB)
	if got, want := vsctl(t, a.ovs, "get", "interface", name, "options"), `{key="0", local_ip="192.0.2.1", remote_ip="192.0.2.2"}`; got != want {
		t.Errorf("%s options = %s, want %s", name, got, want)
	}
	if got := vsctl(t, a.ovs, "get", "interface", name, "bfd_status:state", "bfd_status:forwarding"); got != "up\n\"true\"" {
		t.Errorf("ovs-vsctl says %s's state, forwarding = %q", name, got)
	}
	if stA.OFPort < 1 || stA.OFPort != a.c.OFPorts("br-int")[name] {
		t.Errorf("BFDPorts = %+v, want its ofport (%d)", stA, a.c.OFPorts("br-int")[name])
	}
	// A goes up on B's init, so it may report B in init for a moment.
	awaitBFD(t, a, toB, "B up as A sees it", func(st BFDStatus) bool { return st.RemoteState == "up" })
	if got := a.c.OFPorts("br-int")["l2gw-vxlan"]; got != flowPort {
		t.Errorf("l2gw-vxlan's ofport went from %d to %d", flowPort, got)
	}

	tx := a.counter.Transactions()
	if err := a.c.EnsureBFDPorts(ctx, "br-int", []BFDPeer{toB}, a.bfdConfig(false)); err != nil {
		t.Fatal(err)
	}
	if n := a.counter.Transactions() - tx; n != 0 {
		t.Errorf("EnsureBFDPorts with nothing to do sent %d transactions", n)
	}

	// The flow-based port beside the BFD port still carries every other
	// VNI from the same remote: VNI 5001 arrives on l2gw-vxlan, not on the
	// BFD port.
	bfdPort := "in_port=" + BFDPortName(toA)
	b.ovs.Ofctl(t, "add-flow", "br-int", "priority=100,in_port=l2gw-vxlan,tun_id=5001,actions=drop")
	b.ovs.Ofctl(t, "add-flow", "br-int", "priority=100,"+bfdPort+",tun_id=5001,actions=drop")
	frame := "020000000002" + "020000000001" + "88b5" + strings.Repeat("00", 46)
	waitFor(t, "VNI 5001 on B's l2gw-vxlan", func() bool {
		a.ovs.Ofctl(t, "packet-out", "br-int", "LOCAL", "set_field:5001->tun_id,set_field:192.0.2.2->tun_dst,output:l2gw-vxlan", frame)
		return ofctlPackets(t, b, "in_port=l2gw-vxlan,tun_id=5001") > 0
	})
	if n := ofctlPackets(t, b, bfdPort+",tun_id=5001"); n != 0 {
		t.Errorf("%d packets of VNI 5001 reached B's BFD port, want 0", n)
	}

	// ovs-vswitchd rewrites the interfaces' statistics (every 5 s): that
	// must not wake Watch, as long as no session changes state.
	quiet := a.c.Watch()
	<-quiet
	before := vsctl(t, a.ovs, "get", "interface", name, "statistics:tx_packets")
	deadline := time.Now().Add(15 * time.Second)
	for vsctl(t, a.ovs, "get", "interface", name, "statistics:tx_packets") == before {
		if time.Now().After(deadline) {
			t.Fatalf("%s's statistics not updated in 15 s", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case <-quiet:
		t.Errorf("Watch woke for a statistics update (BFD now %+v)", a.c.BFDPorts("br-int")[toB])
	default:
	}

	// A hand edit is set right in one transaction.
	vsctl(t, a.ovs, "set", "interface", name, "bfd:decay_min_rx=1000", "bfd:min_tx=500", "options:key=5")
	waitFor(t, "the hand edit in the cache", func() bool { return bfdIfaces(t, a.c, "br-int")[name].Options["key"] == "5" })
	tx = a.counter.Transactions()
	if err := a.c.EnsureBFDPorts(ctx, "br-int", []BFDPeer{toB}, a.bfdConfig(false)); err != nil {
		t.Fatal(err)
	}
	if n := a.counter.Transactions() - tx; n != 1 {
		t.Errorf("fixing the hand edit took %d transactions, want 1", n)
	}
	if got := vsctl(t, a.ovs, "get", "interface", name, "options:key", "bfd"); got != `"0"`+"\n"+`{cpath_down="false", enable="true", min_rx="100", min_tx="100", mult="3"}` {
		t.Errorf("after the fix, key and bfd = %s", got)
	}
	awaitBFD(t, a, toB, "session up after the fix", BFDStatus.Up)

	// cpath_down on B: A sees the session up, not forwarding.
	start = time.Now()
	if err := b.c.EnsureBFDPorts(ctx, "br-int", []BFDPeer{toA}, b.bfdConfig(true)); err != nil {
		t.Fatal(err)
	}
	st, _ := awaitBFD(t, a, toB, "B's cpath_down seen at A", BFDStatus.CPathDown)
	t.Logf("B's cpath_down seen at A %v after EnsureBFDPorts: %+v; B: %+v", time.Since(start).Round(time.Millisecond), st, b.c.BFDPorts("br-int")[toA])
	if st.State != "up" || st.Forwarding || st.Up() {
		t.Errorf("A's view of B with cpath_down = %+v, want up, not forwarding", st)
	}
	if stB := b.c.BFDPorts("br-int")[toA]; !stB.Up() {
		t.Errorf("B's view of A = %+v, want up and forwarding (A has no cpath_down)", stB)
	}
	start = time.Now()
	if err := b.c.EnsureBFDPorts(ctx, "br-int", []BFDPeer{toA}, b.bfdConfig(false)); err != nil {
		t.Fatal(err)
	}
	awaitBFD(t, a, toB, "B's cpath_down cleared at A", BFDStatus.Up)
	t.Logf("B's cpath_down cleared at A %v after EnsureBFDPorts", time.Since(start).Round(time.Millisecond))

	// B's ovs-vswitchd dies: A's session goes down.
	start = time.Now()
	killVswitchd(t, b)
	st, _ = awaitBFD(t, a, toB, "B's death seen at A", func(st BFDStatus) bool { return st.State != "up" })
	t.Logf("B's ovs-vswitchd killed: A's session %s %v later (100 ms × 3): %+v", st.State, time.Since(start).Round(time.Millisecond), st)
	if st.Up() || st.CPathDown() || st.Diagnostic != "Control Detection Time Expired" {
		t.Errorf("A's view of a dead B = %+v, want down on detection time expired", st)
	}
	if got := a.c.OFPorts("br-int")["l2gw-vxlan"]; got != flowPort {
		t.Errorf("l2gw-vxlan's ofport went from %d to %d", flowPort, got)
	}

	// B comes back.
	start = time.Now()
	if err := b.ovs.StartVswitchd(); err != nil {
		t.Fatal(err)
	}
	b.addressUnderlay(t)
	awaitBFD(t, a, toB, "B back", BFDStatus.Up)
	awaitBFD(t, b, toA, "B back", BFDStatus.Up)
	t.Logf("B's ovs-vswitchd restarted: both sessions up %v later (underlay re-addressed in between)", time.Since(start).Round(time.Millisecond))

	if err := a.c.EnsureBFDPorts(ctx, "br-int", nil, a.bfdConfig(false)); err != nil {
		t.Fatal(err)
	}
	if got := vsctl(t, a.ovs, "list-ports", "br-int"); got != "l2gw-vxlan" {
		t.Errorf("ports after asking for no BFD port = %q", got)
	}
}

func TestOVSBFDPortsIPv6(t *testing.T) {
	a, b := startBFDSites(t, netip.MustParsePrefix("2001:db8::1/64"), netip.MustParsePrefix("2001:db8::2/64"), "geneve")
	ctx := context.Background()
	toA, toB := a.peer("geneve"), b.peer("geneve")
	start := time.Now()
	for _, s := range []struct {
		site *bfdSite
		peer BFDPeer
	}{{a, toB}, {b, toA}} {
		if err := s.site.c.EnsureBFDPorts(ctx, "br-int", []BFDPeer{s.peer}, s.site.bfdConfig(false)); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := awaitBFD(t, a, toB, "sessions up", BFDStatus.Up)
	awaitBFD(t, b, toA, "sessions up", BFDStatus.Up)
	t.Logf("BFD over IPv6 up on both sides %v after the first EnsureBFDPorts: %+v", time.Since(start).Round(time.Millisecond), st)
	if got, want := vsctl(t, a.ovs, "get", "interface", st.Port, "type", "options:remote_ip"), fmt.Sprintf("geneve\n%q", "2001:db8::2"); got != want {
		t.Errorf("%s type, remote_ip = %q, want %q", st.Port, got, want)
	}
}
