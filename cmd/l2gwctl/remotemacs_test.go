package main

import (
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/l2gw/l2gw/api"
	"github.com/l2gw/l2gw/app"
)

// TestRemoteMACsOfANetwork: "mac list --network" shows every origin's
// remote MACs, which wins each MAC and IP, and "connection list" the
// connection EVPN's tunnel makes.
func TestRemoteMACsOfANetwork(t *testing.T) {
	state, err := app.Open(t.TempDir(), app.Options{Logger: slog.New(slog.DiscardHandler), Origins: []app.Origin{app.OriginEVPN}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { state.Close() })
	srv := httptest.NewServer(api.NewHandler(state, func() app.Status { return app.Status{} }, nil))
	t.Cleanup(srv.Close)
	play(t, srv.URL, []step{
		{args: "network create backup --attach eth1", stdout: "created network backup\n"},
		{args: "gateway create site-b --tunnel-ip 198.51.100.2", stdout: "created gateway site-b\n"},
		{args: "connection create backup-b --network backup --gateway site-b --segmentation-id 5001", stdout: "created connection backup-b\n"},
		{args: "mac add backup-b 02:0b:00:00:00:01=192.0.2.21", stdout: "added 1 MAC(s) to connection backup-b\n"},
	})
	feed, err := state.Feed(app.OriginEVPN)
	if err != nil {
		t.Fatal(err)
	}
	siteC := app.Tunnel{Endpoint: netip.MustParseAddr("198.51.100.3"), NetworkType: app.TypeVXLAN, SegmentationID: 5003}
	hw := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	ip := netip.MustParseAddr
	if err := feed.UpsertRemoteMACs(
		app.RemoteMAC{Network: "backup", Tunnel: siteC, MAC: hw("02:0b:00:00:00:01")},
		app.RemoteMAC{Network: "backup", Tunnel: siteC, MAC: hw("02:0c:00:00:00:01"), IPs: []netip.Addr{ip("192.0.2.21"), ip("192.0.2.31")}}); err != nil {
		t.Fatal(err)
	}
	play(t, srv.URL, []step{
		{args: "mac list --network backup", stdout: "" +
			"MAC                 IPS                             ORIGIN   CONNECTION                       STATE\n" +
			"02:0b:00:00:00:01   192.0.2.21                      static   backup-b                         active\n" +
			"02:0b:00:00:00:01   -                               evpn     backup:vxlan:5003@198.51.100.3   shadowed by static\n" +
			"02:0c:00:00:00:01   192.0.2.21(static),192.0.2.31   evpn     backup:vxlan:5003@198.51.100.3   active\n"},
		{args: "mac list --network backup --origin static", stdout: "" +
			"MAC                 IPS          ORIGIN   CONNECTION   STATE\n" +
			"02:0b:00:00:00:01   192.0.2.21   static   backup-b     active\n"},
		{args: "mac list backup:vxlan:5003@198.51.100.3", stdout: "" +
			"MAC                 IPS\n" +
			"02:0c:00:00:00:01   192.0.2.31\n"},
		{args: "connection list", stdout: "" +
			"NAME                             NETWORK   GATEWAY             TYPE    SEG-ID   FLOOD\n" +
			"backup-b                         backup    site-b              vxlan   5001     true\n" +
			"backup:vxlan:5003@198.51.100.3   backup    evpn 198.51.100.3   vxlan   5003     false\n"},
		{args: "connection delete backup:vxlan:5003@198.51.100.3", code: 1, stderr: "belongs to origin evpn"},
		{args: "mac list --network backup --origin bgp", code: 1, stderr: "not one of static, vtep, evpn"},
		{args: "mac list backup-b --network backup", code: 2, stderr: "usage: l2gwctl mac list"},
		{args: "mac list --network nope", code: 1, stderr: `network "nope" not found`},
	})
}
