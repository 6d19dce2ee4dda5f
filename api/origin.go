package api

import (
	"fmt"
	"net/http"

	"github.com/l2gw/l2gw/app"
)

// An object's origin is read-only: the API writes static objects, and
// those of dynamic origins are theirs (app answers a write to them with a
// conflict naming the origin). Objects show their origin in an "origin"
// field, left out for static ones: the API's own objects read as they
// always have. A body may carry "origin":"static".

// originOf is o as an object's origin field shows it: "" for static.
func originOf(o app.Origin) string {
	if o == app.OriginStatic {
		return ""
	}
	return o.String()
}

// decodeWritable decodes a request body into dst, whose origin field is
// origin, and refuses an origin other than static.
func decodeWritable(r *http.Request, dst any, origin *string) error {
	if err := decodeBody(r, dst); err != nil {
		return err
	}
	return writableOrigin("origin", *origin)
}

// writableOrigin refuses, for the field at path field, an origin other
// than static (or none).
func writableOrigin(field, origin string) error {
	if origin == "" || origin == app.OriginStatic.String() {
		return nil
	}
	return invalid(field, fmt.Sprintf("origin %q is read-only: what the API writes is static", origin))
}
