package flows

import (
	"fmt"
	"net"
)

// A remote gateway of several tunnel endpoints (Connection.RemoteIPs: the
// nodes of a gateway pair, say) is reached through a fast-failover group
// that the connection owns (failoverGroupID): one bucket per endpoint whose
// per-remote BFD port exists (Input.BFDPorts), watching that port, in order
// of preference, and a last bucket to the first endpoint that is always
// live. OVS takes the first live bucket in the datapath: a BFD-down port
// loses OpenFlow LIVE, and traffic moves to the next endpoint with no
// controller in the loop; a gateway whose BFD never comes up still gets
// traffic, at its first endpoint, as a single endpoint would.
//
// The always-live bucket watches the flow-based tunnel port it outputs to.
// A fast-failover bucket must watch something: OVS 3.1 refuses a bucket
// that watches no port (watch_port ANY) with OFPGMFC_INVALID_GROUP, and
// ovs-ofctl refuses to build one ("fast failover bucket requires
// watch_port or watch_group"). A flow-based tunnel port runs no BFD (it
// has no single remote) and a tunnel port has no carrier to lose, so it is
// live for as long as it exists; and when it does not, the bucket could not
// send anyway.
//
// The flows reach the group from three places, and the group sets tun_dst
// (or tun_ipv6_dst) and outputs; the tun_id is the referencing flow's:
//   - admission: one classifier flow per endpoint (tun_src=Ei);
//   - unicast: bindings keep setting tun_dst to the first endpoint and
//     learned entries tun_dst to the tun_src they were learned from (any
//     endpoint); TableEgress has one flow per endpoint (the tunnel port in
//     RegOutPort, tun_dst=Ei, tun_id=segmentation ID) above the tunnel
//     port's plain output, which sends to the group: MACs follow the
//     gateway, not the endpoint they were learned from;
//   - flood: tun_id, then the group, instead of tun_dst and an output.

// Endpoint is one tunnel endpoint of a remote gateway: the network type of
// its tunnels and its address, in canonical form (net.IP.String()).
type Endpoint struct {
	NetworkType string
	Remote      string
}

// PriorityFailoverEgress is the priority in TableEgress of the flows that
// send unicast to a gateway of several endpoints through its failover
// group: above the tunnel port's plain output (100).
const PriorityFailoverEgress = 110

// endpoints returns connection c's endpoints in order of preference: its
// RemoteIPs, or RemoteIP alone.
func endpoints(c *Connection) []net.IP {
	if len(c.RemoteIPs) > 1 {
		return c.RemoteIPs
	}
	return []net.IP{c.RemoteIP}
}

// failsOver reports whether connection c's gateway has several endpoints,
// reached through its failover group.
func failsOver(c *Connection) bool { return len(c.RemoteIPs) > 1 }

// failoverGroupID is the ID of connection c's failover group.
func failoverGroupID(c *Connection) uint32 {
	return GroupID(Owner{Kind: KindConnection, ID: c.ID, Origin: c.Origin})
}

// matchTunDst matches packets whose next tunnel output goes to ip: on
// tun_dst for IPv4, tun_ipv6_dst for IPv6.
func matchTunDst(ip net.IP) field {
	if isIPv6(ip) {
		return tlv(hdrTunIPv6D, ip.To16(), nil)
	}
	return tlv(hdrTunIPv4D, ip.To4(), nil)
}

// failoverEgress are the TableEgress flows of connection c (of several
// endpoints), owned by owner: unicast bound for any of its endpoints on
// its segmentation ID goes to its failover group.
func failoverEgress(c *Connection, tunnelPort uint32, owner Owner) []*Flow {
	var fs []*Flow
	for _, ip := range c.RemoteIPs {
		fs = append(fs, flow(TableEgress, PriorityFailoverEgress).
			match(matchReg(RegOutPort, tunnelPort), matchTunDst(ip), matchTunID(c.SegmentationID)).
			apply(groupAction(failoverGroupID(c))).done(owner))
	}
	return fs
}

// connectionGroup builds connection c's failover group (c has several
// endpoints; tunnelPort is its flow-based tunnel port).
func connectionGroup(c *Connection, tunnelPort uint32, bfdPorts map[Endpoint]uint32) (*Group, error) {
	var buckets []Bucket
	for _, ip := range c.RemoteIPs {
		if port := bfdPorts[Endpoint{NetworkType: c.NetworkType, Remote: ip.String()}]; port != 0 {
			buckets = append(buckets, TunnelBucket(port, tunnelPort, ip))
		}
	}
	buckets = append(buckets, TunnelBucket(tunnelPort, tunnelPort, c.RemoteIP))
	g, err := NewGroup(failoverGroupID(c), GroupFastFailover, buckets...)
	if err != nil {
		return nil, fmt.Errorf("connection %d: failover group: %w", c.ID, err)
	}
	return g, nil
}

// CompileGroups computes the groups the flows Compile computes for the
// same Input point to: the failover group of every connection of several
// endpoints whose tunnel port exists, and the HA gate's group (Input.Gate).
// It is a pure function, like Compile. It fails when a connection or a BFD
// port is invalid, or when a group's buckets break the contract of a table
// whose flows send to it (contract.go).
func CompileGroups(in *Input) (GroupSet, error) {
	set := GroupSet{}
	add := func(g *Group, from ...uint8) error {
		for _, table := range from {
			if err := checkBucketContract(g, table); err != nil {
				return err
			}
		}
		if old, ok := set[g.id]; ok && !old.same(g) {
			return fmt.Errorf("two different groups with ID %#x", g.id)
		}
		set[g.id] = g
		return nil
	}
	for i := range in.Networks {
		n := &in.Networks[i]
		for j := range n.Connections {
			c := &n.Connections[j]
			port, ok := in.TunnelPorts[c.NetworkType]
			if !ok || !failsOver(c) {
				continue
			}
			if err := checkRemoteIP(c); err != nil {
				return nil, err
			}
			if c.ID == 0 || c.ID > MaxOwnerID {
				return nil, fmt.Errorf("connection ID %d out of range 1..%d", c.ID, MaxOwnerID)
			}
			g, err := connectionGroup(c, port, in.BFDPorts)
			if err != nil {
				return nil, err
			}
			from := []uint8{TableEgress}
			if c.Flood {
				from = append(from, TableFlood)
			}
			if err := add(g, from...); err != nil {
				return nil, err
			}
		}
	}
	if in.Gate != nil {
		g, err := gateGroup(in.Gate)
		if err != nil {
			return nil, err
		}
		if err := add(g, TableClassifier); err != nil {
			return nil, err
		}
	}
	return set, nil
}
