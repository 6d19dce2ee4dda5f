package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/flows"
)

// ---- The document: the part of OpenAPI 3.0 that openapi.json uses ----
//
// The document is decoded into these types with unknown fields disallowed,
// so a misspelt key, or an OpenAPI feature the checks below do not know, is
// reported instead of silently ignored. Extend the types (and the checks)
// when the document needs more.

// oaDocument is an OpenAPI 3.0 document.
type oaDocument struct {
	OpenAPI    string                  `json:"openapi"`
	Info       oaInfo                  `json:"info"`
	Tags       []oaTag                 `json:"tags"`
	Security   []oaSecurityRequirement `json:"security"`
	Paths      map[string]*oaPathItem  `json:"paths"`
	Components oaComponents            `json:"components"`
}

// oaSecurityRequirement names security schemes (with their scopes); an
// empty one means no authentication.
type oaSecurityRequirement map[string][]string

type oaInfo struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description"`
}

type oaTag struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type oaPathItem struct {
	Parameters []*oaParameter `json:"parameters"`
	Get        *oaOperation   `json:"get"`
	Put        *oaOperation   `json:"put"`
	Post       *oaOperation   `json:"post"`
	Delete     *oaOperation   `json:"delete"`
	Patch      *oaOperation   `json:"patch"`
	Head       *oaOperation   `json:"head"`
	Options    *oaOperation   `json:"options"`
}

// operations returns the path item's operations by HTTP method.
func (p *oaPathItem) operations() map[string]*oaOperation {
	ops := make(map[string]*oaOperation)
	for method, op := range map[string]*oaOperation{
		http.MethodGet: p.Get, http.MethodPut: p.Put, http.MethodPost: p.Post, http.MethodDelete: p.Delete,
		http.MethodPatch: p.Patch, http.MethodHead: p.Head, http.MethodOptions: p.Options,
	} {
		if op != nil {
			ops[method] = op
		}
	}
	return ops
}

type oaOperation struct {
	Tags        []string               `json:"tags"`
	OperationID string                 `json:"operationId"`
	Summary     string                 `json:"summary"`
	Description string                 `json:"description"`
	Parameters  []*oaParameter         `json:"parameters"`
	RequestBody *oaRequestBody         `json:"requestBody"`
	Responses   map[string]*oaResponse `json:"responses"`
	// Security is nil when the operation inherits the document's.
	Security *[]oaSecurityRequirement `json:"security"`
}

type oaParameter struct {
	Ref         string    `json:"$ref"`
	Name        string    `json:"name"`
	In          string    `json:"in"`
	Required    bool      `json:"required"`
	Description string    `json:"description"`
	Schema      *oaSchema `json:"schema"`
	Example     any       `json:"example"`
}

type oaRequestBody struct {
	Description string                  `json:"description"`
	Required    bool                    `json:"required"`
	Content     map[string]*oaMediaType `json:"content"`
}

type oaResponse struct {
	Ref         string                  `json:"$ref"`
	Description string                  `json:"description"`
	Headers     map[string]*oaHeader    `json:"headers"`
	Content     map[string]*oaMediaType `json:"content"`
}

type oaHeader struct {
	Description string    `json:"description"`
	Required    bool      `json:"required"`
	Schema      *oaSchema `json:"schema"`
}

type oaMediaType struct {
	Schema   *oaSchema             `json:"schema"`
	Example  any                   `json:"example"`
	Examples map[string]*oaExample `json:"examples"`
}

type oaExample struct {
	Summary     string `json:"summary"`
	Description string `json:"description"`
	Value       any    `json:"value"`
}

// oaSchema is a schema object; the keywords conform checks, and the
// annotations (format, description, default, example) it does not.
type oaSchema struct {
	Ref                  string               `json:"$ref"`
	Type                 string               `json:"type"`
	Format               string               `json:"format"`
	Description          string               `json:"description"`
	Properties           map[string]*oaSchema `json:"properties"`
	Required             []string             `json:"required"`
	AdditionalProperties *bool                `json:"additionalProperties"`
	Items                *oaSchema            `json:"items"`
	Enum                 []any                `json:"enum"`
	Nullable             bool                 `json:"nullable"`
	Minimum              *float64             `json:"minimum"`
	Maximum              *float64             `json:"maximum"`
	MinLength            *int                 `json:"minLength"`
	MaxLength            *int                 `json:"maxLength"`
	MinItems             *int                 `json:"minItems"`
	Pattern              string               `json:"pattern"`
	Default              any                  `json:"default"`
	Example              any                  `json:"example"`
}

type oaComponents struct {
	SecuritySchemes map[string]*oaSecurityScheme `json:"securitySchemes"`
	Parameters      map[string]*oaParameter      `json:"parameters"`
	Responses       map[string]*oaResponse       `json:"responses"`
	Schemas         map[string]*oaSchema         `json:"schemas"`
}

type oaSecurityScheme struct {
	Type         string `json:"type"`
	Scheme       string `json:"scheme"`
	BearerFormat string `json:"bearerFormat"`
	Description  string `json:"description"`
}

// parseOpenAPI decodes data strictly into the document types, and also as
// plain JSON for the checks that walk every value.
func parseOpenAPI(data []byte) (*oaDocument, any, error) {
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, fmt.Errorf("not JSON: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc oaDocument
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, fmt.Errorf("not the OpenAPI 3.0 subset this test knows: %w", err)
	}
	return &doc, raw, nil
}

// loadOpenAPI parses the embedded document, which must be valid.
func loadOpenAPI(t *testing.T) *oaDocument {
	t.Helper()
	doc, _, err := parseOpenAPI(openAPIDocument)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

// ---- References ----

const (
	schemaRefPrefix    = "#/components/schemas/"
	responseRefPrefix  = "#/components/responses/"
	parameterRefPrefix = "#/components/parameters/"
)

// resolveRef returns the component ref points to, given the prefix of its
// kind and the components of that kind.
func resolveRef[T any](ref, prefix string, components map[string]*T) (*T, error) {
	name, ok := strings.CutPrefix(ref, prefix)
	if !ok {
		return nil, fmt.Errorf("$ref %q does not point into %s", ref, prefix)
	}
	c := components[name]
	if c == nil {
		return nil, fmt.Errorf("$ref %q points to nothing", ref)
	}
	return c, nil
}

// schema follows s's $refs to the schema they name.
func (d *oaDocument) schema(s *oaSchema) (*oaSchema, error) {
	for range 16 {
		if s.Ref == "" {
			return s, nil
		}
		next, err := resolveRef(s.Ref, schemaRefPrefix, d.Components.Schemas)
		if err != nil {
			return nil, err
		}
		s = next
	}
	return nil, fmt.Errorf("$ref %q: a chain of more than 16 references", s.Ref)
}

// takesToken tells whether op's security (its own, or the document's)
// names a scheme: then a daemon with a token refuses it without one.
func (d *oaDocument) takesToken(op *oaOperation) bool {
	reqs := d.Security
	if op.Security != nil {
		reqs = *op.Security
	}
	return slices.ContainsFunc(reqs, func(r oaSecurityRequirement) bool { return len(r) > 0 })
}

// refusedWhenBusy tells whether op documents the in-flight cap's 503
// (overloaded), through the shared Overloaded, Unavailable or
// SwitchUnavailable response.
func (d *oaDocument) refusedWhenBusy(op *oaOperation) bool {
	r := op.Responses["503"]
	return r != nil && slices.Contains([]string{"Overloaded", "Unavailable", "SwitchUnavailable"}, strings.TrimPrefix(r.Ref, responseRefPrefix))
}

// response resolves r if it is a $ref.
func (d *oaDocument) response(r *oaResponse) (*oaResponse, error) {
	if r.Ref == "" {
		return r, nil
	}
	return resolveRef(r.Ref, responseRefPrefix, d.Components.Responses)
}

// parameter resolves p if it is a $ref.
func (d *oaDocument) parameter(p *oaParameter) (*oaParameter, error) {
	if p.Ref == "" {
		return p, nil
	}
	return resolveRef(p.Ref, parameterRefPrefix, d.Components.Parameters)
}

// pointerTarget resolves a local JSON pointer ("#/a/b~1c") in raw.
func pointerTarget(raw any, ref string) (any, bool) {
	rest, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false
	}
	node := raw
	if rest == "" {
		return node, true
	}
	for _, token := range strings.Split(strings.TrimPrefix(rest, "/"), "/") {
		token = strings.ReplaceAll(strings.ReplaceAll(token, "~1", "/"), "~0", "~")
		obj, isObj := node.(map[string]any)
		if !isObj {
			return nil, false
		}
		if node, ok = obj[token]; !ok {
			return nil, false
		}
	}
	return node, true
}

// ---- Checking a JSON value against a schema ----

// conform lists how value (as encoding/json decodes into any) departs from
// schema s; at names the value's place, for the messages.
func (d *oaDocument) conform(s *oaSchema, value any, at string) []string {
	s, err := d.schema(s)
	if err != nil {
		return []string{at + ": " + err.Error()}
	}
	if value == nil {
		if s.Nullable {
			return nil
		}
		return []string{at + ": null, but the schema is not nullable"}
	}
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, at+": "+fmt.Sprintf(format, args...)) }
	switch s.Type {
	case "object":
		obj, ok := value.(map[string]any)
		if !ok {
			fail("%s, want an object", jsonKind(value))
			return problems
		}
		for _, name := range s.Required {
			if _, ok := obj[name]; !ok {
				fail("required property %q is missing", name)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(obj)) {
			prop, known := s.Properties[name]
			switch {
			case known:
				problems = append(problems, d.conform(prop, obj[name], at+"."+name)...)
			case s.AdditionalProperties != nil && !*s.AdditionalProperties:
				fail("property %q is not in the schema (additionalProperties: false)", name)
			}
		}
	case "array":
		arr, ok := value.([]any)
		if !ok {
			fail("%s, want an array", jsonKind(value))
			return problems
		}
		if s.MinItems != nil && len(arr) < *s.MinItems {
			fail("%d items, want at least %d", len(arr), *s.MinItems)
		}
		for i, item := range arr {
			problems = append(problems, d.conform(s.Items, item, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		str, ok := value.(string)
		if !ok {
			fail("%s, want a string", jsonKind(value))
			return problems
		}
		n := utf8.RuneCountInString(str)
		if s.MinLength != nil && n < *s.MinLength {
			fail("%q is shorter than %d characters", str, *s.MinLength)
		}
		if s.MaxLength != nil && n > *s.MaxLength {
			fail("%q is longer than %d characters", str, *s.MaxLength)
		}
		if s.Pattern != "" {
			re, err := regexp.Compile(s.Pattern)
			if err != nil {
				fail("pattern %q: %v", s.Pattern, err)
			} else if !re.MatchString(str) {
				fail("%q does not match %s", str, s.Pattern)
			}
		}
	case "integer", "number":
		num, ok := value.(float64)
		if !ok {
			fail("%s, want a number", jsonKind(value))
			return problems
		}
		if s.Type == "integer" && num != math.Trunc(num) {
			fail("%v, want an integer", num)
		}
		if s.Minimum != nil && num < *s.Minimum {
			fail("%v is below the minimum %v", num, *s.Minimum)
		}
		if s.Maximum != nil && num > *s.Maximum {
			fail("%v is above the maximum %v", num, *s.Maximum)
		}
	case "boolean":
		if _, ok := value.(bool); !ok {
			fail("%s, want true or false", jsonKind(value))
		}
	default:
		fail("schema type %q is not one this checker knows", s.Type)
	}
	if s.Enum != nil && !slices.ContainsFunc(s.Enum, func(e any) bool { return reflect.DeepEqual(e, value) }) {
		fail("%v is not one of %v", value, s.Enum)
	}
	return problems
}

// jsonKind names the JSON type of a decoded value.
func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("a %T", v)
}

// ---- Checking the document's structure ----

// schemaTypes are the types a schema of this document may have.
var schemaTypes = []string{"object", "array", "string", "integer", "number", "boolean"}

// oaValidator collects what is wrong with a document.
type oaValidator struct {
	doc *oaDocument
	// raw is the document as plain JSON.
	raw      any
	problems []string
}

func (v *oaValidator) fail(where, format string, args ...any) {
	v.problems = append(v.problems, where+": "+fmt.Sprintf(format, args...))
}

// openAPIProblems lists what is wrong with the OpenAPI document in data:
// JSON and the known subset of OpenAPI 3.0, references, path parameters,
// operations and their responses, schemas, security, and examples that do
// not fit their schemas.
func openAPIProblems(data []byte) []string {
	doc, raw, err := parseOpenAPI(data)
	if err != nil {
		return []string{err.Error()}
	}
	v := &oaValidator{doc: doc, raw: raw}
	v.refs(raw, "")
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		v.fail("openapi", "version %q, want 3.0.x", doc.OpenAPI)
	}
	if doc.Info.Title == "" || doc.Info.Version == "" {
		v.fail("info", "title and version are required")
	}
	v.security("security", doc.Security)
	for name, s := range doc.Components.SecuritySchemes {
		if s.Type != "http" || s.Scheme == "" {
			v.fail("securitySchemes."+name, "want type http with a scheme (the only kind this test knows)")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(doc.Components.Schemas)) {
		v.schema("schemas."+name, doc.Components.Schemas[name])
	}
	for _, name := range slices.Sorted(maps.Keys(doc.Components.Parameters)) {
		v.parameterDef("parameters."+name, doc.Components.Parameters[name])
	}
	for _, name := range slices.Sorted(maps.Keys(doc.Components.Responses)) {
		v.responseDef("responses."+name, doc.Components.Responses[name])
	}
	if len(doc.Paths) == 0 {
		v.fail("paths", "none")
	}
	ids := make(map[string]string)
	for _, path := range slices.Sorted(maps.Keys(doc.Paths)) {
		v.path(path, doc.Paths[path], ids)
	}
	return v.problems
}

// refs checks that every "$ref" in the plain JSON resolves; at is the JSON
// pointer of node.
func (v *oaValidator) refs(node any, at string) {
	switch n := node.(type) {
	case map[string]any:
		for _, key := range slices.Sorted(maps.Keys(n)) {
			if ref, isRef := n[key].(string); key == "$ref" && isRef {
				if _, ok := pointerTarget(v.raw, ref); !ok {
					v.fail("#"+at, "$ref %q does not resolve", ref)
				}
				continue
			}
			v.refs(n[key], at+"/"+strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1"))
		}
	case []any:
		for i, item := range n {
			v.refs(item, fmt.Sprintf("%s/%d", at, i))
		}
	}
}

// security checks that requirements name declared schemes.
func (v *oaValidator) security(where string, reqs []oaSecurityRequirement) {
	for _, req := range reqs {
		for name := range req {
			if v.doc.Components.SecuritySchemes[name] == nil {
				v.fail(where, "security scheme %q is not declared", name)
			}
		}
	}
}

// templateParam matches a parameter of an OpenAPI path template.
var templateParam = regexp.MustCompile(`\{([^{}]+)\}`)

// templateParams returns the names of a path template's parameters.
func templateParams(path string) []string {
	var names []string
	for _, m := range templateParam.FindAllStringSubmatch(path, -1) {
		names = append(names, m[1])
	}
	return names
}

// path checks a path item and its operations; ids maps operationIds to
// where they were seen.
func (v *oaValidator) path(path string, item *oaPathItem, ids map[string]string) {
	if !strings.HasPrefix(path, "/") {
		v.fail(path, "a path must start with /")
	}
	ops := item.operations()
	if len(ops) == 0 {
		v.fail(path, "no operations")
	}
	for _, method := range slices.Sorted(maps.Keys(ops)) {
		op, where := ops[method], method+" "+path
		if op.OperationID == "" {
			v.fail(where, "no operationId")
		} else if other, dup := ids[op.OperationID]; dup {
			v.fail(where, "operationId %q is also %s's", op.OperationID, other)
		}
		ids[op.OperationID] = where
		for _, tag := range op.Tags {
			if !slices.ContainsFunc(v.doc.Tags, func(t oaTag) bool { return t.Name == tag }) {
				v.fail(where, "tag %q is not declared", tag)
			}
		}
		if op.Security != nil {
			v.security(where, *op.Security)
		}
		if takes, has401 := v.doc.takesToken(op), op.Responses["401"] != nil; takes != has401 {
			v.fail(where, "takes the token: %t, but documents 401: %t", takes, has401)
		}
		v.pathParams(where, path, append(slices.Clone(item.Parameters), op.Parameters...))
		if op.RequestBody != nil {
			if len(op.RequestBody.Content) == 0 {
				v.fail(where+" requestBody", "no content")
			}
			v.content(where+" requestBody", op.RequestBody.Content)
		}
		if len(op.Responses) == 0 {
			v.fail(where, "no responses")
		}
		for _, status := range slices.Sorted(maps.Keys(op.Responses)) {
			if code, err := strconv.Atoi(status); status != "default" && (err != nil || code < 100 || code > 599) {
				v.fail(where, "response key %q is not a status code", status)
			}
			if r := op.Responses[status]; r.Ref != "" {
				if _, err := v.doc.response(r); err != nil {
					v.fail(where+" "+status, "%v", err)
				}
				if r.Description != "" || r.Headers != nil || r.Content != nil {
					v.fail(where+" "+status, "a $ref's siblings are ignored in OpenAPI 3.0")
				}
			} else {
				v.responseDef(where+" "+status, r)
			}
		}
	}
}

// pathParams checks an operation's parameters (path item's and its own)
// against the path template: each template parameter declared once, as a
// required path parameter, and no path parameter the template lacks.
func (v *oaValidator) pathParams(where, path string, params []*oaParameter) {
	declared := make(map[string]int)
	for _, p := range params {
		if p.Ref == "" {
			v.parameterDef(where+" parameter "+p.Name, p)
		}
		p, err := v.doc.parameter(p)
		if err != nil {
			v.fail(where, "%v", err)
			continue
		}
		if p.In == "path" {
			declared[p.Name]++
		}
	}
	inTemplate := templateParams(path)
	for _, name := range inTemplate {
		if declared[name] != 1 {
			v.fail(where, "path parameter {%s} is declared %d times, want once", name, declared[name])
		}
	}
	for name := range declared {
		if !slices.Contains(inTemplate, name) {
			v.fail(where, "path parameter %q is not in the path", name)
		}
	}
}

// parameterDef checks a parameter that is not a $ref.
func (v *oaValidator) parameterDef(where string, p *oaParameter) {
	if p.Ref != "" {
		v.fail(where, "a component that is itself a $ref is not supported here")
		return
	}
	if p.Name == "" || !slices.Contains([]string{"path", "query", "header", "cookie"}, p.In) {
		v.fail(where, "a parameter needs a name and in (path, query, header or cookie)")
	}
	if p.In == "path" && !p.Required {
		v.fail(where, "a path parameter must be required")
	}
	if p.Schema == nil {
		v.fail(where, "no schema")
		return
	}
	v.schema(where+" schema", p.Schema)
	if p.Example != nil {
		v.fits(where+" example", p.Schema, p.Example)
	}
}

// responseDef checks a response that is not a $ref.
func (v *oaValidator) responseDef(where string, r *oaResponse) {
	if r.Ref != "" {
		v.fail(where, "a component that is itself a $ref is not supported here")
		return
	}
	if r.Description == "" {
		v.fail(where, "a response needs a description")
	}
	for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
		if h := r.Headers[name]; h.Schema == nil {
			v.fail(where+" header "+name, "no schema")
		} else {
			v.schema(where+" header "+name, h.Schema)
		}
	}
	v.content(where, r.Content)
}

// content checks media types and their examples.
func (v *oaValidator) content(where string, content map[string]*oaMediaType) {
	for _, mt := range slices.Sorted(maps.Keys(content)) {
		m, at := content[mt], where+" "+mt
		if _, _, err := mime.ParseMediaType(mt); err != nil {
			v.fail(at, "not a media type: %v", err)
		}
		if m.Schema == nil {
			v.fail(at, "no schema")
			continue
		}
		v.schema(at, m.Schema)
		if m.Example != nil && m.Examples != nil {
			v.fail(at, "example and examples are mutually exclusive")
		}
		if m.Example != nil {
			v.fits(at+" example", m.Schema, m.Example)
		}
		for _, name := range slices.Sorted(maps.Keys(m.Examples)) {
			v.fits(at+" examples."+name, m.Schema, m.Examples[name].Value)
		}
	}
}

// fits reports how an example departs from its schema.
func (v *oaValidator) fits(where string, s *oaSchema, value any) {
	for _, p := range v.doc.conform(s, value, "") {
		v.fail(where, "%s", strings.TrimPrefix(p, ": "))
	}
}

// schema checks an inline schema and those nested in it ($refs are checked
// where their targets are defined).
func (v *oaValidator) schema(where string, s *oaSchema) {
	if s.Ref != "" {
		if _, err := v.doc.schema(s); err != nil {
			v.fail(where, "%v", err)
		}
		if !reflect.DeepEqual(*s, oaSchema{Ref: s.Ref}) {
			v.fail(where, "a $ref's siblings are ignored in OpenAPI 3.0")
		}
		return
	}
	if !slices.Contains(schemaTypes, s.Type) {
		v.fail(where, "type %q, want one of %v", s.Type, schemaTypes)
	}
	if (s.Type == "array") != (s.Items != nil) {
		v.fail(where, "items goes with type array, and type array needs items")
	}
	if s.Type != "object" && (s.Properties != nil || s.Required != nil || s.AdditionalProperties != nil) {
		v.fail(where, "properties, required and additionalProperties go with type object")
	}
	if s.Type != "string" && (s.Pattern != "" || s.MinLength != nil || s.MaxLength != nil) {
		v.fail(where, "pattern, minLength and maxLength go with type string")
	}
	if s.Type != "integer" && s.Type != "number" && (s.Minimum != nil || s.Maximum != nil) {
		v.fail(where, "minimum and maximum go with numeric types")
	}
	if s.Pattern != "" {
		if _, err := regexp.Compile(s.Pattern); err != nil {
			v.fail(where, "pattern: %v", err)
		}
	}
	for _, name := range s.Required {
		if s.Properties[name] == nil {
			v.fail(where, "required property %q is not defined", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
		v.schema(where+"."+name, s.Properties[name])
	}
	if s.Items != nil {
		v.schema(where+"[]", s.Items)
	}
	for _, e := range s.Enum {
		v.fits(where+" enum", s, e)
	}
	if s.Default != nil {
		v.fits(where+" default", s, s.Default)
	}
	if s.Example != nil {
		v.fits(where+" example", s, s.Example)
	}
}

// ---- Tests of the document itself ----

func TestOpenAPIDocumentIsValid(t *testing.T) {
	for _, p := range openAPIProblems(openAPIDocument) {
		t.Error(p)
	}
}

// TestOpenAPIValidatorFindsProblems breaks the document in the ways the
// validator must notice, one at a time.
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
		{"dangling $ref", func(d map[string]any) {
			obj(d, "components", "schemas", "Network", "properties", "attachments")["items"] =
				map[string]any{"$ref": "#/components/schemas/Nope"}
		}, `"#/components/schemas/Nope" does not resolve`},
		{"path parameter not declared", func(d map[string]any) {
			delete(obj(d, "paths", "/v1/networks/{name}"), "parameters")
		}, "path parameter {name} is declared 0 times"},
		{"parameter the path lacks", func(d map[string]any) {
			obj(d, "paths", "/v1/status", "get")["parameters"] =
				[]any{map[string]any{"$ref": "#/components/parameters/MAC"}}
		}, `path parameter "mac" is not in the path`},
		{"operation without responses", func(d map[string]any) {
			obj(d, "paths", "/v1/status", "get")["responses"] = map[string]any{}
		}, "GET /v1/status: no responses"},
		{"misspelt keyword", func(d map[string]any) {
			s := obj(d, "components", "schemas", "Status")
			s["requierd"] = s["required"]
		}, `unknown field "requierd"`},
		{"required property not defined", func(d map[string]any) {
			s := obj(d, "components", "schemas", "RemoteGateway")
			s["required"] = []any{"name", "tunnel_ip", "tunnel_port"}
		}, `required property "tunnel_port" is not defined`},
		{"example that breaks its schema", func(d map[string]any) {
			obj(d, "paths", "/v1/status", "get", "responses", "200", "content", "application/json")["example"] =
				map[string]any{"bridge": "br-int", "connected": "yes"}
		}, `required property "reconciled" is missing`},
		{"open operation that documents 401", func(d map[string]any) {
			obj(d, "paths", "/v1/status", "get")["security"] = []any{}
		}, "takes the token: false, but documents 401: true"},
		{"undeclared security scheme", func(d map[string]any) {
			d["security"] = []any{map[string]any{"basicAuth": []any{}}}
		}, `security scheme "basicAuth" is not declared`},
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

// TestOpenAPISchemaCheck checks the schema checker on values that fit and
// values that do not.
func TestOpenAPISchemaCheck(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, tc := range []struct {
		schema, value string
		want          string // a problem's text; "" means the value fits
	}{
		{"Network", `{"name":"backup","attachments":[{"port":"eth1"},{"port":"trunk0","vlan":100}]}`, ""},
		{"Network", `{"name":"backup"}`, `required property "attachments" is missing`},
		{"Network", `{"name":"backup","attachments":[],"id":7}`, `property "id" is not in the schema`},
		{"Network", `{"name":"Backup","attachments":[]}`, `does not match`},
		{"Network", `{"name":"backup","attachments":[{"port":"eth1","vlan":4095}]}`, "above the maximum 4094"},
		{"Network", `{"name":"backup","attachments":null}`, "not nullable"},
		{"NetworkCreate", `{"name":"backup","attachments":null}`, ""},
		{"Connection", `{"name":"c","network":"n","remote_gateway":"g","segmentation_id":1.5,"network_type":"vxlan","flood":true}`, "want an integer"},
		{"Connection", `{"name":"c","network":"n","remote_gateway":"g","segmentation_id":1,"network_type":"mpls","flood":true}`, "is not one of"},
		{"Status", `{"bridge":"br-int","connected":"yes","ovsdb_connected":true,"reconciled":true,"flows":1,"flow_mods":1,"bundles":1}`, "want true or false"},
		{"MACList", `{"macs":[{"mac":"02:0B:00:00:00:01"}]}`, "does not match"},
		{"MACBatchAdd", `{"macs":[]}`, "want at least 1"},
		{"Error", `{"error":{"code":"conflict","message":"m","field":null}}`, "not nullable"},
		{"Error", `{"error":"conflict"}`, "want an object"},
	} {
		var value any
		if err := json.Unmarshal([]byte(tc.value), &value); err != nil {
			t.Fatal(err)
		}
		problems := doc.conform(&oaSchema{Ref: schemaRefPrefix + tc.schema}, value, "$")
		switch {
		case tc.want == "" && len(problems) > 0:
			t.Errorf("%s %s: %q, want it to fit", tc.schema, tc.value, problems)
		case tc.want != "" && !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }):
			t.Errorf("%s %s: %q, want a problem with %q", tc.schema, tc.value, problems, tc.want)
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
	for path, item := range doc.Paths {
		for method := range item.operations() {
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
	status       int
}

// oaConformance sends requests and checks each answer against the
// document: a status the operation documents, a body that fits that
// response's schema, its required headers.
type oaConformance struct {
	t   *testing.T
	doc *oaDocument
	// seen holds the "METHOD template status" answers met.
	seen map[string]bool
}

// operation finds the documented operation for method on a concrete path
// (its query aside), and its path template.
func (c *oaConformance) operation(method, path string) (string, *oaOperation) {
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(path, "/")
	for _, tmpl := range slices.Sorted(maps.Keys(c.doc.Paths)) {
		tsegs := strings.Split(tmpl, "/")
		if len(tsegs) != len(segs) {
			continue
		}
		match := true
		for i, ts := range tsegs {
			isParam := strings.HasPrefix(ts, "{") && strings.HasSuffix(ts, "}")
			if !(isParam && segs[i] != "" || ts == segs[i]) {
				match = false
				break
			}
		}
		if op := c.doc.Paths[tmpl].operations()[method]; match && op != nil {
			return tmpl, op
		}
	}
	return "", nil
}

// send serves s through front, checks the answer and returns it.
func (c *oaConformance) send(front http.Handler, s oaStep) response {
	c.t.Helper()
	what := s.method + " " + s.path
	req := httptest.NewRequest(s.method, s.path, strings.NewReader(s.body))
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
	tmpl, op := c.operation(s.method, s.path)
	if op == nil {
		// No operation: only the router's own 404 or 405, an error body.
		if resp.status != http.StatusNotFound && resp.status != http.StatusMethodNotAllowed {
			c.t.Errorf("%s: status %d, but no operation in the document serves it", what, resp.status)
			return resp
		}
		c.check(what, resp, &oaResponse{Content: map[string]*oaMediaType{
			"application/json": {Schema: &oaSchema{Ref: schemaRefPrefix + "Error"}}}})
		return resp
	}
	status := strconv.Itoa(resp.status)
	documented := op.Responses[status]
	if documented == nil {
		c.t.Errorf("%s: status %s is not documented for %s %s; body %s", what, status, s.method, tmpl, resp.body)
		return resp
	}
	c.seen[s.method+" "+tmpl+" "+status] = true
	r, err := c.doc.response(documented)
	if err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
	c.check(what, resp, r)
	if resp.status < 300 && s.body != "" && op.RequestBody != nil {
		// What the API accepts, the document must admit.
		var body any
		if err := json.Unmarshal([]byte(s.body), &body); err != nil {
			c.t.Fatalf("%s: request body: %v", what, err)
		}
		for _, p := range c.doc.conform(op.RequestBody.Content["application/json"].Schema, body, "request") {
			c.t.Errorf("%s: accepted, but the document rejects its body: %s", what, p)
		}
	}
	return resp
}

// check validates resp's headers and body against the documented r.
func (c *oaConformance) check(what string, resp response, r *oaResponse) {
	c.t.Helper()
	for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
		h := r.Headers[name]
		value, present := resp.header[http.CanonicalHeaderKey(name)]
		switch {
		case !present && h.Required:
			c.t.Errorf("%s: header %s is documented as required but missing", what, name)
		case present:
			var v any = value[0]
			if s, err := c.doc.schema(h.Schema); err == nil && s.Type == "integer" {
				n, err := strconv.Atoi(value[0])
				if err != nil {
					c.t.Errorf("%s: header %s %q is not an integer", what, name, value[0])
				}
				v = float64(n)
			}
			for _, p := range c.doc.conform(h.Schema, v, name) {
				c.t.Errorf("%s: %s", what, p)
			}
		}
	}
	if len(r.Content) == 0 {
		if resp.body != "" {
			c.t.Errorf("%s: body %q, but the document gives this response none", what, resp.body)
		}
		return
	}
	mt, _, err := mime.ParseMediaType(resp.header.Get("Content-Type"))
	if err != nil {
		c.t.Errorf("%s: Content-Type %q: %v", what, resp.header.Get("Content-Type"), err)
		return
	}
	media := r.Content[mt]
	if media == nil {
		c.t.Errorf("%s: Content-Type %s, documented %v", what, mt, slices.Sorted(maps.Keys(r.Content)))
		return
	}
	var body any = resp.body
	if mt == "application/json" {
		if err := json.Unmarshal([]byte(resp.body), &body); err != nil {
			c.t.Errorf("%s: body is not JSON: %v: %s", what, err, resp.body)
			return
		}
	}
	for _, p := range c.doc.conform(media.Schema, body, "$") {
		c.t.Errorf("%s: the body departs from the document: %s; body %s", what, p, resp.body)
	}
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
	{method: "GET", path: "/v1/connections/backup-b/macs", status: 200},
	{method: "GET", path: "/v1/connections/nope/macs", status: 404},
	{method: "DELETE", path: "/v1/connections/backup-b/macs/02:0b:00:00:00:03", status: 204},
	{method: "DELETE", path: "/v1/connections/backup-b/macs/02:0b", status: 400},
	{method: "DELETE", path: "/v1/connections/backup-b/macs/02:0b:00:00:00:99", status: 404},
	{method: "DELETE", path: "/v1/connections/nope/macs/02:0b:00:00:00:01", status: 404},

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

	// The daemon.
	{method: "GET", path: "/v1/status", status: 200},
	{method: "GET", path: "/v1/openapi.json", status: 200},
	{method: "GET", path: "/healthz", status: 200},

	// No operation: the router's own answers.
	{method: "GET", path: "/v1/nothing", status: 404},
	{method: "DELETE", path: "/v1/networks", status: 405},
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
}

// TestOpenAPIResponsesConform drives the real handler over a real State
// through every operation, with good and bad input, and behind the token
// check and the in-flight cap, and checks every answer against the
// document. Every status the document gives an operation must come up,
// but 500, which no request can provoke.
func TestOpenAPIResponsesConform(t *testing.T) {
	doc := loadOpenAPI(t)
	state, err := app.Open(t.TempDir(), app.Options{Logger: slog.New(slog.DiscardHandler), LocalTunnelIPs: []string{"198.51.100.1"}})
	if err != nil {
		t.Fatalf("open state: %v", err)
	}
	t.Cleanup(func() {
		if err := state.Close(); err != nil {
			t.Errorf("close state: %v", err)
		}
	})
	status := testStatus // connected, not reconciled
	// A reconciler that never runs: its fake switch has no flows of l2gwd's
	// (every desired one is missing) and one learned entry.
	sw := newFakeSwitch()
	sw.learn(flows.LearnedCookie(1))
	rec := app.NewReconciler(app.ReconcilerConfig{Bridge: "br-int", Logger: slog.New(slog.DiscardHandler)},
		state, sw, &fakeBridge{changes: make(chan struct{}, 1)})
	h := NewHandler(state, func() app.Status { return status }, nil, WithMetrics(NewRegistry()), WithFlows(rec.Flows), WithLearned(rec))
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
	c.send(h, oaStep{method: "GET", path: "/readyz", status: http.StatusServiceUnavailable})
	status.Reconciled = true
	c.send(h, oaStep{method: "GET", path: "/readyz", status: http.StatusOK})
	c.send(h, oaStep{method: "GET", path: "/metrics", status: http.StatusOK})

	var withBody, ops []string // "METHOD template"
	for tmpl, item := range doc.Paths {
		for method, op := range item.operations() {
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
		c.send(h, oaStep{method: method, path: concrete(tmpl), body: tooLarge, status: 413})
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
		o, step := doc.Paths[tmpl].operations()[method], oaStep{method: method, path: concrete(tmpl)}
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
		for status := range doc.Paths[tmpl].operations()[method].Responses {
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
	for status := range c.doc.Paths[tmpl].operations()[method].Responses {
		if n, err := strconv.Atoi(status); err == nil && n >= 200 && n < 300 {
			ok = append(ok, n)
		}
	}
	if len(ok) != 1 {
		c.t.Fatalf("%s %s documents 2xx statuses %v, want exactly one", method, tmpl, ok)
	}
	return ok[0]
}
