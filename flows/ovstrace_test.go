package flows_test

// Reading OVS's answers for TestSimulatorAgreesWithOVS: the packet as an
// ofproto/trace flow, the trace's flows, and the copies its datapath
// actions make, described as flowsim describes them.

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/flows/flowsim"
)

// traceFlow writes p as an ofproto/trace flow.
func traceFlow(p flowsim.Packet) string {
	parts := []string{fmt.Sprintf("in_port=%d", p.InPort)}
	if tun := p.Tunnel; tun.Src.IsValid() {
		prefix := "tun_"
		if tun.Src.Is6() {
			prefix = "tun_ipv6_"
		}
		parts = append(parts, prefix+"src="+tun.Src.String(), prefix+"dst="+tun.Dst.String(), fmt.Sprintf("tun_id=%d", tun.ID))
	}
	if p.VLAN != 0 {
		parts = append(parts, fmt.Sprintf("dl_vlan=%d", p.VLAN))
	}
	parts = append(parts, "dl_src="+p.EthSrc.String(), "dl_dst="+p.EthDst.String())
	switch f := p.Frame; {
	case f.EthType == flowsim.EthTypeARP:
		a := f.ARP
		parts = append([]string{"arp"}, append(parts, fmt.Sprintf("arp_op=%d", a.Op), "arp_spa="+a.SPA.String(),
			"arp_tpa="+a.TPA.String(), "arp_sha="+a.SHA.String(), "arp_tha="+a.THA.String())...)
	case f.EthType == flowsim.EthTypeIPv6 && f.IPv6.Proto == flowsim.ProtoICMPv6:
		v := f.IPv6
		ll := "nd_sll=" + v.NDSLL.String()
		if v.ICMPType == flowsim.NeighborAdvert {
			ll = "nd_tll=" + v.NDTLL.String()
		}
		parts = append([]string{"icmp6"}, append(parts, "ipv6_src="+v.Src.String(), "ipv6_dst="+v.Dst.String(), "nw_ttl=255",
			fmt.Sprintf("icmpv6_type=%d", v.ICMPType), fmt.Sprintf("icmpv6_code=%d", v.ICMPCode),
			"nd_target="+v.NDTarget.String(), ll)...)
	default:
		parts = append(parts, fmt.Sprintf("dl_type=%#04x", f.EthType))
	}
	return strings.Join(parts, ",")
}

// traceStep is a flow a trace met: table, priority, cookie.
type traceStep struct {
	table, priority int
	cookie          uint64
}

func (s traceStep) String() string { return fmt.Sprintf("%d/%d/%#x", s.table, s.priority, s.cookie) }

func simSteps(steps []flowsim.Step) []traceStep {
	var out []traceStep
	for _, s := range steps {
		out = append(out, traceStep{int(s.Table), s.Priority, s.Cookie})
	}
	return out
}

var (
	traceTable  = regexp.MustCompile(`^\s*(\d+)\. (.*)$`)
	traceFlowOf = regexp.MustCompile(`priority (\d+)(?:, cookie (0x[0-9a-f]+))?$`)
)

// parseTrace reads an ofproto/trace: the flows met on br0 (not those of
// the underlay bridge a tunnel output goes through, traced nested) and the
// datapath actions.
func parseTrace(t *testing.T, trace string) (steps []traceStep, actions string) {
	t.Helper()
	nested := -1 // indent of the underlay's bridge line while in its trace
	for _, line := range strings.Split(trace, "\n") {
		trimmed := strings.TrimSpace(line)
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if nested >= 0 && (trimmed == "" || indent > nested || strings.HasPrefix(trimmed, "---")) {
			continue
		}
		nested = -1
		switch m := traceTable.FindStringSubmatch(line); {
		case strings.HasPrefix(trimmed, `bridge("`) && trimmed != `bridge("br0")`:
			nested = indent
		case strings.HasPrefix(line, "Datapath actions: "):
			actions = strings.TrimPrefix(line, "Datapath actions: ")
		case m != nil:
			table, _ := strconv.Atoi(m[1])
			step := traceStep{table: table, priority: -1}
			if f := traceFlowOf.FindStringSubmatch(m[2]); f != nil {
				step.priority, _ = strconv.Atoi(f[1])
				step.cookie, _ = strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 64)
			} else if m[2] != "No match." {
				t.Fatalf("trace step %q", line)
			}
			steps = append(steps, step)
		}
	}
	return steps, actions
}

// outputs replays datapath actions on frame f: the copies they send out of
// br0's ports, as flowsim describes them, and how many copies they send
// the controller through a meter (sample(100%,actions(meter(M),
// userspace(controller)))). An output to a port that is not br0's is the
// underlay's, after a tunnel push.
func (b *simLab) outputs(actions string, f flowsim.Frame) ([]flowsim.Output, int, error) {
	if actions == "drop" {
		return nil, 0, nil
	}
	var outs []flowsim.Output
	copies := 0
	for _, a := range splitActions(actions) {
		name, args, _ := strings.Cut(strings.TrimSuffix(a, ")"), "(")
		switch name {
		case "sample":
			if !regexp.MustCompile(`^sample=100\.0%,actions\(meter\(\d+\),userspace\(.*controller\(`).MatchString(args) {
				return nil, 0, fmt.Errorf("sample(%s)", args)
			}
			copies++
		case "userspace":
			return nil, 0, fmt.Errorf("userspace(%s): a copy to the controller without a meter", args)
		case "push_vlan":
			vid, err := strconv.Atoi(keyValues(args)["vid"])
			if err != nil || f.VLAN != 0 {
				return nil, 0, fmt.Errorf("push_vlan(%s) onto VLAN %d", args, f.VLAN)
			}
			f.VLAN = uint16(vid)
		case "pop_vlan":
			f.VLAN = 0
		case "set":
			if err := setFields(&f, args); err != nil {
				return nil, 0, err
			}
		case "clone":
			// clone(tnl_push(...),UNDERLAY OUTPUTS...): a tunnel output.
			inner := splitActions(args)
			if len(inner) == 0 || !strings.HasPrefix(inner[0], "tnl_push(") {
				return nil, 0, fmt.Errorf("clone(%s)", args)
			}
			o, err := b.tunnelOutput(inner[0], f)
			if err != nil {
				return nil, 0, err
			}
			outs = append(outs, o)
		case "tnl_push":
			o, err := b.tunnelOutput(a, f)
			if err != nil {
				return nil, 0, err
			}
			outs = append(outs, o)
		default:
			dp, err := strconv.Atoi(a)
			if err != nil {
				return nil, 0, fmt.Errorf("datapath action %q", a)
			}
			if port, ok := b.ofports[dp]; ok {
				outs = append(outs, flowsim.Output{Port: port, Frame: f})
			}
		}
	}
	return outs, copies, nil
}

// tunnelOutput reads tnl_push(tnl_port(DP),header(...,ipv4(...,dst=IP,...)
// or ipv6(...),vxlan(...,vni=K) or gre(...,key=K) or geneve(vni=K)),out_port(N)).
func (b *simLab) tunnelOutput(push string, f flowsim.Frame) (flowsim.Output, error) {
	m := regexp.MustCompile(`^tnl_push\(tnl_port\((\d+)\),header\(.*ipv[46]\(([^)]*)\),.*(vxlan|gre|geneve)\((.*)\)\),out_port\(\d+\)\)$`).FindStringSubmatch(push)
	if m == nil {
		return flowsim.Output{}, fmt.Errorf("tunnel push %s", push)
	}
	dp, _ := strconv.Atoi(m[1])
	port, ok := b.ofports[dp]
	remote, err := netip.ParseAddr(keyValues(m[2])["dst"])
	if !ok || err != nil {
		return flowsim.Output{}, fmt.Errorf("tunnel push to datapath port %s, remote %q", m[1], keyValues(m[2])["dst"])
	}
	key := regexp.MustCompile(`(?:vni|key)=0x([0-9a-f]+)`).FindStringSubmatch(m[4])
	if key == nil {
		return flowsim.Output{}, fmt.Errorf("tunnel header %s(%s) without a key", m[3], m[4])
	}
	k, _ := strconv.ParseUint(key[1], 16, 64)
	return flowsim.Output{Port: port, Tunnel: flowsim.Tunnel{Type: m[3], Remote: remote, Key: k}, Frame: f}, nil
}

// setFields applies a datapath set(KEY(FIELD=VALUE,...)) to f. Every field
// it may name is read: an unknown one fails.
func setFields(f *flowsim.Frame, args string) error {
	key, list, _ := strings.Cut(strings.TrimSuffix(args, ")"), "(")
	for k, v := range keyValues(list) {
		if strings.Contains(v, "/") {
			return fmt.Errorf("masked set of %s.%s=%s", key, k, v)
		}
		p := &f.IPv6
		var err error
		switch key + "." + k {
		case "eth.src":
			f.EthSrc, err = parseMAC(v)
		case "eth.dst":
			f.EthDst, err = parseMAC(v)
		case "arp.sip":
			f.ARP.SPA, err = parseIP4(v)
		case "arp.tip":
			f.ARP.TPA, err = parseIP4(v)
		case "arp.op":
			_, err = fmt.Sscan(v, &f.ARP.Op)
		case "arp.sha":
			f.ARP.SHA, err = parseMAC(v)
		case "arp.tha":
			f.ARP.THA, err = parseMAC(v)
		case "ipv6.src":
			p.Src, err = parseIP6(v)
		case "ipv6.dst":
			p.Dst, err = parseIP6(v)
		case "icmpv6.type":
			_, err = fmt.Sscan(v, &p.ICMPType)
		case "icmpv6.code":
			_, err = fmt.Sscan(v, &p.ICMPCode)
		case "nd.target":
			p.NDTarget, err = parseIP6(v)
		case "nd.sll":
			p.NDSLL, err = parseMAC(v)
		case "nd.tll":
			p.NDTLL, err = parseMAC(v)
		case "nd_ext.nd_reserved":
			_, err = fmt.Sscanf(v, "0x%x", &p.NDReserved)
		case "nd_ext.nd_options_type":
			_, err = fmt.Sscan(v, &p.NDOptionsType)
		default:
			return fmt.Errorf("set of %s.%s", key, k)
		}
		if err != nil {
			return fmt.Errorf("set of %s.%s=%s: %w", key, k, v, err)
		}
	}
	return nil
}

func parseMAC(s string) (flowsim.MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return flowsim.MAC{}, fmt.Errorf("%q is not a MAC", s)
	}
	return flowsim.MAC(hw), nil
}

func parseIP4(s string) (flowsim.IP4, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return flowsim.IP4{}, fmt.Errorf("%q is not an IPv4 address", s)
	}
	return a.As4(), nil
}

func parseIP6(s string) (flowsim.IP6, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return flowsim.IP6{}, fmt.Errorf("%q is not an IPv6 address", s)
	}
	return a.As16(), nil
}

// splitActions splits a datapath action list at its top-level commas.
func splitActions(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// keyValues reads "k=v,k=v" at its top level.
func keyValues(s string) map[string]string {
	kv := map[string]string{}
	for _, part := range splitActions(s) {
		if k, v, ok := strings.Cut(part, "="); ok {
			kv[k] = v
		}
	}
	return kv
}
