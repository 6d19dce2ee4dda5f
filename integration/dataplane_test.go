package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/l2gw/l2gw/api"
	"github.com/l2gw/l2gw/integration/lab"
)

// The first host of each site.
const (
	macA1 = "02:0a:00:00:00:01"
	macB1 = "02:0b:00:00:00:01"
	ipA1  = "192.0.2.11"
	ipB1  = "192.0.2.12"
)

func attach(port string) []object { return []object{{"port": port}} }

// bindHosts makes each site's gateway know the other site's host statically.
func bindHosts(t *testing.T, a, b *gateway, network string) {
	t.Helper()
	a.must(t, "POST", "/v1/connections/"+network+"-b/macs", object{"macs": []object{{"mac": macB1, "ips": []string{ipB1}}}}, 201)
	b.must(t, "POST", "/v1/connections/"+network+"-a/macs", object{"macs": []object{{"mac": macA1, "ips": []string{ipA1}}}}, 201)
}

// twoSites is sites a and b, one host on each, network "plane" stretched
// between them over networkType.
func twoSites(t *testing.T, prefix, networkType string) (a, b *gateway, ha, hb *lab.Host) {
	t.Helper()
	l := newLab(t, prefix)
	a = startGateway(t, l, "a", "198.51.100.1")
	b = startGateway(t, l, "b", "198.51.100.2")
	ha = a.site.AddHost(t, "a1", macA1, ipA1, 0, "")
	hb = b.site.AddHost(t, "b1", macB1, ipB1, 0, "")
	joinNetwork(t, a, b, "plane", attach("a1"), attach("b1"), 5001, networkType)
	return a, b, ha, hb
}

func TestPingAcrossSitesOverEveryTunnelType(t *testing.T) {
	for _, tc := range []struct{ networkType, prefix string }{
		{"vxlan", "l2vx-"}, {"gre", "l2gr-"}, {"geneve", "l2ge-"},
	} {
		t.Run(tc.networkType, func(t *testing.T) {
			a, b, ha, hb := twoSites(t, tc.prefix, tc.networkType)
			bindHosts(t, a, b, "plane")
			pingOK(t, ha, ipB1, 5)
			pingOK(t, hb, ipA1, 5)
			if port := a.site.OVS().Vsctl(t, "get", "interface", "l2gw-"+tc.networkType, "type"); strings.TrimSpace(port) != tc.networkType {
				t.Fatalf("tunnel port l2gw-%s has type %s", tc.networkType, port)
			}
		})
	}
}

func TestUnboundHostsReachEachOtherByFloodingAndLearning(t *testing.T) {
	a, b, ha, _ := twoSites(t, "l2fl-", "vxlan")
	bystander := a.site.AddHost(t, "a2", "02:0a:00:00:00:02", "192.0.2.13", 0, "")
	a.must(t, "PUT", "/v1/networks/plane", object{"name": "plane", "attachments": []object{{"port": "a1"}, {"port": "a2"}}}, 200)

	pingOK(t, ha, ipB1, 3)
	// Each side learned the other's host toward the tunnel.
	if l := strings.Join(a.learnedFlows(t), "\n"); !strings.Contains(l, "dl_dst="+macB1) || !strings.Contains(l, "NXM_NX_TUN_IPV4_DST") {
		t.Fatalf("site a did not learn %s toward site b:\n%s", macB1, l)
	}
	if l := strings.Join(b.learnedFlows(t), "\n"); !strings.Contains(l, "dl_dst="+macA1) {
		t.Fatalf("site b did not learn %s:\n%s", macA1, l)
	}

	// Once learned, unicast between a1 and b1 no longer floods: the
	// bystander on the same network at site a sees none of it.
	var captured string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		captured, _ = bystander.Exec(t, "timeout", "4", "tcpdump", "-l", "-nn", "-i", lab.HostIf, "icmp")
	}()
	time.Sleep(time.Second)
	if sent, got := ha.Ping(t, ipB1, 10, 50*time.Millisecond); got != sent {
		t.Fatalf("ping after learning: %d of %d", got, sent)
	}
	wg.Wait()
	if strings.Contains(captured, "ICMP") {
		t.Fatalf("the bystander saw unicast between learned hosts:\n%s", captured)
	}

	// Deleting the connection forgets what was learned through it at
	// once, not when the entries idle out.
	a.must(t, "DELETE", "/v1/connections/plane-b", nil, 204)
	if l := strings.Join(a.learnedFlows(t), "\n"); strings.Contains(l, "dl_dst="+macB1) {
		t.Fatalf("site a still has %s learned through the deleted connection:\n%s", macB1, l)
	}
}

func TestVLANTaggedAttachment(t *testing.T) {
	l := newLab(t, "l2vl-")
	a := startGateway(t, l, "a", "198.51.100.1")
	b := startGateway(t, l, "b", "198.51.100.2")
	ha := a.site.AddHost(t, "a1", macA1, ipA1, 100, "trunk0")
	hb := b.site.AddHost(t, "b1", macB1, ipB1, 0, "")
	joinNetwork(t, a, b, "plane", []object{{"port": "trunk0", "vlan": 100}}, attach("b1"), 5001, "vxlan")
	a.must(t, "POST", "/v1/connections/plane-b/macs", object{"macs": []object{{"mac": "02:0b:00:00:00:99", "ips": []string{"192.0.2.99"}}}}, 201)

	pingOK(t, ha, ipB1, 5)
	pingOK(t, hb, ipA1, 5)
	// The ARP answer goes back to the tagged host with its VLAN re-pushed.
	if n, macs := ha.Arping(t, "192.0.2.99", 2); n != 2 || macs[0] != "02:0b:00:00:00:99" {
		t.Fatalf("tagged host's ARP for a bound IP: %d replies %v", n, macs)
	}
}

func TestARPForBoundIPIsAnsweredInOVSEvenWithTheWANDown(t *testing.T) {
	a, _, ha, _ := twoSites(t, "l2ar-", "vxlan")
	a.must(t, "POST", "/v1/connections/plane-b/macs", object{"macs": []object{{"mac": "02:0b:00:00:00:99", "ips": []string{"192.0.2.99"}}}}, 201)

	if n, macs := ha.Arping(t, "192.0.2.99", 2); n != 2 || macs[0] != "02:0b:00:00:00:99" {
		t.Fatalf("ARP for a bound IP with no host behind it: %d replies %v", n, macs)
	}
	a.site.SetWAN(t, false)
	if n, macs := ha.Arping(t, "192.0.2.99", 2); n != 2 || macs[0] != "02:0b:00:00:00:99" {
		t.Fatalf("ARP with the WAN down: %d replies %v", n, macs)
	}
	if n, _ := ha.Arping(t, ipB1, 2); n != 0 {
		t.Fatalf("an unbound remote IP answered with the WAN down (%d replies): the WAN is not down", n)
	}
}

func TestNetworksWithTheSameIPsStayApart(t *testing.T) {
	l := newLab(t, "l2ov-")
	a := startGateway(t, l, "a", "198.51.100.1")
	b := startGateway(t, l, "b", "198.51.100.2")
	redA := a.site.AddHost(t, "ared", "02:0a:00:00:00:01", ipA1, 0, "")
	blueA := a.site.AddHost(t, "ablue", "02:0a:00:00:00:02", ipA1, 0, "")
	b.site.AddHost(t, "bred", "02:0b:00:00:00:01", ipB1, 0, "")
	b.site.AddHost(t, "bblue", "02:0b:00:00:00:02", ipB1, 0, "")
	joinNetwork(t, a, b, "red", attach("ared"), attach("bred"), 5001, "vxlan")
	joinNetwork(t, a, b, "blue", attach("ablue"), attach("bblue"), 5002, "vxlan")
	a.must(t, "POST", "/v1/connections/red-b/macs", object{"macs": []object{{"mac": "02:0b:00:00:05:01", "ips": []string{"192.0.2.50", "2001:db8::50"}}}}, 201)
	a.must(t, "POST", "/v1/connections/blue-b/macs", object{"macs": []object{{"mac": "02:0b:00:00:05:02", "ips": []string{"192.0.2.50", "2001:db8::50"}}}}, 201)
	redA.AddIPv6(t, ip6A1)
	blueA.AddIPv6(t, ip6A1)

	for _, tc := range []struct {
		h                 *lab.Host
		boundMAC, peerMAC string
	}{{redA, "02:0b:00:00:05:01", "02:0b:00:00:00:01"}, {blueA, "02:0b:00:00:05:02", "02:0b:00:00:00:02"}} {
		if n, macs := tc.h.Arping(t, "192.0.2.50", 1); n != 1 || macs[0] != tc.boundMAC {
			t.Errorf("%s: ARP for 192.0.2.50 answered %v, want its own network's %s", tc.h.Name, macs, tc.boundMAC)
		}
		if mac := tc.h.Solicit(t, "2001:db8::50", 2); mac != tc.boundMAC {
			t.Errorf("%s: neighbour solicitation for 2001:db8::50 answered %q, want its own network's %s", tc.h.Name, mac, tc.boundMAC)
		}
		pingOK(t, tc.h, ipB1, 3)
		if n, macs := tc.h.Arping(t, ipB1, 1); n != 1 || macs[0] != tc.peerMAC {
			t.Errorf("%s: %s is %v, want its own network's host %s", tc.h.Name, ipB1, macs, tc.peerMAC)
		}
	}
}

func TestDeletingABindingRemovesItsFlows(t *testing.T) {
	a, _, ha, _ := twoSites(t, "l2dl-", "vxlan")
	bound := object{"macs": []object{{"mac": "02:0b:00:00:00:99", "ips": []string{"192.0.2.99"}}}}
	a.must(t, "POST", "/v1/connections/plane-b/macs", bound, 201)
	if len(a.flowsWith(t, "arp_tpa=192.0.2.99")) != 1 || len(a.flowsWith(t, "dl_dst=02:0b:00:00:00:99")) != 1 {
		t.Fatalf("binding's flows missing:\n%s", strings.Join(a.controllerFlows(t), "\n"))
	}
	before := len(a.controllerFlows(t))
	a.must(t, "DELETE", "/v1/connections/plane-b/macs/02:0b:00:00:00:99", nil, 204)
	if f := append(a.flowsWith(t, "192.0.2.99"), a.flowsWith(t, "02:0b:00:00:00:99")...); len(f) != 0 {
		t.Fatalf("flows of the deleted binding remain:\n%s", strings.Join(f, "\n"))
	}
	if after := len(a.controllerFlows(t)); after != before-2 {
		t.Fatalf("deleting one binding went from %d to %d flows, want -2", before, after)
	}
	if n, _ := ha.Arping(t, "192.0.2.99", 2); n != 0 {
		t.Fatalf("ARP for the deleted binding still answered (%d replies)", n)
	}
}

func TestRestartLosesNoPacketAndRewritesNoFlow(t *testing.T) {
	a, b, ha, _ := twoSites(t, "l2rs-", "vxlan")
	bindHosts(t, a, b, "plane")
	pingOK(t, ha, ipB1, 3)
	gws := []*gateway{a, b}
	var before []string
	var monitors []*lab.Process
	for _, g := range gws {
		before = append(before, strings.Join(g.controllerFlows(t), "\n"))
		monitors = append(monitors, g.site.StartProcess(t, "ovs-ofctl", "-O", "OpenFlow13", "monitor", lab.IntBridge, "watch:!initial"))
	}
	time.Sleep(time.Second)
	var sent, got int
	done := make(chan struct{})
	go func() {
		defer close(done)
		sent, got = ha.Ping(t, ipB1, 500, 10*time.Millisecond)
	}()
	time.Sleep(time.Second)
	a.restart(t, syscall.SIGKILL) // returns once the new daemon has verified the bridge
	b.restart(t, syscall.SIGTERM)
	<-done
	time.Sleep(500 * time.Millisecond)

	if got != sent {
		t.Errorf("ping across two l2gwd restarts: %d of %d replies", got, sent)
	}
	for i, g := range gws {
		monitors[i].Kill(syscall.SIGTERM)
		monitors[i].Wait()
		var changes []string
		for _, line := range strings.Split(monitors[i].Output(), "\n") {
			// Entries OVS learns (cookie 0xb...) come and go with traffic.
			if strings.Contains(line, "event=") && !strings.Contains(line, "cookie=0xb") {
				changes = append(changes, line)
			}
		}
		if len(changes) > 0 {
			t.Errorf("site %s: restart changed flows:\n%s", g.site.Name, strings.Join(changes, "\n"))
		}
		if after := strings.Join(g.controllerFlows(t), "\n"); after != before[i] {
			t.Errorf("site %s: flows differ after restart", g.site.Name)
		}
	}
}

func TestVswitchdRestartIsRepaired(t *testing.T) {
	a, b, ha, _ := twoSites(t, "l2vs-", "vxlan")
	bindHosts(t, a, b, "plane")
	pingOK(t, ha, ipB1, 3)
	want := strings.Join(a.controllerFlows(t), "\n")

	a.site.OVS().StopVswitchd()
	if err := a.site.OVS().StartVswitchd(); err != nil {
		t.Fatal(err)
	}
	a.site.RestoreUnderlay(t)
	deadline := time.Now().Add(20 * time.Second)
	for strings.Join(a.controllerFlows(t), "\n") != want {
		if time.Now().After(deadline) {
			t.Fatalf("flows not repaired 20 s after ovs-vswitchd restarted:\n%s", strings.Join(a.controllerFlows(t), "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	pingOK(t, ha, ipB1, 3)
}

// TestFlowReportReadsTheBridge: GET /v1/flows (what `l2gwctl flows` shows)
// agrees with the bridge, and names a flow deleted by hand as missing.
func TestFlowReportReadsTheBridge(t *testing.T) {
	a, b, _, _ := twoSites(t, "l2fr-", "vxlan")
	bindHosts(t, a, b, "plane")
	report := func(query string) api.FlowReport {
		t.Helper()
		code, out := a.call(t, http.MethodGet, "/v1/flows"+query, nil)
		var rep api.FlowReport
		if code != http.StatusOK || json.Unmarshal(out, &rep) != nil {
			t.Fatalf("GET /v1/flows%s: %d %s", query, code, out)
		}
		return rep
	}
	installed := a.controllerFlows(t)
	if s := report("").Summary; !s.InSync || s.Installed != len(installed) || s.Desired != len(installed) {
		t.Fatalf("flow report %+v, the bridge has %d l2gwd flows", s, len(installed))
	}

	// Someone deletes a binding's unicast flow by hand: l2gwd does not
	// watch flows, but its report shows the hole.
	binding := a.dumpFlows(t, "cookie=0xa300000000000000/0xff00000000000000")
	cookie, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(binding[0]), "cookie="), ",")
	a.site.OVS().Ofctl(t, "del-flows", lab.IntBridge, "cookie="+cookie+"/-1")
	rep := report("?diff=true")
	if rep.Summary.InSync || rep.Summary.Missing != 1 || len(rep.Owners) != 1 || rep.Owners[0].Kind != "binding" ||
		len(rep.Owners[0].Missing) != 1 || fmt.Sprintf("%#x", uint64(rep.Owners[0].Missing[0].Cookie)) != cookie {
		t.Fatalf("after deleting flow %s by hand the diff is %+v", cookie, rep)
	}
}
