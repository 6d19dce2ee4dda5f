package flows

import (
	"strings"
	"testing"
)

// solicit traces a neighbour solicitation for target from the host
// 02:0a:00:00:00:01 (source address src) entering br0 as in, and returns
// the trace's final flow and datapath actions.
func solicit(t *testing.T, l *lab, in, src, target string) (final, actions string) {
	t.Helper()
	trace := l.ovs.Appctl(t, "ovs-vswitchd", "ofproto/trace", "br0", "icmp6,"+in+
		",dl_src=02:0a:00:00:00:01,dl_dst=33:33:ff:00:00:21,icmpv6_type=135,icmpv6_code=0,ipv6_src="+src+
		",ipv6_dst=ff02::1:ff00:21,nw_ttl=255,nd_target="+target+",nd_sll=02:0a:00:00:00:01")
	for _, line := range strings.Split(trace, "\n") {
		line = strings.TrimSpace(line)
		if s, ok := strings.CutPrefix(line, "Final flow: "); ok {
			final = s
		}
		if s, ok := strings.CutPrefix(line, "Datapath actions: "); ok {
			actions = s
		}
	}
	return final, actions
}

// TestNeighborSolicitationsAnsweredOnOVS runs solicitations through the
// compiled pipeline in OVS (twoSites binds 2001:db8::21 in both networks,
// to different MACs): one from a local port for a bound address comes back
// out that port as the advertisement its owner would send; the same
// address in the other network is answered with that network's MAC; DAD,
// solicitations from a tunnel and ones for unbound addresses are not
// answered.
func TestNeighborSolicitationsAnsweredOnOVS(t *testing.T) {
	l := pipelineLab(t, 0)
	for _, tc := range []struct {
		name, in, mac, vlan string
	}{
		{"network 1", "in_port=1", "02:0b:00:00:00:01", "vlan_tci=0x0000,"},
		{"network 1, tagged port", "in_port=3,dl_vlan=100", "02:0b:00:00:00:01", "dl_vlan=100,"},
		{"network 2, same address", "in_port=2", "02:0b:00:00:00:02", "vlan_tci=0x0000,"},
	} {
		final, actions := solicit(t, l, tc.in, "2001:db8::1", "2001:db8::21")
		for _, want := range []string{"dl_src=" + tc.mac, "dl_dst=02:0a:00:00:00:01", "ipv6_src=2001:db8::21",
			"ipv6_dst=2001:db8::1", "nw_ttl=255", tc.vlan, "icmp_type=136", "icmp_code=0", "nd_target=2001:db8::21", "nd_tll=" + tc.mac} {
			if !strings.Contains(final, want) {
				t.Errorf("%s: the answer lacks %s: %s", tc.name, want, final)
			}
		}
		// Solicited and override, a target link-layer address option.
		if !strings.Contains(actions, "nd_ext(nd_reserved=0x60000000,nd_options_type=2)") {
			t.Errorf("%s: datapath actions %s", tc.name, actions)
		}
	}
	for _, tc := range []struct{ name, in, src, target string }{
		{"duplicate address detection", "in_port=1", "::", "2001:db8::21"},
		{"from a tunnel", fromSiteB, "2001:db8::1", "2001:db8::21"},
		{"unbound address", "in_port=1", "2001:db8::1", "2001:db8::99"},
	} {
		final, actions := solicit(t, l, tc.in, tc.src, tc.target)
		if strings.Contains(final, "icmp_type=136") || strings.Contains(actions, "nd_ext") {
			t.Errorf("%s answered: %s", tc.name, actions)
		}
	}
}
