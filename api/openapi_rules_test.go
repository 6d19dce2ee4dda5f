package api

import (
	"fmt"
	"maps"
	"mime"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// ---- House rules: what kin-openapi's Validate lets through ----
//
// kin-openapi checks that the document is valid OpenAPI. These rules are
// stricter, for a document that this test can check real answers against
// and that a reader can trust: OpenAPI 3.0 only, every operation named and
// tagged, 401 documented exactly where the token is taken, status codes as
// keys, no $ref siblings (OpenAPI 3.0 ignores them), every media type with
// a schema, and every schema typed, with only the keywords of its type,
// its required properties defined and its enum values of its type.

// schemaTypes are the types a schema of this document may have.
var schemaTypes = []string{"object", "array", "string", "integer", "number", "boolean"}

// oaRules collects how a document kin-openapi loaded breaks the house
// rules.
type oaRules struct {
	doc      *oaDocument
	problems []string
}

func (r *oaRules) fail(where, format string, args ...any) {
	r.problems = append(r.problems, where+": "+fmt.Sprintf(format, args...))
}

// houseRuleProblems lists how doc, whose plain JSON is raw, breaks the house
// rules.
func houseRuleProblems(doc *oaDocument, raw any) []string {
	r := &oaRules{doc: doc}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		r.fail("openapi", "version %q, want 3.0.x", doc.OpenAPI)
	}
	r.refSiblings(raw, "#")
	c := doc.Components
	for _, name := range slices.Sorted(maps.Keys(c.Schemas)) {
		r.schema("schemas."+name, c.Schemas[name])
	}
	for _, name := range slices.Sorted(maps.Keys(c.Parameters)) {
		r.parameter("parameters."+name, c.Parameters[name])
	}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		r.header("headers."+name, c.Headers[name])
	}
	for _, name := range slices.Sorted(maps.Keys(c.RequestBodies)) {
		r.requestBody("requestBodies."+name, c.RequestBodies[name])
	}
	for _, name := range slices.Sorted(maps.Keys(c.Responses)) {
		r.response("responses."+name, c.Responses[name])
	}
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		ops := item.Operations()
		if len(ops) == 0 {
			r.fail(path, "no operations")
		}
		for _, p := range item.Parameters {
			r.parameter(path+" parameter", p)
		}
		for _, method := range slices.Sorted(maps.Keys(ops)) {
			r.operation(method+" "+path, ops[method])
		}
	}
	return r.problems
}

// operation checks an operation and what it defines inline.
func (r *oaRules) operation(where string, op *openapi3.Operation) {
	if op.OperationID == "" {
		r.fail(where, "no operationId")
	}
	for _, tag := range op.Tags {
		if r.doc.Tags.Get(tag) == nil {
			r.fail(where, "tag %q is not declared", tag)
		}
	}
	if takes, has401 := r.doc.takesToken(op), op.Responses.Value("401") != nil; takes != has401 {
		r.fail(where, "takes the token: %t, but documents 401: %t", takes, has401)
	}
	for _, p := range op.Parameters {
		r.parameter(where+" parameter", p)
	}
	if op.RequestBody != nil {
		r.requestBody(where+" requestBody", op.RequestBody)
	}
	for _, status := range op.Responses.Keys() {
		if code, err := strconv.Atoi(status); status != "default" && (err != nil || code < 100 || code > 599) {
			r.fail(where, "response key %q is not a status code", status)
		}
		r.response(where+" "+status, op.Responses.Value(status))
	}
}

// parameter checks an inline parameter's schema ($refs are checked where
// their targets are defined).
func (r *oaRules) parameter(where string, p *openapi3.ParameterRef) {
	if p.Ref == "" {
		r.schema(where+" "+p.Value.Name, p.Value.Schema)
	}
}

// header checks an inline header's schema.
func (r *oaRules) header(where string, h *openapi3.HeaderRef) {
	if h.Ref == "" {
		r.schema(where, h.Value.Schema)
	}
}

// requestBody checks an inline request body's content.
func (r *oaRules) requestBody(where string, b *openapi3.RequestBodyRef) {
	if b.Ref == "" {
		r.content(where, b.Value.Content)
	}
}

// response checks an inline response's headers and content.
func (r *oaRules) response(where string, resp *openapi3.ResponseRef) {
	if resp.Ref != "" {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(resp.Value.Headers)) {
		r.header(where+" header "+name, resp.Value.Headers[name])
	}
	r.content(where, resp.Value.Content)
}

// content checks media types: a valid name, and a schema to check bodies
// against.
func (r *oaRules) content(where string, content openapi3.Content) {
	for _, mt := range slices.Sorted(maps.Keys(content)) {
		at := where + " " + mt
		if _, _, err := mime.ParseMediaType(mt); err != nil {
			r.fail(at, "not a media type: %v", err)
		}
		if content[mt].Schema == nil {
			r.fail(at, "no schema")
			continue
		}
		r.schema(at, content[mt].Schema)
	}
}

// schema checks an inline schema and those nested in it ($refs are
// checked where their targets are defined).
func (r *oaRules) schema(where string, ref *openapi3.SchemaRef) {
	if ref == nil || ref.Ref != "" {
		return
	}
	s := ref.Value
	typ := strings.Join(s.Type.Slice(), ", ")
	if !slices.Contains(schemaTypes, typ) {
		r.fail(where, "type %q, want one of %v", typ, schemaTypes)
	}
	if typ != "array" && s.Items != nil {
		r.fail(where, "items goes with type array")
	}
	if typ != "object" && (s.Properties != nil || s.Required != nil || s.AdditionalProperties.Has != nil || s.AdditionalProperties.Schema != nil) {
		r.fail(where, "properties, required and additionalProperties go with type object")
	}
	if typ != "string" && (s.Pattern != "" || s.MinLength != 0 || s.MaxLength != nil) {
		r.fail(where, "pattern, minLength and maxLength go with type string")
	}
	if typ != "integer" && typ != "number" && (s.Min != nil || s.Max != nil) {
		r.fail(where, "minimum and maximum go with numeric types")
	}
	for _, name := range s.Required {
		if s.Properties[name] == nil {
			r.fail(where, "required property %q is not defined", name)
		}
	}
	for _, e := range s.Enum {
		if err := s.VisitJSON(e); err != nil {
			r.fail(where, "enum value %v: %v", e, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
		r.schema(where+"."+name, s.Properties[name])
	}
	r.schema(where+"[]", s.Items)
	r.schema(where+" additionalProperties", s.AdditionalProperties.Schema)
	r.schema(where+" not", s.Not)
	for i, sub := range slices.Concat(s.AllOf, s.AnyOf, s.OneOf) {
		r.schema(fmt.Sprintf("%s (allOf, anyOf, oneOf)[%d]", where, i), sub)
	}
}

// refSiblings checks, in the plain JSON, that no "$ref" has siblings:
// OpenAPI 3.0 ignores them, so they would only mislead a reader. at is the
// JSON pointer of node.
func (r *oaRules) refSiblings(node any, at string) {
	switch n := node.(type) {
	case map[string]any:
		if _, isRef := n["$ref"]; isRef && len(n) > 1 {
			r.fail(at, "a $ref's siblings %v are ignored in OpenAPI 3.0", slices.DeleteFunc(slices.Sorted(maps.Keys(n)), func(k string) bool { return k == "$ref" }))
		}
		for _, key := range slices.Sorted(maps.Keys(n)) {
			r.refSiblings(n[key], at+"/"+strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1"))
		}
	case []any:
		for i, item := range n {
			r.refSiblings(item, fmt.Sprintf("%s/%d", at, i))
		}
	}
}
