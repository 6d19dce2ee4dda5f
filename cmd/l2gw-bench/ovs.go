package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// Cookie selectors of the flows l2gwd owns (cookie bits 63-60): 0xa for the
// topology and static bindings, 0xc for what hardware_vtep told, 0xd for
// what BGP EVPN told.
const (
	controllerCookies = "cookie=0xa000000000000000/0xf000000000000000"
	vtepCookies       = "cookie=0xc000000000000000/0xf000000000000000"
	evpnCookies       = "cookie=0xd000000000000000/0xf000000000000000"
)

// ovsSwitch is the benchmark's private Open vSwitch, running in the
// benchmark's namespace.
type ovsSwitch struct {
	*ovstest.OVS
	// cookies select the flows counted and dumped as l2gwd's: those of
	// the origins the running l2gwd has.
	cookies []string
}

// startOVS runs ovsdb-server and ovs-vswitchd in dir.
func startOVS(dir string) (*ovsSwitch, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create OVS directory: %w", err)
	}
	o, err := ovstest.Launch(dir, "")
	if err != nil {
		return nil, err
	}
	return &ovsSwitch{OVS: o, cookies: []string{controllerCookies}}, nil
}

// vsctl runs ovs-vsctl against the instance.
func (s *ovsSwitch) vsctl(args ...string) (string, error) {
	return s.Exec("ovs-vsctl", append([]string{"--db=" + s.Endpoint(), "--timeout=30"}, args...)...)
}

// ofctl runs ovs-ofctl -O OpenFlow13 against the instance.
func (s *ovsSwitch) ofctl(args ...string) (string, error) {
	return s.Exec("ovs-ofctl", append([]string{"-O", "OpenFlow13"}, args...)...)
}

var flowCountRE = regexp.MustCompile(`flow_count=(\d+)`)

// controllerFlowCount is OVS's own count of bridge's l2gwd-owned flows.
func (s *ovsSwitch) controllerFlowCount(bridge string) (int, error) {
	total := 0
	for _, sel := range s.cookies {
		n, err := s.flowCount(bridge, sel)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// flowCount is OVS's own count of bridge's flows that selector (an
// ovs-ofctl flow match, non-strict) selects, of all its flows when
// selector is empty.
func (s *ovsSwitch) flowCount(bridge, selector string) (int, error) {
	args := []string{"dump-aggregate", bridge}
	if selector != "" {
		args = append(args, selector)
	}
	out, err := s.ofctl(args...)
	if err != nil {
		return 0, err
	}
	m := flowCountRE.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no flow_count in dump-aggregate of %s: %q", bridge, out)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, fmt.Errorf("flow_count of %s: %w", bridge, err)
	}
	return n, nil
}

// waitFlowCount polls bridge until OVS counts want controller flows and
// returns when it saw them (the end of the poll that saw them: an upper
// bound). It pauses interval between polls, or as long as the last poll
// took if longer, so that counting many flows keeps ovs-vswitchd busy at
// most half the time. Errors of single polls (ovs-vswitchd restarting) are
// retried until ctx ends.
func (s *ovsSwitch) waitFlowCount(ctx context.Context, bridge string, want int, interval time.Duration) (time.Time, error) {
	return waitCount(ctx, bridge, func() (int, error) { return s.controllerFlowCount(bridge) }, want, interval)
}

// waitCount polls count as waitFlowCount does until it returns want, and
// returns when it did; what names the flows counted, for errors.
func waitCount(ctx context.Context, what string, count func() (int, error), want int, interval time.Duration) (time.Time, error) {
	last, lastErr := -1, error(nil)
	for {
		start := time.Now()
		n, err := count()
		if err == nil && n == want {
			return time.Now(), nil
		}
		last, lastErr = n, err
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("wait for %d flows on %s (last count %d, last error %v): %w",
				want, what, last, lastErr, ctx.Err())
		case <-time.After(max(interval, time.Since(start))):
		}
	}
}

// timeDumpFlows times ovs-ofctl dump-flows of every flow of bridge, its
// output thrown away: how long OVS takes to tell what is on the bridge.
func (s *ovsSwitch) timeDumpFlows(bridge string) (time.Duration, error) {
	cmd := s.Command("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", bridge)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("ovs-ofctl dump-flows %s: %w: %s", bridge, err, strings.TrimSpace(stderr.String()))
	}
	return time.Since(start), nil
}

// dumpControllerFlows writes bridge's l2gwd-owned flows, without
// statistics and with port numbers instead of names, to path in the form
// ovs-ofctl add-flows reads, and returns how many it wrote.
func (s *ovsSwitch) dumpControllerFlows(bridge, path string) (int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("create flow file: %w", err)
	}
	w := bufio.NewWriter(f)
	n := 0
	for _, sel := range s.cookies {
		out, err := s.ofctl("dump-flows", "--no-stats", "--no-names", bridge, sel)
		if err != nil {
			f.Close()
			return 0, err
		}
		for _, line := range strings.Split(out, "\n") {
			if line = strings.TrimSpace(line); strings.HasPrefix(line, "cookie=") {
				w.WriteString(line + "\n")
				n++
			}
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, fmt.Errorf("write flow file: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("write flow file: %w", err)
	}
	return n, nil
}

// internalHost adds the internal port port to bridge and returns a host
// that writes frames on its device (see hostOn).
func (s *ovsSwitch) internalHost(bridge, port string) (*ovstest.Host, error) {
	if _, err := s.vsctl("add-port", bridge, port, "--", "set", "interface", port, "type=internal"); err != nil {
		return nil, err
	}
	return s.hostOn(port)
}

// hostOn returns a host that writes frames on the device of the internal
// port port: they enter OVS on port. Its transmit queue holds hostQueue
// frames, so that bursts wait for ovs-vswitchd instead of being dropped;
// IPv6 is off on it, so the kernel sends nothing of its own.
func (s *ovsSwitch) hostOn(port string) (*ovstest.Host, error) {
	for _, args := range [][]string{
		{"sysctl", "-qw", "net.ipv6.conf." + port + ".disable_ipv6=1"},
		{"ip", "link", "set", port, "txqueuelen", strconv.Itoa(hostQueue), "up"},
	} {
		if _, err := s.Exec(args[0], args[1:]...); err != nil {
			return nil, err
		}
	}
	return s.OpenHost(port, port)
}

// hostQueue is the transmit queue of internalHost's device, in frames.
const hostQueue = 50000

// vswitchdPID is the running ovs-vswitchd's process ID.
func (s *ovsSwitch) vswitchdPID() (int, error) {
	data, err := os.ReadFile(filepath.Join(s.Dir, "ovs-vswitchd.pid"))
	if err != nil {
		return 0, fmt.Errorf("read ovs-vswitchd pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("parse ovs-vswitchd pid %q: %w", data, err)
	}
	return pid, nil
}

// waitIdle waits until ovs-vswitchd has used at most 20 ms of CPU in
// 200 ms (all its threads), for a minute at most.
func (s *ovsSwitch) waitIdle() error {
	pid, err := s.vswitchdPID()
	if err != nil {
		return err
	}
	const window, busy = 200 * time.Millisecond, 2 // clock ticks of 10 ms
	last, err := cpuTicks(pid)
	for deadline := time.Now().Add(time.Minute); err == nil; {
		time.Sleep(window)
		var now uint64
		if now, err = cpuTicks(pid); err == nil && now-last <= busy {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ovs-vswitchd still busy a minute later (%d ticks in %s)", now-last, window)
		}
		last = now
	}
	return err
}

// cpuTicks is the user and system CPU time process pid has used, in clock
// ticks (/proc/PID/stat fields 14 and 15).
func cpuTicks(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(fields))
	}
	var total uint64
	for _, f := range fields[11:13] { // utime, stime: fields 14 and 15 of the line
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		total += v
	}
	return total, nil
}

// purgeDatapath has ovs-vswitchd drop every datapath flow, so that the
// next frame of each kind goes through the OpenFlow tables again.
func (s *ovsSwitch) purgeDatapath() error {
	_, err := s.Exec("ovs-appctl", "-t", filepath.Join(s.Dir, "ovs-vswitchd.ctl"), "revalidator/purge")
	return err
}

// version is the first line of ovs-vswitchd --version.
func (s *ovsSwitch) version() string {
	out, err := s.Exec("ovs-vswitchd", "--version")
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(out, "\n")
	return strings.TrimSpace(line)
}

// flowEvent is one line of ovs-ofctl monitor's report of a flow table
// change, and when the benchmark read it.
type flowEvent struct {
	at   time.Time
	line string
}

// flowMonitor is ovs-ofctl monitor on a bridge: every flow table change
// another OpenFlow client makes, as OVS reports it.
type flowMonitor struct {
	cmd    *exec.Cmd
	events chan flowEvent
	done   chan struct{} // closed when the output ends, after its last event
}

// monitor starts ovs-ofctl monitor on bridge and returns once OVS has
// armed it. With initial, the flows on the bridge at that moment come
// first, as additions; without, only the changes after it.
func (s *ovsSwitch) monitor(ctx context.Context, bridge string, initial bool) (*flowMonitor, error) {
	watch := "watch:!initial"
	if initial {
		watch = "watch:"
	}
	cmd := s.Command("ovs-ofctl", "-O", "OpenFlow13", "monitor", bridge, watch)
	// It prints OVS's answer to its request (with the initial flows) on
	// its standard output, and what OVS reports after that on its
	// standard error.
	answer, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("ovs-ofctl monitor: %w", err)
	}
	reports, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("ovs-ofctl monitor: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ovs-ofctl monitor %s: %w", bridge, err)
	}
	m := &flowMonitor{cmd: cmd, events: make(chan flowEvent, 1<<16), done: make(chan struct{})}
	armed := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := lineScanner(answer)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "FLOW_MONITOR reply") {
				close(armed)
				break
			}
		}
		m.forward(sc)
	}()
	go func() {
		defer wg.Done()
		m.forward(lineScanner(reports))
	}()
	go func() {
		wg.Wait()
		close(m.done)
	}()
	select {
	case <-armed:
		return m, nil
	case <-m.done:
		m.stop()
		return nil, fmt.Errorf("ovs-ofctl monitor %s ended before OVS armed it", bridge)
	case <-ctx.Done():
		m.stop()
		return nil, fmt.Errorf("ovs-ofctl monitor %s: %w", bridge, ctx.Err())
	}
}

// monitorPaused is in the line of ovs-ofctl monitor that says OVS paused it.
const monitorPaused = "FLOW_MONITOR_PAUSED"

// lineScanner reads ovs-ofctl's output by lines, long flows included.
func lineScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	return sc
}

// forward passes the flow changes sc reads to the monitor's events, and
// OVS's notice that it paused the monitor (too many changes queued: those
// that follow until it resumes are summed up, not each reported).
func (m *flowMonitor) forward(sc *bufio.Scanner) {
	for sc.Scan() {
		if line := sc.Text(); strings.Contains(line, "event=") || strings.Contains(line, monitorPaused) {
			m.events <- flowEvent{at: time.Now(), line: line}
		}
	}
}

// waitFor returns when the first change that match accepts was read,
// skipping the others.
func (m *flowMonitor) waitFor(ctx context.Context, match func(string) bool) (time.Time, error) {
	for {
		select {
		case ev := <-m.events:
			if match(ev.line) {
				return ev.at, nil
			}
		case <-m.done:
			return time.Time{}, errors.New("ovs-ofctl monitor ended")
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("wait for a flow change: %w", ctx.Err())
		}
	}
}

// stop ends the monitor.
func (m *flowMonitor) stop() {
	m.cmd.Process.Kill()
	m.cmd.Wait()
}

// flowCounter counts a bridge's l2gwd flows in the background, polling as
// waitFlowCount does, and remembers when each count was first seen: for a
// load whose final count is known only at its end.
type flowCounter struct {
	mu    sync.Mutex
	first map[int]time.Time // count → end of the first poll that saw it
	last  int
	err   error // of the last poll
	stop  context.CancelFunc
	done  chan struct{}
}

// countFlows starts counting bridge's l2gwd flows every interval (or as
// long as the last poll took, if longer) until stop.
func (s *ovsSwitch) countFlows(bridge string, interval time.Duration) *flowCounter {
	ctx, stop := context.WithCancel(context.Background())
	c := &flowCounter{first: map[int]time.Time{}, last: -1, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			start := time.Now()
			n, err := s.controllerFlowCount(bridge)
			c.mu.Lock()
			if c.err = err; err == nil {
				if _, ok := c.first[n]; !ok {
					c.first[n] = time.Now()
				}
				c.last = n
			}
			c.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(max(interval, time.Since(start))):
			}
		}
	}()
	return c
}

// reached waits until a poll has seen want flows and returns when the
// first did; the counting stops.
func (c *flowCounter) reached(ctx context.Context, want int) (time.Time, error) {
	defer func() {
		c.stop()
		<-c.done
	}()
	for {
		c.mu.Lock()
		at, ok := c.first[want]
		last, err := c.last, c.err
		c.mu.Unlock()
		if ok {
			return at, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("wait for %d flows (last count %d, last error %v): %w", want, last, err, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}
