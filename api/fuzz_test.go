package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/app"
)

// fuzzRoutes are the writes FuzzWrites sends bodies to; the fuzzer picks
// one by index. The names in the paths are fuzzFixture's, except "missing".
var fuzzRoutes = []struct{ method, path string }{
	{http.MethodPost, "/v1/networks"},
	{http.MethodPut, "/v1/networks/net-a"},
	{http.MethodPost, "/v1/remote-gateways"},
	{http.MethodPut, "/v1/remote-gateways/gw-b"},
	{http.MethodPost, "/v1/connections"},
	{http.MethodPost, "/v1/connections/conn-a/macs"},
	{http.MethodPut, "/v1/connections/conn-a/macs"},
	{http.MethodPut, "/v1/networks/missing"},
	{http.MethodPost, "/v1/connections/missing/macs"},
}

// Routes by index, for the seeds.
const (
	routeCreateNetwork = iota
	routeReplaceNetwork
	routeCreateGateway
	routeReplaceGateway
	routeCreateConnection
	routeAddMACs
	routeReplaceMACs
	routeReplaceMissingNetwork
	routeAddMACsMissingConnection
)

// Bodies that restore the fixture objects the PUT routes replace.
const (
	fixtureNetA = `{"name":"net-a","attachments":[{"port":"p1"},{"port":"p2","vlan":100}]}`
	fixtureGwB  = `{"name":"gw-b","tunnel_ip":"198.51.100.2"}`
	fixtureMACs = `{"macs":[{"mac":"02:00:00:00:00:01","ips":["192.0.2.1"]},` +
		`{"mac":"02:00:00:00:00:02","ips":["192.0.2.2","2001:db8::2"]}]}`
)

// fuzzFixture is the state every FuzzWrites input meets: two networks, two
// gateways, a connection of each network type and bindings on two of them,
// so that conflicts (names, ports, EVPN VNIs, tunnel keys, MACs, IPs) can
// happen.
var fuzzFixture = [][2]string{
	{"/v1/networks", fixtureNetA},
	{"/v1/networks", `{"name":"net-b","attachments":[{"port":"p3"}],"evpn":{"vni":5000}}`},
	{"/v1/remote-gateways", fixtureGwB},
	{"/v1/remote-gateways", `{"name":"gw-c","tunnel_ip":"203.0.113.3"}`},
	{"/v1/connections", `{"name":"conn-a","network":"net-a","remote_gateway":"gw-b","segmentation_id":5000}`},
	{"/v1/connections", `{"name":"conn-c","network":"net-a","remote_gateway":"gw-c","segmentation_id":7,"network_type":"gre","flood":false}`},
	{"/v1/connections", `{"name":"conn-d","network":"net-b","remote_gateway":"gw-b","segmentation_id":5000,"network_type":"geneve"}`},
	{"/v1/connections/conn-a/macs", fixtureMACs},
	{"/v1/connections/conn-c/macs", `{"macs":[{"mac":"02:00:00:00:00:03","ips":["192.0.2.3"]}]}`},
}

// fuzzStatuses maps every status a write may answer to the error codes it
// may carry (none for a success).
var fuzzStatuses = map[int][]string{
	http.StatusOK:                    nil,
	http.StatusCreated:               nil,
	http.StatusBadRequest:            {codeInvalid},
	http.StatusNotFound:              {codeNotFound},
	http.StatusConflict:              {codeAlreadyExists, codeConflict, codeInUse},
	http.StatusRequestEntityTooLarge: {codeBodyTooLarge},
	http.StatusUnsupportedMediaType:  {codeUnsupportedMedia},
}

// jsonCT is the Content-Type of JSON bodies.
const jsonCT = "application/json"

// fuzzWriteSeeds are FuzzWrites' seed corpus: valid writes, edge cases and
// known-bad requests, each with the status it must get over fuzzFixture
// (checked by TestFuzzWriteSeeds, so that the seeds keep meaning what they
// say).
var fuzzWriteSeeds = []struct {
	route       int
	contentType string
	body        string
	status      int
}{
	// Valid writes (undone afterwards).
	{routeCreateNetwork, jsonCT, `{"name":"net-x","attachments":[{"port":"eth9"},{"port":"trunk0","vlan":4094}]}`, http.StatusCreated},
	{routeCreateNetwork, jsonCT, `{"name":"empty"}`, http.StatusCreated},
	{routeReplaceNetwork, jsonCT, `{"attachments":[{"port":"p1","vlan":1}]}`, http.StatusOK},
	{routeReplaceNetwork, jsonCT + "; charset=utf-8", `{"name":"net-a","attachments":[]}`, http.StatusOK},
	{routeCreateNetwork, jsonCT, `{"name":"net-x","evpn":{"vni":5001,"route_targets":{"import":["65000:01"],"export":["192.0.2.1:7"]}}}`, http.StatusCreated},
	{routeReplaceNetwork, jsonCT, `{"attachments":[{"port":"p1"}],"evpn":{"vni":16777215,"route_targets":{"export":null}}}`, http.StatusOK},
	{routeCreateGateway, jsonCT, `{"name":"gw-x","tunnel_ip":"192.0.2.77"}`, http.StatusCreated},
	{routeCreateGateway, "", `{"name":"gw-m","tunnel_ip":"::ffff:203.0.113.9"}`, http.StatusCreated},
	{routeReplaceGateway, jsonCT, `{"tunnel_ip":"198.51.100.20"}`, http.StatusOK},
	{routeCreateConnection, jsonCT, `{"name":"conn-x","network":"net-b","remote_gateway":"gw-c","segmentation_id":16777215,"network_type":"vxlan","flood":true}`, http.StatusCreated},
	{routeCreateConnection, jsonCT, `{"name":"conn-g","network":"net-b","remote_gateway":"gw-c","segmentation_id":4294967295,"network_type":"gre"}`, http.StatusCreated},
	{routeAddMACs, jsonCT, `{"macs":[{"mac":"02-00-00-00-00-0A","ips":["192.0.2.10","::ffff:192.0.2.11","2001:DB8::A"]},{"mac":"0200.0000.000b"}]}`, http.StatusCreated},
	{routeReplaceMACs, jsonCT, `{"macs":[]}`, http.StatusOK},
	{routeReplaceMACs, jsonCT, `{"macs":[{"mac":"02:00:00:00:00:02","ips":["192.0.2.1"]},{"mac":"02:00:00:00:00:01"}]}`, http.StatusOK},
	// Malformed bodies and media types.
	{routeCreateNetwork, jsonCT, ``, http.StatusBadRequest},
	{routeCreateNetwork, jsonCT, `{"name":"net-x"`, http.StatusBadRequest},
	{routeCreateNetwork, jsonCT, `{"name":"net-x"} {}`, http.StatusBadRequest},
	{routeCreateNetwork, jsonCT, `[]`, http.StatusBadRequest},
	{routeCreateNetwork, jsonCT, `null`, http.StatusBadRequest},
	{routeCreateNetwork, jsonCT, `{"name":"net-x","colour":"red"}`, http.StatusBadRequest},
	{routeCreateNetwork, jsonCT, `{"name":"net-x","attachments":[{"port":"p9","vlan":-1}]}`, http.StatusBadRequest},
	{routeCreateNetwork, jsonCT, strings.Repeat("[", 20000), http.StatusBadRequest},
	{routeCreateNetwork, "text/plain", `{"name":"net-x"}`, http.StatusUnsupportedMediaType},
	{routeCreateNetwork, "application/json; charset", `{"name":"net-x"}`, http.StatusUnsupportedMediaType},
	{routeAddMACs, jsonCT, `{"macs":null}`, http.StatusBadRequest},
	{routeAddMACs, jsonCT, `{}`, http.StatusBadRequest},
	{routeAddMACs, jsonCT, `{"macs":[null]}`, http.StatusBadRequest},
	{routeAddMACs, jsonCT, `{"macs":[{"mac":"02:00:00:00:00:0a","ips":"192.0.2.10"}]}`, http.StatusBadRequest},
	{routeCreateConnection, jsonCT, `{"name":"conn-x","network":"net-b","remote_gateway":"gw-c","segmentation_id":1e3}`, http.StatusBadRequest},
	{routeCreateConnection, jsonCT, `{"name":"conn-x","network":"net-b","remote_gateway":"gw-c","segmentation_id":4294967296,"network_type":"gre"}`, http.StatusBadRequest},
	{routeCreateConnection, jsonCT, `{"name":"conn-x","network":"net-b","remote_gateway":"gw-c","segmentation_id":1,"flood":"yes"}`, http.StatusBadRequest},
	// Invalid values.
	{routeCreateNetwork, jsonCT, `{"name":"Net_X"}`, http.StatusBadRequest},
	{routeCreateNetwork, jsonCT, `{"name":"` + strings.Repeat("n", 64) + `"}`, http.StatusBadRequest},
	{routeCreateNetwork, jsonCT, `{"name":"net-x","attachments":[{"port":"p9"},{"port":"p9","vlan":5}]}`, http.StatusBadRequest},
	{routeCreateNetwork, jsonCT, `{"name":"net-x","attachments":[{"port":"a/b"},{"port":"` + strings.Repeat("p", 16) + `"},{"port":".."}]}`, http.StatusBadRequest},
	{routeCreateNetwork, jsonCT, `{"name":"net-x","attachments":[{"port":"p9","vlan":4095}]}`, http.StatusBadRequest},
	{routeReplaceNetwork, jsonCT, `{"name":"net-b","attachments":[]}`, http.StatusBadRequest},
	{routeCreateNetwork, jsonCT, `{"name":"net-x","evpn":{"vni":0}}`, http.StatusBadRequest},
	{routeCreateNetwork, jsonCT, `{"name":"net-x","evpn":{"vni":7,"route_targets":{"import":["65536:65536"]}}}`, http.StatusBadRequest},
	{routeReplaceNetwork, jsonCT, `{"evpn":{"vni":7,"route_targets":{"export":["1:1","01:1"]}}}`, http.StatusBadRequest},
	{routeCreateGateway, jsonCT, `{"name":"gw-x","tunnel_ip":"fe80::1"}`, http.StatusBadRequest},
	{routeCreateGateway, jsonCT, `{"name":"gw-x","tunnel_ip":"fe80::1%eth0"}`, http.StatusBadRequest},
	{routeCreateGateway, jsonCT, `{"name":"gw-x","tunnel_ip":"198.51.100.1"}`, http.StatusBadRequest},
	{routeCreateGateway, jsonCT, `{"name":"gw-x","tunnel_ip":"224.0.0.1"}`, http.StatusBadRequest},
	{routeCreateGateway, jsonCT, `{"name":"gw-x","tunnel_ip":"0.0.0.0"}`, http.StatusBadRequest},
	{routeCreateGateway, jsonCT, `{"name":"gw-x","tunnel_ip":"127.0.0.1"}`, http.StatusBadRequest},
	{routeCreateGateway, jsonCT, `{"name":"gw-x","tunnel_ip":"192.0.2.300"}`, http.StatusBadRequest},
	{routeCreateConnection, jsonCT, `{"name":"conn-x","network":"net-b","remote_gateway":"gw-c","segmentation_id":0}`, http.StatusBadRequest},
	{routeCreateConnection, jsonCT, `{"name":"conn-x","network":"net-b","remote_gateway":"gw-c","segmentation_id":16777216}`, http.StatusBadRequest},
	{routeCreateConnection, jsonCT, `{"name":"conn-x","network":"net-b","remote_gateway":"gw-c","segmentation_id":5,"network_type":"stt"}`, http.StatusBadRequest},
	{routeAddMACs, jsonCT, `{"macs":[]}`, http.StatusBadRequest},
	{routeAddMACs, jsonCT, `{"macs":[{"mac":"ff:ff:ff:ff:ff:ff"}]}`, http.StatusBadRequest},
	{routeAddMACs, jsonCT, `{"macs":[{"mac":"01:00:5e:00:00:01"}]}`, http.StatusBadRequest},
	{routeAddMACs, jsonCT, `{"macs":[{"mac":"00:00:00:00:00:00"}]}`, http.StatusBadRequest},
	{routeAddMACs, jsonCT, `{"macs":[{"mac":"02:00:00:00:00:0a:0b:0c"}]}`, http.StatusBadRequest},
	{routeAddMACs, jsonCT, `{"macs":[{"mac":"02:00:00:00:00:0a"},{"mac":"02-00-00-00-00-0A"}]}`, http.StatusBadRequest},
	{routeAddMACs, jsonCT, `{"macs":[{"mac":"02:00:00:00:00:0a","ips":["192.0.2.10","192.0.2.10"]}]}`, http.StatusBadRequest},
	{routeAddMACs, jsonCT, `{"macs":[{"mac":"02:00:00:00:00:0a","ips":["192.0.2.10"]},{"mac":"02:00:00:00:00:0b","ips":["::ffff:192.0.2.10"]}]}`, http.StatusBadRequest},
	{routeAddMACs, jsonCT, `{"macs":[{"mac":"02:00:00:00:00:0a","ips":["255.255.255.255","fe80::1%eth0","0.0.0.0","ff02::1"]}]}`, http.StatusBadRequest},
	{routeReplaceMACs, jsonCT, `{"macs":[{"mac":"02:00:00:00:00:01","ips":["1.2.3"]}]}`, http.StatusBadRequest},
	// Conflicts with the fixture and unknown names.
	{routeCreateNetwork, jsonCT, `{"name":"net-b"}`, http.StatusConflict},
	{routeCreateNetwork, jsonCT, `{"name":"net-x","attachments":[{"port":"p3"}]}`, http.StatusConflict},
	{routeReplaceNetwork, jsonCT, `{"attachments":[{"port":"p3"}]}`, http.StatusConflict},
	{routeCreateNetwork, jsonCT, `{"name":"net-x","evpn":{"vni":5000}}`, http.StatusConflict},
	{routeReplaceNetwork, jsonCT, `{"evpn":{"vni":5000}}`, http.StatusConflict},
	{routeCreateGateway, jsonCT, `{"name":"gw-x","tunnel_ip":"203.0.113.3"}`, http.StatusConflict},
	{routeReplaceGateway, jsonCT, `{"tunnel_ip":"203.0.113.3"}`, http.StatusConflict},
	{routeCreateConnection, jsonCT, `{"name":"conn-a","network":"net-b","remote_gateway":"gw-c","segmentation_id":1}`, http.StatusConflict},
	{routeCreateConnection, jsonCT, `{"name":"conn-x","network":"net-a","remote_gateway":"gw-b","segmentation_id":1}`, http.StatusConflict},
	{routeCreateConnection, jsonCT, `{"name":"conn-x","network":"net-b","remote_gateway":"gw-c","segmentation_id":7,"network_type":"gre"}`, http.StatusConflict},
	{routeCreateConnection, jsonCT, `{"name":"conn-x","network":"nowhere","remote_gateway":"gw-c","segmentation_id":1}`, http.StatusNotFound},
	{routeCreateConnection, jsonCT, `{"name":"conn-x","network":"net-b","remote_gateway":"nobody","segmentation_id":1}`, http.StatusNotFound},
	{routeAddMACs, jsonCT, `{"macs":[{"mac":"02:00:00:00:00:01"}]}`, http.StatusConflict},
	{routeAddMACs, jsonCT, `{"macs":[{"mac":"02:00:00:00:00:0a"},{"mac":"02:00:00:00:00:03"}]}`, http.StatusConflict},
	{routeAddMACs, jsonCT, `{"macs":[{"mac":"02:00:00:00:00:0a","ips":["192.0.2.3"]}]}`, http.StatusConflict},
	{routeReplaceMACs, jsonCT, `{"macs":[{"mac":"02:00:00:00:00:03"}]}`, http.StatusConflict},
	{routeReplaceMissingNetwork, jsonCT, `{"attachments":[]}`, http.StatusNotFound},
	{routeAddMACsMissingConnection, jsonCT, `{"macs":[{"mac":"02:00:00:00:00:0a"}]}`, http.StatusNotFound},
}

// FuzzWrites sends fuzzed bodies (and Content-Types) to the API's writes
// over a real State: the handler never panics, answers only documented
// statuses with JSON bodies, leaves the state untouched when it refuses,
// and shows what it accepted. Each worker opens one State; an accepted
// write is undone through the API before the next input.
func FuzzWrites(f *testing.F) {
	for _, s := range fuzzWriteSeeds {
		f.Add(uint8(s.route), s.contentType, []byte(s.body))
	}
	w := newFuzzWriter(f)
	f.Fuzz(func(t *testing.T, route uint8, contentType string, body []byte) {
		w.write(t, route, contentType, body)
	})
}

// TestFuzzWriteSeeds checks that every seed of FuzzWrites gets the status
// it was written for.
func TestFuzzWriteSeeds(t *testing.T) {
	w := newFuzzWriter(t)
	for i, s := range fuzzWriteSeeds {
		if got := w.write(t, uint8(s.route), s.contentType, []byte(s.body)); got != s.status {
			rt := fuzzRoutes[s.route]
			t.Errorf("seed %d: %s %s %s: status %d, want %d", i, rt.method, rt.path, s.body, got, s.status)
		}
	}
}

// fuzzWriter sends writes to the API over fuzzFixture's state.
type fuzzWriter struct {
	state   *app.State
	h       http.Handler
	fixture app.Snapshot // without IDs
}

// newFuzzWriter opens a State in a temp directory and creates fuzzFixture.
func newFuzzWriter(tb testing.TB) *fuzzWriter {
	tb.Helper()
	state, err := app.Open(tb.TempDir(), app.Options{Logger: slog.New(slog.DiscardHandler), LocalTunnelIPs: []string{"198.51.100.1"}})
	if err != nil {
		tb.Fatalf("open state: %v", err)
	}
	tb.Cleanup(func() {
		if err := state.Close(); err != nil {
			tb.Errorf("close state: %v", err)
		}
	})
	h := NewHandler(state, func() app.Status { return testStatus }, nil)
	for _, r := range fuzzFixture {
		if resp := fuzzSend(h, http.MethodPost, r[0], jsonCT, []byte(r[1])); resp.status != http.StatusCreated {
			tb.Fatalf("fixture POST %s %s: status %d, body %s", r[0], r[1], resp.status, resp.body)
		}
	}
	return &fuzzWriter{state: state, h: h, fixture: fuzzWithoutIDs(state.Snapshot())}
}

// write sends body to fuzzRoutes[route] (modulo their number), checks the
// answer and the state, undoes an accepted write, and returns the status.
func (w *fuzzWriter) write(t *testing.T, route uint8, contentType string, body []byte) int {
	t.Helper()
	rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
	what := fmt.Sprintf("%s %s %q", rt.method, rt.path, body[:min(len(body), 200)])
	before := w.state.Snapshot()
	resp := fuzzSend(w.h, rt.method, rt.path, contentType, body)
	codes, documented := fuzzStatuses[resp.status]
	if !documented {
		t.Fatalf("%s: undocumented status %d; body %s", what, resp.status, resp.body)
	}
	if ct := resp.header.Get("Content-Type"); ct != jsonCT || !json.Valid([]byte(resp.body)) {
		t.Fatalf("%s: status %d with Content-Type %q and a body that is not one JSON value: %s",
			what, resp.status, ct, resp.body)
	}
	if resp.status >= 300 {
		checkFuzzErrorBody(t, what, resp, codes)
		if after := w.state.Snapshot(); !reflect.DeepEqual(before, after) {
			t.Fatalf("%s answered %d but changed the state:\n before %+v\n after  %+v", what, resp.status, before, after)
		}
		return resp.status
	}
	checkFuzzVisible(t, w.h, rt.method, rt.path, resp)
	undoFuzzWrite(t, w.h, rt.method, rt.path, resp)
	if got := fuzzWithoutIDs(w.state.Snapshot()); !reflect.DeepEqual(got, w.fixture) {
		t.Fatalf("undoing %s left the state at\n %+v\nwant\n %+v", what, got, w.fixture)
	}
	return resp.status
}

// fuzzSend serves one request on h; contentType "" sends none.
func fuzzSend(h http.Handler, method, path, contentType string, body []byte) response {
	req := httptest.NewRequest(method, path, strings.NewReader(string(body)))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

// checkFuzzErrorBody checks that resp is an error body of exactly the shape the
// API documents, with one of codes and a message.
func checkFuzzErrorBody(t *testing.T, what string, resp response, codes []string) {
	t.Helper()
	var e errorBody
	dec := json.NewDecoder(strings.NewReader(resp.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("%s: status %d with a body that is no error body (%v): %s", what, resp.status, err, resp.body)
	}
	if !slices.Contains(codes, e.Error.Code) || e.Error.Message == "" {
		t.Fatalf("%s: status %d with code %q (want one of %q) and message %q", what, resp.status, e.Error.Code, codes, e.Error.Message)
	}
}

// checkFuzzVisible checks that what a write answered is what a read shows now.
func checkFuzzVisible(t *testing.T, h http.Handler, method, path string, resp response) {
	t.Helper()
	var obj struct {
		Name string            `json:"name"`
		MACs []json.RawMessage `json:"macs"`
	}
	if err := json.Unmarshal([]byte(resp.body), &obj); err != nil {
		t.Fatalf("%s %s: answer %s: %v", method, path, resp.body, err)
	}
	get := path
	if method == http.MethodPost && !strings.HasSuffix(path, "/macs") {
		get = path + "/" + obj.Name
	}
	read := fuzzSend(h, http.MethodGet, get, "", nil)
	if read.status != http.StatusOK {
		t.Fatalf("GET %s after %s %s: status %d, body %s", get, method, path, read.status, read.body)
	}
	if !strings.HasSuffix(path, "/macs") {
		assertJSON(t, "GET "+get, read.body, resp.body)
		return
	}
	// A MAC batch answers its bindings in request order, the list sorted.
	var listed struct {
		MACs []json.RawMessage `json:"macs"`
	}
	if err := json.Unmarshal([]byte(read.body), &listed); err != nil {
		t.Fatalf("GET %s: %v", get, err)
	}
	shown := map[string]bool{}
	for _, m := range listed.MACs {
		shown[string(m)] = true
	}
	for _, m := range obj.MACs {
		if !shown[string(m)] {
			t.Fatalf("%s %s answered binding %s, GET %s shows %s", method, path, m, get, read.body)
		}
	}
	if method == http.MethodPut && len(listed.MACs) != len(obj.MACs) {
		t.Fatalf("PUT %s answered %s, GET shows %s", path, resp.body, read.body)
	}
}

// undoFuzzWrite reverts an accepted write through the API.
func undoFuzzWrite(t *testing.T, h http.Handler, method, path string, resp response) {
	t.Helper()
	var undoMethod, undoPath, body string
	switch {
	case strings.HasSuffix(path, "/macs"):
		undoMethod, undoPath, body = http.MethodPut, path, fixtureMACs
	case method == http.MethodPost:
		var obj struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal([]byte(resp.body), &obj); err != nil {
			t.Fatalf("%s %s: answer %s: %v", method, path, resp.body, err)
		}
		undoMethod, undoPath = http.MethodDelete, path+"/"+obj.Name
	case path == "/v1/networks/net-a":
		undoMethod, undoPath, body = http.MethodPut, path, fixtureNetA
	case path == "/v1/remote-gateways/gw-b":
		undoMethod, undoPath, body = http.MethodPut, path, fixtureGwB
	default:
		t.Fatalf("%s %s succeeded; the fuzz target cannot undo it", method, path)
	}
	ct := ""
	if body != "" {
		ct = jsonCT
	}
	if r := fuzzSend(h, undoMethod, undoPath, ct, []byte(body)); r.status >= 300 {
		t.Fatalf("undo %s %s: status %d, body %s", undoMethod, undoPath, r.status, r.body)
	}
}

// fuzzWithoutIDs is s with every store-assigned ID zeroed: an undone create
// gives the object it re-creates a new ID.
func fuzzWithoutIDs(s app.Snapshot) app.Snapshot {
	for i := range s.Networks {
		s.Networks[i].ID = 0
	}
	for i := range s.Connections {
		s.Connections[i].ID = 0
	}
	for _, bindings := range s.MACs {
		for i := range bindings {
			bindings[i].ID = 0
		}
	}
	return s
}
