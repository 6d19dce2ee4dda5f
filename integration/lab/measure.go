package lab

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FirstReply pings ip from the host, one echo request every 100 ms, until
// the first reply arrives or timeout (rounded up to whole seconds) passes.
// It returns how long that took from the call, and false when no reply came.
// Tests use it to measure how soon the data plane is back after a fault.
func (h *Host) FirstReply(t testing.TB, ip string, timeout time.Duration) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	deadline := strconv.Itoa(int(math.Ceil(timeout.Seconds())))
	// ping exits non-zero when nothing answers: the summary tells.
	out, err := h.Exec(t, "ping", "-n", "-c", "1", "-i", "0.1", "-w", deadline, ip)
	took := time.Since(start)
	_, received, ok := parsePing(out)
	if !ok {
		t.Fatalf("host %s: ping %s: no summary in output (%v):\n%s", h.Name, ip, err, out)
	}
	return took, received > 0
}

// OFPort returns the OpenFlow port number OVS gave iface, or 0 when it has
// none (yet).
func (s *Site) OFPort(t testing.TB, iface string) int {
	t.Helper()
	out := strings.TrimSpace(s.ovs.Vsctl(t, "get", "interface", iface, "ofport"))
	n, err := strconv.Atoi(out)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// PeakRSS returns the process's peak resident set size in bytes (VmHWM in
// /proc/PID/status). It fails once the process has exited.
func (p *Process) PeakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return 0, fmt.Errorf("peak memory of %s: %w", p.Name, err)
	}
	kb, err := parseVmHWM(string(b))
	if err != nil {
		return 0, fmt.Errorf("peak memory of %s: %w", p.Name, err)
	}
	return kb * 1024, nil
}

// parseVmHWM reads the "VmHWM:   1234 kB" line of a /proc/PID/status.
func parseVmHWM(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmHWM line %q", line)
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	return 0, fmt.Errorf("no VmHWM line in /proc status")
}
