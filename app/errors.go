package app

import (
	"fmt"
	"slices"
	"strings"
)

// ErrorKind says why a request was rejected; package api maps it to an HTTP
// status.
type ErrorKind int

// Kinds of rejected requests.
const (
	// Invalid is a malformed or out-of-range field (HTTP 400).
	Invalid ErrorKind = iota + 1
	// NotFound is an unknown name, in the path or as a reference (HTTP 404).
	NotFound
	// Conflict is a clash with existing state: a name taken, a MAC, IP,
	// port or tunnel key bound elsewhere, or a delete of something still in
	// use (HTTP 409).
	Conflict
	// Unavailable means the store could not save the change (HTTP 503).
	Unavailable
)

// Error codes, as the API returns them in {"error":{"code":...}}.
const (
	CodeInvalidArgument = "invalid_argument"
	CodeNotFound        = "not_found"
	CodeAlreadyExists   = "already_exists"
	CodeConflict        = "conflict"
	CodeInUse           = "in_use"
	CodeUnavailable     = "unavailable"
)

// Error is a rejected request; a rejected request changes nothing.
type Error struct {
	Kind    ErrorKind
	Code    string
	Message string
	// Field is a JSON path into the request body ("name",
	// "attachments[1].vlan", "macs[3].ips[0]"), or "" when no single field
	// is to blame.
	Field string
}

// Error returns the message, which names the offending value itself.
func (e *Error) Error() string { return e.Message }

func invalid(field, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Code: CodeInvalidArgument, Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(field, format string, args ...any) *Error {
	return &Error{Kind: NotFound, Code: CodeNotFound, Field: field, Message: fmt.Sprintf(format, args...)}
}

func alreadyExists(kind, name string) *Error {
	return &Error{Kind: Conflict, Code: CodeAlreadyExists, Field: "name", Message: fmt.Sprintf("%s %q already exists", kind, name)}
}

func conflict(field, format string, args ...any) *Error {
	return &Error{Kind: Conflict, Code: CodeConflict, Field: field, Message: fmt.Sprintf(format, args...)}
}

func inUse(format string, args ...any) *Error {
	return &Error{Kind: Conflict, Code: CodeInUse, Message: fmt.Sprintf(format, args...)}
}

// unavailable rejects a change because the store could not save it.
func unavailable(err error) *Error {
	return &Error{Kind: Unavailable, Code: CodeUnavailable,
		Message: fmt.Sprintf("store write failed: %v; the change was not applied", err)}
}

// quotedList formats names, sorted, as a comma-separated list of quoted strings.
func quotedList(names []string) string {
	slices.Sort(names)
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(quoted, ", ")
}
