package main

import (
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/l2gw/l2gw/api"
	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/internal/testpki"
)

// testToken is the bearer token of newSecureAPI's server.
const testToken = "s3cret-t0ken"

// secureAPI is the real API served over TLS with a token, and the files a
// client needs to reach it.
type secureAPI struct {
	url       string
	ca        string // CA bundle that verifies the server
	tokenFile string
	cert, key string // a client certificate the server accepts
	otherCA   string // CA bundle of a CA that did not sign the server's certificate
}

// newSecureAPI serves the API over HTTPS with testToken; with
// clientCerts the server also requires a client certificate of its CA.
func newSecureAPI(t *testing.T, clientCerts bool) *secureAPI {
	t.Helper()
	dir := t.TempDir()
	ca := testpki.NewCA(t, "ca")
	s := &secureAPI{ca: ca.WriteFile(t, dir), otherCA: testpki.NewCA(t, "other-ca").WriteFile(t, dir),
		tokenFile: filepath.Join(dir, "token")}
	server := ca.Issue(t, "server", x509.ExtKeyUsageServerAuth).WriteFiles(t, dir)
	client := ca.Issue(t, "client", x509.ExtKeyUsageClientAuth).WriteFiles(t, dir)
	s.cert, s.key = client.Cert, client.Key
	if err := os.WriteFile(s.tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clientCA := ""
	if clientCerts {
		clientCA = s.ca
	}
	tlsConfig, err := api.ServerTLS(server.Cert, server.Key, clientCA)
	if err != nil {
		t.Fatal(err)
	}
	state, err := app.Open(t.TempDir(), app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open state: %v", err)
	}
	t.Cleanup(func() { state.Close() })
	srv := api.NewServer(api.NewHandler(state, func() app.Status { return app.Status{Bridge: "br-int"} }, nil),
		api.ServerOptions{Token: testToken, TLS: tlsConfig})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- api.Serve(srv, ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	s.url = "https://" + ln.Addr().String()
	return s
}

const emptyList = "NAME   ATTACHMENTS   ORIGIN\n"

func TestTokenAndCAFromFlags(t *testing.T) {
	s := newSecureAPI(t, false)
	play(t, s.url, []step{
		{args: "network list --ca " + s.ca + " --token-file " + s.tokenFile, stdout: emptyList},
		{args: "--ca " + s.ca + " network list", code: 1, stderr: "[HTTP 401 Unauthorized]"},
		{args: "network list --token-file " + s.tokenFile, code: 1, stderr: "certificate signed by unknown authority"},
		{args: "network list --ca " + s.otherCA + " --token-file " + s.tokenFile, code: 1,
			stderr: "certificate signed by unknown authority"},
		{args: "network list --ca " + s.ca + " --token-file " + s.ca + ".missing", code: 2, stderr: "--token-file"},
		{args: "network list --ca " + s.tokenFile + " --token-file " + s.tokenFile, code: 2, stderr: "no PEM certificate"},
	})
}

func TestTokenAndCAFromEnvironment(t *testing.T) {
	s := newSecureAPI(t, false)
	t.Setenv("L2GW_CA", s.ca)
	t.Setenv("L2GW_TOKEN", testToken)
	play(t, s.url, []step{{args: "network list", stdout: emptyList}})

	t.Setenv("L2GW_TOKEN", "wrong")
	play(t, s.url, []step{{args: "network list", code: 1, stderr: "[HTTP 401 Unauthorized]"}})

	t.Setenv("L2GW_TOKEN_FILE", s.tokenFile) // a token file wins over L2GW_TOKEN
	play(t, s.url, []step{{args: "network list", stdout: emptyList}})
}

func TestClientCertificate(t *testing.T) {
	s := newSecureAPI(t, true)
	auth := " --ca " + s.ca + " --token-file " + s.tokenFile
	play(t, s.url, []step{
		{args: "network list --cert " + s.cert + " --key " + s.key + auth, stdout: emptyList},
		// TLS 1.3 checks the client's certificate after the client's side of
		// the handshake: the refusal reads "certificate required" or, when
		// the request was already on its way, as a broken connection.
		{args: "network list" + auth, code: 1, stderr: `error: Get "https://`},
		{args: "network list --cert " + s.cert + auth, code: 2, stderr: "--cert and --key go together"},
	})
}

func TestTLSFlagsNeedHTTPS(t *testing.T) {
	s := newSecureAPI(t, false)
	play(t, newAPI(t), []step{
		{args: "network list --ca " + s.ca, code: 2, stderr: "need an https:// API URL"},
		{args: "network list --cert " + s.cert + " --key " + s.key, code: 2, stderr: "need an https:// API URL"},
	})
}
