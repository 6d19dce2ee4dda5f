package frrtest

import (
	"net/netip"
	"os"
	"slices"
	"testing"
)

// TestParseRoutes reads FRR 8.4's own `show bgp l2vpn evpn route detail
// json` of a route reflector (testdata, captured here): its type-3 route,
// and its client's type-3 route, a host's MAC and MAC+IP routes after the
// host moved there (sequence 1) and a sticky static MAC.
func TestParseRoutes(t *testing.T) {
	out, err := os.ReadFile("testdata/evpn-route-detail.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseRoutes(out)
	if err != nil {
		t.Fatal(err)
	}
	rr, client := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")
	want := []Route{
		{RD: "198.51.100.1:2", Type: 3, IP: rr, NextHop: rr, VNI: 5001, ExtCommunities: "ET:8 RT:65000:5001", Best: true},
		{RD: "198.51.100.2:2", Type: 2, MAC: "00:00:5e:00:53:0a", NextHop: client, VNI: 5001, Sequence: 1,
			ExtCommunities: "RT:65000:5001 ET:8 MM:1", From: client, Best: true},
		{RD: "198.51.100.2:2", Type: 2, MAC: "00:00:5e:00:53:0a", IP: netip.MustParseAddr("192.0.2.2"), NextHop: client,
			VNI: 5001, Sequence: 1, ExtCommunities: "RT:65000:5001 ET:8 MM:1", From: client, Best: true},
		{RD: "198.51.100.2:2", Type: 2, MAC: "00:00:5e:00:53:0c", NextHop: client, VNI: 5001, Sticky: true,
			ExtCommunities: "RT:65000:5001 ET:8 MM:0, sticky MAC", From: client, Best: true},
		{RD: "198.51.100.2:2", Type: 3, IP: client, NextHop: client, VNI: 5001, ExtCommunities: "RT:65000:5001 ET:8", From: client, Best: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("routes:\n got %+v\nwant %+v", got, want)
	}
}
