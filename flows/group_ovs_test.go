package flows

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// groupLab is a lab whose bridge has what a gateway's failover groups
// use: a flow-based VXLAN port, a per-remote VXLAN port for each of a
// remote gateway's two endpoints (the ports BFD would run on), and a
// local host port.
type groupLab struct {
	*lab
	tunnel, watch1, watch2, host uint32            // ofports
	flowTo                       map[uint32]uint64 // the cookie of the desired flow to each desired group
}

// Endpoints of the remote gateway, and the network's VNI.
const (
	endpoint1 = "198.51.100.1"
	endpoint2 = "198.51.100.11"
	labVNI    = 5001
)

func startGroupLab(t *testing.T) *groupLab {
	t.Helper()
	l := startLab(t)
	l.ovs.Vsctl(t,
		"add-port", "br0", "vx", "--", "set", "interface", "vx", "type=vxlan", "options:remote_ip=flow", "options:key=flow", "--",
		"add-port", "br0", "w1", "--", "set", "interface", "w1", "type=vxlan", "options:remote_ip="+endpoint1, "--",
		"add-port", "br0", "w2", "--", "set", "interface", "w2", "type=vxlan", "options:remote_ip="+endpoint2, "--",
		"add-port", "br0", "h", "--", "set", "interface", "h", "type=internal")
	return &groupLab{lab: l, tunnel: l.ovs.OFPort(t, "vx"), watch1: l.ovs.OFPort(t, "w1"),
		watch2: l.ovs.OFPort(t, "w2"), host: l.ovs.OFPort(t, "h")}
}

// desired is what the tests install: a fast-failover group toward the
// remote gateway's endpoints (endpoint1 preferred), one preferring
// endpoint2, a replication group to both, and a flow from the host port
// to each group.
func (l *groupLab) desired(t *testing.T) (GroupSet, FlowSet) {
	t.Helper()
	ip1, ip2 := net.ParseIP(endpoint1), net.ParseIP(endpoint2)
	groups := GroupSet{}
	add := func(id uint32, typ GroupType, buckets ...Bucket) {
		g, err := NewGroup(id, typ, buckets...)
		if err != nil {
			t.Fatal(err)
		}
		groups[id] = g
	}
	add(testGroupID(1), GroupFastFailover, TunnelBucket(l.watch1, l.tunnel, ip1), TunnelBucket(l.watch2, l.tunnel, ip2))
	add(testGroupID(2), GroupFastFailover, TunnelBucket(l.watch2, l.tunnel, ip2), TunnelBucket(l.watch1, l.tunnel, ip1))
	add(testGroupID(3), GroupAll, TunnelBucket(0, l.tunnel, ip1), TunnelBucket(0, l.tunnel, ip2))
	fs := FlowSet{}
	l.flowTo = map[uint32]uint64{}
	for i, id := range []uint32{testGroupID(1), testGroupID(2), testGroupID(3)} {
		mac := net.HardwareAddr{2, 0, 0, 0, 0, byte(i + 1)}
		f := flow(TableClassifier, 10).match(matchInPort(l.host), matchEthDst(mac)).
			apply(setField(tlv(hdrTunnelID, be64(labVNI), nil)), groupAction(id)).done(Owner{Kind: KindNetwork, ID: 1})
		fs[f.Cookie] = f
		l.flowTo[id] = f.Cookie
	}
	return groups, fs
}

// reconcile brings the bridge's groups and flows to the desired ones in
// one bundle and returns the group changes and how many flow_mods went.
func (l *groupLab) reconcile(t *testing.T, s *Session, groups GroupSet, fs FlowSet) (GroupChanges, int) {
	t.Helper()
	ctx := context.Background()
	installed, err := s.DumpGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dumped, err := s.Dump(ctx, ControllerCookie, ControllerCookieMask)
	if err != nil {
		t.Fatal(err)
	}
	cookies := Cookies{}
	for _, f := range dumped {
		cookies[f.Cookie] = struct{}{}
	}
	adds, dels := Diff(fs, cookies)
	c := DiffGroups(groups, installed)
	if err := s.Apply(ctx, c.Around(ModList(Mods(adds, dels)))); err != nil {
		t.Fatal(err)
	}
	return c, len(adds) + len(dels)
}

// groupLines is what ovs-ofctl dump-groups shows, one group a line, sorted.
func (l *groupLab) groupLines(t *testing.T) []string {
	t.Helper()
	var lines []string
	for _, line := range strings.Split(l.ovs.Ofctl(t, "dump-groups", "br0"), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "group_id=") {
			lines = append(lines, line)
		}
	}
	slices.Sort(lines)
	return lines
}

var groupStatsRE = regexp.MustCompile(`group_id=(\d+),duration=([0-9.]+)s,ref_count=(\d+)`)

// groupAges returns how long each group has existed (OVS keeps a group's
// creation time across modifications, not across a delete and an add),
// and how many flows point to it.
func (l *groupLab) groupAges(t *testing.T) (map[uint32]time.Duration, map[uint32]int) {
	t.Helper()
	ages, refs := map[uint32]time.Duration{}, map[uint32]int{}
	for _, m := range groupStatsRE.FindAllStringSubmatch(l.ovs.Ofctl(t, "dump-group-stats", "br0"), -1) {
		id, _ := strconv.ParseUint(m[1], 10, 32)
		sec, _ := strconv.ParseFloat(m[2], 64)
		ref, _ := strconv.Atoi(m[3])
		ages[uint32(id)] = time.Duration(sec * float64(time.Second))
		refs[uint32(id)] = ref
	}
	return ages, refs
}

// flowWatch records every flow change OVS reports on br0, as
// `ovs-ofctl monitor br0 watch:!initial` prints them.
type flowWatch struct {
	mu     sync.Mutex
	events []string
}

func watchFlows(t *testing.T, l *lab) *flowWatch {
	t.Helper()
	cmd := l.ovs.Command("ovs-ofctl", "-O", "OpenFlow13", "monitor", "br0", "watch:!initial")
	out, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); w.Close() })
	fw := &flowWatch{}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); strings.Contains(line, "event=") {
				fw.mu.Lock()
				fw.events = append(fw.events, line)
				fw.mu.Unlock()
			}
		}
	}()
	// The monitor is in once it reports a probe flow coming and going.
	probe := fmt.Sprintf("cookie=%#x,table=0,priority=1,in_port=65000,actions=drop", foreignCookie)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		l.ovs.Ofctl(t, "add-flow", "br0", probe)
		l.ovs.Ofctl(t, "del-flows", "br0", fmt.Sprintf("cookie=%#x/-1", foreignCookie))
		if len(fw.take()) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ovs-ofctl monitor reported nothing within 10 s")
		}
	}
	fw.sync(t, l) // every probe event is in
	return fw
}

// take returns the events reported since the last take.
func (fw *flowWatch) take() []string {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	ev := fw.events
	fw.events = nil
	return ev
}

// quiet asserts that OVS reported no flow change since the last take.
func (fw *flowWatch) quiet(t *testing.T, l *lab, when string) {
	t.Helper()
	if events := fw.sync(t, l); len(events) > 0 {
		t.Fatalf("%s: OVS reported %d flow changes: %s", when, len(events), strings.Join(events, "\n"))
	}
}

// sync returns the flow changes OVS reported since the last take, once a
// change made after them was reported (the monitor reports in order).
func (fw *flowWatch) sync(t *testing.T, l *lab) []string {
	t.Helper()
	marker := fmt.Sprintf("cookie=%#x,table=0,priority=1,in_port=%d,actions=drop", foreignCookie, 65001)
	l.ovs.Ofctl(t, "add-flow", "br0", marker)
	var events []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		events = append(events, fw.take()...)
		if n := len(events); n > 0 && strings.Contains(events[n-1], "65001") {
			events = events[:n-1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ovs-ofctl monitor did not report the marker flow within 10 s")
		}
	}
	l.ovs.Ofctl(t, "del-flows", "br0", fmt.Sprintf("cookie=%#x/-1", foreignCookie))
	for deadline := time.Now().Add(10 * time.Second); len(fw.take()) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("ovs-ofctl monitor did not report the marker's deletion within 10 s")
		}
	}
	return events
}

// TestGroupsSurviveReconnectionsAndRestarts: once installed, l2gwd's
// groups and the flows pointing to them see no change when the switch
// reconnects, nor when a new Session takes over (an l2gwd restart): no
// group_mod, no flow change, the same groups, none recreated.
func TestGroupsSurviveReconnectionsAndRestarts(t *testing.T) {
	l := startGroupLab(t)
	groups, fs := l.desired(t)
	c, n := l.reconcile(t, l.s, groups, fs)
	if len(c.Add) != 3 || len(c.Modify)+len(c.Delete) != 0 || n != 3 {
		t.Fatalf("first reconcile: %d group adds, %d modifies, %d deletes, %d flow mods; want 3, 0, 0, 3",
			len(c.Add), len(c.Modify), len(c.Delete), n)
	}
	installed := time.Now()
	want := l.groupLines(t)
	if len(want) != 3 || !strings.Contains(want[0], "type=ff") ||
		!strings.Contains(want[0], fmt.Sprintf("bucket=watch_port:%d,actions=set_field:%s->tun_dst,output:%d", l.watch1, endpoint1, l.tunnel)) {
		t.Fatalf("dump-groups after the first reconcile:\n%s", strings.Join(want, "\n"))
	}
	t.Logf("dump-groups:\n%s", strings.Join(want, "\n"))
	// What OVS dumps back is what l2gwd encodes: nothing to do.
	if c, n := l.reconcile(t, l.s, groups, fs); !c.Empty() || n != 0 {
		t.Fatalf("second reconcile changed %+v and %d flows", c, n)
	}
	fw := watchFlows(t, l.lab)
	unchanged := func(when string, s *Session) {
		t.Helper()
		start := time.Now()
		c, n := l.reconcile(t, s, groups, fs)
		took := time.Since(start)
		if !c.Empty() || n != 0 {
			t.Fatalf("%s: reconcile changed %+v and %d flows", when, c, n)
		}
		fw.quiet(t, l.lab, when)
		if got := l.groupLines(t); !slices.Equal(got, want) {
			t.Fatalf("%s: dump-groups:\n%s\nwant:\n%s", when, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		ages, refs := l.groupAges(t)
		for id := range groups {
			if ages[id] < time.Since(installed)-time.Second || refs[id] != 1 {
				t.Fatalf("%s: group %#x is %s old with %d flows pointing to it; installed %s ago with 1",
					when, id, ages[id], refs[id], time.Since(installed).Round(time.Millisecond))
			}
		}
		t.Logf("%s: reconcile (dump groups and flows, no change) %s", when, took.Round(100*time.Microsecond))
	}

	l.relay.Drop()
	l.waitEvent(t, false)
	l.waitEvent(t, true)
	unchanged("after a reconnection", l.s)

	// A new session, as a restarted l2gwd makes.
	l.s.Close()
	l.waitEvent(t, false)
	s, err := Listen(l.addr, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	l.s = s
	l.waitEvent(t, true)
	unchanged("after a new session", s)
}

// TestGroupsChangedByHandArePutBack: a reconcile modifies a group changed
// behind l2gwd's back (its flows stay), deletes an l2gwd group nobody
// wants, adds back one deleted (with the flows OVS deleted with it), and
// leaves other controllers' groups alone.
func TestGroupsChangedByHandArePutBack(t *testing.T) {
	l := startGroupLab(t)
	groups, fs := l.desired(t)
	l.reconcile(t, l.s, groups, fs)
	want := l.groupLines(t)
	fw := watchFlows(t, l.lab)

	l.ovs.Ofctl(t, "mod-group", "br0", fmt.Sprintf("group_id=%d,type=ff,bucket=watch_port:%d,actions=output:%d",
		testGroupID(1), l.watch2, l.tunnel))
	c, n := l.reconcile(t, l.s, groups, fs)
	if len(c.Modify) != 1 || c.Modify[0].ID() != testGroupID(1) || len(c.Add)+len(c.Delete) != 0 || n != 0 {
		t.Fatalf("reconcile after a group changed by hand: %+v, %d flow mods; want group %#x modified", c, n, testGroupID(1))
	}
	if got := l.groupLines(t); !slices.Equal(got, want) {
		t.Fatalf("dump-groups after putting back:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	fw.quiet(t, l.lab, "putting a modified group back")

	foreign := "group_id=1,type=all,bucket=actions=drop"
	l.ovs.Ofctl(t, "add-group", "br0", foreign)
	l.ovs.Ofctl(t, "add-group", "br0", fmt.Sprintf("group_id=%d,type=all,bucket=actions=drop", testGroupID(9)))
	l.ovs.Ofctl(t, "del-groups", "br0", fmt.Sprintf("group_id=%d", testGroupID(2)))
	if ev := fw.sync(t, l.lab); len(ev) != 1 || !strings.Contains(ev[0], "event=DELETED") {
		t.Fatalf("deleting group 2 by hand: OVS reported %q, want the deletion of the flow pointing to it", ev)
	}
	c, n = l.reconcile(t, l.s, groups, fs)
	if len(c.Add) != 1 || c.Add[0].ID() != testGroupID(2) || !slices.Equal(c.Delete, []uint32{testGroupID(9)}) || len(c.Modify) != 0 || n != 1 {
		t.Fatalf("reconcile after groups added and deleted by hand: %+v, %d flow mods; want group %#x added, %#x deleted, 1 flow added",
			c, n, testGroupID(2), testGroupID(9))
	}
	got := l.groupLines(t)
	if !slices.Contains(got, foreign) {
		t.Fatalf("the foreign group is gone:\n%s", strings.Join(got, "\n"))
	}
	if got = slices.DeleteFunc(got, func(s string) bool { return s == foreign }); !slices.Equal(got, want) {
		t.Fatalf("dump-groups after putting back:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, refs := l.groupAges(t); refs[testGroupID(2)] != 1 {
		t.Fatalf("%d flows point to the group put back, want 1", refs[testGroupID(2)])
	}
	fw.sync(t, l.lab)

	// A group no longer wanted goes in the bundle that removes its flow.
	delete(fs, l.flowTo[testGroupID(3)])
	delete(groups, testGroupID(3))
	c, n = l.reconcile(t, l.s, groups, fs)
	if !slices.Equal(c.Delete, []uint32{testGroupID(3)}) || len(c.Add)+len(c.Modify) != 0 || n != 1 {
		t.Fatalf("reconcile without group 3 and its flow: %+v, %d flow mods; want group 3 deleted and 1 flow", c, n)
	}
	if ev := fw.sync(t, l.lab); len(ev) != 1 || !strings.Contains(ev[0], "event=DELETED") {
		t.Fatalf("removing group 3 and its flow: OVS reported %q, want one flow deleted", ev)
	}
	if got := l.groupLines(t); len(got) != 3 || !slices.Contains(got, foreign) {
		t.Fatalf("dump-groups without group 3:\n%s", strings.Join(got, "\n"))
	}
}

// TestGroupsComeBackAfterVswitchdRestarts: ovs-vswitchd forgets groups and
// flows when it restarts; the reconcile on the new connection installs
// them again, as they were.
func TestGroupsComeBackAfterVswitchdRestarts(t *testing.T) {
	l := startGroupLab(t)
	groups, fs := l.desired(t)
	l.reconcile(t, l.s, groups, fs)
	want := l.groupLines(t)
	l.ovs.StopVswitchd()
	l.waitEvent(t, false)
	if err := l.ovs.StartVswitchd(); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(t, true)
	c, n := l.reconcile(t, l.s, groups, fs)
	if len(c.Add) != 3 || n != 3 {
		t.Fatalf("reconcile after the restart: %+v, %d flow mods; want 3 groups and 3 flows added", c, n)
	}
	if got := l.groupLines(t); !slices.Equal(got, want) {
		t.Fatalf("dump-groups after the restart:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, refs := l.groupAges(t); refs[testGroupID(1)] != 1 {
		t.Fatalf("%d flows point to group %#x, want 1", refs[testGroupID(1)], testGroupID(1))
	}
}

// TestFailoverGroupMovesToTheNextLiveBucket: when the watch port of the
// bucket in use goes down (its BFD session is down: here BFD is enabled
// toward an endpoint that never answers) or away, OVS switches the group
// to the next bucket by itself (ofproto/trace shows the bucket in use),
// and back when it comes up. (ovs-ofctl mod-port PORT down leaves a
// tunnel port's config and liveness as they were: no way to fail one.)
func TestFailoverGroupMovesToTheNextLiveBucket(t *testing.T) {
	l := startGroupLab(t)
	groups, fs := l.desired(t)
	l.reconcile(t, l.s, groups, fs)
	packet := fmt.Sprintf("in_port=%d,dl_dst=02:00:00:00:00:01", l.host)
	uses := func(when string, bucket int, endpoint string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			out := l.ovs.Appctl(t, "ovs-vswitchd", "ofproto/trace", "br0", packet)
			if strings.Contains(out, fmt.Sprintf("-> using bucket %d", bucket)) &&
				strings.Contains(out, fmt.Sprintf("set_field:%s->tun_dst", endpoint)) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the trace does not use bucket %d (%s) within 10 s:\n%s", when, bucket, endpoint, out)
			}
		}
	}
	uses("both endpoints' ports live", 0, endpoint1)
	l.ovs.Vsctl(t, "set", "interface", "w1", "bfd:enable=true")
	uses("the preferred endpoint's BFD down", 1, endpoint2)
	if st := l.ovs.Vsctl(t, "get", "interface", "w1", "bfd_status:forwarding"); strings.TrimSpace(st) != `"false"` {
		t.Fatalf("w1's BFD forwarding is %s, want false", st)
	}
	l.ovs.Vsctl(t, "set", "interface", "w1", "bfd:enable=false")
	uses("the preferred endpoint's BFD off again", 0, endpoint1)
	l.ovs.Vsctl(t, "del-port", "br0", "w1")
	uses("the preferred endpoint's port removed", 1, endpoint2)
	// The group itself did not change: nothing to reconcile.
	if c, n := l.reconcile(t, l.s, groups, fs); !c.Empty() || n != 0 {
		t.Fatalf("reconcile after the failover changed %+v and %d flows", c, n)
	}
}

// TestGroupsAtScale installs a few thousand fast-failover groups in one
// bundle and dumps them back (a multipart reply of several parts) and
// logs the times.
func TestGroupsAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of groups")
	}
	l := startGroupLab(t)
	const n = 5000
	groups := GroupSet{}
	for i := range n {
		ip1 := net.IPv4(198, 51, 100, byte(i))
		ip2 := net.IPv4(203, 0, 113, byte(i))
		g, err := NewGroup(testGroupID(uint32(i+1)), GroupFastFailover,
			TunnelBucket(l.watch1, l.tunnel, ip1), TunnelBucket(l.watch2, l.tunnel, ip2))
		if err != nil {
			t.Fatal(err)
		}
		groups[g.ID()] = g
	}
	ctx := context.Background()
	start := time.Now()
	c, err := l.s.ReconcileGroups(ctx, groups)
	if err != nil {
		t.Fatal(err)
	}
	added := time.Since(start)
	if len(c.Add) != n {
		t.Fatalf("%d groups added, want %d", len(c.Add), n)
	}
	start = time.Now()
	dumped, err := l.s.DumpGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dumpTook := time.Since(start)
	if len(dumped) != n {
		t.Fatalf("dump has %d groups, want %d", len(dumped), n)
	}
	start = time.Now()
	if c, err := l.s.ReconcileGroups(ctx, groups); err != nil || !c.Empty() {
		t.Fatalf("second reconcile: %+v, %v; want no change", c, err)
	}
	t.Logf("%d fast-failover groups: added in one bundle %s, dumped %s, reconciled unchanged %s",
		n, added.Round(time.Millisecond), dumpTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if got := len(l.groupLines(t)); got != n {
		t.Fatalf("ovs-ofctl dump-groups shows %d groups, want %d", got, n)
	}
}
