package ovstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

var netnsCount atomic.Int32

// NetNS creates a network namespace of its own for the test, named after
// prefix, the process and a counter, and deletes it when the test ends.
func NetNS(t testing.TB, prefix string) string {
	t.Helper()
	ns := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), netnsCount.Add(1))
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	return ns
}

// InNetNS runs fn on an OS thread that entered the network namespace ns;
// sockets it opens live there. The thread goes back to the test's own
// namespace afterwards, or is discarded if it cannot. An error fails t.
func InNetNS(t testing.TB, ns string, fn func() error) {
	t.Helper()
	if err := inNetNS(ns, fn); err != nil {
		t.Fatal(err)
	}
}

// inNetNS is InNetNS returning the error.
func inNetNS(ns string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- err
			return // the goroutine ends locked: its thread is discarded
		}
		defer home.Close()
		target, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			done <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("enter network namespace %s: %w", ns, err)
			return
		}
		fnErr := fn()
		if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("leave network namespace %s: %w", ns, err)
			return
		}
		runtime.UnlockOSThread()
		done <- fnErr
	}()
	return <-done
}
