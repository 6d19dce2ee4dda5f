package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestBGPPeerLifecycle(t *testing.T) {
	dir := t.TempDir()
	password, empty := filepath.Join(dir, "rr1.key"), filepath.Join(dir, "empty.key")
	if err := os.WriteFile(password, []byte("s3cret-md5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const idle = "idle    -        0          0          0            bgp is not enabled (start l2gwd with --bgp-asn)\n"
	play(t, newAPI(t), []step{
		{args: "bgp-peer list", stdout: "NAME   ADDRESS   PORT   ASN   STATE   UPTIME   RECEIVED   ACCEPTED   ADVERTISED   LAST-ERROR\n"},
		{args: "bgp-peer create rr1 --address 198.51.100.3 --asn 65000 --password-file " + password + " --hold-time 30 --keepalive 10",
			stdout: "created bgp-peer rr1\n"},
		{args: "bgp-peer create rr2 --address 2001:DB8::3 --asn 4200000000 --port 1179 --max-routes 10",
			stdout: "created bgp-peer rr2\n"},
		{args: "bgp-peer list", stdout: "" +
			"NAME   ADDRESS        PORT   ASN          STATE   UPTIME   RECEIVED   ACCEPTED   ADVERTISED   LAST-ERROR\n" +
			"rr1    198.51.100.3   179    65000        " + idle +
			"rr2    2001:db8::3    1179   4200000000   " + idle},
		// The password is never shown; has_password says there is one.
		{args: "bgp-peer show rr1 -o json", stdout: `{
  "name": "rr1",
  "address": "198.51.100.3",
  "asn": 65000,
  "hold_time": 30,
  "keepalive": 10,
  "has_password": true,
  "state": "idle",
  "uptime_seconds": 0,
  "routes_received": 0,
  "routes_accepted": 0,
  "routes_advertised": 0,
  "last_error": "bgp is not enabled (start l2gwd with --bgp-asn)"
}
`},
		// update replaces every field, the password too.
		{args: "bgp-peer update rr1 --address 198.51.100.30 --asn 65001", stdout: "updated bgp-peer rr1\n"},
		{args: "-o yaml bgp-peer show rr1", stdout: "name: rr1\naddress: 198.51.100.30\nasn: 65001\nstate: idle\nuptime_seconds: 0\n" +
			"routes_received: 0\nroutes_accepted: 0\nroutes_advertised: 0\nlast_error: bgp is not enabled (start l2gwd with --bgp-asn)\n"},
		{args: "bgp-peer delete rr2", stdout: "deleted bgp-peer rr2\n"},

		// Rejected: by the API (exit 1), by the command line (exit 2).
		{args: "bgp-peer create rr1 --address 203.0.113.9 --asn 65000", code: 1,
			stderr: "error: bgp peer \"rr1\" already exists (field name) [HTTP 409 Conflict]\n"},
		{args: "bgp-peer create rr3 --address 198.51.100.30 --asn 65000", code: 1, stderr: "(field address) [HTTP 409 Conflict]\n"},
		{args: "bgp-peer create rr3 --address 203.0.113.9 --asn 65000 --hold-time 2", code: 1, stderr: "(field hold_time) [HTTP 400 Bad Request]\n"},
		{args: "bgp-peer create rr3 --address 203.0.113.9 --asn 65000 --keepalive 90", code: 1, stderr: "(field keepalive) [HTTP 400 Bad Request]\n"},
		{args: "bgp-peer create rr3 --address rr3.example --asn 65000", code: 1, stderr: "(field address) [HTTP 400 Bad Request]\n"},
		{args: "bgp-peer update nope --address 203.0.113.9 --asn 65000", code: 1, stderr: "[HTTP 404 Not Found]\n"},
		{args: "bgp-peer create rr3 --address 203.0.113.9", code: 2, stderr: "error: bgp-peer create needs --asn\n"},
		{args: "bgp-peer create rr3 --asn 65000", code: 2, stderr: "error: bgp-peer create needs --address\n"},
		{args: "bgp-peer create rr3 --address 203.0.113.9 --asn 4294967296", code: 2,
			stderr: "invalid value \"4294967296\" for flag -asn: want a number from 0 to 4294967295"},
		{args: "bgp-peer create rr3 --address 203.0.113.9 --asn 65000 --port x", code: 2,
			stderr: "invalid value \"x\" for flag -port: want a number from 0 to 65535"},
		{args: "bgp-peer create rr3 --address 203.0.113.9 --asn 65000 --password-file " + empty, code: 2,
			stderr: "the file's first line is empty"},
		{args: "bgp-peer create rr3 --address 203.0.113.9 --asn 65000 --password-file /nonexistent.key", code: 2,
			stderr: "no such file or directory"},
		{args: "bgp-peer list", stdout: "" + // nothing above changed the peers
			"NAME   ADDRESS         PORT   ASN     STATE   UPTIME   RECEIVED   ACCEPTED   ADVERTISED   LAST-ERROR\n" +
			"rr1    198.51.100.30   179    65001   " + idle},
	})
}

func TestNetworkEVPN(t *testing.T) {
	play(t, newAPI(t), []step{
		{args: "network create lab --attach eth2 --evpn-vni 5001 --evpn-import-rt 65000:05001,198.51.100.3:7 --evpn-import-rt 4200000000:1",
			stdout: "created network lab\n"},
		{args: "network create auto --evpn-vni 5002 --evpn-export-rt 65000:9", stdout: "created network auto\n"},
		{args: "network show lab -o json", stdout: `{
  "name": "lab",
  "attachments": [
    {
      "port": "eth2"
    }
  ],
  "evpn": {
    "vni": 5001,
    "route_targets": {
      "import": [
        "65000:5001",
        "198.51.100.3:7",
        "4200000000:1"
      ],
      "export": []
    }
  }
}
`},
		{args: "-o yaml network show auto", stdout: "name: auto\nattachments: []\nevpn:\n  vni: 5002\n  route_targets:\n    import: []\n    export:\n      - 65000:9\n"},
		// update replaces the EVPN membership: without the flags the
		// network leaves EVPN, and its VNI is free.
		{args: "network update lab --attach eth2", stdout: "updated network lab\n"},
		{args: "network update auto --evpn-vni 5001", stdout: "updated network auto\n"},
		{args: "-o json network show lab", stdout: "{\n  \"name\": \"lab\",\n  \"attachments\": [\n    {\n      \"port\": \"eth2\"\n    }\n  ]\n}\n"},

		{args: "network create other --evpn-vni 5001", code: 1,
			stderr: "error: evpn vni 5001 is already used by network \"auto\" (field evpn.vni) [HTTP 409 Conflict]\n"},
		{args: "network create other --evpn-import-rt 65000:1", code: 1,
			stderr: "error: evpn vni is required: use 1-16777215 (field evpn.vni) [HTTP 400 Bad Request]\n"},
		{args: "network create other --evpn-vni 7 --evpn-export-rt 65000:1,nope", code: 1,
			stderr: "(field evpn.route_targets.export[1]) [HTTP 400 Bad Request]\n"},
		{args: "network create other --evpn-vni x", code: 2, stderr: "invalid value \"x\" for flag -evpn-vni"},
		{args: "network list", stdout: "NAME   ATTACHMENTS   ORIGIN\nauto   -             static\nlab    eth2          static\n"},
	})
}
