package api

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/l2gw/l2gw/app"
)

// FlowsFunc reports the bridge's flows by owner, with their differences
// from the desired state (app's Reconciler.Flows).
type FlowsFunc func(ctx context.Context) (app.FlowReport, error)

// WithFlows makes the handler serve GET /v1/flows from flows; without it
// that route answers 503 unavailable.
func WithFlows(flows FlowsFunc) HandlerOption {
	return func(o *handlerOptions) { o.flows = flows }
}

// flowsQuery lists the query parameters GET /v1/flows takes.
var flowsQuery = []string{"network", "connection", "diff"}

// getFlows serves GET /v1/flows[?network=N&connection=C&diff=true]: the
// flows of the network's and connection's owners (every owner without
// them), only the owners that differ from the desired state with diff.
func (h *handler) getFlows(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	for key := range q {
		if !slices.Contains(flowsQuery, key) {
			return 0, nil, invalid("", "unknown query parameter "+strconv.Quote(key)+"; GET /v1/flows takes network, connection and diff")
		}
	}
	diff := false
	if s := q.Get("diff"); s != "" {
		var err error
		if diff, err = strconv.ParseBool(s); err != nil {
			return 0, nil, invalid("", "diff="+strconv.Quote(s)+": want true or false")
		}
	}
	network, connection := q.Get("network"), q.Get("connection")
	if network != "" {
		if _, err := h.state.GetNetwork(network); err != nil {
			return 0, nil, err
		}
	}
	if connection != "" {
		if _, err := h.state.GetConnection(connection); err != nil {
			return 0, nil, err
		}
	}
	if h.flows == nil {
		return 0, nil, &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable,
			message: "this daemon has no switch to read flows from"}
	}
	rep, err := h.flows(r.Context())
	if err != nil {
		return 0, nil, err
	}
	rep = rep.Only(network, connection)
	if diff {
		rep = rep.Differences()
	}
	return http.StatusOK, flowReportOf(rep), nil
}
