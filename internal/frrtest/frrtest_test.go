package frrtest

import (
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/l2gw/l2gw/internal/ovstest"
)

var (
	vtepA = netip.MustParseAddr("198.51.100.1")
	vtepB = netip.MustParseAddr("198.51.100.2")
)

const (
	vni  = 5001
	macA = "00:00:5e:00:53:0a"
	macB = "00:00:5e:00:53:0b"
)

// TestTwoSites runs two FRRs in two namespaces joined by a veth WAN, A the
// route reflector of its iBGP client B, one VNI each with a host: the hosts
// reach each other through the kernels' VXLAN, each FRR lists the other's
// host toward the other's VTEP, and both survive a restart of bgpd.
func TestTwoSites(t *testing.T) {
	Require(t)
	nsA, nsB := ovstest.NetNS(t, "frrt-a"), ovstest.NetNS(t, "frrt-b")
	for _, c := range [][]string{
		{"ip", "-n", nsA, "link", "add", "wan0", "type", "veth", "peer", "name", "wan0", "netns", nsB},
		{"ip", "-n", nsA, "addr", "add", vtepA.String() + "/24", "dev", "wan0"},
		{"ip", "-n", nsB, "addr", "add", vtepB.String() + "/24", "dev", "wan0"},
		{"ip", "-n", nsA, "link", "set", "wan0", "up"},
		{"ip", "-n", nsB, "link", "set", "wan0", "up"},
	} {
		if _, err := run(c[0], c[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	began := time.Now()
	a := Start(t, Config{Name: "a", NetNS: nsA, ASN: 65000, RouterID: vtepA, GracefulRestart: true, RestartTime: 30,
		Neighbors: []Neighbor{{Address: vtepB, ASN: 65000, RouteReflectorClient: true}},
		VNIs:      []VNI{{ID: vni, LocalIP: vtepA, BridgeAddrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.253/24")}}}})
	startTook := time.Since(began)
	b := Start(t, Config{Name: "b", NetNS: nsB, ASN: 65000, RouterID: vtepB, GracefulRestart: true,
		Neighbors: []Neighbor{{Address: vtepA, ASN: 65000}},
		VNIs: []VNI{{ID: vni, LocalIP: vtepB, BridgeAddrs: []netip.Prefix{
			netip.MustParsePrefix("192.0.2.254/24"), netip.MustParsePrefix("2001:db8:1::fe/64")}}}})
	startedBoth := time.Now()

	established := func(f *FRR, peer netip.Addr) func() bool {
		return func() bool { n, err := f.Neighbor(peer); return err == nil && n.State == "Established" }
	}
	waitFor(t, "A and B established", func() bool { return established(a, vtepB)() && established(b, vtepA)() })
	establishedAfter := time.Since(startedBoth)
	waitFor(t, "A and B hold each other's type-3 routes", func() bool {
		return hasRoute(t, a, Route{Type: 3, IP: vtepB, NextHop: vtepB, VNI: vni, From: vtepB}) &&
			hasRoute(t, b, Route{Type: 3, IP: vtepA, NextHop: vtepA, VNI: vni, From: vtepA})
	})
	floodAfter := time.Since(startedBoth)
	hostA := a.AddHost(t, vni, "ha", macA, netip.MustParsePrefix("192.0.2.1/24"))
	hostB := b.AddHost(t, vni, "hb", macB, netip.MustParsePrefix("192.0.2.2/24"), netip.MustParsePrefix("2001:db8:1::2/64"))
	hostsAt := time.Now()

	// The first ping floods ARP to the other VTEP; its answer teaches both
	// bridges the hosts' MACs, which FRR then advertises.
	waitFor(t, "A's host reaches B's", func() bool { _, err := hostA.Exec("ping", "-c", "1", "-W", "1", "192.0.2.2"); return err == nil })
	waitFor(t, "each FRR lists the other's host toward the other's VTEP", func() bool {
		return hasRoute(t, a, Route{Type: 2, MAC: macB, NextHop: vtepB, VNI: vni, From: vtepB}) &&
			hasRoute(t, b, Route{Type: 2, MAC: macA, NextHop: vtepA, VNI: vni, From: vtepA})
	})
	exchangedAfter := time.Since(hostsAt)
	t.Logf("Start of one FRR: %v; after both started: established in %v, type-3 routes exchanged in %v; "+
		"hosts' MACs exchanged %v after the hosts were made (first ping included)", startTook.Round(time.Millisecond),
		establishedAfter.Round(time.Millisecond), floodAfter.Round(time.Millisecond), exchangedAfter.Round(time.Millisecond))
	if out, err := hostB.Exec("ping", "-c", "3", "-i", "0.2", "-W", "1", "192.0.2.1"); err != nil {
		t.Fatalf("B's host does not reach A's: %v\n%s", err, out)
	}

	// Zebra installed the remote MAC toward its VTEP: in its own view and
	// in the kernel's forwarding database.
	waitFor(t, "B's zebra and kernel hold A's host as remote", func() bool {
		macs, err := b.MACs(vni)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := macs[macA]
		return ok && m.Type == "remote" && m.RemoteVTEP == vtepA && hasFDB(t, b, macA, vtepA)
	})
	if macs, err := a.MACs(vni); err != nil || macs[macA].Type != "local" || macs[macA].Interface != "ha" {
		t.Fatalf("A's zebra does not hold its host as local on ha: %+v, %v", macs, err)
	}

	// A host that talks to its bridge's address enters the kernel's
	// neighbour table, and FRR advertises it as MAC+IP, IPv4 and IPv6.
	for _, dst := range []string{"192.0.2.254", "2001:db8:1::fe"} {
		if out, err := hostB.Exec("ping", "-c", "1", "-W", "1", dst); err != nil {
			t.Fatalf("B's host does not reach its bridge at %s: %v\n%s", dst, err, out)
		}
	}
	waitFor(t, "A lists B's host's MAC+IP routes", func() bool {
		return hasRoute(t, a, Route{Type: 2, MAC: macB, IP: netip.MustParseAddr("192.0.2.2"), NextHop: vtepB, VNI: vni, From: vtepB}) &&
			hasRoute(t, a, Route{Type: 2, MAC: macB, IP: netip.MustParseAddr("2001:db8:1::2"), NextHop: vtepB, VNI: vni, From: vtepB})
	})

	// bgpd of the route reflector dies and comes back; graceful restart was
	// negotiated both ways.
	if n, err := b.Neighbor(vtepA); err != nil || !n.GracefulRestart || !n.PeerPreservesEVPN ||
		n.PeerRestartTime != 30*time.Second || !n.EndOfRIB || n.RoutesAccepted == 0 {
		t.Fatalf("B's session with A: %+v, %v", n, err)
	}
	restarted := time.Now()
	if err := a.RestartBGPD(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A and B established again after A's bgpd was killed", func() bool {
		n, err := b.Neighbor(vtepA)
		return err == nil && n.State == "Established" && n.EstablishedCount >= 2 && established(a, vtepB)()
	})
	waitFor(t, "A has B's host again", func() bool {
		return hasRoute(t, a, Route{Type: 2, MAC: macB, NextHop: vtepB, VNI: vni, From: vtepB})
	})
	t.Logf("bgpd killed and started again: established and B's host back at A in %v", time.Since(restarted).Round(time.Millisecond))

	// An orderly stop and start of the client's bgpd.
	stopping := time.Now()
	if err := b.StopBGPD(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	t.Logf("bgpd stopped by SIGTERM in %v", time.Since(stopping).Round(time.Millisecond))
	if err := b.StopBGPD(syscall.SIGTERM); err == nil {
		t.Fatal("StopBGPD of a stopped bgpd: no error")
	}
	waitFor(t, "A sees B's session down", func() bool { return !established(a, vtepB)() })
	if err := b.StartBGPD(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B's host back at A after B's bgpd restarted", func() bool {
		return established(a, vtepB)() && hasRoute(t, a, Route{Type: 2, MAC: macB, NextHop: vtepB, VNI: vni, From: vtepB})
	})
	if out, err := hostA.Exec("ping", "-c", "3", "-i", "0.2", "-W", "1", "192.0.2.2"); err != nil {
		t.Fatalf("A's host does not reach B's after the restarts: %v\n%s", err, out)
	}
}

// TestBadConfig: a configuration FRR cannot run fails before anything
// starts.
func TestBadConfig(t *testing.T) {
	good := Config{NetNS: "x", ASN: 65000, RouterID: vtepA, VNIs: []VNI{{ID: vni, LocalIP: vtepA}}}
	for name, change := range map[string]func(*Config){
		"no namespace":     func(c *Config) { c.NetNS = "" },
		"no ASN":           func(c *Config) { c.ASN = 0 },
		"IPv6 router ID":   func(c *Config) { c.RouterID = netip.MustParseAddr("2001:db8::1") },
		"VNI 0":            func(c *Config) { c.VNIs[0].ID = 0 },
		"VNI too large":    func(c *Config) { c.VNIs[0].ID = 1 << 24 },
		"VNI twice":        func(c *Config) { c.VNIs = append(c.VNIs, c.VNIs[0]) },
		"IPv6 VTEP":        func(c *Config) { c.VNIs[0].LocalIP = netip.MustParseAddr("2001:db8::1") },
		"neighbour no ASN": func(c *Config) { c.Neighbors = []Neighbor{{Address: vtepB}} },
		"password blank":   func(c *Config) { c.Neighbors = []Neighbor{{Address: vtepB, ASN: 1, Password: "a b"}} },
	} {
		c := good
		c.VNIs = slices.Clone(good.VNIs)
		change(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := good.validate(); err != nil {
		t.Errorf("good config refused: %v", err)
	}
}

// hasRoute reports whether f's table has a path matching want in every
// field want sets (Type, MAC, IP, NextHop, VNI, From).
func hasRoute(t *testing.T, f *FRR, want Route) bool {
	t.Helper()
	routes, err := f.Routes()
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(routes, func(r Route) bool {
		return r.Type == want.Type && r.MAC == want.MAC && r.IP == want.IP &&
			r.NextHop == want.NextHop && r.VNI == want.VNI && r.From == want.From
	})
}

// hasFDB reports whether f's kernel forwards mac to vtep on the VNI.
func hasFDB(t *testing.T, f *FRR, mac string, vtep netip.Addr) bool {
	t.Helper()
	fdb, err := f.FDB(vni)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(fdb, func(e FDBEntry) bool {
		return e.MAC == mac && e.Dst == vtep && slices.Contains(e.Flags, "extern_learn")
	})
}

func waitFor(t *testing.T, what string, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !done(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}
