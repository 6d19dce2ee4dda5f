package flows

import (
	"fmt"
	"net"
	"slices"
)

// The underlay's address family. A remote gateway's tunnel endpoint is
// IPv4 or IPv6, and each connection's flows speak its own gateway's family:
// tun_src/tun_dst (NXM_NX_TUN_IPV4_SRC/DST, 32 bits) for an IPv4 gateway,
// tun_ipv6_src/tun_ipv6_dst (NXM_NX_TUN_IPV6_SRC/DST, 128 bits) for an IPv6
// one. A network may mix both.
//
// OVS keeps both destinations in a packet's tunnel metadata and sends to
// tun_dst whenever it is not 0 (flow_tnl_dst), so setting tun_ipv6_dst alone
// after an IPv4 gateway's output in the same action list (head-end
// replication) would send the copy to the IPv4 gateway again: an IPv6
// gateway's tunnel settings clear tun_dst first.

var (
	hdrTunIPv6S = fieldHeader("NXM_NX_TUN_IPV6_SRC")
	hdrTunIPv6D = fieldHeader("NXM_NX_TUN_IPV6_DST")
)

// isIPv6 reports whether ip is an IPv6 (not IPv4-mapped) address.
func isIPv6(ip net.IP) bool { return ip.To4() == nil }

// checkRemoteIP fails when connection c's remote IP is neither an IPv4 nor
// an IPv6 address, or when c names several endpoints (RemoteIPs) of which
// RemoteIP is not the first, one repeats, or one is not of RemoteIP's
// family: a gateway's flows (its learning, its bindings) speak one family.
func checkRemoteIP(c *Connection) error {
	if c.RemoteIP.To4() == nil && c.RemoteIP.To16() == nil {
		return fmt.Errorf("connection %d: remote IP %v is not an IPv4 or IPv6 address", c.ID, c.RemoteIP)
	}
	if len(c.RemoteIPs) == 0 {
		return nil
	}
	if !c.RemoteIPs[0].Equal(c.RemoteIP) {
		return fmt.Errorf("connection %d: remote IP %v is not its first endpoint %v", c.ID, c.RemoteIP, c.RemoteIPs[0])
	}
	for i, ip := range c.RemoteIPs {
		if ip.To16() == nil || isIPv6(ip) != isIPv6(c.RemoteIP) {
			return fmt.Errorf("connection %d: endpoint %v is not an address of remote IP %v's family", c.ID, ip, c.RemoteIP)
		}
		if slices.ContainsFunc(c.RemoteIPs[:i], ip.Equal) {
			return fmt.Errorf("connection %d: endpoint %v given twice", c.ID, ip)
		}
	}
	return nil
}

// matchTunSrc matches packets that arrived from the tunnel endpoint ip: on
// tun_src for IPv4, tun_ipv6_src for IPv6.
func matchTunSrc(ip net.IP) field {
	if isIPv6(ip) {
		return tlv(hdrTunIPv6S, ip.To16(), nil)
	}
	return tlv(hdrTunIPv4S, ip.To4(), nil)
}

// setTunnel sets the tunnel destination and key of the next tunnel output:
// tun_dst for an IPv4 remote; for an IPv6 remote, tun_dst cleared (see
// above) and tun_ipv6_dst.
func setTunnel(remote net.IP, key uint32) []action {
	id := setTunnelID(key)
	if isIPv6(remote) {
		return []action{tunDstCleared, setField(tlv(hdrTunIPv6D, remote.To16(), nil)), id}
	}
	return []action{setField(tlv(hdrTunIPv4D, remote.To4(), nil)), id}
}

// setTunnelID sets the tunnel key (tun_id) of the next tunnel output.
func setTunnelID(key uint32) action { return setField(tlv(hdrTunnelID, be64(uint64(key)), nil)) }

// tunDstCleared is set_field:0.0.0.0->tun_dst.
var tunDstCleared = setField(tlv(hdrTunIPv4D, make([]byte, 4), nil))

// hasIPv6Gateway reports whether any connection of in has an IPv6 remote.
func hasIPv6Gateway(in *Input) bool {
	return slices.ContainsFunc(in.Networks, func(n Network) bool {
		return slices.ContainsFunc(n.Connections, func(c Connection) bool { return isIPv6(c.RemoteIP) })
	})
}

// sourceLookup returns the actions of TableSourceLookup: the packet's
// source MAC looked up in TableL2Lookup as if it were its destination, and
// everything that lookup may overwrite but RegSourceConn put back:
//
//	push:NXM_OF_ETH_DST[], push:NXM_NX_TUN_ID[], push:NXM_NX_TUN_IPV4_DST[],
//	move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[], resubmit(,l2_lookup),
//	pop:NXM_NX_TUN_IPV4_DST[], pop:NXM_NX_TUN_ID[], pop:NXM_OF_ETH_DST[], load:0->NXM_NX_REG7[]
//
// When some gateway is IPv6 (ipv6), its bindings' flows set tun_ipv6_dst
// too, which is saved and restored as well (push:NXM_NX_TUN_IPV6_DST[]
// after the IPv4 push, its pop before the IPv4 pop). Reusing the binding's
// forwarding flow as its source entry keeps a binding at one flow plus its
// ARP answers.
func sourceLookup(ipv6 bool) []action {
	save := []action{push(nxmEthDst, 48), push(nxmTunID, 64), push(nxmTunDst, 32)}
	restore := []action{pop(nxmTunDst, 32), pop(nxmTunID, 64), pop(nxmEthDst, 48)}
	if ipv6 {
		save = append(save, push(hdrTunIPv6D, 128))
		restore = append([]action{pop(hdrTunIPv6D, 128)}, restore...)
	}
	lookup := []action{move(nxmEthSrc, nxmEthDst, 48), resubmit(TableL2Lookup)}
	return slices.Concat(save, lookup, restore, []action{loadReg(RegOutPort, 0)})
}

// learnFromGateway is connection c's learn action (learnRemote): for an
// IPv6 gateway the learned flow sets tun_ipv6_dst from the packet's
// tun_ipv6_src instead of tun_dst from tun_src.
//
//	learn(table=l2_lookup, priority=100, cookie=LearnedConnectionCookie, limit=LIMIT,
//	      NXM_NX_REG6[], NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],
//	      load:NXM_NX_TUN_IPV6_SRC[]->NXM_NX_TUN_IPV6_DST[], load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],
//	      load:NXM_OF_IN_PORT[]->NXM_NX_REG7[0..15])
//
// The learned flow leaves tun_dst alone: it only runs for frames from
// local attachments (tunnel-to-tunnel unicast is dropped), whose tun_dst is
// 0, so OVS sends to tun_ipv6_dst.
func learnFromGateway(c *Connection, idle uint16, limit uint32) action {
	if !isIPv6(c.RemoteIP) {
		return learnRemote(c.ID, idle, limit)
	}
	return learnAction(TableL2Lookup, PriorityLearned, idle, limit, LearnedConnectionCookie(c.ID),
		learnSpec{src: "NXM_NX_REG6", dst: "NXM_NX_REG6", nBits: 32},
		learnSpec{src: "NXM_OF_ETH_SRC", dst: "NXM_OF_ETH_DST", nBits: 48},
		learnSpec{load: true, src: "NXM_NX_TUN_IPV6_SRC", dst: "NXM_NX_TUN_IPV6_DST", nBits: 128},
		learnSpec{load: true, src: "NXM_NX_TUN_ID", dst: "NXM_NX_TUN_ID", nBits: 64},
		learnSpec{load: true, src: "NXM_OF_IN_PORT", dst: "NXM_NX_REG7", nBits: 16},
	)
}
