package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/l2gw/l2gw/app"
)

// Learner reads and flushes the MACs OVS learned in a network (app's
// Reconciler).
type Learner interface {
	Learned(ctx context.Context, network string) ([]app.LearnedMAC, error)
	FlushLearned(ctx context.Context, network string) (int, error)
}

// WithLearned makes the handler serve GET and DELETE
// /v1/networks/{name}/learned from l; without it those routes answer 503
// unavailable.
func WithLearned(l Learner) HandlerOption {
	return func(o *handlerOptions) { o.learned = l }
}

// LearnedMAC is one MAC OVS learned in a network: an element of the
// answer of GET /v1/networks/{name}/learned.
type LearnedMAC struct {
	MAC string `json:"mac"`
	// Via is where the MAC was learned: "port NAME" (or "port NUMBER")
	// for a local port, "gateway GW (connection CONN)" for a remote
	// gateway.
	Via string `json:"via"`
	// AgeSeconds is how long the entry has existed, in whole seconds:
	// since the MAC was first learned, not since it was last seen.
	AgeSeconds int64 `json:"age_seconds"`
}

// learnedList is the body of GET /v1/networks/{name}/learned.
type learnedList struct {
	Learned []LearnedMAC `json:"learned"`
}

// flushed is the body of DELETE /v1/networks/{name}/learned.
type flushed struct {
	Flushed int `json:"flushed"`
}

// learner returns the handler's Learner once the path's network is known
// to exist: a not-found error for an unknown network, 503 without one.
func (h *handler) learner(r *http.Request) (Learner, string, error) {
	name := mux.Vars(r)["name"]
	if _, err := h.state.GetNetwork(name); err != nil {
		return nil, "", err
	}
	if h.learned == nil {
		return nil, "", &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable,
			message: "this daemon has no switch to read learned MACs from"}
	}
	return h.learned, name, nil
}

// getLearned serves GET /v1/networks/{name}/learned: the MACs OVS learned
// in the network.
func (h *handler) getLearned(r *http.Request) (int, any, error) {
	l, name, err := h.learner(r)
	if err != nil {
		return 0, nil, err
	}
	macs, err := l.Learned(r.Context(), name)
	if err != nil {
		return 0, nil, err
	}
	list := learnedList{Learned: make([]LearnedMAC, len(macs))}
	for i, m := range macs {
		list.Learned[i] = LearnedMAC{MAC: m.MAC, Via: m.Via, AgeSeconds: int64(m.Age / time.Second)}
	}
	return http.StatusOK, list, nil
}

// flushLearned serves DELETE /v1/networks/{name}/learned: it forgets the
// MACs OVS learned in the network and says how many there were.
func (h *handler) flushLearned(r *http.Request) (int, any, error) {
	l, name, err := h.learner(r)
	if err != nil {
		return 0, nil, err
	}
	n, err := l.FlushLearned(r.Context(), name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, flushed{Flushed: n}, nil
}
