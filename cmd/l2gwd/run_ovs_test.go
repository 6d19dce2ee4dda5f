package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// TestDaemonAPIRequiresTheTokenFile runs the daemon against a private Open
// vSwitch and checks that the API it serves asks for the token of
// --api-token-file.
func TestDaemonAPIRequiresTheTokenFile(t *testing.T) {
	ovs := ovstest.Start(t, "")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apiAddr := ovstest.FreeAddr(t)
	cfg, err := parseConfig([]string{"--tunnel-ip", "198.51.100.1", "--bridge", "br-l2gw", "--ovsdb", ovs.Endpoint(),
		"--datapath-type", "netdev", "--data-dir", filepath.Join(dir, "data"), "--api-listen", apiAddr,
		"--openflow-listen", ovstest.FreeAddr(t), "--api-token-file", tokenFile}, env(nil), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	opts, err := cfg.apiOptions(log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var runErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runErr = run(ctx, cfg, opts, log)
	}()
	t.Cleanup(func() {
		stop()
		<-done
		if runErr != nil {
			t.Errorf("run: %v", runErr)
		}
	})

	base := "http://" + apiAddr
	get := func(path, token string) int {
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for deadline := time.Now().Add(30 * time.Second); get("/healthz", "") != http.StatusOK; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the daemon's API did not come up within 30 s")
		}
		select {
		case <-done:
			t.Fatal("run stopped before its API came up")
		default:
		}
	}
	if got := get("/v1/status", ""); got != http.StatusUnauthorized {
		t.Errorf("GET /v1/status without the token: %d, want 401", got)
	}
	if got := get("/v1/status", "s3cret"); got != http.StatusOK {
		t.Errorf("GET /v1/status with the token: %d, want 200", got)
	}
}
