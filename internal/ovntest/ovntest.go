// Package ovntest runs OVN (Debian's ovn-central, ovn-host and
// ovn-controller-vtep, 23.03) for lab tests: a central (one ovsdb-server
// serving the northbound and southbound databases on one unix socket, and
// ovn-northd), hypervisors (each its own Open vSwitch from ovstest inside a
// network namespace the caller made, and ovn-controller), hardware_vtep
// databases, and ovn-controller-vtep. Every daemon has its own directory
// holding its databases, sockets, pid file and log, so several run side by
// side and none of them is ever the system's OVN or Open vSwitch (whose
// /var/run/ovn, /var/run/openvswitch and /etc/ovn it never reads or
// touches); no service of the packages is started. Daemons talk over unix
// sockets only, which work across network namespaces by path.
package ovntest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// Schemas installed by Debian's ovn-common (northbound, southbound) and
// openvswitch-vtep (hardware_vtep).
const (
	NBSchemaPath   = "/usr/share/ovn/ovn-nb.ovsschema"
	SBSchemaPath   = "/usr/share/ovn/ovn-sb.ovsschema"
	VTEPSchemaPath = "/usr/share/openvswitch/vtep.ovsschema"
)

// startTimeout bounds the wait for a daemon to come up and for a
// condition a helper polls.
const startTimeout = 30 * time.Second

// Require skips t unless it runs as root with Open vSwitch (as
// ovstest.Require wants it), OVN's central, host and VTEP programs and the
// schemas installed; with L2GW_REQUIRE_OVS=1 in the environment (as `make
// test` sets) it fails t instead.
func Require(t testing.TB) {
	t.Helper()
	ovstest.Require(t)
	for bin, pkg := range map[string]string{
		"ovn-northd": "ovn-central", "ovn-nbctl": "ovn-common", "ovn-sbctl": "ovn-common", "ovn-appctl": "ovn-common",
		"ovn-controller": "ovn-host", "ovn-controller-vtep": "ovn-controller-vtep",
		"vtep-ctl": "openvswitch-vtep", "ovsdb-client": "openvswitch-common",
	} {
		if _, err := exec.LookPath(bin); err != nil {
			ovstest.SkipOrFail(t, bin+" is not installed (scripts/install-deps.sh installs "+pkg+")")
		}
	}
	for _, schema := range []string{NBSchemaPath, SBSchemaPath, VTEPSchemaPath} {
		if _, err := os.Stat(schema); err != nil {
			ovstest.SkipOrFail(t, "schema missing (scripts/install-deps.sh installs ovn-common and openvswitch-vtep): "+err.Error())
		}
	}
}

// makeDir creates a daemon's directory under the system's temporary
// directory (short paths: a unix socket's path has at most 107 bytes) and
// removes it when the test ends, or keeps it and prints the last lines of
// each of logs (file names in it) when the test failed.
func makeDir(t testing.TB, what string, logs ...string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "l2gw-ovn-"+what+"-")
	if err != nil {
		t.Fatalf("ovntest: %v", err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(dir)
			return
		}
		for _, name := range logs {
			t.Logf("ovn %s: last lines of %s:\n%s", what, name, ovstest.Tail(filepath.Join(dir, name), 30))
		}
		t.Logf("ovn %s: kept %s", what, dir)
	})
	return dir
}

// daemon is one running OVN or OVSDB program, in the foreground, its
// standard output and error in Dir/<name>.out.
type daemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited and been reaped
}

// launch starts program name with args and env (added to the test's own),
// inside network namespace netns when it is not empty, its output going
// to dir/<name>.out, and returns once ready reports nil (the daemon is
// killed if it never does, or fails if it exits first). It writes its pid
// file and log in dir: args should say so with --pidfile and --log-file.
func launch(dir, netns, name string, env []string, ready func() error, args ...string) (*daemon, error) {
	out, err := os.OpenFile(filepath.Join(dir, name+".out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer out.Close()
	bin := name
	if netns != "" {
		// ip netns exec execs the program in place: the child is the daemon.
		args = append([]string{"netns", "exec", netns, name}, args...)
		bin = "ip"
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemon{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(d.done) }()
	for deadline := time.Now().Add(startTimeout); ; time.Sleep(25 * time.Millisecond) {
		select {
		case <-d.done:
			return nil, fmt.Errorf("%s exited at start (%v): %s", name, cmd.ProcessState,
				ovstest.Tail(filepath.Join(dir, name+".out"), 10))
		default:
		}
		err := ready()
		if err == nil {
			return d, nil
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("%s not ready after %v: %w", name, startTimeout, err)
		}
	}
}

// stop sends SIGTERM and waits for the daemon to exit, killing it after
// 10 s. A daemon that is nil or has exited is left alone.
func (d *daemon) stop() {
	if d == nil {
		return
	}
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

// run runs a command with env added to the test's own environment and
// returns its standard output; a failure's error carries its standard
// error.
func run(env []string, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// waitFor polls cond until it returns "" (met) or startTimeout passes, and
// then returns an error naming what and cond's last answer.
func waitFor(what string, cond func() string) error {
	var last string
	for deadline := time.Now().Add(startTimeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if last = cond(); last == "" {
			return nil
		}
	}
	return fmt.Errorf("%s: not after %v: %s", what, startTimeout, last)
}
