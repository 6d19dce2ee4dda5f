package frrtest

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// ForwardTCP lets a TCP server of the test process, on loopback of the
// test's own namespace (a BGP speaker, say), take the connections that
// something in network namespace netns (an instance's bgpd) opens toward
// listen: it listens on listen inside netns (listen's address must be one
// of that namespace's) and carries every connection it accepts there, byte
// for byte both ways, to target, from local address from (so a speaker
// that admits only its configured peers sees the one it knows at from).
// Only that direction: nothing connects from the test's namespace into
// netns. When the test ends it stops listening and closes what it carries.
// Any error fails t.
func ForwardTCP(t testing.TB, netns string, listen, target netip.AddrPort, from netip.Addr) {
	t.Helper()
	var ln net.Listener
	ovstest.InNetNS(t, netns, func() (err error) {
		ln, err = net.Listen("tcp", listen.String())
		return err
	})
	var (
		mu     sync.Mutex
		conns  = map[net.Conn]bool{}
		closed bool
		wg     sync.WaitGroup
	)
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			c.Close()
			return false
		}
		conns[c] = true
		return true
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	dialer := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return // closed at the end of the test
			}
			if !track(in) {
				return
			}
			out, err := dialer.Dial("tcp", target.String())
			if err != nil {
				t.Logf("frrtest: forward %s to %s: %v", listen, target, err)
				in.Close()
				continue
			}
			if !track(out) {
				in.Close()
				return
			}
			wg.Add(2)
			go pipe(&wg, out, in)
			go pipe(&wg, in, out)
		}
	}()
}

// pipe copies from src to dst until either ends, then closes both.
func pipe(wg *sync.WaitGroup, dst, src net.Conn) {
	defer wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}
