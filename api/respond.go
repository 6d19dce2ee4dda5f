package api

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// apiFunc handles one route: it returns the status and the body to send as
// JSON (nil for no body), or an error that writeError turns into a response.
type apiFunc func(r *http.Request) (status int, body any, err error)

// serve adapts fn to an http.Handler, capping the request body at
// maxBodyBytes.
func (h *handler) serve(fn apiFunc) http.Handler {
	return h.serveLimit(maxBodyBytes, fn)
}

// serveLimit is serve with the request body capped at limit bytes.
func (h *handler) serveLimit(limit int64, fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		status, body, err := fn(r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		h.writeJSON(w, r, status, body)
	})
}

// streamer is a response body that writes its own JSON, the same bytes
// json.Encoder would, without holding all of them at once.
type streamer interface {
	writeJSON(w io.Writer) error
}

// streamList writes {"KEY":[...]} as json.Encoder would, n elements of
// type T, element i filled in by fill, one at a time through a small
// buffer: a list of a million is never whole in memory as JSON, nor as Ts
// (one T serves every element).
func streamList[T any](w io.Writer, key string, n int, fill func(i int, v *T)) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(`{"` + key + `":[`)
	var v T // one for all: json.Marshal would move each to the heap
	for i := range n {
		if i > 0 {
			bw.WriteByte(',')
		}
		fill(i, &v)
		data, err := json.Marshal(&v)
		if err != nil {
			return err
		}
		bw.Write(data)
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

// writeJSON sends body as JSON with status.
func (h *handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var err error
	if s, ok := body.(streamer); ok {
		err = s.writeJSON(w)
	} else {
		err = json.NewEncoder(w).Encode(body)
	}
	if err != nil {
		h.log.WarnContext(r.Context(), "write response", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}

// logged logs each request to next at debug level under the route template
// tmpl ("" for requests no route matched).
func (h *handler) logged(tmpl string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "http request",
			slog.String("method", r.Method),
			slog.String("route", tmpl),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)))
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader records status and passes it on.
func (s *statusRecorder) WriteHeader(status int) {
	s.status = status
	s.ResponseWriter.WriteHeader(status)
}

// Unwrap gives http.ResponseController the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter {
	return s.ResponseWriter
}
