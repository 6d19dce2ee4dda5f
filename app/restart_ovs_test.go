package app

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestARestartReadsTheBridgeOnce: a restarted daemon whose switch
// connected while it loaded its store compares the bridge with its desired
// state once. Its first pass and the switch's queued "connected" event
// used to race (Go picks among ready cases at random),
// and when the pass won, the event forced a second full dump and
// comparison: seconds at a million bindings.
func TestARestartReadsTheBridgeOnce(t *testing.T) {
	site := newDaemonSite(t)
	var reg *prometheus.Registry
	site.metrics = func(r *prometheus.Registry) { reg = r }
	opts := Options{LocalTunnelIPs: []string{localTunnelIP}}
	d := site.start(t, opts)
	must[Network](t)(d.state.CreateNetwork(Network{Name: "plane", Attachments: []Attachment{{Port: "h1"}}}))
	site.ovs.Vsctl(t, "add-port", "br-int", "h1", "--", "set", "interface", "h1", "type=internal")
	must[RemoteGateway](t)(d.state.CreateRemoteGateway(RemoteGateway{Name: "site-b", TunnelIP: "198.51.100.2"}))
	must[Connection](t)(d.state.CreateConnection(Connection{Name: "plane-b", Network: "plane", RemoteGateway: "site-b",
		SegmentationID: 5001, NetworkType: TypeVXLAN, Flood: true}))
	d.waitReconciled(t)
	const full = `l2gw_reconcile_pass_duration_seconds_count{kind="full"}`
	site.connectFirst = true // the bridge exists now
	for i := range 6 {
		d.stop()
		d = site.start(t, opts)
		d.waitReconciled(t)
		time.Sleep(300 * time.Millisecond) // a second pass would have begun
		d.waitReconciled(t)
		if n := scrape(t, reg)[full]; n != 1 {
			t.Fatalf("restart %d: %v full passes, want 1", i+1, n)
		}
	}
}
