package main

import (
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/l2gw/l2gw/api"
	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/flows"
)

func TestLearnedListAndFlush(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	state, err := app.Open(t.TempDir(), app.Options{Logger: quiet, LocalTunnelIPs: []string{"198.51.100.1"}})
	if err != nil {
		t.Fatalf("open state: %v", err)
	}
	sw := &memSwitch{flows: map[uint64]flows.DumpedFlow{}}
	rec := app.NewReconciler(app.ReconcilerConfig{Bridge: "br-int", Logger: quiet}, state, sw, readyBridge{})
	srv := httptest.NewServer(api.NewHandler(state, rec.Status, nil, api.WithLearned(rec)))
	t.Cleanup(func() {
		srv.Close()
		state.Close()
	})
	play(t, srv.URL, []step{
		{args: "network create backup --attach eth1", stdout: "created network backup\n"},
		{args: "gateway create site-b --tunnel-ip 198.51.100.2", stdout: "created gateway site-b\n"},
		{args: "connection create backup-b --network backup --gateway site-b --segmentation-id 5001", stdout: "created connection backup-b\n"},
		{args: "learned list backup", stdout: "MAC   VIA   AGE\n"},
	})
	backup, _ := state.GetNetwork("backup")
	conn, _ := state.GetConnection("backup-b")
	sw.edit(func(fs map[uint64]flows.DumpedFlow) {
		for _, f := range []flows.DumpedFlow{
			{Cookie: flows.LearnedCookie(backup.ID), HasEthDst: true, EthDst: [6]byte{2, 0, 0, 0, 0, 1}, LearnedPort: 1, Duration: 42 * time.Second},
			{Cookie: flows.LearnedConnectionCookie(conn.ID), HasEthDst: true, EthDst: [6]byte{2, 0x0b, 0, 0, 0, 9}, LearnedPort: 2, Duration: 7 * time.Second},
		} {
			f.Table, f.Priority = flows.TableL2Lookup, flows.PriorityLearned
			fs[f.Cookie] = f
		}
	})
	play(t, srv.URL, []step{
		{args: "learned list backup", stdout: "MAC                 VIA                                    AGE\n" +
			"02:00:00:00:00:01   port eth1                              42s\n" +
			"02:0b:00:00:00:09   gateway site-b (connection backup-b)   7s\n"},
		{args: "-o json learned list backup", stdout: "{\n  \"learned\": [\n" +
			"    {\n      \"mac\": \"02:00:00:00:00:01\",\n      \"via\": \"port eth1\",\n      \"age_seconds\": 42\n    },\n" +
			"    {\n      \"mac\": \"02:0b:00:00:00:09\",\n      \"via\": \"gateway site-b (connection backup-b)\",\n      \"age_seconds\": 7\n    }\n  ]\n}\n"},
		{args: "learned flush backup", stdout: "flushed 2 learned MAC(s) of network backup\n"},
		{args: "learned list backup", stdout: "MAC   VIA   AGE\n"},
		{args: "learned flush nope", code: 1, stderr: `network "nope" not found`},
		{args: "learned list", code: 2, stderr: "NETWORK"},
	})
}
