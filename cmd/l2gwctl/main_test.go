package main

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/api"
	"github.com/l2gw/l2gw/app"
)

// step is one l2gwctl command line and what the user sees.
type step struct {
	args   string
	code   int
	stdout string // exact
	stderr string // a substring; stderr must be empty when this is
}

// newAPI serves the real API over a fresh state and returns its URL.
func newAPI(t *testing.T, opts ...api.HandlerOption) string {
	t.Helper()
	return newAPIWithStatus(t, app.Status{Bridge: "br-int", Connected: true, OVSDBConnected: true, Flows: 12}, opts...)
}

// newAPIWithStatus is newAPI whose daemon reports st.
func newAPIWithStatus(t *testing.T, st app.Status, opts ...api.HandlerOption) string {
	t.Helper()
	state, err := app.Open(t.TempDir(), app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open state: %v", err)
	}
	t.Cleanup(func() { state.Close() })
	status := func() app.Status { return st }
	srv := httptest.NewServer(api.NewHandler(state, status, nil, opts...))
	t.Cleanup(srv.Close)
	return srv.URL
}

// play runs the steps in order against the API at url; a step's args are
// split on spaces.
func play(t *testing.T, url string, steps []step) {
	t.Helper()
	for _, s := range steps {
		args := append([]string{"--api", url}, strings.Fields(s.args)...)
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		if code != s.code {
			t.Errorf("l2gwctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", s.args, code, s.code, &stdout, &stderr)
			continue
		}
		if stdout.String() != s.stdout {
			t.Errorf("l2gwctl %s: stdout\n%s\nwant\n%s", s.args, &stdout, s.stdout)
		}
		if s.stderr == "" && stderr.Len() > 0 || !strings.Contains(stderr.String(), s.stderr) {
			t.Errorf("l2gwctl %s: stderr\n%s\nwant it to hold %q", s.args, &stderr, s.stderr)
		}
	}
}

func TestNetworkLifecycle(t *testing.T) {
	play(t, newAPI(t), []step{
		{args: "network create backup --attach eth1 --attach trunk0:100", stdout: "created network backup\n"},
		{args: "network create lab --attach eth2,eth3", stdout: "created network lab\n"},
		{args: "network create empty", stdout: "created network empty\n"},
		{args: "network list", stdout: "" +
			"NAME     ATTACHMENTS       ORIGIN\n" +
			"backup   eth1,trunk0:100   static\n" +
			"empty    -                 static\n" +
			"lab      eth2,eth3         static\n"},
		{args: "network update lab --attach eth4:7", stdout: "updated network lab\n"},
		{args: "network show lab", stdout: "" +
			"NAME   ATTACHMENTS   ORIGIN\n" +
			"lab    eth4:7        static\n"},
		{args: "network show backup -o json", stdout: `{
  "name": "backup",
  "attachments": [
    {
      "port": "eth1"
    },
    {
      "port": "trunk0",
      "vlan": 100
    }
  ]
}
`},
		{args: "network delete empty", stdout: "deleted network empty\n"},
		{args: "network delete lab", stdout: "deleted network lab\n"},
		{args: "-o json network list", stdout: `{
  "networks": [
    {
      "name": "backup",
      "attachments": [
        {
          "port": "eth1"
        },
        {
          "port": "trunk0",
          "vlan": 100
        }
      ]
    }
  ]
}
`},
	})
}

func TestGatewayLifecycle(t *testing.T) {
	play(t, newAPI(t), []step{
		{args: "gateway create site-b --tunnel-ip 198.51.100.2", stdout: "created gateway site-b\n"},
		{args: "gateway create site-c --tunnel-ip 203.0.113.3", stdout: "created gateway site-c\n"},
		{args: "gateway update site-c --tunnel-ip 203.0.113.33", stdout: "updated gateway site-c\n"},
		{args: "gateway list", stdout: "" +
			"NAME     TUNNEL-IPS\n" +
			"site-b   198.51.100.2\n" +
			"site-c   203.0.113.33\n"},
		{args: "gateway show site-b", stdout: "" +
			"NAME     TUNNEL-IPS\n" +
			"site-b   198.51.100.2\n"},
		{args: "gateway show site-b -o json", stdout: "{\n  \"name\": \"site-b\",\n  \"tunnel_ip\": \"198.51.100.2\",\n  \"tunnel_ips\": [\n    \"198.51.100.2\"\n  ]\n}\n"},
		{args: "gateway show site-b -o yaml", stdout: "name: site-b\ntunnel_ip: 198.51.100.2\ntunnel_ips:\n  - 198.51.100.2\n"},
		{args: "gateway delete site-c", stdout: "deleted gateway site-c\n"},
		{args: "gateway list", stdout: "" +
			"NAME     TUNNEL-IPS\n" +
			"site-b   198.51.100.2\n"},
	})
}

// TestGatewayEndpoints: --tunnel-ip repeated (or comma-separated) makes a
// gateway of several endpoints in that order; list and show print each,
// with its BFD state and whether it is in use when the daemon reports
// them.
func TestGatewayEndpoints(t *testing.T) {
	report := func(g app.RemoteGateway) []app.EndpointStatus {
		out := make([]app.EndpointStatus, len(g.TunnelIPs))
		for i, ip := range g.TunnelIPs {
			out[i] = app.EndpointStatus{TunnelIP: ip, InUse: i == 0}
			if len(g.TunnelIPs) > 1 {
				out[i] = app.EndpointStatus{TunnelIP: ip, BFD: []string{"down", "up"}[min(i, 1)], InUse: i == 1}
			}
		}
		return out
	}
	play(t, newAPI(t), []step{
		{args: "gateway create site-g --tunnel-ip 198.51.100.11 --tunnel-ip 198.51.100.12", stdout: "created gateway site-g\n"},
		{args: "gateway create site-h --tunnel-ip 2001:db8::21,2001:db8::22,2001:db8::23", stdout: "created gateway site-h\n"},
		{args: "gateway list", stdout: "" +
			"NAME     TUNNEL-IPS\n" +
			"site-g   198.51.100.11,198.51.100.12\n" +
			"site-h   2001:db8::21,2001:db8::22,2001:db8::23\n"},
		{args: "gateway update site-g --tunnel-ip 198.51.100.12,198.51.100.11", stdout: "updated gateway site-g\n"},
		{args: "gateway show site-g", stdout: "" +
			"NAME     TUNNEL-IPS\n" +
			"site-g   198.51.100.12,198.51.100.11\n"},
		{args: "gateway create site-x --tunnel-ip 198.51.100.31 --tunnel-ip 2001:db8::32", code: 1,
			stderr: "(field tunnel_ips[1]) [HTTP 400 Bad Request]\n"},
	})
	url := newAPI(t, api.WithEndpoints(report))
	play(t, url, []step{
		{args: "gateway create site-b --tunnel-ip 198.51.100.2", stdout: "created gateway site-b\n"},
		{args: "gateway create site-g --tunnel-ip 198.51.100.11 --tunnel-ip 198.51.100.12", stdout: "created gateway site-g\n"},
		{args: "gateway list", stdout: "" +
			"NAME     TUNNEL-IPS\n" +
			"site-b   198.51.100.2 (no bfd, in use)\n" +
			"site-g   198.51.100.11 (bfd down), 198.51.100.12 (bfd up, in use)\n"},
		{args: "gateway show site-g", stdout: "" +
			"NAME     TUNNEL-IPS\n" +
			"site-g   198.51.100.11 (bfd down), 198.51.100.12 (bfd up, in use)\n"},
	})
}

func TestConnectionLifecycle(t *testing.T) {
	play(t, newAPI(t), []step{
		{args: "network create backup --attach eth1", stdout: "created network backup\n"},
		{args: "gateway create site-b --tunnel-ip 198.51.100.2", stdout: "created gateway site-b\n"},
		{args: "connection create backup-b --network backup --gateway site-b --segmentation-id 5001",
			stdout: "created connection backup-b\n"},
		{args: "gateway create site-c --tunnel-ip 203.0.113.3", stdout: "created gateway site-c\n"},
		{args: "connection create backup-gre --network backup --gateway site-c --segmentation-id 4000000000 --type gre --flood=false",
			stdout: "created connection backup-gre\n"},
		{args: "connection list", stdout: "" +
			"NAME         NETWORK   GATEWAY   TYPE    SEG-ID       FLOOD\n" +
			"backup-b     backup    site-b    vxlan   5001         true\n" +
			"backup-gre   backup    site-c    gre     4000000000   false\n"},
		{args: "connection show backup-b", stdout: "" +
			"NAME       NETWORK   GATEWAY   TYPE    SEG-ID   FLOOD\n" +
			"backup-b   backup    site-b    vxlan   5001     true\n"},
		{args: "-o json connection show backup-gre", stdout: `{
  "name": "backup-gre",
  "network": "backup",
  "remote_gateway": "site-c",
  "segmentation_id": 4000000000,
  "network_type": "gre",
  "flood": false
}
`},
		{args: "network delete backup", code: 1, stderr: "[HTTP 409 Conflict]"},
		{args: "connection delete backup-gre", stdout: "deleted connection backup-gre\n"},
		{args: "connection delete backup-b", stdout: "deleted connection backup-b\n"},
		{args: "connection list", stdout: "NAME   NETWORK   GATEWAY   TYPE   SEG-ID   FLOOD\n"},
		{args: "network delete backup", stdout: "deleted network backup\n"},
	})
}

func TestMACs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "macs.json")
	batch := `{"macs":[{"mac":"02:0b:00:00:00:03","ips":["192.0.2.23"]},{"mac":"02:0b:00:00:00:04"}]}`
	if err := os.WriteFile(file, []byte(batch), 0o600); err != nil {
		t.Fatal(err)
	}
	play(t, newAPI(t), []step{
		{args: "network create backup --attach eth1", stdout: "created network backup\n"},
		{args: "gateway create site-b --tunnel-ip 198.51.100.2", stdout: "created gateway site-b\n"},
		{args: "connection create backup-b --network backup --gateway site-b --segmentation-id 5001",
			stdout: "created connection backup-b\n"},
		{args: "mac add backup-b 02:0b:00:00:00:01=192.0.2.21,192.0.2.22 02:0b:00:00:00:02",
			stdout: "added 2 MAC(s) to connection backup-b\n"},
		{args: "mac add backup-b --file " + file, stdout: "added 2 MAC(s) to connection backup-b\n"},
		{args: "mac list backup-b", stdout: "" +
			"MAC                 IPS\n" +
			"02:0b:00:00:00:01   192.0.2.21,192.0.2.22\n" +
			"02:0b:00:00:00:02   -\n" +
			"02:0b:00:00:00:03   192.0.2.23\n" +
			"02:0b:00:00:00:04   -\n"},
		{args: "mac add backup-b 02:0b:00:00:00:09=192.0.2.21", code: 1, stderr: "[HTTP 409 Conflict]"},
		{args: "mac delete backup-b 02:0b:00:00:00:02", stdout: "deleted MAC 02:0b:00:00:00:02 of connection backup-b\n"},
		{args: "mac replace backup-b 02:0b:00:00:00:05=192.0.2.25",
			stdout: "replaced the MACs of connection backup-b with 1 MAC(s)\n"},
		{args: "-o json mac list backup-b", stdout: `{
  "macs": [
    {
      "mac": "02:0b:00:00:00:05",
      "ips": [
        "192.0.2.25"
      ]
    }
  ]
}
`},
		{args: "-o yaml mac list backup-b", stdout: "macs:\n  - mac: 02:0b:00:00:00:05\n    ips:\n      - 192.0.2.25\n"},
		{args: "mac replace backup-b", stdout: "replaced the MACs of connection backup-b with 0 MAC(s)\n"},
		{args: "mac list backup-b", stdout: "MAC   IPS\n"},
		{args: "mac list nope", code: 1, stderr: "[HTTP 404 Not Found]"},
	})
}

func TestMACFileFromStdin(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"macs":[{"mac":"02:0b:00:00:00:07","ips":["192.0.2.27","2001:db8::27"]}]}`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	stdin := os.Stdin
	os.Stdin = f
	t.Cleanup(func() { os.Stdin = stdin })
	play(t, newAPI(t), []step{
		{args: "network create backup", stdout: "created network backup\n"},
		{args: "gateway create site-b --tunnel-ip 198.51.100.2", stdout: "created gateway site-b\n"},
		{args: "connection create backup-b --network backup --gateway site-b --segmentation-id 5001",
			stdout: "created connection backup-b\n"},
		{args: "mac add backup-b --file - 02:0b:00:00:00:08", stdout: "added 2 MAC(s) to connection backup-b\n"},
		{args: "mac list backup-b", stdout: "" +
			"MAC                 IPS\n" +
			"02:0b:00:00:00:07   192.0.2.27,2001:db8::27\n" +
			"02:0b:00:00:00:08   -\n"},
	})
}

func TestAPIErrors(t *testing.T) {
	play(t, newAPI(t), []step{
		{args: "network create backup", stdout: "created network backup\n"},
		{args: "network create backup", code: 1,
			stderr: "error: network \"backup\" already exists (field name) [HTTP 409 Conflict]\n"},
		{args: "network show nope", code: 1, stderr: "[HTTP 404 Not Found]\n"},
		{args: "network create Bad_Name", code: 1, stderr: "(field name) [HTTP 400 Bad Request]\n"},
		{args: "gateway create site-b --tunnel-ip 300.1.2.3", code: 1, stderr: "(field tunnel_ip) [HTTP 400 Bad Request]\n"},
		{args: "connection create c --network nope --gateway nope --segmentation-id 1", code: 1,
			stderr: "[HTTP 404 Not Found]\n"},
		{args: "network list", stdout: "NAME     ATTACHMENTS   ORIGIN\nbackup   -             static\n"},
	})
}

func TestUsageErrors(t *testing.T) {
	resourceHelp := "Usage:\n  l2gwctl network list\n"
	play(t, newAPI(t), []step{
		{args: "", code: 2, stderr: "error: missing resource\n"},
		{args: "bogus list", code: 2, stderr: "error: unknown resource \"bogus\""},
		{args: "network", code: 2, stderr: "error: missing verb for network\n\nl2gwctl network:"},
		{args: "network frob", code: 2, stderr: resourceHelp},
		{args: "network create", code: 2, stderr: "error: usage: l2gwctl network create NAME"},
		{args: "network show a b", code: 2, stderr: resourceHelp},
		{args: "network create a --attach eth1:x", code: 2, stderr: "invalid value \"eth1:x\" for flag -attach"},
		{args: "network create a --bogus", code: 2, stderr: "flag provided but not defined: -bogus"},
		{args: "gateway create site-b", code: 2, stderr: "error: gateway create needs --tunnel-ip\n"},
		{args: "connection create c --network n --gateway g", code: 2, stderr: "needs --segmentation-id"},
		{args: "connection create c --network n --gateway g --segmentation-id x", code: 2, stderr: "segmentation-id"},
		{args: "connection update c", code: 2, stderr: "unknown verb \"update\" for connection"},
		{args: "mac add backup-b", code: 2, stderr: "error: no MAC to add\n"},
		{args: "mac add backup-b --file /nonexistent.json", code: 2, stderr: "read --file"},
		{args: "-o xml network list", code: 2, stderr: "error: -o \"xml\": want table, json or yaml\n"},
		{args: "status extra", code: 2, stderr: "error: usage: l2gwctl status\n"},
		{args: "network list", stdout: "NAME   ATTACHMENTS   ORIGIN\n"}, // nothing above changed the state
	})
}

func TestHelp(t *testing.T) {
	for _, s := range []struct{ args, want string }{
		{"--help", "Usage: l2gwctl [--api URL] [-o table|json|yaml] <resource> <verb> [args]\n"},
		{"help", "  connection   a network joined to a remote gateway on a segmentation ID\n"},
		{"network --help", "  l2gwctl network update NAME [--attach PORT[:VLAN]]... [--evpn-vni VNI [--evpn-import-rt RT]... [--evpn-export-rt RT]...]\n"},
		{"bgp-peer --help", "  l2gwctl bgp-peer update NAME --address IP --asn ASN [--port P] [--password-file F] [--hold-time S] [--keepalive S] [--max-routes N]\n"},
		{"connection create --help", "  --type TYPE            tunnel encapsulation TYPE: vxlan, gre or geneve (default vxlan) [create]\n"},
		{"mac help", "  l2gwctl mac add CONN MAC[=IP[,IP...]]... [--file F.json|-]\n"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(strings.Fields(s.args), &stdout, &stderr); code != 0 || stderr.Len() > 0 {
			t.Errorf("l2gwctl %s: exit %d, stderr %q", s.args, code, &stderr)
		}
		if !strings.Contains(stdout.String(), s.want) {
			t.Errorf("l2gwctl %s: stdout\n%s\nwant it to hold %q", s.args, &stdout, s.want)
		}
	}
}

func TestStatus(t *testing.T) {
	play(t, newAPI(t), []step{
		{args: "status", stdout: "" +
			"BRIDGE   CONNECTED   OVSDB   RECONCILED   FLOWS   DIGEST\n" +
			"br-int   true        true    false        12      " + emptyDigest + "\n"},
		{args: "status -o json", stdout: `{
  "bridge": "br-int",
  "connected": true,
  "ovsdb_connected": true,
  "reconciled": false,
  "flows": 12,
  "flow_mods": 0,
  "bundles": 0,
  "desired_state_digest": "` + emptyDigest + `"
}
`},
	})
}

// emptyDigest is the desired state digest of a state given nothing.
const emptyDigest = "9158214affc712c698bc84dcfbe98344"

// TestStatusHA: a node of a gateway pair shows its HA standing below the
// switch's.
func TestStatusHA(t *testing.T) {
	st := app.Status{Bridge: "br-int", Connected: true, OVSDBConnected: true, Reconciled: true, Flows: 12,
		HA: &app.HAStatus{Role: "standby", Priority: 100, Peer: "198.51.100.12", PeerBFD: "up", PeerSegmentBFD: "down",
			PeerDigest: emptyDigest, Reason: "the primary is alive on the underlay"}}
	play(t, newAPIWithStatus(t, st), []step{
		{args: "status", stdout: "" +
			"BRIDGE   CONNECTED   OVSDB   RECONCILED   FLOWS   DIGEST\n" +
			"br-int   true        true    true         12      " + emptyDigest + "\n" +
			"\n" +
			"ROLE      PRIORITY   PEER            PEER-BFD   PEER-SEGMENT-BFD   PEER-PRIORITY   PEER-DIGEST                        CPATH-DOWN\n" +
			"standby   100        198.51.100.12   up         down               -               " + emptyDigest + "   false\n" +
			"reason: the primary is alive on the underlay\n"},
	})
}

func TestUnreachableAPI(t *testing.T) {
	srv := httptest.NewServer(nil)
	url := srv.URL
	srv.Close()
	play(t, url, []step{{args: "network list", code: 1, stderr: "connection refused"}})
}

func TestAPIFromEnvironment(t *testing.T) {
	url := newAPI(t)
	t.Setenv("L2GW_API", url)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"gateway", "list"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, &stderr)
	}
	if want := "NAME   TUNNEL-IPS\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", &stdout, want)
	}
}
