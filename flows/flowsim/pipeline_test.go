package flowsim_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/flows/flowsim"
	"github.com/l2gw/l2gw/flows/internal/simcases"
)

// newSwitch is a simulated bridge with set installed.
func newSwitch(t *testing.T, set flows.FlowSet, cfg flowsim.Config) *flowsim.Switch {
	t.Helper()
	sw, err := flowsim.New(set, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sw
}

// newSite is a simulated bridge with simcases' site compiled on it.
func newSite(t *testing.T) *flowsim.Switch { return newSnoopingSite(t, false) }

// newSnoopingSite is newSite, snooping hosts when snoop.
func newSnoopingSite(t *testing.T, snoop bool) *flowsim.Switch {
	t.Helper()
	in := simcases.Input()
	in.SnoopHosts = snoop
	set, err := flows.Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	return newSwitch(t, set, simcases.Config())
}

// TestPipelineFeatures runs every case of simcases' site on a fresh bridge:
// flooding with VLAN push and pop, unicast to bindings and learned MACs,
// ARP and ND answered, DAD and unbound ARP flooded, tunnel admission, split
// horizon, multicast and pinned sources dropped, learning and its limit,
// IPv6, GRE and Geneve gateways.
func TestPipelineFeatures(t *testing.T) {
	for _, c := range simcases.Cases() {
		t.Run(c.Name, func(t *testing.T) { checkCase(t, newSite(t), c, false) })
	}
}

// TestSnoopingChangesNoForwarding runs every case of the site again with
// host snooping on: every packet leaves and teaches exactly as without it,
// and those in which a local host announces its address (ARP, a
// solicitation from its address with its link-layer address, an
// advertisement with it) are copied to the controller, once, through the
// snooping meter, as they entered the network (untagged, its ID in reg6);
// duplicate address detection, options missing, frames from gateways and
// dropped frames are not.
func TestSnoopingChangesNoForwarding(t *testing.T) {
	for _, c := range simcases.Cases() {
		t.Run(c.Name, func(t *testing.T) { checkCase(t, newSnoopingSite(t, true), c, true) })
	}
}

// TestOVSSemantics runs simcases' probes, in order, on one bridge: goto_table
// in a resubmit, output to the ingress port, the tunnel destination chosen,
// learned flows seen from the next packet on, registers zeroed.
func TestOVSSemantics(t *testing.T) {
	sw := newSwitch(t, simcases.Probes(), simcases.ProbeConfig())
	for _, c := range simcases.ProbeCases() {
		t.Run(c.Name, func(t *testing.T) { checkCase(t, sw, c, false) })
	}
}

// checkCase runs c on sw, which snoops hosts or not, and fails t unless
// its packet becomes what c says.
func checkCase(t *testing.T, sw *flowsim.Switch, c simcases.Case, snooping bool) {
	t.Helper()
	for _, p := range c.Before {
		if _, err := sw.Run(p); err != nil {
			t.Fatal(err)
		}
	}
	v, err := sw.Run(c.Packet)
	if err != nil {
		t.Fatal(err)
	}
	if !sameOutputs(v.Outputs, c.Outputs) {
		t.Errorf("%v:\n got %s\nwant %s", c.Packet, outputs(v.Outputs), outputs(c.Outputs))
	}
	if got := learns(t, v); !slices.Equal(got, c.Learned) {
		t.Errorf("%v learned %+v, want %+v", c.Packet, got, c.Learned)
	}
	checkCopies(t, v, c, snooping && c.Snooped)
}

// checkCopies fails t unless v, c's verdict, sent the controller one copy
// of c's packet as it entered its network (copied), or none.
func checkCopies(t *testing.T, v flowsim.Verdict, c simcases.Case, copied bool) {
	t.Helper()
	if !copied {
		if len(v.Controller) != 0 {
			t.Errorf("%v: copies to the controller %+v, want none", c.Packet, v.Controller)
		}
		return
	}
	if len(v.Controller) != 1 || len(c.Learned) == 0 {
		t.Fatalf("%v: copies to the controller %+v, want one", c.Packet, v.Controller)
	}
	_, network, _ := flows.DecodeCookie(c.Learned[0].Cookie)
	entered := c.Packet.Frame
	entered.VLAN = 0
	if cp := v.Controller[0]; cp.Table != flows.TableSnoop || cp.Meter != flows.SnoopMeter || cp.InPort != c.Packet.InPort ||
		cp.Frame != entered || cp.Regs[flows.RegNetwork] != network.ID {
		t.Errorf("%v: copied %+v, want from table %d through meter %d, in_port %d, reg6 %d, frame %v",
			c.Packet, cp, flows.TableSnoop, flows.SnoopMeter, c.Packet.InPort, network.ID, entered)
	}
}

// TestAnswersAreWhatTheRequesterAskedFor: the ARP and ND answers of the
// cases say who has the address asked for, to the one who asked.
func TestAnswersAreWhatTheRequesterAskedFor(t *testing.T) {
	sw := newSite(t)
	for _, tc := range []struct {
		p    flowsim.Packet
		want flowsim.MAC
	}{
		{flowsim.FromPort(simcases.Port1, flowsim.ARPRequest(flowsim.MustMAC("02:0a:00:00:40:01"), flowsim.MustIP4("192.0.2.1"), simcases.BoundIP)), simcases.BoundB1},
		{flowsim.FromPort(simcases.Port2, flowsim.ARPRequest(flowsim.MustMAC("02:0a:00:00:40:02"), flowsim.MustIP4("192.0.2.1"), simcases.BoundIP)), simcases.BoundB2},
		{flowsim.FromPort(simcases.Port1, flowsim.NeighborSolicitation(flowsim.MustMAC("02:0a:00:00:40:03"), flowsim.MustIP6("2001:db8::a1"), simcases.BoundIP6)), simcases.BoundB1},
	} {
		v, err := sw.Run(tc.p)
		if err != nil {
			t.Fatal(err)
		}
		a, ok := v.Answer()
		switch {
		case !ok:
			t.Errorf("%v not answered: %v", tc.p, v)
		case a.EthType == flowsim.EthTypeARP && (a.ARP.SHA != tc.want || a.ARP.SPA != tc.p.ARP.TPA || a.EthDst != tc.p.EthSrc):
			t.Errorf("%v answered %v, want %s has %s", tc.p, a, tc.want, tc.p.ARP.TPA)
		case a.EthType == flowsim.EthTypeIPv6 && (a.IPv6.NDTLL != tc.want || a.IPv6.NDTarget != tc.p.IPv6.NDTarget || a.EthDst != tc.p.EthSrc):
			t.Errorf("%v answered %v, want %s has %s", tc.p, a, tc.want, tc.p.IPv6.NDTarget)
		}
	}
}

func sameOutputs(a, b []flowsim.Output) bool {
	key := func(o flowsim.Output) string { return o.String() }
	sa, sb := slices.Clone(a), slices.Clone(b)
	for _, s := range [][]flowsim.Output{sa, sb} {
		slices.SortFunc(s, func(x, y flowsim.Output) int { return strings.Compare(key(x), key(y)) })
	}
	return slices.Equal(sa, sb)
}

func outputs(os []flowsim.Output) string {
	if len(os) == 0 {
		return "dropped"
	}
	var s []string
	for _, o := range os {
		s = append(s, o.String())
	}
	return strings.Join(s, "\n     ")
}

// learns reads what v learned as simcases states it.
func learns(t *testing.T, v flowsim.Verdict) []simcases.Learn {
	t.Helper()
	var out []simcases.Learn
	for _, l := range v.Learned {
		mac, ok := l.Value("eth_dst")
		if !ok || len(mac) != 6 {
			t.Fatalf("a learned flow without an eth_dst match: %v", l)
		}
		out = append(out, simcases.Learn{Cookie: l.Cookie, MAC: flowsim.MAC(mac), Installed: l.Installed})
	}
	return out
}

// TestVerdictSaysWhereCopiesGo: a verdict's local ports and tunnels are
// those of its copies, as a test states a forwarding outcome ("MAC X from
// port 1 goes to tunnel 198.51.100.2 key 5001").
func TestVerdictSaysWhereCopiesGo(t *testing.T) {
	sw := newSite(t)
	src := flowsim.MustMAC("02:0a:00:00:41:01")
	v, err := sw.Run(flowsim.FromPort(simcases.Port1, flowsim.Ethernet(src, simcases.BoundB1)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := v.Tunnels(), []flowsim.Tunnel{{Type: "vxlan", Remote: simcases.SiteB, Key: 5001}}; !slices.Equal(got, want) || len(v.LocalPorts()) != 0 {
		t.Errorf("unicast to %s goes to tunnels %v and ports %v, want %v only", simcases.BoundB1, got, v.LocalPorts(), want)
	}
	v, err = sw.Run(flowsim.FromPort(simcases.Port1, flowsim.Ethernet(src, flowsim.Broadcast)))
	if err != nil {
		t.Fatal(err)
	}
	wantTunnels := []flowsim.Tunnel{{Type: "vxlan", Remote: simcases.SiteB, Key: 5001}, {Type: "geneve", Remote: simcases.Site6, Key: 5003}}
	if !slices.Equal(v.LocalPorts(), []uint32{simcases.Port3}) || !slices.Equal(v.Tunnels(), wantTunnels) {
		t.Errorf("a broadcast goes to ports %v and tunnels %v, want [3] and %v", v.LocalPorts(), v.Tunnels(), wantTunnels)
	}
}
