package api

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Timeouts of the API server. Bodies are at most maxBodyBytes (32 MiB),
// but for MAC batches: over a 1 Mbit/s management link 10 MB (100,000
// bindings) take about 84 s and 32 MiB about 270 s, so a request may take
// readTimeout (5 min) to arrive. Net/http starts the write deadline once
// the request's header has been read, so writeTimeout must cover the
// body's upload, applying it and the answer: readTimeout plus 2 min.
// Clients that stall are cut off by readHeaderTimeout before they have
// sent a header (this also bounds the TLS handshake), and a slow body can
// be sent only by a client that has passed the token check, which answers
// before reading any body.
//
// A MAC batch may reach maxBatchBodyBytes (256 MiB): a million bindings
// are 70-100 MB, about 10-14 min over 1 Mbit/s, 256 MiB about 18 min over
// 2 Mbit/s. Its routes move their deadlines on when their handler starts
// (batchDeadlines): batchReadTimeout (20 min) to read the body, and
// batchWriteTimeout (30 min) to also apply it (about 10 s for a million)
// and answer (a JSON batch is echoed, 70 MB for a million; an NDJSON one
// answers its count).
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 5 * time.Minute
	writeTimeout      = readTimeout + 2*time.Minute
	idleTimeout       = 2 * time.Minute
	batchReadTimeout  = 20 * time.Minute
	batchWriteTimeout = batchReadTimeout + 10*time.Minute
)

// batchDeadlines gives the requests of next, MAC batch routes, the batch
// timeouts (from now) instead of the server's.
func (h *handler) batchDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		now := time.Now()
		for _, err := range []error{rc.SetReadDeadline(now.Add(batchReadTimeout)),
			rc.SetWriteDeadline(now.Add(batchWriteTimeout))} {
			// A writer without deadlines (a test's recorder) has no
			// server timeouts to move either.
			if err != nil && !errors.Is(err, http.ErrNotSupported) {
				h.log.WarnContext(r.Context(), "set MAC batch deadlines", "method", r.Method,
					"path", r.URL.Path, "err", err)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// DefaultMaxInFlight is the cap on requests served at once when
// ServerOptions leaves it unset.
const DefaultMaxInFlight = 256

// ServerOptions says how the API server authenticates clients and guards
// its resources.
type ServerOptions struct {
	// Token, when not empty, is the bearer token every request but
	// GET /healthz must carry.
	Token string
	// TLS, when not nil, makes the server speak HTTPS only (see ServerTLS).
	TLS *tls.Config
	// MaxInFlight caps the requests served at once; more are answered
	// 503 with Retry-After. Zero means DefaultMaxInFlight.
	MaxInFlight int
	// Log receives refused requests (debug) and the server's own errors,
	// such as failed TLS handshakes (info). Nil discards them.
	Log *slog.Logger
}

// NewServer returns the HTTP server of the API handler h (see NewHandler),
// guarded as opts says: token check, in-flight cap, timeouts, TLS. Run it
// with Serve.
func NewServer(h http.Handler, opts ServerOptions) *http.Server {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxInFlight := opts.MaxInFlight
	if maxInFlight <= 0 {
		maxInFlight = DefaultMaxInFlight
	}
	// The token is checked first so that clients without it never hold
	// one of the in-flight slots.
	h = limitInFlight(maxInFlight, log, h)
	if opts.Token != "" {
		h = requireToken(opts.Token, log, h)
	}
	return &http.Server{
		Handler:           h,
		TLSConfig:         opts.TLS,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelInfo),
	}
}

// Serve serves srv on ln, over TLS when srv has a TLS configuration, until
// srv is shut down (then it returns http.ErrServerClosed).
func Serve(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}
