package evpn

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// Route types this package speaks (RFC 7432 section 7).
const (
	typeMACIP = bgp.EVPN_ROUTE_TYPE_MAC_IP_ADVERTISEMENT
	typeIMET  = bgp.EVPN_INCLUSIVE_MULTICAST_ETHERNET_TAG
)

// errUnsupported marks a well-formed route this gateway does not act on
// (another route type, a multi-homed segment, another encapsulation).
var errUnsupported = errors.New("unsupported")

// received is a route of another site, as read from a path.
type received struct {
	kind     uint8
	key      string // routeKey of the route
	mac      [6]byte
	ip       netip.Addr // MAC+IP routes only
	endpoint netip.Addr // next hop (type 2) or PMSI tunnel endpoint (type 3)
	vni      uint32
	seq      uint32
	sticky   bool
	rts      []string // route targets, as "ASN:NN" or "IPv4:NN"
}

// routeKey names a route by what BGP names it by: its type, RD and the
// prefix fields (RFC 7432: Ethernet tag, MAC and IP for type 2; Ethernet
// tag and originator IP for type 3).
func routeKey(n *bgp.EVPNNLRI) string {
	switch r := n.RouteTypeData.(type) {
	case *bgp.EVPNMacIPAdvertisementRoute:
		return "2|" + r.RD.String() + "|" + strconv.FormatUint(uint64(r.ETag), 10) + "|" + r.MacAddress.String() + "|" + r.IPAddress.String()
	case *bgp.EVPNMulticastEthernetTagRoute:
		return "3|" + r.RD.String() + "|" + strconv.FormatUint(uint64(r.ETag), 10) + "|" + r.IPAddress.String()
	}
	return strconv.Itoa(int(n.RouteType)) + "|" + n.String()
}

// parsePath reads a received EVPN path. A withdrawal needs only its key.
func parsePath(p *apiutil.Path) (received, error) {
	n, ok := p.Nlri.(*bgp.EVPNNLRI)
	if !ok {
		return received{}, fmt.Errorf("%w: not an EVPN route (%T)", errUnsupported, p.Nlri)
	}
	r := received{kind: n.RouteType, key: routeKey(n)}
	if p.Withdrawal {
		return r, nil
	}
	switch d := n.RouteTypeData.(type) {
	case *bgp.EVPNMacIPAdvertisementRoute:
		if err := r.readMACIP(d); err != nil {
			return r, err
		}
		r.endpoint = nextHop(p.Attrs)
	case *bgp.EVPNMulticastEthernetTagRoute:
		r.endpoint = d.IPAddress
	default:
		return r, fmt.Errorf("%w: EVPN route type %d", errUnsupported, n.RouteType)
	}
	if err := r.readAttrs(p.Attrs); err != nil {
		return r, err
	}
	if !r.endpoint.IsValid() || r.endpoint.IsUnspecified() || r.endpoint.IsMulticast() {
		return r, fmt.Errorf("route %s: no usable tunnel endpoint (%v)", r.key, r.endpoint)
	}
	return r, nil
}

// readMACIP reads the MAC/IP fields of a type-2 route.
func (r *received) readMACIP(d *bgp.EVPNMacIPAdvertisementRoute) error {
	if len(d.MacAddress) != 6 {
		return fmt.Errorf("route %s: MAC %v is not 6 bytes", r.key, d.MacAddress)
	}
	r.mac = [6]byte(d.MacAddress)
	if r.mac[0]&1 != 0 || r.mac == [6]byte{} {
		return fmt.Errorf("route %s: MAC %v is not a unicast host MAC", r.key, d.MacAddress)
	}
	if !esiZero(d.ESI) {
		return fmt.Errorf("%w: route %s: multi-homed Ethernet segment %s", errUnsupported, r.key, d.ESI.String())
	}
	if len(d.Labels) == 0 {
		return fmt.Errorf("route %s: no label (VNI)", r.key)
	}
	r.vni = d.Labels[0]
	if d.IPAddress.IsValid() {
		ip := d.IPAddress.Unmap()
		if ip.IsUnspecified() || ip.IsMulticast() || ip.IsLoopback() {
			return fmt.Errorf("route %s: IP %s is not a host address", r.key, ip)
		}
		r.ip = ip
	}
	return nil
}

// readAttrs reads what the path attributes say: route targets, MAC
// mobility, the encapsulation, and (type 3) the PMSI tunnel.
func (r *received) readAttrs(attrs []bgp.PathAttributeInterface) error {
	pmsi := false
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeExtendedCommunities:
			for _, c := range a.Value {
				if err := r.readCommunity(c); err != nil {
					return err
				}
			}
		case *bgp.PathAttributePmsiTunnel:
			if r.kind != typeIMET {
				continue
			}
			if a.TunnelType != bgp.PMSI_TUNNEL_TYPE_INGRESS_REPL {
				return fmt.Errorf("%w: route %s: PMSI tunnel type %d (only ingress replication)", errUnsupported, r.key, a.TunnelType)
			}
			if id, ok := a.TunnelID.(*bgp.IngressReplTunnelID); ok && id.Value.IsValid() {
				r.endpoint = id.Value
			}
			r.vni, pmsi = a.Label, true
		}
	}
	if r.kind == typeIMET && !pmsi {
		return fmt.Errorf("%w: route %s: no PMSI tunnel attribute", errUnsupported, r.key)
	}
	return nil
}

// readCommunity reads one extended community.
func (r *received) readCommunity(c bgp.ExtendedCommunityInterface) error {
	switch c := c.(type) {
	case *bgp.MacMobilityExtended:
		r.seq, r.sticky = c.Sequence, c.IsSticky
	case *bgp.EncapExtended:
		if c.TunnelType != bgp.TUNNEL_TYPE_VXLAN {
			return fmt.Errorf("%w: route %s: encapsulation %s (only VXLAN)", errUnsupported, r.key, c.String())
		}
	default:
		if rt, ok := routeTarget(c); ok {
			r.rts = append(r.rts, rt)
		}
	}
	return nil
}

// routeTarget returns c as "ASN:NN" or "IPv4:NN" when it is a route target.
func routeTarget(c bgp.ExtendedCommunityInterface) (string, bool) {
	if _, sub := c.GetTypes(); sub != bgp.EC_SUBTYPE_ROUTE_TARGET {
		return "", false
	}
	switch c := c.(type) {
	case *bgp.TwoOctetAsSpecificExtended:
		return strconv.FormatUint(uint64(c.AS), 10) + ":" + strconv.FormatUint(uint64(c.LocalAdmin), 10), true
	case *bgp.FourOctetAsSpecificExtended:
		return strconv.FormatUint(uint64(c.AS), 10) + ":" + strconv.FormatUint(uint64(c.LocalAdmin), 10), true
	case *bgp.IPv4AddressSpecificExtended:
		return c.IPv4.String() + ":" + strconv.FormatUint(uint64(c.LocalAdmin), 10), true
	}
	return "", false
}

// esiZero tells whether an Ethernet segment identifier is 0: a
// single-homed site.
func esiZero(esi bgp.EthernetSegmentIdentifier) bool {
	if esi.Type != bgp.ESI_ARBITRARY {
		return false
	}
	for _, b := range esi.Value {
		if b != 0 {
			return false
		}
	}
	return true
}

// nextHop returns the next hop of a path's attributes.
func nextHop(attrs []bgp.PathAttributeInterface) netip.Addr {
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeMpReachNLRI:
			return a.Nexthop.Unmap()
		case *bgp.PathAttributeNextHop:
			return a.Value.Unmap()
		}
	}
	return netip.Addr{}
}

// origination is what this site's routes of one network carry.
type origination struct {
	rd      bgp.RouteDistinguisherInterface
	self    netip.Addr // this gateway's tunnel IP: next hop and PMSI endpoint
	vni     uint32
	exports []bgp.ExtendedCommunityInterface // route targets
}

// imetPath is the network's inclusive multicast route: ingress
// replication toward this gateway, the VNI as label (RFC 8365 section 5.1.3).
func (o *origination) imetPath() (*apiutil.Path, error) {
	nlri, err := bgp.NewEVPNMulticastEthernetTagRoute(o.rd, 0, o.self)
	if err != nil {
		return nil, fmt.Errorf("inclusive multicast route: %w", err)
	}
	id, err := bgp.NewIngressReplTunnelID(o.self)
	if err != nil {
		return nil, fmt.Errorf("inclusive multicast route: %w", err)
	}
	attrs, err := o.attrs(nlri, nil)
	if err != nil {
		return nil, err
	}
	attrs = append(attrs, bgp.NewPathAttributePmsiTunnel(bgp.PMSI_TUNNEL_TYPE_INGRESS_REPL, false, o.vni, id))
	return &apiutil.Path{Family: bgp.RF_EVPN, Nlri: nlri, Attrs: attrs}, nil
}

// macNLRI is the prefix of this site's MAC/IP route for mac (and ip).
func (o *origination) macNLRI(mac [6]byte, ip netip.Addr) *bgp.EVPNNLRI {
	esi := bgp.EthernetSegmentIdentifier{Type: bgp.ESI_ARBITRARY, Value: make([]byte, 9)}
	nlri, _ := bgp.NewEVPNMacIPAdvertisementRoute(o.rd, esi, 0, net.HardwareAddr(mac[:]).String(), ip, []uint32{o.vni})
	return nlri
}

// macPath is a MAC/IP route of a local host (ip invalid: MAC only), with
// its mobility sequence.
func (o *origination) macPath(mac [6]byte, ip netip.Addr, seq uint32) (*apiutil.Path, error) {
	nlri := o.macNLRI(mac, ip)
	var mobility []bgp.ExtendedCommunityInterface
	if seq > 0 {
		mobility = append(mobility, bgp.NewMacMobilityExtended(seq, false))
	}
	attrs, err := o.attrs(nlri, mobility)
	if err != nil {
		return nil, err
	}
	return &apiutil.Path{Family: bgp.RF_EVPN, Nlri: nlri, Attrs: attrs}, nil
}

// attrs are the attributes every route of this site carries: origin IGP,
// the next hop, the route targets and the VXLAN encapsulation (RFC 8365
// section 5.1.3), plus extra communities.
func (o *origination) attrs(nlri bgp.NLRI, extra []bgp.ExtendedCommunityInterface) ([]bgp.PathAttributeInterface, error) {
	reach, err := bgp.NewPathAttributeMpReachNLRI(bgp.RF_EVPN, []bgp.PathNLRI{{NLRI: nlri}}, o.self)
	if err != nil {
		return nil, fmt.Errorf("next hop %s: %w", o.self, err)
	}
	comms := make([]bgp.ExtendedCommunityInterface, 0, len(o.exports)+1+len(extra))
	comms = append(comms, o.exports...)
	comms = append(comms, bgp.NewEncapExtended(bgp.TUNNEL_TYPE_VXLAN))
	comms = append(comms, extra...)
	return []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		reach,
		bgp.NewPathAttributeExtendedCommunities(comms),
	}, nil
}
