package app

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/ovsdb"
)

// groupsOf is the bridge's groups as ovs-ofctl dumps them.
func groupsOf(t *testing.T, site *daemonSite) string {
	t.Helper()
	return site.ovs.Ofctl(t, "-O", "OpenFlow13", "dump-groups", "br-int")
}

// ensureBFD makes the BFD ports the state asks for, as package ha does.
func ensureBFD(t *testing.T, site *daemonSite, d *ovsDaemon) {
	t.Helper()
	snap := d.state.Snapshot()
	peers := BFDPeers(&snap, site.haPeer)
	err := site.db.EnsureBFDPorts(context.Background(), "br-int", peers,
		ovsdb.BFDConfig{LocalIP: netip.MustParseAddr(localTunnelIP), IntervalMS: 100})
	if err != nil {
		t.Fatal(err)
	}
}

// bfdOFPort is the ofport of the vxlan BFD port to remote, as ovs-ofctl
// prints it.
func bfdOFPort(t *testing.T, site *daemonSite, remote string) string {
	t.Helper()
	port := site.db.OFPorts("br-int")[ovsdb.BFDPortName(ovsdb.BFDPeer{NetworkType: "vxlan", Remote: netip.MustParseAddr(remote)})]
	if port == 0 {
		t.Fatalf("no BFD port to %s", remote)
	}
	return fmt.Sprint(port)
}

// TestAGatewayPairOnOVS: a remote gateway of two endpoints is reached
// through a fast-failover group over its BFD ports, which the reconciler
// keeps like its flows: a restarted daemon changes neither, a new order of
// the endpoints modifies the group alone, one endpoint removes it; the HA
// gate comes and goes with SetGate.
func TestAGatewayPairOnOVS(t *testing.T) {
	site := newDaemonSite(t)
	site.haPeer = netip.MustParseAddr("198.51.100.2")
	d := site.start(t, Options{LocalTunnelIPs: []string{localTunnelIP}})
	must[Network](t)(d.state.CreateNetwork(Network{Name: "plane", Attachments: []Attachment{{Port: "h1"}}}))
	d.waitReconciled(t)
	site.ovs.Vsctl(t, "add-port", "br-int", "h1", "--", "set", "interface", "h1", "type=internal")
	must[RemoteGateway](t)(d.state.CreateRemoteGateway(RemoteGateway{Name: "site-g", TunnelIPs: []string{"198.51.100.11", "198.51.100.12"}}))
	must[Connection](t)(d.state.CreateConnection(Connection{Name: "plane-g", Network: "plane", RemoteGateway: "site-g",
		SegmentationID: 5001, NetworkType: TypeVXLAN, Flood: true}))
	ensureBFD(t, site, d)
	d.waitReconciled(t)
	waitFor(t, "the group with both BFD ports", func() bool {
		return strings.Count(groupsOf(t, site), "watch_port:") == 3 && d.rec.Status().Reconciled
	})
	groups := groupsOf(t, site)
	for _, want := range []string{"type=ff", "type=ff,bucket=watch_port:" + bfdOFPort(t, site, "198.51.100.11"),
		"set_field:198.51.100.12->tun_dst", "watch_port:" + fmt.Sprint(site.db.OFPorts("br-int")["l2gw-vxlan"])} {
		if !strings.Contains(groups, want) {
			t.Errorf("groups lack %q:\n%s", want, groups)
		}
	}
	if tr := trace(t, site.ovs, "in_port=h1,dl_src=02:0a:00:00:00:10,dl_dst=ff:ff:ff:ff:ff:ff"); !strings.Contains(tr, "group:") {
		t.Errorf("a broadcast does not go through the group:\n%s", tr)
	}

	// A restart: nothing sent, flows and groups as they were.
	flowsBefore := site.ovs.Ofctl(t, "dump-flows", "--no-stats", "br-int")
	mon := monitorFlows(t, site.ovs, "br-int")
	d.stop()
	d = site.start(t, Options{LocalTunnelIPs: []string{localTunnelIP}})
	if st := d.waitReconciled(t); st.FlowMods != 0 || st.Bundles != 0 {
		t.Errorf("the restart sent %d flow_mods in %d bundles", st.FlowMods, st.Bundles)
	}
	if ev := mon.take(); len(ev) != 0 {
		t.Errorf("the restart changed flows:\n%s", strings.Join(ev, "\n"))
	}
	if got := groupsOf(t, site); got != groups {
		t.Errorf("the restart changed the groups:\n%s\nwant\n%s", got, groups)
	}
	if got := site.ovs.Ofctl(t, "dump-flows", "--no-stats", "br-int"); got != flowsBefore {
		t.Errorf("the restart changed the flows")
	}

	// The gate: SetGate adds its group and flow, and takes them away.
	d.rec.SetGate(GateOpen)
	waitFor(t, "the gate", func() bool {
		return strings.Contains(site.ovs.Ofctl(t, "dump-flows", "br-int", "table=0"), "reg8=0") && d.rec.Status().Reconciled
	})
	if n := strings.Count(groupsOf(t, site), "group_id="); n != 2 {
		t.Errorf("%d groups with the gate, want 2:\n%s", n, groupsOf(t, site))
	}
	d.rec.SetGate(GateNone)
	waitFor(t, "the gate gone", func() bool {
		return !strings.Contains(site.ovs.Ofctl(t, "dump-flows", "br-int", "table=0"), "reg8") && d.rec.Status().Reconciled
	})
	if got := groupsOf(t, site); got != groups {
		t.Errorf("groups after the gate went:\n%s\nwant\n%s", got, groups)
	}

	// The endpoints swapped: the group follows.
	must[RemoteGateway](t)(d.state.ReplaceRemoteGateway("site-g", RemoteGateway{Name: "site-g", TunnelIPs: []string{"198.51.100.12", "198.51.100.11"}}))
	d.waitReconciled(t)
	if g := groupsOf(t, site); !strings.Contains(g, "type=ff,bucket=watch_port:"+bfdOFPort(t, site, "198.51.100.12")) {
		t.Errorf("the group does not prefer the new first endpoint:\n%s", g)
	}
	// One endpoint: no group, plain output again.
	must[RemoteGateway](t)(d.state.ReplaceRemoteGateway("site-g", RemoteGateway{Name: "site-g", TunnelIP: "198.51.100.12"}))
	d.waitReconciled(t)
	if n := strings.Count(groupsOf(t, site), "group_id="); n != 0 {
		t.Errorf("%d groups left for a gateway of one endpoint:\n%s", n, groupsOf(t, site))
	}
	if tr := trace(t, site.ovs, "in_port=h1,dl_src=02:0a:00:00:00:10,dl_dst=ff:ff:ff:ff:ff:ff"); !strings.Contains(tr, "set_field:198.51.100.12->tun_dst") {
		t.Errorf("a broadcast does not go to the one endpoint:\n%s", tr)
	}
}
