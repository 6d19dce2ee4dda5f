package api

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/l2gw/l2gw/app"
)

// Paths of the observability endpoints beside the v1 API. GET /readyz is
// served without a token (see auth.go); GET /metrics needs one like the
// v1 API, because it names the networks (learned MACs per network).
const (
	readyPath   = "/readyz"
	metricsPath = "/metrics"
)

// unmatchedRoute is the route label of requests no route matched.
const unmatchedRoute = "unmatched"

// NewRegistry returns a Prometheus registry holding the Go runtime's and
// the process's collectors, for WithMetrics and app's
// Reconciler.Instrument. It is l2gwd's own: libraries (libovsdb) register
// into the global default registry, whose metrics are not ours to serve.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// HandlerOption adds to what NewHandler serves.
type HandlerOption func(*handlerOptions)

// handlerOptions is what the HandlerOptions given to NewHandler ask for.
type handlerOptions struct {
	registry *prometheus.Registry
	flows    FlowsFunc // nil without WithFlows
	learned  Learner   // nil without WithLearned
	bgp      BGP       // nil without WithBGP
	// endpoints reports remote gateways' endpoints; nil without
	// WithEndpoints.
	endpoints func(app.RemoteGateway) []app.EndpointStatus
}

// WithMetrics makes the handler serve GET /metrics from reg (Prometheus
// text format) and record its own requests in reg (namespace l2gw):
// api_requests_total{route,method,status} and
// api_request_duration_seconds{route}, where route is the path template
// ("/v1/connections/{name}/macs"), never the raw path. Requests the token
// check or the in-flight cap refuse (see NewServer) never reach the handler
// and are not counted. NewHandler panics if reg already holds these metrics
// (a second handler on one registry).
func WithMetrics(reg *prometheus.Registry) HandlerOption {
	return func(o *handlerOptions) { o.registry = reg }
}

// apiMetrics counts and times the API's requests.
type apiMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newAPIMetrics registers the API's request metrics in reg.
func newAPIMetrics(reg prometheus.Registerer) *apiMetrics {
	m := &apiMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "l2gw", Name: "api_requests_total",
			Help: "API requests answered, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "l2gw", Name: "api_request_duration_seconds",
			Help: "Time to answer API requests, by route template.",
			// 1 ms to 262 s: a MAC batch may take minutes to upload.
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// observed is logged (see respond.go) plus, when the handler has metrics,
// each request counted and timed under the route template tmpl ("" for
// requests no route matched).
func (h *handler) observed(tmpl string, next http.Handler) http.Handler {
	logged := h.logged(tmpl, next)
	if h.metrics == nil {
		return logged
	}
	route := tmpl
	if route == "" {
		route = unmatchedRoute
	}
	duration := h.metrics.duration.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		logged.ServeHTTP(rec, r)
		duration.Observe(time.Since(start).Seconds())
		h.metrics.requests.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(rec.status)).Inc()
	})
}

// methodLabel is the method label of a request with method m: the
// standard methods as they are, anything else "other", so that clients
// cannot grow the label set without bound.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// metricsHandler serves reg. A collector that fails (the dump of learned
// flows timing out) costs its own metrics, not the scrape: the error is
// logged and the rest served.
func (h *handler) metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// readiness is the body of GET /readyz: whether the switch side (and BGP,
// when it counts) is ready, and if not, what it waits for.
type readiness struct {
	Ready             bool `json:"ready"`
	OpenFlowConnected bool `json:"openflow_connected"`
	OVSDBConnected    bool `json:"ovsdb_connected"`
	Reconciled        bool `json:"reconciled"`
	// BGPReady is there when BGP counts: the daemon has BGP and BGP
	// peers are configured; BGPError then says why it is not ready.
	BGPReady *bool    `json:"bgp_ready,omitempty"`
	BGPError string   `json:"bgp_error,omitempty"`
	NotReady []string `json:"not_ready,omitempty"` // the fields above that are false
}

// readyz answers readiness probes: 200 when the OVSDB and OpenFlow
// sessions are up, the bridge holds the latest committed desired state and,
// with WithBGP while BGP peers are configured, BGP is ready; else 503, and
// the body says which is missing. A write is not reconciled until its pass
// is done, so a large change makes the daemon briefly not ready.
func (h *handler) readyz(*http.Request) (int, any, error) {
	s := h.status()
	body := readiness{OpenFlowConnected: s.Connected, OVSDBConnected: s.OVSDBConnected, Reconciled: s.Reconciled}
	type check struct {
		ok   bool
		name string
	}
	checks := []check{{s.OVSDBConnected, "ovsdb_connected"}, {s.Connected, "openflow_connected"}, {s.Reconciled, "reconciled"}}
	if h.bgp != nil && len(h.state.ListBGPPeers()) > 0 {
		err := h.bgp.Ready()
		ready := err == nil
		body.BGPReady = &ready
		if err != nil {
			body.BGPError = err.Error()
		}
		checks = append(checks, check{ready, "bgp_ready"})
	}
	for _, c := range checks {
		if !c.ok {
			body.NotReady = append(body.NotReady, c.name)
		}
	}
	if len(body.NotReady) > 0 {
		return http.StatusServiceUnavailable, body, nil
	}
	body.Ready = true
	return http.StatusOK, body, nil
}
