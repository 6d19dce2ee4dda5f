package integration

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBadInputGetsItsStatusAndChangesNothing sends the daemon every kind of
// bad request and checks, after each, its status and error body, and that
// neither the API's objects nor the bridge's flows changed.
func TestBadInputGetsItsStatusAndChangesNothing(t *testing.T) {
	l := newLab(t, "l2bi-")
	a := startGateway(t, l, "a", "198.51.100.1")
	a.site.AddHost(t, "a1", macA1, ipA1, 0, "")
	a.must(t, "POST", "/v1/networks", object{"name": "plane", "attachments": attach("a1")}, 201)
	a.must(t, "POST", "/v1/remote-gateways", object{"name": "site-b", "tunnel_ip": "198.51.100.2"}, 201)
	a.must(t, "POST", "/v1/connections", object{"name": "plane-b", "network": "plane", "remote_gateway": "site-b", "segmentation_id": 5001}, 201)
	a.must(t, "POST", "/v1/connections/plane-b/macs", object{"macs": []object{{"mac": macB1, "ips": []string{ipB1}}}}, 201)

	snapshot := func() string {
		var parts []string
		for _, path := range []string{"/v1/networks", "/v1/remote-gateways", "/v1/connections", "/v1/connections/plane-b/macs"} {
			_, body := a.call(t, "GET", path, nil)
			parts = append(parts, string(body))
		}
		return strings.Join(append(parts, a.controllerFlows(t)...), "\n")
	}
	before := snapshot()

	// A batch of bindings is streamed (up to 256 MiB): one this big is
	// read whole and refused for its content, all or nothing; every other
	// route stops reading at 32 MiB.
	huge := `{"macs":[` + strings.Repeat(`{"mac":"02:0b:00:00:00:02","ips":["192.0.2.30"]},`, 700_000) + `{"mac":"02:0b:00:00:00:03"}]}`
	hugeNetwork := `{"name":"big","attachments":[` + strings.Repeat(`{"port":"p1"},`, 2_500_000) + `{"port":"p2"}]}`
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"malformed JSON", "POST", "/v1/networks", `{"name":`, 400, "invalid_argument"},
		{"unknown field", "POST", "/v1/networks", object{"name": "x", "colour": "red"}, 400, "invalid_argument"},
		{"bad name", "POST", "/v1/networks", object{"name": "Bad_Name"}, 400, "invalid_argument"},
		{"VLAN out of range", "POST", "/v1/networks", object{"name": "x", "attachments": []object{{"port": "a2", "vlan": 4095}}}, 400, "invalid_argument"},
		{"name taken", "POST", "/v1/networks", object{"name": "plane"}, 409, "already_exists"},
		{"attachment taken", "POST", "/v1/networks", object{"name": "other", "attachments": attach("a1")}, 409, "conflict"},
		{"bad tunnel IP", "POST", "/v1/remote-gateways", object{"name": "site-c", "tunnel_ip": "300.1.1.1"}, 400, "invalid_argument"},
		{"own tunnel IP", "POST", "/v1/remote-gateways", object{"name": "site-c", "tunnel_ip": "198.51.100.1"}, 400, "invalid_argument"},
		{"tunnel IP taken", "POST", "/v1/remote-gateways", object{"name": "site-c", "tunnel_ip": "198.51.100.2"}, 409, "conflict"},
		{"unknown network", "POST", "/v1/connections", object{"name": "c", "network": "nope", "remote_gateway": "site-b", "segmentation_id": 7}, 404, "not_found"},
		{"VNI 0", "POST", "/v1/connections", object{"name": "c", "network": "plane", "remote_gateway": "site-b", "segmentation_id": 0}, 400, "invalid_argument"},
		{"VNI over 24 bits", "POST", "/v1/connections", object{"name": "c", "network": "plane", "remote_gateway": "site-b", "segmentation_id": 16777216}, 400, "invalid_argument"},
		{"unknown network type", "POST", "/v1/connections", object{"name": "c", "network": "plane", "remote_gateway": "site-b", "segmentation_id": 7, "network_type": "stt"}, 400, "invalid_argument"},
		{"second connection to one gateway", "POST", "/v1/connections", object{"name": "c", "network": "plane", "remote_gateway": "site-b", "segmentation_id": 7}, 409, "conflict"},
		{"multicast MAC", "POST", "/v1/connections/plane-b/macs", object{"macs": []object{{"mac": "01:00:5e:00:00:01"}}}, 400, "invalid_argument"},
		{"zero MAC", "POST", "/v1/connections/plane-b/macs", object{"macs": []object{{"mac": "00:00:00:00:00:00"}}}, 400, "invalid_argument"},
		{"bad IP in batch", "POST", "/v1/connections/plane-b/macs", object{"macs": []object{{"mac": "02:0b:00:00:00:02"}, {"mac": "02:0b:00:00:00:03", "ips": []string{"192.0.2.300"}}}}, 400, "invalid_argument"},
		{"IP bound to another MAC", "POST", "/v1/connections/plane-b/macs", object{"macs": []object{{"mac": "02:0b:00:00:00:02"}, {"mac": "02:0b:00:00:00:03", "ips": []string{ipB1}}}}, 409, "conflict"},
		{"MAC already bound", "POST", "/v1/connections/plane-b/macs", object{"macs": []object{{"mac": macB1}}}, 409, "conflict"},
		{"unknown connection", "POST", "/v1/connections/nope/macs", object{"macs": []object{{"mac": "02:0b:00:00:00:02"}}}, 404, "not_found"},
		{"unknown name in path", "GET", "/v1/networks/nope", nil, 404, "not_found"},
		{"network in use", "DELETE", "/v1/networks/plane", nil, 409, "in_use"},
		{"gateway in use", "DELETE", "/v1/remote-gateways/site-b", nil, 409, "in_use"},
		{"a 36 MB batch with a MAC twice", "POST", "/v1/connections/plane-b/macs", huge, 400, "invalid_argument"},
		{"body over 32 MiB", "POST", "/v1/networks", hugeNetwork, 413, "body_too_large"},
	} {
		status, body := a.call(t, tc.method, tc.path, tc.body)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.Unmarshal(body, &e)
		if status != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
			t.Errorf("%s: %d %s, want %d %s with a message", tc.name, status, body, tc.status, tc.code)
		}
		if after := snapshot(); after != before {
			t.Fatalf("%s changed the state or the flows:\nbefore:\n%s\nafter:\n%s", tc.name, before, after)
		}
	}
}
