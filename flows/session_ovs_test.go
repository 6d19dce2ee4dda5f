package flows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// testCookie marks the flows the tests program; foreignCookie marks one
// installed behind the session's back, which it must leave alone.
const (
	testCookie    = uint64(0xA) << 60
	testMask      = uint64(0xF) << 60
	foreignCookie = uint64(0x5) << 60
)

// lab is a private OVS with bridge br0 connected to a Session.
type lab struct {
	ovs   *ovstest.OVS
	s     *Session
	addr  string         // s's address
	relay *ovstest.Relay // the switch's connection to s
}

// startLab runs OVS in a network namespace of its own (netdev datapaths of
// OVS instances sharing a namespace collide on the "ovs-netdev" device) and
// relays its controller connection, made to a unix socket, to the session's
// TCP port.
func startLab(t *testing.T) *lab {
	t.Helper()
	o := ovstest.Start(t, ovstest.NetNS(t, "l2gw-flows"))
	addr := ovstest.FreeAddr(t)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := Listen(addr, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	target, relay := o.Controller(t, addr)
	o.AddControlledBridge(t, "br0", target)
	l := &lab{ovs: o, s: s, addr: addr, relay: relay}
	l.waitEvent(t, true)
	return l
}

// waitEvent waits for the connection event that says connected.
func (l *lab) waitEvent(t *testing.T, connected bool) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-l.s.Events():
			if ev.Connected == connected {
				if l.s.Connected() != connected {
					t.Fatalf("event says connected=%t, Connected() says %t", connected, !connected)
				}
				return
			}
		case <-timeout:
			t.Fatalf("no event connected=%t within 30s", connected)
		}
	}
}

// ofctlCookies returns how many flows ovs-ofctl shows per cookie.
func (l *lab) ofctlCookies(t *testing.T) map[uint64]int {
	t.Helper()
	out := l.ovs.Ofctl(t, "dump-flows", "br0")
	counts := map[uint64]int{}
	for _, line := range strings.Split(out, "\n") {
		var cookie uint64
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "cookie=0x%x,", &cookie); err == nil {
			counts[cookie]++
		}
	}
	return counts
}

// someCookies describes counts briefly.
func someCookies(counts map[uint64]int) string {
	var some []string
	for c := range counts {
		if len(some) == 3 {
			some = append(some, "...")
			break
		}
		some = append(some, fmt.Sprintf("%#x", c))
	}
	return fmt.Sprintf("%d cookies (%s)", len(counts), strings.Join(some, " "))
}

// testFlows builds n distinct flows with cookies testCookie|i, spread over
// tables 0-3 and over the match fields and actions l2gw's pipeline uses.
func testFlows(n int) []*Flow {
	flows := make([]*Flow, n)
	for i := range flows {
		mac := net.HardwareAddr{0x02, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		ip := net.IPv4(198, 51, byte(i>>8), byte(i))
		b := flow(uint8(i%4), uint16(100+i%3))
		switch i % 4 {
		case 0: // local MAC on a port
			b.match(matchInPort(uint32(i%7+1)), matchEthDst(mac)).apply(output(1))
		case 1: // remote MAC behind a tunnel
			b.match(matchReg(6, uint32(i)), matchEthDst(mac)).apply(setTunnel(ip, uint32(i))...).apply(output(2))
		case 2: // ARP responder
			b.match(matchReg(6, uint32(i))).match(matchARPRequest(ip)...).apply(
				move(hdrEthSrc, hdrEthDst, 48),
				setField(tlv(hdrEthSrc, mac, nil)),
				setField(tlv(hdrARPOp, be16(2), nil)),
				setField(tlv(hdrARPSHA, mac, nil)),
				outputInPort())
		case 3: // tunnel ingress by VNI and VLAN
			b.match(matchTunID(uint32(i)), matchVLAN(uint16(i%4000+1))).
				apply(popVLAN(), loadReg(6, uint32(i))).goTo(uint8(i%4) + 1)
		}
		f := b.done(Owner{})
		f.setCookie(testCookie | uint64(i))
		flows[i] = f
	}
	return flows
}

func addMods(flows []*Flow) []Mod {
	mods := make([]Mod, len(flows))
	for i, f := range flows {
		mods[i] = f.AddMod()
	}
	return mods
}

func deleteMods(flows []DumpedFlow) []Mod {
	mods := make([]Mod, len(flows))
	for i, f := range flows {
		mods[i] = DeleteCookieMod(f.Cookie)
	}
	return mods
}

type flowKey struct {
	cookie   uint64
	table    uint8
	priority uint16
}

// checkDump asserts that dumped holds exactly want's cookies, tables and priorities.
func checkDump(t *testing.T, dumped []DumpedFlow, want []*Flow) {
	t.Helper()
	if len(dumped) != len(want) {
		t.Fatalf("dump returned %d flows, want %d", len(dumped), len(want))
	}
	keys := make(map[flowKey]bool, len(want))
	for _, f := range want {
		keys[flowKey{f.Cookie, f.Table, f.Priority}] = true
	}
	for _, f := range dumped {
		k := flowKey{f.Cookie, f.Table, f.Priority}
		if !keys[k] {
			t.Fatalf("dump returned unexpected or duplicate flow %+v", k)
		}
		delete(keys, k)
	}
}

func TestSessionApplyDumpDelete(t *testing.T) {
	l := startLab(t)
	ctx := context.Background()
	l.ovs.Ofctl(t, "add-flow", "br0", fmt.Sprintf("cookie=%#x,table=0,priority=100,in_port=1,actions=drop", foreignCookie))

	flows := testFlows(20000)
	start := time.Now()
	if err := l.s.Apply(ctx, ModList(addMods(flows))); err != nil {
		t.Fatal(err)
	}
	t.Logf("Apply of %d flows: %s", len(flows), time.Since(start))
	counts := l.ofctlCookies(t)
	for _, f := range flows {
		if counts[f.Cookie] != 1 {
			t.Fatalf("ovs-ofctl shows %d flows with cookie %#x, want 1", counts[f.Cookie], f.Cookie)
		}
	}

	start = time.Now()
	dumped, err := l.s.Dump(ctx, testCookie, testMask)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Dump of %d flows: %s", len(dumped), time.Since(start))
	checkDump(t, dumped, flows)

	// The dumped cookies go back out in deletes by cookie.
	if err := l.s.Apply(ctx, ModList(deleteMods(dumped))); err != nil {
		t.Fatal(err)
	}
	counts = l.ofctlCookies(t)
	if counts[foreignCookie] != 1 {
		t.Fatal("deleting the dumped flows deleted the foreign flow")
	}
	if delete(counts, foreignCookie); len(counts) != 0 {
		t.Fatalf("after deleting the dumped flows ovs-ofctl still shows %s", someCookies(counts))
	}
	if dumped, err := l.s.Dump(ctx, testCookie, testMask); err != nil || len(dumped) != 0 {
		t.Fatalf("dump after delete: %d flows, %v; want none", len(dumped), err)
	}
}

func TestSessionBundleIsAtomic(t *testing.T) {
	l := startLab(t)
	flows := testFlows(100)
	// OVS rejects going back to an earlier table.
	bad := flow(5, 1).goTo(2).done(Owner{})
	bad.setCookie(testCookie | 0xbad)
	flows = append(flows, bad)
	if err := l.s.Apply(context.Background(), ModList(addMods(flows))); err == nil {
		t.Fatal("Apply of a bundle with a bad flow succeeded")
	} else {
		t.Logf("Apply: %v", err)
	}
	if counts := l.ofctlCookies(t); len(counts) != 0 {
		t.Fatalf("after a failed bundle ovs-ofctl shows %s, want none", someCookies(counts))
	}
	// The session still works.
	if err := l.s.Apply(context.Background(), ModList(addMods(flows[:100]))); err != nil {
		t.Fatal(err)
	}
	if counts := l.ofctlCookies(t); len(counts) != 100 {
		t.Fatalf("ovs-ofctl shows %d cookies, want 100", len(counts))
	}
}

func TestSessionReconnects(t *testing.T) {
	l := startLab(t)
	l.ovs.StopVswitchd()
	l.waitEvent(t, false)
	if err := l.s.Apply(context.Background(), ModList(addMods(testFlows(1)))); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Apply while disconnected: %v, want ErrNotConnected", err)
	}
	if err := l.ovs.StartVswitchd(); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(t, true)
	flows := testFlows(1000)
	if err := l.s.Apply(context.Background(), ModList(addMods(flows))); err != nil {
		t.Fatal(err)
	}
	dumped, err := l.s.Dump(context.Background(), testCookie, testMask)
	if err != nil {
		t.Fatal(err)
	}
	checkDump(t, dumped, flows)
}

func TestSessionScale(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 flows")
	}
	l := startLab(t)
	ctx := context.Background()
	flows := testFlows(100000)
	start := time.Now()
	if err := l.s.Apply(ctx, ModList(addMods(flows))); err != nil {
		t.Fatal(err)
	}
	t.Logf("Apply of %d flows: %s", len(flows), time.Since(start))
	start = time.Now()
	dumped, err := l.s.Dump(ctx, testCookie, testMask)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Dump of %d flows: %s", len(dumped), time.Since(start))
	checkDump(t, dumped, flows)
	start = time.Now()
	if err := l.s.Apply(ctx, ModList(deleteMods(dumped))); err != nil {
		t.Fatal(err)
	}
	t.Logf("Apply of %d deletes: %s", len(dumped), time.Since(start))
	if counts := l.ofctlCookies(t); len(counts) != 0 {
		t.Fatalf("after deleting everything ovs-ofctl shows %s", someCookies(counts))
	}
}
