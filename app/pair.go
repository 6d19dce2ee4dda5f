package app

import (
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/ovsdb"
)

// What the data path needs of BFD: the per-remote BFD ports whose liveness
// the fast-failover groups of a remote gateway with several endpoints
// watch, and, on the standby node of a local HA pair, the gate that lets
// it forward only while its peer is silent (package ha runs the pair; the
// reconciler compiles what it decides).

// PeerNetworkType is the tunnel type of the BFD port to the other node of
// the local HA pair.
const PeerNetworkType = TypeVXLAN

// BFDPeers lists the per-remote BFD ports a node needs, sorted by name
// (each once): one per endpoint and network type of every remote gateway
// that has several endpoints and a connection (their fast-failover groups
// watch them); with a local HA pair (haPeer valid), one per endpoint and
// network type of every remote gateway with a connection (the witnesses:
// the standby forwards only while one of them is up) and one to haPeer.
// The reconciler finds their ofports by ovsdb.BFDPortName.
func BFDPeers(snap *Snapshot, haPeer netip.Addr) []ovsdb.BFDPeer {
	endpoints := map[string][]netip.Addr{}
	for _, g := range snap.RemoteGateways {
		for _, ip := range g.Endpoints() {
			if a, err := netip.ParseAddr(ip); err == nil {
				endpoints[g.Name] = append(endpoints[g.Name], a.Unmap())
			}
		}
	}
	seen := map[ovsdb.BFDPeer]bool{}
	var peers []ovsdb.BFDPeer
	add := func(p ovsdb.BFDPeer) {
		if !seen[p] {
			seen[p] = true
			peers = append(peers, p)
		}
	}
	for _, c := range snap.Connections {
		eps := endpoints[c.RemoteGateway]
		if c.Origin.Dynamic() || (len(eps) < 2 && !haPeer.IsValid()) {
			continue
		}
		for _, e := range eps {
			add(ovsdb.BFDPeer{NetworkType: c.NetworkType, Remote: e})
		}
	}
	if haPeer.IsValid() {
		add(ovsdb.BFDPeer{NetworkType: PeerNetworkType, Remote: haPeer.Unmap()})
	}
	slices.SortFunc(peers, func(a, b ovsdb.BFDPeer) int {
		return strings.Compare(ovsdb.BFDPortName(a), ovsdb.BFDPortName(b))
	})
	return peers
}

// pairView is what the reconciler compiles of the local HA pair: the
// peer's tunnel IP (invalid without a pair) and the gate of this node.
type pairView struct {
	peer netip.Addr
	gate Gate
}

// addBFD fills in's BFD ports (the per-remote BFD ports of the endpoints
// of its multi-endpoint connections, by ofports) and, on a gated node, the
// gate: it hears the peer on its BFD port to the peer and on every
// attachment (BFD runs on them over the local segment: see package ha),
// and its witnesses are the BFD ports to the remote gateways' endpoints
// (none while the gate is closed).
// Ports without an ofport yet are left out, as attachments are.
func addBFD(in *flows.Input, ofports map[string]uint32, pair pairView) {
	portOf := func(networkType string, ip net.IP) (uint32, bool) {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			return 0, false
		}
		port, ok := ofports[ovsdb.BFDPortName(ovsdb.BFDPeer{NetworkType: networkType, Remote: a.Unmap()})]
		return port, ok
	}
	var witnesses []uint32
	for i := range in.Networks {
		for j := range in.Networks[i].Connections {
			c := &in.Networks[i].Connections[j]
			if c.Origin.Dynamic() {
				continue
			}
			for _, ip := range c.RemoteIPs {
				port, ok := portOf(c.NetworkType, ip)
				if !ok {
					continue
				}
				if len(c.RemoteIPs) > 1 {
					if in.BFDPorts == nil {
						in.BFDPorts = map[flows.Endpoint]uint32{}
					}
					in.BFDPorts[flows.Endpoint{NetworkType: c.NetworkType, Remote: ip.String()}] = port
				}
				witnesses = append(witnesses, port)
			}
		}
	}
	if !pair.peer.IsValid() || pair.gate == GateNone {
		return
	}
	var peerPorts []uint32
	if port, ok := portOf(PeerNetworkType, net.IP(pair.peer.AsSlice())); ok {
		peerPorts = append(peerPorts, port)
	}
	for _, n := range in.Networks {
		for _, a := range n.Attachments {
			peerPorts = append(peerPorts, a.OFPort)
		}
	}
	slices.Sort(peerPorts)
	slices.Sort(witnesses)
	if pair.gate == GateClosed {
		witnesses = nil // every bucket drops
	}
	in.Gate = &flows.Gate{PeerPorts: slices.Compact(peerPorts), WitnessPorts: slices.Compact(witnesses)}
}
