// Package integration holds l2gw's end-to-end tests: real l2gwd processes
// driving real Open vSwitch (userspace datapath) in network-namespace sites,
// proved with ping, arping and flow dumps.
package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l2gw/l2gw/api"
	"github.com/l2gw/l2gw/integration/lab"
)

// l2gwdBin is the daemon under test, built once by TestMain (with -race).
var l2gwdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "l2gwd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	l2gwdBin = filepath.Join(dir, "l2gwd")
	// The daemons under test run with the race detector, and stop at the
	// first race: a test that meets one fails.
	os.Setenv("GORACE", "halt_on_error=1")
	if out, err := exec.Command("go", "build", "-race", "-o", l2gwdBin, "github.com/l2gw/l2gw/cmd/l2gwd").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build l2gwd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// apiURL is where each site's l2gwd serves its API, inside the site's namespace.
const apiURL = "http://127.0.0.1:8080"

// gateway is one site with its l2gwd.
type gateway struct {
	site    *lab.Site
	proc    *lab.Process
	dataDir string
	client  *http.Client
	// extra are l2gwd's flags beyond those every site has.
	extra []string
}

// newLab makes a lab for one test; prefix must be unique per test.
func newLab(t *testing.T, prefix string) *lab.Lab {
	lab.Require(t)
	return lab.New(t, prefix)
}

// startGateway makes a site and runs l2gwd on it, waiting until the daemon
// has created and connected the bridge.
func startGateway(t *testing.T, l *lab.Lab, name, tunnelIP string) *gateway {
	t.Helper()
	g := &gateway{site: l.AddSite(name, tunnelIP), dataDir: t.TempDir()}
	g.client = g.site.HTTPClient()
	g.start(t)
	return g
}

func (g *gateway) start(t *testing.T) {
	t.Helper()
	args := append([]string{"--bridge", lab.IntBridge, "--ovsdb", g.site.OVS().Endpoint(),
		"--tunnel-ip", g.site.TunnelIP, "--datapath-type", "netdev", "--data-dir", g.dataDir}, g.extra...)
	g.proc = g.site.StartProcess(t, l2gwdBin, args...)
	g.waitReconciled(t)
}

// restart kills l2gwd with sig and starts it again.
func (g *gateway) restart(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := g.proc.Kill(sig); err != nil {
		t.Fatal(err)
	}
	g.proc.Wait()
	g.start(t)
}

// call sends one API request; body is JSON-encoded unless it is a string.
func (g *gateway) call(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, apiURL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// must sends a request that has to succeed with want, then waits until the
// change is in the switch.
func (g *gateway) must(t *testing.T, method, path string, body any, want int) []byte {
	t.Helper()
	code, out := g.call(t, method, path, body)
	if code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, out)
	}
	g.waitReconciled(t)
	return out
}

func (g *gateway) status(t *testing.T) (api.Status, error) {
	req, _ := http.NewRequest(http.MethodGet, apiURL+"/v1/status", nil)
	resp, err := g.client.Do(req)
	if err != nil {
		return api.Status{}, err
	}
	defer resp.Body.Close()
	var st api.Status
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// waitReconciled waits until l2gwd is connected and its flows match its
// latest desired state.
func (g *gateway) waitReconciled(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := g.status(t)
		if err == nil && st.Connected && st.Reconciled {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("site %s: l2gwd not reconciled after 20 s: status %+v, err %v", g.site.Name, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// controllerFlows returns the bridge's l2gw-owned flows (cookie tag 0xa),
// without statistics, sorted: equal dumps mean unchanged flows.
func (g *gateway) controllerFlows(t *testing.T) []string {
	t.Helper()
	return g.dumpFlows(t, "cookie=0xa000000000000000/0xf000000000000000")
}

// learnedFlows returns the entries OVS learned (cookie tag 0xb).
func (g *gateway) learnedFlows(t *testing.T) []string {
	t.Helper()
	return g.dumpFlows(t, "cookie=0xb000000000000000/0xf000000000000000")
}

func (g *gateway) dumpFlows(t *testing.T, filter string) []string {
	t.Helper()
	out := g.site.OVS().Ofctl(t, "dump-flows", "--no-stats", lab.IntBridge, filter)
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "cookie=") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	sort.Strings(lines)
	return lines
}

// flowsWith returns the controller flows that contain every one of parts.
func (g *gateway) flowsWith(t *testing.T, parts ...string) []string {
	t.Helper()
	var out []string
	for _, f := range g.controllerFlows(t) {
		if containsAll(f, parts) {
			out = append(out, f)
		}
	}
	return out
}

// containsAll tells whether s contains every one of parts.
func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// object is a JSON object literal for request bodies.
type object = map[string]any

// joinNetwork configures one stretched network between two gateways: on
// each, the network with the given attachments, the other as a remote
// gateway, and a connection on vni with networkType.
func joinNetwork(t *testing.T, a, b *gateway, network string, attachA, attachB []object, vni int, networkType string) {
	t.Helper()
	for _, side := range []struct {
		local, remote *gateway
		attach        []object
	}{{a, b, attachA}, {b, a, attachB}} {
		gw := "site-" + side.remote.site.Name
		side.local.must(t, "POST", "/v1/networks", object{"name": network, "attachments": side.attach}, 201)
		if code, _ := side.local.call(t, "GET", "/v1/remote-gateways/"+gw, nil); code == 404 {
			side.local.must(t, "POST", "/v1/remote-gateways", object{"name": gw, "tunnel_ip": side.remote.site.TunnelIP}, 201)
		}
		side.local.must(t, "POST", "/v1/connections", object{"name": network + "-" + side.remote.site.Name, "network": network,
			"remote_gateway": gw, "segmentation_id": vni, "network_type": networkType}, 201)
	}
}

// pingOK pings until one reply arrives (learning and ARP may take a moment)
// and then requires count of count more.
func pingOK(t *testing.T, h *lab.Host, ip string, count int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, got := h.Ping(t, ip, 1, 200*time.Millisecond); got == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s cannot reach %s", h.Name, ip)
		}
	}
	if sent, got := h.Ping(t, ip, count, 50*time.Millisecond); got != sent {
		t.Fatalf("%s -> %s: %d of %d replies", h.Name, ip, got, sent)
	}
}

// waitFor polls cond every 50 ms until it holds, failing t with what after
// timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// networkRemoteMACs is GET /v1/networks/{network}/remote-macs at g.
func networkRemoteMACs(t *testing.T, g *gateway, network string) []api.RemoteMAC {
	t.Helper()
	code, out := g.call(t, "GET", "/v1/networks/"+network+"/remote-macs", nil)
	if code != 200 {
		t.Fatalf("GET /v1/networks/%s/remote-macs: %d %s", network, code, out)
	}
	var list struct {
		RemoteMACs []api.RemoteMAC `json:"remote_macs"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatal(err)
	}
	return list.RemoteMACs
}
