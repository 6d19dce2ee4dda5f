package main

import (
	"slices"
	"testing"
)

// The IPv6 testdata traces are real ofproto/trace output from
// integration.TestIPv6UnderlayTrace (trace-unicast-ipv6.txt: site a of an
// IPv6 WAN, 2001:db8::1, unicast to the binding behind 2001:db8::2 before
// OVS resolved that neighbour) and integration.TestMixedUnderlay
// (trace-flood-mixed.txt: a broadcast from dual-stack site a, flooded to
// 198.51.100.2 over VXLAN port 2 and to 2001:db8::3 over Geneve port 3).

func TestTraceOfIPv6Tunnels(t *testing.T) {
	for _, tc := range []struct {
		file      string
		outputs   []traceOut
		verdict   string
		lastTable string
	}{
		{"trace-unicast-ipv6.txt", []traceOut{{Port: "2", TunnelDst: "2001:db8::2", TunnelKey: 5001}},
			"output: tunnel 2001:db8::2 key 5001 (port 2) " +
				"(but the datapath drops this packet: neighbor cache miss for 2001:db8::2 on bridge br-phy, sending ND request)", "egress"},
		{"trace-flood-mixed.txt", []traceOut{{Port: "2", TunnelDst: "198.51.100.2", TunnelKey: 5001}, {Port: "3", TunnelDst: "2001:db8::3", TunnelKey: 5001}},
			"output: tunnel 198.51.100.2 key 5001 (port 2), tunnel 2001:db8::3 key 5001 (port 3)", "flood"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			tr := parseTrace(string(readTestdata(t, tc.file)))
			if !slices.Equal(tr.Outputs, tc.outputs) {
				t.Errorf("outputs %+v, want %+v", tr.Outputs, tc.outputs)
			}
			if tr.Verdict != tc.verdict {
				t.Errorf("verdict %q, want %q", tr.Verdict, tc.verdict)
			}
			if last := tr.Steps[len(tr.Steps)-1]; last.Table != tc.lastTable || last.Depth != 0 {
				t.Errorf("last step %+v, want %s at depth 0 (the underlay bridge's steps are not l2gw's)", last, tc.lastTable)
			}
		})
	}
}
