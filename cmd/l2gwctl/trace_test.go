package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/api"
)

// The testdata traces are real ovs-appctl ofproto/trace output from the
// two-site lab (integration.TestTraceNamesTheFlowsAPacketMeets's setup,
// traced with in_port=1): site a's br-int with
// network plane on port 1 (host a1, 02:0a:00:00:00:01), connection plane-b
// to 198.51.100.2 on VNI 5001 over VXLAN port 2, and binding plane-b/
// 02:0b:00:00:00:01=192.0.2.12. flows-plane.json is that site's
// GET /v1/flows?network=plane.

// readTestdata returns a testdata file's content.
func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// planeReport is the captured flow report of network plane.
func planeReport(t *testing.T) api.FlowReport {
	t.Helper()
	var rep api.FlowReport
	if err := json.Unmarshal(readTestdata(t, "flows-plane.json"), &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestTraceSummaryOfUnicastToABoundMAC(t *testing.T) {
	tr := parseTrace(string(readTestdata(t, "trace-unicast.txt")))
	tr.Bridge, tr.Flow = "br-int", "in_port=1,dl_src=02:0a:00:00:00:01,dl_dst=02:0b:00:00:00:01"
	tr.nameOwners(planeReport(t))
	var out bytes.Buffer
	if err := tr.write(&out); err != nil {
		t.Fatal(err)
	}
	want := `trace on br-int: in_port=1,dl_src=02:0a:00:00:00:01,dl_dst=02:0b:00:00:00:01

TABLE           PRIORITY   COOKIE               OWNER
classifier      200        0xa10000011d9ec5a8   network plane
source_lookup   0          0xa00000006d26f6e4   pipeline
  l2_lookup     0          0xa00000005d905e5a   pipeline
learn           100        0xa1000001d111afe0   network plane
arp_responder   0          0xa000000047ae36b5   pipeline
  l2_lookup     200        0xa3000001c32eef33   binding plane-b/02:0b:00:00:00:01
forward         0          0xa0000000254a4d07   pipeline
egress          100        0xa40000013b1cebfc   tunnel

Datapath actions: ` + tr.DatapathActions + `
Verdict: output: tunnel 198.51.100.2 key 5001 (port 2)
`
	if out.String() != want {
		t.Errorf("summary\n%s\nwant\n%s", &out, want)
	}
	if !strings.HasPrefix(tr.DatapathActions, "tnl_push(") || !strings.HasSuffix(tr.DatapathActions, "),2") {
		t.Errorf("datapath actions %q", tr.DatapathActions)
	}
}

func TestTraceVerdicts(t *testing.T) {
	for _, tc := range []struct {
		file, verdict, lastOwner string
	}{
		// The ARP responder answers a request for a bound IP in OVS.
		{"trace-arp.txt", "output: the ingress port (IN_PORT)", "network plane"},
		// A bound source MAC from a local port is a spoof: dropped in learn.
		{"trace-spoof.txt", "dropped", "pipeline"},
		// The first packet to a gateway whose MAC OVS has not resolved
		// yet: the flows chose the tunnel, the datapath dropped it.
		{"trace-unicast-arpmiss.txt", "output: tunnel 198.51.100.2 key 5001 (port 2) " +
			"(but the datapath drops this packet: neighbor cache miss for 198.51.100.2 on bridge br-phy, sending ARP request)", "tunnel"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			tr := parseTrace(string(readTestdata(t, tc.file)))
			tr.nameOwners(planeReport(t))
			if tr.Verdict != tc.verdict {
				t.Errorf("verdict %q, want %q", tr.Verdict, tc.verdict)
			}
			if last := tr.Steps[len(tr.Steps)-1]; last.Owner != tc.lastOwner {
				t.Errorf("last step %+v, want owner %q", last, tc.lastOwner)
			}
		})
	}
}

// fakeAppctl installs a fake ovs-appctl that prints the testdata trace
// named trace and records its arguments, one a line, in the returned file.
func fakeAppctl(t *testing.T, trace string) (argsFile string) {
	t.Helper()
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	tracePath, err := filepath.Abs(filepath.Join("testdata", trace))
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "ovs-appctl")
	body := "#!/bin/sh\nprintf '%s\\n' \"$@\" > '" + argsFile + "'\ncat '" + tracePath + "'\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("L2GW_OVS_APPCTL", script)
	return argsFile
}

// flowsAPI serves the captured report for GET /v1/flows?network=plane and
// the API's not-found error for any other network.
func flowsAPI(t *testing.T) string {
	t.Helper()
	report := readTestdata(t, "flows-plane.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/v1/flows" || r.URL.Query().Get("network") != "plane" {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"message":"network \"` + r.URL.Query().Get("network") + `\" not found"}}`))
			return
		}
		w.Write(report)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestTraceCommand(t *testing.T) {
	url := flowsAPI(t)
	argsFile := fakeAppctl(t, "trace-arp.txt")
	code, out, errOut := flowsRun(url, "trace --network plane --from-port a1 --arp-tpa 192.0.2.12 --arp-spa 192.0.2.11 "+
		"--src-mac 02:0a:00:00:00:01 --ovs-target /run/x/ovs-vswitchd.ctl")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	args, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := "-t\n/run/x/ovs-vswitchd.ctl\nofproto/trace\nbr-int\n" +
		"arp,in_port=a1,dl_src=02:0a:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=192.0.2.11,arp_tpa=192.0.2.12\n"
	if string(args) != wantArgs {
		t.Errorf("ovs-appctl ran with\n%s\nwant\n%s", args, wantArgs)
	}
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		rows = append(rows, strings.Join(strings.Fields(l), " "))
	}
	for _, s := range []string{
		"arp_responder 100 0xa3000001be1c74e0 binding plane-b/02:0b:00:00:00:01",
		"reply_to_ingress 100 0xa1000001ba7f4cd1 network plane",
		"Verdict: output: the ingress port (IN_PORT)",
	} {
		if !slices.Contains(rows, s) {
			t.Errorf("output lacks the row %q:\n%s", s, out)
		}
	}

	fakeAppctl(t, "trace-unicast.txt")
	code, out, errOut = flowsRun(url, "-o json trace --network plane --from-port 1 --dst-mac 02:0b:00:00:00:01 --vlan 100")
	var tr traceReport
	if code != 0 || errOut != "" || json.Unmarshal([]byte(out), &tr) != nil {
		t.Fatalf("exit %d, stderr %s, stdout %s", code, errOut, out)
	}
	if tr.Flow != "in_port=1,dl_vlan=100,dl_src=02:00:00:00:00:01,dl_dst=02:0b:00:00:00:01" ||
		len(tr.Outputs) != 1 || tr.Outputs[0] != (traceOut{Port: "2", TunnelDst: "198.51.100.2", TunnelKey: 5001}) {
		t.Errorf("JSON report %+v", tr)
	}
}

func TestTraceCommandErrors(t *testing.T) {
	url := flowsAPI(t)
	fakeAppctl(t, "trace-unicast.txt")
	for _, tc := range []struct {
		args   string
		code   int
		stderr string
	}{
		{"trace --from-port 1 --dst-mac 02:0b:00:00:00:01", 2, "needs --network"},
		{"trace --network plane --dst-mac 02:0b:00:00:00:01", 2, "needs --from-port"},
		{"trace --network plane --from-port 1", 2, "trace needs --dst-mac, --arp-tpa or --nd-target"},
		{"trace --network plane --from-port 1 --arp-tpa 192.0.2.1 --nd-target 2001:db8::1", 2, "--arp-tpa or --nd-target, not both"},
		{"trace --network plane --from-port 1 --nd-target 192.0.2.1", 2, `--nd-target "192.0.2.1": want an IPv6 address`},
		{"trace --network plane --from-port 1 --nd-target 2001:db8::1 --nd-src x", 2, `--nd-src "x": want an IPv6 address`},
		{"trace --network plane --from-port 1 --dst-mac 02:0b", 2, `--dst-mac "02:0b": want a MAC`},
		{"trace --network plane --from-port 1,2 --dst-mac 02:0b:00:00:00:01", 2, `--from-port "1,2"`},
		{"trace --network plane --from-port 1 --dst-mac 02:0b:00:00:00:01 --vlan 4095", 2, `VLAN "4095": want 1-4094`},
		{"trace --network plane --from-port 1 --arp-tpa 2001:db8::1", 2, `--arp-tpa "2001:db8::1": want an IPv4 address`},
		{"trace --network nope --from-port 1 --dst-mac 02:0b:00:00:00:01", 1, `network "nope" not found`},
	} {
		code, out, errOut := flowsRun(url, tc.args)
		if code != tc.code || !strings.Contains(errOut, tc.stderr) || tc.code == 1 && out != "" {
			t.Errorf("l2gwctl %s: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, errOut, tc.code, tc.stderr)
		}
	}

	t.Setenv("L2GW_OVS_APPCTL", filepath.Join(t.TempDir(), "no-such-appctl"))
	code, _, errOut := flowsRun(url, "trace --network plane --from-port 1 --dst-mac 02:0b:00:00:00:01")
	if code != 1 || !strings.Contains(errOut, "no-such-appctl ofproto/trace br-int in_port=1,") {
		t.Errorf("without ovs-appctl: exit %d, stderr %q", code, errOut)
	}
}
