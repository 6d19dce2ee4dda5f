package api

import (
	"errors"
	"net/http"

	"github.com/l2gw/l2gw/app"
)

// Error codes the API itself produces; app errors carry their own codes.
const (
	codeInvalid          = "invalid_argument"
	codeNotFound         = "not_found"
	codeBodyTooLarge     = "body_too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeInternal         = "internal"
)

// apiError is a request the API rejects before (or instead of) asking app.
type apiError struct {
	status  int
	code    string
	message string
	field   string
}

// Error describes the rejection.
func (e *apiError) Error() string {
	if e.field != "" {
		return e.code + ": " + e.field + ": " + e.message
	}
	return e.code + ": " + e.message
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

// errorDetail says what went wrong and, when one field is to blame, which.
type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// invalid rejects a request with 400 for field.
func invalid(field, message string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeInvalid, message: message, field: field}
}

// appStatus maps the kind of an app error to its HTTP status (0 if unknown).
func appStatus(kind app.ErrorKind) int {
	switch kind {
	case app.Invalid:
		return http.StatusBadRequest
	case app.NotFound:
		return http.StatusNotFound
	case app.Conflict:
		return http.StatusConflict
	case app.Unavailable:
		return http.StatusServiceUnavailable
	}
	return 0
}

// writeError sends err as an error body. Errors that are neither rejected
// requests nor app errors of a known kind are logged and answered with 500,
// without their text.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var apiErr *apiError
	var appErr *app.Error
	switch {
	case errors.As(err, &apiErr):
	case errors.As(err, &appErr) && appStatus(appErr.Kind) != 0:
		apiErr = &apiError{status: appStatus(appErr.Kind), code: appErr.Code,
			message: appErr.Message, field: appErr.Field}
	default:
		h.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		apiErr = &apiError{status: http.StatusInternalServerError, code: codeInternal,
			message: "internal error; see the daemon's log"}
	}
	h.writeJSON(w, r, apiErr.status, errorBody{Error: errorDetail{
		Code: apiErr.code, Message: apiErr.message, Field: apiErr.field}})
}
