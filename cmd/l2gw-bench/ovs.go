package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// controllerCookies selects the flows l2gwd owns (cookie bits 63-60 = 0xa).
const controllerCookies = "cookie=0xa000000000000000/0xf000000000000000"

// ovsSwitch is the benchmark's private Open vSwitch, running in the
// benchmark's namespace.
type ovsSwitch struct {
	*ovstest.OVS
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
	return &ovsSwitch{o}, nil
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
	out, err := s.ofctl("dump-aggregate", bridge, controllerCookies)
	if err != nil {
		return 0, err
	}
	m := flowCountRE.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no flow_count in dump-aggregate of %s: %q", bridge, out)
	}
	return strconv.Atoi(m[1])
}

// waitFlowCount polls bridge until OVS counts want controller flows and
// returns when it saw them (the end of the poll that saw them: an upper
// bound). It pauses interval between polls, or as long as the last poll
// took if longer, so that counting many flows keeps ovs-vswitchd busy at
// most half the time. Errors of single polls (ovs-vswitchd restarting) are
// retried until ctx ends.
func (s *ovsSwitch) waitFlowCount(ctx context.Context, bridge string, want int, interval time.Duration) (time.Time, error) {
	last, lastErr := -1, error(nil)
	for {
		start := time.Now()
		n, err := s.controllerFlowCount(bridge)
		if err == nil && n == want {
			return time.Now(), nil
		}
		last, lastErr = n, err
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("wait for %d flows on %s (last count %d, last error %v): %w",
				want, bridge, last, lastErr, ctx.Err())
		case <-time.After(max(interval, time.Since(start))):
		}
	}
}

// dumpControllerFlows writes bridge's l2gwd-owned flows, without
// statistics and with port numbers instead of names, to path in the form
// ovs-ofctl add-flows reads, and returns how many it wrote.
func (s *ovsSwitch) dumpControllerFlows(bridge, path string) (int, error) {
	out, err := s.ofctl("dump-flows", "--no-stats", "--no-names", bridge, controllerCookies)
	if err != nil {
		return 0, err
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("create flow file: %w", err)
	}
	w := bufio.NewWriter(f)
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "cookie=") {
			w.WriteString(line + "\n")
			n++
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

// version is the first line of ovs-vswitchd --version.
func (s *ovsSwitch) version() string {
	out, err := s.Exec("ovs-vswitchd", "--version")
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(out, "\n")
	return strings.TrimSpace(line)
}
