package integration

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/l2gw/l2gw/integration/lab"
)

// Tunnel IPs of the IPv6 WAN (RFC 3849 documentation range).
const (
	tunA6 = "2001:db8::1"
	tunB6 = "2001:db8::2"
)

// captureWAN runs tcpdump on site's WAN link for d while during runs, and
// returns what it printed (numeric, one line per packet plus the inner
// packet's line for tunnels tcpdump decodes).
func captureWAN(t *testing.T, s *lab.Site, d time.Duration, filter string, during func()) string {
	t.Helper()
	var out string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		out, _ = s.Exec(t, append([]string{"timeout", fmt.Sprint(d.Seconds()), "tcpdump", "-l", "-nn", "-i", lab.WANPort}, strings.Fields(filter)...)...)
	}()
	time.Sleep(time.Second) // tcpdump is listening
	during()
	wg.Wait()
	return out
}

// TestIPv6Underlay: two sites whose WAN is IPv6 only. Hosts reach each
// other over VXLAN, GRE and Geneve in IPv6 outer headers, first by
// flooding and learning (the learned entry sends to tun_ipv6_dst, and the
// API names the gateway it was learned from), then through static
// bindings.
func TestIPv6Underlay(t *testing.T) {
	for _, tc := range []struct{ networkType, prefix, decoded string }{
		{"vxlan", "l2v6vx-", "VXLAN"}, {"gre", "l2v6gr-", "GREv0"}, {"geneve", "l2v6ge-", "Geneve"},
	} {
		t.Run(tc.networkType, func(t *testing.T) {
			l := newLab(t, tc.prefix)
			a := startGateway(t, l, "a", tunA6)
			b := startGateway(t, l, "b", tunB6)
			ha := a.site.AddHost(t, "a1", macA1, ipA1, 0, "")
			hb := b.site.AddHost(t, "b1", macB1, ipB1, 0, "")
			joinNetwork(t, a, b, "plane", attach("a1"), attach("b1"), 5001, tc.networkType)

			// Unbound: flooding, then learning across the IPv6 WAN; the
			// replies after the first go through the learned entry.
			pingOK(t, ha, ipB1, 3)
			entry := a.site.OVS().Ofctl(t, "dump-flows", lab.IntBridge, "cookie=0xb000000000000000/0xf000000000000000,dl_dst="+macB1)
			if !strings.Contains(entry, "->NXM_NX_TUN_IPV6_DST[") || strings.Contains(entry, "TUN_IPV4_DST") ||
				strings.Contains(entry, "n_packets=0,") {
				t.Fatalf("site a did not learn %s toward %s, or never used it:\n%s", macB1, tunB6, entry)
			}
			_, body := a.call(t, "GET", "/v1/networks/plane/learned", nil)
			if !strings.Contains(string(body), macB1) || !strings.Contains(string(body), "site-b") {
				t.Fatalf("GET /v1/networks/plane/learned does not show %s from site-b: %s", macB1, body)
			}

			// Static bindings: unicast to tun_ipv6_dst. The WAN carries
			// the hosts' IPv4 pings inside IPv6 outer headers only.
			bindHosts(t, a, b, "plane")
			pingOK(t, hb, ipA1, 2)
			wan := captureWAN(t, a.site, 4*time.Second, "not icmp6", func() { pingOK(t, ha, ipB1, 5) })
			t.Logf("site a WAN during 5 pings:\n%s", wan)
			outer := fmt.Sprintf("IP6 %s", tunA6)
			if n := strings.Count(wan, outer); n < 5 || !strings.Contains(wan, tc.decoded) ||
				!strings.Contains(wan, fmt.Sprintf("IP %s > %s: ICMP echo request", ipA1, ipB1)) {
				t.Fatalf("site a's WAN shows %d %s packets from %s (want 5+ carrying the echo requests):\n%s", n, tc.decoded, tunA6, wan)
			}
			if ip := a.site.OVS().Vsctl(t, "get", "interface", "l2gw-"+tc.networkType, "options:local_ip"); strings.Trim(strings.TrimSpace(ip), `"`) != tunA6 {
				t.Errorf("tunnel port l2gw-%s has local_ip %s, want %s", tc.networkType, ip, tunA6)
			}
			for _, line := range strings.Split(wan, "\n") {
				if strings.Contains(line, " IP 198.51.100.") || strings.Contains(line, "ARP") {
					t.Fatalf("IPv4 underlay traffic on an IPv6 WAN: %s", line)
				}
			}
		})
	}
}

// TestIPv6UnderlayTrace: l2gwctl trace names the IPv6 gateway a unicast
// to a bound MAC is tunnelled to.
func TestIPv6UnderlayTrace(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "l2gwctl")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/l2gw/l2gw/cmd/l2gwctl").CombinedOutput(); err != nil {
		t.Fatalf("build l2gwctl: %v\n%s", err, out)
	}
	l := newLab(t, "l2v6tr-")
	a := startGateway(t, l, "a", tunA6)
	b := startGateway(t, l, "b", tunB6)
	a.site.AddHost(t, "a1", macA1, ipA1, 0, "")
	b.site.AddHost(t, "b1", macB1, ipB1, 0, "")
	joinNetwork(t, a, b, "plane", attach("a1"), attach("b1"), 5001, "vxlan")
	bindHosts(t, a, b, "plane")
	ovs := a.site.OVS()
	out, err := ovs.Exec(bin, "trace", "-o", "json", "--network", "plane", "--from-port", "a1", "--src-mac", macA1, "--dst-mac", macB1,
		"--ovs-target", filepath.Join(ovs.Dir, "ovs-vswitchd.ctl"))
	if err != nil {
		t.Fatalf("l2gwctl trace: %v\n%s", err, out)
	}
	var tr struct {
		Outputs []struct {
			TunnelDst string `json:"tunnel_dst"`
			TunnelKey uint64 `json:"tunnel_key"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatalf("l2gwctl trace -o json: %v\n%s", err, out)
	}
	if len(tr.Outputs) != 1 || tr.Outputs[0].TunnelDst != tunB6 || tr.Outputs[0].TunnelKey != 5001 {
		t.Fatalf("trace of unicast to %s: outputs %+v, want one to tunnel %s key 5001\n%s", macB1, tr.Outputs, tunB6, out)
	}
}

// TestMixedUnderlay: one network joined from a dual-stack site (a) to an
// IPv4 site (b, VXLAN) and an IPv6 site (c, Geneve). Site a's broadcasts
// reach both, each copy in its own gateway's address family, and its host
// reaches both hosts.
func TestMixedUnderlay(t *testing.T) {
	l := newLab(t, "l2v6mx-")
	a := startGateway(t, l, "a", "198.51.100.1,"+tunA6)
	b := startGateway(t, l, "b", "198.51.100.2")
	c := startGateway(t, l, "c", "2001:db8::3")
	ha := a.site.AddHost(t, "a1", macA1, ipA1, 0, "")
	b.site.AddHost(t, "b1", macB1, ipB1, 0, "")
	c.site.AddHost(t, "c1", "02:0c:00:00:00:01", "192.0.2.13", 0, "")
	connect := func(local, remote *gateway, ipv6 bool, networkType string) {
		t.Helper()
		gw := "site-" + remote.site.Name
		local.must(t, "POST", "/v1/remote-gateways", object{"name": gw, "tunnel_ip": remote.site.TunnelAddr(ipv6)}, 201)
		local.must(t, "POST", "/v1/connections", object{"name": "plane-" + remote.site.Name, "network": "plane",
			"remote_gateway": gw, "segmentation_id": 5001, "network_type": networkType}, 201)
	}
	for _, g := range []*gateway{a, b, c} {
		g.must(t, "POST", "/v1/networks", object{"name": "plane", "attachments": attach(g.site.Name + "1")}, 201)
	}
	connect(a, b, false, "vxlan")
	connect(b, a, false, "vxlan")
	connect(a, c, true, "geneve")
	connect(c, a, true, "geneve")

	// One port per type carries both families: no local_ip binds it to one.
	if opts := a.site.OVS().Vsctl(t, "get", "interface", "l2gw-vxlan", "options"); strings.Contains(opts, "local_ip") {
		t.Errorf("dual-stack site's tunnel port has options %s, want no local_ip", opts)
	}
	pingOK(t, ha, ipB1, 3)
	pingOK(t, ha, "192.0.2.13", 3)
	wan := captureWAN(t, a.site, 5*time.Second, "not icmp6 and not arp", func() { ha.Arping(t, "192.0.2.77", 2) })
	t.Logf("site a WAN during 2 broadcasts:\n%s", wan)
	for _, outer := range [][2]string{{"IP 198.51.100.1.", " > 198.51.100.2.4789: VXLAN"}, {"IP6 " + tunA6 + ".", " > 2001:db8::3.6081: Geneve"}} {
		n := 0
		for _, p := range capturedPackets(wan) {
			if strings.Contains(p, outer[0]) && strings.Contains(p, outer[1]) && strings.Contains(p, "who-has 192.0.2.77") {
				n++
			}
		}
		if n != 2 {
			t.Errorf("site a sent %d broadcasts as %s...%s, want 2", n, outer[0], outer[1])
		}
	}
}

// capturedPackets splits tcpdump's output into packets: a timestamped line
// and the lines of its inner packet that follow.
func capturedPackets(out string) []string {
	var packets []string
	for _, line := range strings.Split(out, "\n") {
		if len(packets) == 0 || line != "" && line[0] >= '0' && line[0] <= '9' {
			packets = append(packets, line)
			continue
		}
		packets[len(packets)-1] += "\n" + line
	}
	return packets
}
