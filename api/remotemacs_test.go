package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/l2gw/l2gw/app"
)

// TestRemoteMACsOfEveryOrigin: GET /v1/networks/{name}/remote-macs lists
// the API's bindings and what EVPN told, which MAC and IP each origin wins,
// and the read-only connection EVPN's tunnel makes.
func TestRemoteMACsOfEveryOrigin(t *testing.T) {
	state, err := app.Open(t.TempDir(), app.Options{Logger: slog.New(slog.DiscardHandler), LocalTunnelIPs: []string{"198.51.100.1"},
		Origins: []app.Origin{app.OriginEVPN}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { state.Close() })
	c := &client{t: t, h: NewHandler(state, func() app.Status { return testStatus }, nil)}
	c.seed(seedNetwork, seedGateway, seedConn)
	c.want("POST", "/v1/connections/backup-b/macs", `{"macs":[{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21"]}]}`, 201,
		`{"macs":[{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21"]}]}`)
	oaEVPN(t, state)

	c.want("GET", "/v1/networks/backup/remote-macs", "", 200, `{"remote_macs":[`+
		`{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21"],"origin":"static","connection":"backup-b","tunnel_ip":"198.51.100.2","segmentation_id":5001,"network_type":"vxlan","state":"active"},`+
		`{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21"],"origin":"evpn","connection":"backup:vxlan:5009@198.51.100.9","tunnel_ip":"198.51.100.9","segmentation_id":5009,"network_type":"vxlan","state":"shadowed","shadowed_by":"static"},`+
		`{"mac":"02:0e:00:00:00:01","ips":["192.0.2.91"],"origin":"evpn","connection":"backup:vxlan:5009@198.51.100.9","tunnel_ip":"198.51.100.9","segmentation_id":5009,"network_type":"vxlan","state":"active"},`+
		`{"mac":"02:0e:00:00:00:02","ips":[],"origin":"evpn","connection":"backup-b","tunnel_ip":"198.51.100.2","segmentation_id":5001,"network_type":"vxlan","state":"active"}]}`)
	c.want("GET", "/v1/networks/backup/remote-macs?origin=static", "", 200, `{"remote_macs":[`+
		`{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21"],"origin":"static","connection":"backup-b","tunnel_ip":"198.51.100.2","segmentation_id":5001,"network_type":"vxlan","state":"active"}]}`)
	c.want("GET", "/v1/connections", "", 200, `{"connections":[`+
		`{"name":"backup-b","network":"backup","remote_gateway":"site-b","segmentation_id":5001,"network_type":"vxlan","flood":true},`+
		`{"name":"backup:vxlan:5009@198.51.100.9","network":"backup","segmentation_id":5009,"network_type":"vxlan","flood":true,"origin":"evpn","tunnel_ip":"198.51.100.9"}]}`)
	c.want("GET", "/v1/connections/backup:vxlan:5009@198.51.100.9/macs", "", 200,
		`{"macs":[{"mac":"02:0e:00:00:00:01","ips":["192.0.2.91"],"origin":"evpn"}]}`)

	resp := c.do("DELETE", "/v1/connections/backup:vxlan:5009@198.51.100.9", "")
	wantError(t, "DELETE evpn's connection", resp, http.StatusConflict, "conflict", "")
	resp = c.do("POST", "/v1/macs:move", `{"to":"backup:vxlan:5009@198.51.100.9","macs":["02:0b:00:00:00:01"]}`)
	wantError(t, "move to evpn's connection", resp, http.StatusConflict, "conflict", "to")
	resp = c.do("GET", "/v1/networks/backup/remote-macs?origin=bgp", "")
	wantError(t, "unknown origin", resp, http.StatusBadRequest, "invalid_argument", "origin")

	// What a GET answered may be sent back as it is; another origin may not.
	c.want("PUT", "/v1/networks/backup", `{"name":"backup","attachments":[{"port":"eth1"}],"origin":"static"}`, 200,
		`{"name":"backup","attachments":[{"port":"eth1"}]}`)
	resp = c.do("PUT", "/v1/networks/backup", `{"attachments":[],"origin":"vtep"}`)
	wantError(t, "PUT with origin vtep", resp, http.StatusBadRequest, "invalid_argument", "origin")
	c.want("GET", "/v1/networks/backup", "", 200, `{"name":"backup","attachments":[{"port":"eth1"}]}`)
}

// TestStatusShowsTheOrigins: GET /v1/status has an origins list only when
// some dynamic origin's source runs.
func TestStatusShowsTheOrigins(t *testing.T) {
	st := testStatus
	st.Origins = []app.OriginStatus{{Origin: app.OriginEVPN, RemoteMACs: 3, FloodTargets: 1, HeldFlows: 6}}
	h := NewHandler(nil, func() app.Status { return st }, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/status", nil))
	want := `{"bridge":"br-int","connected":true,"ovsdb_connected":true,"reconciled":false,"flows":42,"flow_mods":0,"bundles":0,` +
		`"origins":[{"origin":"evpn","synced":false,"remote_macs":3,"flood_targets":1,"held_flows":6}],"desired_state_digest":""}` + "\n"
	if rec.Body.String() != want {
		t.Fatalf("status:\n got %s\nwant %s", rec.Body.String(), want)
	}
}
