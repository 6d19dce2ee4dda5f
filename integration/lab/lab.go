// Package lab builds multi-site test labs in network namespaces for
// end-to-end tests: each site has its own private Open vSwitch (userspace
// datapath) with an underlay bridge br-phy that carries the site's tunnel IP,
// all sites share one WAN (a Linux bridge in its own namespace), and hosts are
// namespaces whose eth0 plugs into a site's br-int, untagged or behind a VLAN
// access switch.
//
// The lab owns only the namespaces it creates (all named <prefix><name>) and
// the processes it starts in them; it never touches the test's own network
// namespace. It does not create br-int: l2gwd (or the test) does.
//
// Addresses: tunnel IPs come from 198.51.100.0/24 or, for an IPv6 (or
// dual-stack) WAN, from 2001:db8::/32; host IPs from 192.0.2.0/24; nothing
// leaves the lab's namespaces.
//
// Building a lab (New, AddSite, AddHost) is not safe for concurrent use, and
// AddSite fails the test given to New, so call it from that test's goroutine.
// Running things in a built lab (Exec, Ping, Arping, HTTPClient) is.
package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l2gw/l2gw/internal/ovstest"
	"golang.org/x/sys/unix"
)

// WANMTU is the MTU of every WAN link: room for a full 1500-byte host frame
// plus a VXLAN, GRE or Geneve header.
const WANMTU = 1600

// pollTimeout bounds every wait for OVS or the kernel to catch up.
const pollTimeout = 10 * time.Second

// namePattern is what site and host names may look like. Names carry no '-',
// so a prefix's leftovers can be told apart from those of a longer prefix.
var namePattern = regexp.MustCompile(`^[a-z0-9]+$`)

// Lab is a set of sites joined by a shared WAN, all in namespaces that start
// with one prefix.
type Lab struct {
	t      *testing.T
	prefix string
	wanNS  string   // "" until the first site is added
	netns  []string // namespaces created, in creation order
	logDir string   // process logs, kept when the test fails
	sites  map[string]*Site
}

// New creates an empty lab whose namespaces all start with prefix (for
// example "l2gwt-vx-"; it must end with '-' and must differ from every other
// test's prefix). Labs with the same prefix take turns: New waits until no
// other process holds the prefix (a crashed holder releases it). It then
// deletes the namespaces a crashed run with the same prefix left behind
// (killing what still runs in them), and registers a cleanup on t that stops
// every process the lab started and deletes every namespace it created. It
// skips t when the tools the lab needs are missing (see Require).
func New(t *testing.T, prefix string) *Lab {
	t.Helper()
	Require(t)
	if !strings.HasSuffix(prefix, "-") || len(prefix) < 2 || strings.Contains(prefix, "/") {
		t.Fatalf("lab prefix %q must end with '-' and hold no '/'", prefix)
	}
	lockPrefix(t, prefix)
	removeLeftovers(t, prefix)
	logDir, err := os.MkdirTemp("", "l2gw-lab-")
	if err != nil {
		t.Fatalf("create lab log directory: %v", err)
	}
	l := &Lab{t: t, prefix: prefix, logDir: logDir, sites: map[string]*Site{}}
	t.Cleanup(l.cleanup)
	return l
}

// Require skips t unless the test runs as root and every tool the lab uses
// is installed: Open vSwitch, iproute2, iputils-ping, Thomas Habets' arping
// and tcpdump. With L2GW_REQUIRE_OVS=1 in the environment it fails t instead.
func Require(t testing.TB) {
	t.Helper()
	ovstest.Require(t)
	for _, bin := range []string{"ip", "ping", "arping", "ndisc6", "tcpdump"} {
		if _, err := exec.LookPath(bin); err != nil {
			ovstest.SkipOrFail(t, bin+" is not installed (apt-get install iproute2 iputils-ping arping ndisc6 tcpdump)")
		}
	}
	if err := checkArping(); err != nil {
		ovstest.SkipOrFail(t, err.Error())
	}
}

// LogDir is the directory that holds the logs of processes started with
// Site.StartProcess. It is deleted when the test passes and kept otherwise.
func (l *Lab) LogDir() string { return l.logDir }

// addNetNS creates namespace name with lo up and IPv6 off (a quiet lab: no
// router solicitations or MLD reports in flow counters and captures) and
// records it for cleanup.
func (l *Lab) addNetNS(name string) error {
	if _, err := run("ip", "netns", "add", name); err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	l.netns = append(l.netns, name)
	for _, cmd := range [][]string{
		{"ip", "-n", name, "link", "set", "lo", "up"},
		{"ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"},
		{"ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"},
	} {
		if _, err := run(cmd[0], cmd[1:]...); err != nil {
			return fmt.Errorf("set up namespace %s: %w", name, err)
		}
	}
	return nil
}

// cleanup deletes the lab's namespaces, newest first, after killing whatever
// still runs in them. Processes and OVS instances registered their own
// cleanups later, so they have already stopped.
func (l *Lab) cleanup() {
	for i := len(l.netns) - 1; i >= 0; i-- {
		deleteNetNS(l.t, l.netns[i])
	}
	if l.t.Failed() {
		l.t.Logf("lab process logs kept in %s", l.logDir)
		return
	}
	os.RemoveAll(l.logDir)
}

// lockPrefix takes an exclusive lock on prefix for the rest of t, waiting
// for another test process (say a concurrent `go test ./...`) to finish with
// it. The kernel drops the lock when its holder dies.
func lockPrefix(t *testing.T, prefix string) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "l2gw-lab-"+prefix+"lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("open lab lock: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
		return
	}
	t.Logf("waiting for another test process to finish with lab prefix %s (lock %s)", prefix, path)
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatalf("lock lab prefix %s: %v", prefix, err)
	}
}

// removeLeftovers deletes the namespaces <prefix><name> (name without '-')
// that a previous run of a lab with this prefix left behind.
func removeLeftovers(t *testing.T, prefix string) {
	t.Helper()
	out, err := run("ip", "netns", "list")
	if err != nil {
		t.Fatalf("list namespaces: %v", err)
	}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		name := fields[0]
		if rest, ok := strings.CutPrefix(name, prefix); ok && namePattern.MatchString(rest) {
			t.Logf("deleting namespace %s left by an earlier run", name)
			deleteNetNS(t, name)
		}
	}
}

// deleteNetNS kills every process in namespace name, then deletes it.
func deleteNetNS(t testing.TB, name string) {
	t.Helper()
	out, _ := run("ip", "netns", "pids", name)
	for _, field := range strings.Fields(out) {
		if pid, err := strconv.Atoi(field); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if _, err := run("ip", "netns", "del", name); err != nil {
		t.Errorf("delete namespace %s: %v", name, err)
	}
}

// run runs a command in the test's own namespace and returns its standard
// output; a failure's error carries its standard error.
func run(name string, args ...string) (string, error) {
	return runCmd(exec.Command(name, args...))
}

// runCmd runs cmd and returns its standard output; a failure's error carries
// its standard error.
func runCmd(cmd *exec.Cmd) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// runAll runs each command in order and stops at the first failure.
func runAll(cmds ...[]string) error {
	for _, cmd := range cmds {
		if _, err := run(cmd[0], cmd[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// poll calls done every 100 ms until it reports true or pollTimeout passes.
func poll(done func() bool) bool {
	deadline := time.Now().Add(pollTimeout)
	for {
		if done() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkIfName fails t when name is not a valid Linux interface name.
func checkIfName(t testing.TB, name string) {
	t.Helper()
	if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \t") {
		t.Fatalf("interface name %q must be 1-15 characters without '/' or spaces", name)
	}
}
