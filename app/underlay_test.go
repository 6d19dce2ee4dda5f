package app

import (
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/flows"
)

// TestMixedUnderlayCompiles: a network joined to an IPv4 gateway and to an
// IPv6 one (written in IPv4-mapped and in long notation) reaches the flow
// compiler with each gateway's own address family, and compiles.
func TestMixedUnderlayCompiles(t *testing.T) {
	s := newState(t)
	must[Network](t)(s.CreateNetwork(Network{Name: "net-a", Attachments: []Attachment{{Port: "eth1"}}}))
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-b", TunnelIP: "::ffff:198.51.100.2"}))
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-c", TunnelIP: "2001:db8:0:3:0:0:0:1"}))
	must[Connection](t)(s.CreateConnection(Connection{Name: "a-b", Network: "net-a", RemoteGateway: "site-b", SegmentationID: 5001, Flood: true}))
	must[Connection](t)(s.CreateConnection(Connection{Name: "a-c", Network: "net-a", RemoteGateway: "site-c", SegmentationID: 5001,
		NetworkType: TypeGRE, Flood: true}))
	must[[]MACBinding](t)(s.AddMACs("a-c", MACBindings{{MAC: "02:0c:00:00:00:01", IPs: []string{"192.0.2.31"}}}))

	in := snapshotInput(s, map[string]uint32{"eth1": 1, "l2gw-vxlan": 10, "l2gw-gre": 11})
	if len(in.Networks) != 1 || len(in.Networks[0].Connections) != 2 {
		t.Fatalf("compiler input has networks %+v, want one with both connections", in.Networks)
	}
	want := map[string]net.IP{"vxlan": {198, 51, 100, 2}, "gre": net.ParseIP("2001:db8:0:3::1")}
	for _, c := range in.Networks[0].Connections {
		if !c.RemoteIP.Equal(want[c.NetworkType]) || len(c.RemoteIP) != len(want[c.NetworkType]) {
			t.Errorf("%s connection's remote IP is %v (%d bytes), want %v (%d bytes)",
				c.NetworkType, c.RemoteIP, len(c.RemoteIP), want[c.NetworkType], len(want[c.NetworkType]))
		}
	}
	set, err := flows.Compile(in)
	if err != nil {
		t.Fatalf("compile mixed underlay: %v", err)
	}
	connFlows := map[uint32]int{}
	for _, f := range set {
		if _, o, _ := flows.DecodeCookie(f.Cookie); o.Kind == flows.KindConnection {
			connFlows[o.ID]++
		}
	}
	for _, c := range in.Networks[0].Connections {
		if connFlows[c.ID] == 0 {
			t.Errorf("%s connection to %v got no flows", c.NetworkType, c.RemoteIP)
		}
	}
}

// TestDualStackGatewayRefusesBothOwnAddresses: a gateway with an IPv4 and
// an IPv6 tunnel address refuses either as a remote gateway's.
func TestDualStackGatewayRefusesBothOwnAddresses(t *testing.T) {
	s, err := Open(t.TempDir(), Options{Logger: slog.New(slog.DiscardHandler), LocalTunnelIPs: []string{"198.51.100.1", "2001:db8::1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, ip := range []string{"198.51.100.1", "2001:db8::1", "2001:DB8:0::1"} {
		_, err := s.CreateRemoteGateway(RemoteGateway{Name: "gw", TunnelIP: ip})
		if e, ok := err.(*Error); !ok || e.Kind != Invalid || !strings.Contains(e.Message, "own tunnel IP") {
			t.Errorf("remote gateway at this gateway's own %s: %v", ip, err)
		}
	}
	if _, err := s.CreateRemoteGateway(RemoteGateway{Name: "gw", TunnelIP: "2001:db8::2"}); err != nil {
		t.Fatal(err)
	}
}
