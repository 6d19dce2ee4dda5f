package app

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/l2gw/l2gw/flows"
)

// Origin is where a piece of desired state comes from: the static origin
// is the HTTP API (stored in bbolt), the dynamic origins are told through a
// Feed (in memory, re-told by their source after a restart). When origins
// disagree about a MAC or an IP in one network, the first in precedence
// wins: static, then vtep, then evpn. The numbering is the data path's
// (flows.Origin), whose cookie tags carry it.
type Origin = flows.Origin

// Origins.
const (
	OriginStatic = flows.OriginStatic
	OriginVTEP   = flows.OriginVTEP
	OriginEVPN   = flows.OriginEVPN
)

// numOrigins sizes the per-origin arrays.
const numOrigins = 3

// ParseOrigin returns the origin named s ("static", "vtep", "evpn").
func ParseOrigin(s string) (Origin, error) {
	for _, o := range flows.Origins {
		if o.String() == s {
			return o, nil
		}
	}
	return 0, fmt.Errorf("origin %q is not one of static, vtep, evpn", s)
}

// Tunnel is a remote tunnel endpoint and the key a network is carried on
// to it: what a dynamic origin names, and what admits traffic from it.
type Tunnel struct {
	Endpoint       netip.Addr
	NetworkType    string // vxlan, gre or geneve
	SegmentationID uint32
}

// String is the tunnel as "vxlan:5001@198.51.100.2".
func (t Tunnel) String() string {
	return t.NetworkType + ":" + strconv.FormatUint(uint64(t.SegmentationID), 10) + "@" + t.Endpoint.String()
}

// RemoteMAC is a MAC that a dynamic origin says lives behind a remote
// tunnel endpoint, with the IP addresses whose ARP requests and neighbour
// solicitations OVS answers for it.
type RemoteMAC struct {
	Network string
	Tunnel  Tunnel
	MAC     net.HardwareAddr
	IPs     []netip.Addr
}

// RemoteMACKey names a remote MAC of a feed: one MAC per network.
type RemoteMACKey struct {
	Network string
	MAC     net.HardwareAddr
}

// FloodTarget asks that broadcast and unknown traffic of Network from local
// attachments be replicated to Tunnel (head-end replication).
type FloodTarget struct {
	Network string
	Tunnel  Tunnel
}

// derivedName is the name of the connection a dynamic origin's tunnel makes
// in network: "NETWORK:TYPE:SEGID@ENDPOINT", e.g.
// "backup:vxlan:5001@198.51.100.2". API names never hold ':' or '@', so it
// is never an API connection's.
func derivedName(network string, t Tunnel) string {
	return network + ":" + t.String()
}

// parseDerivedName reads a name derivedName made back.
func parseDerivedName(name string) (string, Tunnel, bool) {
	network, rest, ok := strings.Cut(name, ":")
	if !ok {
		return "", Tunnel{}, false
	}
	typ, rest, ok := strings.Cut(rest, ":")
	if !ok {
		return "", Tunnel{}, false
	}
	seg, endpoint, ok := strings.Cut(rest, "@")
	if !ok {
		return "", Tunnel{}, false
	}
	id, err := strconv.ParseUint(seg, 10, 32)
	if err != nil {
		return "", Tunnel{}, false
	}
	ip, err := netip.ParseAddr(endpoint)
	if err != nil {
		return "", Tunnel{}, false
	}
	return network, Tunnel{Endpoint: ip, NetworkType: typ, SegmentationID: uint32(id)}, true
}

// checkTunnel validates a tunnel a feed names, in canonical form, and
// returns what is wrong with it, or "".
func checkTunnel(t *Tunnel, local []netip.Addr) string {
	if !t.Endpoint.IsValid() {
		return "has no tunnel endpoint"
	}
	t.Endpoint = t.Endpoint.Unmap()
	if t.Endpoint.Zone() != "" {
		return fmt.Sprintf("tunnel endpoint %s has a zone", t.Endpoint)
	}
	if problem := tunnelAddrProblem(t.Endpoint, local); problem != "" {
		return fmt.Sprintf("tunnel endpoint %s %s", t.Endpoint, problem)
	}
	maxSeg, known := maxSegmentationID(t.NetworkType)
	if !known {
		return fmt.Sprintf("network type %q is not one of vxlan, gre, geneve", t.NetworkType)
	}
	if t.SegmentationID < 1 || t.SegmentationID > maxSeg {
		return fmt.Sprintf("segmentation ID %d is out of range for %s: 1-%d", t.SegmentationID, t.NetworkType, maxSeg)
	}
	return ""
}

// checkRemoteMAC validates what a feed tells of one remote MAC and returns
// its parsed form, or what is wrong.
func checkRemoteMAC(m RemoteMAC, local []netip.Addr) (remoteEntry, [6]byte, string) {
	var hw [6]byte
	if len(m.MAC) != len(hw) {
		return remoteEntry{}, hw, fmt.Sprintf("mac %v is not a 6-byte MAC address", m.MAC)
	}
	copy(hw[:], m.MAC)
	switch {
	case hw == [6]byte{}:
		return remoteEntry{}, hw, "mac is the all-zero MAC"
	case hw[0]&1 != 0:
		return remoteEntry{}, hw, fmt.Sprintf("mac %s is a multicast or broadcast MAC", m.MAC)
	}
	if m.Network == "" {
		return remoteEntry{}, hw, fmt.Sprintf("mac %s names no network", m.MAC)
	}
	e := remoteEntry{tunnel: m.Tunnel}
	if msg := checkTunnel(&e.tunnel, local); msg != "" {
		return remoteEntry{}, hw, fmt.Sprintf("mac %s: %s", m.MAC, msg)
	}
	for _, a := range m.IPs {
		a = a.Unmap()
		if problem := hostAddrProblem(a); problem != "" {
			return remoteEntry{}, hw, fmt.Sprintf("mac %s: ip %v %s", m.MAC, a, problem)
		}
		if !slices.Contains(e.addrs, a) {
			e.addrs = append(e.addrs, a)
		}
	}
	slices.SortFunc(e.addrs, netip.Addr.Compare)
	return e, hw, ""
}
