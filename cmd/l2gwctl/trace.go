package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/l2gw/l2gw/api"
	"github.com/l2gw/l2gw/flows"
)

// defaultTraceSrcMAC is the source MAC of a traced packet when --src-mac is
// not given: a locally administered address no host is expected to own.
const defaultTraceSrcMAC = "02:00:00:00:00:01"

// traceResource is the "trace" command: it runs OVS's ofproto/trace on the
// local bridge and names each flow the packet meets by its owner, read from
// GET /v1/flows. It must run on the gateway node; ovs-appctl finds
// ovs-vswitchd through OVS_RUNDIR (or --ovs-target), and env
// L2GW_OVS_APPCTL names another ovs-appctl binary.
func traceResource() resource {
	return resource{name: "trace", summary: "trace a packet through the local bridge with ovs-appctl " +
		"ofproto/trace (run it on the gateway node) and name the owner of each flow it meets", verbs: []verb{{
		synopsis: "--network N --from-port P (--dst-mac M | --arp-tpa IP | --nd-target IP6) [--src-mac S] [--vlan V] " +
			"[--arp-spa IP] [--nd-src IP6] [--bridge B] [--ovs-target CTL]",
		required: []string{"network", "from-port"},
		setup: func(fs *flag.FlagSet) func([]string) (request, error) {
			var p tracePacket
			network := fs.String("network", "", "the network `N` the packet enters (names the owners of its flows)")
			fs.StringVar(&p.port, "from-port", "", "the bridge port `P` (name or OpenFlow number) the packet arrives on")
			fs.StringVar(&p.dstMAC, "dst-mac", "", "destination `MAC`; with --arp-tpa the default is ff:ff:ff:ff:ff:ff, "+
				"with --nd-target the target's solicited-node multicast MAC")
			fs.StringVar(&p.srcMAC, "src-mac", defaultTraceSrcMAC, "source `MAC`")
			fs.Func("vlan", "the packet's 802.1Q `VLAN` ID (1-4094), for a tagged attachment", func(s string) error {
				v, err := strconv.ParseUint(s, 10, 16)
				if err != nil || v < 1 || v > 4094 {
					return fmt.Errorf("VLAN %q: want 1-4094", s)
				}
				p.vlan = uint16(v)
				return nil
			})
			fs.StringVar(&p.arpTPA, "arp-tpa", "", "make the packet an ARP request for IPv4 `IP`")
			fs.StringVar(&p.arpSPA, "arp-spa", "0.0.0.0", "the ARP request's sender IPv4 `IP`")
			fs.StringVar(&p.ndTarget, "nd-target", "", "make the packet an IPv6 neighbour solicitation for `IP6`, "+
				"sent to its solicited-node multicast address")
			fs.StringVar(&p.ndSrc, "nd-src", "fe80::1", "the neighbour solicitation's source IPv6 `IP6`")
			bridge := fs.String("bridge", "br-int", "the `BRIDGE` to trace on")
			target := fs.String("ovs-target", "", "ovs-vswitchd's control socket `CTL` (ovs-appctl -t; default: ovs-appctl's own)")
			return func([]string) (request, error) {
				spec, err := p.spec()
				if err != nil {
					return request{}, err
				}
				// trace prints its answer itself in either format (-o).
				format := fs.Lookup("o").Value.String()
				if err := fs.Set("o", "table"); err != nil {
					return request{}, err
				}
				t := tracer{appctl: appctlBinary(), target: *target, bridge: *bridge, spec: spec, format: format}
				return request{method: http.MethodGet, path: "/v1/flows?" + url.Values{"network": {*network}}.Encode(),
					show: t.show}, nil
			}
		},
	}}}
}

// appctlBinary is the ovs-appctl to run: env L2GW_OVS_APPCTL, or ovs-appctl.
func appctlBinary() string {
	if b := os.Getenv("L2GW_OVS_APPCTL"); b != "" {
		return b
	}
	return "ovs-appctl"
}

// tracePacket is the packet the command line describes.
type tracePacket struct {
	port, srcMAC, dstMAC string
	vlan                 uint16
	arpTPA, arpSPA       string
	ndTarget, ndSrc      string
}

// spec validates p and writes it as an ofproto/trace flow.
func (p tracePacket) spec() (string, error) {
	if p.port == "" || strings.ContainsAny(p.port, ",=() \t") {
		return "", fmt.Errorf("--from-port %q: want a port name or number", p.port)
	}
	var target netip.Addr
	switch {
	case p.arpTPA != "" && p.ndTarget != "":
		return "", errors.New("trace takes --arp-tpa or --nd-target, not both")
	case p.ndTarget != "":
		for _, a := range []struct{ flag, ip string }{{"nd-target", p.ndTarget}, {"nd-src", p.ndSrc}} {
			if ip, err := netip.ParseAddr(a.ip); err != nil || !ip.Is6() || ip.Is4In6() || ip.Zone() != "" {
				return "", fmt.Errorf("--%s %q: want an IPv6 address", a.flag, a.ip)
			}
		}
		target = netip.MustParseAddr(p.ndTarget)
	}
	if p.dstMAC == "" {
		switch {
		case p.arpTPA != "":
			p.dstMAC = "ff:ff:ff:ff:ff:ff"
		case p.ndTarget != "":
			t := target.As16()
			p.dstMAC = fmt.Sprintf("33:33:ff:%02x:%02x:%02x", t[13], t[14], t[15])
		default:
			return "", errors.New("trace needs --dst-mac, --arp-tpa or --nd-target")
		}
	}
	for _, m := range []struct{ flag, mac string }{{"src-mac", p.srcMAC}, {"dst-mac", p.dstMAC}} {
		if hw, err := net.ParseMAC(m.mac); err != nil || len(hw) != 6 {
			return "", fmt.Errorf("--%s %q: want a MAC like 02:0b:00:00:00:01", m.flag, m.mac)
		}
	}
	var parts []string
	switch {
	case p.arpTPA != "":
		parts = append(parts, "arp")
	case p.ndTarget != "":
		parts = append(parts, "icmp6")
	}
	parts = append(parts, "in_port="+p.port)
	if p.vlan != 0 {
		parts = append(parts, fmt.Sprintf("dl_vlan=%d", p.vlan))
	}
	parts = append(parts, "dl_src="+p.srcMAC, "dl_dst="+p.dstMAC)
	if p.arpTPA != "" {
		for _, a := range []struct{ flag, ip string }{{"arp-tpa", p.arpTPA}, {"arp-spa", p.arpSPA}} {
			if ip, err := netip.ParseAddr(a.ip); err != nil || !ip.Is4() {
				return "", fmt.Errorf("--%s %q: want an IPv4 address", a.flag, a.ip)
			}
		}
		parts = append(parts, "arp_op=1", "arp_spa="+p.arpSPA, "arp_tpa="+p.arpTPA)
	}
	if p.ndTarget != "" {
		t := target.As16()
		solicited := netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]})
		parts = append(parts, "ipv6_src="+p.ndSrc, "ipv6_dst="+solicited.String(), "nw_ttl=255",
			"icmpv6_type=135", "icmpv6_code=0", "nd_target="+target.String(), "nd_sll="+p.srcMAC)
	}
	return strings.Join(parts, ","), nil
}

// tracer runs one ofproto/trace and prints its summary.
type tracer struct {
	appctl, target, bridge, spec string
	format                       string // table or json
}

// show runs the trace and prints it with the owners body (a FlowReport) names.
func (t tracer) show(w io.Writer, body []byte) error {
	var rep api.FlowReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return fmt.Errorf("decode flows: %w", err)
	}
	out, err := t.run()
	if err != nil {
		return err
	}
	tr := parseTrace(out)
	tr.Bridge, tr.Flow = t.bridge, t.spec
	tr.nameOwners(rep)
	if t.format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(tr)
	}
	return tr.write(w)
}

// run runs ovs-appctl ofproto/trace and returns its output.
func (t tracer) run() (string, error) {
	var args []string
	if t.target != "" {
		args = append(args, "-t", t.target)
	}
	args = append(args, "ofproto/trace", t.bridge, t.spec)
	cmd := exec.Command(t.appctl, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", t.appctl, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// traceReport is what a trace shows: the flows met on the traced bridge,
// in order, and where the packet ends.
type traceReport struct {
	Bridge          string      `json:"bridge"`
	Flow            string      `json:"flow"` // the traced packet, as given to ofproto/trace
	Steps           []traceStep `json:"steps"`
	DatapathActions string      `json:"datapath_actions"`
	Outputs         []traceOut  `json:"outputs"` // empty: dropped
	Verdict         string      `json:"verdict"`
	// missNote is OVS's word on a lookup that missed on the way out
	// (e.g. "neighbor cache miss for IP ..."), which can drop the packet.
	missNote string
}

// traceStep is one table lookup.
type traceStep struct {
	Depth    int    `json:"depth"` // 0, or how many resubmits deep
	Table    string `json:"table"`
	Match    string `json:"match,omitempty"`
	Priority int    `json:"priority"` // -1 when no flow matched
	Cookie   string `json:"cookie,omitempty"`
	Owner    string `json:"owner"` // "kind name", or "no match"
}

// traceOut is one output the OpenFlow actions chose.
type traceOut struct {
	Port      string `json:"port"` // OpenFlow port number, or IN_PORT
	TunnelDst string `json:"tunnel_dst,omitempty"`
	TunnelKey uint64 `json:"tunnel_key,omitempty"`
}

var (
	// stepLine is a table lookup: indent, table number or name, the rest.
	stepLine = regexp.MustCompile(`^(\s*)(\d+|[A-Za-z_][\w-]*)\. (.*)$`)
	// stepTail is the end of a matched flow: priority and cookie.
	stepTail = regexp.MustCompile(`(?:^|, )priority (\d+)(?:, cookie (0x[0-9a-f]+))?$`)
	// setTunnel is an action setting a tunnel field.
	setTunnel = regexp.MustCompile(`^set_field:(\S+)->(tun_dst|tun_ipv6_dst|tun_id)$`)
)

// parseTrace reads ofproto/trace output: the steps of the first bridge
// (later bridges are the underlay the tunnel leaves by) and the outputs of
// its actions, then the datapath actions.
func parseTrace(out string) traceReport {
	var tr traceReport
	bridges, base := 0, -1
	var tunDst, tunDst6, tunKey string
	nested := -1 // indent of the underlay bridge a tunnel output's trace enters, -1 outside it
	for _, line := range strings.Split(out, "\n") {
		trimmed := strings.TrimSpace(line)
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if nested >= 0 && (indent > nested || trimmed == "" || indent == nested && strings.HasPrefix(trimmed, "---")) {
			continue
		}
		nested = -1
		switch {
		case strings.HasPrefix(line, "bridge(\""):
			bridges++
			continue
		case strings.HasPrefix(trimmed, "bridge(\""):
			// A tunnel output followed by more actions: OVS traces the
			// underlay bridge in place, indented. Its steps are not ours.
			nested = indent
			continue
		case strings.HasPrefix(line, "Datapath actions: "):
			tr.DatapathActions = strings.TrimPrefix(line, "Datapath actions: ")
			continue
		case bridges != 1:
			continue
		}
		if m := stepLine.FindStringSubmatch(line); m != nil {
			// Table numbers are right-aligned in two columns, and
			// a resubmit's lookup is indented four more.
			end := len(m[1]) + len(m[2])
			if base < 0 {
				base = end
			}
			tr.Steps = append(tr.Steps, newStep(m[2], m[3], (end-base)/4))
			continue
		}
		switch m := setTunnel.FindStringSubmatch(trimmed); {
		case m != nil && m[2] == "tun_dst":
			tunDst = m[1]
		case m != nil && m[2] == "tun_ipv6_dst":
			tunDst6 = m[1]
		case m != nil:
			tunKey = m[1]
		case strings.HasPrefix(trimmed, "output:"):
			tr.Outputs = append(tr.Outputs, traceOut{Port: strings.TrimPrefix(trimmed, "output:")})
		case trimmed == "IN_PORT":
			tr.Outputs = append(tr.Outputs, traceOut{Port: "IN_PORT"})
		case trimmed == ">> skipping output to input port" && len(tr.Outputs) > 0:
			tr.Outputs = tr.Outputs[:len(tr.Outputs)-1]
		case strings.HasPrefix(trimmed, "-> ") && strings.Contains(trimmed, " miss "):
			tr.missNote = strings.TrimPrefix(trimmed, "-> ")
		case trimmed == "-> output to native tunnel" && len(tr.Outputs) > 0:
			o := &tr.Outputs[len(tr.Outputs)-1]
			o.TunnelDst = tunnelDst(tunDst, tunDst6)
			o.TunnelKey, _ = strconv.ParseUint(strings.TrimPrefix(tunKey, "0x"), 16, 64)
		}
	}
	tr.Verdict = verdict(tr)
	return tr
}

// tunnelDst is where OVS sends a tunnel packet whose last tun_dst and
// tun_ipv6_dst settings were dst4 and dst6: to tun_dst unless it is unset
// or 0.0.0.0 (an IPv6 gateway's flows clear it), else to tun_ipv6_dst.
func tunnelDst(dst4, dst6 string) string {
	if dst4 != "" && dst4 != "0.0.0.0" {
		return dst4
	}
	return dst6
}

// newStep reads the rest of a step line: "MATCH, priority N, cookie C" or
// "No match.".
func newStep(table, rest string, depth int) traceStep {
	s := traceStep{Depth: depth, Table: table}
	if id, err := strconv.ParseUint(table, 10, 8); err == nil {
		s.Table = flows.TableName(uint8(id))
	}
	m := stepTail.FindStringSubmatchIndex(rest)
	if m == nil {
		s.Owner = strings.TrimSuffix(strings.ToLower(rest), ".")
		s.Priority = -1
		return s
	}
	s.Match = rest[:m[0]]
	s.Priority, _ = strconv.Atoi(rest[m[2]:m[3]])
	if m[4] >= 0 {
		s.Cookie = rest[m[4]:m[5]]
	}
	return s
}

// nameOwners names each step's owner from its cookie: the report's owner of
// that very cookie, or of its decoded owner ID, or the decoded kind.
func (tr *traceReport) nameOwners(rep api.FlowReport) {
	byCookie := map[uint64]string{}
	byOwner := map[flows.Owner]string{}
	for _, o := range rep.Owners {
		name := o.Kind + " " + o.Name
		if o.Kind == o.Name {
			name = o.Kind
		}
		for _, f := range o.Flows {
			byCookie[uint64(f.Cookie)] = name
			_, owner, _ := flows.DecodeCookie(uint64(f.Cookie))
			byOwner[owner] = name
		}
	}
	for i := range tr.Steps {
		s := &tr.Steps[i]
		if s.Cookie == "" {
			if s.Owner == "" {
				s.Owner = "-"
			}
			continue
		}
		c, _ := strconv.ParseUint(strings.TrimPrefix(s.Cookie, "0x"), 16, 64)
		tag, owner, _ := flows.DecodeCookie(c)
		switch {
		case byCookie[c] != "":
			s.Owner = byCookie[c]
		case tag == flows.TagLearned:
			s.Owner = "learned"
		case tag != flows.TagController:
			s.Owner = "not l2gwd's"
		case owner.Kind == flows.KindPipeline || owner.Kind == flows.KindTunnel:
			s.Owner = owner.Kind.String() // shared by all networks: not in a network's report
		case byOwner[owner] != "":
			s.Owner = byOwner[owner]
		default:
			s.Owner = owner.String()
		}
	}
}

// verdict says in one line where the packet ends.
func verdict(tr traceReport) string {
	if len(tr.Outputs) == 0 {
		return "dropped"
	}
	var outs []string
	for _, o := range tr.Outputs {
		switch {
		case o.TunnelDst != "":
			outs = append(outs, fmt.Sprintf("tunnel %s key %d (port %s)", o.TunnelDst, o.TunnelKey, o.Port))
		case o.Port == "IN_PORT":
			outs = append(outs, "the ingress port (IN_PORT)")
		default:
			outs = append(outs, "port "+o.Port)
		}
	}
	v := "output: " + strings.Join(outs, ", ")
	if tr.DatapathActions == "drop" {
		v += " (but the datapath drops this packet"
		if tr.missNote != "" {
			v += ": " + tr.missNote
		}
		v += ")"
	}
	return v
}

// write prints the report as a table and two closing lines.
func (tr traceReport) write(w io.Writer) error {
	fmt.Fprintf(w, "trace on %s: %s\n\n", tr.Bridge, tr.Flow)
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tPRIORITY\tCOOKIE\tOWNER")
	for _, s := range tr.Steps {
		prio := "-"
		if s.Priority >= 0 {
			prio = strconv.Itoa(s.Priority)
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\n", strings.Repeat("  ", s.Depth), s.Table, prio, orDash(s.Cookie), s.Owner)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nDatapath actions: %s\nVerdict: %s\n", tr.DatapathActions, tr.Verdict)
	return err
}
