package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nsPrefix starts the name of every namespace the benchmark creates; the
// rest is the pid of the outer process that owns it.
const nsPrefix = "l2gwbench-"

// runOuter prepares the namespace, runs the benchmark inside it and removes
// the namespace with everything still running in it.
func runOuter(o options) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("needs root: it creates a network namespace and runs its own Open vSwitch")
	}
	for _, bin := range []string{"ip", "ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found (make deps installs Open vSwitch and iproute2): %w", bin, err)
		}
	}
	if o.l2gwd, err = filepath.Abs(o.l2gwd); err != nil {
		return fmt.Errorf("l2gwd path: %w", err)
	}
	if _, err := os.Stat(o.l2gwd); err != nil {
		return fmt.Errorf("l2gwd binary (make build puts it in bin/): %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	removeStaleNamespaces()

	ns := nsPrefix + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return fmt.Errorf("create namespace %s: %w: %s", ns, err, strings.TrimSpace(string(out)))
	}
	defer removeNamespace(ns)
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("bring up loopback in %s: %w: %s", ns, err, strings.TrimSpace(string(out)))
	}
	workDir, err := os.MkdirTemp("", nsPrefix)
	if err != nil {
		return fmt.Errorf("create working directory: %w", err)
	}
	defer func() {
		if err != nil {
			fmt.Fprintf(os.Stderr, "l2gw-bench: logs kept in %s\n", workDir)
			return
		}
		os.RemoveAll(workDir)
	}()

	// ip netns exec execs the program in place: the child is the inner run.
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, self}, o.innerArgs(workDir)...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the benchmark in %s: %w", ns, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			// The inner run cleans up on SIGTERM and prints what it has.
			fmt.Fprintf(os.Stderr, "l2gw-bench: %s, stopping\n", sig)
			cmd.Process.Signal(syscall.SIGTERM)
		case err := <-waited:
			if err != nil {
				return fmt.Errorf("benchmark run: %w", err)
			}
			return nil
		}
	}
}

// removeStaleNamespaces removes the namespaces of earlier runs whose owner
// is gone, and the processes left in them.
func removeStaleNamespaces() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || !strings.HasPrefix(fields[0], nsPrefix) {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimPrefix(fields[0], nsPrefix))
		if err == nil && syscall.Kill(pid, 0) == nil {
			continue // its benchmark is still running
		}
		fmt.Fprintf(os.Stderr, "l2gw-bench: removing namespace %s left over by an earlier run\n", fields[0])
		removeNamespace(fields[0])
	}
}

// removeNamespace kills every process inside ns (all of them started by
// the benchmark), waits for them to exit and deletes ns.
func removeNamespace(ns string) {
	pids := namespacePids(ns)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(10 * time.Second); len(pids) > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		pids = namespacePids(ns)
	}
	if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "l2gw-bench: delete namespace %s: %v: %s\n", ns, err, strings.TrimSpace(string(out)))
	}
}

// namespacePids lists the processes running inside ns.
func namespacePids(ns string) []int {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}
