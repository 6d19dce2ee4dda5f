package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/osrg/gobgp/v4/pkg/apiutil"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// The EVPN scenario's objects.
const (
	evpnNetwork = "evpn"
	evpnVNI     = 5002
	evpnPort    = "ev0" // the network's local attachment: an internal port, where the benchmark writes frames
	evpnVTEPs   = 4     // remote VTEPs the benchmark speaker advertises
	evpnChanges = 200   // route changes timed one by one
)

// How the benchmark teaches l2gwd local MACs: frames at learnRate per
// second, more than ovs-vswitchd learns here while l2gwd works (about
// 13,000 a second), in bursts of learnBurst. The port's queue holds the
// frames OVS has not read yet (hostQueue), so the figure is the pace of
// OVS and l2gwd, not of the sender; the frames of MACs still missing (a
// frame dropped all the same) are sent again, up to learnPasses times.
const (
	learnRate   = 20000
	learnBurst  = 50
	learnPasses = 10
)

// sinkMAC is where the frames that teach local MACs go: a MAC learned on
// the attachment itself, so that they go nowhere (OVS never sends a frame
// back out of the port it came in on) instead of flooding to every VTEP.
var sinkMAC = [6]byte{0x02, 0x0f, 0, 0, 0, 1}

// evpnVTEP is the i-th remote VTEP: 198.51.100.11 and on.
func evpnVTEP(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(11 + i)}) }

// localMAC is the i-th MAC the benchmark teaches l2gwd: 02:01:<i>.
func localMAC(i int) [6]byte {
	return [6]byte{0x02, 0x01, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
}

// isLocalMAC tells whether mac is one of localMAC's.
func isLocalMAC(mac [6]byte) bool { return mac[0] == 0x02 && mac[1] == 0x01 }

// evpnRun is the EVPN scenario's l2gwd (with BGP), the benchmark's own
// speaker, and what it advertises.
type evpnRun struct {
	b      *bench
	d      *daemon
	sp     *benchSpeaker
	host   *ovstest.Host
	routes vtepRoutes
	vteps  []netip.Addr
	macIPs []*apiutil.Path // the type-2 route of each binding index
	// movedTo and seq are, for the MACs that moved, their VTEP's index and
	// their MAC mobility sequence (the others are at VTEP i%len(vteps)
	// with none).
	movedTo map[int]int
	seq     map[int]uint32
	flows   int // l2gwd flows on the bridge once every route is in
}

// evpn is scenario 6: BGP EVPN. A fresh l2gwd with BGP on a fresh bridge
// peers with the benchmark's own GoBGP speaker, which sends N type-2
// routes (the bulk scenario's MACs and IPs) behind a few VTEPs; then MACs
// move between VTEPs one at a time; then l2gwd learns N MACs from frames
// on its local attachment and advertises them.
func (b *bench) evpn(ctx context.Context, label string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	e, err := b.startEVPN(ctx)
	if e != nil {
		defer e.close()
	}
	if err != nil {
		return err
	}
	for _, step := range []func(context.Context, string) error{e.remoteRoutes, e.routeChanges, e.localMACs} {
		if err := step(ctx, label); err != nil {
			return err
		}
	}
	return nil
}

// startEVPN replaces the static scenarios' l2gwd and bridge with an l2gwd
// with BGP (iBGP, AS bgpASN, on l2gwdBGPAddr) and its bridge, starts the
// benchmark's speaker and configures the EVPN network with its local
// attachment. l2gwd gets no peer yet.
func (b *bench) startEVPN(ctx context.Context) (*evpnRun, error) {
	b.d.stop()
	if _, err := b.sw.vsctl("--if-exists", "del-br", bridgeName); err != nil {
		return nil, err
	}
	b.sw.cookies = []string{controllerCookies, evpnCookies}
	e := &evpnRun{b: b, routes: vtepRoutes{vni: evpnVNI}, movedTo: map[int]int{}, seq: map[int]uint32{}}
	for i := range evpnVTEPs {
		e.vteps = append(e.vteps, evpnVTEP(i))
	}
	sp, err := startBenchSpeaker(ctx, b.log)
	if err != nil {
		return nil, err
	}
	e.sp = sp
	e.d = newDaemon(b.opts.l2gwd, b.opts.workDir, "l2gwd-evpn", b.sw.Endpoint(),
		"--bgp-asn", strconv.Itoa(bgpASN), "--bgp-listen", hostAddr(l2gwdBGPAddr))
	b.log.Info("starting l2gwd with BGP", "log", e.d.logPath)
	if err := e.d.start(); err != nil {
		return e, err
	}
	if _, _, err := e.d.waitStatus(ctx, 10*time.Millisecond, func(s status) bool { return s.Connected }); err != nil {
		return e, err
	}
	if e.host, err = b.sw.internalHost(bridgeName, evpnPort); err != nil {
		return e, err
	}
	network := map[string]any{"name": evpnNetwork, "attachments": []map[string]any{{"port": evpnPort}},
		"evpn": map[string]any{"vni": evpnVNI}}
	if _, err := e.d.must(ctx, http.MethodPost, "/v1/networks", network, http.StatusCreated); err != nil {
		return e, err
	}
	_, err = settled(ctx, b.sw, e.d)
	return e, err
}

// close stops what startEVPN started.
func (e *evpnRun) close() {
	if e.d != nil {
		e.d.stop()
	}
	if e.host != nil {
		e.host.Close()
	}
	if e.sp != nil {
		e.sp.close()
	}
}

// evpnOrigin is the EVPN origin's standing in a status.
func evpnOrigin(s status) (remoteMACs, floodTargets int) {
	for _, o := range s.Origins {
		if o.Origin == "evpn" {
			return o.RemoteMACs, o.FloodTargets
		}
	}
	return 0, 0
}

// remoteRoutes is figure 1: the benchmark speaker's table holds a type-3
// route per VTEP and N type-2 routes (MAC+IP, the bulk scenario's
// bindings, spread over the VTEPs) before l2gwd is given the peer; timed
// from the session coming up until OVS counts every flow, against
// ovs-ofctl --bundle of the same flows and the bulk API path (scenario 1),
// and GoBGP alone receiving the same routes from the same speaker (the
// floor: l2gwd's BGP is GoBGP).
func (e *evpnRun) remoteRoutes(ctx context.Context, label string) error {
	n, k := e.b.opts.evpnRoutes, len(e.vteps)
	paths := make([]*apiutil.Path, 0, k+n)
	for _, v := range e.vteps {
		p, err := e.routes.imet(v)
		if err != nil {
			return err
		}
		paths = append(paths, p)
	}
	e.macIPs = make([]*apiutil.Path, n)
	for i := range n {
		bd := bindingFor(i)
		p, err := e.routes.macIP(e.vteps[i%k], bd.MAC, netip.MustParseAddr(bd.IPs[0]), 0)
		if err != nil {
			return err
		}
		e.macIPs[i] = p
	}
	if err := e.sp.advertise(append(paths, e.macIPs...)); err != nil {
		return err
	}

	before, err := e.d.memory()
	if err != nil {
		return err
	}
	counter := e.b.sw.countFlows(bridgeName, ovsPoll)
	peer := map[string]any{"name": benchPeerName, "address": benchBGPAddr, "asn": bgpASN, "max_routes": 2*(n+k) + 1000}
	if _, err := e.d.must(ctx, http.MethodPost, "/v1/bgp-peers", peer, http.StatusCreated); err != nil {
		counter.stop()
		return err
	}
	up, err := e.sp.waitEstablished(ctx)
	if err != nil {
		counter.stop()
		return err
	}
	st, reconciledAt, err := e.waitRoutes(ctx, n, k)
	if err != nil {
		counter.stop()
		return err
	}
	inOVS, err := counter.reached(ctx, st.Flows)
	if err != nil {
		return err
	}
	e.flows = st.Flows
	e.b.log.Info("EVPN routes installed", "routes", n+k, "flows", st.Flows,
		"reconciled", reconciledAt.Sub(up), "in_ovs", inOVS.Sub(up))
	baseline, err := e.b.bundleBaseline(st.Flows)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	floor, err := e.gobgpFloor(ctx, n+k)
	if err != nil {
		return err
	}
	rep := &e.b.rep
	rep.add(label, "remote VTEPs (type-3 routes)", strconv.Itoa(k), "", "", "")
	rep.add(label, "type-2 routes (MAC+IP) from the peer", strconv.Itoa(n), "", "", "")
	rep.add(label, "l2gwd flows on the bridge", strconv.Itoa(st.Flows), "", "", "")
	rep.addTimed(label, "session up to status reconciled", reconciledAt.Sub(up), baseline, "")
	rep.addTimed(label, "session up to OVS counts all flows", inOVS.Sub(up), baseline, "ratio ≤ 1.5")
	if e.b.bulkInOVS > 0 && e.b.opts.n == e.b.opts.evpnRoutes { // the same bindings
		rep.addTimed(label, "  same, against the bulk API path (1)", inOVS.Sub(up), e.b.bulkInOVS, "ratio ≤ 1.5")
	} else {
		rep.add(label, "  same, against the bulk API path (1)", fmtDuration(inOVS.Sub(up)), "1 skipped", "", "ratio ≤ 1.5")
	}
	rep.addTimed(label, "  GoBGP alone receiving the routes (floor)", floor.elapsed, baseline, "")
	rep.addTimed(label, "  l2gwd against GoBGP alone", inOVS.Sub(up), floor.elapsed, "")
	m, err := e.d.memory()
	if err != nil {
		return err
	}
	rep.add(label, "l2gwd peak RSS with the routes (VmHWM)", fmtBytes(m.hwm), "", "", "")
	rep.add(label, "peak RSS per received route", fmt.Sprintf("%d B", m.hwm/int64(n+k)), "", "", "≤ 2048 B")
	rep.add(label, "  of which added by the routes", fmt.Sprintf("%d B", (m.hwm-before.hwm)/int64(n+k)), "", "", "")
	rep.add(label, "  GoBGP alone: peak RSS per route (floor)", fmt.Sprintf("%d B", floor.hwm/int64(n+k)), "", "", "")
	return nil
}

// waitRoutes waits until l2gwd has n remote MACs and k flood targets from
// EVPN in the switch, and returns that status and when it was first seen.
// A status that says so is taken when the next one agrees: l2gwd counts a
// feed's change in its origin's figures a moment before the reconciler
// learns of it, so one read may show the new counts with the previous
// pass's reconciled and flows.
func (e *evpnRun) waitRoutes(ctx context.Context, n, k int) (status, time.Time, error) {
	done := func(s status) bool {
		macs, floods := evpnOrigin(s)
		return ready(s) && macs == n && floods == k
	}
	for {
		st, at, err := e.d.waitStatus(ctx, statusPoll, done)
		if err != nil {
			return st, at, err
		}
		time.Sleep(statusPoll)
		again, err := e.d.status(ctx)
		if err != nil {
			return st, at, err
		}
		if done(again) && again.Flows == st.Flows {
			return st, at, nil
		}
	}
}

// routeChanges is figure 2: one MAC at a time moves to the next VTEP (the
// new VTEP's route with a MAC mobility sequence one higher, then the old
// VTEP's withdrawn, as the old site does once it hears the new), each timed from
// the benchmark speaker taking the route until OVS reports the MAC's flow
// toward the new VTEP.
func (e *evpnRun) routeChanges(ctx context.Context, label string) error {
	n, k := e.b.opts.evpnRoutes, len(e.vteps)
	changes := min(evpnChanges, n)
	mon, err := e.b.sw.monitor(ctx, bridgeName, false)
	if err != nil {
		return err
	}
	defer mon.stop()
	var lat latencies
	for j := range changes {
		took, err := e.move(ctx, mon, j*n/changes, k)
		if err != nil {
			return err
		}
		lat = append(lat, took)
	}
	after, err := settled(ctx, e.b.sw, e.d)
	if err != nil {
		return err
	}
	if after != e.flows {
		return fmt.Errorf("OVS has %d l2gwd flows after the moves, expected %d", after, e.flows)
	}
	rep := &e.b.rep
	rep.add(label, "MACs moved to another VTEP, one at a time", strconv.Itoa(len(lat)), "", "", "")
	rep.addTimed(label, "route to flow in OVS, p50", lat.percentile(50), 0, "")
	rep.addTimed(label, "route to flow in OVS, p99", lat.percentile(99), 0, "≤ 20 ms")
	rep.addTimed(label, "route to flow in OVS, max", lat.percentile(100), 0, "")
	return nil
}

// move moves binding i's MAC from its VTEP to the next one and returns how
// long until OVS reported its flow toward the new VTEP.
func (e *evpnRun) move(ctx context.Context, mon *flowMonitor, i, k int) (time.Duration, error) {
	bd := bindingFor(i)
	old := e.macIPs[i]
	from, moved := e.movedTo[i]
	if !moved {
		from = i % k
	}
	to := e.vteps[(from+1)%k]
	p, err := e.routes.macIP(to, bd.MAC, netip.MustParseAddr(bd.IPs[0]), e.seq[i]+1)
	if err != nil {
		return 0, err
	}
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.sp.advertise([]*apiutil.Path{p}); err != nil {
		return 0, err
	}
	want := "dl_dst=" + bd.MAC
	at, err := mon.waitFor(waitCtx, func(line string) bool {
		return strings.Contains(line, want) && strings.Contains(line, to.String())
	})
	if err != nil {
		return 0, fmt.Errorf("MAC %s moved to %s: %w", bd.MAC, to, err)
	}
	if err := e.sp.withdraw([]*apiutil.Path{old}); err != nil {
		return 0, err
	}
	e.macIPs[i], e.movedTo[i] = p, (from+1)%k
	e.seq[i]++
	return at.Sub(start), nil
}

// localMACs is figure 4: l2gwd learns N MACs from frames written on its
// local attachment (OVS learns them, l2gwd's local-MAC watch sees them)
// and advertises a type-2 route for each; timed from the first frame until
// the benchmark speaker has the last route.
func (e *evpnRun) localMACs(ctx context.Context, label string) error {
	n, k := e.b.opts.evpnRoutes, len(e.vteps)
	sink := net.HardwareAddr(sinkMAC[:]).String()
	full := e.sp.expectLocal(1, func(mac [6]byte) bool { return mac == sinkMAC })
	if err := e.host.Write(ovstest.Frame(sink, "ff:ff:ff:ff:ff:ff", 0)); err != nil {
		return err
	}
	select {
	case <-full:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("l2gwd did not advertise the sink MAC %s", sink)
	}
	frames := make([][]byte, n)
	for i := range n {
		mac := localMAC(i)
		frames[i] = ovstest.Frame(net.HardwareAddr(mac[:]).String(), sink, 0)
	}
	full = e.sp.expectLocal(n, isLocalMAC)
	e.b.log.Info("sending frames from local MACs", "macs", n, "rate", learnRate)
	pending := frames
	sent, passes := 0, 0
	var start time.Time
	var lastFrame time.Time
	for len(pending) > 0 {
		if passes++; passes > learnPasses {
			return fmt.Errorf("after %d passes l2gwd advertised %d of %d local MACs (%s)", learnPasses, n-len(pending), n, e.learnedSummary(ctx))
		}
		if passes > 1 {
			// A MAC OVS has not learned may still have a datapath
			// flow that takes its frames without running the learn
			// action (seen on a veth port): drop them all.
			if err := e.b.sw.purgeDatapath(); err != nil {
				return err
			}
		}
		at, err := e.sendPaced(pending)
		if err != nil {
			return err
		}
		if passes == 1 {
			start = at
		}
		lastFrame = time.Now()
		sent += len(pending)
		if err := e.sp.waitLocal(ctx, full, time.Second); err != nil {
			return err
		}
		pending = pending[:0]
		for _, i := range e.sp.missingLocal(n, localMAC) {
			pending = append(pending, frames[i])
		}
		e.b.log.Info("local MACs sent", "pass", passes, "advertised", n-len(pending), "of", n)
	}
	last := e.sp.lastLocalAt()
	took := last.Sub(start)
	m, err := e.d.memory()
	if err != nil {
		return err
	}
	rep := &e.b.rep
	rep.add(label, "local MACs learned from frames", strconv.Itoa(n), "", "", "")
	rep.add(label, fmt.Sprintf("frames sent at %d/s (passes)", learnRate), fmt.Sprintf("%d (%d)", sent, passes), "", "", "")
	rep.addTimed(label, "first frame to the peer has all routes", took, 0, "")
	rep.addTimed(label, "last frame to the peer has all routes", last.Sub(lastFrame), 0, "")
	rep.add(label, "local MACs advertised per second", fmt.Sprintf("%.0f", float64(n)/took.Seconds()), "", "", "")
	rep.add(label, "l2gwd peak RSS after advertising", fmtBytes(m.hwm), "", "", "")
	rep.add(label, "  per route, received and advertised", fmt.Sprintf("%d B", m.hwm/int64(2*n+k)), "", "", "")
	return nil
}

// sendPaced writes frames on the local attachment at learnRate and
// returns when it started.
func (e *evpnRun) sendPaced(frames [][]byte) (time.Time, error) {
	start := time.Now()
	for i, f := range frames {
		if i%learnBurst == 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / learnRate)))
		}
		if err := e.host.Write(f); err != nil {
			return start, err
		}
	}
	return start, nil
}

// learnedSummary says, for an error, what OVS learned and l2gwd
// advertised.
func (e *evpnRun) learnedSummary(ctx context.Context) string {
	var learned struct {
		Learned []json.RawMessage `json:"learned"`
	}
	var peer struct {
		Advertised uint64 `json:"routes_advertised"`
	}
	out, err := e.d.must(ctx, http.MethodGet, "/v1/networks/"+evpnNetwork+"/learned", nil, http.StatusOK)
	if err == nil {
		err = json.Unmarshal(out, &learned)
	}
	if err != nil {
		return err.Error()
	}
	out, err = e.d.must(ctx, http.MethodGet, "/v1/bgp-peers/"+benchPeerName, nil, http.StatusOK)
	if err == nil {
		err = json.Unmarshal(out, &peer)
	}
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("l2gwd lists %d learned MACs and counts %d routes advertised", len(learned.Learned), peer.Advertised)
}
