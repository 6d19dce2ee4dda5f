package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// ovsVtepScript is Debian's ovs-vtep (package openvswitch-vtep), the VTEP
// emulator of Open vSwitch.
const ovsVtepScript = "/usr/share/openvswitch/scripts/ovs-vtep"

// newOVSVtep describes ovs-vtep as a VTEP under test, set up as its
// documentation does: the physical switch is an OVS bridge of its name,
// declared in vtep.db (tunnel_ips, the port) before ovs-vtep starts. It
// makes one bridge per logical switch, <switch>_vtep_lsN, and one flow
// per remote MAC there (table 1, dl_dst=MAC, out to the locator's vxlan
// port), each with its own ovs-ofctl add-flow. It shells out to vtep-ctl,
// ovs-vsctl and ovs-ofctl with their default database socket and bridge
// sockets, which the switch's environment (OVS_RUNDIR) points at the
// benchmark's. Its pidfile and log are in dir.
func newOVSVtep(sw *ovsSwitch, dir string) *vtepTarget {
	pidFile := filepath.Join(dir, "ovs-vtep.pid")
	lsBridge := vtepSwitch + "_vtep_ls1" // its only logical switch
	start := func(context.Context) error {
		_, err := sw.Exec(ovsVtepScript, "--pidfile="+pidFile, "--log-file="+filepath.Join(dir, "ovs-vtep.log"),
			"-vconsole:off", "--detach", vtepSwitch)
		return err
	}
	stop := func() error {
		data, err := os.ReadFile(pidFile)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read ovs-vtep pid: %w", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			return fmt.Errorf("parse ovs-vtep pid %q: %w", data, err)
		}
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && err != syscall.ESRCH {
			return fmt.Errorf("stop ovs-vtep (pid %d): %w", pid, err)
		}
		for deadline := time.Now().Add(30 * time.Second); ovstest.Running(pid); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				return fmt.Errorf("ovs-vtep (pid %d) still running 30 s after SIGTERM", pid)
			}
		}
		os.Remove(pidFile)
		return nil
	}
	return &vtepTarget{
		name:        "ovs-vtep",
		macBridge:   lsBridge,
		macFlows:    "table=1,dl_dst=" + remoteMACPrefix + ":00:00:00:00/ff:ff:00:00:00:00",
		flowsPerMAC: 1,
		setup: func(ctx context.Context) error {
			if _, err := os.Stat(ovsVtepScript); err != nil {
				return fmt.Errorf("ovs-vtep (make deps installs openvswitch-vtep): %w", err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("create ovs-vtep directory: %w", err)
			}
			if _, err := sw.vsctl("add-br", vtepSwitch, "--", "set", "bridge", vtepSwitch, "datapath_type=netdev",
				"--", "add-port", vtepSwitch, vtepPort, "--", "set", "interface", vtepPort, "type=internal"); err != nil {
				return err
			}
			if _, err := sw.vtepctl("add-ps", vtepSwitch, "--", "set", "physical_switch", vtepSwitch, "tunnel_ips="+localTunnel,
				"--", "add-port", vtepSwitch, vtepPort); err != nil {
				return err
			}
			return start(ctx)
		},
		start: start,
		stop:  stop,
		// It floods from a tunnel (table 1, in_port=the tunnel) once it
		// has the logical switch's binding and the tunnel of its
		// unknown-dst locator.
		wired: func(ctx context.Context) error {
			for {
				out, err := sw.ofctl("dump-flows", "--no-stats", lsBridge, "table=1")
				if err == nil && strings.Contains(out, "priority=1,in_port=") {
					return nil
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("ovs-vtep did not wire %s to %s (last dump-flows error %v): %w", vtepLS, vtepPort, err, ctx.Err())
				case <-time.After(vtepPoll):
				}
			}
		},
		close: func() {
			stop()
			for _, br := range []string{lsBridge, "vtep_bfd", vtepSwitch} {
				sw.vsctl("--if-exists", "del-br", br)
			}
		},
	}
}
