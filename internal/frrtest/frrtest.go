// Package frrtest runs FRR (Debian's frr 8.4: zebra and bgpd) as an EVPN
// site for lab tests: each instance inside a network namespace the caller
// made, with its own directory holding its configuration, pid files, zserv
// and vty sockets and logs, so several run side by side and none of them is
// ever the system's FRR (whose /etc/frr and /var/run/frr it never reads or
// touches).
//
// An instance owns, in its namespace, the Linux bridge and VXLAN device of
// each of its VNIs (FRR's EVPN data plane is the kernel's) and the hosts
// attached to them; the namespace itself and its WAN links belong to the
// caller. One instance per namespace: bgpd listens on port 179 there.
package frrtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// BinDir is where Debian's frr package installs the daemons.
const BinDir = "/usr/lib/frr"

// startTimeout bounds the wait for a daemon to answer on its vty socket.
const startTimeout = 20 * time.Second

// Require skips t unless it runs as root and FRR (zebra, bgpd, vtysh, the
// user frr) and iproute2 are installed; with L2GW_REQUIRE_OVS=1 in the
// environment (as `make test` sets) it fails t instead, as ovstest.Require
// does.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		ovstest.SkipOrFail(t, "tests with FRR need root")
	}
	for _, bin := range []string{filepath.Join(BinDir, "zebra"), filepath.Join(BinDir, "bgpd"), "vtysh", "ip", "bridge"} {
		if _, err := exec.LookPath(bin); err != nil {
			ovstest.SkipOrFail(t, bin+" is not installed (scripts/install-deps.sh installs frr and iproute2)")
		}
	}
	if _, err := user.Lookup("frr"); err != nil {
		ovstest.SkipOrFail(t, "user frr does not exist (apt-get install frr creates it)")
	}
}

// Config describes one FRR instance: an iBGP or eBGP speaker of the L2VPN
// EVPN family only, advertising every VNI it has (advertise-all-vni) with
// FRR's automatic RD (router-id:N) and route target (ASN:VNI). Keepalive
// and hold time are 3 and 9 s and every neighbour is retried every second,
// so sessions come up and come back quickly.
type Config struct {
	// Name is FRR's hostname (shown in its JSON views) and part of its
	// directory's name; "frr" when empty.
	Name string
	// NetNS is the network namespace the daemons and the VNIs' devices live
	// in (required), for example one made with ovstest.NetNS; the caller
	// gives it its WAN addresses.
	NetNS string
	// ASN is the instance's autonomous system number (required).
	ASN uint32
	// RouterID is the BGP router ID, an IPv4 address (required). It is
	// also the first half of FRR's automatic route distinguishers.
	RouterID netip.Addr
	// Neighbors are the BGP peers.
	Neighbors []Neighbor
	// GracefulRestart turns on RFC 4724 graceful restart (FRR's restarting
	// mode, forwarding state preserved); when false graceful restart is
	// disabled altogether and a dead peer's routes go at its hold time.
	GracefulRestart bool
	// RestartTime is the graceful restart time FRR announces, in seconds;
	// 0 leaves FRR's default (120).
	RestartTime int
	// VNIs are the layer-2 VNIs this site serves.
	VNIs []VNI
}

// Neighbor is one BGP peer of an instance.
type Neighbor struct {
	Address netip.Addr // the peer's address (required)
	ASN     uint32     // the peer's AS: Config.ASN for iBGP (required)
	// Port is the peer's BGP port; 0 means 179.
	Port uint16
	// RouteReflectorClient makes this instance the peer's route reflector.
	RouteReflectorClient bool
	// Password is the TCP MD5 password of the session; "" for none.
	Password string
}

// VNI is one layer-2 VNI: a Linux bridge br<ID> holding the VXLAN device
// vx<ID> (id ID, local LocalIP, UDP port 4789, no learning, no UDP checksum,
// as userspace OVS needs), both up, and bridge learning off on the VXLAN
// port; zebra finds the VNI there and FRR advertises the MACs the bridge
// learns from its other ports.
type VNI struct {
	ID      uint32     // 1-16777215 (required)
	LocalIP netip.Addr // this site's VTEP address, IPv4 (required)
	// BridgeAddrs, when given, are put on the bridge (an SVI). Hosts that
	// talk to one of them enter the kernel's neighbour table, whose entries
	// FRR advertises as MAC+IP routes; without them FRR advertises MAC-only
	// routes.
	BridgeAddrs []netip.Prefix
}

// FRR is one running instance.
type FRR struct {
	Config        // as given to Start
	Dir    string // configuration, pid files, sockets and logs
	zebra  *daemon
	bgpd   *daemon
	vnis   []uint32 // VNIs whose devices were (being) created
}

// Start validates cfg, creates the VNIs' bridges and VXLAN devices in
// cfg.NetNS, writes zebra.conf and bgpd.conf in a new directory, starts
// zebra and bgpd and returns once bgpd knows every VNI from zebra. When the
// test ends both daemons are killed and waited for, the devices deleted, and
// the directory removed (kept, and the logs' last lines printed, when the
// test failed). Any error fails t.
func Start(t testing.TB, cfg Config) *FRR {
	t.Helper()
	Require(t)
	if cfg.Name == "" {
		cfg.Name = "frr"
	}
	if err := cfg.validate(); err != nil {
		t.Fatalf("frrtest: %v", err)
	}
	dir, err := makeDir(cfg.Name)
	if err != nil {
		t.Fatalf("frrtest: %v", err)
	}
	f := &FRR{Config: cfg, Dir: dir}
	t.Cleanup(func() {
		f.stopAll()
		for _, v := range f.vnis {
			f.deleteVNI(v)
		}
		if t.Failed() {
			for _, name := range []string{"zebra", "bgpd"} {
				t.Logf("frr %s: last lines of %s.log:\n%s", cfg.Name, name, ovstest.Tail(filepath.Join(dir, name+".log"), 30))
			}
			t.Logf("frr %s: kept %s", cfg.Name, dir)
			return
		}
		os.RemoveAll(dir)
	})
	for _, v := range cfg.VNIs {
		err := f.addVNI(v)
		f.vnis = append(f.vnis, v.ID) // deleted at the end even if half made
		if err != nil {
			t.Fatalf("frrtest %s: %v", cfg.Name, err)
		}
	}
	if err := writeConfig(dir, "zebra.conf", "hostname "+cfg.Name+"\n"); err != nil {
		t.Fatalf("frrtest %s: %v", cfg.Name, err)
	}
	if err := writeConfig(dir, "bgpd.conf", cfg.bgpdConf()); err != nil {
		t.Fatalf("frrtest %s: %v", cfg.Name, err)
	}
	for _, name := range []string{"zebra", "bgpd"} {
		if err := f.checkConfig(name); err != nil {
			t.Fatalf("frrtest %s: %v", cfg.Name, err)
		}
	}
	if f.zebra, err = f.launch("zebra"); err != nil {
		t.Fatalf("frrtest %s: %v", cfg.Name, err)
	}
	if err := f.StartBGPD(); err != nil {
		t.Fatalf("frrtest %s: %v", cfg.Name, err)
	}
	return f
}

// validate checks c and says what is wrong first.
func (c *Config) validate() error {
	switch {
	case c.NetNS == "":
		return errors.New("config: NetNS is required (FRR runs in a namespace of its own)")
	case c.ASN == 0:
		return errors.New("config: ASN is required")
	case !c.RouterID.Is4():
		return fmt.Errorf("config: router ID %v is not an IPv4 address", c.RouterID)
	case strings.ContainsAny(c.Name, " /\n"):
		return fmt.Errorf("config: name %q holds a space, '/' or newline", c.Name)
	case c.RestartTime < 0 || c.RestartTime > 4095:
		return fmt.Errorf("config: restart time %d out of range 0-4095", c.RestartTime)
	}
	for _, n := range c.Neighbors {
		switch {
		case !n.Address.IsValid() || n.Address.Zone() != "":
			return fmt.Errorf("config: neighbour address %v is not an IP address", n.Address)
		case n.ASN == 0:
			return fmt.Errorf("config: neighbour %v: ASN is required", n.Address)
		case strings.ContainsAny(n.Password, " \n"):
			return fmt.Errorf("config: neighbour %v: password holds a space or newline", n.Address)
		}
	}
	seen := map[uint32]bool{}
	for _, v := range c.VNIs {
		switch {
		case v.ID == 0 || v.ID > 1<<24-1:
			return fmt.Errorf("config: VNI %d out of range 1-16777215", v.ID)
		case seen[v.ID]:
			return fmt.Errorf("config: VNI %d given twice", v.ID)
		case !v.LocalIP.Is4():
			return fmt.Errorf("config: VNI %d: local IP %v is not an IPv4 address (FRR 8.4 has no IPv6 VTEPs)", v.ID, v.LocalIP)
		}
		seen[v.ID] = true
	}
	return nil
}

// bgpdConf renders bgpd.conf.
func (c *Config) bgpdConf() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("frr defaults traditional")
	line("hostname %s", c.Name)
	line("router bgp %d", c.ASN)
	line(" bgp router-id %s", c.RouterID)
	line(" no bgp default ipv4-unicast")
	line(" no bgp ebgp-requires-policy")
	line(" timers bgp 3 9")
	line(" coalesce-time 0")
	if c.GracefulRestart {
		line(" bgp graceful-restart")
		line(" bgp graceful-restart preserve-fw-state")
		if c.RestartTime > 0 {
			line(" bgp graceful-restart restart-time %d", c.RestartTime)
		}
	} else {
		line(" bgp graceful-restart-disable")
	}
	for _, n := range c.Neighbors {
		line(" neighbor %s remote-as %d", n.Address, n.ASN)
		line(" neighbor %s timers connect 1", n.Address)
		line(" neighbor %s advertisement-interval 0", n.Address)
		if n.Port != 0 {
			line(" neighbor %s port %d", n.Address, n.Port)
		}
		if n.Password != "" {
			line(" neighbor %s password %s", n.Address, n.Password)
		}
	}
	line(" address-family l2vpn evpn")
	for _, n := range c.Neighbors {
		line("  neighbor %s activate", n.Address)
		if n.RouteReflectorClient {
			line("  neighbor %s route-reflector-client", n.Address)
		}
	}
	line("  advertise-all-vni")
	line(" exit-address-family")
	return b.String()
}

// makeDir creates the instance's directory: mode 755 and owned by frr,
// since the daemons write their pid files and sockets there after dropping
// root.
func makeDir(name string) (string, error) {
	dir, err := os.MkdirTemp("", "l2gw-frr-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("create directory: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", fmt.Errorf("create directory: %w", err)
	}
	if err := chownFRR(dir); err != nil {
		return "", fmt.Errorf("create directory: %w", err)
	}
	return dir, nil
}

// writeConfig writes a configuration file the frr user can read.
func writeConfig(dir, name, text string) error {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := chownFRR(path); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func chownFRR(path string) error {
	u, err := user.Lookup("frr")
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(path, uid, gid)
}

// checkConfig has daemon name read its configuration file and exit (-C,
// which exits 0 even so): a line it does not take is an error, rather than
// a daemon that runs without it.
func (f *FRR) checkConfig(name string) error {
	out, _ := exec.Command(filepath.Join(BinDir, name), "-C", "-f", filepath.Join(f.Dir, name+".conf"),
		"-i", filepath.Join(f.Dir, name+"-check.pid"), "--vty_socket", f.Dir, "-P", "0").CombinedOutput()
	var bad []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "on config line") {
			bad = append(bad, strings.TrimSpace(line))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s.conf: %s", name, strings.Join(bad, "; "))
	}
	return nil
}

// daemon is one running FRR daemon.
type daemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited and been reaped
}

// launch starts daemon name ("zebra" or "bgpd") in the foreground inside
// the namespace, with the instance's files, its vty only on the unix socket
// in Dir (-P 0), and waits until vtysh gets an answer from it.
func (f *FRR) launch(name string) (*daemon, error) {
	args := []string{"netns", "exec", f.NetNS, filepath.Join(BinDir, name),
		"-f", filepath.Join(f.Dir, name+".conf"),
		"-i", filepath.Join(f.Dir, name+".pid"),
		"-z", filepath.Join(f.Dir, "zserv.api"),
		"--vty_socket", f.Dir, "-P", "0",
		"--log", "file:" + filepath.Join(f.Dir, name+".log"),
	}
	if name == "bgpd" {
		args = append(args, "-p", "179")
	} else {
		// A netlink receive buffer as large as Debian's service gives zebra,
		// for labs with many MACs.
		args = append(args, "-s", "90000000")
	}
	out, err := os.OpenFile(filepath.Join(f.Dir, name+".out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer out.Close()
	// ip netns exec execs the daemon in place: the child is the daemon.
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemon{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(d.done) }()
	for deadline := time.Now().Add(startTimeout); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-d.done:
			return nil, fmt.Errorf("%s exited at start (%v): %s", name, cmd.ProcessState,
				ovstest.Tail(filepath.Join(f.Dir, name+".out"), 10))
		default:
		}
		if _, err := f.vtysh([]string{"-d", name}, "show version"); err == nil {
			return d, nil
		} else if time.Now().After(deadline) {
			d.stop(syscall.SIGKILL)
			return nil, fmt.Errorf("%s does not answer on its vty socket: %w", name, err)
		}
	}
}

// stop sends sig and waits for the daemon to exit, killing it after 10 s.
func (d *daemon) stop(sig syscall.Signal) {
	d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

func (d *daemon) running() bool {
	if d == nil {
		return false
	}
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// StartBGPD starts bgpd with the instance's configuration (again, after
// StopBGPD) and returns once it answers and knows every VNI from zebra.
func (f *FRR) StartBGPD() error {
	if f.bgpd.running() {
		return fmt.Errorf("bgpd of %s is already running", f.Name)
	}
	d, err := f.launch("bgpd")
	if err != nil {
		return err
	}
	f.bgpd = d
	var missing []uint32
	for deadline := time.Now().Add(startTimeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if missing, err = f.vnisMissing(); err == nil && len(missing) == 0 {
			return nil
		}
	}
	return fmt.Errorf("bgpd of %s: VNIs %v not learned from zebra (last error: %v)", f.Name, missing, err)
}

// vnisMissing lists the configured VNIs bgpd does not know yet.
func (f *FRR) vnisMissing() ([]uint32, error) {
	var known map[string]json.RawMessage
	if err := f.VtyshJSON("show bgp l2vpn evpn vni json", &known); err != nil {
		return nil, err
	}
	var missing []uint32
	for _, v := range f.VNIs {
		if _, ok := known[strconv.FormatUint(uint64(v.ID), 10)]; !ok {
			missing = append(missing, v.ID)
		}
	}
	return missing, nil
}

// StopBGPD stops bgpd alone and waits for it to exit; zebra, the kernel's
// devices and what zebra installed stay. With syscall.SIGKILL bgpd dies
// as in a crash (its sessions drop without a NOTIFICATION, what graceful
// restart is for); with syscall.SIGTERM it shuts down in order.
func (f *FRR) StopBGPD(sig syscall.Signal) error {
	if !f.bgpd.running() {
		return fmt.Errorf("bgpd of %s is not running", f.Name)
	}
	f.bgpd.stop(sig)
	return nil
}

// RestartBGPD stops bgpd with sig (see StopBGPD) and starts it again with
// the same configuration (see StartBGPD). StartBGPD, StopBGPD and
// RestartBGPD must not run concurrently with each other.
func (f *FRR) RestartBGPD(sig syscall.Signal) error {
	if err := f.StopBGPD(sig); err != nil {
		return err
	}
	return f.StartBGPD()
}

// stopAll kills bgpd and zebra and waits for them.
func (f *FRR) stopAll() {
	for _, d := range []*daemon{f.bgpd, f.zebra} {
		if d.running() {
			d.stop(syscall.SIGKILL)
		}
	}
}

// Vtysh runs vtysh against this instance with one -c per command (so
// "configure terminal", "router bgp 65000", ... configure it) and returns
// its output; a failure's error carries the output.
func (f *FRR) Vtysh(cmds ...string) (string, error) {
	return f.vtysh(nil, cmds...)
}

func (f *FRR) vtysh(opts []string, cmds ...string) (string, error) {
	// --config_dir keeps vtysh away from /etc/frr (there is no vtysh.conf
	// in Dir).
	args := append([]string{"--vty_socket", f.Dir, "--config_dir", f.Dir}, opts...)
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("vtysh", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("vtysh %s: %q: %w: %s", f.Name, cmds, err,
			strings.TrimSpace(stdout.String()+stderr.String()))
	}
	return stdout.String(), nil
}

// VtyshJSON runs one vtysh command that ends in "json" and decodes its
// output into v.
func (f *FRR) VtyshJSON(cmd string, v any) error {
	out, err := f.Vtysh(cmd)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("vtysh %s: %q: decode: %w (output starts %.200q)", f.Name, cmd, err, out)
	}
	return nil
}

// Exec runs a command inside the instance's namespace (say `bridge link set
// dev vx5001 neigh_suppress on`) and returns its standard output; a
// failure's error carries its standard error.
func (f *FRR) Exec(name string, args ...string) (string, error) {
	return run("ip", append([]string{"netns", "exec", f.NetNS, name}, args...)...)
}

// run runs a command and returns its standard output; a failure's error
// carries its standard error.
func run(name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
