package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/l2gw/l2gw/app"
)

// speaker is a BGP speaker as the API sees it: the sessions and the
// readiness a test gives it.
type speaker struct {
	mu       sync.Mutex
	sessions map[string]app.BGPPeerStatus
	notReady error
}

func newSpeaker() *speaker { return &speaker{sessions: map[string]app.BGPPeerStatus{}} }

// PeerStatus reports the session the test set for name.
func (s *speaker) PeerStatus(name string) (app.BGPPeerStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.sessions[name]
	return st, ok
}

// Ready is the readiness the test set.
func (s *speaker) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notReady
}

func (s *speaker) session(name string, st app.BGPPeerStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[name] = st
}

func (s *speaker) ready(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notReady = err
}

func TestBGPPeers(t *testing.T) {
	bgp := newSpeaker()
	bgp.session("rr1", app.BGPPeerStatus{State: app.BGPActive, Since: time.Now(), LastError: "dial tcp 198.51.100.3:179: connection refused"})
	c := newClient(t, nil, WithBGP(bgp))
	c.want("GET", "/v1/bgp-peers", "", 200, `{"bgp_peers":[]}`)
	rr1 := `{"name":"rr1","address":"198.51.100.3","asn":65000,"hold_time":30,"keepalive":10,"has_password":true,
		"state":"active","uptime_seconds":0,"routes_received":0,"routes_accepted":0,"routes_advertised":0,
		"last_error":"dial tcp 198.51.100.3:179: connection refused"}`
	c.want("POST", "/v1/bgp-peers", `{"name":"rr1","address":"198.51.100.3","asn":65000,"password":"s3cret","hold_time":30,"keepalive":10}`, 201, rr1)
	// The speaker does not know rr2 yet: idle, no error. Its address is
	// answered canonical.
	rr2 := `{"name":"rr2","address":"203.0.113.7","asn":4200000000,"port":1179,"max_routes":10,
		"state":"idle","uptime_seconds":0,"routes_received":0,"routes_accepted":0,"routes_advertised":0}`
	c.want("POST", "/v1/bgp-peers", `{"name":"rr2","address":"::ffff:203.0.113.7","asn":4200000000,"port":1179,"max_routes":10}`, 201, rr2)
	c.want("GET", "/v1/bgp-peers/rr1", "", 200, rr1)
	c.want("GET", "/v1/bgp-peers", "", 200, `{"bgp_peers":[`+rr1+`,`+rr2+`]}`)

	// PUT replaces every field, the password too; the body may leave the
	// name out.
	c.want("PUT", "/v1/bgp-peers/rr1", `{"address":"2001:DB8::3","asn":65001}`, 200,
		`{"name":"rr1","address":"2001:db8::3","asn":65001,"state":"active","uptime_seconds":0,"routes_received":0,
		"routes_accepted":0,"routes_advertised":0,"last_error":"dial tcp 198.51.100.3:179: connection refused"}`)
	c.want("PUT", "/v1/bgp-peers/rr2", `{"name":"rr2","address":"203.0.113.7","asn":65000,"password":"n3w"}`, 200,
		`{"name":"rr2","address":"203.0.113.7","asn":65000,"has_password":true,"state":"idle","uptime_seconds":0,
		"routes_received":0,"routes_accepted":0,"routes_advertised":0}`)

	c.want("DELETE", "/v1/bgp-peers/rr1", "", 204, "")
	c.want("GET", "/v1/bgp-peers/rr1", "", 404, `{"error":{"code":"not_found","message":"bgp peer \"rr1\" not found"}}`)
	c.want("GET", "/v1/bgp-peers", "", 200, `{"bgp_peers":[{"name":"rr2","address":"203.0.113.7","asn":65000,"has_password":true,
		"state":"idle","uptime_seconds":0,"routes_received":0,"routes_accepted":0,"routes_advertised":0}]}`)
}

// TestBGPPeerSessions: an established session shows its uptime and
// routes; without BGP every peer is idle, and says why.
func TestBGPPeerSessions(t *testing.T) {
	bgp := newSpeaker()
	bgp.session("rr1", app.BGPPeerStatus{State: app.BGPEstablished, Since: time.Now().Add(-time.Hour),
		RoutesReceived: 120, RoutesAccepted: 118, RoutesAdvertised: 40})
	state := openTestState(t)
	status := func() app.Status { return testStatus }
	with := &client{t: t, h: NewHandler(state, status, nil, WithBGP(bgp))}
	without := &client{t: t, h: NewHandler(state, status, nil)}
	with.seed([2]string{"/v1/bgp-peers", `{"name":"rr1","address":"198.51.100.3","asn":65000}`})

	var got BGPPeerStatus
	if err := json.Unmarshal([]byte(with.get("/v1/bgp-peers/rr1")), &got); err != nil {
		t.Fatal(err)
	}
	if got.State != "established" || got.UptimeSeconds < 3600 || got.UptimeSeconds > 3600+60 ||
		got.RoutesReceived != 120 || got.RoutesAccepted != 118 || got.RoutesAdvertised != 40 || got.LastError != "" {
		t.Errorf("established an hour ago, 120 routes received, 118 accepted, 40 advertised: %+v", got)
	}
	without.want("GET", "/v1/bgp-peers", "", 200, `{"bgp_peers":[{"name":"rr1","address":"198.51.100.3","asn":65000,
		"state":"idle","uptime_seconds":0,"routes_received":0,"routes_accepted":0,"routes_advertised":0,
		"last_error":"bgp is not enabled (start l2gwd with --bgp-asn)"}]}`)
}

// TestBGPPasswordIsNeverAnswered: no answer, to any request, shows a
// peer's password.
func TestBGPPasswordIsNeverAnswered(t *testing.T) {
	const password = "md5-k3y-of-rr1"
	c := newClient(t, nil, WithBGP(newSpeaker()))
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/bgp-peers", `{"name":"rr1","address":"198.51.100.3","asn":65000,"password":"` + password + `"}`},
		{"GET", "/v1/bgp-peers", ""},
		{"GET", "/v1/bgp-peers/rr1", ""},
		{"PUT", "/v1/bgp-peers/rr1", `{"address":"198.51.100.3","asn":65000,"password":"` + password + `"}`},
		{"POST", "/v1/bgp-peers", `{"name":"rr1","address":"198.51.100.3","asn":65000,"password":"` + password + `"}`},
		{"POST", "/v1/bgp-peers", `{"name":"rr2","address":"198.51.100.4","asn":65000,"password":"` + password + strings.Repeat("x", 80) + `"}`},
		{"PUT", "/v1/bgp-peers/rr1", `{"address":"198.51.100.3","asn":65000,"password":"` + password + `","hold_time":1}`},
		{"GET", "/v1/openapi.json", ""},
	} {
		resp := c.do(r.method, r.path, r.body)
		if strings.Contains(resp.body, password) {
			t.Errorf("%s %s answered the password: %s", r.method, r.path, resp.body)
		}
		if resp.status < 300 && r.path != "/v1/openapi.json" && strings.Contains(resp.body, `"password"`) {
			t.Errorf("%s %s answered a password field: %s", r.method, r.path, resp.body)
		}
	}
	var got BGPPeerStatus
	if err := json.Unmarshal([]byte(c.get("/v1/bgp-peers/rr1")), &got); err != nil || !got.HasPassword {
		t.Errorf("has_password false or absent (%v): %+v", err, got)
	}
}

// TestBGPPeersAndEVPNRejected checks the errors of the BGP peer routes and
// of networks' EVPN field, and that each rejected request changes nothing
// the API can show.
func TestBGPPeersAndEVPNRejected(t *testing.T) {
	c := newClient(t, nil)
	c.seed([2]string{"/v1/bgp-peers", `{"name":"rr1","address":"198.51.100.3","asn":65000}`},
		[2]string{"/v1/bgp-peers", `{"name":"rr2","address":"198.51.100.4","asn":65000}`},
		[2]string{"/v1/networks", `{"name":"lab","evpn":{"vni":5001}}`},
		[2]string{"/v1/networks", `{"name":"other"}`})
	peer := func(fields string) string { return `{"name":"rr9","address":"203.0.113.9","asn":65000` + fields + `}` }
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, field              string
	}{
		{"bad name", "POST", "/v1/bgp-peers", `{"name":"RR_9","address":"203.0.113.9","asn":65000}`, 400, codeInvalid, "name"},
		{"no address", "POST", "/v1/bgp-peers", `{"name":"rr9","asn":65000}`, 400, codeInvalid, "address"},
		{"address not an IP", "POST", "/v1/bgp-peers", `{"name":"rr9","address":"rr9.example","asn":65000}`, 400, codeInvalid, "address"},
		{"our tunnel IP", "POST", "/v1/bgp-peers", `{"name":"rr9","address":"198.51.100.1","asn":65000}`, 400, codeInvalid, "address"},
		{"no ASN", "POST", "/v1/bgp-peers", `{"name":"rr9","address":"203.0.113.9"}`, 400, codeInvalid, "asn"},
		{"ASN over 32 bits", "POST", "/v1/bgp-peers", `{"name":"rr9","address":"203.0.113.9","asn":4294967296}`, 400, codeInvalid, "asn"},
		{"port over 16 bits", "POST", "/v1/bgp-peers", peer(`,"port":70000`), 400, codeInvalid, "port"},
		{"password of 81 bytes", "POST", "/v1/bgp-peers", peer(`,"password":"` + strings.Repeat("k", 81) + `"`), 400, codeInvalid, "password"},
		{"hold time 2", "POST", "/v1/bgp-peers", peer(`,"hold_time":2`), 400, codeInvalid, "hold_time"},
		{"keepalive not under the hold time", "POST", "/v1/bgp-peers", peer(`,"hold_time":30,"keepalive":30`), 400, codeInvalid, "keepalive"},
		{"read-only state", "POST", "/v1/bgp-peers", peer(`,"state":"established"`), 400, codeInvalid, "state"},
		{"read-only has_password", "POST", "/v1/bgp-peers", peer(`,"has_password":true`), 400, codeInvalid, "has_password"},
		{"name taken", "POST", "/v1/bgp-peers", `{"name":"rr1","address":"203.0.113.9","asn":65000}`, 409, codeAlreadyExists, "name"},
		{"address taken", "POST", "/v1/bgp-peers", `{"name":"rr9","address":"::ffff:198.51.100.3","asn":65000}`, 409, codeConflict, "address"},
		{"PUT names another", "PUT", "/v1/bgp-peers/rr1", `{"name":"rr2","address":"198.51.100.3","asn":65000}`, 400, codeInvalid, "name"},
		{"PUT bad hold time", "PUT", "/v1/bgp-peers/rr1", `{"address":"198.51.100.3","asn":65000,"hold_time":1}`, 400, codeInvalid, "hold_time"},
		{"PUT unknown", "PUT", "/v1/bgp-peers/nope", `{"address":"203.0.113.9","asn":65000}`, 404, codeNotFound, ""},
		{"PUT address taken", "PUT", "/v1/bgp-peers/rr1", `{"address":"198.51.100.4","asn":65000}`, 409, codeConflict, "address"},
		{"GET unknown", "GET", "/v1/bgp-peers/nope", "", 404, codeNotFound, ""},
		{"DELETE unknown", "DELETE", "/v1/bgp-peers/nope", "", 404, codeNotFound, ""},
		{"DELETE the list", "DELETE", "/v1/bgp-peers", "", 405, "method_not_allowed", ""},

		{"no VNI", "POST", "/v1/networks", `{"name":"n2","evpn":{}}`, 400, codeInvalid, "evpn.vni"},
		{"VNI over 24 bits", "POST", "/v1/networks", `{"name":"n2","evpn":{"vni":16777216}}`, 400, codeInvalid, "evpn.vni"},
		{"VNI a string", "POST", "/v1/networks", `{"name":"n2","evpn":{"vni":"5002"}}`, 400, codeInvalid, "evpn.vni"},
		{"unknown EVPN field", "POST", "/v1/networks", `{"name":"n2","evpn":{"vni":5002,"rd":"1:1"}}`, 400, codeInvalid, "rd"},
		{"bad import route target", "POST", "/v1/networks",
			`{"name":"n2","evpn":{"vni":5002,"route_targets":{"import":["65000:1","65536:65536"]}}}`, 400, codeInvalid, "evpn.route_targets.import[1]"},
		{"bad export route target", "PUT", "/v1/networks/other",
			`{"evpn":{"vni":5002,"route_targets":{"export":["x:1"]}}}`, 400, codeInvalid, "evpn.route_targets.export[0]"},
		{"route target twice", "POST", "/v1/networks",
			`{"name":"n2","evpn":{"vni":5002,"route_targets":{"export":["65000:1","65000:01"]}}}`, 400, codeInvalid, "evpn.route_targets.export[1]"},
		{"VNI taken", "POST", "/v1/networks", `{"name":"n2","evpn":{"vni":5001}}`, 409, codeConflict, "evpn.vni"},
		{"VNI taken by PUT", "PUT", "/v1/networks/other", `{"evpn":{"vni":5001}}`, 409, codeConflict, "evpn.vni"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			before := c.snapshot() + c.get("/v1/bgp-peers")
			resp := c.do(tc.method, tc.path, tc.body)
			wantError(t, tc.method+" "+tc.path, resp, tc.status, tc.code, tc.field)
			if after := c.snapshot() + c.get("/v1/bgp-peers"); after != before {
				t.Errorf("state changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestNetworkEVPN(t *testing.T) {
	c := newClient(t, nil)
	lab := `{"name":"lab","attachments":[{"port":"eth2"}],
		"evpn":{"vni":5001,"route_targets":{"import":["65000:5001","198.51.100.3:7"],"export":[]}}}`
	c.want("POST", "/v1/networks", `{"name":"lab","attachments":[{"port":"eth2"}],
		"evpn":{"vni":5001,"route_targets":{"import":["65000:05001","198.51.100.3:7"],"export":null}}}`, 201, lab)
	c.want("POST", "/v1/networks", `{"name":"auto","evpn":{"vni":5002}}`, 201,
		`{"name":"auto","attachments":[],"evpn":{"vni":5002,"route_targets":{"import":[],"export":[]}}}`)
	c.want("GET", "/v1/networks/lab", "", 200, lab)

	// PUT changes the VNI and the route targets; without evpn the network
	// leaves EVPN.
	c.want("PUT", "/v1/networks/auto", `{"evpn":{"vni":5001,"route_targets":{"export":["4200000000:7"]}}}`, 409,
		`{"error":{"code":"conflict","message":"evpn vni 5001 is already used by network \"lab\"","field":"evpn.vni"}}`)
	c.want("PUT", "/v1/networks/auto", `{"evpn":{"vni":6001,"route_targets":{"export":["4200000000:7"]}}}`, 200,
		`{"name":"auto","attachments":[],"evpn":{"vni":6001,"route_targets":{"import":[],"export":["4200000000:7"]}}}`)
	c.want("PUT", "/v1/networks/lab", `{"attachments":[{"port":"eth2"}]}`, 200, `{"name":"lab","attachments":[{"port":"eth2"}]}`)
	c.want("GET", "/v1/networks", "", 200, `{"networks":[
		{"name":"auto","attachments":[],"evpn":{"vni":6001,"route_targets":{"import":[],"export":["4200000000:7"]}}},
		{"name":"lab","attachments":[{"port":"eth2"}]}]}`)
}

// TestReadyzCountsBGPWhilePeersAreConfigured: with BGP, GET /readyz waits
// for it while peers are configured, and says why it is not ready; without
// peers, or without BGP, BGP does not count.
func TestReadyzCountsBGPWhilePeersAreConfigured(t *testing.T) {
	bgp := newSpeaker()
	bgp.ready(errors.New("no bgp peer is established"))
	state := openTestState(t)
	up := func() app.Status {
		return app.Status{Bridge: "br-int", Connected: true, OVSDBConnected: true, Reconciled: true}
	}
	with := &client{t: t, h: NewHandler(state, up, nil, WithBGP(bgp))}
	without := &client{t: t, h: NewHandler(state, up, nil)}
	const readyNoBGP = `{"ready":true,"openflow_connected":true,"ovsdb_connected":true,"reconciled":true}`

	with.want("GET", "/readyz", "", 200, readyNoBGP)
	with.seed([2]string{"/v1/bgp-peers", `{"name":"rr1","address":"198.51.100.3","asn":65000}`})
	with.want("GET", "/readyz", "", 503, `{"ready":false,"openflow_connected":true,"ovsdb_connected":true,"reconciled":true,
		"bgp_ready":false,"bgp_error":"no bgp peer is established","not_ready":["bgp_ready"]}`)
	without.want("GET", "/readyz", "", 200, readyNoBGP)
	bgp.ready(nil)
	with.want("GET", "/readyz", "", 200, `{"ready":true,"openflow_connected":true,"ovsdb_connected":true,"reconciled":true,"bgp_ready":true}`)
	bgp.ready(errors.New("no bgp peer is established"))
	with.want("DELETE", "/v1/bgp-peers/rr1", "", http.StatusNoContent, "")
	with.want("GET", "/readyz", "", 200, readyNoBGP)
}
