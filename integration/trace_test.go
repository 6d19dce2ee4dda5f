package integration

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTraceNamesTheFlowsAPacketMeets runs `l2gwctl trace` on a site, as an
// operator would on the gateway node: a unicast to a bound remote MAC ends
// in the tunnel to the other site, through the binding's flow, and an ARP
// request for its IP is answered back out the ingress port, as is a
// neighbour solicitation for a bound IPv6 address.
func TestTraceNamesTheFlowsAPacketMeets(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "l2gwctl")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/l2gw/l2gw/cmd/l2gwctl").CombinedOutput(); err != nil {
		t.Fatalf("build l2gwctl: %v\n%s", err, out)
	}
	a, b, _, _ := twoSites(t, "l2tr-", "vxlan")
	bindHosts(t, a, b, "plane")
	ovs := a.site.OVS()
	trace := func(args ...string) []string {
		t.Helper()
		args = append([]string{"trace", "--network", "plane", "--from-port", "a1",
			"--ovs-target", filepath.Join(ovs.Dir, "ovs-vswitchd.ctl")}, args...)
		out, err := ovs.Exec(bin, args...)
		t.Logf("l2gwctl %s:\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Fatal(err)
		}
		var rows []string
		for _, l := range strings.Split(out, "\n") {
			rows = append(rows, strings.Join(strings.Fields(l), " "))
		}
		return rows
	}
	binding := "binding plane-b/" + macB1
	hasRow := func(rows []string, prefix, suffix string) bool {
		return slices.ContainsFunc(rows, func(r string) bool { return strings.HasPrefix(r, prefix) && strings.HasSuffix(r, suffix) })
	}

	rows := trace("--src-mac", macA1, "--dst-mac", macB1)
	tunnel := fmt.Sprintf("Verdict: output: tunnel %s key 5001 (port %d)", b.site.TunnelIP, a.site.OFPort(t, "l2gw-vxlan"))
	if !hasRow(rows, "l2_lookup 200 ", binding) || !hasRow(rows, tunnel, "") {
		t.Errorf("unicast to %s: want a l2_lookup step owned by %s and %q", macB1, binding, tunnel)
	}

	rows = trace("--src-mac", macA1, "--arp-tpa", ipB1, "--arp-spa", ipA1)
	if !hasRow(rows, "arp_responder 100 ", binding) || !slices.Contains(rows, "Verdict: output: the ingress port (IN_PORT)") {
		t.Errorf("ARP request for %s: want an arp_responder step owned by %s answered back out the ingress port", ipB1, binding)
	}

	a.must(t, "POST", "/v1/connections/plane-b/macs", object{"macs": []object{{"mac": "02:0b:00:00:00:99", "ips": []string{ip6Absent}}}}, 201)
	a.waitReconciled(t)
	rows = trace("--src-mac", macA1, "--nd-target", ip6Absent)
	if !hasRow(rows, "arp_responder 100 ", "binding plane-b/02:0b:00:00:00:99") || !hasRow(rows, "nd_advertise 100 ", "pipeline") ||
		!slices.Contains(rows, "Verdict: output: the ingress port (IN_PORT)") {
		t.Errorf("neighbour solicitation for %s: want an arp_responder step owned by its binding, nd_advertise, and the answer back out the ingress port", ip6Absent)
	}
}
