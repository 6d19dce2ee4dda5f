package api

import (
	_ "embed"
	"io"
	"net/http"
)

// openAPIDocument is the OpenAPI 3.0 description of the v1 API, served at
// GET /v1/openapi.json. It is written by hand; openapi_test.go checks that
// it lists exactly the routes NewHandler registers and that real responses
// match it.
//
//go:embed openapi.json
var openAPIDocument []byte

// rawJSON is a response body that is JSON already, sent as it is.
type rawJSON []byte

// writeJSON writes the bytes unchanged.
func (b rawJSON) writeJSON(w io.Writer) error {
	_, err := w.Write(b)
	return err
}

// getOpenAPI serves GET /v1/openapi.json.
func (h *handler) getOpenAPI(*http.Request) (int, any, error) {
	return http.StatusOK, rawJSON(openAPIDocument), nil
}
