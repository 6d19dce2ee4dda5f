package integration

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l2gw/l2gw/integration/lab"
)

// recoveryBound is how soon after a fault the data plane must be back. It
// is generous on purpose (userspace OVS and an l2gwd built with -race on a
// small machine): these tests prove recovery, they are not benchmarks. Each
// logs the figure it measured.
const recoveryBound = 10 * time.Second

// faultSites is sites a and b, one host each on network "plane" over VXLAN,
// each gateway statically bound to the other's host, ping working; it
// returns site a, where the faults happen, and its host. The connections
// exist before the hosts, so on each bridge the tunnel port got its OpenFlow
// port number before the host's port: a bridge rebuilt in that order gets
// the same numbers, hence the same flows.
func faultSites(t *testing.T, prefix string) (a *gateway, ha *lab.Host) {
	t.Helper()
	l := newLab(t, prefix)
	a = startGateway(t, l, "a", "198.51.100.1")
	b := startGateway(t, l, "b", "198.51.100.2")
	joinNetwork(t, a, b, "plane", attach("a1"), attach("b1"), 5001, "vxlan")
	ha = a.site.AddHost(t, "a1", macA1, ipA1, 0, "")
	b.site.AddHost(t, "b1", macB1, ipB1, 0, "")
	bindHosts(t, a, b, "plane")
	pingOK(t, ha, ipB1, 3)
	return a, ha
}

// apiState is every listing g's API serves: networks, remote gateways,
// connections and each connection's bindings.
func (g *gateway) apiState(t *testing.T) string {
	t.Helper()
	var parts []string
	for _, path := range []string{"/v1/networks", "/v1/remote-gateways", "/v1/connections"} {
		parts = append(parts, string(g.must(t, "GET", path, nil, 200)))
	}
	var conns struct{ Connections []struct{ Name string } }
	if err := json.Unmarshal([]byte(parts[2]), &conns); err != nil {
		t.Fatalf("decode connections: %v", err)
	}
	for _, c := range conns.Connections {
		parts = append(parts, string(g.must(t, "GET", "/v1/connections/"+c.Name+"/macs", nil, 200)))
	}
	return strings.Join(parts, "\n")
}

// checkAPIUnchanged fails t when g's API state differs from before.
func checkAPIUnchanged(t *testing.T, g *gateway, before string) {
	t.Helper()
	if after := g.apiState(t); after != before {
		t.Errorf("site %s: the API state changed:\nbefore:\n%s\nafter:\n%s", g.site.Name, before, after)
	}
}

// checkDataPlaneBack measures how long after since h reaches ip again and
// fails t unless it is within recoveryBound.
func checkDataPlaneBack(t *testing.T, fault string, h *lab.Host, ip string, since time.Time) {
	t.Helper()
	if _, ok := h.FirstReply(t, ip, 2*recoveryBound); !ok {
		t.Fatalf("%s: %s cannot reach %s %.1f s after the fault", fault, h.Name, ip, time.Since(since).Seconds())
	}
	took := time.Since(since)
	t.Logf("%s: %s reached %s again %.2f s after the fault (bound %s)", fault, h.Name, ip, took.Seconds(), recoveryBound)
	if took > recoveryBound {
		t.Errorf("%s: data plane back after %.2f s, over the %s bound", fault, took.Seconds(), recoveryBound)
	}
}

// waitFlows waits up to 20 s until g is reconciled and its controller flows
// pass check (which says what is wrong, or "").
func waitFlows(t *testing.T, g *gateway, check func(flows []string) string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		g.waitReconciled(t)
		got := g.controllerFlows(t)
		problem := check(got)
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("site %s: flows not repaired after 20 s: %s:\n%s", g.site.Name, problem, strings.Join(got, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sameFlows is a waitFlows check: exactly the flows want.
func sameFlows(want []string) func([]string) string {
	return func(got []string) string {
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			return fmt.Sprintf("%d flows differ from the %d before the fault", len(got), len(want))
		}
		return ""
	}
}

// checkFreshCompile restarts g's l2gwd. The new daemon compiles the desired
// state afresh and compares it with the flows on the bridge (cookies carry a
// hash of each flow's content); that it sends no flow_mod proves the bridge
// held exactly a fresh compile's flows.
func checkFreshCompile(t *testing.T, g *gateway) {
	t.Helper()
	g.restart(t, syscall.SIGTERM)
	st, err := g.status(t)
	if err != nil {
		t.Fatal(err)
	}
	if st.FlowMods != 0 {
		t.Errorf("site %s: a freshly started l2gwd changed %d flows (%d bundles): the repaired bridge was not a fresh compile's",
			g.site.Name, st.FlowMods, st.Bundles)
	}
}

func TestFaultOVSDBServerRestart(t *testing.T) {
	a, ha := faultSites(t, "l2fo-")
	api, flows := a.apiState(t), a.controllerFlows(t)
	ovs := a.site.OVS()
	before, err := a.status(t)
	if err != nil {
		t.Fatal(err)
	}

	// Traffic runs across the whole outage and loses nothing: l2gwd
	// leaves the flows alone while OVSDB is away. (The userspace datapath
	// holds packets while ovs-vswitchd is cut off from its database, and
	// releases them when it is back.)
	var sent, got int
	pinged := make(chan struct{})
	go func() {
		defer close(pinged)
		sent, got = ha.Ping(t, ipB1, 160, 50*time.Millisecond)
	}()
	time.Sleep(500 * time.Millisecond)
	ovs.StopDB()
	waitOVSDB(t, a, false)
	time.Sleep(time.Second)
	start := time.Now()
	if err := ovs.StartDB(); err != nil {
		t.Fatal(err)
	}
	waitOVSDB(t, a, true)
	t.Logf("ovsdb-server restart: l2gwd reconnected %.2f s after the server started", time.Since(start).Seconds())
	// ovs-vswitchd reconnects up to 2 s (its backoff) after the server is
	// back: until then it holds the packets.
	checkDataPlaneBack(t, "ovsdb-server restart", ha, ipB1, start)
	<-pinged
	t.Logf("ovsdb-server restart: %d of %d pings answered across the outage", got, sent)
	if got != sent {
		t.Errorf("ovsdb-server restart: %d of %d pings lost", sent-got, sent)
	}

	waitFlows(t, a, sameFlows(flows))
	after, err := a.status(t)
	if err != nil {
		t.Fatal(err)
	}
	if after.FlowMods != before.FlowMods {
		t.Errorf("ovsdb-server restart: l2gwd sent %d flow_mods, want none", after.FlowMods-before.FlowMods)
	}
	checkAPIUnchanged(t, a, api)
	// The new OVSDB session is followed: a port plugged now gets its flows.
	a.must(t, "PUT", "/v1/networks/plane", object{"name": "plane", "attachments": []object{{"port": "a1"}, {"port": "a2"}}}, 200)
	h2 := a.site.AddHost(t, "a2", "02:0a:00:00:00:02", "192.0.2.13", 0, "")
	pingOK(t, h2, ipB1, 3)
	checkFreshCompile(t, a)
}

// waitOVSDB waits up to 20 s until g's l2gwd reports its OVSDB session up
// (or down).
func waitOVSDB(t *testing.T, g *gateway, up bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := g.status(t)
		if err == nil && st.OVSDBConnected == up {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("site %s: ovsdb_connected is not %v after 20 s: status %+v, err %v", g.site.Name, up, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestFaultBridgeDeletedByHand(t *testing.T) {
	a, ha := faultSites(t, "l2fb-")
	api, flows := a.apiState(t), a.controllerFlows(t)
	port := a.site.OFPort(t, "a1")

	start := time.Now()
	a.site.OVS().Vsctl(t, "del-br", lab.IntBridge)
	// The host's port went with the bridge. Its owner plugs it back, with
	// the number it had, as soon as l2gwd has made the bridge again.
	a.site.AttachPort(t, "a1", fmt.Sprintf("ofport_request=%d", port))
	t.Logf("bridge deleted: l2gwd made it again and the host's port was back %.2f s after the fault", time.Since(start).Seconds())
	checkDataPlaneBack(t, "bridge deleted", ha, ipB1, start)

	waitFlows(t, a, sameFlows(flows))
	checkAPIUnchanged(t, a, api)
	checkFreshCompile(t, a)
	pingOK(t, ha, ipB1, 3)
}

func TestFaultTunnelPortDeletedByHand(t *testing.T) {
	a, ha := faultSites(t, "l2ft-")
	api, flows := a.apiState(t), a.controllerFlows(t)
	oldPort := a.site.OFPort(t, "l2gw-vxlan")

	start := time.Now()
	a.site.OVS().Vsctl(t, "del-port", lab.IntBridge, "l2gw-vxlan")
	checkDataPlaneBack(t, "tunnel port deleted", ha, ipB1, start)
	if typ := strings.TrimSpace(a.site.OVS().Vsctl(t, "get", "interface", "l2gw-vxlan", "type")); typ != "vxlan" {
		t.Errorf("the tunnel port came back with type %s", typ)
	}

	// OVS does not hand a deleted port's number out again at once: the
	// new tunnel port has a new one, and the flows follow it.
	newPort := a.site.OFPort(t, "l2gw-vxlan")
	t.Logf("tunnel port deleted: it was ofport %d, it is back as %d", oldPort, newPort)
	waitFlows(t, a, followPort(flows, oldPort, newPort))
	checkAPIUnchanged(t, a, api)
	checkFreshCompile(t, a)
}

func TestFaultAttachmentPortReaddedWithNewOFPort(t *testing.T) {
	a, ha := faultSites(t, "l2fp-")
	api, flows := a.apiState(t), a.controllerFlows(t)
	oldPort := a.site.OFPort(t, "a1")
	newPort := oldPort + 10

	start := time.Now()
	a.site.OVS().Vsctl(t, "del-port", lab.IntBridge, "a1")
	a.site.OVS().Vsctl(t, "add-port", lab.IntBridge, "a1", "--", "set", "interface", "a1", fmt.Sprintf("ofport_request=%d", newPort))
	if got := a.site.OFPort(t, "a1"); got != newPort {
		t.Fatalf("OVS gave the re-added port ofport %d, not the %d requested", got, newPort)
	}
	checkDataPlaneBack(t, "attachment port re-added with a new ofport", ha, ipB1, start)

	waitFlows(t, a, followPort(flows, oldPort, newPort))
	checkAPIUnchanged(t, a, api)
	checkFreshCompile(t, a)
	pingOK(t, ha, ipB1, 3)
}

// portRef matches a flow's use of an OpenFlow port number: in its match
// (in_port=N) or its actions (output:N).
var portRef = regexp.MustCompile(`(?:in_port=|output:)(\d+)\b`)

// portRefs counts the uses of port in flows.
func portRefs(flows []string, port int) int {
	n := 0
	for _, f := range flows {
		for _, m := range portRef.FindAllStringSubmatch(f, -1) {
			if m[1] == strconv.Itoa(port) {
				n++
			}
		}
	}
	return n
}

// followPort is a waitFlows check after a port changed its number from
// oldPort to newPort: as many flows as before, every use of the old number
// now one of the new, none left of the old.
func followPort(before []string, oldPort, newPort int) func([]string) string {
	want := portRefs(before, oldPort)
	return func(got []string) string {
		switch stale, moved := portRefs(got, oldPort), portRefs(got, newPort); {
		case want == 0:
			return fmt.Sprintf("no flow used port %d before the fault", oldPort)
		case stale > 0:
			return fmt.Sprintf("%d uses of the old port %d remain", stale, oldPort)
		case moved != want:
			return fmt.Sprintf("%d uses of the new port %d, want %d as the old had", moved, newPort, want)
		case len(got) != len(before):
			return fmt.Sprintf("%d flows, want %d as before", len(got), len(before))
		}
		return ""
	}
}
