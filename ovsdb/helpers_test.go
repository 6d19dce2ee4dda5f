package ovsdb

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/stdr"
	"github.com/ovn-org/libovsdb/database/inmemory"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"
	"github.com/ovn-org/libovsdb/server"

	"github.com/l2gw/l2gw/ovsdb/vswitch"
)

// testLog writes to stderr, which go test shows for failed or -v runs only
// (libovsdb's goroutines may log after a test has ended, so not t.Log).
func testLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// txCounter is a unix-socket proxy in front of an ovsdb server that counts
// the "transact" requests clients send through it.
type txCounter struct {
	sock     string
	upstream string
	n        atomic.Int64
}

// countTransactions starts a txCounter in front of the server at upstreamSock.
func countTransactions(t *testing.T, upstreamSock string) *txCounter {
	t.Helper()
	p := &txCounter{sock: filepath.Join(t.TempDir(), "proxy.sock"), upstream: upstreamSock}
	ln, err := net.Listen("unix", p.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go p.relay(conn)
		}
	}()
	return p
}

// Endpoint is the proxy's OVSDB endpoint.
func (p *txCounter) Endpoint() string { return "unix:" + p.sock }

// Transactions is the number of transact requests seen so far.
func (p *txCounter) Transactions() int64 { return p.n.Load() }

func (p *txCounter) relay(down net.Conn) {
	defer down.Close()
	up, err := net.Dial("unix", p.upstream)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		io.Copy(down, up)
		down.Close()
	}()
	dec := json.NewDecoder(down)
	for {
		var msg json.RawMessage
		if err := dec.Decode(&msg); err != nil {
			return
		}
		var req struct {
			Method string `json:"method"`
		}
		if json.Unmarshal(msg, &req) == nil && req.Method == "transact" {
			p.n.Add(1)
		}
		if _, err := up.Write(msg); err != nil {
			return
		}
	}
}

// startMemoryServer serves an empty Open_vSwitch database from libovsdb's
// in-memory server and returns its socket path.
func startMemoryServer(t *testing.T) string {
	t.Helper()
	stdr.SetVerbosity(0) // the server package sets it to 5 and logs every row
	full, err := vswitch.FullDatabaseModel()
	if err != nil {
		t.Fatal(err)
	}
	dbModel, errs := model.NewDatabaseModel(vswitch.Schema(), full)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	srv, err := server.NewOvsdbServer(inmemory.NewDatabase(map[string]model.ClientDBModel{"Open_vSwitch": full}), dbModel)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "db.sock")
	go srv.Serve("unix", sock)
	t.Cleanup(srv.Close)
	waitFor(t, "in-memory ovsdb server ready", srv.Ready)
	return sock
}

// newMemoryClient dials an in-memory server (with its Open_vSwitch row when
// initialised) through a transaction counter.
func newMemoryClient(t *testing.T, initialised bool) (*Client, *txCounter) {
	t.Helper()
	counter := countTransactions(t, startMemoryServer(t))
	c, err := Dial(context.Background(), counter.Endpoint(), testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if initialised {
		commit(t, c, ovsdb.Operation{Op: ovsdb.OperationInsert, Table: vswitch.OpenvSwitchTable, Row: ovsdb.Row{}})
		waitFor(t, "Open_vSwitch row in the cache", func() bool { return snap(t, c).root != "" })
	}
	return c, counter
}

// commit runs ops in one transaction, failing t on error.
func commit(t *testing.T, c *Client, ops ...ovsdb.Operation) {
	t.Helper()
	if err := c.transact(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
}

// mustOps fails t when building operations failed.
func mustOps(t *testing.T) func([]ovsdb.Operation, error) []ovsdb.Operation {
	return func(ops []ovsdb.Operation, err error) []ovsdb.Operation {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ops
	}
}

// snap copies the client's cache.
func snap(t *testing.T, c *Client) *snapshot {
	t.Helper()
	s, err := c.snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// drain empties the Changes channel.
func drain(c *Client) {
	select {
	case <-c.Changes():
	default:
	}
}

// awaitChange fails t unless Changes delivers a value within 10 s.
func awaitChange(t *testing.T, c *Client, after string) {
	t.Helper()
	select {
	case <-c.Changes():
	case <-time.After(10 * time.Second):
		t.Fatalf("no Changes() signal after %s", after)
	}
}
