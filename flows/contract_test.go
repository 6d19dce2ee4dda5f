package flows

import (
	"slices"
	"strings"
	"testing"

	"github.com/contiv/libOpenflow/openflow13"
)

// TestAFlowThatBreaksItsContractIsRefused builds one flow per way a flow can
// break its table's contract: each is refused when it joins a FlowSet, with
// an error that names its table and the field or table at fault.
func TestAFlowThatBreaksItsContractIsRefused(t *testing.T) {
	owner := Owner{Kind: KindNetwork, ID: 1}
	group := action{0, 22, 0, 8, 0, 0, 0, 1} // OFPAT_GROUP 1
	for _, tc := range []struct {
		name string
		f    *Flow
		want []string
	}{
		{"match", flow(TableLearn, 110).match(matchReg(1, 1)).goTo(TableARPResponder).done(owner),
			[]string{"table learn", "matches reg1"}},
		{"masked match", flow(TableEgress, 100).match(tlv(hdrEthSrc, []byte{1, 0, 0, 0, 0, 0}, []byte{1, 0, 0, 0, 0, 0})).done(owner),
			[]string{"table egress", "matches eth_src"}},
		{"register load", flow(TableL2Lookup, 200).apply(loadReg(1, 1)).done(owner),
			[]string{"table l2_lookup", "writes reg1"}},
		{"set_field", flow(TableForward, 100).apply(setField(tlv(hdrEthSrc, make([]byte, 6), nil))).done(owner),
			[]string{"table forward", "writes eth_src"}},
		{"move", flow(TableLearn, 100).apply(move(nxmEthSrc, nxmEthDst, 48)).done(owner),
			[]string{"table learn", "writes eth_dst"}},
		{"pop", flow(TableLearn, 100).apply(pop(nxmTunID, 64)).done(owner),
			[]string{"table learn", "writes tun_id"}},
		{"push_vlan", flow(TableForward, 100).apply(pushVLAN(100)[0]).done(owner),
			[]string{"table forward", "writes vlan_vid"}},
		{"goto backwards", flow(TableSourceLookup, 1).goTo(TableClassifier).done(owner),
			[]string{"table source_lookup", "goes to table classifier"}},
		{"goto not declared", flow(TableLearn, 1).goTo(TableFlood).done(owner),
			[]string{"table learn", "goes to table flood"}},
		{"resubmit", flow(TableForward, 1).apply(resubmit(TableL2Lookup)).done(owner),
			[]string{"table forward", "resubmits to table l2_lookup"}},
		{"learn table", flow(TableClassifier, 1).apply(learnLocal(1, 300)).done(owner),
			[]string{"table classifier", "learns into table l2_lookup"}},
		{"learned match", flow(TableLearn, 100).apply(learnAction(TableL2Lookup, PriorityLearned, 300, 0, LearnedCookie(1),
			learnSpec{src: "NXM_NX_REG6", dst: "NXM_NX_REG2", nBits: 32})).done(owner),
			[]string{"table learn", "learns flows that match reg2"}},
		{"learned load", flow(TableLearn, 100).apply(learnAction(TableL2Lookup, PriorityLearned, 300, 16, LearnedCookie(1),
			learnSpec{src: "NXM_NX_REG6", dst: "NXM_NX_REG6", nBits: 32},
			learnSpec{load: true, src: "NXM_OF_ETH_SRC", dst: "NXM_OF_ETH_SRC", nBits: 48})).done(owner),
			[]string{"table learn", "learns flows that write eth_src"}},
		{"group where groups are not allowed", flow(TableForward, 100).apply(groupAction(GroupID(owner))).done(owner),
			[]string{"table forward", "action 22"}},
		{"group that is not l2gwd's", flow(TableFlood, 100).apply(group).done(owner),
			[]string{"table flood", "not l2gwd's"}},
		{"unknown action", flow(TableFlood, 100).apply(action{0, openflow13.ActionType_SetQueue, 0, 8, 0, 0, 0, 1}).done(owner),
			[]string{"table flood", "action 21"}},
		{"copy to the controller", flow(TableFlood, 100).apply(controllerCopy(SnoopMeter)).done(owner),
			[]string{"table flood", "sends a copy to the controller"}},
		{"unmetered output to the controller", flow(TableSnoop, 100).apply(output(openflow13.P_CONTROLLER)).done(owner),
			[]string{"table snoop", "without a meter"}},
		{"undeclared table", flow(99, 1).done(owner), []string{"table table99"}},
	} {
		err := FlowSet{}.add(tc.f)
		if err == nil {
			t.Errorf("%s: a flow that breaks its contract was added", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v; want it to say %q", tc.name, err, w)
			}
		}
	}
}

// withContracts checks flows against tables instead of Pipeline until t ends.
func withContracts(t *testing.T, tables []Table) {
	t.Helper()
	kept := contracts
	contracts = buildContracts(tables)
	t.Cleanup(func() { contracts = kept })
}

// narrowed returns Pipeline with table id changed by narrow.
func narrowed(id uint8, narrow func(*Table)) []Table {
	tables := slices.Clone(Pipeline)
	for i := range tables {
		if tables[i].ID == id {
			narrow(&tables[i])
		}
	}
	return tables
}

// TestCompilingFailsOnAContractBreach: with a contract narrower than what
// the compiler emits, Compile, CompileTopology and CompileBinding return an
// error naming the table and the field, and no flows.
func TestCompilingFailsOnAContractBreach(t *testing.T) {
	in := twoSites()
	c := &in.Networks[0].Connections[0]

	t.Run("binding loads", func(t *testing.T) {
		withContracts(t, narrowed(TableL2Lookup, func(tb *Table) { tb.Loads = []string{"reg7"} }))
		set, err := Compile(in)
		if err == nil || set != nil || !strings.Contains(err.Error(), "table l2_lookup") || !strings.Contains(err.Error(), "writes reg3") {
			t.Errorf("Compile: %d flows, %v; want an error naming l2_lookup and reg3", len(set), err)
		}
		fs, err := CompileBinding(1, c, in.TunnelPorts, &c.Bindings[0])
		if err == nil || fs != nil || !strings.Contains(err.Error(), "binding/1") || !strings.Contains(err.Error(), "reg3") {
			t.Errorf("CompileBinding: %d flows, %v; want an error naming binding 1 and reg3", len(fs), err)
		}
		if _, err := CompileTopology(in); err != nil {
			t.Errorf("CompileTopology, whose flows keep the narrowed contract: %v", err)
		}
	})
	t.Run("learned flows", func(t *testing.T) {
		withContracts(t, narrowed(TableL2Lookup, func(tb *Table) { tb.Sets = []string{"tun_id"} }))
		set, err := CompileTopology(in)
		if err == nil || set != nil || !strings.Contains(err.Error(), "table learn") || !strings.Contains(err.Error(), "write tun_dst") {
			t.Errorf("CompileTopology: %d flows, %v; want an error naming learn and tun_dst", len(set), err)
		}
	})
	t.Run("matches", func(t *testing.T) {
		withContracts(t, narrowed(TableClassifier, func(tb *Table) { tb.Matches = []string{"in_port", "vlan_vid", "eth_src"} }))
		if _, err := CompileTopology(in); err == nil || !strings.Contains(err.Error(), "table classifier") || !strings.Contains(err.Error(), "matches tun_src") {
			t.Errorf("CompileTopology: %v; want an error naming classifier and tun_src", err)
		}
	})
}

func TestAContractNamingAnUnknownFieldPanicsAtInit(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), `"reg16"`) {
			t.Errorf("recovered %v; want a panic naming reg16", r)
		}
	}()
	buildContracts(narrowed(TableLearn, func(tb *Table) { tb.Matches = append(tb.Matches, "reg16") }))
}
