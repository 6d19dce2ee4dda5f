package integration

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l2gw/l2gw/api"
	"github.com/l2gw/l2gw/integration/lab"
	"github.com/l2gw/l2gw/internal/ovntest"
	"github.com/l2gw/l2gw/internal/ovstest"
)

// The OVN lab: site a runs l2gwd as physical switch ovnPS of a
// hardware_vtep database that ovn-controller-vtep drives; hv is an OVN
// hypervisor on the WAN with VM vm1 on logical switch ovnLS, whose vtep
// port names ovnPS and the VTEP's logical switch vtepLS (vtep_test.go's).
// Host a1 is on l2gwd's port a1, bound untagged to vtepLS.
const (
	ovnPS    = "l2gw-a"
	ovnLS    = "sw0"
	hvEncap  = "198.51.100.11"
	ovnVMMAC = "02:0e:00:00:00:01"
	ovnVMIP  = "192.0.2.21"
	ovnA1MAC = "02:0a:00:00:00:01"
	ovnA1IP  = "192.0.2.11"
)

// ovnLab is the OVN lab, built.
type ovnLab struct {
	a       *gateway
	vdb     *ovstest.VTEPDB
	central *ovntest.Central
	hv      *ovntest.Hypervisor
	vm, a1  *lab.Host
	// firstReply is how long after the operator's last step (the NB vtep
	// port) the VM's first ping of a1 was answered.
	firstReply time.Duration
}

// mustNB runs ovn-nbctl against the lab's central, failing t on error.
func (o *ovnLab) mustNB(t *testing.T, args ...string) string {
	t.Helper()
	out, err := o.central.NBCtl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mustSB runs ovn-sbctl against the lab's central, failing t on error.
func (o *ovnLab) mustSB(t *testing.T, args ...string) string {
	t.Helper()
	out, err := o.central.SBCtl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// newOVNLab builds the lab the way an operator sets it up: l2gwd started
// with --vtep-db makes its physical switch and ports; vtep-ctl makes the
// logical switch and binds a1's port to it; ovn-controller-vtep is pointed
// at the database; the NB side gets the VM's port and a vtep port naming
// the physical and logical switches. It returns once the VM's ping of a1
// is answered.
func newOVNLab(t *testing.T, prefix string) *ovnLab {
	t.Helper()
	l := newLab(t, prefix)
	ovntest.Require(t)
	o := &ovnLab{vdb: ovstest.StartVTEPDB(t)}
	o.a = &gateway{site: l.AddSite("a", "198.51.100.1"), dataDir: t.TempDir(),
		extra: []string{"--vtep-db", o.vdb.Endpoint(), "--vtep-switch", ovnPS}}
	o.a.client = o.a.site.HTTPClient()
	o.a.start(t)
	o.a1 = o.a.site.AddHost(t, "a1", ovnA1MAC, ovnA1IP, 0, "")

	o.central = ovntest.StartCentral(t)
	hvNS := l.AddWANNode("hv", netip.MustParseAddr(hvEncap))
	o.hv = ovntest.StartHypervisor(t, o.central, ovntest.HypervisorConfig{
		Name: "hv1", NetNS: hvNS, Encap: netip.MustParsePrefix(hvEncap + "/24"), Underlay: "eth0"})
	o.mustNB(t, "ls-add", ovnLS)
	o.mustNB(t, "lsp-add", ovnLS, "vm1", "--", "lsp-set-addresses", "vm1", ovnVMMAC+" "+ovnVMIP)
	vm := o.hv.AddVM(t, "vm1", ovnVMMAC, netip.MustParsePrefix(ovnVMIP+"/24"))
	vm.WaitInstalled(t)
	o.vm = lab.ForeignHost("vm1", vm.NetNS, ovnVMMAC, ovnVMIP)

	// l2gwd made its physical switch and a Physical_Port for a1's port.
	waitFor(t, 20*time.Second, "l2gwd's physical switch "+ovnPS+" with port a1", func() bool {
		out, err := o.vdb.TryCtl("list-ports", ovnPS)
		return err == nil && strings.Contains(out, "a1\n")
	})
	o.vdb.Ctl(t, "add-ls", vtepLS)
	o.vdb.Ctl(t, "bind-ls", ovnPS, "a1", "0", vtepLS)
	ovntest.StartVTEPController(t, o.central, o.vdb.Endpoint())
	began := time.Now()
	o.mustNB(t, "lsp-add", ovnLS, "vtep0", "--",
		"lsp-set-type", "vtep0", "vtep", "--",
		"lsp-set-options", "vtep0", "vtep-physical-switch="+ovnPS, "vtep-logical-switch="+vtepLS, "--",
		"lsp-set-addresses", "vtep0", "unknown")
	var ok bool
	for !ok && time.Since(began) < 30*time.Second {
		_, ok = o.vm.FirstReply(t, ovnA1IP, 5*time.Second)
	}
	if !ok {
		t.Fatalf("vm1 on the OVN hypervisor does not reach a1 behind l2gwd 30 s after the vtep port was added\n"+
			"ovn-sbctl show:\n%s\nvtep-ctl show:\n%s\nl2gwd's flows:\n%s\nhv's br-int:\n%s",
			o.mustSB(t, "show"), o.vdb.Ctl(t, "show"), strings.Join(ovnFlows(t, o.a), "\n"),
			o.hv.OVS.Ofctl(t, "dump-flows", ovntest.IntBridge))
	}
	o.firstReply = time.Since(began)
	return o
}

// ovnFlows returns g's flows of the topology and static bindings and of
// origin vtep (cookie tags 0xa, then 0xc, each sorted), without
// statistics: equal dumps mean unchanged flows.
func ovnFlows(t *testing.T, g *gateway) []string {
	t.Helper()
	return append(g.controllerFlows(t), g.dumpFlows(t, "cookie=0xc000000000000000/0xf000000000000000")...)
}

// vtepNetworks is GET /v1/networks at g.
func vtepNetworks(t *testing.T, g *gateway) []api.Network {
	t.Helper()
	code, out := g.call(t, "GET", "/v1/networks", nil)
	if code != 200 {
		t.Fatalf("GET /v1/networks: %d %s", code, out)
	}
	var list struct {
		Networks []api.Network `json:"networks"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatal(err)
	}
	return list.Networks
}

// connections is GET /v1/connections at g.
func connections(t *testing.T, g *gateway) []api.Connection {
	t.Helper()
	code, out := g.call(t, "GET", "/v1/connections", nil)
	if code != 200 {
		t.Fatalf("GET /v1/connections: %d %s", code, out)
	}
	var list struct {
		Connections []api.Connection `json:"connections"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatal(err)
	}
	return list.Connections
}

// TestOVNHypervisorThroughL2gwd: an OVN hypervisor's VM and a host behind
// l2gwd, joined by ovn-controller-vtep driving l2gwd's hardware_vtep
// database, ping each other; l2gwd's API shows the logical switch as a
// network of origin vtep and the VM's MAC toward the hypervisor;
// vtep-ctl lists the host's MAC as local; an l2gwd restart during a ping
// stream from the VM loses no ping and changes no flow.
func TestOVNHypervisorThroughL2gwd(t *testing.T) {
	o := newOVNLab(t, "l2ov-")
	a := o.a
	t.Logf("vm1 reached a1 %v after the NB vtep port was added", o.firstReply.Round(time.Millisecond))
	pingOK(t, o.vm, ovnA1IP, 5)
	pingOK(t, o.a1, ovnVMIP, 5)

	// What ovn-controller-vtep wrote into l2gwd's database.
	key := strings.TrimSpace(o.mustSB(t, "--bare", "--columns=tunnel_key", "find", "Datapath_Binding", "external_ids:name="+ovnLS))
	ls := o.vdb.Ctl(t, "--columns=name,tunnel_key,replication_mode", "list", "Logical_Switch", vtepLS)
	remote := o.vdb.Ctl(t, "--columns=MAC,ipaddr,locator", "list", "Ucast_Macs_Remote")
	mcast := o.vdb.Ctl(t, "--columns=MAC,locator_set", "list", "Mcast_Macs_Remote")
	locators := o.vdb.Ctl(t, "--columns=_uuid,dst_ip,encapsulation_type", "list", "Physical_Locator")
	t.Logf("ovn-controller-vtep wrote (%s's datapath key is %s):\nLogical_Switch:\n%s\nUcast_Macs_Remote:\n%s\nMcast_Macs_Remote:\n%s\nPhysical_Locator:\n%s",
		ovnLS, key, ls, remote, mcast, locators)
	if !strings.Contains(ls, ": "+key+"\n") || !strings.Contains(ls, "source_node") {
		t.Errorf("%s is %q, want tunnel_key %s (%s's datapath key) and replication_mode source_node", vtepLS, ls, key, ovnLS)
	}

	// l2gwd's own rows: its switch at its tunnel IP, no fault on the
	// port or the logical switch (the one it set while the logical switch
	// had no tunnel_key yet is gone).
	var ps, port, lsFault string
	waitFor(t, 10*time.Second, "no fault on "+vtepLS+" nor on port a1", func() bool {
		ps = o.vdb.Ctl(t, "--columns=name,tunnel_ips,switch_fault_status", "list", "Physical_Switch", ovnPS)
		port = o.vdb.Ctl(t, "--columns=name,vlan_bindings,port_fault_status", "list", "Physical_Port", "a1")
		lsFault = o.vdb.Ctl(t, "--if-exists", "get", "Logical_Switch", vtepLS, "other_config:l2gw-fault-"+ovnPS)
		return strings.TrimSpace(lsFault) == "" && strings.Contains(port, "port_fault_status   : []")
	})
	t.Logf("l2gwd wrote:\nPhysical_Switch:\n%s\nPhysical_Port:\n%s", ps, port)
	if !strings.Contains(ps, `tunnel_ips          : ["`+a.site.TunnelIP+`"]`) {
		t.Errorf("physical switch %s is %q, want tunnel_ips [%s]", ovnPS, ps, a.site.TunnelIP)
	}

	// What users see in l2gwd's API.
	var network api.Network
	for _, n := range vtepNetworks(t, a) {
		if n.Name == vtepLS {
			network = n
		}
	}
	if network.Origin != "vtep" || len(network.Attachments) != 1 || network.Attachments[0] != (api.Attachment{Port: "a1"}) {
		t.Errorf("GET /v1/networks: %s is %+v, want origin vtep with the one attachment a1 untagged", vtepLS, network)
	}
	var conn api.Connection
	for _, c := range connections(t, a) {
		if c.Network == vtepLS && c.TunnelIP == hvEncap {
			conn = c
		}
	}
	if conn.Origin != "vtep" || fmt.Sprint(conn.SegmentationID) != key || conn.NetworkType != "vxlan" {
		t.Errorf("GET /v1/connections: toward %s %+v, want origin vtep, vxlan, segmentation ID %s", hvEncap, conn, key)
	}
	var vmMAC api.RemoteMAC
	for _, m := range networkRemoteMACs(t, a, vtepLS) {
		if m.MAC == ovnVMMAC {
			vmMAC = m
		}
	}
	if vmMAC.Origin != "vtep" || vmMAC.TunnelIP != hvEncap || vmMAC.State != "active" || fmt.Sprint(vmMAC.SegmentationID) != key {
		t.Errorf("GET /v1/networks/%s/remote-macs: vm1's MAC is %+v, want active, origin vtep, toward %s on VNI %s", vtepLS, vmMAC, hvEncap, key)
	}
	var local string
	waitFor(t, 10*time.Second, "vtep-ctl list-local-macs showing a1", func() bool {
		local = o.vdb.Ctl(t, "list-local-macs", vtepLS)
		return strings.Contains(local, ovnA1MAC+" -> vxlan_over_ipv4/"+a.site.TunnelIP)
	})
	t.Logf("vtep-ctl list-local-macs %s:\n%s", vtepLS, local)

	// a1's ARP for vm1 goes to the unknown-dst locator, the hypervisor
	// (ovn-controller-vtep wrote no ipaddr for l2gwd to answer from), on
	// the datapath key, and is answered with vm1's MAC.
	if _, err := o.a1.Exec(t, "ip", "neigh", "flush", "dev", lab.HostIf); err != nil {
		t.Fatal(err)
	}
	if replies, macs := o.a1.Arping(t, ovnVMIP, 2); replies != 2 || macs[0] != ovnVMMAC {
		t.Errorf("arping %s from a1: %d replies from %v, want 2 from vm1 (%s)", ovnVMIP, replies, macs, ovnVMMAC)
	}

	// l2gwd restarts during a ping stream from the VM.
	before := strings.Join(ovnFlows(t, a), "\n")
	monitor := a.site.StartProcess(t, "ovs-ofctl", "-O", "OpenFlow13", "monitor", lab.IntBridge, "watch:!initial")
	time.Sleep(500 * time.Millisecond)
	const count, interval = 600, 10 * time.Millisecond
	var sent, received int
	done := make(chan struct{})
	go func() { sent, received = o.vm.Ping(t, ovnA1IP, count, interval); close(done) }()
	time.Sleep(time.Second)
	restartBegan := time.Now()
	a.restart(t, syscall.SIGTERM)
	restartTook := time.Since(restartBegan)
	<-done
	time.Sleep(300 * time.Millisecond)
	if monitor.Exited() {
		t.Fatalf("ovs-ofctl monitor exited early:\n%s", monitor.Output())
	}
	monitor.Kill(syscall.SIGTERM)
	monitor.Wait()
	var changes []string
	for _, line := range strings.Split(monitor.Output(), "\n") {
		if strings.Contains(line, "event=") && !strings.Contains(line, "cookie=0xb") {
			changes = append(changes, line)
		}
	}
	t.Logf("l2gwd restart (SIGTERM, back and reconciled in %v) during vm1's %d pings of a1 every %v: %d answered, %d lost; %d flow changes",
		restartTook.Round(time.Millisecond), sent, interval, received, sent-received, len(changes))
	if received != sent {
		t.Errorf("an l2gwd restart lost %d of vm1's %d pings of a1", sent-received, sent)
	}
	if len(changes) > 0 {
		t.Errorf("the restart changed l2gwd's flows:\n%s", strings.Join(changes, "\n"))
	}
	if after := strings.Join(ovnFlows(t, a), "\n"); after != before {
		t.Errorf("l2gwd's flows differ after the restart:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	pingOK(t, o.a1, ovnVMIP, 2)
}
