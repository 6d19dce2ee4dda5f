package flows

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"net"
	"testing"

	"github.com/contiv/libOpenflow/openflow13"
)

// checkFlowContract fails t when f, as its flow_mod encodes it, breaks its
// table's contract or miscounts its size: the builder's check, run again on
// the bytes the switch gets.
func checkFlowContract(t *testing.T, f *Flow) {
	t.Helper()
	if err := f.breach.err(f); err != nil {
		t.Error(err)
	}
	var actions []byte
	next := -1
	for _, in := range parseInstructions(t, f.Instructions) {
		switch in.typ {
		case openflow13.InstrType_GOTO_TABLE:
			next = int(in.table)
		case openflow13.InstrType_APPLY_ACTIONS:
			for _, a := range in.actions {
				actions = append(actions, a.raw...)
			}
		default:
			t.Errorf("flow %x has instruction %d", f.Cookie, in.typ)
		}
	}
	n := int(binary.BigEndian.Uint16(f.Match[2:]))
	if b := checkContract(contracts, f.Table, f.Match[4:n], actions, next); b != 0 {
		t.Errorf("flow %x as encoded: %v", f.Cookie, b.err(f))
	}
	if n := f.WireLen(); n > MaxMessageLen || n != len(f.AddMod()) || int(binary.BigEndian.Uint16(f.AddMod()[2:])) != n {
		t.Errorf("flow %x is %d bytes, over OpenFlow's 64 KiB or miscounted", f.Cookie, n)
	}
}

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// twoSites is a gateway with two networks that use the same IPs (one with
// a tagged trunk attachment), each connected to two remote gateways.
func twoSites() *Input {
	return &Input{
		TunnelPorts: map[string]uint32{"vxlan": 10, "gre": 11},
		Networks: []Network{
			{ID: 1, Attachments: []Attachment{{OFPort: 1}, {OFPort: 3, VLAN: 100}},
				Connections: []Connection{
					{ID: 1, NetworkType: "vxlan", RemoteIP: net.ParseIP("198.51.100.2"), SegmentationID: 5001, Flood: true,
						Bindings: []Binding{{ID: 1, MAC: [6]byte(mac("02:0b:00:00:00:01")), IPv4: []net.IP{net.ParseIP("192.0.2.21")},
							IPv6: []net.IP{net.ParseIP("2001:db8::21")}}}},
					{ID: 2, NetworkType: "gre", RemoteIP: net.ParseIP("198.51.100.3"), SegmentationID: 7, Flood: false},
				}},
			{ID: 2, Attachments: []Attachment{{OFPort: 2}},
				Connections: []Connection{
					{ID: 3, NetworkType: "vxlan", RemoteIP: net.ParseIP("198.51.100.2"), SegmentationID: 5002, Flood: true,
						Bindings: []Binding{{ID: 2, MAC: [6]byte(mac("02:0b:00:00:00:02")), IPv4: []net.IP{net.ParseIP("192.0.2.21")},
							IPv6: []net.IP{net.ParseIP("2001:db8::21")}}}},
				}},
		},
	}
}

func mustCompile(t *testing.T, in *Input) FlowSet {
	t.Helper()
	set, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestCompiledFlowsKeepTableContracts(t *testing.T) {
	for _, f := range mustCompile(t, twoSites()) {
		checkFlowContract(t, f)
	}
}

func TestCompileIsDeterministicAndUnambiguous(t *testing.T) {
	a, b := mustCompile(t, twoSites()), mustCompile(t, twoSites())
	if adds, dels := Diff(a, setCookies(b)); len(adds)+len(dels) != 0 {
		t.Fatalf("same input compiled twice differs: %d adds, %d dels", len(adds), len(dels))
	}
	// OVS keys a flow by (table, priority, match): two desired flows with the
	// same key would overwrite each other.
	seen := map[string]uint64{}
	for c, f := range a {
		key := fmt.Sprintf("%d/%d/%x", f.Table, f.Priority, f.Match)
		if other, dup := seen[key]; dup {
			t.Errorf("flows %x and %x share table, priority and match", c, other)
		}
		seen[key] = c
		if tag, _, _ := DecodeCookie(c); tag != TagController {
			t.Errorf("flow %x lacks the controller tag", c)
		}
	}
}

func TestCookiesNameTheirOwners(t *testing.T) {
	owners := map[Owner]int{}
	for c := range mustCompile(t, twoSites()) {
		_, o, _ := DecodeCookie(c)
		owners[o]++
	}
	want := map[Owner]int{
		{Kind: KindBinding, ID: 1}: 3, // unicast to tunnel + one ARP answer + one ND answer
		{Kind: KindBinding, ID: 2}: 3,
		// admission, learning (capped), a bound source's pass
		{Kind: KindConnection, ID: 1}: 3, {Kind: KindConnection, ID: 2}: 3, {Kind: KindConnection, ID: 3}: 3,
		// 3 per attachment (classify, egress, reply) + local learning + 2 flood
		{Kind: KindNetwork, ID: 1}: 9, {Kind: KindNetwork, ID: 2}: 6,
		{Kind: KindTunnel, ID: 1}: 2, {Kind: KindTunnel, ID: 2}: 2,
	}
	for o, n := range want {
		if owners[o] != n {
			t.Errorf("owner %s has %d flows, want %d", o, owners[o], n)
		}
	}
}

func TestOverlappingIPsAreAnsweredPerNetwork(t *testing.T) {
	// twoSites binds 192.0.2.21 and 2001:db8::21 in both networks.
	answers := map[uint16]map[uint32]int{} // field matched (ARP tpa, ND target) → network → answers
	for _, f := range mustCompile(t, twoSites()) {
		if f.Table != TableARPResponder || f.Priority != 100 {
			continue
		}
		var network uint32
		var target uint16
		for _, m := range parseWireMatch(t, f.Match) {
			switch {
			case m.class == openflow13.OXM_CLASS_NXM_1 && m.field == openflow13.NXM_NX_REG6:
				network = binary.BigEndian.Uint32(m.value)
			case m.class == openflow13.OXM_CLASS_OPENFLOW_BASIC &&
				(m.field == openflow13.OXM_FIELD_ARP_TPA || m.field == openflow13.OXM_FIELD_IPV6_ND_TARGET):
				target = uint16(m.field)
			}
		}
		if answers[target] == nil {
			answers[target] = map[uint32]int{}
		}
		answers[target][network]++
	}
	want := map[uint32]int{1: 1, 2: 1}
	for _, field := range []uint16{openflow13.OXM_FIELD_ARP_TPA, openflow13.OXM_FIELD_IPV6_ND_TARGET} {
		if !maps.Equal(answers[field], want) {
			t.Errorf("answers matching field %d per network: %v, want one in each network %v", field, answers[field], want)
		}
	}
}

func TestConnectionWithoutTunnelPortGetsNoFlows(t *testing.T) {
	in := twoSites()
	delete(in.TunnelPorts, "gre")
	for c := range mustCompile(t, in) {
		if _, o, _ := DecodeCookie(c); o == (Owner{Kind: KindConnection, ID: 2}) || o == (Owner{Kind: KindTunnel, ID: 2}) {
			t.Errorf("flow %x of %s compiled although the gre port does not exist", c, o)
		}
	}
}

func TestDiffTouchesOnlyWhatChanged(t *testing.T) {
	before := mustCompile(t, twoSites())
	in := twoSites()
	in.Networks[1].Connections[0].Bindings = nil // delete binding 2
	after := mustCompile(t, in)
	adds, dels := Diff(after, setCookies(before))
	if len(adds) != 0 || len(dels) != 3 {
		t.Fatalf("deleting one binding: %d adds, %d dels; want 0 and 3", len(adds), len(dels))
	}
	for _, c := range dels {
		if _, o, _ := DecodeCookie(c); o != (Owner{Kind: KindBinding, ID: 2}) {
			t.Errorf("deleting binding 2 deletes a flow of %s", o)
		}
	}

	// A new ofport for the vxlan port changes every flow that outputs to
	// it, and nothing else.
	in = twoSites()
	in.TunnelPorts["vxlan"] = 12
	adds, dels = Diff(mustCompile(t, in), setCookies(before))
	if len(adds) == 0 || len(adds) != len(dels) {
		t.Fatalf("moving the vxlan port: %d adds, %d dels; want equal, non-zero", len(adds), len(dels))
	}
	for _, f := range adds {
		if _, o, _ := DecodeCookie(f.Cookie); o.Kind == KindConnection && o.ID == 2 {
			t.Errorf("the gre connection's flow changed when the vxlan port moved")
		}
	}

	mods := Mods(adds, dels)
	// flow_mod: command at byte 25, table at 24, cookie mask at 16.
	if last := mods[len(mods)-1]; mods[0][25] != openflow13.FC_ADD || last[25] != openflow13.FC_DELETE ||
		binary.BigEndian.Uint64(last[16:]) != ^uint64(0) || last[24] != openflow13.OFPTT_ALL {
		t.Errorf("mods must add first, then delete by full cookie in every table")
	}
}

func TestARPResponderHasTheCanonicalShape(t *testing.T) {
	f := arpResponder(1, mac("02:0b:00:00:00:01"), net.ParseIP("192.0.2.21"), Owner{Kind: KindBinding, ID: 1})
	instrs := parseInstructions(t, f.Instructions)
	var kinds []string
	for _, a := range instrs[0].actions {
		kinds = append(kinds, fmt.Sprintf("%d/%d", a.typ, a.subtype))
	}
	// move eth_src→eth_dst, set eth_src, set arp_op, move sha→tha, move spa→tpa, set sha, set spa
	want := "[65535/6 25/0 25/0 65535/6 65535/6 25/0 25/0]"
	if got := fmt.Sprint(kinds); got != want {
		t.Fatalf("responder actions %s, want %s", got, want)
	}
	if instrs[1].typ != openflow13.InstrType_GOTO_TABLE || instrs[1].table != TableReplyToIngress {
		t.Fatalf("responder goes to %d, want reply_to_ingress", instrs[1].table)
	}
	if !bytes.Contains(f.Match, net.ParseIP("192.0.2.21").To4()) {
		t.Fatalf("responder does not match arp_tpa 192.0.2.21")
	}
}

func TestCompileRejectsOutOfRangeIDs(t *testing.T) {
	in := twoSites()
	in.Networks[0].ID = MaxOwnerID + 1
	if _, err := Compile(in); err == nil {
		t.Fatal("a network ID over 24 bits compiled")
	}
}

func TestCompileRefusesAFlowOverOpenFlowsSizeLimit(t *testing.T) {
	in := twoSites()
	n := &in.Networks[0]
	for i := 0; i < 2000; i++ {
		n.Connections = append(n.Connections, Connection{ID: uint32(100 + i), NetworkType: "vxlan",
			RemoteIP: net.IPv4(203, 0, 113, byte(i)), SegmentationID: uint32(i + 1), Flood: true})
	}
	if _, err := Compile(in); err == nil {
		t.Fatal("a flood list of 2000 gateways (over 64 KiB) compiled")
	}
}
