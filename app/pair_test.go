package app

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/l2gw/l2gw/ovsdb"
)

// BFDPeers runs BFD to every endpoint of a gateway of several endpoints,
// and, with a pair, to every gateway's endpoints and to the peer; never to
// a gateway without a connection or to a dynamic origin's tunnel.
func TestBFDPeers(t *testing.T) {
	snap := &Snapshot{
		RemoteGateways: []RemoteGateway{
			{Name: "pair", TunnelIP: "198.51.100.11", TunnelIPs: []string{"198.51.100.11", "198.51.100.12"}},
			{Name: "single", TunnelIP: "198.51.100.2", TunnelIPs: []string{"198.51.100.2"}},
			{Name: "idle", TunnelIP: "198.51.100.3", TunnelIPs: []string{"198.51.100.3", "198.51.100.4"}},
		},
		Connections: []Connection{
			{Name: "a", RemoteGateway: "pair", NetworkType: TypeVXLAN},
			{Name: "b", RemoteGateway: "pair", NetworkType: TypeGeneve},
			{Name: "c", RemoteGateway: "single", NetworkType: TypeVXLAN},
			{Name: "d", Origin: OriginEVPN, NetworkType: TypeVXLAN, TunnelIP: "198.51.100.9"},
		},
	}
	names := func(peers []ovsdb.BFDPeer) []string {
		var out []string
		for _, p := range peers {
			out = append(out, p.String())
		}
		slices.Sort(out)
		return out
	}
	if got, want := names(BFDPeers(snap, netip.Addr{})), []string{"geneve/198.51.100.11", "geneve/198.51.100.12",
		"vxlan/198.51.100.11", "vxlan/198.51.100.12"}; !slices.Equal(got, want) {
		t.Errorf("without a pair: %v, want %v", got, want)
	}
	if got, want := names(BFDPeers(snap, netip.MustParseAddr("198.51.100.21"))), []string{"geneve/198.51.100.11", "geneve/198.51.100.12",
		"vxlan/198.51.100.11", "vxlan/198.51.100.12", "vxlan/198.51.100.2", "vxlan/198.51.100.21"}; !slices.Equal(got, want) {
		t.Errorf("with a pair: %v, want %v", got, want)
	}
}
