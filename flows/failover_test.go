package flows

import (
	"bytes"
	"encoding/binary"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/contiv/libOpenflow/openflow13"
)

// Endpoints of a remote gateway of three (documentation addresses).
var (
	gwA1 = net.ParseIP("203.0.113.1")
	gwA2 = net.ParseIP("203.0.113.2")
	gwA3 = net.ParseIP("203.0.113.3")
	gw6a = net.ParseIP("2001:db8::a1")
	gw6b = net.ParseIP("2001:db8::a2")
)

// pairedSites is twoSites with a third network whose gateways have
// several endpoints: connection 4 (vxlan, three endpoints, flooding; BFD
// ports toward the first and the third only) and connection 5 (IPv6 over
// geneve, two endpoints, not flooding, no BFD port yet).
func pairedSites() *Input {
	in := twoSites()
	in.TunnelPorts["geneve"] = 12
	in.Networks = append(in.Networks, Network{ID: 3, Attachments: []Attachment{{OFPort: 4}},
		Connections: []Connection{
			{ID: 4, NetworkType: "vxlan", RemoteIP: gwA1, RemoteIPs: []net.IP{gwA1, gwA2, gwA3}, SegmentationID: 6001, Flood: true,
				Bindings: []Binding{{ID: 3, MAC: [6]byte(mac("02:0c:00:00:00:01"))}}},
			{ID: 5, NetworkType: "geneve", RemoteIP: gw6a, RemoteIPs: []net.IP{gw6a, gw6b}, SegmentationID: 6002},
		}})
	in.BFDPorts = map[Endpoint]uint32{
		{NetworkType: "vxlan", Remote: "203.0.113.1"}: 21,
		{NetworkType: "vxlan", Remote: "203.0.113.3"}: 23,
		{NetworkType: "gre", Remote: "203.0.113.2"}:   99, // another type's: not this gateway's
	}
	return in
}

func mustCompileGroups(t *testing.T, in *Input) GroupSet {
	t.Helper()
	gs, err := CompileGroups(in)
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

func mustGroup(t *testing.T, id uint32, typ GroupType, buckets ...Bucket) *Group {
	t.Helper()
	g, err := NewGroup(id, typ, buckets...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// flowsOf returns the flows of owner in table, by priority (high first).
func flowsOf(set FlowSet, owner Owner, table uint8) []*Flow {
	var out []*Flow
	for _, f := range set.Sorted() {
		if _, o, _ := DecodeCookie(f.Cookie); o == owner && f.Table == table {
			out = append(out, f)
		}
	}
	return out
}

// groupsNamed returns the IDs of the groups f's actions send to.
func groupsNamed(t *testing.T, f *Flow) []uint32 {
	t.Helper()
	var ids []uint32
	for _, in := range parseInstructions(t, f.Instructions) {
		for _, a := range in.actions {
			if a.typ == openflow13.ActionType_Group {
				ids = append(ids, binary.BigEndian.Uint32(a.raw[4:]))
			}
		}
	}
	return ids
}

// TestOneEndpointCompilesAsBefore: a connection that names its one
// endpoint in RemoteIPs too compiles to the very flows (byte for byte) of
// one that names it in RemoteIP only, with no group; BFD ports of its
// endpoint change nothing.
func TestOneEndpointCompilesAsBefore(t *testing.T) {
	before := mustCompile(t, twoSites())
	in := twoSites()
	for i := range in.Networks {
		for j := range in.Networks[i].Connections {
			c := &in.Networks[i].Connections[j]
			c.RemoteIPs = []net.IP{c.RemoteIP}
		}
	}
	in.BFDPorts = map[Endpoint]uint32{{NetworkType: "vxlan", Remote: "198.51.100.2"}: 21}
	after := mustCompile(t, in)
	if len(after) != len(before) {
		t.Fatalf("%d flows, want %d", len(after), len(before))
	}
	for c, f := range before {
		if g, ok := after[c]; !ok || !bytes.Equal(g.AddMod(), f.AddMod()) {
			t.Fatalf("flow %#x differs or is missing", c)
		}
	}
	if gs := mustCompileGroups(t, in); len(gs) != 0 {
		t.Fatalf("%d groups for single endpoints, want none", len(gs))
	}
}

// TestAGatewayOfSeveralEndpoints: the failover group (a bucket per
// endpoint with a BFD port, in order, then the first endpoint, always
// live), admission from every endpoint, unicast to any endpoint through
// the group, flooding through the group, bindings as before.
func TestAGatewayOfSeveralEndpoints(t *testing.T) {
	in := pairedSites()
	set := mustCompile(t, in)
	gs := mustCompileGroups(t, in)
	conn4 := Owner{Kind: KindConnection, ID: 4}
	conn5 := Owner{Kind: KindConnection, ID: 5}

	want4 := mustGroup(t, GroupID(conn4), GroupFastFailover,
		TunnelBucket(21, 10, gwA1), TunnelBucket(23, 10, gwA3), TunnelBucket(10, 10, gwA1))
	want5 := mustGroup(t, GroupID(conn5), GroupFastFailover, TunnelBucket(12, 12, gw6a))
	if len(gs) != 2 || !gs[want4.id].same(want4) || !gs[want5.id].same(want5) {
		t.Fatalf("groups %v; want %v and %v", gs, want4, want5)
	}

	// Admission: one classifier flow per endpoint, as a single endpoint's.
	admit := flowsOf(set, conn4, TableClassifier)
	if len(admit) != 3 {
		t.Fatalf("%d classifier flows for connection 4, want 3", len(admit))
	}
	for _, ip := range []net.IP{gwA1, gwA2, gwA3} {
		single := connectionFlows(3, &Connection{ID: 4, NetworkType: "vxlan", RemoteIP: ip, SegmentationID: 6001}, 10, DefaultLearnIdleTimeout, DefaultLearnLimit)[0]
		if !slices.ContainsFunc(admit, func(f *Flow) bool { return bytes.Equal(f.AddMod(), single.AddMod()) }) {
			t.Errorf("no admission flow from %v like a single endpoint's", ip)
		}
	}
	if n := len(flowsOf(set, conn5, TableClassifier)); n != 2 {
		t.Errorf("%d classifier flows for connection 5, want 2", n)
	}

	// Unicast: one egress flow per endpoint (tun_dst / tun_ipv6_dst and
	// the key) to the group, above the tunnel port's output.
	for _, tc := range []struct {
		owner  Owner
		port   uint32
		key    uint32
		remote []net.IP
	}{{conn4, 10, 6001, []net.IP{gwA1, gwA2, gwA3}}, {conn5, 12, 6002, []net.IP{gw6a, gw6b}}} {
		egress := flowsOf(set, tc.owner, TableEgress)
		if len(egress) != len(tc.remote) {
			t.Fatalf("%v: %d egress flows, want %d", tc.owner, len(egress), len(tc.remote))
		}
		for _, ip := range tc.remote {
			wantMatch := slices.Concat(matchReg(RegOutPort, tc.port), matchTunDst(ip), matchTunID(tc.key))
			i := slices.IndexFunc(egress, func(f *Flow) bool { return bytes.Contains(f.Match, wantMatch) })
			if i < 0 {
				t.Errorf("%v: no egress flow matches %x", tc.owner, wantMatch)
				continue
			}
			if f := egress[i]; f.Priority != PriorityFailoverEgress || !slices.Equal(groupsNamed(t, f), []uint32{GroupID(tc.owner)}) {
				t.Errorf("%v: egress flow to %s: priority %d, groups %x; want %d, [%x]",
					tc.owner, ip, f.Priority, groupsNamed(t, f), PriorityFailoverEgress, GroupID(tc.owner))
			}
		}
	}

	// Bindings are as they were: tun_dst is the first endpoint.
	c := &in.Networks[2].Connections[0]
	single := *c
	single.RemoteIPs = nil
	got, err := CompileBinding(3, c, in.TunnelPorts, &c.Bindings[0])
	if err != nil {
		t.Fatal(err)
	}
	want, _ := CompileBinding(3, &single, in.TunnelPorts, &c.Bindings[0])
	if len(got) != len(want) || !bytes.Equal(got[0].AddMod(), want[0].AddMod()) {
		t.Errorf("the binding behind a gateway of several endpoints compiles differently")
	}

	// Flood from local ports: the local attachment, then tun_id and the
	// group; no tunnel output of its own. Connection 5 does not flood.
	flood := flowsOf(set, Owner{Kind: KindNetwork, ID: 3}, TableFlood)
	var local *Flow
	for _, f := range flood {
		if bytes.Contains(f.Match, matchReg(RegFlags, 0)) {
			local = f
		}
	}
	wantActs := slices.Concat(output(4), setTunnelID(6001), groupAction(GroupID(conn4)))
	if local == nil || !bytes.HasSuffix(local.Instructions, wantActs) || len(local.Instructions) != 8+len(wantActs) {
		t.Fatalf("local flood of network 3: %x; want the actions %x", local.Instructions, wantActs)
	}
	// The other networks' flows are twoSites' own (the pipeline's change:
	// an IPv6 gateway, a geneve port).
	base := mustCompile(t, twoSites())
	for c, f := range base {
		if _, o, _ := DecodeCookie(c); o.Kind == KindPipeline || o.Kind == KindTunnel {
			continue
		}
		if g, ok := set[c]; !ok || !bytes.Equal(g.AddMod(), f.AddMod()) {
			t.Fatalf("flow %#x of twoSites differs or is missing", c)
		}
	}
}

// TestFlowsNameOnlyCompiledGroups: every group a compiled flow sends to
// is one CompileGroups computes for the same input, and every compiled
// group has a flow that sends to it.
func TestFlowsNameOnlyCompiledGroups(t *testing.T) {
	for name, in := range map[string]*Input{
		"single endpoints":  twoSites(),
		"several endpoints": pairedSites(),
		"several endpoints and the HA gate": func() *Input {
			in := pairedSites()
			in.Gate = &Gate{PeerPorts: []uint32{30, 31}, WitnessPorts: []uint32{21, 23}}
			return in
		}(),
		"a gate without tunnel ports": {Gate: &Gate{PeerPorts: []uint32{30}}},
	} {
		set := mustCompile(t, in)
		gs := mustCompileGroups(t, in)
		named := map[uint32]bool{}
		for _, f := range set {
			checkFlowContract(t, f)
			for _, id := range groupsNamed(t, f) {
				if gs[id] == nil {
					t.Errorf("%s: flow %#x (table %s) sends to group %#x, which CompileGroups does not compute", name, f.Cookie, TableName(f.Table), id)
				}
				named[id] = true
			}
		}
		for id := range gs {
			if !named[id] {
				t.Errorf("%s: no flow sends to group %#x", name, id)
			}
		}
	}
}

// TestTheHAGate: with a gate, one classifier flow above every other sends
// packets not yet passed to the gate's group: peers first (no actions),
// then witnesses (mark passed, back to the classifier). Without one,
// neither exists and the flows are as before.
func TestTheHAGate(t *testing.T) {
	in := twoSites()
	in.Gate = &Gate{PeerPorts: []uint32{30, 31}, WitnessPorts: []uint32{40}}
	set := mustCompile(t, in)
	pipeline := Owner{Kind: KindPipeline}
	var gate []*Flow
	for _, f := range flowsOf(set, pipeline, TableClassifier) {
		if len(groupsNamed(t, f)) > 0 {
			gate = append(gate, f)
		}
	}
	if len(gate) != 1 || gate[0].Priority != PriorityGate || !bytes.Contains(gate[0].Match, matchReg(RegGate, 0)) {
		t.Fatalf("gate flows %v; want one at priority %d matching reg8=0", gate, PriorityGate)
	}
	for _, f := range set {
		if f.Table == TableClassifier && f != gate[0] && f.Priority >= PriorityGate {
			t.Errorf("classifier flow %#x at priority %d, not below the gate", f.Cookie, f.Priority)
		}
	}
	gs := mustCompileGroups(t, in)
	want := mustGroup(t, GroupID(pipeline), GroupFastFailover, bucket(30), bucket(31),
		bucket(40, setField(matchReg(RegGate, GatePassed)), resubmit(TableClassifier)))
	if len(gs) != 1 || !gs[want.id].same(want) {
		t.Fatalf("groups %v; want only the gate %v", gs, want)
	}
	// The gate's flow is all it adds.
	base := mustCompile(t, twoSites())
	if len(set) != len(base)+1 {
		t.Fatalf("%d flows with the gate, %d without; want one more", len(set), len(base))
	}
	for c := range base {
		if _, ok := set[c]; !ok {
			t.Fatalf("flow %#x is gone with the gate", c)
		}
	}
	if gs := mustCompileGroups(t, twoSites()); len(gs) != 0 {
		t.Fatalf("groups without a gate: %v", gs)
	}
	in.Gate = &Gate{PeerPorts: []uint32{0}}
	if _, err := CompileGroups(in); err == nil || !strings.Contains(err.Error(), "HA gate") {
		t.Fatalf("a gate watching port 0: %v; want an error naming the HA gate", err)
	}
}

// TestEndpointsAreChecked: RemoteIPs must start with RemoteIP, repeat no
// endpoint and keep to RemoteIP's family.
func TestEndpointsAreChecked(t *testing.T) {
	for name, ips := range map[string][]net.IP{
		"not RemoteIP first": {gwA2, gwA1},
		"repeated":           {gwA1, gwA2, gwA1},
		"mixed families":     {gwA1, gw6a},
		"not an IP":          {gwA1, net.IP{1, 2}},
	} {
		in := twoSites()
		c := &in.Networks[0].Connections[0]
		c.RemoteIP, c.RemoteIPs = gwA1, ips
		if _, err := Compile(in); err == nil || !strings.Contains(err.Error(), "connection 1") {
			t.Errorf("%s: Compile: %v; want an error naming connection 1", name, err)
		}
		if _, err := CompileGroups(in); err == nil {
			t.Errorf("%s: CompileGroups accepted it", name)
		}
	}
}

// TestGroupBucketsKeepTheirTablesContract: a group's buckets are checked
// against the contract of the tables whose flows send to it; resubmitting
// to the classifier is for the gate's buckets only, not for flows.
func TestGroupBucketsKeepTheirTablesContract(t *testing.T) {
	gate, err := gateGroup(&Gate{WitnessPorts: []uint32{40}})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBucketContract(gate, TableClassifier); err != nil {
		t.Errorf("the gate's buckets from the classifier: %v", err)
	}
	if err := checkBucketContract(gate, TableEgress); err == nil || !strings.Contains(err.Error(), "table egress") {
		t.Errorf("the gate's buckets from egress: %v; want an error naming egress", err)
	}
	f := flow(TableClassifier, 10).apply(resubmit(TableClassifier)).done(Owner{Kind: KindPipeline})
	if err := (FlowSet{}).add(f); err == nil || !strings.Contains(err.Error(), "resubmits to table classifier") {
		t.Errorf("a classifier flow that resubmits to the classifier: %v", err)
	}
	c := &pairedSites().Networks[2].Connections[0]
	g, err := connectionGroup(c, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	withContracts(t, narrowed(TableEgress, func(tb *Table) { tb.Sets = []string{"vlan_vid"} }))
	if err := checkBucketContract(g, TableEgress); err == nil || !strings.Contains(err.Error(), "writes tun_dst") {
		t.Errorf("a failover bucket under an egress contract without tun_dst: %v", err)
	}
	if _, err := CompileGroups(pairedSites()); err == nil {
		t.Errorf("CompileGroups accepted buckets that break egress's contract")
	}
}
