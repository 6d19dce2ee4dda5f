package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// maxBodyBytes is the largest request body the API reads (32 MiB).
const maxBodyBytes = 32 << 20

// decodeBody decodes the request body, exactly one JSON value with no
// fields dst does not know, into dst. serve has capped the body at
// maxBodyBytes.
func decodeBody(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &apiError{status: http.StatusUnsupportedMediaType, code: codeUnsupportedMedia,
				message: fmt.Sprintf("content type %q is not application/json", ct)}
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
		return nil
	case isTooLarge(err):
		return decodeError(err)
	default:
		return invalid("", "request body holds data after its JSON value")
	}
}

// isTooLarge tells whether err comes from reading past maxBodyBytes.
func isTooLarge(err error) bool {
	var tooLarge *http.MaxBytesError
	return errors.As(err, &tooLarge)
}

// decodeError turns an error of json.Decoder.Decode into the rejection the
// client sees.
func decodeError(err error) error {
	return decodeErrorAt("", err)
}

// decodeErrorAt is decodeError for a value decoded at the field path at
// of the body ("" for the body itself): the fields it blames are named
// from there ("macs[3].ips").
func decodeErrorAt(at string, err error) error {
	var syntax *json.SyntaxError
	var wrongType *json.UnmarshalTypeError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return &apiError{status: http.StatusRequestEntityTooLarge, code: codeBodyTooLarge,
			message: fmt.Sprintf("request body is larger than %d MiB", tooLarge.Limit>>20)}
	case errors.Is(err, io.EOF) && at == "":
		return invalid("", "request body is empty; expected a JSON object")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return invalid(at, "malformed JSON: unexpected end of the body")
	case errors.As(err, &syntax):
		return invalid(at, fmt.Sprintf("malformed JSON at byte %d: %s", syntax.Offset, syntax.Error()))
	case errors.As(err, &wrongType):
		if wrongType.Field == "" {
			if at == "" {
				return invalid("", fmt.Sprintf("request body is a JSON %s; expected %s",
					wrongType.Value, describe(wrongType.Type)))
			}
			return invalid(at, fmt.Sprintf("%s is a JSON %s; expected %s",
				at, wrongType.Value, describe(wrongType.Type)))
		}
		field := joinPath(at, wrongType.Field)
		return invalid(field, fmt.Sprintf("%s is a JSON %s; expected %s",
			field, wrongType.Value, describe(wrongType.Type)))
	}
	if rest, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, qerr := strconv.Unquote(rest)
		if qerr != nil {
			name = rest
		}
		return invalid(joinPath(at, name), fmt.Sprintf("unknown field %q", name))
	}
	return invalid(at, "cannot read request body: "+err.Error())
}

// joinPath is the field path field under at ("" for the body itself).
func joinPath(at, field string) string {
	if at == "" {
		return field
	}
	return at + "." + field
}

// describe names, in JSON terms, the values a Go type accepts.
func describe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("an integer from 0 to %d", uint64(1)<<t.Bits()-1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return describe(t.Elem())
	}
	return "a value of another type"
}
