package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gorilla/mux"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/flows"
)

// ---- The document, loaded and validated by kin-openapi ----

// oaDocument is openapi.json as kin-openapi loads it ($refs resolved), with
// a router that finds the operation serving a request.
type oaDocument struct {
	*openapi3.T
	router routers.Router
}

// parseOpenAPI loads data with kin-openapi, and also decodes it as plain
// JSON for the checks that walk every value.
func parseOpenAPI(data []byte) (*oaDocument, any, error) {
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, fmt.Errorf("not JSON: %w", err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, nil, fmt.Errorf("load: %w", err)
	}
	return &oaDocument{T: doc}, raw, nil
}

// openAPIProblems lists what is wrong with the OpenAPI document in data:
// what kin-openapi's Validate finds (examples and defaults included), then
// how it breaks the house rules.
func openAPIProblems(data []byte) []string {
	doc, raw, err := parseOpenAPI(data)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	if err := doc.Validate(context.Background(), openapi3.EnableMultiError()); err != nil {
		var multi openapi3.MultiError
		if !errors.As(err, &multi) {
			multi = openapi3.MultiError{err}
		}
		for _, e := range multi {
			problems = append(problems, e.Error())
		}
	}
	return append(problems, houseRuleProblems(doc, raw)...)
}

// loadOpenAPI loads the embedded document, which must have no problems,
// and builds its router.
func loadOpenAPI(t *testing.T) *oaDocument {
	t.Helper()
	if problems := openAPIProblems(openAPIDocument); len(problems) > 0 {
		t.Fatalf("openapi.json: %s", strings.Join(problems, "\n"))
	}
	doc, _, err := parseOpenAPI(openAPIDocument)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.router, err = gorillamux.NewRouter(doc.T); err != nil {
		t.Fatalf("openapi.json: router: %v", err)
	}
	return doc
}

// operation returns the operation the document gives method on the path
// template tmpl, or nil.
func (d *oaDocument) operation(method, tmpl string) *openapi3.Operation {
	item := d.Paths.Value(tmpl)
	if item == nil {
		return nil
	}
	return item.GetOperation(method)
}

// takesToken tells whether op's security (its own, or the document's)
// names a scheme: then a daemon with a token refuses it without one.
func (d *oaDocument) takesToken(op *openapi3.Operation) bool {
	reqs := d.Security
	if op.Security != nil {
		reqs = *op.Security
	}
	return slices.ContainsFunc(reqs, func(r openapi3.SecurityRequirement) bool { return len(r) > 0 })
}

// refusedWhenBusy tells whether op documents the in-flight cap's 503
// (overloaded), through the shared Overloaded, Unavailable or
// SwitchUnavailable response.
func (d *oaDocument) refusedWhenBusy(op *openapi3.Operation) bool {
	r := op.Responses.Value("503")
	return r != nil && slices.Contains([]string{"Overloaded", "Unavailable", "SwitchUnavailable"}, strings.TrimPrefix(r.Ref, "#/components/responses/"))
}

// ---- Tests of the document itself ----

// TestOpenAPIDocumentIsValid checks the document itself. kin-openapi's
// Load and Validate check:
//   - it is JSON, and OpenAPI: an unknown field anywhere (a misspelt
//     keyword) is an error;
//   - every $ref resolves;
//   - info has a title and a version;
//   - security requirements, the document's and the operations', name
//     declared schemes, and each scheme is valid for its type;
//   - paths start with /; each operation declares exactly the parameters
//     of its path template, each once, as required path parameters; a
//     parameter has a name, a valid in, and a schema (or content);
//   - operationIds are unique; an operation has responses, a response a
//     description, a header a schema, a request body content;
//   - example and examples exclude each other; examples and defaults fit
//     their schemas;
//   - a schema's type is a known one, an array has items, a pattern
//     compiles.
//
// The house rules (openapi_rules_test.go) add: OpenAPI 3.0.x; every path
// has an operation, every operation an operationId and declared tags; an
// operation documents 401 exactly when it takes the token; response keys
// are status codes; no $ref has siblings; a media type parses and has a
// schema; every schema has one of the six types, only the keywords of its
// type, its required properties defined and enum values of its type.
//
// The document uses no formats. TestOpenAPIValidatorFindsProblems breaks
// each of these checks; the other tests below check the document's
// addresses, that it lists exactly the routes served, that it is served as
// it is, and that its schemas reject bad values.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	for _, p := range openAPIProblems(openAPIDocument) {
		t.Error(p)
	}
}

// TestOpenAPIValidatorFindsProblems breaks the document in the ways
// openAPIProblems must notice, one at a time: each check of kin-openapi's
// this test relies on, and each house rule.
func TestOpenAPIValidatorFindsProblems(t *testing.T) {
	obj := func(node any, keys ...string) map[string]any {
		for _, k := range keys {
			node = node.(map[string]any)[k]
		}
		return node.(map[string]any)
	}
	for _, tc := range []struct {
		name   string
		mutate func(doc map[string]any)
		want   string
	}{
		// What kin-openapi finds.
		{"dangling $ref", func(d map[string]any) {
			obj(d, "components", "schemas", "Network", "properties", "attachments")["items"] =
				map[string]any{"$ref": "#/components/schemas/Nope"}
		}, `"#/components/schemas/Nope"`},
		{"path parameter not declared", func(d map[string]any) {
			delete(obj(d, "paths", "/v1/networks/{name}"), "parameters")
		}, "operation GET /v1/networks/{name} must define exactly all path parameters (missing: [name])"},
		{"parameter the path lacks", func(d map[string]any) {
			obj(d, "paths", "/v1/status", "get")["parameters"] =
				[]any{map[string]any{"$ref": "#/components/parameters/MAC"}}
		}, "operation GET /v1/status must define exactly all path parameters"},
		{"path parameter declared twice", func(d map[string]any) {
			item := obj(d, "paths", "/v1/connections/{name}/macs/{mac}")
			item["parameters"] = append(item["parameters"].([]any), map[string]any{"$ref": "#/components/parameters/MAC"})
		}, `more than one "path" parameter has name "mac"`},
		{"optional path parameter", func(d map[string]any) {
			obj(d, "components", "parameters", "MAC")["required"] = false
		}, `path parameter "mac" must be required`},
		{"operation without responses", func(d map[string]any) {
			obj(d, "paths", "/v1/status", "get")["responses"] = map[string]any{}
		}, "the responses object MUST contain at least one response code"},
		{"misspelt keyword", func(d map[string]any) {
			s := obj(d, "components", "schemas", "Status")
			s["requierd"] = s["required"]
		}, "extra sibling fields: [requierd]"},
		{"misspelt operation field", func(d map[string]any) {
			op := obj(d, "paths", "/v1/status", "get")
			op["respones"] = op["responses"]
		}, "extra sibling fields: [respones]"},
		{"required property not defined", func(d map[string]any) {
			s := obj(d, "components", "schemas", "RemoteGateway")
			s["required"] = []any{"name", "tunnel_ip", "tunnel_port"}
		}, `schemas.RemoteGateway: required property "tunnel_port" is not defined`},
		{"example that breaks its schema", func(d map[string]any) {
			obj(d, "paths", "/v1/status", "get", "responses", "200", "content", "application/json")["example"] =
				map[string]any{"bridge": "br-int", "connected": "yes"}
		}, `property "reconciled" is missing`},
		{"default that breaks its schema", func(d map[string]any) {
			params := obj(d, "paths", "/v1/flows", "get")["parameters"].([]any)
			obj(params[2], "schema")["default"] = "no"
		}, "invalid default"},
		{"response without a description", func(d map[string]any) {
			delete(obj(d, "components", "responses", "Internal"), "description")
		}, "a short description of the response is required"},
		{"array without items", func(d map[string]any) {
			delete(obj(d, "components", "schemas", "Network", "properties", "attachments"), "items")
		}, "schema 'items' must be non-null"},
		{"info without a title", func(d map[string]any) {
			delete(obj(d, "info"), "title")
		}, "value of title must be a non-empty string"},
		{"path not starting with /", func(d map[string]any) {
			p := obj(d, "paths")
			p["v1/status"] = p["/v1/status"]
			delete(p, "/v1/status")
		}, `path "v1/status" does not start with a forward slash`},
		{"parameter in nowhere", func(d map[string]any) {
			obj(d, "components", "parameters", "MAC")["in"] = "body"
		}, `parameter can't have 'in' value "body"`},
		{"parameter without a schema", func(d map[string]any) {
			delete(obj(d, "components", "parameters", "MAC"), "schema")
		}, "parameter must contain exactly one of content and schema"},
		{"header without a schema", func(d map[string]any) {
			delete(obj(d, "components", "responses", "Overloaded", "headers", "Retry-After"), "schema")
		}, "header must contain exactly one of content and schema"},
		{"request body without content", func(d map[string]any) {
			delete(obj(d, "paths", "/v1/networks", "post", "requestBody"), "content")
		}, "content of the request body is required"},
		{"example and examples", func(d map[string]any) {
			m := obj(d, "paths", "/v1/status", "get", "responses", "200", "content", "application/json")
			m["examples"] = map[string]any{"up": map[string]any{"value": m["example"]}}
		}, "example and examples are mutually exclusive"},
		{"unknown type", func(d map[string]any) {
			obj(d, "components", "schemas", "Status")["type"] = "record"
		}, `unsupported 'type' value "record"`},
		{"pattern that does not compile", func(d map[string]any) {
			obj(d, "components", "schemas", "Name")["pattern"] = "^[a-z"
		}, "error parsing regexp"},
		{"http scheme without a scheme", func(d map[string]any) {
			delete(obj(d, "components", "securitySchemes", "bearerAuth"), "scheme")
		}, "security scheme of type 'http' has invalid 'scheme' value"},
		{"undeclared security scheme", func(d map[string]any) {
			d["security"] = []any{map[string]any{"basicAuth": []any{}}}
		}, `undefined security scheme "basicAuth"`},
		{"duplicate operationId", func(d map[string]any) {
			obj(d, "paths", "/v1/flows", "get")["operationId"] = obj(d, "paths", "/v1/status", "get")["operationId"]
		}, "have the same operation id"},

		// What the house rules find.
		{"OpenAPI 3.1", func(d map[string]any) { d["openapi"] = "3.1.0" }, `version "3.1.0", want 3.0.x`},
		{"path without operations", func(d map[string]any) {
			obj(d, "paths")["/v1/nothing"] = map[string]any{}
		}, "/v1/nothing: no operations"},
		{"operation without operationId", func(d map[string]any) {
			delete(obj(d, "paths", "/v1/status", "get"), "operationId")
		}, "GET /v1/status: no operationId"},
		{"undeclared tag", func(d map[string]any) {
			obj(d, "paths", "/v1/status", "get")["tags"] = []any{"nope"}
		}, `GET /v1/status: tag "nope" is not declared`},
		{"open operation that documents 401", func(d map[string]any) {
			obj(d, "paths", "/v1/status", "get")["security"] = []any{}
		}, "takes the token: false, but documents 401: true"},
		{"response key not a status", func(d map[string]any) {
			r := obj(d, "paths", "/v1/status", "get", "responses")
			r["2OO"] = r["200"]
		}, `response key "2OO" is not a status code`},
		{"$ref with siblings", func(d map[string]any) {
			obj(d, "paths", "/v1/status", "get", "responses", "401")["description"] = "ignored"
		}, "#/paths/~1v1~1status/get/responses/401: a $ref's siblings [description] are ignored"},
		{"media type that is not one", func(d map[string]any) {
			c := obj(d, "paths", "/v1/status", "get", "responses", "200", "content")
			c["application json"] = c["application/json"]
		}, "GET /v1/status 200 application json: not a media type"},
		{"media type without a schema", func(d map[string]any) {
			delete(obj(d, "paths", "/v1/status", "get", "responses", "200", "content", "application/json"), "schema")
		}, "GET /v1/status 200 application/json: no schema"},
		{"schema without a type", func(d map[string]any) {
			delete(obj(d, "components", "schemas", "Status"), "type")
		}, `schemas.Status: type "", want one of`},
		{"keyword of another type", func(d map[string]any) {
			obj(d, "components", "schemas", "Status", "properties", "flows")["pattern"] = "^[0-9]+$"
		}, "schemas.Status.flows: pattern, minLength and maxLength go with type string"},
		{"items on an object", func(d map[string]any) {
			obj(d, "components", "schemas", "Status")["items"] = map[string]any{"type": "string"}
		}, "schemas.Status: items goes with type array"},
		{"bound on a string", func(d map[string]any) {
			obj(d, "components", "schemas", "Status", "properties", "bridge")["minimum"] = 1
		}, "schemas.Status.bridge: minimum and maximum go with numeric types"},
		{"enum value of another type", func(d map[string]any) {
			obj(d, "components", "schemas", "Status", "properties", "bridge")["enum"] = []any{"br-int", 7}
		}, "schemas.Status.bridge: enum value 7"},
		{"not JSON", nil, "not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(`{"openapi":`)
			if tc.mutate != nil {
				var doc map[string]any
				if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
					t.Fatal(err)
				}
				tc.mutate(doc)
				var err error
				if data, err = json.Marshal(doc); err != nil {
					t.Fatal(err)
				}
			}
			problems := openAPIProblems(data)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("problems %q lack %q", problems, tc.want)
			}
		})
	}
}

// TestOpenAPISchemaCheck checks that the document's schemas, as
// kin-openapi applies them to bodies, admit values that fit and reject
// those that do not: required properties, additionalProperties, patterns,
// bounds, nullable, integers, enums, booleans, minItems, objects.
func TestOpenAPISchemaCheck(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, tc := range []struct {
		schema, value string
		want          string // a problem's text; "" means the value fits
	}{
		{"Network", `{"name":"backup","attachments":[{"port":"eth1"},{"port":"trunk0","vlan":100}]}`, ""},
		{"Network", `{"name":"backup"}`, `property "attachments" is missing`},
		{"Network", `{"name":"backup","attachments":[],"id":7}`, `property "id" is unsupported`},
		{"Network", `{"name":"Backup","attachments":[]}`, `doesn't match the regular expression`},
		{"Network", `{"name":"backup","attachments":[{"port":"eth1","vlan":4095}]}`, "number must be at most 4094"},
		{"Network", `{"name":"backup","attachments":null}`, "not nullable"},
		{"NetworkCreate", `{"name":"backup","attachments":null}`, ""},
		{"Connection", `{"name":"c","network":"n","remote_gateway":"g","segmentation_id":1.5,"network_type":"vxlan","flood":true}`, "value must be an integer"},
		{"Connection", `{"name":"c","network":"n","remote_gateway":"g","segmentation_id":1,"network_type":"mpls","flood":true}`, "value is not one of the allowed values"},
		{"Status", `{"bridge":"br-int","connected":"yes","ovsdb_connected":true,"reconciled":true,"flows":1,"flow_mods":1,"bundles":1}`, "value must be a boolean"},
		{"MACList", `{"macs":[{"mac":"02:0B:00:00:00:01"}]}`, "doesn't match the regular expression"},
		{"MACBatchAdd", `{"macs":[]}`, "minimum number of items is 1"},
		{"NetworkCreate", `{"name":"lab","evpn":{"vni":5001,"route_targets":{"import":["65000:1"],"export":null}}}`, ""},
		{"NetworkCreate", `{"name":"lab","evpn":{"vni":16777216}}`, "number must be at most 1.6777215e+07"},
		{"NetworkCreate", `{"name":"lab","evpn":{"route_targets":{}}}`, `property "vni" is missing`},
		{"NetworkCreate", `{"name":"lab","evpn":{"vni":7,"route_targets":{"import":["65000"]}}}`, "doesn't match the regular expression"},
		{"Network", `{"name":"lab","attachments":[],"evpn":{"vni":7}}`, `property "route_targets" is missing`},
		{"BGPPeerCreate", `{"name":"rr1","address":"198.51.100.3","asn":65000,"password":"s3cret","hold_time":90,"keepalive":30,"max_routes":10,"port":179}`, ""},
		{"BGPPeerCreate", `{"name":"rr1","address":"198.51.100.3"}`, `property "asn" is missing`},
		{"BGPPeerCreate", `{"name":"rr1","address":"198.51.100.3","asn":0}`, "number must be at least 1"},
		{"BGPPeerCreate", `{"name":"rr1","address":"198.51.100.3","asn":1,"state":"idle"}`, `property "state" is unsupported`},
		{"BGPPeerReplace", `{"asn":65000}`, `property "address" is missing`},
		{"BGPPeer", `{"name":"rr1","address":"198.51.100.3","asn":65000,"password":"s3cret","state":"idle","uptime_seconds":0,"routes_received":0,"routes_accepted":0,"routes_advertised":0}`, `property "password" is unsupported`},
		{"BGPPeer", `{"name":"rr1","address":"198.51.100.3","asn":65000,"state":"up","uptime_seconds":0,"routes_received":0,"routes_accepted":0,"routes_advertised":0}`, "value is not one of the allowed values"},
		{"Error", `{"error":{"code":"conflict","message":"m","field":null}}`, "not nullable"},
		{"Error", `{"error":"conflict"}`, "value must be an object"},
		{"RemoteGatewayCreate", `{"name":"site-g","tunnel_ips":["198.51.100.11","198.51.100.12"]}`, ""},
		{"RemoteGatewayCreate", `{"name":"site-g","tunnel_ips":[]}`, "minimum number of items is 1"},
		{"RemoteGatewayCreate", `{"name":"site-g","tunnel_ips":["a","b","c","d","e","f","g","h","i"]}`, "maximum number of items is 8"},
		{"RemoteGatewayCreate", `{"name":"site-g","tunnel_ips":["198.51.100.11"],"endpoints":[]}`, `property "endpoints" is unsupported`},
		{"RemoteGateway", `{"name":"site-g","tunnel_ip":"198.51.100.11"}`, `property "tunnel_ips" is missing`},
		{"RemoteGateway", `{"name":"site-g","tunnel_ip":"198.51.100.11","tunnel_ips":["198.51.100.11"],"endpoints":[{"tunnel_ip":"198.51.100.11","bfd":"dead","in_use":true}]}`, "value is not one of the allowed values"},
		{"RemoteGateway", `{"name":"site-g","tunnel_ip":"198.51.100.11","tunnel_ips":["198.51.100.11"],"endpoints":[{"tunnel_ip":"198.51.100.11"}]}`, `property "in_use" is missing`},
		{"Status", `{"bridge":"br-int","connected":true,"ovsdb_connected":true,"reconciled":true,"flows":1,"flow_mods":1,"bundles":1}`, `property "desired_state_digest" is missing`},
		{"Status", `{"bridge":"br-int","connected":true,"ovsdb_connected":true,"reconciled":true,"flows":1,"flow_mods":1,"bundles":1,"desired_state_digest":"x"}`, "doesn't match the regular expression"},
		{"HAStatus", `{"role":"primary","priority":200,"peer":"198.51.100.12","peer_bfd":"up","peer_segment_bfd":"up","peer_priority":0,"peer_desired_state_digest":"","cpath_down":false,"reason":""}`, "value is not one of the allowed values"},
		{"HAStatus", `{"role":"active","priority":0,"peer":"198.51.100.12","peer_bfd":"up","peer_segment_bfd":"up","peer_priority":0,"peer_desired_state_digest":"","cpath_down":false,"reason":""}`, "number must be at least 1"},
	} {
		var value any
		if err := json.Unmarshal([]byte(tc.value), &value); err != nil {
			t.Fatal(err)
		}
		err := doc.Components.Schemas[tc.schema].Value.VisitJSON(value, openapi3.MultiErrors())
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %s: %v, want it to fit", tc.schema, tc.value, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %s: %v, want a problem with %q", tc.schema, tc.value, err, tc.want)
		}
	}
}

// documentationPrefixes are the only networks the document may show
// (RFC 5737, RFC 3849).
var documentationPrefixes = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32"),
}

// TestOpenAPIUsesDocumentationAddresses checks every IP address in the
// document is a documentation address and every MAC locally administered.
func TestOpenAPIUsesDocumentationAddresses(t *testing.T) {
	var raw any
	if err := json.Unmarshal(openAPIDocument, &raw); err != nil {
		t.Fatal(err)
	}
	var ips, macs int
	var visit func(node any)
	visit = func(node any) {
		switch n := node.(type) {
		case map[string]any:
			for k, v := range n {
				visit(k)
				visit(v)
			}
		case []any:
			for _, v := range n {
				visit(v)
			}
		case string:
			tokens := strings.FieldsFunc(n, func(r rune) bool {
				return !strings.ContainsRune("0123456789abcdefABCDEF.:-", r)
			})
			for _, tok := range tokens {
				tok = strings.Trim(tok, ".:-")
				if a, err := netip.ParseAddr(tok); err == nil {
					ips++
					if !slices.ContainsFunc(documentationPrefixes, func(p netip.Prefix) bool { return p.Contains(a) }) {
						t.Errorf("%s in %q is not a documentation address", a, n)
					}
				}
				if hw, err := net.ParseMAC(tok); err == nil && len(hw) == 6 {
					macs++
					if hw[0]&0x02 == 0 {
						t.Errorf("%s in %q is not a locally administered MAC", hw, n)
					}
				}
			}
		}
	}
	visit(raw)
	if ips == 0 || macs == 0 {
		t.Errorf("found %d IP addresses and %d MACs; the examples should show both", ips, macs)
	}
}

// muxTemplateParam matches a gorilla/mux path variable with a pattern.
var muxTemplateParam = regexp.MustCompile(`\{([^{}:]+):[^{}]*\}`)

// TestOpenAPICoversEveryRoute checks that the document lists exactly the
// routes NewHandler registers (with every option: all it can serve), by
// path template and method.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	router, ok := NewHandler(nil, nil, nil, WithMetrics(NewRegistry())).(*mux.Router)
	if !ok {
		t.Fatal("NewHandler no longer returns the *mux.Router; walk the router it wraps")
	}
	registered := make(map[string]bool)
	err := router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tmpl, err := route.GetPathTemplate()
		if err != nil {
			return fmt.Errorf("route without a path template: %w", err)
		}
		methods, err := route.GetMethods()
		if err != nil {
			return fmt.Errorf("route %s serves every method; the document needs them named: %w", tmpl, err)
		}
		for _, m := range methods {
			registered[m+" "+muxTemplateParam.ReplaceAllString(tmpl, "{$1}")] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	documented := make(map[string]bool)
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for _, r := range slices.Sorted(maps.Keys(registered)) {
		if !documented[r] {
			t.Errorf("route %s is registered but not in openapi.json", r)
		}
	}
	for _, r := range slices.Sorted(maps.Keys(documented)) {
		if !registered[r] {
			t.Errorf("openapi.json documents %s, which the router does not serve", r)
		}
	}
	if len(registered) == 0 {
		t.Error("the walk found no routes")
	}
}

func TestOpenAPIServed(t *testing.T) {
	rec := httptest.NewRecorder()
	NewHandler(nil, nil, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/openapi.json: %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !bytes.Equal(rec.Body.Bytes(), openAPIDocument) {
		t.Error("GET /v1/openapi.json does not serve openapi.json as it is")
	}
}

// ---- Real responses against the document ----

// oaStep is one request of the conformance script and the status it must
// get.
type oaStep struct {
	method, path string
	body         string // sent as application/json unless contentType says otherwise
	contentType  string
	// stream, when not nil, is sent instead of body (a body too large to
	// hold; only for requests the API refuses).
	stream io.Reader
	status int
}

// oaConformance sends requests and checks each answer against the
// document: a status the operation documents, a body that fits that
// response's schema, its required headers; and that the document admits
// each request the API accepts.
type oaConformance struct {
	t   *testing.T
	doc *oaDocument
	// seen holds the "METHOD template status" answers met.
	seen map[string]bool
}

// send serves s through front, checks the answer and returns it.
func (c *oaConformance) send(front http.Handler, s oaStep) response {
	c.t.Helper()
	what := s.method + " " + s.path
	var body io.Reader = strings.NewReader(s.body)
	if s.stream != nil {
		body = s.stream
	}
	req := httptest.NewRequest(s.method, s.path, body)
	switch {
	case s.contentType != "":
		req.Header.Set("Content-Type", s.contentType)
	case s.body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	front.ServeHTTP(rec, req)
	resp := response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	if resp.status != s.status {
		c.t.Fatalf("%s: status %d, want %d; body %s", what, resp.status, s.status, resp.body)
	}
	route, params, err := c.doc.router.FindRoute(req)
	if errors.Is(err, routers.ErrPathNotFound) || errors.Is(err, routers.ErrMethodNotAllowed) {
		// No operation: only the router's own 404 or 405, an error body.
		if resp.status != http.StatusNotFound && resp.status != http.StatusMethodNotAllowed {
			c.t.Errorf("%s: status %d, but no operation in the document serves it", what, resp.status)
			return resp
		}
		c.checkErrorBody(what, resp)
		return resp
	}
	if err != nil {
		c.t.Fatalf("%s: find its operation: %v", what, err)
	}
	status := strconv.Itoa(resp.status)
	documented := route.Operation.Responses.Value(status)
	if documented == nil {
		c.t.Errorf("%s: status %s is not documented for %s %s; body %s", what, status, s.method, route.Path, resp.body)
		return resp
	}
	c.seen[s.method+" "+route.Path+" "+status] = true
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: &openapi3filter.Options{
		MultiError: true, SkipSettingDefaults: true, AuthenticationFunc: bearerPresent,
	}}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.status, Header: resp.header, Body: io.NopCloser(strings.NewReader(resp.body)), Options: in.Options,
	})
	if err != nil {
		c.t.Errorf("%s: the answer departs from the document: %v; body %s", what, err, resp.body)
	}
	if len(documented.Value.Content) == 0 && resp.body != "" {
		c.t.Errorf("%s: body %q, but the document gives this response none", what, resp.body)
	}
	if resp.status < 300 {
		// What the API accepts, the document must admit.
		req.Body = io.NopCloser(strings.NewReader(s.body))
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			c.t.Errorf("%s: accepted, but the document rejects the request: %v", what, err)
		}
	}
	return resp
}

// checkErrorBody checks that an answer no operation documents (the
// router's own) is an Error, as JSON.
func (c *oaConformance) checkErrorBody(what string, resp response) {
	c.t.Helper()
	if mt, _, err := mime.ParseMediaType(resp.header.Get("Content-Type")); err != nil || mt != "application/json" {
		c.t.Errorf("%s: Content-Type %q, want application/json", what, resp.header.Get("Content-Type"))
		return
	}
	var body any
	if err := json.Unmarshal([]byte(resp.body), &body); err != nil {
		c.t.Errorf("%s: body is not JSON: %v: %s", what, err, resp.body)
		return
	}
	if err := c.doc.Components.Schemas["Error"].Value.VisitJSON(body, openapi3.VisitAsResponse(), openapi3.MultiErrors()); err != nil {
		c.t.Errorf("%s: the body is not an Error: %v; body %s", what, err, resp.body)
	}
}

// ndjsonLines is kin-openapi's decoder of an application/x-ndjson body:
// its lines (blank ones skipped) as an array of JSON values, which the
// document's schema (MACLines) describes.
func ndjsonLines(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	lines := []any{}
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var v any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("line %d: %w", len(lines)+1, err)
		}
		lines = append(lines, v)
	}
	return lines, sc.Err()
}

func init() { openapi3filter.RegisterBodyDecoder("application/x-ndjson", ndjsonLines) }

// blankLines reads n bytes of blank lines, 64 KiB each: an NDJSON body
// read fast (64 KiB at a time) that holds no binding.
type blankLines struct{ n, at int }

// blankLine is one of blankLines' lines.
var blankLine = strings.Repeat(" ", 64<<10-1) + "\n"

func (z *blankLines) Read(p []byte) (int, error) {
	if z.at == z.n {
		return 0, io.EOF
	}
	off := z.at % len(blankLine)
	n := copy(p[:min(len(p), z.n-z.at)], blankLine[off:])
	z.at += n
	return n, nil
}

// bearerPresent is kin-openapi's check of the bearerAuth scheme: the
// request carries a bearer token (whether it is the right one is the
// server's to say; TestOpenAPIResponsesConform sees its 401s).
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if _, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer "); !ok {
		return errors.New("no bearer token")
	}
	return nil
}

// concrete fills a path template's parameters with placeholder values.
func concrete(tmpl string) string {
	return strings.NewReplacer("{name}", "nope", "{mac}", "02:0b:00:00:00:01").Replace(tmpl)
}

// oaScript exercises every operation with good and bad input, in order.
var oaScript = []oaStep{
	// Networks.
	{method: "GET", path: "/v1/networks", status: 200},
	{method: "POST", path: "/v1/networks", body: `{"name":"backup","attachments":[{"port":"eth1"},{"port":"trunk0","vlan":100}]}`, status: 201},
	{method: "POST", path: "/v1/networks", body: `{"name":"lab"}`, status: 201},
	{method: "POST", path: "/v1/networks", body: `{"name":"spare","attachments":null}`, status: 201},
	{method: "POST", path: "/v1/networks", body: `{"name":"Bad_Name"}`, status: 400},
	{method: "POST", path: "/v1/networks", body: `{"name":"n2","colour":"red"}`, status: 400},
	{method: "POST", path: "/v1/networks", body: `{"name":"n2","attachments":[{"port":"eth2","vlan":"100"}]}`, status: 400},
	{method: "POST", path: "/v1/networks", body: `{"name":"backup"}`, status: 409},
	{method: "POST", path: "/v1/networks", body: `{"name":"n2","attachments":[{"port":"eth1"}]}`, status: 409},
	{method: "GET", path: "/v1/networks", status: 200},
	{method: "GET", path: "/v1/networks/backup", status: 200},
	{method: "GET", path: "/v1/networks/nope", status: 404},
	{method: "PUT", path: "/v1/networks/lab", body: `{"attachments":[{"port":"eth3","vlan":0}]}`, status: 200},
	{method: "PUT", path: "/v1/networks/lab", body: `{"name":"lab","attachments":[{"port":"eth3"},{"port":"trunk0","vlan":200}]}`, status: 200},
	{method: "PUT", path: "/v1/networks/lab", body: `{"name":"backup"}`, status: 400},
	{method: "PUT", path: "/v1/networks/nope", body: `{"attachments":[]}`, status: 404},
	{method: "PUT", path: "/v1/networks/lab", body: `{"attachments":[{"port":"trunk0","vlan":100}]}`, status: 409},
	{method: "POST", path: "/v1/networks", body: `{"name":"evpn-a","evpn":{"vni":5001,"route_targets":{"import":["65000:05001","192.0.2.1:7"],"export":null}}}`, status: 201},
	{method: "POST", path: "/v1/networks", body: `{"name":"evpn-b","evpn":{"vni":5002,"route_targets":{}}}`, status: 201},
	{method: "POST", path: "/v1/networks", body: `{"name":"evpn-x","evpn":{"vni":5003,"route_targets":{"export":["65536:65536"]}}}`, status: 400},
	{method: "POST", path: "/v1/networks", body: `{"name":"evpn-x","evpn":{"vni":5001}}`, status: 409},
	{method: "PUT", path: "/v1/networks/evpn-b", body: `{"evpn":{"vni":5004,"route_targets":{"export":["4200000000:7"]}}}`, status: 200},
	{method: "PUT", path: "/v1/networks/evpn-b", body: `{"evpn":{"vni":0}}`, status: 400},
	{method: "PUT", path: "/v1/networks/evpn-b", body: `{"evpn":{"vni":5001}}`, status: 409},
	{method: "GET", path: "/v1/networks/evpn-a", status: 200},
	{method: "GET", path: "/v1/networks", status: 200},
	// vtep's network ls-red (oaVTEP) is read-only, and its name and
	// ports are not the API's to take.
	{method: "GET", path: "/v1/networks/ls-red", status: 200},
	{method: "POST", path: "/v1/networks", body: `{"name":"ls-red"}`, status: 409},
	{method: "POST", path: "/v1/networks", body: `{"name":"n2","attachments":[{"port":"trunk0","vlan":700}]}`, status: 409},
	{method: "PUT", path: "/v1/networks/ls-red", body: `{"attachments":[]}`, status: 409},
	{method: "PUT", path: "/v1/networks/lab", body: `{"attachments":[{"port":"eth7"}]}`, status: 409},
	{method: "DELETE", path: "/v1/networks/ls-red", status: 409},

	// Remote gateways.
	{method: "GET", path: "/v1/remote-gateways", status: 200},
	{method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-b","tunnel_ip":"198.51.100.2"}`, status: 201},
	{method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-c","tunnel_ip":"203.0.113.3"}`, status: 201},
	{method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-d","tunnel_ip":"203.0.113.4"}`, status: 201},
	{method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-x","tunnel_ip":"not-an-ip"}`, status: 400},
	{method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-x","tunnel_ip":"198.51.100.1"}`, status: 400},
	{method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-b","tunnel_ip":"198.51.100.7"}`, status: 409},
	{method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-x","tunnel_ip":"198.51.100.2"}`, status: 409},
	{method: "GET", path: "/v1/remote-gateways", status: 200},
	{method: "GET", path: "/v1/remote-gateways/site-b", status: 200},
	{method: "GET", path: "/v1/remote-gateways/nope", status: 404},
	{method: "PUT", path: "/v1/remote-gateways/site-c", body: `{"tunnel_ip":"203.0.113.30"}`, status: 200},
	{method: "PUT", path: "/v1/remote-gateways/site-c", body: `{"name":"site-c","tunnel_ip":"::ffff:203.0.113.3"}`, status: 200},
	{method: "PUT", path: "/v1/remote-gateways/site-c", body: `{"tunnel_ip":"fe80::3"}`, status: 400},
	{method: "PUT", path: "/v1/remote-gateways/site-c", body: `{"name":"site-b","tunnel_ip":"203.0.113.3"}`, status: 400},
	{method: "PUT", path: "/v1/remote-gateways/nope", body: `{"tunnel_ip":"203.0.113.9"}`, status: 404},
	{method: "PUT", path: "/v1/remote-gateways/site-c", body: `{"tunnel_ip":"198.51.100.2"}`, status: 409},
	// Gateways with several endpoints (site-g's are reported, see oaEndpoints).
	{method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-g","tunnel_ips":["198.51.100.11","198.51.100.12"]}`, status: 201},
	{method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-h","tunnel_ip":"2001:db8::21","tunnel_ips":["2001:db8::21","2001:db8::22"]}`, status: 201},
	{method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-x","tunnel_ip":"198.51.100.32","tunnel_ips":["198.51.100.31","198.51.100.32"]}`, status: 400},
	{method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-x","tunnel_ips":["198.51.100.31","2001:db8::32"]}`, status: 400},
	{method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-x"}`, status: 400},
	{method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-x","tunnel_ips":["198.51.100.31","198.51.100.12"]}`, status: 409},
	{method: "GET", path: "/v1/remote-gateways/site-g", status: 200},
	{method: "PUT", path: "/v1/remote-gateways/site-g", body: `{"tunnel_ips":["198.51.100.12","198.51.100.11","198.51.100.13"]}`, status: 200},
	{method: "PUT", path: "/v1/remote-gateways/site-g", body: `{"tunnel_ips":["198.51.100.12","198.51.100.2"]}`, status: 409},
	{method: "PUT", path: "/v1/remote-gateways/site-g", body: `{"tunnel_ips":[]}`, status: 400},
	{method: "GET", path: "/v1/remote-gateways", status: 200},

	// BGP peers (the speaker, oaSpeaker, knows rr1 and rr2).
	{method: "GET", path: "/v1/bgp-peers", status: 200},
	{method: "POST", path: "/v1/bgp-peers", body: `{"name":"rr1","address":"198.51.100.3","asn":65000,"password":"s3cret","hold_time":30,"keepalive":10}`, status: 201},
	{method: "POST", path: "/v1/bgp-peers", body: `{"name":"rr2","address":"2001:db8::3","asn":4200000000,"port":1179,"max_routes":10}`, status: 201},
	{method: "POST", path: "/v1/bgp-peers", body: `{"name":"rr3","address":"::ffff:203.0.113.7","asn":65000}`, status: 201},
	{method: "POST", path: "/v1/bgp-peers", body: `{"name":"rr9","address":"198.51.100.1","asn":65000}`, status: 400},
	{method: "POST", path: "/v1/bgp-peers", body: `{"name":"rr9","address":"203.0.113.9","asn":65000,"hold_time":2}`, status: 400},
	{method: "POST", path: "/v1/bgp-peers", body: `{"name":"rr9","address":"203.0.113.9","asn":65000,"state":"idle"}`, status: 400},
	{method: "POST", path: "/v1/bgp-peers", body: `{"name":"rr1","address":"203.0.113.9","asn":65000}`, status: 409},
	{method: "POST", path: "/v1/bgp-peers", body: `{"name":"rr9","address":"198.51.100.3","asn":65000}`, status: 409},
	{method: "GET", path: "/v1/bgp-peers", status: 200},
	{method: "GET", path: "/v1/bgp-peers/rr1", status: 200},
	{method: "GET", path: "/v1/bgp-peers/rr2", status: 200},
	{method: "GET", path: "/v1/bgp-peers/nope", status: 404},
	{method: "PUT", path: "/v1/bgp-peers/rr3", body: `{"address":"203.0.113.8","asn":65001}`, status: 200},
	{method: "PUT", path: "/v1/bgp-peers/rr3", body: `{"name":"rr3","address":"203.0.113.8","asn":65001,"password":"k3y","hold_time":65535,"keepalive":65534,"max_routes":4294967295}`, status: 200},
	{method: "PUT", path: "/v1/bgp-peers/rr3", body: `{"name":"rr1","address":"203.0.113.8","asn":65001}`, status: 400},
	{method: "PUT", path: "/v1/bgp-peers/rr3", body: `{"address":"203.0.113.8","asn":65001,"keepalive":90}`, status: 400},
	{method: "PUT", path: "/v1/bgp-peers/nope", body: `{"address":"203.0.113.9","asn":65001}`, status: 404},
	{method: "PUT", path: "/v1/bgp-peers/rr3", body: `{"address":"198.51.100.3","asn":65001}`, status: 409},

	// Connections.
	{method: "GET", path: "/v1/connections", status: 200},
	{method: "POST", path: "/v1/connections", body: `{"name":"backup-b","network":"backup","remote_gateway":"site-b","segmentation_id":5001,"network_type":"vxlan","flood":true}`, status: 201},
	{method: "POST", path: "/v1/connections", body: `{"name":"backup-c","network":"backup","remote_gateway":"site-c","segmentation_id":5002,"flood":null}`, status: 201},
	{method: "POST", path: "/v1/connections", body: `{"name":"lab-b","network":"lab","remote_gateway":"site-b","segmentation_id":4294967295,"network_type":"gre","flood":false}`, status: 201},
	{method: "POST", path: "/v1/connections", body: `{"name":"c2","network":"lab","remote_gateway":"site-c","segmentation_id":7,"network_type":"mpls"}`, status: 400},
	{method: "POST", path: "/v1/connections", body: `{"name":"c2","network":"lab","remote_gateway":"site-c","segmentation_id":16777216}`, status: 400},
	{method: "POST", path: "/v1/connections", body: `{"name":"c2","network":"nope","remote_gateway":"site-c","segmentation_id":7}`, status: 404},
	{method: "POST", path: "/v1/connections", body: `{"name":"c2","network":"lab","remote_gateway":"nope","segmentation_id":7}`, status: 404},
	{method: "POST", path: "/v1/connections", body: `{"name":"backup-b","network":"lab","remote_gateway":"site-c","segmentation_id":7}`, status: 409},
	{method: "POST", path: "/v1/connections", body: `{"name":"c2","network":"lab","remote_gateway":"site-c","segmentation_id":5002}`, status: 409},
	{method: "POST", path: "/v1/connections", body: `{"name":"c2","network":"ls-red","remote_gateway":"site-c","segmentation_id":7}`, status: 409},
	{method: "GET", path: "/v1/connections", status: 200},
	{method: "GET", path: "/v1/connections/backup-b", status: 200},
	{method: "GET", path: "/v1/connections/nope", status: 404},

	// MAC bindings.
	{method: "GET", path: "/v1/connections/backup-b/macs", status: 200},
	{method: "POST", path: "/v1/connections/backup-b/macs", body: `{"macs":[{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21"]},` +
		`{"mac":"02-0B-00-00-00-02","ips":["192.0.2.22","2001:db8::22"]},{"mac":"02:0b:00:00:00:03","ips":null}]}`, status: 201},
	{method: "POST", path: "/v1/connections/backup-b/macs", body: `{"macs":[]}`, status: 400},
	{method: "POST", path: "/v1/connections/backup-b/macs", body: `{"macs":[{"mac":"03:0b:00:00:00:03"}]}`, status: 400},
	{method: "POST", path: "/v1/connections/nope/macs", body: `{"macs":[{"mac":"02:0b:00:00:00:04"}]}`, status: 404},
	{method: "POST", path: "/v1/connections/backup-c/macs", body: `{"macs":[{"mac":"02:0c:00:00:00:01"},{"mac":"02:0b:00:00:00:01"}]}`, status: 409},
	{method: "PUT", path: "/v1/connections/backup-c/macs", body: `{"macs":[{"mac":"02:0c:00:00:00:01","ips":["192.0.2.31"]}]}`, status: 200},
	{method: "PUT", path: "/v1/connections/backup-c/macs", body: `{}`, status: 400},
	{method: "PUT", path: "/v1/connections/backup-c/macs", body: `{"macs":[{"mac":"02:0c:00:00:00:01","ips":["192.0.2.999"]}]}`, status: 400},
	{method: "PUT", path: "/v1/connections/nope/macs", body: `{"macs":[]}`, status: 404},
	{method: "PUT", path: "/v1/connections/backup-c/macs", body: `{"macs":[{"mac":"02:0c:00:00:00:02","ips":["192.0.2.21"]}]}`, status: 409},
	// The same batches as NDJSON, one binding per line.
	{method: "POST", path: "/v1/connections/backup-b/macs", contentType: "application/x-ndjson",
		body: "{\"mac\":\"02:0b:00:00:00:05\",\"ips\":[\"192.0.2.25\"]}\n\n{\"mac\":\"02:0b:00:00:00:06\"}\n", status: 201},
	{method: "POST", path: "/v1/connections/backup-b/macs", contentType: "application/x-ndjson", body: "\n", status: 400},
	{method: "POST", path: "/v1/connections/backup-b/macs", contentType: "application/x-ndjson", body: "{\"mac\":\"02:0b:00:00:00:05\"}\n", status: 409},
	{method: "PUT", path: "/v1/connections/backup-c/macs", contentType: "application/x-ndjson",
		body: "{\"mac\":\"02:0c:00:00:00:01\",\"ips\":[\"192.0.2.31\"]}\n", status: 200},
	{method: "PUT", path: "/v1/connections/backup-c/macs", contentType: "application/x-ndjson", body: "{\"mac\":1}\n", status: 400},
	{method: "DELETE", path: "/v1/connections/backup-b/macs/02:0b:00:00:00:05", status: 204},
	{method: "DELETE", path: "/v1/connections/backup-b/macs/02:0b:00:00:00:06", status: 204},
	{method: "GET", path: "/v1/connections/backup-b/macs", status: 200},
	{method: "GET", path: "/v1/connections/nope/macs", status: 404},
	{method: "DELETE", path: "/v1/connections/backup-b/macs/02:0b:00:00:00:03", status: 204},
	{method: "DELETE", path: "/v1/connections/backup-b/macs/02:0b", status: 400},
	{method: "DELETE", path: "/v1/connections/backup-b/macs/02:0b:00:00:00:99", status: 404},
	{method: "DELETE", path: "/v1/connections/nope/macs/02:0b:00:00:00:01", status: 404},

	// What EVPN told (oaEVPN): remote MACs, read-only connections.
	{method: "GET", path: "/v1/networks/backup/remote-macs", status: 200},
	{method: "GET", path: "/v1/networks/backup/remote-macs?origin=evpn", status: 200},
	{method: "GET", path: "/v1/networks/backup/remote-macs?origin=bgp", status: 400},
	{method: "GET", path: "/v1/networks/nope/remote-macs", status: 404},
	{method: "GET", path: "/v1/connections/backup:vxlan:5009@198.51.100.9", status: 200},
	{method: "GET", path: "/v1/connections/backup:vxlan:5009@198.51.100.9/macs", status: 200},
	{method: "DELETE", path: "/v1/connections/backup:vxlan:5009@198.51.100.9", status: 409},
	{method: "POST", path: "/v1/connections/backup:vxlan:5009@198.51.100.9/macs", body: `{"macs":[{"mac":"02:0e:00:00:00:09"}]}`, status: 409},
	{method: "DELETE", path: "/v1/connections/backup-b/macs/02:0e:00:00:00:02", status: 409},
	{method: "POST", path: "/v1/connections/backup-b/macs", body: `{"macs":[{"mac":"02:0b:00:00:00:07","origin":"evpn"}]}`, status: 400},
	{method: "POST", path: "/v1/networks", body: `{"name":"n2","origin":"evpn"}`, status: 400},

	// Moves (backup-b holds 02:0b:00:00:00:01 and 02:0b:00:00:00:02, backup-c 02:0c:00:00:00:01;
	// backup-e, left for the store-down moves, none).
	{method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-e","tunnel_ip":"203.0.113.5"}`, status: 201},
	{method: "POST", path: "/v1/connections", body: `{"name":"backup-e","network":"backup","remote_gateway":"site-e","segmentation_id":5005}`, status: 201},
	{method: "POST", path: "/v1/macs:move", body: `{"to":"backup-c","from":"backup-b","macs":["02:0b:00:00:00:02"]}`, status: 200},
	{method: "POST", path: "/v1/macs:move", body: `{"to":"backup-c","from":"backup-b","macs":["02:0b:00:00:00:02"]}`, status: 200},
	{method: "POST", path: "/v1/macs:move", body: `{"to":"backup-b","macs":["02:0b:00:00:00:02"]}`, status: 200},
	{method: "POST", path: "/v1/macs:move", body: `{"to":"backup-c","macs":[]}`, status: 400},
	{method: "POST", path: "/v1/macs:move", body: `{"to":"backup-c","macs":["02:0b"]}`, status: 400},
	{method: "POST", path: "/v1/macs:move", body: `{"to":"nope","macs":["02:0b:00:00:00:01"]}`, status: 404},
	{method: "POST", path: "/v1/macs:move", body: `{"to":"backup-c","macs":["02:0b:00:00:00:99"]}`, status: 404},
	{method: "POST", path: "/v1/macs:move", body: `{"to":"backup-b","from":"backup-e","macs":["02:0c:00:00:00:01"]}`, status: 409},

	// Flows (a switch whose flows are all missing but one learned entry).
	{method: "GET", path: "/v1/flows", status: 200},
	{method: "GET", path: "/v1/flows?diff=true", status: 200},
	{method: "GET", path: "/v1/flows?network=backup", status: 200},
	{method: "GET", path: "/v1/flows?network=backup&connection=backup-b&diff=1", status: 200},
	{method: "GET", path: "/v1/flows?diff=maybe", status: 400},
	{method: "GET", path: "/v1/flows?colour=red", status: 400},
	{method: "GET", path: "/v1/flows?network=nope", status: 404},
	{method: "GET", path: "/v1/flows?connection=nope", status: 404},

	// Learned MACs (the one learned entry is backup's).
	{method: "GET", path: "/v1/networks/backup/learned", status: 200},
	{method: "GET", path: "/v1/networks/nope/learned", status: 404},
	{method: "DELETE", path: "/v1/networks/backup/learned", status: 200},
	{method: "DELETE", path: "/v1/networks/nope/learned", status: 404},

	// Deletes.
	{method: "DELETE", path: "/v1/networks/backup", status: 409},
	{method: "DELETE", path: "/v1/remote-gateways/site-c", status: 409},
	{method: "DELETE", path: "/v1/connections/lab-b", status: 204},
	{method: "DELETE", path: "/v1/connections/backup-c", status: 204},
	{method: "DELETE", path: "/v1/connections/nope", status: 404},
	{method: "DELETE", path: "/v1/networks/lab", status: 204},
	{method: "DELETE", path: "/v1/networks/nope", status: 404},
	{method: "DELETE", path: "/v1/remote-gateways/site-c", status: 204},
	{method: "DELETE", path: "/v1/remote-gateways/nope", status: 404},
	{method: "DELETE", path: "/v1/bgp-peers/rr3", status: 204},
	{method: "DELETE", path: "/v1/bgp-peers/nope", status: 404},

	// The daemon.
	{method: "GET", path: "/v1/status", status: 200},
	{method: "GET", path: "/v1/openapi.json", status: 200},
	{method: "GET", path: "/healthz", status: 200},

	// No operation: the router's own answers.
	{method: "GET", path: "/v1/nothing", status: 404},
	{method: "DELETE", path: "/v1/networks", status: 405},
}

// oaEVPN tells what EVPN knows of network backup (before the script makes
// it): a remote MAC behind a tunnel of its own (connection
// backup:vxlan:5009@198.51.100.9, flooded to), one behind backup-b's
// tunnel, and one the script binds statically (shadowed by it).
func oaEVPN(t *testing.T, state *app.State) {
	t.Helper()
	feed, err := state.Feed(app.OriginEVPN)
	if err != nil {
		t.Fatal(err)
	}
	own := app.Tunnel{Endpoint: netip.MustParseAddr("198.51.100.9"), NetworkType: app.TypeVXLAN, SegmentationID: 5009}
	siteB := app.Tunnel{Endpoint: netip.MustParseAddr("198.51.100.2"), NetworkType: app.TypeVXLAN, SegmentationID: 5001}
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	err = feed.UpsertRemoteMACs(
		app.RemoteMAC{Network: "backup", Tunnel: own, MAC: mac("02:0e:00:00:00:01"), IPs: []netip.Addr{netip.MustParseAddr("192.0.2.91")}},
		app.RemoteMAC{Network: "backup", Tunnel: siteB, MAC: mac("02:0e:00:00:00:02")},
		app.RemoteMAC{Network: "backup", Tunnel: own, MAC: mac("02:0b:00:00:00:01"), IPs: []netip.Addr{netip.MustParseAddr("192.0.2.21")}})
	if err == nil {
		err = feed.AddFloodTargets(app.FloodTarget{Network: "backup", Tunnel: own})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// oaVTEP tells vtep's network ls-red (eth7 untagged, trunk0 on VLAN 700).
func oaVTEP(t *testing.T, state *app.State) {
	t.Helper()
	feed, err := state.Feed(app.OriginVTEP)
	if err == nil {
		err = feed.UpsertNetworks(app.Network{Name: "ls-red", Attachments: []app.Attachment{{Port: "eth7"}, {Port: "trunk0", VLAN: 700}}})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// oaStoreDown are writes that pass every check but cannot be stored: the
// state is closed (spare, site-d, backup-b with its MAC and backup-e exist).
var oaStoreDown = []oaStep{
	{method: "POST", path: "/v1/networks", body: `{"name":"n9"}`},
	{method: "PUT", path: "/v1/networks/spare", body: `{"attachments":[{"port":"eth9"}]}`},
	{method: "DELETE", path: "/v1/networks/spare"},
	{method: "POST", path: "/v1/remote-gateways", body: `{"name":"site-z","tunnel_ip":"203.0.113.99"}`},
	{method: "PUT", path: "/v1/remote-gateways/site-d", body: `{"tunnel_ip":"203.0.113.40"}`},
	{method: "DELETE", path: "/v1/remote-gateways/site-d"},
	{method: "POST", path: "/v1/connections", body: `{"name":"spare-d","network":"spare","remote_gateway":"site-d","segmentation_id":9}`},
	{method: "DELETE", path: "/v1/connections/backup-b"},
	{method: "POST", path: "/v1/connections/backup-b/macs", body: `{"macs":[{"mac":"02:0b:00:00:00:09"}]}`},
	{method: "PUT", path: "/v1/connections/backup-b/macs", body: `{"macs":[]}`},
	{method: "DELETE", path: "/v1/connections/backup-b/macs/02:0b:00:00:00:01"},
	{method: "POST", path: "/v1/macs:move", body: `{"to":"backup-e","macs":["02:0b:00:00:00:01"]}`},
	{method: "POST", path: "/v1/bgp-peers", body: `{"name":"rr8","address":"203.0.113.88","asn":65000}`},
	{method: "PUT", path: "/v1/bgp-peers/rr1", body: `{"address":"198.51.100.3","asn":65000}`},
	{method: "DELETE", path: "/v1/bgp-peers/rr1"},
}

// oaEndpoints reports site-g's endpoints as a switch would (the first
// down, the others up, the second in use) and no BFD to the others'.
func oaEndpoints(g app.RemoteGateway) []app.EndpointStatus {
	out := make([]app.EndpointStatus, len(g.TunnelIPs))
	for i, ip := range g.TunnelIPs {
		out[i] = app.EndpointStatus{TunnelIP: ip, InUse: i == 0}
		if g.Name == "site-g" {
			out[i] = app.EndpointStatus{TunnelIP: ip, BFD: "up", InUse: i == 1}
			if i == 0 {
				out[i].BFD = "down"
			}
		}
	}
	return out
}

// oaSpeaker is the BGP speaker of the conformance script: rr1's session is
// established, rr2's refused; it is not ready until the script says so.
func oaSpeaker() *speaker {
	bgp := newSpeaker()
	bgp.session("rr1", app.BGPPeerStatus{State: app.BGPEstablished, Since: time.Now().Add(-time.Hour),
		RoutesReceived: 120, RoutesAccepted: 118, RoutesAdvertised: 40})
	bgp.session("rr2", app.BGPPeerStatus{State: app.BGPActive, Since: time.Now(), LastError: "dial tcp [2001:db8::3]:1179: connection refused"})
	bgp.ready(errors.New("no bgp peer is established"))
	return bgp
}

// TestOpenAPIResponsesConform drives the real handler over a real State
// through every operation, with good and bad input, and behind the token
// check and the in-flight cap, and checks every answer against the
// document. Every status the document gives an operation must come up,
// but 500, which no request can provoke.
//
// Each answer (oaConformance.send, with kin-openapi's router and
// openapi3filter):
//   - has the status the script expects;
//   - if no operation serves the request, is the router's own 404 or 405,
//     an Error as JSON;
//   - has a status its operation documents;
//   - has the response's required headers, with values that fit their
//     schemas (Retry-After an integer of at least 0);
//   - has a Content-Type the response documents and a body that fits its
//     schema: types, required properties, additionalProperties: false,
//     enums, patterns, bounds, nullable, minItems; error bodies are Errors;
//   - has no body where the response documents none;
//   - if the request was accepted (2xx), the document admits the request:
//     path and query parameters, body, security.
//
// And the script checks: 413 and 415 for every operation that takes a
// body; without the token, 401 (unauthorized) exactly for the operations
// that take it; when busy, 503 (overloaded) exactly for the operations
// that document it; with the store down, 503 (unavailable) for every
// change.
func TestOpenAPIResponsesConform(t *testing.T) {
	doc := loadOpenAPI(t)
	state, err := app.Open(t.TempDir(), app.Options{Logger: slog.New(slog.DiscardHandler), LocalTunnelIPs: []string{"198.51.100.1"},
		Origins: []app.Origin{app.OriginVTEP, app.OriginEVPN}})
	if err != nil {
		t.Fatalf("open state: %v", err)
	}
	oaEVPN(t, state)
	oaVTEP(t, state)
	t.Cleanup(func() {
		if err := state.Close(); err != nil {
			t.Errorf("close state: %v", err)
		}
	})
	status := testStatus // connected, not reconciled, the second of a pair
	status.HA = &app.HAStatus{Role: "standby", Priority: 100, Peer: "198.51.100.12", PeerBFD: "up", PeerSegmentBFD: "down",
		PeerPriority: 200, PeerDigest: "3f9a0c1e5b7d2468ace0bdf13579eca8", Reason: "the primary is alive on the underlay"}
	// A reconciler that never runs: its fake switch has no flows of l2gwd's
	// (every desired one is missing) and one learned entry.
	sw := newFakeSwitch()
	sw.learn(flows.LearnedCookie(1))
	rec := app.NewReconciler(app.ReconcilerConfig{Bridge: "br-int", Logger: slog.New(slog.DiscardHandler)},
		state, sw, &fakeBridge{changes: make(chan struct{}, 1)})
	bgp := oaSpeaker()
	h := NewHandler(state, func() app.Status { return status }, nil, WithMetrics(NewRegistry()), WithFlows(rec.Flows), WithLearned(rec), WithBGP(bgp), WithEndpoints(oaEndpoints))
	c := &oaConformance{t: t, doc: doc, seen: make(map[string]bool)}
	for _, s := range oaScript {
		c.send(h, s)
	}
	noSwitch := NewHandler(state, func() app.Status { return status }, nil)
	resp := c.send(noSwitch, oaStep{method: "GET", path: "/v1/flows", status: http.StatusServiceUnavailable})
	wantError(t, "GET /v1/flows without a switch", resp, http.StatusServiceUnavailable, codeUnavailable, "")
	for _, method := range []string{"GET", "DELETE"} {
		resp := c.send(noSwitch, oaStep{method: method, path: "/v1/networks/backup/learned", status: http.StatusServiceUnavailable})
		wantError(t, method+" /v1/networks/backup/learned without a switch", resp, http.StatusServiceUnavailable, codeUnavailable, "")
	}
	// Without BGP, every peer is idle.
	c.send(noSwitch, oaStep{method: "GET", path: "/v1/bgp-peers", status: http.StatusOK})
	c.send(h, oaStep{method: "GET", path: "/readyz", status: http.StatusServiceUnavailable})
	status.Reconciled = true
	c.send(h, oaStep{method: "GET", path: "/readyz", status: http.StatusServiceUnavailable}) // BGP is not ready
	c.send(noSwitch, oaStep{method: "GET", path: "/readyz", status: http.StatusOK})
	bgp.ready(nil)
	c.send(h, oaStep{method: "GET", path: "/readyz", status: http.StatusOK})
	c.send(h, oaStep{method: "GET", path: "/metrics", status: http.StatusOK})

	var withBody, ops []string // "METHOD template"
	for tmpl, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, method+" "+tmpl)
			if op.RequestBody != nil {
				withBody = append(withBody, method+" "+tmpl)
			}
		}
	}
	slices.Sort(ops)
	slices.Sort(withBody)
	tooLarge := `{"name":"` + strings.Repeat("a", maxBodyBytes) + `"}`
	for _, op := range withBody {
		method, tmpl, _ := strings.Cut(op, " ")
		if tmpl == "/v1/connections/{name}/macs" { // a MAC batch: 256 MiB
			c.send(h, oaStep{method: method, path: concrete(tmpl), contentType: mediaNDJSON, status: 413,
				stream: &blankLines{n: maxBatchBodyBytes + 1}})
		} else {
			c.send(h, oaStep{method: method, path: concrete(tmpl), body: tooLarge, status: 413})
		}
		c.send(h, oaStep{method: method, path: concrete(tmpl), contentType: "text/plain", body: `{}`, status: 415})
	}

	// Behind the real server's token check, without a token, and behind an
	// in-flight cap that is always full: an operation is refused as the
	// document says (it takes the token; it documents overloaded), and
	// served otherwise.
	guarded := NewServer(h, ServerOptions{Token: "s3cret-t0ken"}).Handler
	busy := limitInFlight(0, slog.New(slog.DiscardHandler), h)
	for _, op := range ops {
		method, tmpl, _ := strings.Cut(op, " ")
		o, step := doc.operation(method, tmpl), oaStep{method: method, path: concrete(tmpl)}
		step.status = c.successStatus(method, tmpl)
		if doc.takesToken(o) {
			step.status = http.StatusUnauthorized
		}
		if resp := c.send(guarded, step); doc.takesToken(o) {
			wantError(t, op+" without the token", resp, step.status, codeUnauthorized, "")
		}
		step.status = c.successStatus(method, tmpl)
		if doc.refusedWhenBusy(o) {
			step.status = http.StatusServiceUnavailable
		}
		if resp := c.send(busy, step); doc.refusedWhenBusy(o) {
			wantError(t, op+" when busy", resp, step.status, codeOverloaded, "")
		}
	}

	// The store cannot write: every change is answered 503 unavailable.
	if err := state.Close(); err != nil {
		t.Fatalf("close state: %v", err)
	}
	for _, s := range oaStoreDown {
		s.status = http.StatusServiceUnavailable
		resp := c.send(h, s)
		wantError(t, s.method+" "+s.path+" with the store closed", resp, s.status, "unavailable", "")
	}
	c.send(h, oaStep{method: "GET", path: "/v1/connections/backup-b/macs", status: 200})

	for _, op := range ops {
		method, tmpl, _ := strings.Cut(op, " ")
		for status := range doc.operation(method, tmpl).Responses.Map() {
			if status != "500" && !c.seen[op+" "+status] {
				t.Errorf("%s: documented status %s never came up", op, status)
			}
		}
	}
}

// successStatus returns the one 2xx status the operation documents.
func (c *oaConformance) successStatus(method, tmpl string) int {
	c.t.Helper()
	var ok []int
	for status := range c.doc.operation(method, tmpl).Responses.Map() {
		if n, err := strconv.Atoi(status); err == nil && n >= 200 && n < 300 {
			ok = append(ok, n)
		}
	}
	if len(ok) != 1 {
		c.t.Fatalf("%s %s documents 2xx statuses %v, want exactly one", method, tmpl, ok)
	}
	return ok[0]
}
