package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/l2gw/l2gw/api"
)

// Where l2gwd listens inside the benchmark's namespace, and what it drives.
const (
	apiAddr      = "127.0.0.1:8080"
	openflowAddr = "127.0.0.1:6653"
	bridgeName   = "br-int"
	localTunnel  = "198.51.100.1"
	remoteTunnel = "198.51.100.2"
)

// status is the body of GET /v1/status.
type status = api.Status

// ready reports whether the daemon has the switch and its flows match the
// latest committed state.
func ready(s status) bool { return s.Connected && s.Reconciled }

// binding is one MAC binding as the API takes and returns it.
type binding struct {
	MAC string   `json:"mac"`
	IPs []string `json:"ips,omitempty"`
}

// macList is the body of the MAC binding requests and answers.
type macList struct {
	MACs []binding `json:"macs"`
}

// daemon is the l2gwd under test: one process at a time, all with the same
// data directory, and an API client for it.
type daemon struct {
	bin     string
	dataDir string
	logPath string
	ovsdb   string   // OVSDB endpoint
	extra   []string // further command-line flags
	client  *http.Client
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has exited
	// peakRSS is the highest VmHWM seen of any process so far (bytes).
	peakRSS int64
}

// newDaemon prepares (does not start) l2gwd with a data directory and log
// in workDir, both named after name, and extra flags.
func newDaemon(bin, workDir, name, ovsdb string, extra ...string) *daemon {
	return &daemon{
		bin: bin, dataDir: filepath.Join(workDir, name+"-data"), logPath: filepath.Join(workDir, name+".log"),
		ovsdb: ovsdb, extra: extra,
		client: &http.Client{Transport: &http.Transport{
			Proxy: nil, MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute,
		}},
	}
}

// start runs a new l2gwd process, its output appended to the log.
func (d *daemon) start() error {
	if err := os.MkdirAll(d.dataDir, 0o700); err != nil {
		return fmt.Errorf("create l2gwd data directory: %w", err)
	}
	logFile, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open l2gwd log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(d.bin, append([]string{"--bridge", bridgeName, "--ovsdb", d.ovsdb, "--tunnel-ip", localTunnel,
		"--datapath-type", "netdev", "--data-dir", d.dataDir,
		"--api-listen", apiAddr, "--openflow-listen", openflowAddr}, d.extra...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a Ctrl-C reaches the benchmark, which stops it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start l2gwd: %w", err)
	}
	d.cmd, d.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(d.exited)
	return nil
}

// kill sends sig to the running l2gwd and waits for it to exit, sending
// SIGKILL if it takes longer than 10 s.
func (d *daemon) kill(sig syscall.Signal) {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(sig)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
}

// stop ends l2gwd cleanly (SIGTERM), if it runs.
func (d *daemon) stop() { d.kill(syscall.SIGTERM) }

// call sends one API request with body encoded as JSON (raw when it is
// []byte) and returns the answer's status and body.
func (d *daemon) call(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		data, ok := body.([]byte)
		if !ok {
			var err error
			if data, err = json.Marshal(body); err != nil {
				return 0, nil, fmt.Errorf("encode %s %s: %w", method, path, err)
			}
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+apiAddr+path, r)
	if err != nil {
		return 0, nil, fmt.Errorf("build %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return resp.StatusCode, out, nil
}

// must sends a request that has to be answered with want.
func (d *daemon) must(ctx context.Context, method, path string, body any, want int) ([]byte, error) {
	code, out, err := d.call(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	if code != want {
		return nil, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, code, want, bytes.TrimSpace(out))
	}
	return out, nil
}

// status reads GET /v1/status.
func (d *daemon) status(ctx context.Context) (status, error) {
	var st status
	out, err := d.must(ctx, http.MethodGet, "/v1/status", nil, http.StatusOK)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("decode status: %w", err)
	}
	return st, nil
}

// waitStatus polls the status every interval until cond holds, retrying
// failed polls (the daemon starting), and returns that status and when it
// arrived.
func (d *daemon) waitStatus(ctx context.Context, interval time.Duration, cond func(status) bool) (status, time.Time, error) {
	var last status
	var lastErr error
	for {
		st, err := d.status(ctx)
		if err == nil && cond(st) {
			return st, time.Now(), nil
		}
		last, lastErr = st, err
		select {
		case <-ctx.Done():
			return last, time.Time{}, fmt.Errorf("wait for l2gwd (last status %+v, last error %v): %w", last, lastErr, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// listMACs reads every binding of connection conn.
func (d *daemon) listMACs(ctx context.Context, conn string) ([]binding, error) {
	out, err := d.must(ctx, http.MethodGet, "/v1/connections/"+conn+"/macs", nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var list macList
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("decode bindings of %s: %w", conn, err)
	}
	return list.MACs, nil
}

// memUse is one reading of a process's /proc status, in bytes.
type memUse struct {
	hwm  int64 // VmHWM: peak resident set
	rss  int64 // VmRSS: resident set now
	anon int64 // RssAnon: of rss, the heap and stacks
	file int64 // RssFile: of rss, mapped files (the bbolt store)
}

// memory reads the running l2gwd's resident set and folds its peak into
// peakRSS.
func (d *daemon) memory() (memUse, error) {
	var m memUse
	if d.cmd == nil {
		return m, fmt.Errorf("l2gwd is not running")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return m, fmt.Errorf("read l2gwd memory: %w", err)
	}
	fields := map[string]*int64{"VmHWM": &m.hwm, "VmRSS": &m.rss, "RssAnon": &m.anon, "RssFile": &m.file}
	for _, line := range strings.Split(string(data), "\n") {
		key, val, ok := strings.Cut(line, ":")
		dst, want := fields[key]
		if !ok || !want {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return m, fmt.Errorf("parse %s of l2gwd: %w", key, err)
		}
		*dst = kib * 1024
	}
	d.peakRSS = max(d.peakRSS, m.hwm)
	return m, nil
}
