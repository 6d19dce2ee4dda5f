package integration

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l2gw/l2gw/api"
	"github.com/l2gw/l2gw/integration/lab"
	"github.com/l2gw/l2gw/internal/ovstest"
)

// The hardware_vtep lab: site a's l2gwd is a physical switch of a
// hardware_vtep database and is configured only through it, with vtep-ctl
// as the ovs-vtep documentation scripts it; site b is an l2gwd configured
// through its API, the remote site.
const (
	vtepLS  = "ls0"
	vtepVNI = 5003
	vtepNet = "plane"
)

// vtepLab is the lab: a (vtep-driven) and b (API-driven), a host each.
type vtepLab struct {
	a, b   *gateway
	db     *ovstest.VTEPDB
	a1, b1 *lab.Host
}

// vtepSite builds the lab, up to a's host reaching b's.
func vtepSite(t *testing.T, prefix string) *vtepLab {
	t.Helper()
	l := newLab(t, prefix)
	v := &vtepLab{db: ovstest.StartVTEPDB(t)}
	v.a = &gateway{site: l.AddSite("a", "198.51.100.1"), dataDir: t.TempDir(), extra: []string{"--vtep-db", v.db.Endpoint()}}
	v.a.client = v.a.site.HTTPClient()
	v.a.start(t)
	v.b = startGateway(t, l, "b", "198.51.100.2")
	v.a1 = v.a.site.AddHost(t, "a1", macA1, ipA1, 0, "")
	v.b1 = v.b.site.AddHost(t, "b1", macB1, ipB1, 0, "")

	// b: the network toward a, by the API (b learns a's hosts).
	v.b.must(t, "POST", "/v1/networks", object{"name": vtepNet, "attachments": attach("b1")}, 201)
	v.b.must(t, "POST", "/v1/remote-gateways", object{"name": "site-a", "tunnel_ip": v.a.site.TunnelIP}, 201)
	v.b.must(t, "POST", "/v1/connections", object{"name": vtepNet + "-a", "network": vtepNet,
		"remote_gateway": "site-a", "segmentation_id": vtepVNI, "network_type": "vxlan"}, 201)

	// a: l2gwd made its physical switch (named after its bridge) and a
	// Physical_Port for the host's port; the operator does the rest.
	waitFor(t, 10*time.Second, "a's physical switch with port a1", func() bool {
		out, err := v.db.TryCtl("list-ports", lab.IntBridge)
		return err == nil && slices.Contains(strings.Fields(out), "a1")
	})
	if got := strings.TrimSpace(v.db.Ctl(t, "get", "Physical_Switch", lab.IntBridge, "tunnel_ips")); got != `["198.51.100.1"]` {
		t.Errorf("a's Physical_Switch tunnel_ips = %s, want its tunnel IP", got)
	}
	v.db.Ctl(t, "add-ls", vtepLS)
	v.db.Ctl(t, "set", "Logical_Switch", vtepLS, "tunnel_key="+strconv.Itoa(vtepVNI))
	v.db.Ctl(t, "bind-ls", lab.IntBridge, "a1", "0", vtepLS)
	v.db.Ctl(t, "add-ucast-remote", vtepLS, macB1, v.b.site.TunnelIP)
	v.db.Ctl(t, "set", "Ucast_Macs_Remote", v.ucastRemote(t, macB1), "ipaddr="+ipB1)
	v.db.Ctl(t, "add-mcast-remote", vtepLS, "unknown-dst", v.b.site.TunnelIP)
	waitFor(t, 10*time.Second, "a's remote MAC of b1 with its IP, origin vtep", func() bool {
		return v.remoteMAC(t, macB1) == ipB1
	})
	v.a.waitReconciled(t)
	pingOK(t, v.a1, ipB1, 2)
	return v
}

// ucastRemote is the UUID of the Ucast_Macs_Remote row of mac.
func (v *vtepLab) ucastRemote(t *testing.T, mac string) string {
	t.Helper()
	return strings.TrimSpace(v.db.Ctl(t, "--bare", "--columns=_uuid", "find", "Ucast_Macs_Remote", `MAC="`+mac+`"`))
}

// remoteMAC is the IPs ("," joined) a's API shows for its vtep remote MAC
// mac in the network, or "-" when it has none.
func (v *vtepLab) remoteMAC(t *testing.T, mac string) string {
	t.Helper()
	code, out := v.a.call(t, "GET", "/v1/networks/"+vtepLS+"/remote-macs", nil)
	if code != 200 {
		return "-"
	}
	var list struct {
		RemoteMACs []api.RemoteMAC `json:"remote_macs"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatal(err)
	}
	for _, m := range list.RemoteMACs {
		if m.MAC == mac && m.Origin == "vtep" && m.State == "active" {
			return strings.Join(m.IPs, ",")
		}
	}
	return "-"
}

// vtepFlows are a's flows of the vtep origin (cookie tag 0xc).
func (v *vtepLab) vtepFlows(t *testing.T) []string {
	t.Helper()
	return v.a.dumpFlows(t, "cookie=0xc000000000000000/0xf000000000000000")
}

// TestVTEPDrivenByVtepCtl: l2gwd as a hardware_vtep physical switch, set up
// with vtep-ctl only: its host reaches the remote site, an ARP for a
// remote MAC's ipaddr is answered inside OVS with the WAN down, the local
// host shows in list-local-macs, the network shows read-only in the API,
// an l2gwd restart and a restart of the database's ovsdb-server change no
// flow and lose no packet, and deleting a row removes exactly its flows.
func TestVTEPDrivenByVtepCtl(t *testing.T) {
	v := vtepSite(t, "l2vt-")
	pingOK(t, v.b1, ipA1, 2)

	// The network is the vtep origin's, read-only in the API.
	code, out := v.a.call(t, "GET", "/v1/networks/"+vtepLS, nil)
	var nw struct {
		Origin      string `json:"origin"`
		Attachments []struct {
			Port string `json:"port"`
		} `json:"attachments"`
	}
	if code != 200 || json.Unmarshal(out, &nw) != nil || nw.Origin != "vtep" || len(nw.Attachments) != 1 || nw.Attachments[0].Port != "a1" {
		t.Errorf("GET /v1/networks/%s = %d %s, want origin vtep attached to a1", vtepLS, code, out)
	}
	if code, out := v.a.call(t, "DELETE", "/v1/networks/"+vtepLS, nil); code != 409 {
		t.Errorf("DELETE of the vtep origin's network = %d %s, want 409", code, out)
	}

	// The local host, learned on the bound port, in Ucast_Macs_Local.
	waitFor(t, 10*time.Second, "a1 in list-local-macs", func() bool {
		out, err := v.db.TryCtl("list-local-macs", vtepLS)
		return err == nil && strings.Contains(out, macA1+" -> vxlan_over_ipv4/198.51.100.1")
	})

	// ARP for b1's ipaddr: answered inside a's OVS, with the WAN down.
	v.a.site.SetWAN(t, false)
	v.a1.Exec(t, "ip", "neigh", "flush", "dev", lab.HostIf)
	replies, macs := v.a1.Arping(t, ipB1, 2)
	v.a.site.SetWAN(t, true)
	if replies != 2 || macs[0] != macB1 {
		t.Errorf("arping %s from a1 with a's WAN down: %d replies from %v, want 2 from %s (answered in OVS)", ipB1, replies, macs, macB1)
	}
	pingOK(t, v.a1, ipB1, 1)

	// An l2gwd restart (SIGKILL) during a 10 ms stream: no loss, no flow change.
	{
		before := strings.Join(v.vtepFlows(t), "\n")
		monitor := v.a.site.StartProcess(t, "ovs-ofctl", "-O", "OpenFlow13", "monitor", lab.IntBridge, "watch:!initial")
		time.Sleep(500 * time.Millisecond)
		const count, interval = 400, 10 * time.Millisecond
		done := make(chan [2]int)
		go func() { s, r := v.a1.Ping(t, ipB1, count, interval); done <- [2]int{s, r} }()
		time.Sleep(time.Second)
		v.a.restart(t, syscall.SIGKILL)
		res := <-done
		monitor.Kill(syscall.SIGTERM)
		monitor.Wait()
		t.Logf("l2gwd SIGKILL and restart at a during a %v ping a1 -> b1: %d sent, %d received", interval, res[0], res[1])
		if res[0] != res[1] {
			t.Errorf("the restart lost %d of %d pings", res[0]-res[1], res[0])
		}
		var changes []string
		for _, line := range strings.Split(monitor.Output(), "\n") {
			if strings.Contains(line, "event=") && !strings.Contains(line, "cookie=0xb") {
				changes = append(changes, line)
			}
		}
		if len(changes) > 0 {
			t.Errorf("the restart changed a's flows:\n%s", strings.Join(changes, "\n"))
		}
		if after := strings.Join(v.vtepFlows(t), "\n"); after != before {
			t.Errorf("a's vtep flows differ after the restart:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	}

	// The database's ovsdb-server restarts (away for 2 s) during a 10 ms
	// stream: l2gwd reconnects and reads everything again, and no flow
	// changes but those of a row written once it is back.
	{
		const newMAC = "02:0b:00:00:00:99"
		monitor := v.a.site.StartProcess(t, "ovs-ofctl", "-O", "OpenFlow13", "monitor", lab.IntBridge, "watch:!initial")
		time.Sleep(500 * time.Millisecond)
		const count, interval = 400, 10 * time.Millisecond
		done := make(chan [2]int)
		go func() { s, r := v.a1.Ping(t, ipB1, count, interval); done <- [2]int{s, r} }()
		time.Sleep(500 * time.Millisecond)
		v.db.Stop()
		time.Sleep(2 * time.Second)
		if err := v.db.Serve(); err != nil {
			t.Fatal(err)
		}
		v.db.Ctl(t, "add-ucast-remote", vtepLS, newMAC, v.b.site.TunnelIP)
		waitFor(t, 20*time.Second, "a row written after the restart in a's API", func() bool { return v.remoteMAC(t, newMAC) == "" })
		v.a.waitReconciled(t)
		res := <-done
		monitor.Kill(syscall.SIGTERM)
		monitor.Wait()
		t.Logf("ovsdb-server of the vtep database away for 2 s during a %v ping a1 -> b1: %d sent, %d received", interval, res[0], res[1])
		if res[0] != res[1] {
			t.Errorf("the database restart lost %d of %d pings", res[0]-res[1], res[0])
		}
		var changes []string
		for _, line := range strings.Split(monitor.Output(), "\n") {
			if strings.Contains(line, "event=") && !strings.Contains(line, "cookie=0xb") && !strings.Contains(line, newMAC) {
				changes = append(changes, line)
			}
		}
		if len(changes) > 0 {
			t.Errorf("the database restart changed a's flows:\n%s", strings.Join(changes, "\n"))
		}
		v.db.Ctl(t, "del-ucast-remote", vtepLS, newMAC)
		waitFor(t, 10*time.Second, "the new row's MAC gone again", func() bool { return v.remoteMAC(t, newMAC) == "-" })
	}

	// Deleting the remote MAC's row removes exactly its flows.
	before := v.a.dumpFlows(t, "cookie=0/0")
	v.db.Ctl(t, "del-ucast-remote", vtepLS, macB1)
	waitFor(t, 10*time.Second, "b1's remote MAC gone from a's API", func() bool { return v.remoteMAC(t, macB1) == "-" })
	v.a.waitReconciled(t)
	after := v.a.dumpFlows(t, "cookie=0/0")
	var removed, added []string
	for _, f := range before {
		if !slices.Contains(after, f) && !strings.Contains(f, "cookie=0xb") {
			removed = append(removed, f)
		}
	}
	for _, f := range after {
		if !slices.Contains(before, f) && !strings.Contains(f, "cookie=0xb") {
			added = append(added, f)
		}
	}
	if len(removed) == 0 || len(added) != 0 {
		t.Errorf("del-ucast-remote %s: %d flows removed, %d added; want its flows removed and none added:\nremoved:\n%s\nadded:\n%s",
			macB1, len(removed), len(added), strings.Join(removed, "\n"), strings.Join(added, "\n"))
	}
	for _, f := range removed {
		if !strings.Contains(f, "cookie=0xc") {
			t.Errorf("del-ucast-remote %s removed a flow that is not the vtep origin's:\n%s", macB1, f)
		}
	}
	t.Logf("del-ucast-remote %s removed %d flows:\n%s", macB1, len(removed), strings.Join(removed, "\n"))
	// With the row gone, b1 is still reached by flooding (unknown-dst).
	pingOK(t, v.a1, ipB1, 1)
}
