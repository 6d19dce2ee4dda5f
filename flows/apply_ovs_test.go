package flows

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestApplyVersusOfctlBundle installs 100,000 bindings' flows with Apply,
// then loads the very same flows (as ovs-ofctl dumps them) into a fresh
// bridge with ovs-ofctl --bundle add-flows, OVS's own tool, and logs both
// times with the CPU time ovs-vswitchd spent on each: the floor Apply is
// measured against. It asserts what was installed, not how fast. The
// session's debug log splits Apply's time into encode, send, close and
// commit.
func TestApplyVersusOfctlBundle(t *testing.T) {
	if testing.Short() {
		t.Skip("200,000 flows")
	}
	l := startLab(t)
	flows := bulkFlows(t, 100000)
	mods := Mods(flows, nil)

	cpu := vswitchdCPU(t, l)
	start := time.Now()
	if err := l.s.Apply(context.Background(), ModList(mods)); err != nil {
		t.Fatal(err)
	}
	applied := time.Since(start)
	applyCPU := vswitchdCPU(t, l) - cpu

	lines := ofctlFlows(l.ovs.Ofctl(t, "dump-flows", "--no-stats", "--no-names", "br0"))
	if len(lines) != len(flows) {
		t.Fatalf("br0 has %d flows after Apply of %d", len(lines), len(flows))
	}
	counts := l.ofctlCookies(t)
	for _, f := range flows {
		if counts[f.Cookie] != 1 {
			t.Fatalf("br0 has %d flows with cookie %#x, want 1", counts[f.Cookie], f.Cookie)
		}
	}

	file := filepath.Join(t.TempDir(), "flows.txt")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.ovs.Vsctl(t, "add-br", "br1", "--",
		"set", "bridge", "br1", "datapath_type=netdev", "protocols=OpenFlow13", "fail_mode=secure")
	ofctl := l.ovs.Command("ovs-ofctl", "-O", "OpenFlow13", "--bundle", "add-flows", "br1", file)
	cpu = vswitchdCPU(t, l)
	start = time.Now()
	if out, err := ofctl.CombinedOutput(); err != nil {
		t.Fatalf("ovs-ofctl --bundle add-flows: %v: %s", err, out)
	}
	baseline := time.Since(start)
	baselineCPU := vswitchdCPU(t, l) - cpu
	if n := len(ofctlFlows(l.ovs.Ofctl(t, "dump-flows", "--no-stats", "br1"))); n != len(flows) {
		t.Fatalf("br1 has %d flows after ovs-ofctl --bundle add-flows of %d", n, len(flows))
	}

	t.Logf("%d flows: Apply %s (ovs-vswitchd CPU %s), ovs-ofctl --bundle add-flows %s (ovs-vswitchd CPU %s, ovs-ofctl CPU %s): ratio %.2f",
		len(flows), applied.Round(time.Millisecond), applyCPU,
		baseline.Round(time.Millisecond), baselineCPU,
		(ofctl.ProcessState.UserTime() + ofctl.ProcessState.SystemTime()).Round(10*time.Millisecond),
		float64(applied)/float64(baseline))
}

func TestApplyDiscardsABundleWithABadModInTheMiddle(t *testing.T) {
	l := startLab(t)
	mods := Mods(bulkFlows(t, 25000), nil)
	// OVS rejects going back to an earlier table.
	bad := flow(5, 1).goTo(2).done(Owner{})
	bad.setCookie(testCookie | 0xbad)
	const at = 25000 // of 50,000 and more: well past the first chunks
	withBad := append(append(append([]Mod(nil), mods[:at]...), bad.AddMod()), mods[at:]...)

	err := l.s.Apply(context.Background(), ModList(withBad))
	if err == nil {
		t.Fatal("Apply of a bundle with a bad mod succeeded")
	}
	want := fmt.Sprintf("rejected 1 flow mods, first mod %d (table 5, priority 1, cookie %#x)", at, bad.Cookie)
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("Apply: %v; want it to say %q", err, want)
	}
	if counts := l.ofctlCookies(t); len(counts) != 0 {
		t.Fatalf("after a failed bundle ovs-ofctl shows %s, want none", someCookies(counts))
	}
	// The connection carries on: the good mods go in.
	if err := l.s.Apply(context.Background(), ModList(mods)); err != nil {
		t.Fatal(err)
	}
	if n := len(l.ofctlCookies(t)); n != len(mods) {
		t.Fatalf("ovs-ofctl shows %d cookies, want %d", n, len(mods))
	}
}

func TestApplyDiscardsABundleWhoseSourceFails(t *testing.T) {
	l := startLab(t)
	mods := Mods(bulkFlows(t, 25000), nil)
	broken := errors.New("compile failed")
	src := func(emit func(Mod) bool) error {
		for _, m := range mods {
			if !emit(m) {
				return nil
			}
		}
		return broken // after every mod went out
	}
	if err := l.s.Apply(context.Background(), src); !errors.Is(err, broken) {
		t.Fatalf("Apply from a failing source: %v, want its error", err)
	}
	if counts := l.ofctlCookies(t); len(counts) != 0 {
		t.Fatalf("after a failed source ovs-ofctl shows %s, want none", someCookies(counts))
	}
}

// ofctlFlows returns the flow lines of an ovs-ofctl dump-flows output.
func ofctlFlows(dump string) []string {
	var lines []string
	for _, line := range strings.Split(dump, "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "cookie=") {
			lines = append(lines, line)
		}
	}
	return lines
}

// vswitchdCPU returns the CPU time (user and system) the lab's ovs-vswitchd
// has used so far.
func vswitchdCPU(t *testing.T, l *lab) time.Duration {
	t.Helper()
	pid, err := os.ReadFile(filepath.Join(l.ovs.Dir, "ovs-vswitchd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(string(pid)), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after "(comm) ": state is the first, utime the 12th, stime the 13th.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	var utime, stime int64
	if _, err := fmt.Sscan(fields[11], &utime); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Sscan(fields[12], &stime); err != nil {
		t.Fatal(err)
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(utime+stime) * tick
}
