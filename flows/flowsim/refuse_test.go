package flowsim_test

import (
	"net"
	"strings"
	"testing"

	"github.com/contiv/libOpenflow/openflow13"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/flows/flowsim"
	"github.com/l2gw/l2gw/flows/internal/simcases"
)

// flowSet makes a FlowSet of fs.
func flowSet(fs ...*flows.Flow) flows.FlowSet {
	set := flows.FlowSet{}
	for _, f := range fs {
		set[f.Cookie] = f
	}
	return set
}

func inPort(p uint32) []*openflow13.MatchField {
	return []*openflow13.MatchField{openflow13.NewInPortField(p)}
}

func acts(a ...openflow13.Action) []openflow13.Action { return a }

// TestFlowsOVSWouldRefuseOrTheSimulatorCannotModelAreRefused: New fails,
// naming the flow, on flows OVS refuses to add and on anything the
// simulator does not model, rather than guessing.
func TestFlowsOVSWouldRefuseOrTheSimulatorCannotModelAreRefused(t *testing.T) {
	arpTPA := openflow13.NewArpTpaField(net.ParseIP("192.0.2.21").To4())
	sha := openflow13.NewActionSetField(*openflow13.NewArpShaField(net.HardwareAddr{2, 0, 0, 0, 0, 1}))
	vid := openflow13.NewActionSetField(*openflow13.NewVlanIdField(100, nil))
	writeActions := simcases.Flow(0, 1, 7, nil, acts(openflow13.NewActionOutput(1)), -1)
	writeActions.Instructions[1] = openflow13.InstrType_WRITE_ACTIONS
	ipv4 := []*openflow13.MatchField{openflow13.NewEthTypeField(0x0800), openflow13.NewIpv4SrcField(net.ParseIP("192.0.2.1").To4(), nil)}
	for _, tc := range []struct {
		name string
		set  flows.FlowSet
		want string
	}{
		{"a match field before its prerequisites", flowSet(simcases.Flow(0, 1, 7, []*openflow13.MatchField{arpTPA}, nil, -1)),
			"arp_tpa without its prerequisites"},
		{"a match field the simulator does not know", flowSet(simcases.Flow(0, 1, 7, ipv4, nil, -1)),
			"not one the simulator knows"},
		{"set_field without its prerequisites in the match", flowSet(simcases.Flow(0, 1, 7, inPort(1), acts(sha), -1)),
			"arp_sha without its prerequisites"},
		{"set_field of vlan_vid without a tag", flowSet(simcases.Flow(0, 1, 7, inPort(1), acts(vid), -1)),
			"vlan_vid on a frame without a tag"},
		{"goto to an earlier table", flowSet(simcases.Flow(5, 1, 7, nil, nil, 2)), "only goes to later tables"},
		{"an action l2gw does not use", flowSet(simcases.Flow(0, 1, 7, nil, acts(openflow13.NewActionGroup(1)), -1)),
			"action type 22"},
		{"an instruction l2gw does not use", flowSet(writeActions), "instruction 3"},
		{"two flows of one table, priority and match",
			flowSet(simcases.Flow(0, 1, 7, inPort(1), acts(openflow13.NewActionOutput(2)), -1),
				simcases.Flow(0, 1, 8, inPort(1), acts(openflow13.NewActionOutput(3)), -1)),
			"flows 0x7 and 0x8 have the same table, priority and match"},
	} {
		_, err := flowsim.New(tc.set, flowsim.Config{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New: %v; want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// TestPacketsTheSimulatorCannotDecideFail: Run fails on what OVS would do
// unpredictably or what l2gw's flows never rely on.
func TestPacketsTheSimulatorCannotDecideFail(t *testing.T) {
	// pop:NXM_NX_REG0[] (nx_action_stack), which libOpenflow cannot encode.
	popReg0 := simcases.Flow(0, 1, 7, nil, nil, -1)
	popReg0.Instructions = []byte{0, openflow13.InstrType_APPLY_ACTIONS, 0, 32, 0, 0, 0, 0,
		0xff, 0xff, 0, 24, 0, 0, 0x23, 0x20, 0, openflow13.NXAST_STACK_POP, 0, 0, 0, 1, 0, 4, 0, 32, 0, 0, 0, 0, 0, 0}
	f := flowsim.Frame{EthSrc: flowsim.MustMAC("02:0a:00:00:00:01"), EthDst: flowsim.Broadcast, EthType: 0x88b5}
	tagged := f
	tagged.VLAN = 100
	for _, tc := range []struct {
		name string
		set  flows.FlowSet
		p    flowsim.Packet
		want string
	}{
		{"two flows of equal priority match",
			flowSet(simcases.Flow(0, 5, 7, inPort(1), acts(openflow13.NewActionOutput(2)), -1),
				simcases.Flow(0, 5, 8, []*openflow13.MatchField{openflow13.NewEthDstField(net.HardwareAddr(flowsim.Broadcast[:]), nil)}, acts(openflow13.NewActionOutput(3)), -1)),
			flowsim.FromPort(1, f), "both match at priority 5: OVS would pick either"},
		{"a pop from an empty stack",
			flowSet(popReg0), flowsim.FromPort(1, f), "empty stack"},
		{"push_vlan onto a tagged frame",
			flowSet(simcases.Flow(0, 1, 7, nil, acts(openflow13.NewActionPushVlan(0x8100)), -1)), flowsim.FromPort(1, tagged), "onto a tagged frame"},
		{"a tunnel output without a destination",
			flowSet(simcases.Flow(0, 1, 7, nil, acts(openflow13.NewActionOutput(10)), -1)), flowsim.FromPort(1, f), "without a tunnel destination"},
	} {
		sw, err := flowsim.New(tc.set, flowsim.Config{TunnelPorts: map[string]uint32{"vxlan": 10}})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if v, err := sw.Run(tc.p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Run: %v, %v; want an error saying %q", tc.name, v, err, tc.want)
		}
	}
}
