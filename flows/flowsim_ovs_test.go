package flows_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/flows/flowsim"
	"github.com/l2gw/l2gw/flows/internal/simcases"
	"github.com/l2gw/l2gw/internal/ovstest"
)

// TestSimulatorAgreesWithOVS installs simcases' site on a private OVS
// bridge, with the ports and flow-based tunnel ports l2gwd creates and an
// underlay that reaches every gateway, and runs every packet of every case
// (those before it included, in order, learning as it goes) through OVS's
// ofproto/trace and through flowsim: OVS's datapath actions must make the
// same copies of the packet (port, VLAN, tunnel type, remote and key, the
// frame as rewritten), the packet must meet the same flows (table,
// priority, cookie), and OVS must have learned the same MACs under the same
// cookies. The cases cover every feature of the pipeline, so flowsim cannot
// drift from OVS.
func TestSimulatorAgreesWithOVS(t *testing.T) {
	set, err := flows.Compile(simcases.Input())
	if err != nil {
		t.Fatal(err)
	}
	ports := []labPort{{"p1", simcases.Port1, "internal"}, {"p2", simcases.Port2, "internal"}, {"p3", simcases.Port3, "internal"},
		{"vx", simcases.VXLAN, "vxlan"}, {"gr", simcases.GRE, "gre"}, {"gn", simcases.Geneve, "geneve"}}
	crossCheck(t, set, false, simcases.Config(), ports, simcases.Cases(), flows.LearnedTagCookie, flows.ControllerCookieMask)
}

// TestSimulatorAgreesWithOVSWhenSnooping is TestSimulatorAgreesWithOVS
// with host snooping on (the session installs its meter): OVS makes the
// same copies of every packet, and the same copies to the controller,
// each through the meter.
func TestSimulatorAgreesWithOVSWhenSnooping(t *testing.T) {
	in := simcases.Input()
	in.SnoopHosts = true
	set, err := flows.Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	ports := []labPort{{"p1", simcases.Port1, "internal"}, {"p2", simcases.Port2, "internal"}, {"p3", simcases.Port3, "internal"},
		{"vx", simcases.VXLAN, "vxlan"}, {"gr", simcases.GRE, "gre"}, {"gn", simcases.Geneve, "geneve"}}
	crossCheck(t, set, true, simcases.Config(), ports, simcases.Cases(), flows.LearnedTagCookie, flows.ControllerCookieMask)
}

// TestSimulatorSemanticsAreOVSs runs simcases' probes of the OVS behaviours
// flowsim models (a goto_table inside a resubmit, output to the ingress
// port, the tunnel destination, when a learned flow is seen) on OVS and on
// flowsim, as TestSimulatorAgreesWithOVS does.
func TestSimulatorSemanticsAreOVSs(t *testing.T) {
	ports := []labPort{{"p1", 1, "internal"}, {"p2", 2, "internal"}, {"p3", 3, "internal"}, {"p4", 4, "internal"},
		{"vx", simcases.VXLAN, "vxlan"}}
	crossCheck(t, simcases.Probes(), false, simcases.ProbeConfig(), ports, simcases.ProbeCases(), simcases.ProbeLearnCookie, ^uint64(0))
}

// crossCheck installs set on a bridge with ports (its session snooping
// hosts when snoop), and fails t unless OVS and flowsim (with cfg) agree on
// every packet of cases, run in order (their outputs and their copies to
// the controller), and on the flows learned, those whose cookie is learned
// under learnedMask.
func crossCheck(t *testing.T, set flows.FlowSet, snoop bool, cfg flowsim.Config, ports []labPort, cases []simcases.Case, learned, learnedMask uint64) {
	t.Helper()
	sw, err := flowsim.New(set, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := startSimLab(t, set, snoop, ports)
	packets, copied := 0, 0
	defer func() { t.Logf("%d packets agree, %d of their copies to the controller", packets, copied) }()
	for _, c := range cases {
		for _, p := range append(slices.Clone(c.Before), c.Packet) {
			want, err := sw.Run(p)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			trace := b.ovs.Appctl(t, "ovs-vswitchd", "ofproto/trace", "br0", traceFlow(p), "-generate")
			steps, actions := parseTrace(t, trace)
			got, copies, err := b.outputs(actions, p.Frame)
			if err != nil {
				t.Fatalf("%s: %v: datapath actions %s: %v", c.Name, p, actions, err)
			}
			if !slices.Equal(got, want.Outputs) {
				t.Errorf("%s: %v:\nOVS:      %v\nflowsim:  %v\n%s", c.Name, p, got, want.Outputs, trace)
			}
			packets, copied = packets+1, copied+copies
			if copies != len(want.Controller) {
				t.Errorf("%s: %v: OVS sends the controller %d copies, flowsim %d\n%s", c.Name, p, copies, len(want.Controller), trace)
			}
			if sim := simSteps(want.Steps); !slices.Equal(steps, sim) {
				t.Errorf("%s: %v meets on OVS %v, in flowsim %v", c.Name, p, steps, sim)
			}
		}
		if got, want := b.learned(t, learned, learnedMask), simLearned(t, sw); !slices.Equal(got, want) {
			t.Errorf("after %s, OVS has learned %v, flowsim %v", c.Name, got, want)
		}
	}
}

// labPort is a port of the lab's bridge: an internal port or a flow-based
// tunnel port of type typ.
type labPort struct {
	name string
	port uint32
	typ  string
}

// simLab is a private OVS whose bridge br0 has the site's flows.
type simLab struct {
	ovs     *ovstest.OVS
	ofports map[int]uint32 // br0's datapath port numbers → ofports
}

// startSimLab starts OVS in a namespace of its own with br0 (ports, its
// controller a Session that installs set, snooping hosts when snoop) and
// br-phy, the underlay: the site's tunnel endpoints on its internal port,
// every gateway's MAC known, a port for the frames.
func startSimLab(t *testing.T, set flows.FlowSet, snoop bool, ports []labPort) *simLab {
	t.Helper()
	ns := ovstest.NetNS(t, "l2gw-flowsim")
	o := ovstest.Start(t, ns)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s, err := flows.Listen(addr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	target, _ := o.Controller(t, addr)
	o.AddControlledBridge(t, "br0", target)
	var args []string
	for _, p := range ports {
		args = append(args, "--", "add-port", "br0", p.name, "--", "set", "interface", p.name, "type="+p.typ, fmt.Sprintf("ofport_request=%d", p.port))
		if p.typ != "internal" {
			args = append(args, "options:remote_ip=flow", "options:key=flow")
		}
	}
	o.Vsctl(t, args...)
	o.Vsctl(t, "add-br", "br-phy", "--", "set", "bridge", "br-phy", "datapath_type=netdev", "--",
		"add-port", "br-phy", "wan0", "--", "set", "interface", "wan0", "type=internal")
	for _, cmd := range [][]string{
		{"ip", "link", "set", "br-phy", "up"},
		{"ip", "addr", "add", simcases.LocalIPv4.String() + "/24", "dev", "br-phy"},
		{"ip", "addr", "add", simcases.LocalIPv6.String() + "/32", "dev", "br-phy", "nodad"},
	} {
		if _, err := o.Exec(cmd[0], cmd[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "OVS to learn the underlay routes", func() bool {
		routes := o.Appctl(t, "ovs-vswitchd", "ovs/route/show")
		return strings.Contains(routes, "198.51.100.0/24") && strings.Contains(routes, "2001:db8::/32")
	})
	for i, gw := range simcases.Gateways {
		o.Appctl(t, "ovs-vswitchd", "tnl/neigh/set", "br-phy", gw.String(), fmt.Sprintf("02:99:00:00:00:%02x", i+1))
	}
	if snoop {
		s.SnoopHosts()
	}
	waitFor(t, "the session", s.Connected)
	var mods []flows.Mod
	for _, f := range set.Sorted() {
		mods = append(mods, f.AddMod())
	}
	if err := s.Apply(context.Background(), flows.ModList(mods)); err != nil {
		t.Fatal(err)
	}
	return &simLab{ovs: o, ofports: datapathPorts(t, o.Appctl(t, "ovs-vswitchd", "dpif/show"), len(ports))}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
	}
}

// datapathPorts reads br0's ports from dpif/show ("    NAME OFPORT/DPPORT: ...").
func datapathPorts(t *testing.T, show string, n int) map[int]uint32 {
	t.Helper()
	ports := map[int]uint32{}
	bridge := ""
	for _, line := range strings.Split(show, "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) == 1 && strings.HasSuffix(fields[0], ":"):
			bridge = strings.TrimSuffix(fields[0], ":")
		case bridge == "br0" && len(fields) >= 2:
			var of, dp int
			if _, err := fmt.Sscanf(strings.TrimSuffix(fields[1], ":"), "%d/%d", &of, &dp); err == nil {
				ports[dp] = uint32(of)
			}
		}
	}
	if len(ports) != n+1 { // and br0's own
		t.Fatalf("br0's datapath ports %v from:\n%s", ports, show)
	}
	return ports
}

// learnedEntry is a learned flow as both sides are compared on: its
// cookie and the MAC it matches.
type learnedEntry struct {
	cookie uint64
	mac    string
}

// learned returns the flows of br0 whose cookie is cookie under mask (the
// flows learn actions added), sorted.
func (b *simLab) learned(t *testing.T, cookie, mask uint64) []learnedEntry {
	t.Helper()
	dump := b.ovs.Ofctl(t, "dump-flows", "--no-stats", "br0", fmt.Sprintf("cookie=%#x/%#x", cookie, mask))
	re := regexp.MustCompile(`cookie=(0x[0-9a-f]+).*dl_dst=([0-9a-f:]{17})`)
	var out []learnedEntry
	for _, line := range strings.Split(dump, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			c, _ := strconv.ParseUint(strings.TrimPrefix(m[1], "0x"), 16, 64)
			out = append(out, learnedEntry{c, m[2]})
		} else if strings.Contains(line, "cookie=") {
			t.Fatalf("learned flow %q", line)
		}
	}
	slices.SortFunc(out, compareLearned)
	return out
}

func simLearned(t *testing.T, sw *flowsim.Switch) []learnedEntry {
	t.Helper()
	var out []learnedEntry
	for _, l := range sw.Learned() {
		mac, ok := l.Value("eth_dst")
		if !ok || len(mac) != 6 {
			t.Fatalf("learned flow %v", l)
		}
		out = append(out, learnedEntry{l.Cookie, flowsim.MAC(mac).String()})
	}
	slices.SortFunc(out, compareLearned)
	return out
}

func (e learnedEntry) String() string { return fmt.Sprintf("%#x %s", e.cookie, e.mac) }

func compareLearned(a, b learnedEntry) int {
	if a.cookie != b.cookie {
		return map[bool]int{true: -1, false: 1}[a.cookie < b.cookie]
	}
	return strings.Compare(a.mac, b.mac)
}
