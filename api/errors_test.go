package api

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/app"
)

// TestRejectedRequests checks every error status the API answers, and that
// each rejected request changes nothing the API can show.
func TestRejectedRequests(t *testing.T) {
	c := newClient(t, nil)
	c.seed(seedNetwork, seedGateway, seedConn,
		[2]string{"/v1/networks", `{"name":"other","attachments":[{"port":"eth5"}]}`},
		[2]string{"/v1/remote-gateways", `{"name":"site-c","tunnel_ip":"203.0.113.3"}`},
		[2]string{"/v1/connections", `{"name":"backup-c","network":"backup","remote_gateway":"site-c","segmentation_id":5002}`},
		[2]string{"/v1/connections/backup-b/macs", `{"macs":[{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21"]}]}`},
	)
	tooBig := `{"name":"` + strings.Repeat("a", maxBodyBytes) + `"}`
	const (
		okMAC1 = `{"mac":"02:0c:00:00:00:01","ips":["192.0.2.31"]}`
		okMAC2 = `{"mac":"02:0c:00:00:00:02"}`
	)
	cases := []struct {
		name        string
		method      string
		path        string
		contentType string // "" means application/json when there is a body
		body        string
		status      int
		code        string
		field       string
		allow       string // the Allow header a 405 must carry
	}{
		// 400: malformed JSON, wrong types, data after the value.
		{name: "truncated", method: "POST", path: "/v1/networks", body: `{"name":`,
			status: 400, code: "invalid_argument"},
		{name: "syntax", method: "POST", path: "/v1/networks", body: `{"name" "n2"}`,
			status: 400, code: "invalid_argument"},
		{name: "empty body", method: "POST", path: "/v1/networks",
			status: 400, code: "invalid_argument"},
		{name: "two values", method: "POST", path: "/v1/networks", body: `{"name":"n2"} {"name":"n3"}`,
			status: 400, code: "invalid_argument"},
		{name: "trailing garbage", method: "POST", path: "/v1/networks", body: `{"name":"n2"}x`,
			status: 400, code: "invalid_argument"},
		{name: "array body", method: "POST", path: "/v1/networks", body: `[{"name":"n2"}]`,
			status: 400, code: "invalid_argument"},
		{name: "vlan is a string", method: "POST", path: "/v1/networks",
			body:   `{"name":"n2","attachments":[{"port":"eth2","vlan":"100"}]}`,
			status: 400, code: "invalid_argument", field: "attachments.vlan"},
		{name: "vlan beyond uint16", method: "POST", path: "/v1/networks",
			body:   `{"name":"n2","attachments":[{"port":"eth2","vlan":70000}]}`,
			status: 400, code: "invalid_argument", field: "attachments.vlan"},
		{name: "negative segmentation id", method: "POST", path: "/v1/connections",
			body:   `{"name":"c2","network":"other","remote_gateway":"site-b","segmentation_id":-1}`,
			status: 400, code: "invalid_argument", field: "segmentation_id"},
		{name: "flood is a string", method: "POST", path: "/v1/connections",
			body:   `{"name":"c2","network":"other","remote_gateway":"site-b","segmentation_id":7,"flood":"yes"}`,
			status: 400, code: "invalid_argument", field: "flood"},
		{name: "macs is an object", method: "POST", path: "/v1/connections/backup-b/macs", body: `{"macs":{}}`,
			status: 400, code: "invalid_argument", field: "macs"},

		// 400: unknown fields, at any depth, including internal ones.
		{name: "unknown field", method: "POST", path: "/v1/networks", body: `{"name":"n2","colour":"red"}`,
			status: 400, code: "invalid_argument", field: "colour"},
		{name: "unknown nested field", method: "POST", path: "/v1/networks",
			body:   `{"name":"n2","attachments":[{"port":"eth2","tag":5}]}`,
			status: 400, code: "invalid_argument", field: "tag"},
		{name: "internal id", method: "POST", path: "/v1/networks", body: `{"name":"n2","ID":7}`,
			status: 400, code: "invalid_argument", field: "ID"},
		{name: "unknown MAC field", method: "POST", path: "/v1/connections/backup-b/macs",
			body:   `{"macs":[{"mac":"02:0b:00:00:00:05","ip":["192.0.2.5"]}]}`,
			status: 400, code: "invalid_argument", field: "macs[0].ip"},

		// 400: invalid values.
		{name: "bad name", method: "POST", path: "/v1/networks", body: `{"name":"Bad_Name"}`,
			status: 400, code: "invalid_argument", field: "name"},
		{name: "vlan out of range", method: "POST", path: "/v1/networks",
			body:   `{"name":"n2","attachments":[{"port":"eth2","vlan":4095}]}`,
			status: 400, code: "invalid_argument", field: "attachments[0].vlan"},
		{name: "bad tunnel ip", method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-x","tunnel_ip":"not-an-ip"}`,
			status: 400, code: "invalid_argument", field: "tunnel_ip"},
		{name: "bad network type", method: "POST", path: "/v1/connections",
			body:   `{"name":"c2","network":"other","remote_gateway":"site-b","segmentation_id":7,"network_type":"mpls"}`,
			status: 400, code: "invalid_argument", field: "network_type"},
		{name: "PUT network names another", method: "PUT", path: "/v1/networks/backup",
			body:   `{"name":"other","attachments":[]}`,
			status: 400, code: "invalid_argument", field: "name"},
		{name: "PUT gateway names another", method: "PUT", path: "/v1/remote-gateways/site-b",
			body:   `{"name":"site-c","tunnel_ip":"198.51.100.9"}`,
			status: 400, code: "invalid_argument", field: "name"},
		{name: "macs missing", method: "PUT", path: "/v1/connections/backup-b/macs", body: `{}`,
			status: 400, code: "invalid_argument", field: "macs"},
		{name: "batch with a broadcast MAC", method: "POST", path: "/v1/connections/backup-b/macs",
			body:   `{"macs":[` + okMAC1 + `,` + okMAC2 + `,{"mac":"ff:ff:ff:ff:ff:ff"}]}`,
			status: 400, code: "invalid_argument", field: "macs[2].mac"},
		{name: "replacement with a bad IP", method: "PUT", path: "/v1/connections/backup-b/macs",
			body:   `{"macs":[` + okMAC1 + `,{"mac":"02:0c:00:00:00:03","ips":["192.0.2.999"]}]}`,
			status: 400, code: "invalid_argument", field: "macs[1].ips[0]"},

		// 404: unknown paths, names in paths, references.
		{name: "unknown path", method: "GET", path: "/v1/nothing", status: 404, code: "not_found"},
		{name: "path below a network", method: "GET", path: "/v1/networks/backup/extra", status: 404, code: "not_found"},
		{name: "unknown API version", method: "POST", path: "/v2/networks", body: `{"name":"n2"}`,
			status: 404, code: "not_found"},
		{name: "GET unknown network", method: "GET", path: "/v1/networks/nope", status: 404, code: "not_found"},
		{name: "DELETE unknown network", method: "DELETE", path: "/v1/networks/nope", status: 404, code: "not_found"},
		{name: "PUT unknown network", method: "PUT", path: "/v1/networks/nope", body: `{"name":"nope","attachments":[]}`,
			status: 404, code: "not_found"},
		{name: "PUT unknown gateway", method: "PUT", path: "/v1/remote-gateways/nope", body: `{"tunnel_ip":"198.51.100.9"}`,
			status: 404, code: "not_found"},
		{name: "GET unknown gateway", method: "GET", path: "/v1/remote-gateways/nope", status: 404, code: "not_found"},
		{name: "DELETE unknown connection", method: "DELETE", path: "/v1/connections/nope", status: 404, code: "not_found"},
		{name: "MACs of unknown connection", method: "GET", path: "/v1/connections/nope/macs", status: 404, code: "not_found"},
		{name: "add MACs to unknown connection", method: "POST", path: "/v1/connections/nope/macs",
			body: `{"macs":[` + okMAC1 + `]}`, status: 404, code: "not_found"},
		{name: "DELETE unbound MAC", method: "DELETE", path: "/v1/connections/backup-b/macs/02:0b:00:00:00:99",
			status: 404, code: "not_found"},
		{name: "unknown network reference", method: "POST", path: "/v1/connections",
			body:   `{"name":"c2","network":"nope","remote_gateway":"site-b","segmentation_id":7}`,
			status: 404, code: "not_found", field: "network"},
		{name: "unknown gateway reference", method: "POST", path: "/v1/connections",
			body:   `{"name":"c2","network":"other","remote_gateway":"nope","segmentation_id":7}`,
			status: 404, code: "not_found", field: "remote_gateway"},

		// 409: names taken, bindings clashing, deletes of things in use.
		{name: "network name taken", method: "POST", path: "/v1/networks", body: `{"name":"backup"}`,
			status: 409, code: "already_exists", field: "name"},
		{name: "gateway name taken", method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-b","tunnel_ip":"198.51.100.7"}`,
			status: 409, code: "already_exists", field: "name"},
		{name: "connection name taken", method: "POST", path: "/v1/connections",
			body:   `{"name":"backup-b","network":"other","remote_gateway":"site-b","segmentation_id":7}`,
			status: 409, code: "already_exists", field: "name"},
		{name: "network in use", method: "DELETE", path: "/v1/networks/backup", status: 409, code: "in_use"},
		{name: "gateway in use", method: "DELETE", path: "/v1/remote-gateways/site-b", status: 409, code: "in_use"},
		{name: "MAC bound elsewhere in the network", method: "POST", path: "/v1/connections/backup-c/macs",
			body:   `{"macs":[` + okMAC1 + `,{"mac":"02:0b:00:00:00:01"}]}`,
			status: 409, code: "conflict", field: "macs[1].mac"},
		{name: "IP bound elsewhere in the network", method: "PUT", path: "/v1/connections/backup-c/macs",
			body:   `{"macs":[` + okMAC2 + `,{"mac":"02:0c:00:00:00:04","ips":["192.0.2.21"]}]}`,
			status: 409, code: "conflict", field: "macs[1].ips[0]"},

		// 413: bodies over 32 MiB (MAC batches may reach 256 MiB:
		// TestMACBatchTooLarge).
		{name: "network body too large", method: "POST", path: "/v1/networks", body: tooBig,
			status: 413, code: "body_too_large"},

		// 405: known paths, wrong methods.
		{name: "DELETE the network list", method: "DELETE", path: "/v1/networks",
			status: 405, code: "method_not_allowed", allow: "GET, POST"},
		{name: "PUT a connection", method: "PUT", path: "/v1/connections/backup-b", body: seedConn[1],
			status: 405, code: "method_not_allowed", allow: "DELETE, GET"},
		{name: "PATCH MACs", method: "PATCH", path: "/v1/connections/backup-b/macs", body: `{"macs":[]}`,
			status: 405, code: "method_not_allowed", allow: "GET, POST, PUT"},
		{name: "GET one MAC", method: "GET", path: "/v1/connections/backup-b/macs/02:0b:00:00:00:01",
			status: 405, code: "method_not_allowed", allow: "DELETE"},
		{name: "POST status", method: "POST", path: "/v1/status", body: `{}`,
			status: 405, code: "method_not_allowed", allow: "GET"},

		// 415: bodies that are not JSON by their Content-Type.
		{name: "text body", method: "POST", path: "/v1/networks", contentType: "text/plain", body: `{"name":"n2"}`,
			status: 415, code: "unsupported_media_type"},
		{name: "form body", method: "PUT", path: "/v1/connections/backup-b/macs",
			contentType: "application/x-www-form-urlencoded", body: `{"macs":[]}`,
			status: 415, code: "unsupported_media_type"},
		{name: "unparsable content type", method: "POST", path: "/v1/remote-gateways", contentType: "json;;",
			body: `{"name":"site-x","tunnel_ip":"198.51.100.8"}`, status: 415, code: "unsupported_media_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			before := c.snapshot()
			ct := tc.contentType
			if ct == "" && tc.body != "" {
				ct = "application/json"
			}
			resp := c.doType(tc.method, tc.path, ct, tc.body)
			wantError(t, tc.method+" "+tc.path, resp, tc.status, tc.code, tc.field)
			if got := resp.header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
			if after := c.snapshot(); after != before {
				t.Errorf("state changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestMACBatchAllOrNothing checks that a batch with one bad binding adds
// none, and that the same batch without it adds all.
func TestMACBatchAllOrNothing(t *testing.T) {
	c := newClient(t, nil)
	c.seed(seedNetwork, seedGateway, seedConn)
	const path = "/v1/connections/backup-b/macs"
	var good []string
	for i := range 5 {
		good = append(good, fmt.Sprintf(`{"mac":"02:0b:00:00:01:%02x","ips":["192.0.2.%d"]}`, i, 100+i))
	}
	bad := append(good[:3:3], `{"mac":"00:00:00:00:00:00"}`)
	bad = append(bad, good[3:]...)

	resp := c.do("POST", path, `{"macs":[`+strings.Join(bad, ",")+`]}`)
	wantError(t, "POST bad batch", resp, 400, "invalid_argument", "macs[3].mac")
	c.want("GET", path, "", 200, `{"macs":[]}`)

	all := `{"macs":[` + strings.Join(good, ",") + `]}`
	c.want("POST", path, all, 201, all)
	c.want("GET", path, "", 200, all)

	// Adding a batch in which one MAC is already bound adds nothing either.
	resp = c.do("POST", path, `{"macs":[{"mac":"02:0b:00:00:02:00"},{"mac":"02:0b:00:00:01:00"}]}`)
	if resp.status < 400 {
		t.Fatalf("POST batch with a bound MAC: status %d, want an error; body %s", resp.status, resp.body)
	}
	c.want("GET", path, "", 200, all)
}

// TestInternalErrorsHidden checks that an error app did not classify is
// answered 500 "internal" without its text, which goes to the log instead.
func TestInternalErrorsHidden(t *testing.T) {
	var log bytes.Buffer
	h := &handler{log: slog.New(slog.NewTextHandler(&log, nil))}
	rec := httptest.NewRecorder()
	h.serve(func(*http.Request) (int, any, error) {
		return 0, nil, fmt.Errorf("write bolt page: %w", errors.New("disk on fire"))
	}).ServeHTTP(rec, httptest.NewRequest("GET", "/v1/networks", nil))

	resp := response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	wantError(t, "unclassified error", resp, 500, "internal", "")
	if strings.Contains(resp.body, "disk on fire") {
		t.Errorf("response leaks the error: %s", resp.body)
	}
	if !strings.Contains(log.String(), "disk on fire") {
		t.Errorf("log lacks the error: %s", log.String())
	}
}

// TestUnavailable checks that app's Unavailable kind is answered 503 with
// the API's code and app's message.
func TestUnavailable(t *testing.T) {
	h := &handler{log: slog.New(slog.DiscardHandler)}
	rec := httptest.NewRecorder()
	h.serve(func(*http.Request) (int, any, error) {
		return 0, nil, fmt.Errorf("create network: %w",
			&app.Error{Kind: app.Unavailable, Message: "the change was not saved"})
	}).ServeHTTP(rec, httptest.NewRequest("POST", "/v1/networks", nil))
	resp := response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	wantError(t, "unavailable", resp, 503, "unavailable", "")
	assertJSON(t, "unavailable", resp.body,
		`{"error":{"code":"unavailable","message":"the change was not saved"}}`)
}

// TestUnnamedFieldIsLoggedNotGuessed: an app error blaming a field the API
// has no JSON name for keeps its status, code and message, leaves the field
// out, and says so in the log.
func TestUnnamedFieldIsLoggedNotGuessed(t *testing.T) {
	var log bytes.Buffer
	h := &handler{log: slog.New(slog.NewTextHandler(&log, nil))}
	rec := httptest.NewRecorder()
	h.serve(func(*http.Request) (int, any, error) {
		return 0, nil, &app.Error{Kind: app.Conflict, Message: "port taken", Path: app.At(app.FieldAttachments).Index(1).Field(200)}
	}).ServeHTTP(rec, httptest.NewRequest("POST", "/v1/networks", nil))
	resp := response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	assertJSON(t, "unnamed field", resp.body, `{"error":{"code":"conflict","message":"port taken"}}`)
	if resp.status != http.StatusConflict || !strings.Contains(log.String(), "no name for") {
		t.Errorf("status %d, log %q", resp.status, log.String())
	}
}
