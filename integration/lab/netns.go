package lab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// netnsPath is where `ip netns add NAME` mounts a namespace.
func netnsPath(name string) string { return "/var/run/netns/" + name }

// inNetNS runs fn on an OS thread that has entered the network namespace
// at path; sockets fn opens belong to that namespace. The thread returns to
// the caller's namespace afterwards; if it cannot, it stays locked so it dies
// with its goroutine instead of serving other goroutines in the wrong
// namespace. fn must not start goroutines that open sockets.
func inNetNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := runInNetNS(path, fn)
		if restored {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// runInNetNS is inNetNS's body on the locked thread; restored reports whether
// the thread is back in its original namespace.
func runInNetNS(path string, fn func() error) (restored bool, err error) {
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return true, fmt.Errorf("open current network namespace: %w", err)
	}
	defer orig.Close()
	target, err := os.Open(path)
	if err != nil {
		return true, fmt.Errorf("open network namespace: %w", err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return true, fmt.Errorf("enter network namespace %s: %w", path, err)
	}
	fnErr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		return false, fmt.Errorf("return from network namespace %s: %w", path, err)
	}
	return true, fnErr
}

// HTTPClient returns an HTTP client whose connections are opened inside the
// site's namespace, so the test reaches servers listening there (such as
// l2gwd's API on 127.0.0.1). URLs must name the host by IP address.
func (s *Site) HTTPClient() *http.Client {
	path := netnsPath(s.NetNS)
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return dialInNetNS(ctx, path, network, addr)
			},
		},
	}
}

// dialInNetNS dials addr (an IP literal and port) from inside the namespace
// at path. A literal keeps the dial on the calling goroutine: a host name
// could make net.Dialer resolve or race addresses on other threads.
func dialInNetNS(ctx context.Context, path, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s in %s: %w", addr, path, err)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return nil, fmt.Errorf("dial %s in %s: host must be an IP address", addr, path)
	}
	var conn net.Conn
	err = inNetNS(path, func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}
