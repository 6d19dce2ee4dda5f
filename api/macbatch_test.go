package api

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const batchPath = "/v1/connections/backup-b/macs"

// bindingJSON is binding i of a generated batch: one IPv6 address.
func bindingJSON(i int) string {
	return fmt.Sprintf(`{"mac":"02:0b:%02x:%02x:%02x:%02x","ips":["2001:db8::%x:%x"]}`,
		i>>24&0xff, i>>16&0xff, i>>8&0xff, i&0xff, i>>16, i&0xffff)
}

// genBody streams a batch of n bindings (JSON or NDJSON) through a pipe, so
// that the test never holds it: element i is elem(i), and pad spaces
// follow each element.
func genBody(t testing.TB, n int, ndjson bool, pad int, elem func(i int) string) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 64<<10)
		spaces := strings.Repeat(" ", pad)
		if !ndjson {
			w.WriteString(`{"macs":[`)
		}
		for i := range n {
			if i > 0 && !ndjson {
				w.WriteByte(',')
			}
			w.WriteString(elem(i))
			w.WriteString(spaces)
			if ndjson {
				w.WriteByte('\n')
			}
		}
		if !ndjson {
			w.WriteString(`]}`)
		}
		if err := w.Flush(); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.Close()
	}()
	t.Cleanup(func() { pr.Close() }) // ends the writer of a body left unread
	return pr
}

// post sends body as contentType to the handler of c.
func (c *client) send(method, path, contentType string, body io.Reader) response {
	c.t.Helper()
	req := httptest.NewRequest(method, path, body)
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

func TestMACBatchNDJSON(t *testing.T) {
	c := newClient(t, nil)
	c.seed(seedNetwork, seedGateway, seedConn)
	// JSON answers every binding, as it always has.
	c.want("POST", batchPath, `{"macs":[{"mac":"02-0B-00-00-00-01","ips":["192.0.2.21"]}]}`, 201,
		`{"macs":[{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21"]}]}`)
	// NDJSON answers the count; blank lines and a last line without a
	// newline are fine, as is a Content-Type parameter.
	resp := c.doType("POST", batchPath, "application/x-ndjson; charset=utf-8",
		"{\"mac\":\"02:0b:00:00:00:02\",\"ips\":[\"192.0.2.22\",\"2001:db8::22\"]}\r\n\n  \n{\"mac\":\"02:0b:00:00:00:03\",\"origin\":\"static\"}")
	if resp.status != http.StatusCreated {
		t.Fatalf("POST NDJSON: status %d, body %s", resp.status, resp.body)
	}
	assertJSON(t, "POST NDJSON", resp.body, `{"count":2}`)
	c.want("GET", batchPath, "", 200, `{"macs":[{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21"]},`+
		`{"mac":"02:0b:00:00:00:02","ips":["192.0.2.22","2001:db8::22"]},{"mac":"02:0b:00:00:00:03"}]}`)

	resp = c.doType("PUT", batchPath, "application/x-ndjson", `{"mac":"02:0b:00:00:00:09","ips":["192.0.2.29"]}`+"\n")
	if resp.status != http.StatusOK {
		t.Fatalf("PUT NDJSON: status %d, body %s", resp.status, resp.body)
	}
	assertJSON(t, "PUT NDJSON", resp.body, `{"count":1}`)
	c.want("GET", batchPath, "", 200, `{"macs":[{"mac":"02:0b:00:00:00:09","ips":["192.0.2.29"]}]}`)
}

func TestMACBatchRejectsWhole(t *testing.T) {
	c := newClient(t, nil)
	c.seed(seedNetwork, seedGateway, seedConn, [2]string{batchPath, `{"macs":[{"mac":"02:0b:00:00:00:01"}]}`})
	const ok1, ok2 = `{"mac":"02:0b:00:00:00:02"}`, `{"mac":"02:0b:00:00:00:03","ips":["192.0.2.23"]}`
	json := func(elems ...string) string { return `{"macs":[` + strings.Join(elems, ",") + `]}` }
	nd := func(lines ...string) string { return strings.Join(lines, "\n") + "\n" }
	for _, tc := range []struct {
		name, ct, body string
		status         int
		code, field    string
	}{
		{"json unknown field", mediaJSON, json(ok1, `{"mac":"02:0b:00:00:00:05","ip":["192.0.2.5"]}`), 400, codeInvalid, "macs[1].ip"},
		{"json ips a string", mediaJSON, json(ok1, ok2, `{"mac":"02:0b:00:00:00:05","ips":"192.0.2.5"}`), 400, codeInvalid, "macs[2].ips"},
		{"json ip a number", mediaJSON, json(`{"mac":"02:0b:00:00:00:05","ips":[5]}`), 400, codeInvalid, "macs[0].ips"},
		{"json element a string", mediaJSON, json(ok1, `"x"`), 400, codeInvalid, "macs[1]"},
		{"json malformed element", mediaJSON, json(ok1, `{"mac":}`), 400, codeInvalid, "macs[1]"},
		{"json truncated", mediaJSON, `{"macs":[` + ok1 + `,` + ok2, 400, codeInvalid, ""},
		{"json truncated in element", mediaJSON, `{"macs":[` + ok1 + `,{"mac":"02`, 400, codeInvalid, "macs[1]"},
		{"json bad MAC at the end", mediaJSON, json(ok1, ok2, `{"mac":"ff:ff:ff:ff:ff:ff"}`), 400, codeInvalid, "macs[2].mac"},
		{"json bad IP", mediaJSON, json(ok1, `{"mac":"02:0b:00:00:00:05","ips":["192.0.2.999"]}`), 400, codeInvalid, "macs[1].ips[0]"},
		{"json read-only origin", mediaJSON, json(ok1, `{"mac":"02:0b:00:00:00:05","origin":"evpn"}`), 400, codeInvalid, "macs[1].origin"},
		{"json unknown top field", mediaJSON, `{"macs":[],"more":1}`, 400, codeInvalid, "more"},
		{"json data after", mediaJSON, json(ok1) + `{}`, 400, codeInvalid, ""},
		{"json macs an object", mediaJSON, `{"macs":{}}`, 400, codeInvalid, "macs"},
		{"json macs null", mediaJSON, `{"macs":null}`, 400, codeInvalid, "macs"},
		{"json an array", mediaJSON, `[]`, 400, codeInvalid, ""},
		{"json empty", mediaJSON, ``, 400, codeInvalid, ""},
		{"ndjson unknown field", mediaNDJSON, nd(ok1, `{"mac":"02:0b:00:00:00:05","ip":["192.0.2.5"]}`), 400, codeInvalid, "macs[1].ip"},
		{"ndjson malformed line", mediaNDJSON, nd(ok1, ok2, `{"mac":"02:0b:00:00:00:05"`), 400, codeInvalid, "macs[2]"},
		{"ndjson two on a line", mediaNDJSON, nd(ok1, ok2+ok1), 400, codeInvalid, "macs[1]"},
		{"ndjson an array line", mediaNDJSON, nd(ok1, `[]`), 400, codeInvalid, "macs[1]"},
		{"ndjson bad MAC at the end", mediaNDJSON, nd(ok1, ok2, `{"mac":"01:00:5e:00:00:01"}`), 400, codeInvalid, "macs[2].mac"},
		{"ndjson duplicate MAC", mediaNDJSON, nd(ok1, ok2, ok1), 400, codeInvalid, "macs[2].mac"},
		{"ndjson empty", mediaNDJSON, "\n\n", 400, codeInvalid, "macs"},
		{"other media type", "text/plain", json(ok1), 415, codeUnsupportedMedia, ""},
	} {
		for _, method := range []string{"POST", "PUT"} {
			resp := c.doType(method, batchPath, tc.ct, tc.body)
			wantError(t, method+" "+tc.name, resp, tc.status, tc.code, tc.field)
		}
	}
	c.want("GET", batchPath, "", 200, `{"macs":[{"mac":"02:0b:00:00:00:01"}]}`)
}

func TestMACBatchLineNumber(t *testing.T) {
	c := newClient(t, nil)
	c.seed(seedNetwork, seedGateway, seedConn)
	resp := c.doType("POST", batchPath, mediaNDJSON, "{\"mac\":\"02:0b:00:00:00:01\"}\n\n{\"mac\":5}\n")
	wantError(t, "bad line", resp, 400, codeInvalid, "macs[1].mac")
	if !strings.Contains(resp.body, "line 3: ") {
		t.Errorf("error does not name line 3: %s", resp.body)
	}
}

// TestMACBatchOverOldCap sends bodies of 40 MiB, more than any other
// route takes, streamed: JSON and NDJSON, good, and bad in their last
// binding (which changes nothing).
func TestMACBatchOverOldCap(t *testing.T) {
	if testing.Short() {
		t.Skip("40 MiB bodies")
	}
	const n, pad = 5_000, 8 << 10 // 5,000 bindings, each padded to 8 KiB: 40 MiB
	c := newClient(t, nil)
	c.seed(seedNetwork, seedGateway, seedConn)
	bad := func(i int) string {
		if i == n-1 {
			return `{"mac":"02:0c:00:00:00:00","ips":["2001:db8::zz"]}`
		}
		return bindingJSON(i)
	}
	for _, ct := range []string{mediaJSON, mediaNDJSON} {
		resp := c.send("PUT", batchPath, ct, genBody(t, n, ct == mediaNDJSON, pad, bad))
		wantError(t, "PUT bad last "+ct, resp, 400, codeInvalid, fmt.Sprintf("macs[%d].ips[0]", n-1))
		c.want("GET", batchPath, "", 200, `{"macs":[]}`)
	}
	resp := c.send("POST", batchPath, mediaNDJSON, genBody(t, n, true, pad, bindingJSON))
	if resp.status != http.StatusCreated {
		t.Fatalf("POST NDJSON: status %d, body %.300s", resp.status, resp.body)
	}
	assertJSON(t, "POST NDJSON", resp.body, fmt.Sprintf(`{"count":%d}`, n))
	resp = c.send("PUT", batchPath, mediaJSON, genBody(t, n, false, pad, bindingJSON))
	if resp.status != http.StatusOK {
		t.Fatalf("PUT JSON: status %d, body %.300s", resp.status, resp.body)
	}
	if got := strings.Count(resp.body, `"mac":`); got != n {
		t.Errorf("PUT JSON answered %d bindings, want %d", got, n)
	}
}

// TestMACBatchTooLarge sends a body past maxBatchBodyBytes: 413.
func TestMACBatchTooLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("256 MiB body")
	}
	c := newClient(t, nil)
	c.seed(seedNetwork, seedGateway, seedConn)
	resp := c.send("POST", batchPath, mediaNDJSON, &blankLines{n: maxBatchBodyBytes + 1})
	wantError(t, "POST 256 MiB", resp, 413, codeBodyTooLarge, "")
	if !strings.Contains(resp.body, "larger than 256 MiB") {
		t.Errorf("413 does not say 256 MiB: %s", resp.body)
	}
	// Other routes keep 32 MiB.
	resp = c.send("POST", "/v1/networks", mediaJSON, io.MultiReader(strings.NewReader(`{"name":"`),
		strings.NewReader(strings.Repeat("a", maxBodyBytes))))
	wantError(t, "POST network 32 MiB", resp, 413, codeBodyTooLarge, "")
	if !strings.Contains(resp.body, "larger than 32 MiB") {
		t.Errorf("413 does not say 32 MiB: %s", resp.body)
	}
}
