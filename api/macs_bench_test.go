package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/l2gw/l2gw/app"
)

// macBatch is a POST body of n bindings, each with one IPv4 address.
func macBatchJSON(n int) string {
	var b strings.Builder
	b.WriteString(`{"macs":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"mac":"02:0b:00:%02x:%02x:%02x","ips":["2001:db8::%x:%x"]}`,
			i>>16&0xff, i>>8&0xff, i&0xff, i>>16, i&0xffff)
	}
	b.WriteString(`]}`)
	return b.String()
}

func TestHundredThousandMACs(t *testing.T) {
	if testing.Short() {
		t.Skip("large batch")
	}
	const n = 100_000
	c := newClient(t, nil)
	c.seed(seedNetwork, seedGateway, seedConn)
	resp := c.do("POST", "/v1/connections/backup-b/macs", macBatchJSON(n))
	if resp.status != http.StatusCreated {
		t.Fatalf("POST %d MACs: status %d, body %.300s", n, resp.status, resp.body)
	}
	var got macList
	if err := json.Unmarshal([]byte(c.get("/v1/connections/backup-b/macs")), &got); err != nil {
		t.Fatalf("decode MACs: %v", err)
	}
	if len(got.MACs) != n {
		t.Fatalf("GET MACs: %d bindings, want %d", len(got.MACs), n)
	}
}

// BenchmarkDecodeMACs measures decoding a batch of 100,000 bindings, the
// API's share of a large POST.
func BenchmarkDecodeMACs(b *testing.B) {
	body := macBatchJSON(100_000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/connections/c/macs", strings.NewReader(body))
		macs, _, err := decodeMACs(req)
		if err != nil || macs.Len() != 100_000 {
			b.Fatalf("decode: %v", err)
		}
	}
}

// BenchmarkPostMACs measures a whole POST of 100,000 bindings through the
// handler and a real state; each round starts from an empty set.
func BenchmarkPostMACs(b *testing.B) {
	body := macBatchJSON(100_000)
	c := newClient(b, nil)
	c.seed(seedNetwork, seedGateway, seedConn)
	const path = "/v1/connections/backup-b/macs"
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		b.StopTimer()
		if resp := c.do("PUT", path, `{"macs":[]}`); resp.status != http.StatusOK {
			b.Fatalf("clear MACs: status %d, body %s", resp.status, resp.body)
		}
		b.StartTimer()
		if resp := c.do("POST", path, body); resp.status != http.StatusCreated {
			b.Fatalf("POST MACs: status %d, body %.300s", resp.status, resp.body)
		}
	}
}

// BenchmarkListMACs measures a GET of a connection's 100,000 bindings
// through the handler: the list read from the state and streamed.
func BenchmarkListMACs(b *testing.B) {
	c := newClient(b, nil)
	c.seed(seedNetwork, seedGateway, seedConn, [2]string{"/v1/connections/backup-b/macs", macBatchJSON(100_000)})
	req := httptest.NewRequest("GET", "/v1/connections/backup-b/macs", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := &countingWriter{header: http.Header{}}
		c.h.ServeHTTP(w, req)
		if w.status != http.StatusOK || w.n < 100_000*len(`{"mac":"02:0b:00:00:00:00"}`) {
			b.Fatalf("GET MACs: status %d, %d bytes", w.status, w.n)
		}
	}
}

// countingWriter is a ResponseWriter that keeps only the status and the
// body's length, so that a benchmark measures the handler, not a buffer.
type countingWriter struct {
	header http.Header
	status int
	n      int
}

func (w *countingWriter) Header() http.Header { return w.header }

func (w *countingWriter) WriteHeader(status int) { w.status = status }

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}

// BenchmarkDecodeMillion measures the heap a batch of a million bindings
// takes to decode, streamed (JSON and NDJSON) and, as before streaming,
// whole: peak (sampled while decoding, garbage not yet collected included)
// and held after (the decoded batch, after a GC), per binding. The body is
// generated as it is read, never held by the benchmark.
func BenchmarkDecodeMillion(b *testing.B) {
	const n = 1_000_000
	for _, bc := range []struct {
		name   string
		ndjson bool
		decode func(io.Reader) (any, error)
	}{
		{"stream-json", false, func(r io.Reader) (any, error) { return decodeJSONBatch(r) }},
		{"stream-ndjson", true, func(r io.Reader) (any, error) { return decodeNDJSONBatch(r) }},
		{"whole-json", false, func(r io.Reader) (any, error) {
			var req struct {
				MACs []MACBinding `json:"macs"`
			}
			dec := json.NewDecoder(r)
			dec.DisallowUnknownFields()
			return req.MACs, dec.Decode(&req)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				runtime.GC()
				base := heapBytes()
				peak := base
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() { // samples the heap every millisecond
					defer close(done)
					t := time.NewTicker(time.Millisecond)
					defer t.Stop()
					for {
						select {
						case <-stop:
							return
						case <-t.C:
							peak = max(peak, heapBytes())
						}
					}
				}()
				batch, err := bc.decode(genBody(b, n, bc.ndjson, 0, bindingJSON))
				close(stop)
				<-done
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				held := heapBytes() - base
				runtime.KeepAlive(batch)
				b.ReportMetric(float64(peak-base)/n, "peak-B/binding")
				b.ReportMetric(float64(held)/n, "held-B/binding")
			}
		})
	}
}

// heapBytes is the heap's objects, live or not yet collected.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// BenchmarkEchoMillion measures the API's share of echoing a JSON batch of
// a million bindings: app's answer streamed as JSON (about 54 MB).
func BenchmarkEchoMillion(b *testing.B) {
	const n = 1_000_000
	macs := make([]app.MACBinding, n)
	for i := range macs {
		macs[i] = app.MACBinding{MAC: fmt.Sprintf("02:0b:%02x:%02x:%02x:%02x", i>>24&0xff, i>>16&0xff, i>>8&0xff, i&0xff),
			IPs: []string{fmt.Sprintf("2001:db8::%x:%x", i>>16, i&0xffff)}}
	}
	b.ReportAllocs()
	for b.Loop() {
		w := &countingWriter{header: http.Header{}}
		if err := (macList{MACs: macs}).writeJSON(w); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(w.n))
	}
}
