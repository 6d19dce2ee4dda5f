package api

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// startServer serves h through NewServer(h, opts) on a loopback port and
// returns the base URL (https:// when opts.TLS is set).
func startServer(t *testing.T, h http.Handler, opts ServerOptions) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := NewServer(h, opts)
	done := make(chan error, 1)
	go func() { done <- Serve(srv, ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	scheme := "http://"
	if opts.TLS != nil {
		scheme = "https://"
	}
	return scheme + ln.Addr().String()
}

// sendHTTP makes a request with an Authorization header (none if "") and reads
// the whole answer.
func sendHTTP(t *testing.T, client *http.Client, method, url, authorization, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, url, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

func TestTokenIsRequiredOnEveryEndpointButHealthz(t *testing.T) {
	const token = "s3cret-t0ken"
	base := startServer(t, newClient(t, nil).h, ServerOptions{Token: token})
	c := http.DefaultClient
	for _, tc := range []struct {
		what, method, path, auth, challenge string
	}{
		{"no token", "GET", "/v1/networks", "", `Bearer realm="l2gwd"`},
		{"wrong token", "GET", "/v1/networks", "Bearer wrong", `Bearer realm="l2gwd", error="invalid_token"`},
		{"token prefix", "GET", "/v1/status", "Bearer " + token[:len(token)-1], `Bearer realm="l2gwd", error="invalid_token"`},
		{"token with a suffix", "GET", "/v1/status", "Bearer " + token + "x", `Bearer realm="l2gwd", error="invalid_token"`},
		{"another scheme", "GET", "/v1/status", "Basic " + token, `Bearer realm="l2gwd"`},
		{"bare token", "GET", "/v1/status", token, `Bearer realm="l2gwd"`},
		{"empty bearer", "GET", "/v1/status", "Bearer ", `Bearer realm="l2gwd"`},
		{"write without token", "POST", "/v1/networks", "", `Bearer realm="l2gwd"`},
		{"unknown path without token", "GET", "/v1/secrets", "", `Bearer realm="l2gwd"`},
		{"healthz by POST", "POST", "/healthz", "", `Bearer realm="l2gwd"`},
	} {
		resp := sendHTTP(t, c, tc.method, base+tc.path, tc.auth, `{"name":"intruder"}`)
		wantError(t, tc.what, resp, http.StatusUnauthorized, "unauthorized", "")
		if got := resp.header.Get("WWW-Authenticate"); got != tc.challenge {
			t.Errorf("%s: WWW-Authenticate %q, want %q", tc.what, got, tc.challenge)
		}
	}

	if resp := sendHTTP(t, c, "GET", base+"/healthz", "", ""); resp.status != 200 || resp.body != "ok" {
		t.Errorf("GET /healthz without token: %d %q, want 200 \"ok\"", resp.status, resp.body)
	}
	resp := sendHTTP(t, c, "GET", base+"/v1/networks", "Bearer "+token, "")
	if resp.status != 200 {
		t.Fatalf("right token: status %d, body %s", resp.status, resp.body)
	}
	assertJSON(t, "right token", resp.body, `{"networks":[]}`) // the refused POST created nothing
	if resp := sendHTTP(t, c, "GET", base+"/v1/status", "bearer "+token, ""); resp.status != 200 {
		t.Errorf("scheme in lower case (RFC 7235 says it is case-insensitive): status %d", resp.status)
	}
	if resp := sendHTTP(t, c, "POST", base+"/v1/networks", "Bearer "+token, `{"name":"ok"}`); resp.status != 201 {
		t.Errorf("write with the token: status %d, body %s", resp.status, resp.body)
	}
}

func TestWithoutTokenTheAPIIsOpen(t *testing.T) {
	base := startServer(t, newClient(t, nil).h, ServerOptions{})
	if resp := sendHTTP(t, http.DefaultClient, "GET", base+"/v1/networks", "", ""); resp.status != 200 {
		t.Fatalf("no token configured: status %d, body %s", resp.status, resp.body)
	}
}
