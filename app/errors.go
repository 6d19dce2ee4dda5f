package app

import (
	"fmt"
	"slices"
	"strings"
)

// ErrorKind says why a request was rejected.
type ErrorKind int

// Kinds of rejected requests.
const (
	// Invalid is a malformed or out-of-range field.
	Invalid ErrorKind = iota + 1
	// NotFound is an unknown name, named by the caller or as a reference.
	NotFound
	// AlreadyExists is a name another object of the same kind has.
	AlreadyExists
	// Conflict is a clash with existing state: a MAC, IP, port or tunnel
	// key bound elsewhere, or no free ID left.
	Conflict
	// InUse is a delete of something other objects still use.
	InUse
	// Unavailable means the change could not be saved, or the switch could
	// not be asked.
	Unavailable
)

// Error is a rejected request; a rejected request changes nothing.
type Error struct {
	Kind    ErrorKind
	Message string
	// Path locates the field of the request to blame (Field constants
	// and list indices), or is empty when no single field is.
	Path Path
}

// Error returns the message, which names the offending value itself.
func (e *Error) Error() string { return e.Message }

func invalid(at Path, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Path: at, Message: fmt.Sprintf(format, args...)}
}

func notFound(at Path, format string, args ...any) *Error {
	return &Error{Kind: NotFound, Path: at, Message: fmt.Sprintf(format, args...)}
}

func alreadyExists(kind, name string) *Error {
	return &Error{Kind: AlreadyExists, Path: At(FieldName), Message: fmt.Sprintf("%s %q already exists", kind, name)}
}

func conflict(at Path, format string, args ...any) *Error {
	return &Error{Kind: Conflict, Path: at, Message: fmt.Sprintf(format, args...)}
}

func inUse(format string, args ...any) *Error {
	return &Error{Kind: InUse, Message: fmt.Sprintf(format, args...)}
}

// unavailable rejects a change because the store could not save it.
func unavailable(err error) *Error {
	return &Error{Kind: Unavailable, Message: fmt.Sprintf("store write failed: %v; the change was not applied", err)}
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
