package flows

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
)

// TestDumpedFlowsHashToTheirCookies installs every kind of flow l2gwd
// compiles (topology, bindings with ARP and ND answers, a gateway of two
// endpoints and its group, the HA gate, host snooping) and checks that
// OVS reports each one in the encoding it was installed in: none reads back
// as Altered. Then it changes two flows in place with ovs-ofctl mod-flows,
// which keeps their cookies, and deletes a third: the dump reports exactly
// the two as Altered, and the third missing.
func TestDumpedFlowsHashToTheirCookies(t *testing.T) {
	l := startHALab(t)
	ip1, ip2 := net.ParseIP(endpoint1), net.ParseIP(endpoint2)
	in := &Input{TunnelPorts: map[string]uint32{"vxlan": 10}, LearnIdleTimeout: 300, SnoopHosts: true,
		BFDPorts: map[Endpoint]uint32{{"vxlan", endpoint1}: bfdPort1, {"vxlan", endpoint2}: bfdPort2},
		Gate:     &Gate{PeerPorts: []uint32{peerPort}, WitnessPorts: []uint32{bfdPort1, bfdPort2}},
		Networks: []Network{
			{ID: 1, Attachments: []Attachment{{OFPort: 1}, {OFPort: 2, VLAN: 100}},
				Connections: []Connection{
					{ID: 1, NetworkType: "vxlan", RemoteIP: ip1, RemoteIPs: []net.IP{ip1, ip2}, SegmentationID: labVNI, Flood: true,
						Bindings: []Binding{
							{ID: 1, MAC: [6]byte(mac("02:0b:00:00:00:01"))},
							{ID: 2, MAC: [6]byte(mac("02:0b:00:00:00:02")), IPv4: []net.IP{net.IPv4(192, 0, 2, 2), net.IPv4(192, 0, 2, 3)},
								IPv6: []net.IP{net.ParseIP("2001:db8::2"), net.ParseIP("2001:db8::20")}},
							{ID: 3, Origin: OriginEVPN, MAC: [6]byte(mac("02:0b:00:00:00:03")), IPv6: []net.IP{net.ParseIP("2001:db8::3")}},
						}},
					{ID: 2, NetworkType: "vxlan", RemoteIP: net.ParseIP(otherGateway), SegmentationID: 7, Flood: true},
				}},
			{ID: 2, Attachments: []Attachment{{OFPort: 2}},
				Connections: []Connection{{ID: 3, NetworkType: "vxlan", RemoteIP: ip2, SegmentationID: 8,
					Bindings: []Binding{{ID: 4, MAC: [6]byte(mac("02:0c:00:00:00:04")), IPv4: []net.IP{net.IPv4(192, 0, 2, 4)}}}}}},
		}}
	l.install(t, in)
	set := mustCompile(t, in)

	dump := func() map[uint64]DumpedFlow {
		t.Helper()
		got := map[uint64]DumpedFlow{}
		for _, o := range Origins {
			dumped, err := l.s.Dump(context.Background(), o.Cookie(), ControllerCookieMask)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range dumped {
				got[f.Cookie] = f
			}
		}
		return got
	}
	got := dump()
	if len(got) != len(set) {
		t.Fatalf("OVS has %d of l2gwd's flows, %d compiled", len(got), len(set))
	}
	kinds := map[Kind]int{}
	for c, f := range got {
		if set[c] == nil {
			t.Fatalf("OVS has flow %#x, not compiled", c)
		}
		if f.Altered {
			t.Errorf("flow %#x (%s) reads back altered, as installed:\n%s", c, ownerOf(c), l.ovs.Ofctl(t, "dump-flows", "br0", fmt.Sprintf("cookie=%#x/-1", c)))
		}
		kinds[ownerOf(c).Kind]++
	}
	t.Logf("%d flows read back as installed, by owner kind: %v", len(got), kinds)

	var binding, pipeline, gone uint64
	for c, f := range set {
		switch o := ownerOf(c); {
		case o.Kind == KindBinding && o.ID == 2 && f.Table == TableL2Lookup:
			binding = c
		case o.Kind == KindPipeline && f.Table == TableARPResponder:
			pipeline = c
		case o.Kind == KindBinding && o.ID == 4:
			gone = c
		}
	}
	if binding == 0 || pipeline == 0 || gone == 0 {
		t.Fatalf("no flows to alter: binding %#x, pipeline %#x, deleted %#x", binding, pipeline, gone)
	}
	for _, c := range []uint64{binding, pipeline} {
		l.ovs.Ofctl(t, "--strict", "mod-flows", "br0", strictSpec(t, l, c)+",actions=drop")
	}
	l.ovs.Ofctl(t, "--strict", "del-flows", "br0", strictSpec(t, l, gone))
	got = dump()
	if _, ok := got[gone]; ok || len(got) != len(set)-1 {
		t.Fatalf("after deleting %#x OVS has %d of l2gwd's flows, want %d without it", gone, len(got), len(set)-1)
	}
	for c, f := range got {
		if want := c == binding || c == pipeline; f.Altered != want {
			t.Errorf("flow %#x (%s): altered %t, want %t", c, ownerOf(c), f.Altered, want)
		}
	}
}

// ownerOf is the owner a cookie names.
func ownerOf(c uint64) Owner {
	_, o, _ := DecodeCookie(c)
	return o
}

// ofctlStats matches the fields of an ovs-ofctl dump-flows line that are
// no part of a flow's match: cookie, counters, ages.
var ofctlStats = regexp.MustCompile(`(cookie|duration|n_packets|n_bytes|idle_age|hard_age|reset_counts)=[^,]*, `)

// strictSpec is the table, priority and match of the one flow of cookie c
// on br0, as ovs-ofctl --strict mod-flows and del-flows take them.
func strictSpec(t *testing.T, l *haLab, c uint64) string {
	t.Helper()
	lines := ofctlFlows(l.ovs.Ofctl(t, "dump-flows", "--no-names", "br0", fmt.Sprintf("cookie=%#x/-1", c)))
	if len(lines) != 1 {
		t.Fatalf("flow %#x: %d lines in br0's dump", c, len(lines))
	}
	spec, _, ok := strings.Cut(ofctlStats.ReplaceAllString(lines[0], ""), " actions=")
	if !ok {
		t.Fatalf("flow %#x: no actions in %q", c, lines[0])
	}
	return spec
}
