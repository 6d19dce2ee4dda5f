package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/app"
)

// testStatus is what the stub status function reports.
var testStatus = app.Status{Bridge: "br-int", Connected: true, OVSDBConnected: true, Reconciled: false, Flows: 42}

// client drives the API handler over a real app.State in a temp directory.
type client struct {
	t testing.TB
	h http.Handler
}

// newClient opens a fresh state and serves the API over it with opts; log
// may be nil.
func newClient(t testing.TB, log *slog.Logger, opts ...HandlerOption) *client {
	t.Helper()
	return &client{t: t, h: NewHandler(openTestState(t), func() app.Status { return testStatus }, log, opts...)}
}

// openTestState opens a fresh state, closed when t ends; this gateway's
// tunnel IP is 198.51.100.1.
func openTestState(t testing.TB) *app.State {
	t.Helper()
	state, err := app.Open(t.TempDir(), app.Options{Logger: slog.New(slog.DiscardHandler), LocalTunnelIPs: []string{"198.51.100.1"}})
	if err != nil {
		t.Fatalf("open state: %v", err)
	}
	t.Cleanup(func() {
		if err := state.Close(); err != nil {
			t.Errorf("close state: %v", err)
		}
	})
	return state
}

// response is what the handler answered.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request with body (none if "") as application/json.
func (c *client) do(method, path, body string) response {
	c.t.Helper()
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	return c.doType(method, path, ct, body)
}

// doType sends a request with the given Content-Type ("" for none).
func (c *client) doType(method, path, contentType, body string) response {
	c.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

// want checks that method path with body answers status and exactly the
// JSON want ("" for an empty body).
func (c *client) want(method, path, body string, status int, want string) {
	c.t.Helper()
	resp := c.do(method, path, body)
	if resp.status != status {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.status, status, resp.body)
	}
	if want == "" {
		if resp.body != "" {
			c.t.Fatalf("%s %s: body %q, want none", method, path, resp.body)
		}
		return
	}
	if ct := resp.header.Get("Content-Type"); ct != "application/json" {
		c.t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	assertJSON(c.t, method+" "+path, resp.body, want)
}

// seed creates objects through the API, each a POST that must answer 201.
func (c *client) seed(reqs ...[2]string) {
	c.t.Helper()
	for _, r := range reqs {
		if resp := c.do(http.MethodPost, r[0], r[1]); resp.status != http.StatusCreated {
			c.t.Fatalf("seed POST %s %s: status %d, body %s", r[0], r[1], resp.status, resp.body)
		}
	}
}

// snapshot reads everything the API can show: all lists and every
// connection's MACs.
func (c *client) snapshot() string {
	c.t.Helper()
	var out strings.Builder
	for _, path := range []string{"/v1/networks", "/v1/remote-gateways", "/v1/connections"} {
		out.WriteString(c.get(path) + "\n")
	}
	var conns struct {
		Connections []struct {
			Name string `json:"name"`
		} `json:"connections"`
	}
	if err := json.Unmarshal([]byte(c.get("/v1/connections")), &conns); err != nil {
		c.t.Fatalf("decode connections: %v", err)
	}
	for _, conn := range conns.Connections {
		out.WriteString(c.get("/v1/connections/"+conn.Name+"/macs") + "\n")
	}
	return out.String()
}

// get answers a GET that must succeed.
func (c *client) get(path string) string {
	c.t.Helper()
	resp := c.do(http.MethodGet, path, "")
	if resp.status != http.StatusOK {
		c.t.Fatalf("GET %s: status %d, body %s", path, resp.status, resp.body)
	}
	return resp.body
}

// wantError checks resp is an error body with status, code and field (the
// field key absent when field is ""), and a message.
func wantError(t testing.TB, what string, resp response, status int, code, field string) {
	t.Helper()
	if resp.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, resp.status, status, resp.body)
	}
	if ct := resp.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	var body struct {
		Error struct {
			Code    string  `json:"code"`
			Message string  `json:"message"`
			Field   *string `json:"field"`
		} `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(resp.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("%s: error body %s: %v", what, resp.body, err)
	}
	e := body.Error
	if e.Code != code {
		t.Errorf("%s: code %q, want %q; body %s", what, e.Code, code, resp.body)
	}
	if e.Message == "" {
		t.Errorf("%s: empty message; body %s", what, resp.body)
	}
	switch {
	case field == "" && e.Field != nil:
		t.Errorf("%s: field %q, want none; body %s", what, *e.Field, resp.body)
	case field != "" && (e.Field == nil || *e.Field != field):
		t.Errorf("%s: field %v, want %q; body %s", what, e.Field, field, resp.body)
	}
}

// assertJSON checks that got and want hold the same JSON value.
func assertJSON(t testing.TB, what, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: response is not JSON: %v: %s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad expectation %s: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		var compact bytes.Buffer
		_ = json.Compact(&compact, []byte(want))
		t.Fatalf("%s:\n got  %s\n want %s", what, strings.TrimSpace(got), compact.String())
	}
}
