package flows

import (
	"fmt"
	"net"
	"slices"
	"sort"
)

// Input is everything the data path depends on: the desired state with the
// numbers (IDs, ofports) the switch needs. It is built by the app package.
type Input struct {
	Networks []Network
	// TunnelPorts maps a network type ("vxlan", "gre", "geneve") to the
	// ofport of its flow-based tunnel port; a type missing here has no port
	// yet, and its connections get no flows until it appears.
	TunnelPorts map[string]uint32
	// LearnIdleTimeout is how long (seconds) learned MACs live without
	// traffic; 0 means DefaultLearnIdleTimeout.
	LearnIdleTimeout uint16
	// LearnLimit is how many MACs each connection's gateway may have
	// learned in its network at once; 0 means DefaultLearnLimit. There is
	// deliberately no "unlimited": a remote site must never be able to
	// grow this switch's tables without bound.
	LearnLimit uint32
	// Dynamic says dynamic origins may tell remote MACs (Binding.Origin):
	// the pipeline then keeps tunnels from teaching the switch what an
	// origin already says (see remoteSourcePass). It is the daemon's
	// configuration, not whether some origin has told anything yet, so
	// that the pipeline's flows do not change while origins re-tell
	// their state after a restart.
	Dynamic bool
	// SnoopHosts sends l2gwd a metered copy of the ARP and neighbour
	// discovery messages local hosts announce their own addresses in
	// (TableSnoop, snoop.go), for BGP EVPN's MAC+IP routes. It needs the
	// session to install SnoopMeter (Session.SnoopHosts) before these
	// flows. Without it the pipeline sends the controller nothing.
	SnoopHosts bool
	// BFDPorts maps an endpoint of a remote gateway to the ofport of the
	// per-remote BFD port toward it (ovsdb.BFDPorts' OFPort); an endpoint
	// missing here has no BFD port yet. Only the endpoints of gateways
	// with several (Connection.RemoteIPs) are read: their fast-failover
	// groups watch these ports (failover.go).
	BFDPorts map[Endpoint]uint32
	// Gate, when not nil, is the HA gate of a standby gateway (gate.go):
	// the pipeline forwards nothing while the HA peer is heard. Without
	// it the pipeline has no gate.
	Gate *Gate
}

// Network is a local L2 segment.
type Network struct {
	ID          uint32
	Attachments []Attachment
	Connections []Connection
}

// Attachment is a bridge port carrying a network: untagged when VLAN is 0.
// An attachment whose port has no ofport yet is left out of Input.
type Attachment struct {
	OFPort uint32
	VLAN   uint16
}

// Connection joins a network to a remote tunnel endpoint on one
// segmentation ID: a connection of the API to a remote gateway, or one a
// dynamic origin named (its flows carry Origin's tag).
type Connection struct {
	ID          uint32
	Origin      Origin
	NetworkType string
	RemoteIP    net.IP // the remote tunnel endpoint, IPv4 or IPv6 (RemoteIPs[0] when RemoteIPs is set)
	// RemoteIPs are every tunnel endpoint of the remote gateway, in order
	// of preference, all of RemoteIP's family, RemoteIP first. A gateway
	// with more than one is reached through a fast-failover group over
	// its endpoints (failover.go); with none or one, it is RemoteIP alone.
	RemoteIPs      []net.IP
	SegmentationID uint32
	Flood          bool
	Bindings       []Binding
}

// Binding is a MAC behind a connection's remote endpoint, with the IPv4
// addresses whose ARP requests and the IPv6 addresses whose neighbour
// solicitations OVS answers for it. A static binding (Origin static) is
// pinned: its MAC is accepted as a source only from its connection. A
// remote MAC of a dynamic origin is not: a local host with that MAC is
// learned (a MAC that moved here is seen, and its origin told), and it is
// never learned from a tunnel, since the origin says where it is.
type Binding struct {
	ID     uint32
	Origin Origin
	MAC    [6]byte
	IPv4   []net.IP
	IPv6   []net.IP
}

// FlowSet is a set of flows keyed by cookie.
type FlowSet map[uint64]*Flow

// maxFlowModLen is the largest flow_mod that can be sent: every flow_mod
// goes to the switch inside a bundle add, which must fit one OpenFlow
// message itself.
const maxFlowModLen = MaxMessageLen - bundleAddHeaderLen

// add puts f in the set, or fails when f breaks its table's contract or
// cannot be sent (maxFlowModLen).
// Two different flows with the same cookie (a 32-bit
// content-hash collision within one owner) would make the set ambiguous:
// the later one's hash is bumped until it is free, in compile order.
func (s FlowSet) add(f *Flow) error {
	if err := f.breach.err(f); err != nil {
		return err
	}
	if n := f.WireLen(); n > maxFlowModLen {
		_, o, _ := DecodeCookie(f.Cookie)
		return fmt.Errorf("a flow of %s in table %s is %d bytes, over the %d a flow_mod may have in a bundle add", o, TableName(f.Table), n, maxFlowModLen)
	}
	for {
		if _, taken := s[f.Cookie]; !taken {
			s[f.Cookie] = f
			return nil
		}
		f.setCookie(f.Cookie&^0xFFFFFFFF | uint64(uint32(f.Cookie)+1))
	}
}

func (s FlowSet) addAll(fs []*Flow) error {
	for _, f := range fs {
		if err := s.add(f); err != nil {
			return err
		}
	}
	return nil
}

// Sorted returns the flows ordered by table, priority (high first) and cookie.
func (s FlowSet) Sorted() []*Flow {
	out := make([]*Flow, 0, len(s))
	for _, f := range s {
		out = append(out, f)
	}
	sortFlows(out)
	return out
}

func sortFlows(fs []*Flow) {
	sort.Slice(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		return a.Cookie < b.Cookie
	})
}

// Compile computes every flow the desired state needs: CompileTopology and
// every binding's CompileBinding. It is a pure function: the same Input
// always gives the same FlowSet. Like them, it fails when a flow it builds
// breaks its table's contract (contract.go), a programming error its error
// names by table and field.
func Compile(in *Input) (FlowSet, error) {
	set, err := CompileTopology(in)
	if err != nil {
		return nil, err
	}
	for i := range in.Networks {
		n := &in.Networks[i]
		for j := range n.Connections {
			c := &n.Connections[j]
			for k := range c.Bindings {
				fs, err := CompileBinding(n.ID, c, in.TunnelPorts, &c.Bindings[k])
				if err != nil {
					return nil, err
				}
				if err := set.addAll(fs); err != nil {
					return nil, err
				}
			}
		}
	}
	return set, nil
}

// CompileTopology computes the flows of the pipeline, the networks and the
// connections: everything but the bindings (Connection.Bindings is not
// read). A topology has few flows, so a change to it is recompiled whole.
func CompileTopology(in *Input) (FlowSet, error) {
	set := FlowSet{}
	if err := set.addAll(pipelineFlows(in)); err != nil {
		return nil, err
	}
	idle := in.LearnIdleTimeout
	if idle == 0 {
		idle = DefaultLearnIdleTimeout
	}
	limit := in.LearnLimit
	if limit == 0 {
		limit = DefaultLearnLimit
	}
	for i := range in.Networks {
		n := &in.Networks[i]
		if n.ID == 0 || n.ID > MaxOwnerID {
			return nil, fmt.Errorf("network ID %d out of range 1..%d", n.ID, MaxOwnerID)
		}
		if err := set.addAll(networkFlows(n, in.TunnelPorts, idle, in.SnoopHosts)); err != nil {
			return nil, fmt.Errorf("network %d: %w", n.ID, err)
		}
		for j := range n.Connections {
			c := &n.Connections[j]
			port, ok := in.TunnelPorts[c.NetworkType]
			if !ok {
				continue
			}
			if err := checkRemoteIP(c); err != nil {
				return nil, err
			}
			if c.ID == 0 || c.ID > MaxOwnerID {
				return nil, fmt.Errorf("connection ID %d out of range 1..%d", c.ID, MaxOwnerID)
			}
			if err := set.addAll(connectionFlows(n.ID, c, port, idle, limit)); err != nil {
				return nil, err
			}
		}
	}
	return set, nil
}

// CompileBinding computes one binding's flows in network networkID through
// connection c (whose Bindings are not read), with distinct cookies. It
// returns no flow while c's tunnel port does not exist.
func CompileBinding(networkID uint32, c *Connection, tunnelPorts map[string]uint32, b *Binding) ([]*Flow, error) {
	port, ok := tunnelPorts[c.NetworkType]
	if !ok {
		return nil, nil
	}
	if err := checkRemoteIP(c); err != nil {
		return nil, err
	}
	if b.ID == 0 || b.ID > MaxOwnerID {
		return nil, fmt.Errorf("binding ID %d out of range 1..%d", b.ID, MaxOwnerID)
	}
	fs := bindingFlows(networkID, c, port, b)
	for i, f := range fs {
		if err := f.breach.err(f); err != nil {
			return nil, err
		}
		if n := f.WireLen(); n > maxFlowModLen {
			return nil, fmt.Errorf("a flow of binding %d is %d bytes, over the %d a flow_mod may have in a bundle add", b.ID, n, maxFlowModLen)
		}
		// A content-hash collision within the binding: bump, in order.
		for slices.ContainsFunc(fs[:i], func(g *Flow) bool { return g.Cookie == f.Cookie }) {
			f.setCookie(f.Cookie&^0xFFFFFFFF | uint64(uint32(f.Cookie)+1))
		}
	}
	return fs, nil
}

// pipelineFlows are the fixed flows: table misses, the source lookup and
// per-tunnel-port forwarding.
func pipelineFlows(in *Input) []*Flow {
	pipeline := Owner{Kind: KindPipeline}
	fs := []*Flow{
		// Frames with a multicast source are never valid: drop them before
		// they can be learned.
		flow(TableClassifier, 300).match(matchEthSrcMulticast()).done(pipeline),
		flow(TableClassifier, 0).done(pipeline),
		flow(TableSourceLookup, 0).apply(sourceLookup(hasIPv6Gateway(in))...).goTo(TableLearn).done(pipeline),
		flow(TableLearn, 0).done(pipeline),
		flow(TableARPResponder, 0).apply(resubmit(TableL2Lookup)).goTo(TableForward).done(pipeline),
		flow(TableL2Lookup, 0).done(pipeline),
		flow(TableForward, 100).match(matchReg(RegOutPort, 0)).goTo(TableFlood).done(pipeline),
		flow(TableForward, 0).goTo(TableEgress).done(pipeline),
		flow(TableFlood, 0).done(pipeline),
		flow(TableEgress, 0).done(pipeline),
		flow(TableReplyToIngress, 0).done(pipeline),
	}
	fs = append(fs, ndPipelineFlows(pipeline)...)
	if in.Dynamic {
		fs = append(fs, remoteSourcePass(pipeline))
	}
	if in.SnoopHosts {
		fs = append(fs, snoopFlows(pipeline)...)
	}
	if in.Gate != nil {
		fs = append(fs, gateFlow(pipeline))
	}
	for _, typ := range sortedKeys(in.TunnelPorts) {
		port := in.TunnelPorts[typ]
		tunnel := Owner{Kind: KindTunnel, ID: tunnelTypeID(typ)}
		fs = append(fs,
			// Split horizon: what came from a tunnel never goes back into one.
			flow(TableForward, 200).match(matchReg(RegFlags, FlagFromTunnel), matchReg(RegOutPort, port)).done(tunnel),
			flow(TableEgress, 100).match(matchReg(RegOutPort, port)).apply(output(port)).done(tunnel),
		)
	}
	return fs
}

// tunnelTypeID numbers tunnel types for cookies.
func tunnelTypeID(networkType string) uint32 {
	switch networkType {
	case "vxlan":
		return 1
	case "gre":
		return 2
	case "geneve":
		return 3
	}
	return 0
}

func sortedKeys(m map[string]uint32) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// networkFlows are a network's own flows: classification of its
// attachments, local learning (and, when snoop, the copy of what local
// hosts announce: TableSnoop), flooding, egress and ARP reply output.
func networkFlows(n *Network, tunnelPorts map[string]uint32, idle uint16, snoop bool) []*Flow {
	owner := Owner{Kind: KindNetwork, ID: n.ID}
	var fs []*Flow
	for _, a := range n.Attachments {
		classify := flow(TableClassifier, 200).match(matchInPort(a.OFPort))
		egress := flow(TableEgress, 100).match(matchReg(RegNetwork, n.ID), matchReg(RegOutPort, a.OFPort))
		reply := flow(TableReplyToIngress, 100).match(matchReg(RegNetwork, n.ID), matchInPort(a.OFPort))
		if a.VLAN == 0 {
			classify.match(matchNoVLAN())
		} else {
			classify.match(matchVLAN(a.VLAN)).apply(popVLAN())
			egress.apply(pushVLAN(a.VLAN)...)
			reply.apply(pushVLAN(a.VLAN)...)
		}
		fs = append(fs,
			classify.apply(loadReg(RegNetwork, n.ID)).goTo(TableSourceLookup).done(owner),
			egress.apply(output(a.OFPort)).done(owner),
			reply.apply(outputInPort()).done(owner),
		)
	}
	// A local source is learned unless it is statically bound (then
	// TableLearn's miss drops the frame: pinned bindings).
	learn := flow(TableLearn, 100).match(matchReg(RegNetwork, n.ID), matchReg(RegFlags, 0), matchReg(RegSourceConn, 0)).
		apply(learnLocal(n.ID, idle))
	if snoop {
		learn.apply(resubmit(TableSnoop))
	}
	fs = append(fs,
		learn.goTo(TableARPResponder).done(owner),
		flow(TableFlood, 100).match(matchReg(RegNetwork, n.ID), matchReg(RegFlags, 0)).
			apply(floodActions(n, tunnelPorts, true)...).done(owner),
		flow(TableFlood, 100).match(matchReg(RegNetwork, n.ID), matchReg(RegFlags, FlagFromTunnel)).
			apply(floodActions(n, tunnelPorts, false)...).done(owner),
	)
	return fs
}

// floodActions replicate a frame to every local attachment (OVS skips the
// ingress port) and, when toTunnels, to every flooding connection whose
// tunnel port exists (head-end replication, one output per gateway; to a
// gateway of several endpoints, through its failover group).
func floodActions(n *Network, tunnelPorts map[string]uint32, toTunnels bool) []action {
	var acts []action
	for _, a := range n.Attachments {
		if a.VLAN == 0 {
			acts = append(acts, output(a.OFPort))
		}
	}
	for _, a := range n.Attachments {
		if a.VLAN != 0 {
			acts = append(acts, pushVLAN(a.VLAN)...)
			acts = append(acts, output(a.OFPort), popVLAN())
		}
	}
	if !toTunnels {
		return acts
	}
	for i := range n.Connections {
		c := &n.Connections[i]
		port, ok := tunnelPorts[c.NetworkType]
		if !c.Flood || !ok {
			continue
		}
		if failsOver(c) {
			acts = append(acts, setTunnelID(c.SegmentationID), groupAction(failoverGroupID(c)))
			continue
		}
		acts = append(acts, setTunnel(c.RemoteIP, c.SegmentationID)...)
		acts = append(acts, output(port))
	}
	return acts
}

// connectionFlows are a connection's own flows: admission of untagged
// frames from its gateway (from each of its endpoints) on its segmentation
// ID into its network, and in TableLearn, learning of their unbound
// sources (at most limit at once) and passing, unlearned, of sources bound
// behind this very gateway. A source bound behind another gateway matches
// neither and is dropped. A gateway of several endpoints has its egress
// flows too (failoverEgress).
func connectionFlows(networkID uint32, c *Connection, tunnelPort uint32, idle uint16, limit uint32) []*Flow {
	owner := Owner{Kind: KindConnection, ID: c.ID, Origin: c.Origin}
	var fs []*Flow
	for _, ip := range endpoints(c) {
		fs = append(fs, flow(TableClassifier, 200).
			match(matchInPort(tunnelPort), matchNoVLAN(), matchTunSrc(ip), matchTunID(c.SegmentationID)).
			apply(loadReg(RegNetwork, networkID), loadReg(RegFlags, FlagFromTunnel), loadReg(RegIngressConn, c.ID)).
			goTo(TableSourceLookup).done(owner))
	}
	fs = append(fs,
		flow(TableLearn, 100).match(matchReg(RegIngressConn, c.ID), matchReg(RegSourceConn, 0)).
			apply(learnFromGateway(c, idle, limit)).goTo(TableARPResponder).done(owner),
		flow(TableLearn, 100).match(matchReg(RegIngressConn, c.ID), matchReg(RegSourceConn, c.ID)).
			goTo(TableARPResponder).done(owner),
	)
	if failsOver(c) {
		fs = append(fs, failoverEgress(c, tunnelPort, owner)...)
	}
	return fs
}

// bindingFlows are a binding's flows: unicast to its MAC goes into the
// tunnel to its remote endpoint, and ARP requests for its IPv4 addresses
// and neighbour solicitations for its IPv6 addresses from local
// attachments are answered in OVS. The forwarding flow is also the MAC's
// source entry (TableSourceLookup): a static binding names its connection
// in RegSourceConn (pinned), a dynamic origin's remote MAC sets
// RegRemoteSource.
func bindingFlows(networkID uint32, c *Connection, tunnelPort uint32, b *Binding) []*Flow {
	owner := Owner{Kind: KindBinding, ID: b.ID, Origin: b.Origin}
	source := loadReg(RegSourceConn, c.ID)
	if b.Origin.Dynamic() {
		source = loadReg(RegRemoteSource, 1)
	}
	fs := []*Flow{
		flow(TableL2Lookup, PriorityStatic).match(matchReg(RegNetwork, networkID), matchEthDst(b.MAC[:])).
			apply(setTunnel(c.RemoteIP, c.SegmentationID)...).
			apply(loadReg(RegOutPort, tunnelPort), source).done(owner),
	}
	for _, ip := range b.IPv4 {
		fs = append(fs, arpResponder(networkID, b.MAC[:], ip, owner))
	}
	for _, ip := range b.IPv6 {
		fs = append(fs, ndResponder(networkID, b.MAC[:], ip, owner))
	}
	return fs
}

// remoteSourcePass lets a frame from a tunnel whose source is a dynamic
// origin's remote MAC (RegRemoteSource) through TableLearn without
// learning it, from whichever connection it came: the origin says where
// the MAC is, an entry learned from the data path would only spend the
// gateway's learn limit and, when the origin moves the MAC elsewhere,
// outlive the move until it idles out. It is above the connections'
// learning flows.
func remoteSourcePass(pipeline Owner) *Flow {
	return flow(TableLearn, PriorityRemoteSource).match(matchReg(RegFlags, FlagFromTunnel), matchReg(RegRemoteSource, 1)).
		goTo(TableARPResponder).done(pipeline)
}

// The ARP responder's actions that are the same for every binding: the
// request turned into a reply to its sender.
var (
	arpReplyToSender = move(nxmEthSrc, nxmEthDst, 48)
	arpReplyFields   = action(slices.Concat(
		setField(tlv(hdrARPOp, be16(2), nil)),
		move(nxmARPSHA, nxmARPTHA, 48),
		move(nxmARPSPA, nxmARPTPA, 32),
	))
)

// arpResponder answers "who has ip" with mac, the shape of Neutron's
// ARP_RESPONDER and OVN's ls_in_arp_rsp, and sends the reply back out the
// ingress port:
//
//	move:eth_src->eth_dst, eth_src=MAC, arp_op=2, move:arp_sha->arp_tha,
//	move:arp_spa->arp_tpa, arp_sha=MAC, arp_spa=IP
func arpResponder(networkID uint32, mac net.HardwareAddr, ip net.IP, owner Owner) *Flow {
	return flow(TableARPResponder, 100).
		match(matchReg(RegNetwork, networkID), matchReg(RegFlags, 0)).
		match(matchARPRequest(ip)...).
		apply(
			arpReplyToSender,
			setField(tlv(hdrEthSrc, mac, nil)),
			arpReplyFields,
			setField(tlv(hdrARPSHA, mac, nil)),
			setField(tlv(hdrARPSPA, ip.To4(), nil)),
		).goTo(TableReplyToIngress).done(owner)
}
