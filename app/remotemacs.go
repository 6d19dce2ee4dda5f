package app

import (
	"bytes"
	"cmp"
	"net/netip"
	"slices"
)

// RemoteMACInfo is one remote MAC of a network as one origin has it: GET
// /v1/networks/{name}/remote-macs lists every origin's.
type RemoteMACInfo struct {
	MAC string
	// IPs are the addresses the origin gives the MAC.
	IPs    []string
	Origin Origin
	// Connection is the name of the connection the MAC is reached through:
	// an API connection's, or the derived name of a dynamic origin's.
	Connection     string
	TunnelIP       string
	SegmentationID uint32
	NetworkType    string
	// Active says this origin's word on the MAC is what compiles; else it
	// is shadowed by origin ShadowedBy (which binds the MAC, or admits its
	// tunnel into another network) and takes over when that goes.
	Active     bool
	ShadowedBy Origin
	// ShadowedIPs are the IPs of an active MAC that another MAC of an
	// origin first in precedence has: ARP and ND answer for that one.
	ShadowedIPs []ShadowedIP
}

// ShadowedIP is an IP a remote MAC gives that another origin's MAC wins.
type ShadowedIP struct {
	IP string
	By Origin
}

// RemoteMACs lists every remote MAC of network from every origin (the
// API's bindings included), or from origins only, sorted by MAC, then
// origin.
func (s *State) RemoteMACs(network string, origins ...Origin) ([]RemoteMACInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ns := s.networks[network]
	if ns == nil {
		return nil, notFound(nil, "network %q not found", network)
	}
	listed := func(o Origin) bool { return len(origins) == 0 || slices.Contains(origins, o) }
	out := []RemoteMACInfo{}
	for _, name := range ns.connections() {
		if !listed(OriginStatic) {
			break
		}
		cs := s.conns[name]
		gw := s.gateways[cs.RemoteGateway]
		for _, b := range cs.sortedBindings() {
			out = append(out, RemoteMACInfo{MAC: b.MAC, IPs: b.IPs, Origin: OriginStatic, Connection: cs.Name,
				TunnelIP: gw.TunnelIP, SegmentationID: cs.SegmentationID, NetworkType: cs.NetworkType, Active: true})
		}
	}
	if rix := s.remote[network]; rix != nil {
		for mac, c := range rix.claims {
			for o, e := range c {
				if e != nil && listed(Origin(o)) {
					out = append(out, s.remoteMACInfo(network, ns, rix, mac, Origin(o), e))
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b RemoteMACInfo) int {
		return cmp.Or(cmp.Compare(a.MAC, b.MAC), cmp.Compare(a.Origin, b.Origin))
	})
	return out, nil
}

// connections returns the names of the network's API connections.
func (ns *networkState) connections() []string {
	names := make([]string, 0, len(ns.byGateway))
	for _, name := range ns.byGateway {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// remoteMACInfo describes origin o's entry e for mac.
func (s *State) remoteMACInfo(network string, ns *networkState, rix *remoteIndex, mac [6]byte, o Origin, e *remoteEntry) RemoteMACInfo {
	info := RemoteMACInfo{MAC: formatMAC(mac), IPs: make([]string, len(e.addrs)), Origin: o,
		Connection: derivedName(network, e.tunnel), TunnelIP: e.tunnel.Endpoint.String(),
		SegmentationID: e.tunnel.SegmentationID, NetworkType: e.tunnel.NetworkType}
	for i, a := range e.addrs {
		info.IPs[i] = a.String()
	}
	if cs := s.staticConnOf(e.tunnel); cs != nil && cs.Network == network {
		info.Connection = cs.Name
	}
	act, active := rix.active[mac]
	info.Active = active && act.origin == o
	switch {
	case info.Active:
		for _, a := range e.addrs {
			if !slices.Contains(act.addrs, a) {
				info.ShadowedIPs = append(info.ShadowedIPs, ShadowedIP{IP: a.String(), By: s.ipOwner(network, ns, rix, a)})
			}
		}
	case ns.macs.has(mac):
		info.ShadowedBy = OriginStatic
	case active:
		info.ShadowedBy = act.origin
	default:
		info.ShadowedBy = s.tunnelOwner(e.tunnel)
	}
	return info
}

// ipOwner returns the origin whose MAC IP a of network is answered for.
func (s *State) ipOwner(network string, ns *networkState, rix *remoteIndex, a netip.Addr) Origin {
	if w, ok := s.ipWinner(network, ns, rix, a); ok {
		return w.origin
	}
	return OriginStatic
}

// tunnelOwner returns the origin of the connection that admits t.
func (s *State) tunnelOwner(t Tunnel) Origin {
	if s.staticConnOf(t) != nil {
		return OriginStatic
	}
	for _, d := range s.derived {
		if d.tunnel == t && d.status == derivedOwn {
			return d.owner()
		}
	}
	return OriginStatic
}

// sortMACEntries orders entries by MAC.
func sortMACEntries(entries []macEntry) {
	slices.SortFunc(entries, func(a, b macEntry) int { return bytes.Compare(a.hw[:], b.hw[:]) })
}
