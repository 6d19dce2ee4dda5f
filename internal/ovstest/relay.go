package ovstest

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// Relay forwards the connections a bridge makes to its controller target
// "unix:SOCK" to an OpenFlow controller listening on TCP in the test's own
// namespace, which an instance in a namespace of its own cannot reach.
type Relay struct {
	// FromSwitch counts the bytes relayed from the switch to the
	// controller.
	FromSwitch atomic.Int64

	mu    sync.Mutex
	conns []net.Conn
}

// RelayController relays every connection made to the unix socket sock to
// the TCP address addr until the test ends.
func RelayController(t testing.TB, sock, addr string) *Relay {
	t.Helper()
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	r := &Relay{}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", addr)
			if err != nil {
				in.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, in, out)
			r.mu.Unlock()
			go func() { io.Copy(out, countingReader{in, &r.FromSwitch}); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	return r
}

// Drop closes the connections relayed so far, as a network failure
// between switch and controller would; the switch connects again.
func (r *Relay) Drop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

// countingReader counts in n the bytes read through it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// FreeAddr returns a loopback TCP address nobody listened on a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Controller relays a controller target for the instance's bridges
// ("unix:PATH" in its directory, returned) to the TCP address addr in the
// test's own namespace, until t ends (RelayController).
func (o *OVS) Controller(t testing.TB, addr string) (string, *Relay) {
	t.Helper()
	sock := filepath.Join(o.Dir, fmt.Sprintf("controller-%d.sock", controllers.Add(1)))
	return "unix:" + sock, RelayController(t, sock, addr)
}

var controllers atomic.Int32
