package evpn

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// testOrigination is what a site with tunnel IP self advertises for VNI
// 5001 with the automatic route target.
func testOrigination(t *testing.T, self string) *origination {
	t.Helper()
	rd, err := bgp.NewRouteDistinguisherIPAddressAS(netip.MustParseAddr(self), 1)
	if err != nil {
		t.Fatal(err)
	}
	return &origination{rd: rd, self: netip.MustParseAddr(self), vni: 5001, exports: []bgp.ExtendedCommunityInterface{autoRT(65000, 5001)}}
}

// received as a peer's path: the attributes go through the wire format,
// so the test reads what a peer's UPDATE would carry.
func asReceived(t *testing.T, p *apiutil.Path) *apiutil.Path {
	t.Helper()
	attrs := make([]bgp.PathAttributeInterface, 0, len(p.Attrs))
	for _, a := range p.Attrs {
		b, err := a.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := bgp.GetPathAttribute(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := parsed.DecodeFromBytes(b); err != nil {
			t.Fatal(err)
		}
		attrs = append(attrs, parsed)
	}
	return &apiutil.Path{Family: p.Family, Nlri: p.Nlri, Attrs: attrs, PeerAddress: netip.MustParseAddr("192.0.2.200")}
}

func TestRoutesReadBackAsAdvertised(t *testing.T) {
	o := testOrigination(t, "198.51.100.1")
	mac := [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	ip := netip.MustParseAddr("192.0.2.10")
	p, err := o.macPath(mac, ip, 3)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parsePath(asReceived(t, p))
	if err != nil {
		t.Fatal(err)
	}
	if r.kind != typeMACIP || r.mac != mac || r.ip != ip || r.endpoint != o.self || r.vni != 5001 || r.seq != 3 || r.sticky {
		t.Errorf("MAC+IP route read back as %+v", r)
	}
	if len(r.rts) != 1 || r.rts[0] != "65000:5001" || rtAdmin(r.rts[0]) != 5001 {
		t.Errorf("route targets %v, want [65000:5001]", r.rts)
	}

	p, err = o.imetPath()
	if err != nil {
		t.Fatal(err)
	}
	r, err = parsePath(asReceived(t, p))
	if err != nil {
		t.Fatal(err)
	}
	if r.kind != typeIMET || r.endpoint != o.self || r.vni != 5001 {
		t.Errorf("inclusive multicast route read back as %+v", r)
	}
}

func TestRoutesRefused(t *testing.T) {
	o := testOrigination(t, "198.51.100.1")
	good, err := o.macPath([6]byte{0x02, 0, 0, 0, 0, 0x0a}, netip.Addr{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	nlri := good.Nlri.(*bgp.EVPNNLRI).RouteTypeData.(*bgp.EVPNMacIPAdvertisementRoute)
	with := func(change func(r *bgp.EVPNMacIPAdvertisementRoute), attrs []bgp.PathAttributeInterface) *apiutil.Path {
		r := *nlri
		change(&r)
		return &apiutil.Path{Family: bgp.RF_EVPN, Nlri: bgp.NewEVPNNLRI(typeMACIP, &r), Attrs: attrs, PeerAddress: netip.MustParseAddr("192.0.2.200")}
	}
	noEncap, _ := o.attrs(good.Nlri, nil)
	mplsAttrs := append([]bgp.PathAttributeInterface{}, noEncap[:2]...)
	mplsAttrs = append(mplsAttrs, bgp.NewPathAttributeExtendedCommunities([]bgp.ExtendedCommunityInterface{autoRT(65000, 5001), bgp.NewEncapExtended(bgp.TUNNEL_TYPE_MPLS)}))
	for name, tc := range map[string]struct {
		p           *apiutil.Path
		unsupported bool
	}{
		"multicast MAC": {p: with(func(r *bgp.EVPNMacIPAdvertisementRoute) { r.MacAddress = []byte{0x01, 0, 0x5e, 0, 0, 1} }, good.Attrs)},
		"zero MAC":      {p: with(func(r *bgp.EVPNMacIPAdvertisementRoute) { r.MacAddress = make([]byte, 6) }, good.Attrs)},
		"no label":      {p: with(func(r *bgp.EVPNMacIPAdvertisementRoute) { r.Labels = nil }, good.Attrs)},
		"loopback IP":   {p: with(func(r *bgp.EVPNMacIPAdvertisementRoute) { r.IPAddress = netip.MustParseAddr("127.0.0.1") }, good.Attrs)},
		"multi-homed": {p: with(func(r *bgp.EVPNMacIPAdvertisementRoute) {
			r.ESI = bgp.EthernetSegmentIdentifier{Type: bgp.ESI_ARBITRARY, Value: []byte{0, 0, 0, 0, 0, 0, 0, 0, 1}}
		}, good.Attrs), unsupported: true},
		"MPLS encapsulation": {p: with(func(*bgp.EVPNMacIPAdvertisementRoute) {}, mplsAttrs), unsupported: true},
		"no next hop":        {p: with(func(*bgp.EVPNMacIPAdvertisementRoute) {}, good.Attrs[2:])},
	} {
		_, err := parsePath(tc.p)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if errors.Is(err, errUnsupported) != tc.unsupported {
			t.Errorf("%s: %v (unsupported %v, want %v)", name, err, errors.Is(err, errUnsupported), tc.unsupported)
		}
	}
}
