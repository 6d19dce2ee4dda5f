package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/l2gw/l2gw/app"
)

// Error codes, as the API returns them in {"error":{"code":...}}.
const (
	codeInvalid          = "invalid_argument"
	codeNotFound         = "not_found"
	codeAlreadyExists    = "already_exists"
	codeConflict         = "conflict"
	codeInUse            = "in_use"
	codeUnavailable      = "unavailable"
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

// appStatus maps the kind of an app error to its HTTP status and error
// code (0 and "" if unknown).
func appStatus(kind app.ErrorKind) (int, string) {
	switch kind {
	case app.Invalid:
		return http.StatusBadRequest, codeInvalid
	case app.NotFound:
		return http.StatusNotFound, codeNotFound
	case app.AlreadyExists:
		return http.StatusConflict, codeAlreadyExists
	case app.Conflict:
		return http.StatusConflict, codeConflict
	case app.InUse:
		return http.StatusConflict, codeInUse
	case app.Unavailable:
		return http.StatusServiceUnavailable, codeUnavailable
	}
	return 0, ""
}

// fieldNames are the JSON names of the fields app's errors blame.
var fieldNames = map[app.Field]string{
	app.FieldName:           "name",
	app.FieldAttachments:    "attachments",
	app.FieldPort:           "port",
	app.FieldVLAN:           "vlan",
	app.FieldTunnelIP:       "tunnel_ip",
	app.FieldNetwork:        "network",
	app.FieldRemoteGateway:  "remote_gateway",
	app.FieldSegmentationID: "segmentation_id",
	app.FieldNetworkType:    "network_type",
	app.FieldMACs:           "macs",
	app.FieldMAC:            "mac",
	app.FieldIPs:            "ips",
	app.FieldTo:             "to",
	app.FieldFrom:           "from",
	app.FieldEVPN:           "evpn",
	app.FieldVNI:            "vni",
	// EVPN's route targets are one object on the wire.
	app.FieldImportRTs: "route_targets.import",
	app.FieldExportRTs: "route_targets.export",
	app.FieldAddress:   "address",
	app.FieldASN:       "asn",
	app.FieldPassword:  "password",
	app.FieldHoldTime:  "hold_time",
	app.FieldKeepalive: "keepalive",
	app.FieldTunnelIPs: "tunnel_ips",
}

// fieldPath is p as a path into the request's JSON: field names joined by
// dots, list indices in brackets ("macs[3].ips[0]"); "" for an empty p.
// It is false if p has a field without a JSON name.
func fieldPath(p app.Path) (string, bool) {
	var b strings.Builder
	for _, s := range p {
		if s.Field == 0 {
			b.WriteString("[" + strconv.Itoa(s.Index) + "]")
			continue
		}
		name, ok := fieldNames[s.Field]
		if !ok {
			return "", false
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(name)
	}
	return b.String(), true
}

// writeError sends err as an error body.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := h.rejection(r, err)
	h.writeJSON(w, r, e.status, errorBody{Error: errorDetail{Code: e.code, Message: e.message, Field: e.field}})
}

// rejection is how the API answers err. Errors that are neither rejected
// requests nor app errors of a known kind are logged and answered with 500,
// without their text; an app error's path the API cannot name is logged
// and left out.
func (h *handler) rejection(r *http.Request, err error) *apiError {
	var apiErr *apiError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	var appErr *app.Error
	if errors.As(err, &appErr) {
		if status, code := appStatus(appErr.Kind); status != 0 {
			field, ok := fieldPath(appErr.Path)
			if !ok {
				h.log.ErrorContext(r.Context(), "app error blames a field the API has no name for",
					"method", r.Method, "path", r.URL.Path, "field_path", appErr.Path, "err", err)
			}
			return &apiError{status: status, code: code, message: appErr.Message, field: field}
		}
	}
	h.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	return &apiError{status: http.StatusInternalServerError, code: codeInternal,
		message: "internal error; see the daemon's log"}
}
