package integration

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l2gw/l2gw/integration/lab"
)

// The HA lab of issue 14: site R (one node, host h2) and site G, whose two
// nodes G1 (priority 200) and G2 (100) are both attached to G's local
// segment (a Linux bridge with host h1), all on one WAN, G1 and G2
// configured by identical API calls. A 10 ms ping h2 -> h1 runs through
// every event.
const (
	haTunnelR  = "198.51.100.1"
	haTunnelG1 = "198.51.100.11"
	haTunnelG2 = "198.51.100.12"
	haIPh1     = "192.0.2.1"
	haIPh2     = "192.0.2.2"
	haMACh1    = "02:00:00:00:0a:01"
	haMACh2    = "02:00:00:00:0a:02"
	// haBFDms and haBFDMult are every node's BFD timers: a dead node is
	// detected in haBFDms x haBFDMult.
	haBFDms   = 100
	haBFDMult = 3
	// haPing is the ping interval.
	haPing = 10 * time.Millisecond
)

// haStatus is the part of GET /v1/status the lab reads.
type haStatus struct {
	Reconciled bool   `json:"reconciled"`
	Digest     string `json:"desired_state_digest"`
	HA         *struct {
		Role           string `json:"role"`
		PeerBFD        string `json:"peer_bfd"`
		PeerSegmentBFD string `json:"peer_segment_bfd"`
		PeerPriority   int    `json:"peer_priority"`
		PeerDigest     string `json:"peer_desired_state_digest"`
		CPathDown      bool   `json:"cpath_down"`
		Reason         string `json:"reason"`
	} `json:"ha"`
}

func (g *gateway) haStatus(t *testing.T) haStatus {
	t.Helper()
	code, out := g.call(t, "GET", "/v1/status", nil)
	if code != 200 {
		t.Fatalf("site %s: GET /v1/status: %d %s", g.site.Name, code, out)
	}
	var st haStatus
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatal(err)
	}
	if st.HA == nil {
		t.Fatalf("site %s: no ha in %s", g.site.Name, out)
	}
	return st
}

// role is g's HA role, "" while its API does not answer (l2gwd
// restarting).
func (g *gateway) role(t *testing.T) string {
	t.Helper()
	if _, err := g.status(t); err != nil {
		return ""
	}
	return g.haStatus(t).HA.Role
}

// haEndpoint is one endpoint of GET /v1/remote-gateways/{name}.
type haEndpoint struct {
	TunnelIP string `json:"tunnel_ip"`
	BFD      string `json:"bfd"`
	InUse    bool   `json:"in_use"`
}

func (g *gateway) endpoints(t *testing.T, gw string) []haEndpoint {
	t.Helper()
	code, out := g.call(t, "GET", "/v1/remote-gateways/"+gw, nil)
	if code != 200 {
		t.Fatalf("GET /v1/remote-gateways/%s: %d %s", gw, code, out)
	}
	var body struct {
		Endpoints []haEndpoint `json:"endpoints"`
	}
	if err := json.Unmarshal(out, &body); err != nil {
		t.Fatal(err)
	}
	return body.Endpoints
}

// inUse is the endpoint R sends site G's traffic to, "" if none says so.
func inUse(eps []haEndpoint) string {
	for _, e := range eps {
		if e.InUse {
			return e.TunnelIP
		}
	}
	return ""
}

// haLab is the running lab.
type haLab struct {
	l      *lab.Lab
	r      *gateway
	g1, g2 *gateway
	seg    *lab.Segment
	h1, h2 *lab.Host
}

// haNode starts an l2gwd of site G's pair.
func haNode(t *testing.T, l *lab.Lab, name, tunnelIP, peer string, priority int) *gateway {
	t.Helper()
	g := &gateway{site: l.AddSite(name, tunnelIP), dataDir: t.TempDir(), extra: []string{
		"--ha-peer", peer, "--ha-priority", strconv.Itoa(priority),
		"--bfd-interval-ms", strconv.Itoa(haBFDms), "--bfd-multiplier", strconv.Itoa(haBFDMult)}}
	g.client = g.site.HTTPClient()
	g.start(t)
	return g
}

func startHALab(t *testing.T) *haLab {
	t.Helper()
	h := &haLab{l: newLab(t, "l2ha-")}
	h.r = &gateway{site: h.l.AddSite("r", haTunnelR), dataDir: t.TempDir(), extra: []string{
		"--bfd-interval-ms", strconv.Itoa(haBFDms), "--bfd-multiplier", strconv.Itoa(haBFDMult)}}
	h.r.client = h.r.site.HTTPClient()
	h.r.start(t)
	h.g1 = haNode(t, h.l, "g1", haTunnelG1, haTunnelG2, 200)
	h.g2 = haNode(t, h.l, "g2", haTunnelG2, haTunnelG1, 100)
	h.seg = h.l.AddSegment("seg")
	h.h1 = h.seg.AddHost(t, "h1", haMACh1, haIPh1)
	h.seg.Attach(t, h.g1.site, "seg")
	h.seg.Attach(t, h.g2.site, "seg")
	h.h2 = h.r.site.AddHost(t, "h2", haMACh2, haIPh2, 0, "")

	h.r.must(t, "POST", "/v1/networks", object{"name": "plane", "attachments": []object{{"port": "h2"}}}, 201)
	h.r.must(t, "POST", "/v1/remote-gateways", object{"name": "site-g", "tunnel_ips": []string{haTunnelG1, haTunnelG2}}, 201)
	h.r.must(t, "POST", "/v1/connections", object{"name": "plane-g", "network": "plane", "remote_gateway": "site-g",
		"segmentation_id": 5001, "network_type": "vxlan"}, 201)
	// The orchestrator writes the same calls to both nodes.
	for _, g := range []*gateway{h.g1, h.g2} {
		g.must(t, "POST", "/v1/networks", object{"name": "plane", "attachments": []object{{"port": "seg"}}}, 201)
		g.must(t, "POST", "/v1/remote-gateways", object{"name": "site-r", "tunnel_ip": haTunnelR}, 201)
		g.must(t, "POST", "/v1/connections", object{"name": "plane-r", "network": "plane", "remote_gateway": "site-r",
			"segmentation_id": 5001, "network_type": "vxlan"}, 201)
		g.must(t, "POST", "/v1/connections/plane-r/macs", object{"macs": []object{{"mac": haMACh2, "ips": []string{haIPh2}}}}, 201)
	}
	start := time.Now()
	h.waitSteady(t, 30*time.Second)
	t.Logf("pair steady %v after configuration: G1 active, G2 standby, R sends to G1", time.Since(start).Round(time.Millisecond))
	// New BFD sessions may flap while they move from the slow start rate
	// to their interval: the events start from sessions that have held.
	h.settle(t, 2*time.Second)
	t.Logf("pair settled %v after configuration", time.Since(start).Round(time.Millisecond))
	return h
}

// settle waits until the pair has been steady (waitSteady's condition)
// for d without a break, for 30 s at most.
func (h *haLab) settle(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for since := time.Now(); time.Since(since) < d; {
		if time.Now().After(deadline) {
			t.Fatalf("the pair did not hold steady for %v", d)
		}
		if !h.steady(t) {
			h.waitSteady(t, 10*time.Second)
			since = time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitSteady waits until G1 is active, G2 standby with G1's BFD up on both
// paths, and R uses G1.
func (h *haLab) waitSteady(t *testing.T, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, "G1 active, G2 standby hearing G1, R using G1", func() bool { return h.steady(t) })
}

// steady reports whether G1 is active, G2 standby with G1's BFD up on
// both paths, and R uses G1.
func (h *haLab) steady(t *testing.T) bool {
	t.Helper()
	if h.g1.role(t) != "active" || h.g2.role(t) != "standby" {
		return false
	}
	st := h.g2.haStatus(t).HA
	return st.PeerBFD == "up" && st.PeerSegmentBFD == "up" && inUse(h.r.endpoints(t, "site-g")) == haTunnelG1
}

// fromG2 is how many frames R's flows have admitted from G2's endpoint.
func (h *haLab) fromG2(t *testing.T) int {
	t.Helper()
	n := 0
	out := h.r.site.OVS().Ofctl(t, "dump-flows", lab.IntBridge)
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "tun_src="+haTunnelG2) {
			m := regexp.MustCompile(`n_packets=(\d+)`).FindStringSubmatch(line)
			if m != nil {
				c, _ := strconv.Atoi(m[1])
				n += c
			}
		}
	}
	return n
}

// pingThrough pings h1 from h2 every haPing for total while event runs
// (after a second of ping), and returns the requests lost and the
// duplicate replies.
func (h *haLab) pingThrough(t *testing.T, total time.Duration, event func()) (lost, dups int) {
	t.Helper()
	count := int(total / haPing)
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := h.h2.Exec(t, "ping", "-n", "-c", strconv.Itoa(count), "-i", fmt.Sprintf("%.3f", haPing.Seconds()), "-W", "1", haIPh1)
		done <- result{out, err}
	}()
	time.Sleep(time.Second)
	event()
	res := <-done
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received(?:, \+(\d+) duplicates)?`).FindStringSubmatch(res.out)
	if m == nil {
		t.Fatalf("ping: no summary (%v):\n%s", res.err, res.out)
	}
	sent, _ := strconv.Atoi(m[1])
	got, _ := strconv.Atoi(m[2])
	dups, _ = strconv.Atoi(m[3])
	return sent - got, dups
}

// step runs one stage of a lab whose stages share its processes (a
// subtest's end would kill the processes it started).
func step(t *testing.T, name string, fn func()) {
	t.Helper()
	t.Logf("--- %s", name)
	fn()
}

func TestHAPair(t *testing.T) {
	h := startHALab(t)
	pingOK(t, h.h2, haIPh1, 5)
	detect := time.Duration(haBFDms*haBFDMult) * time.Millisecond
	bound := int(detect/haPing) + 2

	st1, st2 := h.g1.haStatus(t), h.g2.haStatus(t)
	if st1.Digest == "" || st1.Digest != st2.Digest || st2.HA.PeerDigest != st1.Digest {
		t.Errorf("desired_state_digest: G1 %q, G2 %q (G2 hears G1's as %q): want one digest", st1.Digest, st2.Digest, st2.HA.PeerDigest)
	}
	if st2.HA.PeerPriority != 200 || st1.HA.PeerPriority != 100 {
		t.Errorf("peer priorities: G1 hears %d, G2 hears %d; want 100 and 200", st1.HA.PeerPriority, st2.HA.PeerPriority)
	}

	step(t, "underlay between G1 and G2 cut", func() {
		before := h.fromG2(t)
		lost, dups := h.pingThrough(t, 4*time.Second, func() {
			h.l.Isolate(t, true, h.g1.site, h.g2.site)
			waitFor(t, 5*time.Second, "G2 to see G1 down on the underlay", func() bool { return h.g2.haStatus(t).HA.PeerBFD != "up" })
			if role := h.g2.role(t); role != "standby" {
				t.Errorf("G2 is %s with the underlay to G1 cut: it still hears G1 on the segment", role)
			}
			time.Sleep(time.Second)
			h.l.Isolate(t, false, h.g1.site, h.g2.site)
		})
		t.Logf("underlay cut between G1 and G2: %d lost, %d duplicates; R received %d frames from G2", lost, dups, h.fromG2(t)-before)
		if lost != 0 || dups != 0 {
			t.Errorf("%d lost, %d duplicates: want none", lost, dups)
		}
		if n := h.fromG2(t) - before; n != 0 {
			t.Errorf("R received %d data frames from G2 while G2 was standby: split brain", n)
		}
		h.waitSteady(t, 10*time.Second)
	})

	step(t, "G1's l2gwd killed and restarted", func() {
		flows1, flows2 := strings.Join(h.g1.controllerFlows(t), "\n"), strings.Join(h.g2.controllerFlows(t), "\n")
		groups := h.g1.site.OVS().Ofctl(t, "-O", "OpenFlow13", "dump-groups", lab.IntBridge)
		before := h.fromG2(t)
		lost, dups := h.pingThrough(t, 4*time.Second, func() { h.g1.restart(t, syscall.SIGKILL) })
		t.Logf("G1's l2gwd SIGKILLed and restarted: %d lost, %d duplicates", lost, dups)
		if lost != 0 || dups != 0 {
			t.Errorf("%d lost, %d duplicates: want none", lost, dups)
		}
		if n := h.fromG2(t) - before; n != 0 {
			t.Errorf("R received %d frames from G2: a failover happened", n)
		}
		if got := strings.Join(h.g1.controllerFlows(t), "\n"); got != flows1 {
			t.Errorf("G1's flows changed across its l2gwd's restart")
		}
		if got := strings.Join(h.g2.controllerFlows(t), "\n"); got != flows2 {
			t.Errorf("G2's flows changed across G1's l2gwd's restart")
		}
		if got := h.g1.site.OVS().Ofctl(t, "-O", "OpenFlow13", "dump-groups", lab.IntBridge); got != groups {
			t.Errorf("G1's groups changed across its l2gwd's restart:\n%s\nwant\n%s", got, groups)
		}
		h.waitSteady(t, 10*time.Second)
	})

	step(t, "G2's l2gwd killed and restarted", func() {
		flows, groups := strings.Join(h.g2.controllerFlows(t), "\n"), h.g2.site.OVS().Ofctl(t, "-O", "OpenFlow13", "dump-groups", lab.IntBridge)
		lost, dups := h.pingThrough(t, 4*time.Second, func() { h.g2.restart(t, syscall.SIGKILL) })
		t.Logf("G2's l2gwd SIGKILLed and restarted: %d lost, %d duplicates", lost, dups)
		if lost != 0 || dups != 0 {
			t.Errorf("%d lost, %d duplicates: want none", lost, dups)
		}
		if got := strings.Join(h.g2.controllerFlows(t), "\n"); got != flows {
			t.Errorf("G2's flows changed across its l2gwd's restart")
		}
		if got := h.g2.site.OVS().Ofctl(t, "-O", "OpenFlow13", "dump-groups", lab.IntBridge); got != groups || !strings.Contains(got, "type=ff") {
			t.Errorf("G2's groups (its gate) changed across its restart:\n%s\nwant\n%s", got, groups)
		}
		h.waitSteady(t, 10*time.Second)
	})

	step(t, "a takeover announces the remote MACs on the segment", func() {
		pingOK(t, h.h2, haIPh1, 3)
		if port := h.seg.FDBPort(t, haMACh2); port != "s-g1" {
			t.Fatalf("the segment has h2's MAC on %q before the takeover, want s-g1", port)
		}
		rarp := h.h1.Capture(t, "rarp", "or", "arp")
		h.g1.site.OVS().KillVswitchd()
		start := time.Now()
		waitFor(t, 5*time.Second, "the segment to move h2's MAC to G2 with no traffic from h2", func() bool {
			return h.seg.FDBPort(t, haMACh2) == "s-g2"
		})
		t.Logf("the segment moved h2's MAC to G2 %v after G1's switch died (no traffic from h2)", time.Since(start).Round(time.Millisecond))
		if !rarp.WaitFor(haMACh2 + " > ff:ff:ff:ff:ff:ff, ethertype Reverse ARP") {
			t.Errorf("h1 saw no RARP of h2's MAC:\n%s", rarp.Output())
		}
		t.Logf("h1 saw:\n%s", rarp.Stop())
		if err := h.g1.site.OVS().StartVswitchd(); err != nil {
			t.Fatal(err)
		}
		h.g1.site.RestoreUnderlay(t)
		h.waitSteady(t, 15*time.Second)
	})

	step(t, "G1's ovs-vswitchd killed, then back", func() {
		lost, dups := h.pingThrough(t, 4*time.Second, func() { h.g1.site.OVS().KillVswitchd() })
		t.Logf("G1's ovs-vswitchd SIGKILLed: %d lost at a %v ping (BFD detection %v: bound %d), %d duplicates", lost, haPing, detect, bound, dups)
		if lost > bound {
			t.Errorf("%d lost: want at most %d", lost, bound)
		}
		if role := h.g2.role(t); role != "active" {
			t.Errorf("G2 is %s with G1's switch dead", role)
		}
		if got := inUse(h.r.endpoints(t, "site-g")); got != haTunnelG2 {
			t.Errorf("R sends to %s with G1's switch dead", got)
		}

		lost, dups = h.pingThrough(t, 18*time.Second, func() {
			if err := h.g1.site.OVS().StartVswitchd(); err != nil {
				t.Fatal(err)
			}
			h.g1.site.RestoreUnderlay(t)
			start := time.Now()
			h.waitSteady(t, 15*time.Second)
			t.Logf("failback %v after G1's underlay was back (cpath_down until reconciled and its sessions settled)", time.Since(start).Round(time.Millisecond))
		})
		t.Logf("G1's ovs-vswitchd back: %d lost, %d duplicates", lost, dups)
		if lost > 2 || dups != 0 {
			t.Errorf("failback: %d lost, %d duplicates; want at most 2 lost (goal 0), no duplicate", lost, dups)
		}
	})

	step(t, "G1's attachment down", func() {
		lost, dups := h.pingThrough(t, 4*time.Second, func() { h.seg.SetLink(t, h.g1.site, "seg", false) })
		st := h.g1.haStatus(t).HA
		t.Logf("G1's attachment lost carrier: %d lost (bound %d), %d duplicates; G1: %s (%s)", lost, bound, dups, st.Role, st.Reason)
		if lost > bound {
			t.Errorf("%d lost: want at most %d", lost, bound)
		}
		if !st.CPathDown || h.g2.role(t) != "active" {
			t.Errorf("G1 cpath_down %v, G2 %s: want G1 resigned, G2 active", st.CPathDown, h.g2.role(t))
		}
		lost, dups = h.pingThrough(t, 6*time.Second, func() {
			h.seg.SetLink(t, h.g1.site, "seg", true)
			h.waitSteady(t, 5*time.Second)
		})
		t.Logf("G1's attachment back: %d lost, %d duplicates", lost, dups)
		if lost > 2 || dups != 0 {
			t.Errorf("failback: %d lost, %d duplicates; want at most 2 lost, no duplicate", lost, dups)
		}
	})

	step(t, "G2 isolated from every remote site", func() {
		h.l.Isolate(t, true, h.g2.site, h.r.site)
		defer h.l.Isolate(t, false, h.g2.site, h.r.site)
		waitFor(t, 5*time.Second, "G2 to resign: no remote reachable", func() bool { return h.g2.haStatus(t).HA.CPathDown })
		// Now G1 resigns too: G2 hears it silent, but reaches no remote
		// site, and stays standby.
		h.seg.SetLink(t, h.g1.site, "seg", false)
		defer h.seg.SetLink(t, h.g1.site, "seg", true)
		waitFor(t, 5*time.Second, "G2 to hear G1 resign", func() bool { return h.g2.haStatus(t).HA.PeerBFD != "up" })
		time.Sleep(time.Second)
		st := h.g2.haStatus(t).HA
		t.Logf("G2 cut from R, G1 resigned: G2 %s (%s)", st.Role, st.Reason)
		if st.Role != "standby" {
			t.Errorf("G2 is %s while it reaches no remote site", st.Role)
		}
	})
	h.waitSteady(t, 15*time.Second)
	pingOK(t, h.h2, haIPh1, 5)
}
