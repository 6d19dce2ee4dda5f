package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"
)

// request is one API call and how its successful answer reads as text.
type request struct {
	method string
	path   string // below the API base URL, e.g. "/v1/networks"
	body   any    // sent as JSON when not nil
	// show writes the answer's body for -o table.
	show func(w io.Writer, body []byte) error
}

// do sends r and prints its answer: the server's JSON, indented, for -o json,
// as YAML for -o yaml, or r.show's text for -o table. A rejected request yields an *apiError.
func (c *cli) do(r request) error {
	var body io.Reader
	if r.body != nil {
		data, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequest(r.method, strings.TrimSuffix(c.api, "/")+r.path, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read answer to %s %s: %w", r.method, req.URL, err)
	}
	if resp.StatusCode >= 300 {
		return newAPIError(resp.Status, data)
	}
	if c.output == "table" {
		return r.show(c.stdout, data)
	}
	if err := writeAnswer(c.stdout, c.output, data); err != nil {
		return fmt.Errorf("answer to %s %s: %w", r.method, req.URL, err)
	}
	return nil
}

// writeAnswer writes the server's JSON answer data as format: json
// (indented) or yaml (the same document, keys in the server's order).
// An empty answer (a delete) writes nothing.
func writeAnswer(w io.Writer, format string, data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil
	}
	var out bytes.Buffer
	if format == "yaml" {
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("not JSON: %w", err)
		}
		blockStyle(&doc)
		enc := yaml.NewEncoder(&out)
		enc.SetIndent(2)
		if err := enc.Encode(&doc); err != nil {
			return err
		}
		if err := enc.Close(); err != nil {
			return err
		}
	} else {
		if err := json.Indent(&out, data, "", "  "); err != nil {
			return fmt.Errorf("not JSON: %w", err)
		}
		out.WriteByte('\n')
	}
	_, err := out.WriteTo(w)
	return err
}

// blockStyle drops the JSON (flow, quoted) styles of n and its children:
// the YAML encoder then writes block style and quotes only what needs it.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// apiError is a request the server rejected.
type apiError struct {
	status  string // HTTP status, e.g. "409 Conflict"
	message string
	field   string // the request field to blame, if any
}

// newAPIError reads the error body {"error":{"message":...,"field":...}};
// a body of another shape is quoted as the message.
func newAPIError(status string, body []byte) *apiError {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return &apiError{status: status, message: e.Error.Message, field: e.Error.Field}
	}
	return &apiError{status: status, message: strings.TrimSpace(string(body))}
}

// Error reads "<message> (field <field>) [HTTP <status>]".
func (e *apiError) Error() string {
	msg := e.message
	if msg == "" {
		msg = "request failed"
	}
	if e.field != "" {
		msg += " (field " + e.field + ")"
	}
	return msg + " [HTTP " + e.status + "]"
}

// said shows a mutation's answer as one line of text.
func said(format string, args ...any) func(io.Writer, []byte) error {
	return func(w io.Writer, _ []byte) error {
		_, err := fmt.Fprintf(w, format+"\n", args...)
		return err
	}
}

// showList shows the answer {"<key>":[...]} as a table.
func showList[T any](key string, columns []string, row func(T) []string) func(io.Writer, []byte) error {
	return func(w io.Writer, body []byte) error {
		var list map[string][]T
		if err := json.Unmarshal(body, &list); err != nil {
			return fmt.Errorf("decode %s: %w", key, err)
		}
		return writeTable(w, columns, list[key], row)
	}
}

// showOne shows an answer holding one object as a one-row table.
func showOne[T any](columns []string, row func(T) []string) func(io.Writer, []byte) error {
	return func(w io.Writer, body []byte) error {
		var obj T
		if err := json.Unmarshal(body, &obj); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
		return writeTable(w, columns, []T{obj}, row)
	}
}

// writeTable writes a header and one row per object, in aligned columns.
func writeTable[T any](w io.Writer, columns []string, objs []T, row func(T) []string) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(columns, "\t"))
	for _, obj := range objs {
		fmt.Fprintln(tw, strings.Join(row(obj), "\t"))
	}
	return tw.Flush()
}

// orDash shows an empty cell as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
