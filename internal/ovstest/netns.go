package ovstest

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
)

var namespaces atomic.Int32

// NetNS creates a network namespace of its own for t, named prefix-PID-N,
// and deletes it when t ends.
func NetNS(t testing.TB, prefix string) string {
	t.Helper()
	ns := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), namespaces.Add(1))
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	return ns
}

// RelayController relays every connection made to a unix socket in the
// instance's directory to the TCP address addr, until t ends, and returns
// the socket as a controller target ("unix:PATH"). An OVS in a namespace
// of its own reaches a controller listening in the test's namespace so.
func (o *OVS) RelayController(t testing.TB, addr string) string {
	t.Helper()
	sock := filepath.Join(o.Dir, "controller.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
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
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	return "unix:" + sock
}
