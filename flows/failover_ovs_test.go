package flows

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// haLab is a startLab bridge with two local attachments (ofports 1, 2),
// the flow-based VXLAN port (10) and per-remote VXLAN ports with BFD on,
// whose forwarding the tests set (bfd/set-forwarding: the BFD state a
// fast-failover group reads, without a remote answering), and br-phy, the
// underlay, so that traces show the tunnel headers packets go out with.
type haLab struct {
	*lab
}

// BFD ports of haLab: toward the remote gateway's endpoints, and toward
// the HA peer.
const (
	bfdPort1, bfdPort2, peerPort = 21, 22, 30
	peerIP                       = "198.51.100.20"
	otherGateway                 = "198.51.100.3"
)

func startHALab(t *testing.T) *haLab {
	t.Helper()
	l := &haLab{startLab(t)}
	args := []string{}
	for _, p := range []struct {
		name string
		opts []string
	}{
		{"p1", []string{"type=internal", "ofport_request=1"}},
		{"p2", []string{"type=internal", "ofport_request=2"}},
		{"vx", []string{"type=vxlan", "options:remote_ip=flow", "options:key=flow", "ofport_request=10"}},
		{"b1", []string{"type=vxlan", "options:remote_ip=" + endpoint1, fmt.Sprintf("ofport_request=%d", bfdPort1), "bfd:enable=true"}},
		{"b2", []string{"type=vxlan", "options:remote_ip=" + endpoint2, fmt.Sprintf("ofport_request=%d", bfdPort2), "bfd:enable=true"}},
		{"bp", []string{"type=vxlan", "options:remote_ip=" + peerIP, fmt.Sprintf("ofport_request=%d", peerPort), "bfd:enable=true"}},
	} {
		args = append(args, "--", "add-port", "br0", p.name, "--", "set", "interface", p.name)
		args = append(args, p.opts...)
	}
	l.ovs.Vsctl(t, args[1:]...)
	l.ovs.Vsctl(t, "add-br", "br-phy", "--", "set", "bridge", "br-phy", "datapath_type=netdev", "--",
		"add-port", "br-phy", "wan0", "--", "set", "interface", "wan0", "type=internal")
	for _, cmd := range [][]string{{"ip", "link", "set", "br-phy", "up"}, {"ip", "addr", "add", "198.51.100.50/24", "dev", "br-phy"}} {
		if _, err := l.ovs.Exec(cmd[0], cmd[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	awaitTrue(t, "OVS's underlay route", func() bool {
		return strings.Contains(l.ovs.Appctl(t, "ovs-vswitchd", "ovs/route/show"), "198.51.100.0/24")
	})
	for i, ip := range []string{endpoint1, endpoint2, peerIP, otherGateway} {
		l.ovs.Appctl(t, "ovs-vswitchd", "tnl/neigh/set", "br-phy", ip, fmt.Sprintf("02:99:00:00:00:%02x", i+1))
	}
	return l
}

// forwarding sets the BFD forwarding state of port: "true", "false" or
// "normal".
func (l *haLab) forwarding(t *testing.T, port, state string) {
	t.Helper()
	l.ovs.Appctl(t, "ovs-vswitchd", "bfd/set-forwarding", port, state)
}

// install compiles in and brings br0's groups and flows to it in one
// bundle; it checks that what OVS then dumps back is what was compiled.
func (l *haLab) install(t *testing.T, in *Input) {
	t.Helper()
	ctx := context.Background()
	set := mustCompile(t, in)
	groups := mustCompileGroups(t, in)
	installed, err := l.s.DumpGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.s.Apply(ctx, DiffGroups(groups, installed).Around(ModList(Mods(set.Sorted(), nil)))); err != nil {
		t.Fatal(err)
	}
	installed, err = l.s.DumpGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := DiffGroups(groups, installed); !c.Empty() {
		t.Fatalf("the groups OVS dumps back differ from the compiled ones: %+v\n%s", c, l.ovs.Ofctl(t, "dump-groups", "br0"))
	}
}

var tunnelPushRE = regexp.MustCompile(`tnl_push\(tnl_port\(\d+\),header\(.*?ipv4\([^)]*dst=([0-9.]+)[^)]*\),udp\([^)]*\),vxlan\([^)]*vni=0x([0-9a-f]+)\)\)`)

// tunnelCopies returns the (remote, vni) of every tunnel copy of a
// trace's datapath actions, in order.
func tunnelCopies(trace string) []string {
	_, acts, _ := strings.Cut(trace, "Datapath actions: ")
	var out []string
	for _, m := range tunnelPushRE.FindAllStringSubmatch(acts, -1) {
		var vni int
		fmt.Sscanf(m[2], "%x", &vni)
		out = append(out, fmt.Sprintf("%s/%d", m[1], vni))
	}
	return out
}

// awaitCopies traces packet (learning nothing) until its tunnel copies
// are want.
func (l *haLab) awaitCopies(t *testing.T, when, packet string, want ...string) string {
	t.Helper()
	var trace string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		trace = l.ovs.Appctl(t, "ovs-vswitchd", "ofproto/trace", "br0", packet+",dl_type=0x88b5")
		if got := tunnelCopies(trace); slices.Equal(got, want) {
			return trace
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s goes to %v, want %v:\n%s", when, packet, tunnelCopies(trace), want, trace)
		}
	}
}

// TestFailoverDataPathOnOVS: a remote gateway of two endpoints, each with
// a BFD port. Unicast to a bound MAC, to a MAC learned from the second
// endpoint and a flood go to the first endpoint while its BFD forwards, to
// the second when only the second's does, and to the first (the
// always-live bucket) when neither does; the flood's other copies (a
// local port, a single-endpoint gateway after the group) are unaffected.
func TestFailoverDataPathOnOVS(t *testing.T) {
	l := startHALab(t)
	ip1, ip2 := net.ParseIP(endpoint1), net.ParseIP(endpoint2)
	in := &Input{
		TunnelPorts: map[string]uint32{"vxlan": 10},
		BFDPorts:    map[Endpoint]uint32{{"vxlan", endpoint1}: bfdPort1, {"vxlan", endpoint2}: bfdPort2},
		Networks: []Network{{ID: 1, Attachments: []Attachment{{OFPort: 1}, {OFPort: 2}},
			Connections: []Connection{
				{ID: 1, NetworkType: "vxlan", RemoteIP: ip1, RemoteIPs: []net.IP{ip1, ip2}, SegmentationID: labVNI, Flood: true,
					Bindings: []Binding{{ID: 1, MAC: [6]byte(mac(boundMAC))}}},
				{ID: 2, NetworkType: "vxlan", RemoteIP: net.ParseIP(otherGateway), SegmentationID: 7, Flood: true},
			}}},
	}
	l.install(t, in)

	// A MAC behind the gateway, learned from its second endpoint.
	const learnedMAC = "02:0b:00:00:00:99"
	trace := l.send(t, fmt.Sprintf("in_port=10,tun_src=%s,tun_dst=198.51.100.50,tun_id=%d,dl_src=%s,dl_dst=ff:ff:ff:ff:ff:ff", endpoint2, labVNI, learnedMAC))
	if dropped(trace) {
		t.Fatalf("a frame from the second endpoint is dropped:\n%s", trace)
	}
	if learned := l.learnedBy(t, LearnedConnectionCookie(1)); len(learned) != 1 || !strings.Contains(learned[0], "load:0xc633640b->NXM_NX_TUN_IPV4_DST[]") {
		t.Fatalf("learned from the second endpoint: %v", learned)
	}

	const from = "in_port=1,dl_src=02:0a:00:00:00:01"
	to1, to2 := fmt.Sprintf("%s/%d", endpoint1, labVNI), fmt.Sprintf("%s/%d", endpoint2, labVNI)
	other := fmt.Sprintf("%s/7", otherGateway)
	for _, tc := range []struct {
		when   string
		b1, b2 string
		want   string
	}{
		{"both endpoints' BFD forwarding", "true", "true", to1},
		{"only the second endpoint's BFD forwarding", "false", "true", to2},
		{"no BFD forwarding (the always-live bucket)", "false", "false", to1},
		{"only the first endpoint's BFD forwarding", "true", "false", to1},
	} {
		l.forwarding(t, "b1", tc.b1)
		l.forwarding(t, "b2", tc.b2)
		l.awaitCopies(t, tc.when+", the bound MAC", from+",dl_dst="+boundMAC, tc.want)
		l.awaitCopies(t, tc.when+", the learned MAC", from+",dl_dst="+learnedMAC, tc.want)
		flood := l.awaitCopies(t, tc.when+", a flood", from+",dl_dst=ff:ff:ff:ff:ff:ff", tc.want, other)
		_, acts, _ := strings.Cut(flood, "Datapath actions: ")
		if !regexp.MustCompile(`^\d+,`).MatchString(acts) {
			t.Errorf("%s: the flood's first copy is not to the local port: %s", tc.when, acts)
		}
	}
}

// TestHAGateOnOVS: the gate drops everything while the HA peer's BFD port
// forwards, and while no witness forwards; while only a witness forwards,
// packets go through the whole pipeline (local learning included).
func TestHAGateOnOVS(t *testing.T) {
	l := startHALab(t)
	l.install(t, &Input{TunnelPorts: map[string]uint32{"vxlan": 10},
		Gate:     &Gate{PeerPorts: []uint32{peerPort}, WitnessPorts: []uint32{bfdPort1, bfdPort2}},
		Networks: []Network{{ID: 1, Attachments: []Attachment{{OFPort: 1}, {OFPort: 2}}}}})
	const packet = "in_port=1,dl_src=02:0a:00:00:00:01,dl_dst=02:0a:00:00:00:02"
	for i, tc := range []struct {
		when         string
		peer, w1, w2 string
		passes       bool
	}{
		{"the peer and a witness forwarding", "true", "true", "false", false},
		{"the peer forwarding, no witness", "true", "false", "false", false},
		{"nothing forwarding", "false", "false", "false", false},
		{"the peer silent, the second witness forwarding", "false", "false", "true", true},
		{"the peer silent, both witnesses forwarding", "false", "true", "true", true},
		{"the peer back", "true", "true", "true", false},
	} {
		l.forwarding(t, "bp", tc.peer)
		l.forwarding(t, "b1", tc.w1)
		l.forwarding(t, "b2", tc.w2)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			trace := l.ovs.Appctl(t, "ovs-vswitchd", "ofproto/trace", "br0", packet+",dl_type=0x88b5")
			_, acts, _ := strings.Cut(trace, "Datapath actions: ")
			if passed := strings.TrimSpace(acts) != "drop"; passed == tc.passes {
				if passed && !strings.Contains(trace, "resubmit(,0)") {
					t.Fatalf("%s: passed without the gate's resubmit:\n%s", tc.when, trace)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: passes %t, want %t:\n%s", tc.when, !tc.passes, tc.passes, trace)
			}
		}
		if tc.passes {
			// What passes is learned, as without a gate.
			src := fmt.Sprintf("02:0a:00:00:01:%02x", i)
			l.send(t, "in_port=1,dl_src="+src+",dl_dst=ff:ff:ff:ff:ff:ff")
			if learned := l.learnedBy(t, LearnedCookie(1)); !slices.ContainsFunc(learned, func(s string) bool { return strings.Contains(s, "dl_dst="+src) }) {
				t.Fatalf("%s: %s was not learned through the gate: %v", tc.when, src, learned)
			}
		}
	}
}

// captureFrame starts capturing, in host h's namespace, the first frame
// matching filter; the function returned waits for it and returns it.
func captureFrame(t *testing.T, ns, filter string) func() []byte {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "tcpdump", "-i", "eth0", "-p", "-nn", "-l", "-xx", "--immediate-mode", "-c", "1", filter)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	listening := make(chan bool, 1)
	go func() {
		for sc := bufio.NewScanner(stderr); sc.Scan(); {
			if strings.Contains(sc.Text(), "listening on") {
				listening <- true
			}
		}
	}()
	select {
	case <-listening:
	case <-time.After(5 * time.Second):
		t.Fatal("tcpdump did not start within 5 s")
	}
	frame := make(chan []byte, 1)
	go func() {
		var b []byte
		for sc := bufio.NewScanner(stdout); sc.Scan(); {
			_, hexPart, ok := strings.Cut(sc.Text(), ":  ")
			if !ok || !strings.HasPrefix(strings.TrimSpace(sc.Text()), "0x") {
				continue
			}
			raw, _, _ := strings.Cut(hexPart, "  ")
			d, _ := hex.DecodeString(strings.ReplaceAll(raw, " ", ""))
			b = append(b, d...)
		}
		frame <- b
	}()
	return func() []byte {
		select {
		case b := <-frame:
			return b
		case <-time.After(10 * time.Second):
			t.Fatalf("no frame matching %q within 10 s", filter)
			return nil
		}
	}
}

// TestAnnouncementsReachLocalHosts: a RARP and a gratuitous ARP sent with
// SendPacket out of a port reach the host behind it as sent (its own
// network stack's namespace, tcpdump), with no flow on the bridge.
func TestAnnouncementsReachLocalHosts(t *testing.T) {
	l := startLab(t)
	h := l.ovs.AddStackHost(t, "br0", "p1", "02:0a:00:00:00:11", "192.0.2.11/24")
	port := l.ovs.OFPort(t, "p1")
	remote := [6]byte(mac("02:0b:00:00:00:42"))
	for _, tc := range []struct {
		name, filter string
		frame        []byte
	}{
		{"RARP", "rarp", RARP(remote)},
		{"gratuitous ARP", "arp", GratuitousARP(remote, netip.MustParseAddr("192.0.2.42"))},
	} {
		wait := captureFrame(t, h.NetNS, tc.filter)
		if err := l.s.SendPacket(context.Background(), port, tc.frame); err != nil {
			t.Fatal(err)
		}
		if got := wait(); !slices.Equal(got, tc.frame) {
			t.Errorf("%s: the host received\n%x\nwant\n%x", tc.name, got, tc.frame)
		}
	}
	if err := l.s.SendPacket(context.Background(), 0, RARP(remote)); err == nil {
		t.Error("SendPacket to port 0 succeeded")
	}
}

// awaitTrue polls ok until it holds, for 10 s at most.
func awaitTrue(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}
