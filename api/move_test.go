package api

import (
	"net/http"
	"testing"
)

// moveSeed is network backup with connections backup-b, backup-c and
// backup-d (and lab-b on another network), and one binding on each of
// backup-b and lab-b.
var moveSeed = [][2]string{
	{"/v1/networks", `{"name":"backup"}`},
	{"/v1/networks", `{"name":"lab"}`},
	{"/v1/remote-gateways", `{"name":"site-b","tunnel_ip":"198.51.100.2"}`},
	{"/v1/remote-gateways", `{"name":"site-c","tunnel_ip":"198.51.100.3"}`},
	{"/v1/connections", `{"name":"backup-b","network":"backup","remote_gateway":"site-b","segmentation_id":5001}`},
	{"/v1/connections", `{"name":"backup-c","network":"backup","remote_gateway":"site-c","segmentation_id":5001}`},
	{"/v1/connections", `{"name":"lab-b","network":"lab","remote_gateway":"site-b","segmentation_id":5002}`},
	{"/v1/remote-gateways", `{"name":"site-d","tunnel_ip":"198.51.100.4"}`},
	{"/v1/connections", `{"name":"backup-d","network":"backup","remote_gateway":"site-d","segmentation_id":5001}`},
	{"/v1/connections/backup-b/macs", `{"macs":[{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21","2001:db8::21"]}]}`},
	{"/v1/connections/lab-b/macs", `{"macs":[{"mac":"02:0b:00:00:00:02"}]}`},
}

// TestMoveMACs: POST /v1/macs:move moves a binding with its IPs, a retry
// answers the same, and the connections' lists show where it is.
func TestMoveMACs(t *testing.T) {
	c := newClient(t, nil)
	c.seed(moveSeed...)
	const moved = `{"macs":[{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21","2001:db8::21"]}]}`
	c.want(http.MethodPost, "/v1/macs:move", `{"to":"backup-c","from":"backup-b","macs":["02-0B-00-00-00-01"]}`, http.StatusOK, moved)
	c.want(http.MethodGet, "/v1/connections/backup-b/macs", "", http.StatusOK, `{"macs":[]}`)
	c.want(http.MethodGet, "/v1/connections/backup-c/macs", "", http.StatusOK, moved)
	// Retried (the first answer was lost): already there, same answer.
	c.want(http.MethodPost, "/v1/macs:move", `{"to":"backup-c","from":"backup-b","macs":["02:0b:00:00:00:01"]}`, http.StatusOK, moved)
	// And back, without from.
	c.want(http.MethodPost, "/v1/macs:move", `{"to":"backup-b","macs":["02:0b:00:00:00:01"]}`, http.StatusOK, moved)
	c.want(http.MethodGet, "/v1/connections/backup-b/macs", "", http.StatusOK, moved)
}

// TestMoveMACsRejected: each bad move gets its status, code and field, and
// changes nothing.
func TestMoveMACsRejected(t *testing.T) {
	c := newClient(t, nil)
	c.seed(moveSeed...)
	before := c.snapshot()
	for _, tc := range []struct {
		name, body  string
		status      int
		code, field string
	}{
		{"malformed", `{"to":`, 400, "invalid_argument", ""},
		{"unknown field", `{"to":"backup-c","macs":["02:0b:00:00:00:01"],"force":true}`, 400, "invalid_argument", "force"},
		{"macs not a list", `{"to":"backup-c","macs":"02:0b:00:00:00:01"}`, 400, "invalid_argument", "macs"},
		{"no to", `{"macs":["02:0b:00:00:00:01"]}`, 400, "invalid_argument", "to"},
		{"no macs", `{"to":"backup-c"}`, 400, "invalid_argument", "macs"},
		{"bad mac", `{"to":"backup-c","macs":["02:0b:00:00:00:01","02:0b"]}`, 400, "invalid_argument", "macs[1]"},
		{"from on another network", `{"to":"backup-c","from":"lab-b","macs":["02:0b:00:00:00:01"]}`, 400, "invalid_argument", "from"},
		{"unknown to", `{"to":"nope","macs":["02:0b:00:00:00:01"]}`, 404, "not_found", "to"},
		{"unknown from", `{"to":"backup-c","from":"nope","macs":["02:0b:00:00:00:01"]}`, 404, "not_found", "from"},
		{"mac bound nowhere in the network", `{"to":"backup-c","macs":["02:0b:00:00:00:01","02:0b:00:00:00:02"]}`, 404, "not_found", "macs[1]"},
		{"mac not on from", `{"to":"backup-c","from":"backup-d","macs":["02:0b:00:00:00:01"]}`, 409, "conflict", "macs[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, tc.name, c.do(http.MethodPost, "/v1/macs:move", tc.body), tc.status, tc.code, tc.field)
			if after := c.snapshot(); after != before {
				t.Fatalf("a rejected move changed the state:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// TestReplaceMACsDoesNotMove: PUT replaces one connection's set and still
// refuses a MAC bound on another connection of the network (the move
// endpoint moves it).
func TestReplaceMACsDoesNotMove(t *testing.T) {
	c := newClient(t, nil)
	c.seed(moveSeed...)
	resp := c.do(http.MethodPut, "/v1/connections/backup-c/macs", `{"macs":[{"mac":"02:0b:00:00:00:01"}]}`)
	wantError(t, "PUT of a MAC bound on backup-b", resp, http.StatusConflict, "conflict", "macs[0].mac")
}
