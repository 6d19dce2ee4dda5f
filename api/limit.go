package api

import (
	"log/slog"
	"net/http"
	"strconv"
)

// codeOverloaded is the error code of a request refused because the API is
// serving as many requests as it may.
const codeOverloaded = "overloaded"

// retryAfterSeconds is what an overloaded API asks clients to wait.
const retryAfterSeconds = 1

// limitInFlight serves at most capacity requests at once. A request beyond that
// is answered 503 with Retry-After at once, never queued, so a burst cannot
// pile up goroutines and request bodies without bound. Liveness probes are
// not counted: a busy daemon is alive.
func limitInFlight(capacity int, log *slog.Logger, next http.Handler) http.Handler {
	slots := make(chan struct{}, capacity)
	h := &handler{log: log}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isHealthProbe(r) {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		default:
			log.DebugContext(r.Context(), "http request refused", "method", r.Method, "path", r.URL.Path,
				"remote", r.RemoteAddr, "reason", codeOverloaded)
			w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
			h.writeError(w, r, &apiError{status: http.StatusServiceUnavailable, code: codeOverloaded,
				message: "the API is serving " + strconv.Itoa(capacity) + " requests already; retry later"})
		}
	})
}
