// Package ovstest runs private Open vSwitch instances (ovsdb-server plus
// ovs-vswitchd, userspace datapath) for tests: each in its own directory, with
// its own sockets, optionally inside a network namespace, so tests never
// collide with each other or with a system OVS.
package ovstest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SchemaPath is where Debian's openvswitch-common installs the schema.
const SchemaPath = "/usr/share/openvswitch/vswitch.ovsschema"

// Require skips t when Open vSwitch is not installed, unless the environment
// sets L2GW_REQUIRE_OVS=1 (CI does), in which case the test fails instead.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "tests with Open vSwitch need root")
	}
	for _, bin := range []string{"ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl", "ovsdb-tool"} {
		if _, err := exec.LookPath(bin); err != nil {
			SkipOrFail(t, bin+" is not installed (apt-get install openvswitch-switch)")
		}
	}
}

// SkipOrFail skips t with the reason why, or fails it when the environment
// sets L2GW_REQUIRE_OVS=1: the rule of every test helper whose tools may be
// missing.
func SkipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("L2GW_REQUIRE_OVS") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// OVS is one private Open vSwitch instance.
type OVS struct {
	Dir   string // run, db and log directory
	NetNS string // network namespace it runs in ("" = the test's own)
}

// DBSock is the ovsdb-server's unix socket path.
func (o *OVS) DBSock() string { return filepath.Join(o.Dir, "db.sock") }

// Endpoint is the OVSDB endpoint in the form l2gwd's --ovsdb flag takes.
func (o *OVS) Endpoint() string { return "unix:" + o.DBSock() }

// Start runs a fresh ovsdb-server and ovs-vswitchd in a new directory under
// t.TempDir (inside netns when it is not empty) and stops them when the test
// ends.
func Start(t testing.TB, netns string) *OVS {
	t.Helper()
	Require(t)
	dir, err := os.MkdirTemp("", "l2gw-ovs-")
	if err != nil {
		t.Fatal(err)
	}
	o := &OVS{Dir: dir, NetNS: netns}
	t.Cleanup(func() {
		o.Stop()
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("OVS logs kept in %s", dir)
		}
	})
	if err := o.create(); err != nil {
		t.Fatal(err)
	}
	return o
}

// Launch is Start for programs that are not tests: it runs a fresh
// ovsdb-server and ovs-vswitchd in dir, which must exist and be empty
// (inside netns when it is not empty). The caller stops them with Stop and
// owns dir; on error nothing is left running.
func Launch(dir, netns string) (*OVS, error) {
	o := &OVS{Dir: dir, NetNS: netns}
	if err := o.create(); err != nil {
		o.Stop()
		return nil, fmt.Errorf("start open vswitch in %s: %w", dir, err)
	}
	return o, nil
}

// create makes the instance's database and starts both daemons.
func (o *OVS) create() error {
	if _, err := o.Exec("ovsdb-tool", "create", filepath.Join(o.Dir, "conf.db"), SchemaPath); err != nil {
		return err
	}
	if err := o.StartDB(); err != nil {
		return err
	}
	if _, err := o.Exec("ovs-vsctl", "--db="+o.Endpoint(), "--no-wait", "init"); err != nil {
		return err
	}
	return o.StartVswitchd()
}

// StartDB starts ovsdb-server on the instance's database.
func (o *OVS) StartDB() error {
	_, err := o.Exec("ovsdb-server", filepath.Join(o.Dir, "conf.db"),
		"--remote=punix:"+o.DBSock(),
		"--pidfile="+filepath.Join(o.Dir, "ovsdb-server.pid"),
		"--unixctl="+filepath.Join(o.Dir, "ovsdb-server.ctl"),
		"--log-file="+filepath.Join(o.Dir, "ovsdb-server.log"), "-vconsole:off",
		"--detach")
	return err
}

// StartVswitchd starts ovs-vswitchd against the instance's database.
func (o *OVS) StartVswitchd() error {
	_, err := o.Exec("ovs-vswitchd", o.Endpoint(),
		"--pidfile="+filepath.Join(o.Dir, "ovs-vswitchd.pid"),
		"--unixctl="+filepath.Join(o.Dir, "ovs-vswitchd.ctl"),
		"--log-file="+filepath.Join(o.Dir, "ovs-vswitchd.log"), "-vconsole:off",
		"--detach")
	return err
}

// StopVswitchd stops ovs-vswitchd (its flows go with it) and waits for it to exit.
func (o *OVS) StopVswitchd() { o.kill("ovs-vswitchd", syscall.SIGTERM) }

// KillVswitchd kills ovs-vswitchd with SIGKILL, as a crash would (no
// cleanup: its BFD sessions just fall silent), and waits for it to exit.
func (o *OVS) KillVswitchd() { o.kill("ovs-vswitchd", syscall.SIGKILL) }

// StopDB stops ovsdb-server and waits for it to exit.
func (o *OVS) StopDB() { o.kill("ovsdb-server", syscall.SIGTERM) }

// Stop stops both daemons.
func (o *OVS) Stop() {
	o.kill("ovs-vswitchd", syscall.SIGTERM)
	o.kill("ovsdb-server", syscall.SIGTERM)
}

func (o *OVS) kill(daemon string, sig syscall.Signal) {
	pidFile := filepath.Join(o.Dir, daemon+".pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return
	}
	syscall.Kill(pid, sig)
	for i := 0; i < 200 && Running(pid); i++ {
		time.Sleep(25 * time.Millisecond)
	}
	os.Remove(pidFile)
}

// Running reports whether process pid exists and has not exited: a zombie
// waiting for its parent to reap it has exited.
func Running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// Env is the environment that points OVS tools at this instance.
func (o *OVS) Env() []string {
	return append(os.Environ(), "OVS_RUNDIR="+o.Dir, "OVS_DBDIR="+o.Dir, "OVS_LOGDIR="+o.Dir)
}

// Command builds a command that runs inside the instance's namespace with its environment.
func (o *OVS) Command(name string, args ...string) *exec.Cmd {
	if o.NetNS != "" {
		args = append([]string{"netns", "exec", o.NetNS, name}, args...)
		name = "ip"
	}
	cmd := exec.Command(name, args...)
	cmd.Env = o.Env()
	return cmd
}

// Exec runs a command inside the instance's namespace and environment and
// returns its standard output; a failure's error carries its standard error.
func (o *OVS) Exec(name string, args ...string) (string, error) {
	cmd := o.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Vsctl runs ovs-vsctl against the instance, failing t on error.
func (o *OVS) Vsctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := o.Exec("ovs-vsctl", append([]string{"--db=" + o.Endpoint(), "--timeout=10"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Ofctl runs ovs-ofctl -O OpenFlow13 against the instance, failing t on error.
func (o *OVS) Ofctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := o.Exec("ovs-ofctl", append([]string{"-O", "OpenFlow13"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// AddControlledBridge adds bridge name as l2gwd drives one: userspace
// datapath, OpenFlow 1.3, fail mode secure, controller target.
func (o *OVS) AddControlledBridge(t testing.TB, name, target string) {
	t.Helper()
	o.Vsctl(t, "add-br", name, "--",
		"set", "bridge", name, "datapath_type=netdev", "protocols=OpenFlow13", "fail_mode=secure", "--",
		"set-controller", name, target)
}

// Appctl runs ovs-appctl against one of the instance's daemons
// ("ovs-vswitchd" or "ovsdb-server"), failing t on error.
func (o *OVS) Appctl(t testing.TB, daemon string, args ...string) string {
	t.Helper()
	out, err := o.Exec("ovs-appctl", append([]string{"-t", filepath.Join(o.Dir, daemon+".ctl")}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// StartIsolated is Start in a network namespace of its own (NetNS), made
// for t and deleted when it ends: the userspace datapaths of instances
// that share a namespace collide on its "ovs-netdev" device.
func StartIsolated(t testing.TB) *OVS {
	t.Helper()
	Require(t)
	return Start(t, NetNS(t, "l2gw-ovs"))
}
