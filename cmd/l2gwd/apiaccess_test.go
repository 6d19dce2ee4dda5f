package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withTunnel prepends the one required flag.
func withTunnel(args ...string) []string {
	return append([]string{"--tunnel-ip", "198.51.100.1"}, args...)
}

func TestAPIOffLoopbackNeedsATokenOrInsecure(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	for _, listen := range []string{"192.0.2.1:8080", ":8080", "0.0.0.0:8080", "[::]:8080", "[2001:db8::1]:8080", "gw.example:8080"} {
		_, err := parseConfig(withTunnel("--api-listen", listen), env(nil), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "--api-token-file") || !strings.Contains(err.Error(), "--insecure") {
			t.Errorf("--api-listen %s without a token: error %v, want a refusal naming --api-token-file and --insecure", listen, err)
		}
		if _, err := parseConfig(withTunnel("--api-listen", listen, "--insecure"), env(nil), &bytes.Buffer{}); err != nil {
			t.Errorf("--api-listen %s --insecure: %v", listen, err)
		}
		if _, err := parseConfig(withTunnel("--api-listen", listen), env(map[string]string{"L2GW_INSECURE": "true"}), &bytes.Buffer{}); err != nil {
			t.Errorf("--api-listen %s with L2GW_INSECURE=true: %v", listen, err)
		}
		if _, err := parseConfig(withTunnel("--api-listen", listen), env(map[string]string{"L2GW_API_TOKEN_FILE": tokenFile}), &bytes.Buffer{}); err != nil {
			t.Errorf("--api-listen %s with L2GW_API_TOKEN_FILE: %v", listen, err)
		}
	}
	for _, listen := range []string{"127.0.0.1:8080", "127.3.2.1:8080", "[::1]:8080", "localhost:8080", "LocalHost:8080", "[::ffff:127.0.0.1]:8080"} {
		if _, err := parseConfig(withTunnel("--api-listen", listen), env(nil), &bytes.Buffer{}); err != nil {
			t.Errorf("loopback --api-listen %s without a token: %v", listen, err)
		}
	}
}

func TestAPISecurityFlagsMustFitTogether(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{withTunnel("--api-tls-cert", "c.pem"), "--api-tls-cert and --api-tls-key go together"},
		{withTunnel("--api-tls-key", "k.pem"), "--api-tls-cert and --api-tls-key go together"},
		{withTunnel("--api-client-ca", "ca.pem"), "--api-client-ca needs TLS"},
		{withTunnel("--api-max-inflight", "0"), "--api-max-inflight 0"},
	} {
		if _, err := parseConfig(tc.args, env(nil), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
	c, err := parseConfig(withTunnel(), env(map[string]string{"L2GW_API_TLS_CERT": "c.pem", "L2GW_API_TLS_KEY": "k.pem",
		"L2GW_API_CLIENT_CA": "ca.pem", "L2GW_API_MAX_INFLIGHT": "8"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.APITLSCert != "c.pem" || c.APITLSKey != "k.pem" || c.APIClientCA != "ca.pem" || c.APIMaxInFlight != 8 {
		t.Errorf("API security flags from the environment: %+v", c)
	}
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for content, want := range map[string]string{"s3cret\n": "s3cret", "s3cret\r\n": "s3cret", "s3cret": "s3cret"} {
		if got, err := readToken(write("good", content)); err != nil || got != want {
			t.Errorf("token file %q: %q, %v; want %q", content, got, err, want)
		}
	}
	for _, tc := range []struct{ path, want string }{
		{write("empty", ""), "is empty"},
		{write("newline", "\n"), "is empty"},
		{write("two-lines", "one\ntwo\n"), "one line"},
		{write("spaces", "Bearer s3cret\n"), "without spaces"},
		{filepath.Join(dir, "missing"), "no such file"},
		{dir, "is a directory"},
	} {
		if _, err := readToken(tc.path); err == nil || !strings.Contains(err.Error(), "--api-token-file") ||
			!strings.Contains(err.Error(), tc.want) {
			t.Errorf("token file %s: error %v, want it to name --api-token-file and say %q", tc.path, err, tc.want)
		}
	}
}

func TestAPIOptionsCarryTheTokenAndRefuseBadTLSFiles(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	c, err := parseConfig(withTunnel("--api-token-file", tokenFile, "--api-max-inflight", "9"), env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := c.apiOptions(log)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Token != "s3cret" || opts.TLS != nil || opts.MaxInFlight != 9 {
		t.Errorf("options %+v: want token s3cret, no TLS, 9 in flight", opts)
	}

	c, err = parseConfig(withTunnel("--api-tls-cert", filepath.Join(dir, "none.pem"), "--api-tls-key", filepath.Join(dir, "none.key")),
		env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.apiOptions(log); err == nil || !strings.Contains(err.Error(), "none.pem") {
		t.Errorf("missing TLS files: error %v, want it to name the file", err)
	}
	c.APITLSCert, c.APITokenFile = "", filepath.Join(dir, "missing")
	if _, err := c.apiOptions(log); err == nil || !strings.Contains(err.Error(), "--api-token-file") {
		t.Errorf("missing token file: error %v, want it to name --api-token-file", err)
	}
}

func TestWarnsWhenTheTokenCrossesTheNetworkInClear(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{withTunnel("--api-listen", "192.0.2.1:8080", "--insecure"), "without a token"},
		{withTunnel("--api-listen", "192.0.2.1:8080", "--api-token-file", tokenFile), "without TLS"},
		{withTunnel("--api-token-file", tokenFile), ""},
	} {
		c, err := parseConfig(tc.args, env(nil), &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		var logged bytes.Buffer
		if _, err := c.apiOptions(slog.New(slog.NewTextHandler(&logged, nil))); err != nil {
			t.Fatal(err)
		}
		if tc.want == "" && logged.Len() > 0 || !strings.Contains(logged.String(), tc.want) {
			t.Errorf("%v: logged %q, want a warning holding %q", tc.args, &logged, tc.want)
		}
	}
}
