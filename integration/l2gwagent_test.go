package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/integration/lab"
	"github.com/l2gw/l2gw/internal/ovstest"
)

// What OpenStack would hand the L2 gateway agent in the networking-l2gw
// lab: a Neutron network (its ID names the logical switch, its VXLAN
// segmentation ID is the tunnel key), a connection on VLAN agentVLAN of
// site a's trunk port, and VM ports (Neutron's fa:16:3e MACs, locally
// administered) on the compute node that site b plays.
const (
	agentNetworkID   = "3d2f6c1e-8a4b-4f0e-9c7d-5b1a2e3f4d60"
	agentNetworkName = "tenant-net"
	agentSegID       = 5010
	agentVLAN        = 100
	agentTrunk       = "trunk0"
	agentVMMAC       = "fa:16:3e:0b:00:01" // vm1, a host at site b
	agentVMIP        = "192.0.2.12"
	agentVM2MAC      = "fa:16:3e:0b:00:02" // a second port of the compute node, no host behind it
	agentVM2IP       = "192.0.2.99"
	agentComputeC    = "198.51.100.3" // the compute node the second port's VM moves to (no site)
)

// l2gwAgent replays the networking-l2gw agent's transactions
// (testdata/networking-l2gw, see its README) against a hardware_vtep
// database with ovsdb-client, as the agent sends them.
type l2gwAgent struct {
	db *ovstest.VTEPDB
}

// send fills the placeholders of fixture with values (each "{{NAME}}"
// string, quotes included, becomes the JSON of its value) and commits it
// with ovsdb-client transact, failing t on any error of the reply.
func (a l2gwAgent) send(t *testing.T, fixture string, values map[string]any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "networking-l2gw", fixture))
	if err != nil {
		t.Fatal(err)
	}
	txn := string(raw)
	for name, v := range values {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		txn = strings.ReplaceAll(txn, `"{{`+name+`}}"`, string(j))
	}
	if i := strings.Index(txn, "{{"); i >= 0 {
		t.Fatalf("%s: placeholder %.40s... not filled", fixture, txn[i:])
	}
	out, err := exec.Command("ovsdb-client", "transact", a.db.Endpoint(), txn).CombinedOutput()
	if err != nil || strings.Contains(string(out), `"error"`) {
		t.Fatalf("ovsdb-client transact %s: %v: %s", fixture, err, out)
	}
	t.Logf("agent sent %s: %s", fixture, strings.TrimSpace(string(out)))
}

// uuid looks up the one row of table matching conditions (vtep-ctl find
// syntax), as the agent's plugin does in its copy of the database: "" when
// there is none.
func (a l2gwAgent) uuid(t *testing.T, table string, conditions ...string) string {
	t.Helper()
	out := strings.Fields(a.db.Ctl(t, append([]string{"--bare", "--columns=_uuid", "find", table}, conditions...)...))
	if len(out) > 1 {
		t.Fatalf("%s %v: %d rows", table, conditions, len(out))
	}
	if len(out) == 0 {
		return ""
	}
	return out[0]
}

// waitUUID waits for the row of table matching conditions and returns its
// UUID.
func (a l2gwAgent) waitUUID(t *testing.T, table string, conditions ...string) string {
	t.Helper()
	var u string
	waitFor(t, 10*time.Second, fmt.Sprintf("%s %v", table, conditions), func() bool {
		u = a.uuid(t, table, conditions...)
		return u != ""
	})
	return u
}

// ownFlows returns every flow l2gwd computed on g's bridge: the
// controller's (topology, API) and those of the vtep origin (cookie tag
// 0xc), sorted.
func (g *gateway) ownFlows(t *testing.T) []string {
	t.Helper()
	f := append(g.controllerFlows(t), g.dumpFlows(t, fmt.Sprintf("cookie=%#x/%#x", flows.OriginVTEP.Cookie(), flows.ControllerCookieMask))...)
	slices.Sort(f)
	return f
}

// waitFlows waits until g's controller flows satisfy cond (and g has
// reconciled) and returns them.
func (g *gateway) waitFlows(t *testing.T, what string, cond func([]string) bool) []string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(g.ownFlows(t)); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for %s; site %s's flows:\n%s", what, g.site.Name, strings.Join(g.ownFlows(t), "\n"))
		}
	}
	g.waitReconciled(t)
	return g.ownFlows(t)
}

// mentioning returns the flows that contain any of parts.
func mentioning(flows []string, parts ...string) []string {
	var out []string
	for _, f := range flows {
		for _, p := range parts {
			if strings.Contains(f, p) {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// without returns the flows of all not in gone.
func without(all, gone []string) []string {
	var out []string
	for _, f := range all {
		if !slices.Contains(gone, f) {
			out = append(out, f)
		}
	}
	return out
}

// TestL2GWAgent: site a's l2gwd is the physical switch of a hardware_vtep
// database into which the OpenStack networking-l2gw agent's transactions
// (written from its source, replayed in its order) connect a Neutron
// network to a's trunk port; site b, configured through its API, is the
// compute node with the VM. The VM and a's host reach each other, a's ARP
// for the VM's fixed IP is answered inside a's OVS, and each delete the
// agent sends removes exactly its flows.
func TestL2GWAgent(t *testing.T) {
	db := ovstest.StartVTEPDB(t)
	agent := l2gwAgent{db: db}
	l := newLab(t, "l2oa-")
	a := &gateway{site: l.AddSite("a", "198.51.100.1"), dataDir: t.TempDir(),
		extra: []string{"--vtep-db", db.Endpoint()}}
	a.client = a.site.HTTPClient()
	a.start(t)
	b := startGateway(t, l, "b", "198.51.100.2")
	host := a.site.AddHost(t, "a1", macA1, ipA1, agentVLAN, agentTrunk)
	vm := b.site.AddHost(t, "vm1", agentVMMAC, agentVMIP, 0, "")

	// The compute node's side: the network toward site a on the segmentation
	// ID, and a's host bound (Neutron's L2 population would tell it).
	b.must(t, "POST", "/v1/networks", object{"name": agentNetworkName, "attachments": attach("vm1")}, 201)
	b.must(t, "POST", "/v1/remote-gateways", object{"name": "l2gw-a", "tunnel_ip": a.site.TunnelIP}, 201)
	b.must(t, "POST", "/v1/connections", object{"name": "to-a", "network": agentNetworkName,
		"remote_gateway": "l2gw-a", "segmentation_id": agentSegID, "network_type": "vxlan"}, 201)
	b.must(t, "POST", "/v1/connections/to-a/macs", object{"macs": []object{{"mac": macA1, "ips": []string{ipA1}}}}, 201)

	// What the agent's plugin learns from its monitor before a connection:
	// the physical switch and its port.
	agent.waitUUID(t, "Physical_Switch", "name="+lab.IntBridge, `tunnel_ips="`+a.site.TunnelIP+`"`)
	port := agent.waitUUID(t, "Physical_Port", "name="+agentTrunk)
	base := a.ownFlows(t)

	// l2-gateway-connection-create, no VM port on the network yet.
	agent.send(t, "connection-create.json", map[string]any{
		"NETWORK_ID": agentNetworkID, "NETWORK_NAME": agentNetworkName, "SEGMENTATION_ID": agentSegID,
		"PHYSICAL_PORT_UUID": port, "VLAN": agentVLAN,
	})
	ls := agent.uuid(t, "Logical_Switch", "name="+agentNetworkID)
	a.waitFlows(t, "site a's flows of the logical switch's network", func(f []string) bool {
		return len(f) > len(base)
	})
	// l2gwd writes its unknown-dst row for the network (the agent's monitor
	// reads it).
	agent.waitUUID(t, "Mcast_Macs_Local", "logical_switch="+ls)

	// The VM port is created on the compute node: a new locator.
	vmValues := map[string]any{"COMPUTE_TUNNEL_IP": b.site.TunnelIP, "VM_MAC": agentVMMAC, "VM_IP": agentVMIP, "LOGICAL_SWITCH_UUID": ls}
	agent.send(t, "add-vif.json", vmValues)
	locator := agent.uuid(t, "Physical_Locator", `dst_ip="`+b.site.TunnelIP+`"`)
	withVM := a.waitFlows(t, "site a's flows of the VM's MAC and IP", func(f []string) bool {
		return len(mentioning(f, "arp_tpa="+agentVMIP)) > 0 && len(mentioning(f, agentVMMAC)) > 0
	})
	pingOK(t, host, agentVMIP, 5)
	pingOK(t, vm, ipA1, 5)
	// What the agent's monitor reads back for Neutron's L2 population: a's
	// host as a local MAC of the logical switch, with its IP.
	if u := agent.waitUUID(t, "Ucast_Macs_Local", `MAC="`+macA1+`"`, "logical_switch="+ls); !strings.Contains(
		db.Ctl(t, "--bare", "get", "Ucast_Macs_Local", u, "ipaddr"), ipA1) {
		t.Errorf("Ucast_Macs_Local of a1: ipaddr %q, want %s", db.Ctl(t, "get", "Ucast_Macs_Local", u, "ipaddr"), ipA1)
	}

	t.Run("ARPAnsweredInOVS", func(t *testing.T) {
		atVM := vm.Capture(t, "arp")
		host.Exec(t, "ip", "neigh", "flush", "dev", lab.HostIf)
		replies, macs := host.Arping(t, agentVMIP, 2)
		seen := atVM.Stop()
		if replies != 2 || macs[0] != agentVMMAC {
			t.Errorf("arping %s from a1: %d replies from %v, want 2 from %s", agentVMIP, replies, macs, agentVMMAC)
		}
		if strings.Contains(seen, "Request who-has "+agentVMIP) {
			t.Errorf("a1's ARP for the VM reached the compute node (not answered inside a's OVS):\n%s", seen)
		}
		a.site.SetWAN(t, false)
		defer a.site.SetWAN(t, true)
		if replies, macs := host.Arping(t, agentVMIP, 2); replies != 2 || macs[0] != agentVMMAC {
			t.Errorf("arping %s with site a's WAN down: %d replies from %v", agentVMIP, replies, macs)
		}
		if _, got := host.Ping(t, agentVMIP, 2, 100*time.Millisecond); got != 0 {
			t.Errorf("the VM answered %d pings with site a's WAN down: the WAN is not down", got)
		}
	})
	pingOK(t, host, agentVMIP, 3)

	// A second port on the same compute node: the plugin knows its locator.
	vm2Values := map[string]any{"PHYSICAL_LOCATOR_UUID": locator, "VM_MAC": agentVM2MAC, "VM_IP": agentVM2IP, "LOGICAL_SWITCH_UUID": ls}
	agent.send(t, "add-vif-known-locator.json", vm2Values)
	vm2Flows := func() []string {
		return a.waitFlows(t, "site a's flows of the second port", func(f []string) bool {
			return len(mentioning(f, "arp_tpa="+agentVM2IP)) > 0 && len(mentioning(f, agentVM2MAC)) > 0
		})
	}
	withVM2 := vm2Flows()
	if n, macs := host.Arping(t, agentVM2IP, 1); n != 1 || macs[0] != agentVM2MAC {
		t.Errorf("arping the second port's %s: %d replies from %v", agentVM2IP, n, macs)
	}

	// The second port goes: exactly its flows (its MAC's, its IP's ARP
	// answer) go, the rest stays.
	agent.send(t, "delete-vif.json", vm2Values)
	portFlows := mentioning(withVM2, agentVM2MAC, agentVM2IP)
	portGone := func() []string {
		return a.waitFlows(t, "the second port's flows gone", func(f []string) bool {
			return len(mentioning(f, agentVM2MAC, agentVM2IP)) == 0
		})
	}
	after := portGone()
	if want := without(withVM2, portFlows); !slices.Equal(after, want) {
		t.Errorf("delete-vif changed other flows than the port's %d:\nbefore (less the port's):\n%s\nafter:\n%s",
			len(portFlows), strings.Join(want, "\n"), strings.Join(after, "\n"))
	}
	t.Logf("delete-vif of the second port removed its %d flows of %d", len(portFlows), len(withVM2))
	pingOK(t, host, agentVMIP, 3)

	// The port again, and then its VM moves to another compute node: its
	// MAC goes there now, its IP is still answered.
	agent.send(t, "add-vif-known-locator.json", vm2Values)
	vm2Flows()
	agent.send(t, "update-vif.json", map[string]any{"COMPUTE_TUNNEL_IP": agentComputeC,
		"UCAST_MACS_REMOTE_UUID": agent.uuid(t, "Ucast_Macs_Remote", `MAC="`+agentVM2MAC+`"`)})
	trunk := ofport(t, a, agentTrunk)
	waitFor(t, 10*time.Second, "site a sending the moved port's MAC to "+agentComputeC, func() bool {
		trace := a.site.OVS().Appctl(t, "ovs-vswitchd", "ofproto/trace", lab.IntBridge,
			fmt.Sprintf("in_port=%s,dl_vlan=%d,dl_src=%s,dl_dst=%s,dl_type=%#x", trunk, agentVLAN, macA1, agentVM2MAC, lab.FrameEtherType))
		return strings.Contains(trace, "set_field:"+agentComputeC+"->tun_dst")
	})
	a.waitReconciled(t)
	if n, macs := host.Arping(t, agentVM2IP, 1); n != 1 || macs[0] != agentVM2MAC {
		t.Errorf("arping the moved port's %s: %d replies from %v", agentVM2IP, n, macs)
	}
	moved := a.ownFlows(t)

	// It goes: its flows go, and those of the tunnel to the compute node it
	// was alone on; site a's flows are those before the port came.
	agent.send(t, "delete-vif.json", vm2Values)
	after = portGone()
	if added := without(after, moved); len(added) > 0 {
		t.Errorf("delete-vif of the moved port added flows:\n%s", strings.Join(added, "\n"))
	}
	if !slices.Equal(after, withVM) {
		t.Errorf("after the moved port went, site a's flows differ from before it came:\nbefore:\n%s\nafter:\n%s",
			strings.Join(withVM, "\n"), strings.Join(after, "\n"))
	}
	t.Logf("delete-vif of the moved port removed %d flows (its own %d, the rest the tunnel to %s's)",
		len(without(moved, after)), len(mentioning(moved, agentVM2MAC, agentVM2IP)), agentComputeC)
	pingOK(t, host, agentVMIP, 3)
	pingOK(t, host, agentVMIP, 3)

	// l2-gateway-connection-delete: the binding goes, then the VM's MAC.
	agent.send(t, "connection-delete.json", map[string]any{"PHYSICAL_PORT_UUID": port, "VLAN": agentVLAN, "LOGICAL_SWITCH_UUID": ls})
	unbound := a.waitFlows(t, "site a's flows of the network gone", func(f []string) bool {
		return len(mentioning(f, agentVMMAC, agentVMIP)) == 0
	})
	if !slices.Equal(unbound, base) {
		t.Errorf("after connection-delete site a's flows are not those before the connection:\nbefore:\n%s\nafter:\n%s",
			strings.Join(base, "\n"), strings.Join(unbound, "\n"))
	}
	agent.send(t, "delete-vif.json", vmValues)
	// l2gwd's local rows of the logical switch go with its binding.
	waitFor(t, 10*time.Second, "l2gwd's Mcast_Macs_Local of the unbound logical switch gone", func() bool {
		return agent.uuid(t, "Mcast_Macs_Local", "logical_switch="+ls) == ""
	})
	if f := a.ownFlows(t); !slices.Equal(f, base) {
		t.Errorf("delete-vif of an unbound network changed site a's flows:\n%s", strings.Join(f, "\n"))
	}

	// delete_network: the logical switch itself (nothing of l2gwd's refers
	// to it any more, or the server would refuse the delete).
	agent.send(t, "delete-network.json", map[string]any{"LOGICAL_SWITCH_UUID": ls})
	if u := agent.uuid(t, "Logical_Switch", "name="+agentNetworkID); u != "" {
		t.Fatalf("logical switch still there after delete-network: %s", u)
	}

	// The connection again, now with the VM port already on the network: one
	// transaction with everything.
	agent.send(t, "connection-create-with-vm.json", map[string]any{
		"NETWORK_ID": agentNetworkID, "NETWORK_NAME": agentNetworkName, "SEGMENTATION_ID": agentSegID,
		"PHYSICAL_PORT_UUID": port, "VLAN": agentVLAN,
		"COMPUTE_TUNNEL_IP": b.site.TunnelIP, "VM_MAC": agentVMMAC, "VM_IP": agentVMIP,
	})
	a.waitFlows(t, "site a's flows of the VM after connection-create with the VM", func(f []string) bool {
		return len(mentioning(f, "arp_tpa="+agentVMIP)) > 0
	})
	pingOK(t, host, agentVMIP, 5)
	pingOK(t, vm, ipA1, 5)
}
