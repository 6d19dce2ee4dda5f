// Package flowsim simulates the OpenFlow tables of an Open vSwitch bridge
// running l2gw's flows, so that tests can state forwarding outcomes: give a
// Switch a flows.FlowSet and a Packet (where it enters, its frame) and it
// answers with a Verdict: where each copy goes (port; tunnel remote and
// key; the VLAN pushed), what an ARP request or neighbour solicitation was
// answered with, what was learned, and every (table, priority, cookie) met.
//
// It decodes each flow's wire encoding (Flow.Match and Flow.Instructions),
// so it tests what is sent to the switch, and it models exactly the
// matches, actions and instructions l2gw emits: OXM and NXM match fields
// (Ericsson's nd_reserved and nd_options_type included), apply-actions and
// goto_table, output, push_vlan/pop_vlan, set_field, reg_load, move,
// stack push/pop, resubmit(,TABLE), learn (NXAST_LEARN and NXAST_LEARN2
// with its limit) and controller(meter_id=M), whose copies a Verdict lists
// apart from the outputs (the meter is named, never run). Anything else
// fails loudly, when the flows are loaded or
// when a packet meets it, rather than being guessed at. The registers are
// the 16 of OVS; IPv4 headers and transport ports are not modelled.
//
// The semantics are OVS 3.1's, as read in its source
// (ofproto/ofproto-dpif-xlate.c, lib/ofp-actions.c, lib/meta-flow.c,
// ofproto/ofproto.c) and checked against ofproto/trace by
// flows.TestSimulatorAgreesWithOVS:
//
//   - A table runs the matching flow of highest priority; two matching flows
//     of equal priority are an error (OVS picks either). A miss in the
//     pipeline drops the packet; in a resubmit it does nothing.
//   - Registers and the NX stack start empty for every packet and the stack
//     is shared by every table the packet meets.
//   - resubmit(,T) runs table T's flow in place, then the actions after it.
//     A goto_table in the resubmitted flow is not ignored: OVS continues in
//     the goto table, still inside the resubmit, before coming back
//     (do_xlate_actions runs OFPACT_GOTO_TABLE as a nested table lookup).
//   - output:P to the port the packet came in by sends nothing ("skipping
//     output to input port"); output:IN_PORT sends it back there.
//   - A copy sent to a flow-based tunnel port goes to tun_dst when it is not
//     0.0.0.0, else to tun_ipv6_dst (flow_tnl_dst), with key tun_id.
//   - set_field, move and stack actions need their fields' prerequisites in
//     the flow's match, and set_field of vlan_vid a tag (OVS refuses such a
//     flow); a packet that lacks the field makes OVS skip the action, which
//     the simulator refuses as an error since l2gw's flows never rely on it.
//   - A learn action's flow is recorded in the Verdict; with
//     Config.InstallLearned it is added (replacing one of the same table,
//     priority and match) unless its table holds Limit flows with its cookie
//     already, and later packets see it, not the one that learned it.
//     Timeouts are recorded, never run: a learned flow stays.
//
// Frames are OVS's view of them: Frame.IPv6.NDSLL and NDTLL are the source
// and target link-layer address options, as ofproto/trace's flows show.
//
// It never touches a real switch.
package flowsim
