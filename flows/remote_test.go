package flows

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/contiv/libOpenflow/openflow13"
	"github.com/l2gw/l2gw/internal/ovstest"
)

// learnOf is a learn action read back from a flow: NXAST_LEARN or
// NXAST_LEARN2, its cookie and limit (0 for NXAST_LEARN).
type learnOf struct {
	subtype uint16
	cookie  uint64
	limit   uint32
}

// learnsOf returns the learn actions of f.
func learnsOf(t *testing.T, f *Flow) []learnOf {
	t.Helper()
	var out []learnOf
	for _, in := range parseInstructions(t, f.Instructions) {
		for _, a := range in.actions {
			switch a.subtype {
			case openflow13.NXAST_LEARN:
				out = append(out, learnOf{a.subtype, binary.BigEndian.Uint64(a.raw[16:]), 0})
			case nxastLearn2:
				out = append(out, learnOf{a.subtype, binary.BigEndian.Uint64(a.raw[16:]), binary.BigEndian.Uint32(a.raw[32:])})
			}
		}
	}
	return out
}

// firstMatch returns the flow of table that a packet with registers regs
// meets: the highest-priority flow whose match (registers only) agrees.
func firstMatch(t *testing.T, set FlowSet, table uint8, regs map[int]uint32) *Flow {
	t.Helper()
	for _, f := range set.Sorted() {
		if f.Table != table {
			continue
		}
		matches := true
		for _, m := range parseWireMatch(t, f.Match) {
			if m.class != openflow13.OXM_CLASS_NXM_1 || m.field > 15 {
				t.Fatalf("flow %x in %s matches class %#x field %d, not a register", f.Cookie, TableName(table), m.class, m.field)
			}
			matches = matches && regs[int(m.field)] == binary.BigEndian.Uint32(m.value)
		}
		if matches {
			return f
		}
	}
	t.Fatalf("no flow of %s matches %v", TableName(table), regs)
	return nil
}

// TestStaticBindingsArePinned walks packets through TableLearn as the
// source lookup leaves them: in twoSites, 02:0b:00:00:00:01 is bound in
// network 1 behind connection 1 (site b); connection 2 (site c) is the
// network's other gateway. A bound source is never learned; it passes only
// from its own gateway, and is dropped from anywhere else.
func TestStaticBindingsArePinned(t *testing.T) {
	set := mustCompile(t, twoSites())

	// The binding's forwarding flow is its source entry: it names its
	// connection in RegSourceConn.
	var loads []string
	for _, f := range set {
		if _, o, _ := DecodeCookie(f.Cookie); o == (Owner{Kind: KindBinding, ID: 1}) && f.Table == TableL2Lookup {
			loads = append(loads, regLoads(t, f)...)
		}
	}
	if !slices.Contains(loads, "reg3=1") {
		t.Fatalf("binding 1's l2_lookup flow loads %v, not reg3=1 (its connection)", loads)
	}

	const bound = 1 // RegSourceConn after the lookup of a MAC bound behind connection 1
	for _, tc := range []struct {
		name             string
		ingress, source  uint32 // RegIngressConn, RegSourceConn
		wantPass         bool
		wantLearnCookie  uint64 // 0: not learned
		wantLearnLimited bool
	}{
		{"local, unbound", 0, 0, true, LearnedCookie(1), false},
		{"local, claiming site b's bound MAC", 0, bound, false, 0, false},
		{"site b, unbound", 1, 0, true, LearnedConnectionCookie(1), true},
		{"site b, its own bound MAC", 1, bound, true, 0, false},
		{"site c, unbound", 2, 0, true, LearnedConnectionCookie(2), true},
		{"site c, claiming site b's bound MAC", 2, bound, false, 0, false},
	} {
		regs := map[int]uint32{RegNetwork: 1, RegIngressConn: tc.ingress, RegSourceConn: tc.source}
		if tc.ingress != 0 {
			regs[RegFlags] = FlagFromTunnel
		}
		f := firstMatch(t, set, TableLearn, regs)
		instrs := parseInstructions(t, f.Instructions)
		pass := len(instrs) > 0 && instrs[len(instrs)-1].typ == openflow13.InstrType_GOTO_TABLE
		if pass != tc.wantPass {
			t.Errorf("%s: passes %t, want %t (flow %x)", tc.name, pass, tc.wantPass, f.Cookie)
		}
		learns := learnsOf(t, f)
		switch {
		case tc.wantLearnCookie == 0 && len(learns) != 0:
			t.Errorf("%s: learned (cookie %#x), want not learned", tc.name, learns[0].cookie)
		case tc.wantLearnCookie != 0 && (len(learns) != 1 || learns[0].cookie != tc.wantLearnCookie):
			t.Errorf("%s: learns %+v, want one learn with cookie %#x", tc.name, learns, tc.wantLearnCookie)
		case tc.wantLearnCookie != 0 && (learns[0].limit != 0) != tc.wantLearnLimited:
			t.Errorf("%s: learn limit %d, want limited %t", tc.name, learns[0].limit, tc.wantLearnLimited)
		}
	}
}

// TestRemoteLearningIsCappedPerConnection: every connection learns under a
// cookie of its own with the configured limit (OVS counts a learn's limit
// per cookie, so the cap is per network and gateway); local learning is
// per network.
func TestRemoteLearningIsCappedPerConnection(t *testing.T) {
	for _, tc := range []struct {
		limit, want uint32
	}{{0, DefaultLearnLimit}, {7, 7}} {
		in := twoSites()
		in.LearnLimit = tc.limit
		learners := map[Owner]learnOf{}
		for _, f := range mustCompile(t, in) {
			for _, l := range learnsOf(t, f) {
				_, o, _ := DecodeCookie(f.Cookie)
				if _, dup := learners[o]; dup {
					t.Errorf("%s has two learn actions", o)
				}
				learners[o] = l
			}
		}
		for _, n := range in.Networks {
			if l := learners[Owner{Kind: KindNetwork, ID: n.ID}]; l.subtype != openflow13.NXAST_LEARN || l.cookie != LearnedCookie(n.ID) {
				t.Errorf("network %d's local learning: %+v", n.ID, l)
			}
			for _, c := range n.Connections {
				l := learners[Owner{Kind: KindConnection, ID: c.ID}]
				if l.subtype != nxastLearn2 || l.limit != tc.want || l.cookie != LearnedConnectionCookie(c.ID) {
					t.Errorf("LearnLimit %d: connection %d learns with subtype %d, limit %d, cookie %#x; want NXAST_LEARN2, %d, %#x",
						tc.limit, c.ID, l.subtype, l.limit, l.cookie, tc.want, LearnedConnectionCookie(c.ID))
				}
				if tag, o, _ := DecodeCookie(l.cookie); tag != TagLearned || o != (Owner{Kind: KindConnection, ID: c.ID}) {
					t.Errorf("connection %d's learned cookie reads back as tag %x, %s", c.ID, tag, o)
				}
			}
		}
		if len(learners) != 5 { // 2 networks, 3 connections
			t.Errorf("%d flows learn, want 5: %v", len(learners), learners)
		}
	}
}

// regLoads lists f's NXAST_REG_LOADs of whole registers as "regN=value".
func regLoads(t *testing.T, f *Flow) []string {
	t.Helper()
	var out []string
	for _, in := range parseInstructions(t, f.Instructions) {
		for _, a := range in.actions {
			if a.subtype == openflow13.NXAST_REG_LOAD {
				if name, ok := fieldName(binary.BigEndian.Uint32(a.raw[12:])); ok {
					out = append(out, fmt.Sprintf("%s=%d", name, binary.BigEndian.Uint64(a.raw[16:])))
				}
			}
		}
	}
	return out
}

// fieldName names the fields the source lookup and TableL2Lookup write,
// whichever header (NXM or OXM) writes them.
func fieldName(header uint32) (string, bool) {
	for i, h := range hdrRegs {
		if header == h {
			return fmt.Sprintf("reg%d", i), true
		}
	}
	name, ok := map[uint32]string{
		nxmEthDst: "eth_dst", hdrEthDst: "eth_dst",
		nxmTunID: "tun_id", hdrTunnelID: "tun_id",
		nxmTunDst: "tun_dst", hdrTunIPv6D: "tun_ipv6_dst",
	}[header]
	return name, ok
}

// written lists the fields a's action writes (set_field, reg_load,
// move, pop; the load specs of a learn, which the learned flows run).
func written(t *testing.T, a wireAction) []string {
	t.Helper()
	var headers []uint32
	switch {
	case a.typ == openflow13.ActionType_SetField:
		headers = append(headers, binary.BigEndian.Uint32(a.raw[4:]))
	case a.subtype == openflow13.NXAST_REG_LOAD:
		headers = append(headers, binary.BigEndian.Uint32(a.raw[12:]))
	case a.subtype == openflow13.NXAST_REG_MOVE:
		headers = append(headers, binary.BigEndian.Uint32(a.raw[20:]))
	case a.subtype == openflow13.NXAST_STACK_POP:
		headers = append(headers, binary.BigEndian.Uint32(a.raw[12:]))
	case a.subtype == openflow13.NXAST_LEARN || a.subtype == nxastLearn2:
		specs := a.raw[learnFixedLen:]
		if a.subtype == nxastLearn2 {
			specs = a.raw[learn2FixedLen:]
		}
		for len(specs) >= 14 && binary.BigEndian.Uint16(specs) != 0 {
			if binary.BigEndian.Uint16(specs)&learnSpecLoad != 0 {
				headers = append(headers, binary.BigEndian.Uint32(specs[8:]))
			}
			specs = specs[14:]
		}
	}
	var names []string
	for _, h := range headers {
		name, ok := fieldName(h)
		if !ok {
			name = fmt.Sprintf("unknown field %#x", h)
		}
		names = append(names, name)
	}
	return names
}

// TestSourceLookupPutsBackWhatTheLookupOverwrites: the source lookup saves
// and restores (in stack order) or clears everything that it, the
// bindings' flows and the learned flows (the loads of the learn actions)
// write in TableL2Lookup, but RegSourceConn, its result.
func TestSourceLookupPutsBackWhatTheLookupOverwrites(t *testing.T) {
	checkSourceLookupRestores(t, twoSites())
}

// checkSourceLookupRestores fails t when the source lookup compiled from
// in leaves anything the lookup writes but RegSourceConn changed.
func checkSourceLookupRestores(t *testing.T, in *Input) {
	t.Helper()
	set := mustCompile(t, in)
	var lookup *Flow
	clobbered := map[string]bool{}
	for _, f := range set {
		for _, in := range parseInstructions(t, f.Instructions) {
			for _, a := range in.actions {
				switch {
				case f.Table == TableL2Lookup:
					for _, w := range written(t, a) {
						clobbered[w] = true
					}
				case a.subtype == openflow13.NXAST_LEARN || a.subtype == nxastLearn2:
					for _, w := range written(t, a) {
						clobbered[w] = true
					}
				}
			}
		}
		if f.Table == TableSourceLookup {
			lookup = f
		}
	}
	if lookup == nil {
		t.Fatal("no source lookup flow")
	}
	var pushed []string
	restored := map[string]bool{}
	resubmitted := false
	for _, a := range parseInstructions(t, lookup.Instructions)[0].actions {
		switch {
		case a.subtype == openflow13.NXAST_STACK_PUSH:
			name, _ := fieldName(binary.BigEndian.Uint32(a.raw[12:]))
			pushed = append(pushed, name)
		case a.subtype == openflow13.NXAST_STACK_POP:
			name, _ := fieldName(binary.BigEndian.Uint32(a.raw[12:]))
			if len(pushed) == 0 || pushed[len(pushed)-1] != name {
				t.Fatalf("pops %s, but the stack's top is %v", name, pushed)
			}
			pushed = pushed[:len(pushed)-1]
			restored[name] = true
		case a.subtype == openflow13.NXAST_RESUBMIT_TABLE:
			if a.raw[12] != TableL2Lookup {
				t.Fatalf("the source lookup resubmits to %d", a.raw[12])
			}
			resubmitted = true
		case resubmitted && a.subtype == openflow13.NXAST_REG_LOAD && binary.BigEndian.Uint64(a.raw[16:]) == 0:
			name, _ := fieldName(binary.BigEndian.Uint32(a.raw[12:]))
			restored[name] = true
		default:
			for _, w := range written(t, a) {
				clobbered[w] = true
			}
		}
	}
	if len(pushed) != 0 || !resubmitted {
		t.Fatalf("the source lookup leaves %v on the stack, resubmitted %t", pushed, resubmitted)
	}
	if !clobbered["reg3"] || len(clobbered) < 4 {
		t.Fatalf("the lookup writes %v: the test reads fewer writes than the pipeline makes", clobbered)
	}
	for f := range clobbered {
		if !restored[f] && f != fmt.Sprintf("reg%d", RegSourceConn) {
			t.Errorf("the source lookup overwrites %s and does not restore it", f)
		}
	}
}

// Encodings of the actions libOpenflow cannot express, each decoded by
// ovs-ofctl parse-actions OpenFlow13 (OVS 3.1) to the text beside it and
// re-encoded by OVS byte for byte (TestNewActionsRoundTripThroughOVS runs
// that check where OVS is installed).
var ovsEncodings = []struct {
	name string
	got  action
	hex  string
	text string
}{
	{"learn2", learnRemote(9, 300, 4096),
		"ffff007000002320002d012c00000064b20000090000000000001e00000000000000100000000000002000010c04000000010c04000000300000040600000000020600000820000" +
			"13e0400000001400400000840000120080000000120080000081000000002000000010e0400000000",
		"learn(table=30,idle_timeout=300,priority=100,cookie=0xb200000900000000,limit=4096,NXM_NX_REG6[],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[]," +
			"load:NXM_NX_TUN_IPV4_SRC[]->NXM_NX_TUN_IPV4_DST[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],load:NXM_OF_IN_PORT[]->NXM_NX_REG7[0..15])"},
	{"push eth_dst", push(nxmEthDst, 48), "ffff001800002320001b0000000002060030000000000000", "push:NXM_OF_ETH_DST[]"},
	{"push tun_id", push(nxmTunID, 64), "ffff001800002320001b0000000120080040000000000000", "push:NXM_NX_TUN_ID[]"},
	{"pop tun_dst", pop(nxmTunDst, 32), "ffff001800002320001c0000000140040020000000000000", "pop:NXM_NX_TUN_IPV4_DST[]"},
}

func TestNewActionsHaveOVSsEncoding(t *testing.T) {
	for _, tc := range ovsEncodings {
		if got := hex.EncodeToString(tc.got); got != tc.hex {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.hex)
		}
	}
}

// TestNewActionsRoundTripThroughOVS has OVS decode the new actions and the
// whole source lookup: each must read back as intended and re-encode to
// the same bytes (ovs-ofctl prints any byte that differs).
func TestNewActionsRoundTripThroughOVS(t *testing.T) {
	ovstest.Require(t)
	var input, want strings.Builder
	for _, tc := range ovsEncodings {
		fmt.Fprintf(&input, "%x\n", []byte(tc.got))
		fmt.Fprintf(&want, "actions=%s\n\n", tc.text)
	}
	fmt.Fprintf(&input, "%x\n", slices.Concat(sourceLookup(false)...))
	fmt.Fprintf(&want, "actions=push:NXM_OF_ETH_DST[],push:NXM_NX_TUN_ID[],push:NXM_NX_TUN_IPV4_DST[],"+
		"move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],resubmit(,%d),"+
		"pop:NXM_NX_TUN_IPV4_DST[],pop:NXM_NX_TUN_ID[],pop:NXM_OF_ETH_DST[],load:0->NXM_NX_REG7[]\n\n", TableL2Lookup)
	cmd := exec.Command("ovs-ofctl", "parse-actions", "OpenFlow13")
	cmd.Stdin = strings.NewReader(input.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ovs-ofctl parse-actions: %v: %s", err, out)
	}
	if string(out) != want.String() {
		t.Fatalf("ovs-ofctl parse-actions OpenFlow13 says:\n%s\nwant:\n%s", out, want.String())
	}
}
