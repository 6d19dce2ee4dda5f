// Package api serves l2gwd's HTTP API v1 (JSON) over the desired state held
// by package app. It owns the wire: routing, the JSON types of requests and
// answers (Network, RemoteGateway, BGPPeer, Connection, MACBinding, MACMove,
// Status, LearnedMAC, FlowReport, each in the file of its handler), converted to
// and from app's Go types at the handler, request decoding, and the error
// body: app's error kinds mapped to HTTP statuses and codes, app's field
// paths rendered as JSON paths ("macs[3].ips[0]"). It never validates API
// objects itself (app does) and never touches the switch.
package api

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/l2gw/l2gw/app"
)

// handler holds what every route needs.
type handler struct {
	state   *app.State
	status  func() app.Status
	log     *slog.Logger
	metrics *apiMetrics // nil without WithMetrics
	flows   FlowsFunc   // nil without WithFlows
	learned Learner     // nil without WithLearned
	bgp     BGP         // nil without WithBGP
	// endpoints reports remote gateways' endpoints; nil without
	// WithEndpoints.
	endpoints func(app.RemoteGateway) []app.EndpointStatus
}

// NewHandler serves the v1 API over state; status reports the switch side
// for GET /v1/status and GET /readyz. It also answers GET /healthz
// (liveness), GET /v1/flows (503 without WithFlows), GET and DELETE
// /v1/networks/{name}/learned (503 without WithLearned) and, with WithMetrics,
// GET /metrics; WithBGP adds the BGP sessions to the BGP peers' answers,
// WithEndpoints the remote gateways' endpoints to theirs.
// A nil log discards the request log.
func NewHandler(state *app.State, status func() app.Status, log *slog.Logger, opts ...HandlerOption) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var o handlerOptions
	for _, opt := range opts {
		opt(&o)
	}
	h := &handler{state: state, status: status, log: log, flows: o.flows, learned: o.learned, bgp: o.bgp, endpoints: o.endpoints}
	if o.registry != nil {
		h.metrics = newAPIMetrics(o.registry)
	}
	r := mux.NewRouter()

	h.route(r, "/v1/networks", http.MethodPost, h.createNetwork)
	h.route(r, "/v1/networks", http.MethodGet, h.listNetworks)
	h.route(r, "/v1/networks/{name}", http.MethodGet, h.getNetwork)
	h.route(r, "/v1/networks/{name}", http.MethodPut, h.replaceNetwork)
	h.route(r, "/v1/networks/{name}", http.MethodDelete, h.deleteNetwork)
	h.route(r, "/v1/networks/{name}/learned", http.MethodGet, h.getLearned)
	h.route(r, "/v1/networks/{name}/learned", http.MethodDelete, h.flushLearned)
	h.route(r, "/v1/networks/{name}/remote-macs", http.MethodGet, h.getRemoteMACs)

	h.route(r, "/v1/remote-gateways", http.MethodPost, h.createRemoteGateway)
	h.route(r, "/v1/remote-gateways", http.MethodGet, h.listRemoteGateways)
	h.route(r, "/v1/remote-gateways/{name}", http.MethodGet, h.getRemoteGateway)
	h.route(r, "/v1/remote-gateways/{name}", http.MethodPut, h.replaceRemoteGateway)
	h.route(r, "/v1/remote-gateways/{name}", http.MethodDelete, h.deleteRemoteGateway)

	h.route(r, "/v1/bgp-peers", http.MethodPost, h.createBGPPeer)
	h.route(r, "/v1/bgp-peers", http.MethodGet, h.listBGPPeers)
	h.route(r, "/v1/bgp-peers/{name}", http.MethodGet, h.getBGPPeer)
	h.route(r, "/v1/bgp-peers/{name}", http.MethodPut, h.replaceBGPPeer)
	h.route(r, "/v1/bgp-peers/{name}", http.MethodDelete, h.deleteBGPPeer)

	h.route(r, "/v1/connections", http.MethodPost, h.createConnection)
	h.route(r, "/v1/connections", http.MethodGet, h.listConnections)
	h.route(r, "/v1/connections/{name}", http.MethodGet, h.getConnection)
	h.route(r, "/v1/connections/{name}", http.MethodDelete, h.deleteConnection)

	h.routeBatch(r, "/v1/connections/{name}/macs", http.MethodPost, h.addMACs)
	h.routeBatch(r, "/v1/connections/{name}/macs", http.MethodPut, h.replaceMACs)
	h.route(r, "/v1/connections/{name}/macs", http.MethodGet, h.listMACs)
	h.route(r, "/v1/connections/{name}/macs/{mac}", http.MethodDelete, h.deleteMAC)
	h.route(r, movePath, http.MethodPost, h.moveMACs)

	h.route(r, "/v1/status", http.MethodGet, h.getStatus)
	h.route(r, "/v1/flows", http.MethodGet, h.getFlows)
	h.route(r, "/v1/openapi.json", http.MethodGet, h.getOpenAPI)
	r.Handle("/healthz", h.observed("/healthz", http.HandlerFunc(healthz))).Methods(http.MethodGet)
	h.route(r, readyPath, http.MethodGet, h.readyz)
	if o.registry != nil {
		r.Handle(metricsPath, h.observed(metricsPath, h.metricsHandler(o.registry))).Methods(http.MethodGet)
	}

	r.NotFoundHandler = h.observed("", h.serve(notFound))
	r.MethodNotAllowedHandler = h.observed("", methodNotAllowed(r, h.serve(notAllowed)))
	return r
}

// route registers fn for method on the path template tmpl.
func (h *handler) route(r *mux.Router, tmpl, method string, fn apiFunc) {
	r.Handle(tmpl, h.observed(tmpl, h.serve(fn))).Methods(method)
}

// routeBatch registers fn, a MAC batch route, for method on tmpl: its body
// may reach maxBatchBodyBytes and has batch timeouts (see server.go).
func (h *handler) routeBatch(r *mux.Router, tmpl, method string, fn apiFunc) {
	r.Handle(tmpl, h.observed(tmpl, h.batchDeadlines(h.serveLimit(maxBatchBodyBytes, fn)))).Methods(method)
}

// healthz answers liveness probes.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok"))
}

// notFound answers a path no route knows.
func notFound(r *http.Request) (int, any, error) {
	return 0, nil, &apiError{status: http.StatusNotFound, code: codeNotFound,
		message: "no such path: " + r.URL.Path}
}

// notAllowed answers a known path asked with a method it does not serve.
func notAllowed(r *http.Request) (int, any, error) {
	return 0, nil, &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed",
		message: "method " + r.Method + " is not allowed on " + r.URL.Path}
}

// methodNotAllowed sets the Allow header (the methods the request's path
// serves) before calling next.
func methodNotAllowed(r *mux.Router, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var allowed []string
		// The walk function never fails, so neither does Walk.
		_ = r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
			var m mux.RouteMatch
			if route.Match(req, &m) || m.MatchErr == mux.ErrMethodMismatch {
				// A route without methods cannot mismatch one.
				if methods, err := route.GetMethods(); err == nil {
					allowed = append(allowed, methods...)
				}
			}
			return nil
		})
		slices.Sort(allowed)
		w.Header().Set("Allow", strings.Join(slices.Compact(allowed), ", "))
		next.ServeHTTP(w, req)
	})
}
