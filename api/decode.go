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
	var syntax *json.SyntaxError
	var wrongType *json.UnmarshalTypeError
	switch {
	case isTooLarge(err):
		return &apiError{status: http.StatusRequestEntityTooLarge, code: codeBodyTooLarge,
			message: "request body is larger than 32 MiB"}
	case errors.Is(err, io.EOF):
		return invalid("", "request body is empty; expected a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "malformed JSON: unexpected end of the body")
	case errors.As(err, &syntax):
		return invalid("", fmt.Sprintf("malformed JSON at byte %d: %s", syntax.Offset, syntax.Error()))
	case errors.As(err, &wrongType):
		if wrongType.Field == "" {
			return invalid("", fmt.Sprintf("request body is a JSON %s; expected %s",
				wrongType.Value, describe(wrongType.Type)))
		}
		return invalid(wrongType.Field, fmt.Sprintf("%s is a JSON %s; expected %s",
			wrongType.Field, wrongType.Value, describe(wrongType.Type)))
	}
	if rest, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, qerr := strconv.Unquote(rest)
		if qerr != nil {
			name = rest
		}
		return invalid(name, fmt.Sprintf("unknown field %q", name))
	}
	return invalid("", "cannot read request body: "+err.Error())
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
