package lab_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l2gw/l2gw/integration/lab"
	"github.com/l2gw/l2gw/internal/ovstest"
)

// TestTwoSitesOverVXLAN builds two sites joined by hand-written VXLAN flows
// and checks what end-to-end tests rely on: cross-site ping and ARP for
// untagged and VLAN hosts, full-size frames and TCP across the tunnel, the WAN
// switch, and reaching a server inside a site's namespace.
func TestTwoSitesOverVXLAN(t *testing.T) {
	l := lab.New(t, "l2gwt-lab-")
	a := addSite(t, l, "a", "198.51.100.1")
	b := addSite(t, l, "b", "198.51.100.2")
	for _, s := range []*lab.Site{a, b} {
		s.OVS().Vsctl(t, "add-br", lab.IntBridge, "--", "set", "bridge", lab.IntBridge,
			"datapath_type=netdev", "fail_mode=secure", "protocols=OpenFlow13",
			"--", "add-port", lab.IntBridge, "vxlan0", "--", "set", "interface", "vxlan0", "type=vxlan",
			"options:remote_ip=flow", "options:key=flow", "options:local_ip="+s.TunnelIP)
	}
	ha := a.AddHost(t, "h1", "02:00:00:00:00:11", "192.0.2.11", 0, "")
	hb := b.AddHost(t, "h1", "02:00:00:00:00:12", "192.0.2.12", 0, "")
	connect(t, a, b, "h1", "5001")
	connect(t, b, a, "h1", "5001")

	t.Run("untagged ping both ways", func(t *testing.T) {
		expectPing(t, ha, hb.IP, 3)
		expectPing(t, hb, ha.IP, 3)
	})
	t.Run("arping across sites", func(t *testing.T) {
		replies, macs := ha.Arping(t, hb.IP, 2)
		if replies != 2 || macs[0] != hb.MAC || macs[1] != hb.MAC {
			t.Fatalf("arping %s: %d replies from %v, want 2 from %s", hb.IP, replies, macs, hb.MAC)
		}
		if replies, macs := ha.Arping(t, "192.0.2.99", 1); replies != 0 {
			t.Fatalf("arping for an address nobody has: %d replies from %v", replies, macs)
		}
	})
	t.Run("full-size frame fits the WAN", func(t *testing.T) {
		out, err := ha.Exec(t, "ping", "-n", "-c", "2", "-W", "1", "-s", "1472", "-M", "do", hb.IP)
		if err != nil {
			t.Fatalf("1500-byte ping across the tunnel: %v\n%s", err, out)
		}
	})
	t.Run("TCP across sites", func(t *testing.T) {
		expectTCP(t, ha, hb)
	})
	t.Run("WAN down and up", func(t *testing.T) {
		a.SetWAN(t, false)
		if sent, received := ha.Ping(t, hb.IP, 3, 200*time.Millisecond); received != 0 {
			t.Errorf("WAN down: %d of %d pings answered, want none", received, sent)
		}
		a.SetWAN(t, true)
		expectPing(t, ha, hb.IP, 3)
	})
	t.Run("VLAN hosts behind br-tor", func(t *testing.T) {
		va := a.AddHost(t, "v1", "02:00:00:00:01:11", "192.0.2.21", 100, "trunk0")
		vb := b.AddHost(t, "v1", "02:00:00:00:01:12", "192.0.2.22", 100, "trunk0")
		connectVLAN(t, a, b, "trunk0", 100, "5002")
		connectVLAN(t, b, a, "trunk0", 100, "5002")
		expectPing(t, va, vb.IP, 3)
		expectPing(t, vb, va.IP, 3)
		// The VLAN network is a separate VNI: the untagged host is not reachable.
		if _, received := va.Ping(t, hb.IP, 2, 200*time.Millisecond); received != 0 {
			t.Errorf("VLAN host reached the untagged host of the other network")
		}
	})
	t.Run("HTTP client inside the site namespace", func(t *testing.T) {
		expectHTTPOnlyInSite(t, a)
	})
}

// addSite adds a site and logs how long its setup took.
func addSite(t *testing.T, l *lab.Lab, name, tunnelIP string) *lab.Site {
	start := time.Now()
	s := l.AddSite(name, tunnelIP)
	t.Logf("site %s set up in %.2fs", name, time.Since(start).Seconds())
	return s
}

// connect installs flows on from's br-int that send everything from port to
// the peer site over VXLAN with vni, and deliver vni from the tunnel to port.
func connect(t *testing.T, from, peer *lab.Site, port, vni string) {
	from.OVS().Ofctl(t, "add-flow", lab.IntBridge, fmt.Sprintf(
		"priority=10,in_port=%s,actions=set_field:%s->tun_dst,set_field:%s->tun_id,output:vxlan0",
		port, peer.TunnelIP, vni))
	from.OVS().Ofctl(t, "add-flow", lab.IntBridge, fmt.Sprintf(
		"priority=10,in_port=vxlan0,tun_id=%s,actions=output:%s", vni, port))
}

// connectVLAN is connect for frames tagged with vlan on trunk: the tag is
// popped before the tunnel and pushed back after it.
func connectVLAN(t *testing.T, from, peer *lab.Site, trunk string, vlan uint16, vni string) {
	from.OVS().Ofctl(t, "add-flow", lab.IntBridge, fmt.Sprintf(
		"priority=10,in_port=%s,dl_vlan=%d,actions=pop_vlan,set_field:%s->tun_dst,set_field:%s->tun_id,output:vxlan0",
		trunk, vlan, peer.TunnelIP, vni))
	from.OVS().Ofctl(t, "add-flow", lab.IntBridge, fmt.Sprintf(
		"priority=10,in_port=vxlan0,tun_id=%s,actions=push_vlan:0x8100,set_field:%d->vlan_vid,output:%s",
		vni, 0x1000|int(vlan), trunk))
}

// expectPing fails t unless every one of count pings from h to ip is answered.
func expectPing(t *testing.T, h *lab.Host, ip string, count int) {
	t.Helper()
	if sent, received := h.Ping(t, ip, count, 200*time.Millisecond); sent != count || received != count {
		t.Fatalf("ping %s from %s: %d sent, %d received, want %d/%d", ip, h.Name, sent, received, count, count)
	}
}

// expectTCP sends a line over TCP from client to a one-shot server on
// server's host and fails t unless it arrives intact.
func expectTCP(t *testing.T, client, server *lab.Host) {
	t.Helper()
	serverDone := make(chan string, 1)
	go func() {
		out, err := server.Exec(t, "timeout", "10", "python3", "-c", `
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("`+server.IP+`", 7000))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
print(c.makefile().readline().strip())
`)
		serverDone <- fmt.Sprint(out, err)
	}()
	var out string
	var err error
	for i := 0; i < 50; i++ {
		out, err = client.Exec(t, "timeout", "5", "python3", "-c",
			`import socket; s = socket.create_connection(("`+server.IP+`", 7000), 3); s.sendall(b"hello over tcp\n")`)
		if err == nil || !strings.Contains(err.Error(), "Connection refused") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("TCP client: %v\n%s", err, out)
	}
	if got := <-serverDone; !strings.Contains(got, "hello over tcp") {
		t.Fatalf("TCP server did not get the line: %s", got)
	}
}

// expectHTTPOnlyInSite serves a file on 127.0.0.1 inside s's namespace and
// checks that s.HTTPClient reaches it, a plain client does not, and killing
// the server makes it unreachable.
func expectHTTPOnlyInSite(t *testing.T, s *lab.Site) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is needed for the HTTP server")
	}
	port := unusedPort(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello from site "+s.Name), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := s.StartProcess(t, "python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir, port)
	url := "http://127.0.0.1:" + port + "/hello.txt"
	client := s.HTTPClient()
	var body string
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if body, err = get(client, url); err == nil {
			break
		}
	}
	if err != nil || body != "hello from site "+s.Name {
		t.Fatalf("GET %s inside site %s: %q, %v\nserver log:\n%s", url, s.Name, body, err, srv.Output())
	}
	if body, err := get(&http.Client{Timeout: 5 * time.Second}, url); err == nil {
		t.Fatalf("plain client reached the site's server from the test's namespace: %q", body)
	}
	if err := srv.Kill(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	srv.Wait()
	client.CloseIdleConnections()
	if body, err := get(client, url); err == nil {
		t.Fatalf("server still answers after SIGTERM: %q", body)
	}
}

// unusedPort returns a TCP port nothing listens on in the test's namespace.
func unusedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// get fetches url and returns the body of a 200 response.
func get(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// TestThreeSitesAndCleanup checks that three sites share one WAN (each
// reaches the others' tunnel IPs, and SetWAN cuts off only its own site), and
// that a lab removes a crashed run's leftovers when it starts and everything
// it made when its test ends.
func TestThreeSitesAndCleanup(t *testing.T) {
	lab.Require(t)
	const prefix = "l2gwt-labw-"
	if out, err := exec.Command("ip", "netns", "add", prefix+"old").CombinedOutput(); err != nil {
		t.Fatalf("create a leftover namespace: %v: %s", err, out)
	}
	var pids []int
	t.Run("lab", func(t *testing.T) {
		l := lab.New(t, prefix)
		if names := netnsWithPrefix(t, prefix); len(names) != 0 {
			t.Fatalf("leftover namespaces survived New: %v", names)
		}
		sites := []*lab.Site{
			addSite(t, l, "x", "198.51.100.21"),
			addSite(t, l, "y", "198.51.100.22"),
			addSite(t, l, "z", "198.51.100.23"),
		}
		for _, from := range sites {
			for _, to := range sites {
				if from != to {
					expectUnderlay(t, from, to.TunnelIP, true)
				}
			}
		}
		sites[2].SetWAN(t, false)
		expectUnderlay(t, sites[0], sites[1].TunnelIP, true)
		expectUnderlay(t, sites[0], sites[2].TunnelIP, false)
		sites[2].SetWAN(t, true)
		expectUnderlay(t, sites[0], sites[2].TunnelIP, true)

		pids = append(pids, sites[0].StartProcess(t, "sleep", "600").Pid())
		b, err := os.ReadFile(filepath.Join(sites[0].OVS().Dir, "ovs-vswitchd.pid"))
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	})
	if names := netnsWithPrefix(t, prefix); len(names) != 0 {
		t.Fatalf("namespaces left after the test: %v", names)
	}
	for _, pid := range pids {
		if ovstest.Running(pid) {
			t.Errorf("process %d still runs after the test", pid)
		}
	}
}

// expectUnderlay pings ip from s's own stack (through br-phy and the WAN) and
// fails t unless the outcome is reachable.
func expectUnderlay(t *testing.T, s *lab.Site, ip string, reachable bool) {
	t.Helper()
	out, err := s.Exec(t, "ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", ip)
	if (err == nil) != reachable {
		t.Fatalf("site %s: ping %s: reachable=%v, want %v\n%s", s.Name, ip, err == nil, reachable, out)
	}
}

// netnsWithPrefix lists the namespaces whose names start with prefix.
func netnsWithPrefix(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			names = append(names, f[0])
		}
	}
	return names
}
