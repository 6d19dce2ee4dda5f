package main

import "testing"

func TestMACMove(t *testing.T) {
	play(t, newAPI(t), []step{
		{args: "network create plane", stdout: "created network plane\n"},
		{args: "gateway create site-b --tunnel-ip 198.51.100.2", stdout: "created gateway site-b\n"},
		{args: "gateway create site-c --tunnel-ip 198.51.100.3", stdout: "created gateway site-c\n"},
		{args: "connection create plane-b --network plane --gateway site-b --segmentation-id 5001", stdout: "created connection plane-b\n"},
		{args: "connection create plane-c --network plane --gateway site-c --segmentation-id 5001", stdout: "created connection plane-c\n"},
		{args: "mac add plane-b 02:0b:00:00:00:01=192.0.2.21 02:0b:00:00:00:02", stdout: "added 2 MAC(s) to connection plane-b\n"},
		{args: "mac move --to plane-c --from plane-b 02:0b:00:00:00:01", stdout: "moved 1 MAC(s) to connection plane-c\n"},
		{args: "mac list plane-c", stdout: "MAC                 IPS\n02:0b:00:00:00:01   192.0.2.21\n"},
		{args: "mac list plane-b", stdout: "MAC                 IPS\n02:0b:00:00:00:02   -\n"},
		// Flags after the MACs; a MAC already there is fine.
		{args: "-o json mac move 02:0b:00:00:00:02 02:0b:00:00:00:01 --to plane-c", stdout: `{
  "macs": [
    {
      "mac": "02:0b:00:00:00:02"
    },
    {
      "mac": "02:0b:00:00:00:01",
      "ips": [
        "192.0.2.21"
      ]
    }
  ]
}
`},
		{args: "mac move --to plane-b --from plane-b 02:0b:00:00:00:01", code: 1, stderr: "[HTTP 409 Conflict]"},
		{args: "mac move --to plane-b 02:0b:00:00:00:09", code: 1, stderr: "(field macs[0]) [HTTP 404 Not Found]"},
		{args: "mac move --to nope 02:0b:00:00:00:01", code: 1, stderr: "(field to) [HTTP 404 Not Found]"},
		{args: "mac move 02:0b:00:00:00:01", code: 2, stderr: "error: mac move needs --to\n"},
		{args: "mac move --to plane-b", code: 2, stderr: "error: usage: l2gwctl mac move --to CONN [--from CONN] MAC..."},
		{args: "mac list plane-c", stdout: "MAC                 IPS\n02:0b:00:00:00:01   192.0.2.21\n02:0b:00:00:00:02   -\n"},
	})
}
