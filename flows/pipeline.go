package flows

import "fmt"

// The pipeline, one table per stage. A packet from a local attachment or a
// tunnel walks these tables in order; every table's contract (what it
// matches, what it writes, where it may go next, what happens on a miss) is
// declared in Pipeline and checked against every flow when it is built
// (contract.go): a flow that breaks it makes compiling fail.
//
//	Classifier ─▶ SourceLookup ─▶ Learn ─▶ ARPResponder ─┬─▶ ReplyToIngress  (ARP answered in OVS)
//	                                │                    ├─▶ NDAdvertise ─▶ ReplyToIngress  (IPv6 ND answered)
//	                                │                    └─ resubmit L2Lookup ─▶ Forward ─┬─▶ Egress  (known MAC)
//	                                │                                                     └─▶ Flood   (broadcast / unknown)
//	                                └─ resubmit Snoop  (a metered copy of a local host's ARP/ND to l2gwd, when snooping)
//
// Static bindings are pinned. A source MAC statically bound behind one
// gateway is never learned: no learned entry for it waits to take over
// when the binding goes, and it spends no gateway's learn limit. A frame
// with that source arriving from anywhere but the binding's own connection
// (another gateway, a local port) is dropped in TableLearn rather than
// forwarded unlearned: forwarding would deliver a forged sender to this
// site's hosts, and a locally forged one would be flooded to every remote
// site, whose learning would move the MAC there (a gateway learns tunnel
// sources at the priority of its local ones). A binding is the operator's
// word on where a MAC lives; a frame that contradicts it is a spoof or a
// misconfiguration, and moving the MAC means changing the binding.
const (
	// TableClassifier admits a packet into a network: a local attachment
	// (port, VLAN) or a tunnel (remote gateway IP, segmentation ID) of a
	// known connection. It loads the network ID into RegNetwork and, for
	// tunnel ingress, sets RegFlags and loads the connection into
	// RegIngressConn; anything else is dropped. On a standby gateway of
	// an HA pair, the HA gate (gate.go) comes first: a flow above every
	// other sends the packet to the gate's group, which drops it while
	// the HA peer is heard, and otherwise marks it passed (RegGate) and
	// resubmits it here, the only resubmit to this table.
	TableClassifier uint8 = 0
	// TableSourceLookup looks the packet's source MAC up among its
	// network's static bindings: it resubmits to TableL2Lookup with the
	// source in the destination's place, where a binding's flow loads its
	// connection into RegSourceConn. It then restores the destination, the
	// tunnel metadata and RegOutPort the lookup overwrote.
	TableSourceLookup uint8 = 5
	// TableLearn learns the source MAC into TableL2Lookup: toward the
	// ingress port for local traffic, toward the sending gateway (its IP
	// and segmentation ID) for tunnel traffic, at most the connection's
	// learn limit per gateway. A statically bound source is not learned:
	// it passes when it came from its binding's own connection, and is
	// dropped (the table's miss) when it came from anywhere else.
	TableLearn uint8 = 10
	// TableSnoop sends the controller a copy of the ARP and neighbour
	// discovery messages in which a local host announces its own address,
	// through SnoopMeter (snoop.go). Only entered by resubmit from a
	// network's local learning flow, and only when Input.SnoopHosts: it
	// changes nothing of the packet, which goes on as it came.
	TableSnoop uint8 = 15
	// TableARPResponder answers ARP requests for bound IPv4 addresses of
	// the packet's network from local attachments, in OVS, and hands
	// neighbour solicitations for bound IPv6 addresses to TableNDAdvertise.
	// Everything else (duplicate address detection included) looks up its
	// destination (resubmit to TableL2Lookup) and goes on to TableForward.
	TableARPResponder uint8 = 20
	// TableNDAdvertise turns a neighbour solicitation whose answer
	// TableARPResponder chose into the neighbour advertisement (see
	// nd.go): a solicitation flow rewrites it and resubmits it to this
	// table, where an advertisement flow fills in the target link-layer
	// address. Only entered from TableARPResponder and from itself.
	TableNDAdvertise uint8 = 25
	// TableL2Lookup maps (network, destination MAC) to an output: a static
	// binding (tunnel to its gateway) or a learned entry. It is only
	// entered by resubmit and only loads RegOutPort, tunnel fields and,
	// for a static binding, RegSourceConn (read by TableLearn only).
	TableL2Lookup uint8 = 30
	// TableForward sends a packet with a known output to TableEgress and
	// one without to TableFlood; it drops tunnel-to-tunnel unicast (split
	// horizon).
	TableForward uint8 = 40
	// TableFlood replicates broadcast and unknown traffic: from a local
	// attachment to the network's other attachments and to every flooding
	// connection (head-end replication; to a gateway of several
	// endpoints through its failover group, see failover.go); from a
	// tunnel to local attachments only.
	TableFlood uint8 = 50
	// TableEgress outputs a packet to RegOutPort, pushing the attachment's
	// VLAN when it is tagged; unicast into a tunnel toward an endpoint of
	// a gateway of several (tun_dst, tun_id) goes to that gateway's
	// failover group (failover.go), whose buckets set tun_dst.
	TableEgress uint8 = 60
	// TableReplyToIngress sends a packet (an ARP reply built in
	// TableARPResponder) back out its ingress port, re-pushing the
	// ingress attachment's VLAN.
	TableReplyToIngress uint8 = 70
)

// Table is the contract of one pipeline table. Fields are named as
// ovs-ofctl names them (reg0-reg15 for the registers).
type Table struct {
	ID   uint8
	Name string
	// Matches lists the fields its flows may match.
	Matches []string
	// Loads lists the registers its flows may write (reg_load, move, pop
	// or set_field into a register).
	Loads []string
	// Sets lists the other fields its flows may write (set_field, move,
	// pop; vlan_vid also by push_vlan and pop_vlan).
	Sets []string
	// Next lists the tables its flows may go to (goto_table).
	Next []uint8
	// Resubmits lists the tables its flows may resubmit to.
	Resubmits []uint8
	// Learns lists the tables its flows' learn actions may add flows to;
	// a learned flow keeps the contract of the table it is added to.
	Learns []uint8
	// Controller says its flows may send copies of packets to the
	// controller (through a meter: see snoop.go).
	Controller bool
	// Groups says its flows may send packets to groups, l2gwd's only
	// (GroupID). The buckets of those groups keep this table's contract
	// too (CompileGroups checks them), except that they may also
	// resubmit to BucketResubmits.
	Groups bool
	// BucketResubmits lists the tables the buckets of its flows' groups
	// may resubmit to, on top of Resubmits; its flows may not.
	BucketResubmits []uint8
	// Miss says what a packet that matches no l2gw flow meets.
	Miss string
}

// Pipeline declares every table of the data path, in packet order. It is
// read once, when the package is initialised, to check built flows: it must
// not be changed afterwards.
var Pipeline = []Table{
	{ID: TableClassifier, Name: "classifier",
		Matches: []string{"in_port", "vlan_vid", "tun_src", "tun_ipv6_src", "tun_id", "eth_src", "reg8"},
		Loads:   []string{"reg4", "reg5", "reg6", "reg8"}, Sets: []string{"vlan_vid"},
		Next: []uint8{TableSourceLookup}, Groups: true, BucketResubmits: []uint8{TableClassifier}, Miss: "drop"},
	{ID: TableSourceLookup, Name: "source_lookup",
		Loads: []string{"reg7"}, Sets: []string{"eth_dst", "tun_id", "tun_dst", "tun_ipv6_dst"},
		Next: []uint8{TableLearn}, Resubmits: []uint8{TableL2Lookup}, Miss: "look the source up and learn"},
	{ID: TableLearn, Name: "learn",
		Matches: []string{"reg6", "reg5", "reg4", "reg3", "reg2"},
		Next:    []uint8{TableARPResponder}, Learns: []uint8{TableL2Lookup}, Resubmits: []uint8{TableSnoop},
		Miss: "drop (a bound source from elsewhere)"},
	{ID: TableSnoop, Name: "snoop",
		Matches:    []string{"eth_type", "arp_op", "ip_proto", "icmpv6_type", "ipv6_src", "nd_sll", "nd_tll"},
		Controller: true, Miss: "no copy"},
	{ID: TableARPResponder, Name: "arp_responder",
		Matches: []string{"reg6", "reg5", "eth_type", "arp_op", "arp_tpa",
			"ip_proto", "icmpv6_type", "ipv6_src", "nd_target"},
		Sets:      []string{"eth_dst", "eth_src", "arp_op", "arp_sha", "arp_spa", "arp_tha", "arp_tpa"},
		Next:      []uint8{TableNDAdvertise, TableForward, TableReplyToIngress},
		Resubmits: []uint8{TableL2Lookup}, Miss: "lookup and forward"},
	{ID: TableNDAdvertise, Name: "nd_advertise",
		Matches:   []string{"eth_type", "ip_proto", "icmpv6_type"},
		Sets:      []string{"ipv6_src", "ipv6_dst", "icmpv6_type", "nd_reserved", "nd_options_type", "nd_tll"},
		Next:      []uint8{TableReplyToIngress},
		Resubmits: []uint8{TableNDAdvertise}, Miss: "drop"},
	{ID: TableL2Lookup, Name: "l2_lookup",
		Matches: []string{"reg6", "eth_dst"},
		Loads:   []string{"reg2", "reg3", "reg7"}, Sets: []string{"tun_dst", "tun_ipv6_dst", "tun_id"},
		Miss: "no output (flood)"},
	{ID: TableForward, Name: "forward",
		Matches: []string{"reg5", "reg7"},
		Next:    []uint8{TableFlood, TableEgress}, Miss: "egress"},
	{ID: TableFlood, Name: "flood",
		Matches: []string{"reg6", "reg5"}, Sets: []string{"vlan_vid", "tun_dst", "tun_ipv6_dst", "tun_id"},
		Groups: true, Miss: "drop"},
	{ID: TableEgress, Name: "egress",
		Matches: []string{"reg6", "reg7", "tun_dst", "tun_ipv6_dst", "tun_id"},
		Sets:    []string{"vlan_vid", "tun_dst", "tun_ipv6_dst"}, Groups: true, Miss: "drop"},
	{ID: TableReplyToIngress, Name: "reply_to_ingress",
		Matches: []string{"reg6", "in_port"}, Sets: []string{"vlan_vid"}, Miss: "drop"},
}

// TableByID returns the contract of table id.
func TableByID(id uint8) (Table, bool) {
	for _, t := range Pipeline {
		if t.ID == id {
			return t, true
		}
	}
	return Table{}, false
}

// TableName returns the name of table id, or its number when it is not part
// of the pipeline.
func TableName(id uint8) string {
	if t, ok := TableByID(id); ok {
		return t.Name
	}
	return fmt.Sprintf("table%d", id)
}
