package api

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/flows"
)

// updateWire rewrites testdata/wire.golden from the API as it answers now.
var updateWire = flag.Bool("update-wire", false, "rewrite testdata/wire.golden")

// wireGolden holds every answer of TestWireBytes, as the API sent them
// when its wire types still were app's (before they moved to api): the
// wire of existing clients, byte for byte.
const wireGolden = "testdata/wire.golden"

// wireStep is one request of TestWireBytes.
type wireStep struct{ method, path, body string }

// wireRecorder sends requests to a handler and writes each answer's
// status, Content-Type, Allow header and exact body, with the state's
// data directory (a temporary one, in store errors) written as DATA_DIR.
type wireRecorder struct {
	t       *testing.T
	dataDir string
	out     bytes.Buffer
}

// send sends steps to h and records the answers under section.
func (w *wireRecorder) send(section string, h http.Handler, steps ...wireStep) {
	w.t.Helper()
	c := &client{t: w.t, h: h}
	fmt.Fprintf(&w.out, "=== %s\n", section)
	for _, s := range steps {
		resp := c.do(s.method, s.path, s.body)
		fmt.Fprintf(&w.out, "%s %s %s\n%d %q %q\n%q\n", s.method, s.path, s.body,
			resp.status, resp.header.Get("Content-Type"), resp.header.Get("Allow"), strings.ReplaceAll(resp.body, w.dataDir, "DATA_DIR"))
	}
}

// TestWireBytes replays requests to every endpoint, successes and every
// kind of rejection with the field paths app blames, and checks that the
// API answers them byte for byte as testdata/wire.golden says (field
// names and order, omitted and empty fields, error codes and paths, the
// flow report and its cookies).
func TestWireBytes(t *testing.T) {
	w := &wireRecorder{t: t}
	recordResources(t, w)
	recordSwitchViews(t, w)
	if *updateWire {
		if err := os.WriteFile(wireGolden, w.out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(wireGolden)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.out.Bytes(); !bytes.Equal(got, want) {
		gotLines, wantLines := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
		for i := range min(len(gotLines), len(wantLines)) {
			if !bytes.Equal(gotLines[i], wantLines[i]) {
				t.Fatalf("%s line %d:\n got  %s\n want %s", wireGolden, i+1, gotLines[i], wantLines[i])
			}
		}
		t.Fatalf("%s: %d lines, want %d", wireGolden, len(gotLines), len(wantLines))
	}
}

// recordResources records the CRUD routes, the status and readiness, and
// their rejections, over a state of its own (closed at the end, so that a
// write is Unavailable).
func recordResources(t *testing.T, w *wireRecorder) {
	w.dataDir = t.TempDir()
	state, err := app.Open(w.dataDir, app.Options{Logger: slog.New(slog.DiscardHandler), LocalTunnelIPs: []string{"198.51.100.1"}})
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(state, func() app.Status { return testStatus }, nil)
	ready := NewHandler(state, func() app.Status {
		return app.Status{Bridge: "br-int", Connected: true, OVSDBConnected: true, Reconciled: true, Flows: 7, FlowMods: 9, Bundles: 2}
	}, nil)
	w.send("networks", h,
		wireStep{"GET", "/v1/networks", ""},
		wireStep{"POST", "/v1/networks", `{"name":"backup","attachments":[{"port":"eth1"},{"port":"trunk0","vlan":100}]}`},
		wireStep{"POST", "/v1/networks", `{"name":"empty"}`},
		wireStep{"POST", "/v1/networks", `{"name":"lab","attachments":[]}`},
		wireStep{"GET", "/v1/networks", ""},
		wireStep{"GET", "/v1/networks/backup", ""},
		wireStep{"PUT", "/v1/networks/empty", `{"attachments":[{"port":"eth3","vlan":7}]}`},
		wireStep{"PUT", "/v1/networks/lab", `{"name":"lab","attachments":[{"port":"eth4"}]}`},
	)
	w.send("network rejections", h,
		wireStep{"POST", "/v1/networks", `{"name":"Bad_Name"}`},
		wireStep{"POST", "/v1/networks", `{"name":"backup"}`},
		wireStep{"POST", "/v1/networks", `{"name":"n2","attachments":[{"port":"eth2"},{"port":"eth5","vlan":4095}]}`},
		wireStep{"POST", "/v1/networks", `{"name":"n2","attachments":[{"port":"eth2"},{"port":"eth2"}]}`},
		wireStep{"POST", "/v1/networks", `{"name":"n2","attachments":[{"port":"a/b"}]}`},
		wireStep{"POST", "/v1/networks", `{"name":"n2","attachments":[{"port":"eth9"},{"port":"eth1"}]}`},
		wireStep{"POST", "/v1/networks", `{"name":"n2","attachments":[{"port":"eth2","vlan":"100"}]}`},
		wireStep{"POST", "/v1/networks", `{"name":"n2","ID":7}`},
		wireStep{"POST", "/v1/networks", `{"name":"n2","attachments":[{"port":"eth2","tag":5}]}`},
		wireStep{"POST", "/v1/networks", `{"name":`},
		wireStep{"POST", "/v1/networks", ``},
		wireStep{"POST", "/v1/networks", `{"name":"n2"} {}`},
		wireStep{"PUT", "/v1/networks/backup", `{"name":"other"}`},
		wireStep{"PUT", "/v1/networks/nope", `{"attachments":[]}`},
		wireStep{"GET", "/v1/networks/nope", ""},
		wireStep{"DELETE", "/v1/networks/nope", ""},
		wireStep{"PATCH", "/v1/networks/backup", `{}`},
		wireStep{"GET", "/v1/nothing", ""},
	)
	w.send("remote gateways", h,
		wireStep{"GET", "/v1/remote-gateways", ""},
		wireStep{"POST", "/v1/remote-gateways", `{"name":"site-b","tunnel_ip":"198.51.100.2"}`},
		wireStep{"POST", "/v1/remote-gateways", `{"name":"site-c","tunnel_ip":"::ffff:203.0.113.3"}`},
		wireStep{"POST", "/v1/remote-gateways", `{"name":"site-d","tunnel_ip":"2001:DB8::4"}`},
		wireStep{"GET", "/v1/remote-gateways", ""},
		wireStep{"GET", "/v1/remote-gateways/site-c", ""},
		wireStep{"PUT", "/v1/remote-gateways/site-d", `{"tunnel_ip":"203.0.113.4"}`},
		wireStep{"POST", "/v1/remote-gateways", `{"name":"site-x","tunnel_ip":"not-an-ip"}`},
		wireStep{"POST", "/v1/remote-gateways", `{"name":"site-x","tunnel_ip":"198.51.100.1"}`},
		wireStep{"POST", "/v1/remote-gateways", `{"name":"site-x","tunnel_ip":"198.51.100.2"}`},
		wireStep{"POST", "/v1/remote-gateways", `{"name":"site-b","tunnel_ip":"198.51.100.9"}`},
		wireStep{"PUT", "/v1/remote-gateways/site-b", `{"name":"site-c","tunnel_ip":"198.51.100.9"}`},
		wireStep{"GET", "/v1/remote-gateways/nope", ""},
	)
	w.send("connections", h,
		wireStep{"GET", "/v1/connections", ""},
		wireStep{"POST", "/v1/connections", `{"name":"backup-b","network":"backup","remote_gateway":"site-b","segmentation_id":5001}`},
		wireStep{"POST", "/v1/connections", `{"name":"backup-c","network":"backup","remote_gateway":"site-c","segmentation_id":7,"network_type":"gre","flood":false}`},
		wireStep{"POST", "/v1/connections", `{"name":"lab-b","network":"lab","remote_gateway":"site-b","segmentation_id":5002,"network_type":"geneve","flood":true}`},
		wireStep{"POST", "/v1/connections", `{"name":"backup-d","network":"backup","remote_gateway":"site-d","segmentation_id":5001}`},
		wireStep{"GET", "/v1/connections", ""},
		wireStep{"GET", "/v1/connections/backup-c", ""},
		wireStep{"POST", "/v1/connections", `{"name":"x.y","network":"lab","remote_gateway":"site-c","segmentation_id":7}`},
		wireStep{"POST", "/v1/connections", `{"name":"c2","remote_gateway":"site-c","segmentation_id":7}`},
		wireStep{"POST", "/v1/connections", `{"name":"c2","network":"lab","segmentation_id":7}`},
		wireStep{"POST", "/v1/connections", `{"name":"c2","network":"nope","remote_gateway":"site-c","segmentation_id":7}`},
		wireStep{"POST", "/v1/connections", `{"name":"c2","network":"lab","remote_gateway":"nope","segmentation_id":7}`},
		wireStep{"POST", "/v1/connections", `{"name":"c2","network":"lab","remote_gateway":"site-b","segmentation_id":7}`},
		wireStep{"POST", "/v1/connections", `{"name":"c2","network":"empty","remote_gateway":"site-b","segmentation_id":5001}`},
		wireStep{"POST", "/v1/connections", `{"name":"c2","network":"empty","remote_gateway":"site-c","segmentation_id":16777216}`},
		wireStep{"POST", "/v1/connections", `{"name":"c2","network":"empty","remote_gateway":"site-c","segmentation_id":7,"network_type":"mpls"}`},
		wireStep{"POST", "/v1/connections", `{"name":"c2","network":"empty","remote_gateway":"site-c","segmentation_id":-1}`},
		wireStep{"POST", "/v1/connections", `{"name":"c2","network":"empty","remote_gateway":"site-c","segmentation_id":7,"flood":"yes"}`},
		wireStep{"POST", "/v1/connections", `{"name":"backup-b","network":"empty","remote_gateway":"site-c","segmentation_id":9}`},
		wireStep{"DELETE", "/v1/networks/backup", ""},
		wireStep{"DELETE", "/v1/remote-gateways/site-b", ""},
		wireStep{"GET", "/v1/connections/nope", ""},
	)
	w.send("macs", h,
		wireStep{"GET", "/v1/connections/backup-b/macs", ""},
		wireStep{"POST", "/v1/connections/backup-b/macs", `{"macs":[{"mac":"02:0B:00:00:00:02","ips":["192.0.2.22","2001:DB8::22"]},{"mac":"02-0b-00-00-00-01"},{"mac":"02:0b:00:00:00:03","ips":[]}]}`},
		wireStep{"GET", "/v1/connections/backup-b/macs", ""},
		wireStep{"PUT", "/v1/connections/backup-c/macs", `{"macs":[{"mac":"02:0c:00:00:00:01","ips":["::ffff:192.0.2.31"]}]}`},
		wireStep{"POST", "/v1/macs:move", `{"to":"backup-d","from":"backup-b","macs":["02:0b:00:00:00:03","02:0B:00:00:00:02"]}`},
		wireStep{"POST", "/v1/macs:move", `{"to":"backup-d","macs":["02:0b:00:00:00:03"]}`},
		wireStep{"DELETE", "/v1/connections/backup-d/macs/02:0b:00:00:00:03", ""},
		wireStep{"GET", "/v1/connections/backup-d/macs", ""},
		wireStep{"PUT", "/v1/connections/backup-c/macs", `{"macs":[]}`},
		wireStep{"GET", "/v1/connections/backup-c/macs", ""},
	)
	w.send("mac rejections", h,
		wireStep{"POST", "/v1/connections/backup-b/macs", `{"macs":[]}`},
		wireStep{"PUT", "/v1/connections/backup-b/macs", `{}`},
		wireStep{"POST", "/v1/connections/backup-b/macs", `{"macs":{}}`},
		wireStep{"POST", "/v1/connections/backup-b/macs", `{"macs":[{"mac":"02:0b:00:00:00:05","ip":["192.0.2.5"]}]}`},
		wireStep{"POST", "/v1/connections/backup-b/macs", `{"macs":[{"mac":"02:0b:00:00:00:05","ips":"192.0.2.5"}]}`},
		wireStep{"POST", "/v1/connections/backup-b/macs", `{"macs":[{"mac":"02:0b:00:00:00:05"},{"mac":"ff:ff:ff:ff:ff:ff"}]}`},
		wireStep{"POST", "/v1/connections/backup-b/macs", `{"macs":[{"mac":"02:0b:00:00:00:05"},{"mac":"02:0b:00:00:00:05"}]}`},
		wireStep{"POST", "/v1/connections/backup-b/macs", `{"macs":[{"mac":"02:0b:00:00:00:05"},{"mac":"02:0b:00:00:00:06"},{"mac":"02:0b:00:00:00:07"},{"mac":"02:0b:00:00:00:08","ips":["192.0.2.999"]}]}`},
		wireStep{"POST", "/v1/connections/backup-b/macs", `{"macs":[{"mac":"02:0b:00:00:00:05","ips":["192.0.2.5","192.0.2.5"]}]}`},
		wireStep{"POST", "/v1/connections/backup-b/macs", `{"macs":[{"mac":"02:0b:00:00:00:05","ips":["192.0.2.5"]},{"mac":"02:0b:00:00:00:06","ips":["192.0.2.5"]}]}`},
		wireStep{"POST", "/v1/connections/backup-b/macs", `{"macs":[{"mac":"02:0b:00:00:00:01"}]}`},
		wireStep{"POST", "/v1/connections/backup-b/macs", `{"macs":[{"mac":"02:0b:00:00:00:05"},{"mac":"02:0b:00:00:00:06","ips":["192.0.2.22"]}]}`},
		wireStep{"PUT", "/v1/connections/backup-c/macs", `{"macs":[{"mac":"02:0b:00:00:00:01"}]}`},
		wireStep{"POST", "/v1/connections/nope/macs", `{"macs":[{"mac":"02:0b:00:00:00:05"}]}`},
		wireStep{"DELETE", "/v1/connections/backup-b/macs/02:0b", ""},
		wireStep{"DELETE", "/v1/connections/backup-b/macs/02:0b:00:00:00:09", ""},
		wireStep{"POST", "/v1/macs:move", `{"macs":["02:0b:00:00:00:01"]}`},
		wireStep{"POST", "/v1/macs:move", `{"to":"backup-c"}`},
		wireStep{"POST", "/v1/macs:move", `{"to":"backup-c","macs":"02:0b:00:00:00:01"}`},
		wireStep{"POST", "/v1/macs:move", `{"to":"backup-c","macs":["02:0b:00:00:00:01"],"force":true}`},
		wireStep{"POST", "/v1/macs:move", `{"to":"backup-c","macs":["02:0b:00:00:00:01","02:0b"]}`},
		wireStep{"POST", "/v1/macs:move", `{"to":"backup-c","macs":["02:0b:00:00:00:01","02:0b:00:00:00:01"]}`},
		wireStep{"POST", "/v1/macs:move", `{"to":"backup-c","from":"lab-b","macs":["02:0b:00:00:00:01"]}`},
		wireStep{"POST", "/v1/macs:move", `{"to":"nope","macs":["02:0b:00:00:00:01"]}`},
		wireStep{"POST", "/v1/macs:move", `{"to":"backup-c","from":"nope","macs":["02:0b:00:00:00:01"]}`},
		wireStep{"POST", "/v1/macs:move", `{"to":"backup-c","macs":["02:0b:00:00:00:01","02:0b:00:00:00:09"]}`},
		wireStep{"POST", "/v1/macs:move", `{"to":"backup-c","from":"backup-d","macs":["02:0b:00:00:00:01"]}`},
	)
	w.send("status", h,
		wireStep{"GET", "/v1/status", ""},
		wireStep{"GET", "/readyz", ""},
		wireStep{"GET", "/v1/flows", ""},
		wireStep{"GET", "/v1/flows?network=nope", ""},
		wireStep{"GET", "/v1/flows?colour=red", ""},
		wireStep{"GET", "/v1/networks/backup/learned", ""},
		wireStep{"DELETE", "/v1/networks/nope/learned", ""},
	)
	w.send("ready", ready,
		wireStep{"GET", "/v1/status", ""},
		wireStep{"GET", "/readyz", ""},
	)
	w.send("deletes", h,
		wireStep{"DELETE", "/v1/connections/backup-d", ""},
		wireStep{"DELETE", "/v1/remote-gateways/site-d", ""},
		wireStep{"DELETE", "/v1/networks/empty", ""},
	)
	if err := state.Close(); err != nil {
		t.Fatal(err)
	}
	w.send("store closed", h,
		wireStep{"POST", "/v1/networks", `{"name":"late"}`},
		wireStep{"GET", "/v1/networks/lab", ""},
	)
}

// recordSwitchViews records the flow report and the learned MACs over a
// running reconciler whose switch is a fake: down, then up with a learned
// entry, a missing, an extra and a different flow.
func recordSwitchViews(t *testing.T, w *wireRecorder) {
	s := newSite(t)
	s.seed(seedNetwork, seedGateway, seedConn,
		[2]string{"/v1/connections/backup-b/macs", `{"macs":[{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21","2001:db8::21"]}]}`})
	h := NewHandler(s.state, func() app.Status { return testStatus }, nil, WithFlows(s.rec.Flows), WithLearned(s.rec))
	w.send("switch down", h,
		wireStep{"GET", "/v1/flows", ""},
		wireStep{"GET", "/v1/networks/backup/learned", ""},
		wireStep{"DELETE", "/v1/networks/backup/learned", ""},
	)
	s.br.connect()
	s.sw.connect()
	s.awaitReady()
	w.send("switch up, in sync", h,
		wireStep{"GET", "/v1/flows", ""},
		wireStep{"GET", "/v1/flows?diff=true", ""},
		wireStep{"GET", "/v1/networks/backup/learned", ""},
	)

	net, err := s.state.GetNetwork("backup")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.state.GetConnection("backup-b")
	if err != nil {
		t.Fatal(err)
	}
	s.sw.learn(flows.LearnedConnectionCookie(conn.ID))
	s.sw.learn(flows.LearnedCookie(net.ID))
	rep, err := s.rec.Flows(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.sw.mu.Lock()
	for _, o := range rep.Owners {
		switch o.Kind {
		case "binding": // its first flow goes missing
			delete(s.sw.flows, uint64(o.Flows[0].Cookie))
		case "pipeline": // its first flow is installed with other content
			for _, f := range o.Flows {
				if f.Priority == 0 {
					delete(s.sw.flows, uint64(f.Cookie))
					s.sw.flows[uint64(f.Cookie)^1] = f.TableID
					break
				}
			}
		}
	}
	// A flow of connection 99, which the state does not have.
	s.sw.flows[flows.ControllerCookie|uint64(flows.KindConnection)<<56|99<<32|0x1234] = flows.TableL2Lookup
	s.sw.mu.Unlock()
	w.send("switch up, differing", h,
		wireStep{"GET", "/v1/flows", ""},
		wireStep{"GET", "/v1/flows?diff=true", ""},
		wireStep{"GET", "/v1/flows?network=backup", ""},
		wireStep{"GET", "/v1/flows?connection=backup-b&diff=1", ""},
		wireStep{"GET", "/v1/flows?diff=maybe", ""},
		wireStep{"DELETE", "/v1/networks/backup/learned", ""},
	)
	learned := NewHandler(s.state, func() app.Status { return testStatus }, nil, WithLearned(&stubLearner{}))
	w.send("learned", learned,
		wireStep{"GET", "/v1/networks/backup/learned", ""},
		wireStep{"DELETE", "/v1/networks/backup/learned", ""},
	)
}
