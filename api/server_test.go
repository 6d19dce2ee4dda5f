package api

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/l2gw/l2gw/internal/testpki"
)

// tlsClient makes HTTPS requests with cfg.
func tlsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

// presenting makes a client present cert whatever the server asks for.
func presenting(cert tls.Certificate) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
}

// writeFile writes data to name in dir and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTLSWithClientCertificates(t *testing.T) {
	ca, otherCA := testpki.NewCA(t, "l2gw-test-ca"), testpki.NewCA(t, "another-ca")
	dir := t.TempDir()
	server := ca.Issue(t, "l2gwd-test-server", x509.ExtKeyUsageServerAuth).WriteFiles(t, dir)
	serverTLS, err := ServerTLS(server.Cert, server.Key, ca.WriteFile(t, dir))
	if err != nil {
		t.Fatalf("ServerTLS: %v", err)
	}
	base := startServer(t, newClient(t, nil).h, ServerOptions{TLS: serverTLS})

	client := ca.Issue(t, "l2gw-test-client", x509.ExtKeyUsageClientAuth).TLS(t)
	good := tlsClient(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client}})
	if resp := sendHTTP(t, good, "GET", base+"/v1/networks", "", ""); resp.status != 200 {
		t.Fatalf("client with a certificate of the client CA: status %d, body %s", resp.status, resp.body)
	}
	// In TLS 1.2 the server checks the client's certificate inside the
	// handshake, so the client sees why it was refused; in TLS 1.3 it checks
	// it after the client has finished, so the client may see only a closed
	// connection. Both must refuse.
	for _, tc := range []struct {
		what  string
		cfg   *tls.Config
		why12 string // the alert a TLS 1.2 client gets
	}{
		{"client without certificate", &tls.Config{RootCAs: ca.Pool()}, "handshake failure"},
		// Go's client would not offer a certificate that the server's list
		// of acceptable CAs rules out: force it, as a hostile client would.
		{"client certificate of another CA", &tls.Config{RootCAs: ca.Pool(),
			GetClientCertificate: presenting(otherCA.Issue(t, "l2gw-test-client", x509.ExtKeyUsageClientAuth).TLS(t))},
			"unknown certificate authority"},
		{"client that does not trust the server's CA", &tls.Config{RootCAs: otherCA.Pool(),
			Certificates: []tls.Certificate{client}}, "certificate signed by unknown authority"},
	} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			cfg := tc.cfg.Clone()
			cfg.MinVersion, cfg.MaxVersion = version, version
			for _, path := range []string{"/v1/networks", "/healthz"} {
				what := fmt.Sprintf("%s, %s: GET %s", tc.what, tls.VersionName(version), path)
				resp, err := tlsClient(cfg).Get(base + path)
				if err == nil {
					resp.Body.Close()
					t.Errorf("%s answered %s, want the connection refused", what, resp.Status)
					continue
				}
				if version == tls.VersionTLS12 && !strings.Contains(err.Error(), tc.why12) {
					t.Errorf("%s: %v, want it to mention %q", what, err, tc.why12)
				}
			}
		}
	}

	plain := strings.Replace(base, "https://", "http://", 1)
	if resp := sendHTTP(t, http.DefaultClient, "GET", plain+"/v1/networks", "", ""); resp.status != http.StatusBadRequest {
		t.Errorf("plain HTTP to the TLS port: status %d, want 400; body %s", resp.status, resp.body)
	}
}

func TestServerTLSRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	server := testpki.NewCA(t, "l2gw-test-ca").Issue(t, "l2gwd-test-server", x509.ExtKeyUsageServerAuth).WriteFiles(t, dir)
	cert, key := server.Cert, server.Key
	for _, tc := range []struct {
		what                string
		cert, key, clientCA string
		want                string
	}{
		{"missing certificate", filepath.Join(dir, "none.pem"), key, "", "load API TLS certificate"},
		{"key of the certificate swapped", key, cert, "", "load API TLS certificate"},
		{"missing client CA", cert, key, filepath.Join(dir, "none.pem"), "load API client CA"},
		{"client CA without certificate", cert, key, writeFile(t, dir, "empty.pem", []byte("nothing\n")), "no PEM certificate"},
	} {
		if _, err := ServerTLS(tc.cert, tc.key, tc.clientCA); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.what, err, tc.want)
		}
	}
	cfg, err := ServerTLS(cert, key, "")
	if err != nil {
		t.Fatalf("ServerTLS without client CA: %v", err)
	}
	if cfg.ClientAuth != tls.NoClientCert {
		t.Errorf("without a client CA, client authentication is %v, want none", cfg.ClientAuth)
	}
}

func TestInFlightRequestsAreCapped(t *testing.T) {
	const capacity = 2
	entered, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/block", func(w http.ResponseWriter, _ *http.Request) {
		entered <- struct{}{}
		<-release
	})
	mux.HandleFunc("/quick", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/healthz", healthz)
	const token = "t0ken"
	base := startServer(t, mux, ServerOptions{Token: token, MaxInFlight: capacity})
	auth := "Bearer " + token
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the server closes, should the test stop early

	blocked := make(chan response, capacity)
	for range capacity {
		go func() {
			req, _ := http.NewRequest("GET", base+"/block", nil)
			req.Header.Set("Authorization", auth)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				blocked <- response{body: err.Error()}
				return
			}
			resp.Body.Close()
			blocked <- response{status: resp.StatusCode}
		}()
	}
	for range capacity {
		<-entered
	}

	resp := sendHTTP(t, http.DefaultClient, "GET", base+"/quick", auth, "")
	wantError(t, "request over the cap", resp, http.StatusServiceUnavailable, "overloaded", "")
	if got := resp.header.Get("Retry-After"); got != "1" {
		t.Errorf("request over the cap: Retry-After %q, want \"1\"", got)
	}
	if resp := sendHTTP(t, http.DefaultClient, "GET", base+"/quick", "", ""); resp.status != http.StatusUnauthorized {
		t.Errorf("request without token over the cap: status %d, want 401 (checked before the cap)", resp.status)
	}
	if resp := sendHTTP(t, http.DefaultClient, "GET", base+"/healthz", "", ""); resp.status != 200 {
		t.Errorf("liveness probe while the API is full: status %d, want 200", resp.status)
	}

	unblock()
	for range capacity {
		if r := <-blocked; r.status != 200 {
			t.Errorf("request within the cap: status %d %s, want 200", r.status, r.body)
		}
	}
	if resp := sendHTTP(t, http.DefaultClient, "GET", base+"/quick", auth, ""); resp.status != 200 {
		t.Errorf("after the blocked requests ended: status %d, want 200 (slots given back)", resp.status)
	}
}

func TestServerTimeoutsFitBulkBatches(t *testing.T) {
	srv := NewServer(http.NotFoundHandler(), ServerOptions{})
	// The largest body the API reads, over a 1 Mbit/s link.
	slowUpload := time.Duration(maxBodyBytes*8/1_000_000) * time.Second
	switch {
	case srv.ReadHeaderTimeout <= 0 || srv.ReadHeaderTimeout > 30*time.Second:
		t.Errorf("ReadHeaderTimeout %v: want a few seconds against clients that never finish a header", srv.ReadHeaderTimeout)
	case srv.ReadTimeout < slowUpload:
		t.Errorf("ReadTimeout %v: a %d-byte body at 1 Mbit/s takes %v", srv.ReadTimeout, maxBodyBytes, slowUpload)
	case srv.ReadTimeout > 10*time.Minute:
		t.Errorf("ReadTimeout %v: want a bound on how long a client may hold a connection", srv.ReadTimeout)
	case srv.WriteTimeout < srv.ReadTimeout+time.Minute:
		t.Errorf("WriteTimeout %v: it runs from the end of the header, so it must cover ReadTimeout %v and the work",
			srv.WriteTimeout, srv.ReadTimeout)
	case srv.IdleTimeout <= 0:
		t.Errorf("IdleTimeout %v: idle keep-alive connections must be closed", srv.IdleTimeout)
	}
}
