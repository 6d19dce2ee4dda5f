package simcases

import (
	"net"

	"github.com/contiv/libOpenflow/openflow13"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/flows/flowsim"
)

// Probes are flows that are not l2gw's, each probing one OVS behaviour the
// simulator models (see flowsim's package comment), on a bridge with local
// ports 1 to 4 and the VXLAN port (ProbeConfig): built with libOpenflow, so
// that they owe nothing to l2gw's encoder.
//
//   - from port 1: resubmit(,1), output:2, where table 1 outputs to 3 and
//     goes to table 2, which outputs to 4: a goto_table in a resubmitted
//     flow is followed, inside the resubmit.
//   - from port 2: output:2 (the ingress port: skipped), output:IN_PORT,
//     output:3.
//   - from port 3: tun_dst, tun_ipv6_dst and tun_id set, output:VXLAN;
//     tun_dst cleared, output:VXLAN: a tunnel copy goes to tun_dst unless
//     it is 0.0.0.0.
//   - from port 4: learn a flow in table 3 that loads the source's port into
//     reg0 for frames to the source MAC, resubmit(,3), then resubmit(,4),
//     where reg0=4 outputs to 1 and anything else to 2: the learned flow is
//     not seen by the packet that learned it, only by later ones, and
//     registers start at zero for every packet.
func Probes() flows.FlowSet {
	set := flows.FlowSet{}
	add := func(f *flows.Flow) { set[f.Cookie] = f }
	// learn(table=3,priority=5,cookie=ProbeLearnCookie,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],
	// load:NXM_OF_IN_PORT[]->NXM_NX_REG0[0..15])
	learn := openflow13.NewNXActionLearn()
	learn.TableID, learn.Priority, learn.Cookie = 3, 5, ProbeLearnCookie
	header := func(name string) *openflow13.NXLearnSpecField {
		f, err := openflow13.FindFieldHeaderByName(name, false)
		if err != nil {
			panic(err)
		}
		return &openflow13.NXLearnSpecField{Field: f}
	}
	learn.LearnSpecs = []*openflow13.NXLearnSpec{
		{Header: openflow13.NewLearnHeaderMatchFromField(48), SrcField: header("NXM_OF_ETH_SRC"), DstField: header("NXM_OF_ETH_DST")},
		{Header: openflow13.NewLearnHeaderLoadFromField(16), SrcField: header("NXM_OF_IN_PORT"), DstField: header("NXM_NX_REG0")},
	}
	learn.Length = learn.Len()
	reg0 := openflow13.NewRegMatchField(0, 4, nil)
	for i, f := range []struct {
		table   uint8
		in      uint32
		match   []*openflow13.MatchField
		actions []openflow13.Action
		next    int
	}{
		{0, 1, nil, []openflow13.Action{openflow13.NewNXActionResubmitTableAction(openflow13.OFPP_IN_PORT, 1), openflow13.NewActionOutput(2)}, -1},
		{1, 0, nil, []openflow13.Action{openflow13.NewActionOutput(3)}, 2},
		{2, 0, nil, []openflow13.Action{openflow13.NewActionOutput(4)}, -1},
		{0, 2, nil, []openflow13.Action{openflow13.NewActionOutput(2), openflow13.NewActionOutput(openflow13.P_IN_PORT), openflow13.NewActionOutput(3)}, -1},
		{0, 3, nil, []openflow13.Action{
			openflow13.NewActionSetField(*openflow13.NewTunnelIpv4DstField(net.IP(SiteB.AsSlice()), nil)),
			openflow13.NewActionSetField(*openflow13.NewTunnelIpv6DstField(net.IP(Site6.AsSlice()), nil)),
			openflow13.NewActionSetField(*openflow13.NewTunnelIdField(ProbeKey)),
			openflow13.NewActionOutput(VXLAN),
			openflow13.NewActionSetField(*openflow13.NewTunnelIpv4DstField(net.IPv4zero.To4(), nil)),
			openflow13.NewActionOutput(VXLAN),
		}, -1},
		{0, 4, nil, []openflow13.Action{learn, openflow13.NewNXActionResubmitTableAction(openflow13.OFPP_IN_PORT, 3),
			openflow13.NewNXActionResubmitTableAction(openflow13.OFPP_IN_PORT, 4)}, -1},
		{3, 0, nil, nil, -1},
		{4, 0, []*openflow13.MatchField{reg0}, []openflow13.Action{openflow13.NewActionOutput(1)}, -1},
		{4, 0, nil, []openflow13.Action{openflow13.NewActionOutput(2)}, -1},
	} {
		var match []*openflow13.MatchField
		if f.in != 0 {
			match = append(match, openflow13.NewInPortField(f.in))
		}
		match = append(match, f.match...)
		priority := uint16(1)
		if len(match) > 0 {
			priority = 10
		}
		add(Flow(f.table, priority, probeCookie|uint64(i+1), match, f.actions, f.next))
	}
	return set
}

// Cookies and the tunnel key of the probes.
const (
	probeCookie      = 0x5000000000000000
	ProbeLearnCookie = 0x5100000000000000
	ProbeKey         = 77
)

// ProbeConfig is the probes' bridge, installing what it learns.
func ProbeConfig() flowsim.Config {
	return flowsim.Config{TunnelPorts: map[string]uint32{"vxlan": VXLAN}, InstallLearned: true}
}

// ProbeCases are the probes' packets, in order.
func ProbeCases() []Case {
	f := flowsim.Ethernet(host(100, 1), host(100, 2))
	learner, learned := host(101, 1), host(101, 2)
	return []Case{
		{Name: "a goto_table in a resubmitted flow is followed inside the resubmit",
			Packet: flowsim.FromPort(1, f), Outputs: []flowsim.Output{out(3, f), out(4, f), out(2, f)}},
		{Name: "output to the ingress port is skipped, output to IN_PORT is not",
			Packet: flowsim.FromPort(2, f), Outputs: []flowsim.Output{out(2, f), out(3, f)}},
		{Name: "a tunnel copy goes to tun_dst, unless it is 0.0.0.0, then to tun_ipv6_dst",
			Packet:  flowsim.FromPort(3, f),
			Outputs: []flowsim.Output{tunnel("vxlan", VXLAN, SiteB, ProbeKey, f), tunnel("vxlan", VXLAN, Site6, ProbeKey, f)}},
		{Name: "a learned flow is not seen by the packet that learned it",
			Packet: flowsim.FromPort(4, flowsim.Ethernet(learner, learner)), Outputs: []flowsim.Output{out(2, flowsim.Ethernet(learner, learner))},
			Learned: []Learn{{ProbeLearnCookie, learner, true}}},
		{Name: "a learned flow is seen by the next packet, which learns too",
			Packet: flowsim.FromPort(4, flowsim.Ethernet(learned, learner)), Outputs: []flowsim.Output{out(1, flowsim.Ethernet(learned, learner))},
			Learned: []Learn{{ProbeLearnCookie, learned, true}}},
	}
}

// Flow is a flow encoded by libOpenflow: its match fields, one
// apply-actions instruction with actions (none when empty), goto_table next
// (none when -1).
func Flow(table uint8, priority uint16, cookie uint64, match []*openflow13.MatchField, actions []openflow13.Action, next int) *flows.Flow {
	m := openflow13.NewMatch()
	for _, f := range match {
		m.AddField(*f)
	}
	wire, err := m.MarshalBinary()
	if err != nil {
		panic(err)
	}
	f := &flows.Flow{Cookie: cookie, Table: table, Priority: priority, Match: wire}
	if len(actions) > 0 {
		apply := openflow13.NewInstrApplyActions()
		for _, a := range actions {
			apply.AddAction(a, false)
		}
		f.Instructions = append(f.Instructions, marshal(apply)...)
	}
	if next >= 0 {
		f.Instructions = append(f.Instructions, marshal(openflow13.NewInstrGotoTable(uint8(next)))...)
	}
	return f
}

func marshal(m interface{ MarshalBinary() ([]byte, error) }) []byte {
	b, err := m.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}
