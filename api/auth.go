package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"unicode"
)

// codeUnauthorized is the error code of a request without the right token.
const codeUnauthorized = "unauthorized"

// healthPath is the liveness probe's path.
const healthPath = "/healthz"

// isHealthProbe tells whether r is a liveness (/healthz) or readiness
// (/readyz) probe: those are served without a token (GET only) and outside
// the in-flight cap, so that probes need no secret and do not fail because
// the API is busy. Both reveal nothing but state booleans. GET /metrics is
// not exempt: it names networks and routes, so scrapers send the bearer
// token (Prometheus: the scrape config's authorization credentials).
func isHealthProbe(r *http.Request) bool {
	return r.Method == http.MethodGet && (r.URL.Path == healthPath || r.URL.Path == readyPath)
}

// requireToken lets through requests whose Authorization header is
// "Bearer <token>", and health probes; it answers every other request 401
// with a WWW-Authenticate challenge.
func requireToken(token string, log *slog.Logger, next http.Handler) http.Handler {
	// Comparing digests keeps the comparison constant in time whatever the
	// length of the token presented: subtle.ConstantTimeCompare returns
	// early, and so leaks, when the lengths differ.
	want := sha256.Sum256([]byte(token))
	h := &handler{log: log}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isHealthProbe(r) {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := bearerToken(r)
		if ok {
			sum := sha256.Sum256([]byte(got))
			if subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
				next.ServeHTTP(w, r)
				return
			}
		}
		challenge, message := `Bearer realm="l2gwd"`, "this API needs a bearer token: send the header Authorization: Bearer <token>"
		if ok {
			challenge += `, error="invalid_token"`
			message = "the bearer token is not the one this daemon was given"
		}
		log.DebugContext(r.Context(), "http request refused", "method", r.Method, "path", r.URL.Path,
			"remote", r.RemoteAddr, "reason", codeUnauthorized)
		w.Header().Set("WWW-Authenticate", challenge)
		h.writeError(w, r, &apiError{status: http.StatusUnauthorized, code: codeUnauthorized, message: message})
	})
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header (the scheme is case-insensitive, RFC 7235), and whether r has one.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// ReadToken reads a bearer token file: one line, its line ending trimmed,
// without spaces or control characters.
func ReadToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	token := strings.TrimRight(string(data), "\r\n")
	if token == "" {
		return "", fmt.Errorf("%s is empty: put the bearer token in it", path)
	}
	if strings.ContainsFunc(token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", fmt.Errorf("%s: the token must be one line without spaces or control characters", path)
	}
	return token, nil
}
