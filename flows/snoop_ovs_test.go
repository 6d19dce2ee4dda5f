package flows

import (
	"bufio"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// snoopLab is a lab whose br0 runs network 7's pipeline, snooping, on two
// hosts with network stacks of their own.
type snoopLab struct {
	*lab
	h1, h2 capturer
	p1, p2 uint32
}

// capturer counts, with tcpdump, the frames matching a filter that a host
// receives.
type capturer struct{ *ovstest.StackHost }

// capture starts counting the frames h receives that match filter; the
// function returned stops and returns the count.
func (h capturer) capture(t *testing.T, filter string) func() int {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", h.NetNS, "tcpdump", "-i", "eth0", "-p", "-nn", "--immediate-mode", "-w", "/dev/null", filter)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		for sc := bufio.NewScanner(stderr); sc.Scan(); {
			lines <- sc.Text()
		}
	}()
	for listening := false; !listening; {
		select {
		case l := <-lines:
			listening = strings.Contains(l, "listening on")
		case <-time.After(5 * time.Second):
			t.Fatal("tcpdump did not start within 5 s")
		}
	}
	return func() int {
		cmd.Process.Signal(os.Interrupt)
		var out []string
		for l := range lines {
			out = append(out, l)
		}
		cmd.Wait()
		// What the kernel's filter passed, whether or not tcpdump read
		// it before it was interrupted.
		report := strings.Join(out, "\n")
		m := regexp.MustCompile(`(\d+) packets? received by filter\s+(\d+) packets? dropped by kernel`).FindStringSubmatch(report)
		if m == nil {
			t.Fatalf("tcpdump: %s", report)
		}
		if m[2] != "0" {
			t.Fatalf("tcpdump dropped packets: %s", report)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
}

const (
	snoopMAC1 = "02:0a:00:00:00:11"
	snoopMAC2 = "02:0a:00:00:00:12"
)

func startSnoopLab(t *testing.T) *snoopLab {
	t.Helper()
	l := &snoopLab{lab: startLab(t)}
	l.s.SnoopHosts()
	l.h1 = capturer{l.ovs.AddStackHost(t, "br0", "p1", snoopMAC1, "192.0.2.11/24", "2001:db8::11/64")}
	l.h2 = capturer{l.ovs.AddStackHost(t, "br0", "p2", snoopMAC2, "192.0.2.12/24", "2001:db8::12/64")}
	l.p1, l.p2 = l.ovs.OFPort(t, "p1"), l.ovs.OFPort(t, "p2")
	set, err := CompileTopology(&Input{TunnelPorts: map[string]uint32{}, SnoopHosts: true,
		Networks: []Network{{ID: watchNetwork, Attachments: []Attachment{{OFPort: l.p1}, {OFPort: l.p2}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.s.Apply(context.Background(), ModList(Mods(set.Sorted(), nil))); err != nil {
		t.Fatal(err)
	}
	return l
}

// hostView is what a watch has reported: each MAC's port and addresses.
type hostView struct {
	ch    <-chan timedEvent
	hosts map[string]MACEvent
}

func watchHosts(t *testing.T, s *Session) *hostView {
	v := &hostView{ch: collect(t, s.WatchLocalMACs()), hosts: map[string]MACEvent{}}
	expectEvent(t, v.ch, 10*time.Second, "synced")
	return v
}

// waitIPs applies the watch's events until mac is reported with exactly
// ips, for up to 10 s.
func (v *hostView) waitIPs(t *testing.T, mac string, ips ...string) {
	t.Helper()
	var want []netip.Addr
	for _, ip := range ips {
		want = append(want, netip.MustParseAddr(ip))
	}
	slices.SortFunc(want, netip.Addr.Compare)
	timeout := time.After(10 * time.Second)
	for {
		if ev, ok := v.hosts[mac]; ok && slices.Equal(ev.IPs, want) {
			return
		}
		select {
		case ev := <-v.ch:
			if ev.Kind == MACRemoved {
				delete(v.hosts, ev.MAC.String())
			} else {
				v.hosts[ev.MAC.String()] = ev.MACEvent
			}
		case <-timeout:
			t.Fatalf("%s is not reported with %v within 10 s: %+v", mac, want, v.hosts[mac])
		}
	}
}

// TestSnoopedAddressesReachTheWatchOnOVS: hosts on real OVS talk as hosts
// do (arping, ndisc6), and the watch reports each host's MAC with the
// IPv4 and IPv6 addresses it announced, and an address announced by
// another host moves to it.
func TestSnoopedAddressesReachTheWatchOnOVS(t *testing.T) {
	l := startSnoopLab(t)
	v := watchHosts(t, l.s)

	// ARP: h1's request announces 192.0.2.11, h2's reply 192.0.2.12.
	l.h1.Exec(t, "arping", "-c", "1", "-i", "eth0", "192.0.2.12")
	v.waitIPs(t, snoopMAC1, "192.0.2.11")
	v.waitIPs(t, snoopMAC2, "192.0.2.12")
	if p := v.hosts[snoopMAC1].Port; p != l.p1 {
		t.Errorf("h1 reported on port %d, want %d", p, l.p1)
	}

	// ND: h1's solicitation from its global address announces it, h2's
	// advertisement its target. The hosts' link-local traffic (DAD of
	// their fe80:: addresses, router solicitations) announces nothing.
	l.h1.Exec(t, "ndisc6", "-1", "-s", "2001:db8::11", "2001:db8::12", "eth0")
	v.waitIPs(t, snoopMAC1, "192.0.2.11", "2001:db8::11")
	v.waitIPs(t, snoopMAC2, "192.0.2.12", "2001:db8::12")

	// h2 claims 192.0.2.11 with a gratuitous ARP (which nobody answers:
	// arping fails): it is h2's now.
	l.h2.Run("arping", "-U", "-S", "192.0.2.11", "-c", "1", "-i", "eth0", "192.0.2.11")
	v.waitIPs(t, snoopMAC2, "192.0.2.11", "192.0.2.12", "2001:db8::12")
	v.waitIPs(t, snoopMAC1, "2001:db8::11")
	if st := l.s.SnoopStats(); st.Announcements < 5 {
		t.Errorf("snoop stats %+v: want at least the 5 announcements", st)
	}
}

// TestSnoopingFloodIsMeteredOnOVS: h1 floods ARP requests at h2 well
// above SnoopRate. h2 receives every one of them (forwarding never waits
// on the controller), while the copies the session receives stay within
// what the meter lets through in that time.
func TestSnoopingFloodIsMeteredOnOVS(t *testing.T) {
	l := startSnoopLab(t)
	const n = 10000
	capture := l.h2.capture(t, "arp and ether src "+snoopMAC1)
	// Requests for an address nobody has: h2 answers none (its replies
	// would be announcements too).
	copies := l.s.SnoopStats()
	start := time.Now()
	l.h1.Run("arping", "-q", "-c", strconv.Itoa(n), "-W", "0.0002", "-i", "eth0", "192.0.2.99") // fails: no answer
	took := time.Since(start)
	time.Sleep(500 * time.Millisecond) // the last copies in
	received, after := capture(), l.s.SnoopStats()
	got := after.Announcements + after.Ignored - copies.Announcements - copies.Ignored
	limit := float64(SnoopRate)*took.Seconds() + SnoopBurst
	t.Logf("%d ARP requests in %s (%.0f/s): h2 received %d frames, the session %d copies (meter rate %d/s, burst %d: at most %.0f)",
		n, took.Round(time.Millisecond), n/took.Seconds(), received, got, SnoopRate, SnoopBurst, limit)
	t.Logf("meter stats:\n%s", l.ovs.Ofctl(t, "meter-stats", "br0"))
	if received < n {
		t.Errorf("h2 received %d frames of the %d requests: forwarding lost some\np2: %s\nh2: %s\n%s", received, n,
			l.ovs.Vsctl(t, "get", "interface", "p2", "statistics"), l.h2.Exec(t, "ip", "-s", "link", "show", "eth0"),
			l.ovs.Appctl(t, "ovs-vswitchd", "dpctl/show", "-s"))
	}
	if float64(got) > 1.1*limit {
		t.Errorf("the session received %d copies in %s, over the meter's %.0f", got, took, limit)
	}
	if float64(got) < float64(SnoopRate)*took.Seconds()/2 {
		t.Errorf("the session received %d copies in %s: the meter let through far less than its rate", got, took)
	}
}
