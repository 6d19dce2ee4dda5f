package api

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/app"
)

// Seed objects shared by the tests.
var (
	seedNetwork = [2]string{"/v1/networks",
		`{"name":"backup","attachments":[{"port":"eth1"},{"port":"trunk0","vlan":100}]}`}
	seedGateway = [2]string{"/v1/remote-gateways", `{"name":"site-b","tunnel_ip":"198.51.100.2"}`}
	seedConn    = [2]string{"/v1/connections",
		`{"name":"backup-b","network":"backup","remote_gateway":"site-b","segmentation_id":5001,"network_type":"vxlan","flood":true}`}
)

func TestNetworks(t *testing.T) {
	c := newClient(t, nil)
	c.want("GET", "/v1/networks", "", 200, `{"networks":[]}`)
	c.want("POST", "/v1/networks", seedNetwork[1], 201,
		`{"name":"backup","attachments":[{"port":"eth1"},{"port":"trunk0","vlan":100}]}`)
	c.want("POST", "/v1/networks", `{"name":"empty"}`, 201, `{"name":"empty","attachments":[]}`)
	c.want("GET", "/v1/networks/backup", "", 200,
		`{"name":"backup","attachments":[{"port":"eth1"},{"port":"trunk0","vlan":100}]}`)
	c.want("GET", "/v1/networks", "", 200, `{"networks":[
		{"name":"backup","attachments":[{"port":"eth1"},{"port":"trunk0","vlan":100}]},
		{"name":"empty","attachments":[]}]}`)

	// PUT replaces; the body may name the network or leave the name out.
	c.want("PUT", "/v1/networks/backup", `{"name":"backup","attachments":[{"port":"eth2","vlan":7}]}`, 200,
		`{"name":"backup","attachments":[{"port":"eth2","vlan":7}]}`)
	c.want("PUT", "/v1/networks/empty", `{"attachments":[{"port":"eth3"}]}`, 200,
		`{"name":"empty","attachments":[{"port":"eth3"}]}`)
	c.want("GET", "/v1/networks/backup", "", 200, `{"name":"backup","attachments":[{"port":"eth2","vlan":7}]}`)

	c.want("DELETE", "/v1/networks/empty", "", 204, "")
	c.want("GET", "/v1/networks", "", 200,
		`{"networks":[{"name":"backup","attachments":[{"port":"eth2","vlan":7}]}]}`)
}

func TestRemoteGateways(t *testing.T) {
	c := newClient(t, nil)
	c.want("GET", "/v1/remote-gateways", "", 200, `{"remote_gateways":[]}`)
	c.want("POST", "/v1/remote-gateways", seedGateway[1], 201, `{"name":"site-b","tunnel_ip":"198.51.100.2","tunnel_ips":["198.51.100.2"]}`)
	c.want("POST", "/v1/remote-gateways", `{"name":"site-c","tunnel_ip":"203.0.113.3"}`, 201,
		`{"name":"site-c","tunnel_ip":"203.0.113.3","tunnel_ips":["203.0.113.3"]}`)
	c.want("GET", "/v1/remote-gateways/site-b", "", 200, `{"name":"site-b","tunnel_ip":"198.51.100.2","tunnel_ips":["198.51.100.2"]}`)
	c.want("GET", "/v1/remote-gateways", "", 200, `{"remote_gateways":[
		{"name":"site-b","tunnel_ip":"198.51.100.2","tunnel_ips":["198.51.100.2"]},
		{"name":"site-c","tunnel_ip":"203.0.113.3","tunnel_ips":["203.0.113.3"]}]}`)
	c.want("PUT", "/v1/remote-gateways/site-b", `{"name":"site-b","tunnel_ip":"198.51.100.20"}`, 200,
		`{"name":"site-b","tunnel_ip":"198.51.100.20","tunnel_ips":["198.51.100.20"]}`)
	c.want("PUT", "/v1/remote-gateways/site-c", `{"tunnel_ip":"203.0.113.30"}`, 200,
		`{"name":"site-c","tunnel_ip":"203.0.113.30","tunnel_ips":["203.0.113.30"]}`)
	c.want("DELETE", "/v1/remote-gateways/site-c", "", 204, "")
	c.want("GET", "/v1/remote-gateways", "", 200,
		`{"remote_gateways":[{"name":"site-b","tunnel_ip":"198.51.100.20","tunnel_ips":["198.51.100.20"]}]}`)
}

// TestRemoteGatewayEndpoints: a gateway with several endpoints, given by
// tunnel_ips alone or with a tunnel_ip that agrees; the errors name the
// field at fault.
func TestRemoteGatewayEndpoints(t *testing.T) {
	c := newClient(t, nil)
	const g = `{"name":"site-g","tunnel_ip":"198.51.100.11","tunnel_ips":["198.51.100.11","198.51.100.12"]}`
	c.want("POST", "/v1/remote-gateways", `{"name":"site-g","tunnel_ips":["::ffff:198.51.100.11","198.51.100.12"]}`, 201, g)
	c.want("GET", "/v1/remote-gateways/site-g", "", 200, g)
	c.want("PUT", "/v1/remote-gateways/site-g", `{"tunnel_ip":"198.51.100.12","tunnel_ips":["198.51.100.12","198.51.100.11"]}`, 200,
		`{"name":"site-g","tunnel_ip":"198.51.100.12","tunnel_ips":["198.51.100.12","198.51.100.11"]}`)

	for _, tc := range []struct{ body, status, code, field string }{
		{`{"name":"site-x","tunnel_ip":"198.51.100.22","tunnel_ips":["198.51.100.21","198.51.100.22"]}`, "400", codeInvalid, "tunnel_ip"},
		{`{"name":"site-x","tunnel_ips":["198.51.100.21","2001:db8::22"]}`, "400", codeInvalid, "tunnel_ips[1]"},
		{`{"name":"site-x","tunnel_ips":["198.51.100.21","198.51.100.21"]}`, "400", codeInvalid, "tunnel_ips[1]"},
		{`{"name":"site-x","tunnel_ips":["198.51.100.21","198.51.100.1"]}`, "400", codeInvalid, "tunnel_ips[1]"},
		{`{"name":"site-x","tunnel_ips":"198.51.100.21"}`, "400", codeInvalid, "tunnel_ips"},
		{`{"name":"site-x"}`, "400", codeInvalid, "tunnel_ip"},
		{`{"name":"site-x","tunnel_ips":["198.51.100.21"],"endpoints":[]}`, "400", codeInvalid, "endpoints"},
		{`{"name":"site-x","tunnel_ips":["198.51.100.21","198.51.100.11"]}`, "409", codeConflict, "tunnel_ips[1]"},
	} {
		resp := c.do("POST", "/v1/remote-gateways", tc.body)
		status := map[string]int{"400": http.StatusBadRequest, "409": http.StatusConflict}[tc.status]
		wantError(t, "POST "+tc.body, resp, status, tc.code, tc.field)
	}
	c.want("GET", "/v1/remote-gateways", "", 200, `{"remote_gateways":[
		{"name":"site-g","tunnel_ip":"198.51.100.12","tunnel_ips":["198.51.100.12","198.51.100.11"]}]}`)
}

// TestRemoteGatewayEndpointStatus: with WithEndpoints, GET answers carry
// what the reporter says of each endpoint (bfd left out when no BFD runs);
// POST and PUT answers do not.
func TestRemoteGatewayEndpointStatus(t *testing.T) {
	report := func(g app.RemoteGateway) []app.EndpointStatus {
		out := make([]app.EndpointStatus, len(g.TunnelIPs))
		for i, ip := range g.TunnelIPs {
			out[i] = app.EndpointStatus{TunnelIP: ip, BFD: []string{"down", "up", ""}[i%3], InUse: i == 1}
		}
		return out
	}
	c := newClient(t, nil, WithEndpoints(report))
	c.want("POST", "/v1/remote-gateways", `{"name":"site-g","tunnel_ips":["198.51.100.11","198.51.100.12","198.51.100.13"]}`, 201,
		`{"name":"site-g","tunnel_ip":"198.51.100.11","tunnel_ips":["198.51.100.11","198.51.100.12","198.51.100.13"]}`)
	const g = `{"name":"site-g","tunnel_ip":"198.51.100.11","tunnel_ips":["198.51.100.11","198.51.100.12","198.51.100.13"],"endpoints":[` +
		`{"tunnel_ip":"198.51.100.11","bfd":"down","in_use":false},{"tunnel_ip":"198.51.100.12","bfd":"up","in_use":true},` +
		`{"tunnel_ip":"198.51.100.13","in_use":false}]}`
	c.want("GET", "/v1/remote-gateways/site-g", "", 200, g)
	c.want("GET", "/v1/remote-gateways", "", 200, `{"remote_gateways":[`+g+`]}`)
}

func TestConnections(t *testing.T) {
	c := newClient(t, nil)
	c.seed(seedNetwork, seedGateway)
	c.want("GET", "/v1/connections", "", 200, `{"connections":[]}`)
	const conn = `{"name":"backup-b","network":"backup","remote_gateway":"site-b","segmentation_id":5001,"network_type":"vxlan","flood":true}`
	c.want("POST", "/v1/connections", seedConn[1], 201, conn)
	c.want("GET", "/v1/connections/backup-b", "", 200, conn)
	c.want("GET", "/v1/connections", "", 200, `{"connections":[`+conn+`]}`)
	c.want("DELETE", "/v1/connections/backup-b", "", 204, "")
	c.want("GET", "/v1/connections", "", 200, `{"connections":[]}`)
}

func TestConnectionDefaults(t *testing.T) {
	c := newClient(t, nil)
	c.seed(seedNetwork, seedGateway, [2]string{"/v1/remote-gateways", `{"name":"site-c","tunnel_ip":"203.0.113.3"}`},
		[2]string{"/v1/remote-gateways", `{"name":"site-d","tunnel_ip":"203.0.113.4"}`})

	// Absent flood and network_type: flood on, VXLAN.
	c.want("POST", "/v1/connections", `{"name":"to-b","network":"backup","remote_gateway":"site-b","segmentation_id":10}`, 201,
		`{"name":"to-b","network":"backup","remote_gateway":"site-b","segmentation_id":10,"network_type":"vxlan","flood":true}`)
	// An explicit false is kept, and another type is taken as given.
	c.want("POST", "/v1/connections", `{"name":"to-c","network":"backup","remote_gateway":"site-c","segmentation_id":4294967295,"network_type":"gre","flood":false}`, 201,
		`{"name":"to-c","network":"backup","remote_gateway":"site-c","segmentation_id":4294967295,"network_type":"gre","flood":false}`)
	// null counts as absent.
	c.want("POST", "/v1/connections", `{"name":"to-d","network":"backup","remote_gateway":"site-d","segmentation_id":12,"network_type":"geneve","flood":null}`, 201,
		`{"name":"to-d","network":"backup","remote_gateway":"site-d","segmentation_id":12,"network_type":"geneve","flood":true}`)

	c.want("GET", "/v1/connections/to-b", "", 200,
		`{"name":"to-b","network":"backup","remote_gateway":"site-b","segmentation_id":10,"network_type":"vxlan","flood":true}`)
	c.want("GET", "/v1/connections/to-c", "", 200,
		`{"name":"to-c","network":"backup","remote_gateway":"site-c","segmentation_id":4294967295,"network_type":"gre","flood":false}`)
}

func TestMACs(t *testing.T) {
	c := newClient(t, nil)
	c.seed(seedNetwork, seedGateway, seedConn)
	const path = "/v1/connections/backup-b/macs"
	c.want("GET", path, "", 200, `{"macs":[]}`)

	c.want("POST", path, `{"macs":[{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21"]},{"mac":"02:0b:00:00:00:02"}]}`, 201,
		`{"macs":[{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21"]},{"mac":"02:0b:00:00:00:02"}]}`)
	// The answer to a POST is the batch added, not the whole set.
	c.want("POST", path, `{"macs":[{"mac":"02:0b:00:00:00:03","ips":["192.0.2.23","2001:db8::23"]}]}`, 201,
		`{"macs":[{"mac":"02:0b:00:00:00:03","ips":["192.0.2.23","2001:db8::23"]}]}`)
	c.want("GET", path, "", 200, `{"macs":[
		{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21"]},
		{"mac":"02:0b:00:00:00:02"},
		{"mac":"02:0b:00:00:00:03","ips":["192.0.2.23","2001:db8::23"]}]}`)

	c.want("DELETE", path+"/02:0b:00:00:00:02", "", 204, "")
	c.want("GET", path, "", 200, `{"macs":[
		{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21"]},
		{"mac":"02:0b:00:00:00:03","ips":["192.0.2.23","2001:db8::23"]}]}`)

	// PUT replaces the whole set and answers with it.
	c.want("PUT", path, `{"macs":[{"mac":"02:0b:00:00:00:09","ips":["192.0.2.29"]}]}`, 200,
		`{"macs":[{"mac":"02:0b:00:00:00:09","ips":["192.0.2.29"]}]}`)
	c.want("GET", path, "", 200, `{"macs":[{"mac":"02:0b:00:00:00:09","ips":["192.0.2.29"]}]}`)
	c.want("PUT", path, `{"macs":[]}`, 200, `{"macs":[]}`)
	c.want("GET", path, "", 200, `{"macs":[]}`)
}

func TestStatusAndHealth(t *testing.T) {
	c := newClient(t, nil)
	// The digest of an empty state, from the handler's State.
	c.want("GET", "/v1/status", "", 200,
		`{"bridge":"br-int","connected":true,"ovsdb_connected":true,"reconciled":false,"flows":42,"flow_mods":0,"bundles":0,`+
			`"desired_state_digest":"9158214affc712c698bc84dcfbe98344"}`)
	resp := c.do("GET", "/healthz", "")
	if resp.status != 200 || resp.body != "ok" {
		t.Fatalf("GET /healthz: %d %q, want 200 \"ok\"", resp.status, resp.body)
	}
}

func TestContentTypeWithParameters(t *testing.T) {
	c := newClient(t, nil)
	resp := c.doType("POST", "/v1/networks", "application/json; charset=utf-8", `{"name":"n1"}`)
	if resp.status != http.StatusCreated {
		t.Fatalf("status %d, want 201; body %s", resp.status, resp.body)
	}
	// No Content-Type at all is accepted too.
	resp = c.doType("POST", "/v1/networks", "", `{"name":"n2"}`)
	if resp.status != http.StatusCreated {
		t.Fatalf("without Content-Type: status %d, want 201; body %s", resp.status, resp.body)
	}
	c.want("GET", "/v1/networks", "", 200,
		`{"networks":[{"name":"n1","attachments":[]},{"name":"n2","attachments":[]}]}`)
}

func TestBodyAtLimitAccepted(t *testing.T) {
	c := newClient(t, nil)
	body := `{"name":"big"}`
	body += strings.Repeat(" ", maxBodyBytes-len(body))
	c.want("POST", "/v1/networks", body, 201, `{"name":"big","attachments":[]}`)
}

func TestRequestLog(t *testing.T) {
	var buf bytes.Buffer
	c := newClient(t, slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	c.get("/v1/networks")
	c.do("GET", "/v1/networks/nope", "")
	c.do("GET", "/v2/nothing", "")
	for _, want := range []string{
		`level=DEBUG msg="http request" method=GET route=/v1/networks path=/v1/networks status=200 duration=`,
		`level=DEBUG msg="http request" method=GET route=/v1/networks/{name} path=/v1/networks/nope status=404 duration=`,
		`level=DEBUG msg="http request" method=GET route="" path=/v2/nothing status=404 duration=`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
}
