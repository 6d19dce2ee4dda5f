package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The hardware_vtep scenario's objects (issue 13): one physical switch
// with one bound port, one logical switch, remote MACs behind a few
// locators, all in documentation ranges.
const (
	vtepMACs        = 10000 // Ucast_Macs_Remote rows committed at once: the number, whatever -n says
	vtepSwitch      = "ps7"
	vtepPort        = "ps7p0" // the physical port bound to the logical switch (VLAN 0): an internal port
	vtepLS          = "ls0"
	vtepKey         = 5003
	vtepLocators    = 4       // remote locators 198.51.100.21 and on; the first is also unknown-dst
	remoteMACPrefix = "02:03" // remote MACs are 02:03:<row>
	underlayBridge  = "br-ul" // figure C: the VTEP's tunnel IP on its device, vxlan packets out through it
	underlayPort    = "ul0"   // where the benchmark sees them
)

// How the scenario watches a VTEP: OVS's flow count every vtepPoll, or
// the target's own poll (ovs-vtep adds one flow per ovs-ofctl; counting
// faster only slows OVS down), and a restart has settled once the flows
// are all there and OVS reported no change for restartQuiet (more than two
// of ovs-vtep's ~1.3 s passes).
const (
	vtepPoll     = 100 * time.Millisecond
	restartQuiet = 3 * time.Second
)

// arpHost is the local host behind the bound port that asks for a remote
// row's ipaddr in figure C.
var arpHost = struct {
	mac [6]byte
	ip  netip.Addr
}{[6]byte{0x02, 0x0e, 0, 0, 0, 1}, netip.MustParseAddr(bindingFor(0).IPs[0])}

// remoteMAC is row i's MAC: 02:03:<i>.
func remoteMAC(i int) string {
	return fmt.Sprintf("%s:%02x:%02x:%02x:%02x", remoteMACPrefix, byte(i>>24), byte(i>>16), byte(i>>8), byte(i))
}

// remoteIP is row i's ipaddr: the address of binding i+1 (IPv4 first,
// then IPv6 of 2001:db8::/32), binding 0's being arpHost's.
func remoteIP(i int) string { return bindingFor(i + 1).IPs[0] }

// remoteLocator is the i-th remote locator: 198.51.100.21 and on.
func remoteLocator(i int) string {
	return netip.AddrFrom4([4]byte{198, 51, 100, byte(21 + i)}).String()
}

// vtepTarget is a VTEP under test: what the workload, which drives it only
// through vtep.db, needs to know of it to start, stop and watch it.
type vtepTarget struct {
	name string
	// setup brings it up the first time. Then it serves the physical
	// switch vtepSwitch with tunnel_ips localTunnel, vtepPort is an
	// internal port of its bridge, and vtep.db lists it as the switch's
	// Physical_Port.
	setup func(ctx context.Context) error
	start func(ctx context.Context) error // after stop
	stop  func() error
	// wired waits until it has bound vtepLS to vtepPort and floods toward
	// vtepLS's unknown-dst locator.
	wired func(ctx context.Context) error
	close func() // stops it and removes what setup made
	// macBridge holds its remote-MAC flows, which the ovs-ofctl selector
	// macFlows selects (and nothing else); it has flowsPerMAC per row.
	macBridge   string
	macFlows    string
	flowsPerMAC int
	// poll is how often figure A counts its flows (vtepPoll when 0): a
	// resolution that fits the figure.
	poll time.Duration
}

// vtepFigures is what the workload measured of one VTEP.
type vtepFigures struct {
	name      string
	flows     int           // remote-MAC flows once every row is in
	committed time.Duration // the transaction answered
	inOVS     time.Duration // commit to every remote-MAC flow in OVS
	restart   restartFigures
	arp       arpFigure
}

// restartFigures are a VTEP restart's flow changes, as ovs-ofctl monitor
// on its bridge reported them, from stopping it until it settled.
type restartFigures struct {
	mac, all   flowTally // of remote-MAC flows, of every flow on the bridge
	bridgeGone int       // times the bridge vanished (its flows deleted)
	// unreportedMAC of the remote-MAC flows deleted went with the bridge
	// without OVS reporting them; paused: OVS paused the monitor, the
	// counts are lower bounds.
	unreportedMAC int
	paused        bool
	missing       time.Duration
	lastMACBack   time.Duration // stop to the last remote-MAC flow added
}

// flowTally counts flow changes by kind.
type flowTally struct{ deleted, added, modified int }

func (t flowTally) String() string {
	return fmt.Sprintf("%d / %d / %d", t.deleted, t.added, t.modified)
}

// arpFigure is what became of an ARP request for a remote row's ipaddr.
type arpFigure struct {
	target  netip.Addr
	reply   net.HardwareAddr // the MAC a reply on the bound port gave, if any
	tunnel  netip.Addr       // where a copy went out through a tunnel, if any
	vni     uint32
	waited  time.Duration
	replied time.Duration // request to reply
}

// verdict says whether the request was answered or flooded.
func (a arpFigure) verdict() string {
	var parts []string
	if a.reply != nil {
		parts = append(parts, fmt.Sprintf("answered %s in %s", a.reply, fmtDuration(a.replied)))
	} else {
		parts = append(parts, fmt.Sprintf("no reply in %s", fmtDuration(a.waited)))
	}
	if a.tunnel.IsValid() {
		parts = append(parts, fmt.Sprintf("flooded (VNI %d to %s)", a.vni, a.tunnel))
	}
	return strings.Join(parts, ", ")
}

// vtepctl runs vtep-ctl against the instance's vtep.db.
func (s *ovsSwitch) vtepctl(args ...string) (string, error) {
	return s.Exec("vtep-ctl", append([]string{"--db=" + s.Endpoint(), "--timeout=30"}, args...)...)
}

// vtep is scenario 7: the same hardware_vtep workload against each VTEP
// under test, side by side: l2gwd, then ovs-vtep (the baseline).
func (b *bench) vtep(ctx context.Context, label string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	l2gwd, err := b.driveVTEP(ctx, newL2gwdVtep(b))
	if err != nil {
		return fmt.Errorf("l2gwd: %w", err)
	}
	base := newOVSVtep(b.sw, filepath.Join(b.opts.workDir, "ovs-vtep"))
	fig, err := b.driveVTEP(ctx, base)
	if err != nil {
		return fmt.Errorf("%s: %w", base.name, err)
	}
	b.reportVTEP(label, fig, &l2gwd)
	return nil
}

// addVTEPDB creates an empty vtep.db and has the benchmark's ovsdb-server
// serve it next to conf.db, on the same socket, as ovs-vtep's
// documentation does; remove takes it away again.
func (b *bench) addVTEPDB() (remove func(), err error) {
	ctl := filepath.Join(b.sw.Dir, "ovsdb-server.ctl")
	file := filepath.Join(b.sw.Dir, "vtep.db")
	remove = func() {
		b.sw.Exec("ovs-appctl", "-t", ctl, "ovsdb-server/remove-db", vtepDB)
		os.Remove(file)
	}
	if _, err := b.sw.Exec("ovsdb-tool", "create", file, "/usr/share/openvswitch/vtep.ovsschema"); err != nil {
		return remove, err
	}
	_, err = b.sw.Exec("ovs-appctl", "-t", ctl, "ovsdb-server/add-db", file)
	return remove, err
}

// driveVTEP runs the workload against t with a vtep.db of its own: set
// up, the logical switch bound, figure A (vtepMACs rows in one
// transaction), B (a restart), C (an ARP for a row's ipaddr); t and its
// vtep.db are removed at the end.
func (b *bench) driveVTEP(ctx context.Context, t *vtepTarget) (vtepFigures, error) {
	fig := vtepFigures{name: t.name, flows: vtepMACs * t.flowsPerMAC}
	removeDB, err := b.addVTEPDB()
	defer removeDB()
	if err != nil {
		return fig, err
	}
	b.log.Info("setting up the VTEP under test", "vtep", t.name)
	defer t.close()
	if err := t.setup(ctx); err != nil {
		return fig, err
	}
	host, err := b.sw.hostOn(vtepPort)
	if err != nil {
		return fig, err
	}
	defer host.Close()
	if _, err := b.sw.vtepctl("add-ls", vtepLS, "--", "set", "logical_switch", vtepLS, "tunnel_key="+strconv.Itoa(vtepKey),
		"--", "bind-ls", vtepSwitch, vtepPort, "0", vtepLS,
		"--", "add-mcast-remote", vtepLS, "unknown-dst", remoteLocator(0)); err != nil {
		return fig, err
	}
	if err := t.wired(ctx); err != nil {
		return fig, err
	}
	count := func() (int, error) { return b.sw.flowCount(t.macBridge, t.macFlows) }
	if n, err := count(); err != nil || n != 0 {
		return fig, fmt.Errorf("%d remote-MAC flows before the commit (error %v)", n, err)
	}

	b.log.Info("committing remote MACs in one transaction", "vtep", t.name, "rows", vtepMACs)
	start := time.Now()
	if err := commitRemoteMACs(b.sw.DBSock()); err != nil {
		return fig, err
	}
	fig.committed = time.Since(start)
	poll := vtepPoll
	if t.poll > 0 {
		poll = t.poll
	}
	at, err := waitCount(ctx, t.macBridge, count, fig.flows, poll)
	if err != nil {
		return fig, err
	}
	fig.inOVS = at.Sub(start)
	b.log.Info("remote MACs in OVS", "vtep", t.name, "flows", fig.flows, "took", fig.inOVS)

	b.log.Info("restarting the VTEP under test", "vtep", t.name)
	if fig.restart, err = b.restartVTEP(ctx, t, count, fig.flows); err != nil {
		return fig, err
	}
	b.log.Info("restart settled", "vtep", t.name, "remote-MAC flows deleted/added/modified", fig.restart.mac.String(),
		"missing", fig.restart.missing)

	if fig.arp, err = b.askRemoteIP(host); err != nil {
		return fig, err
	}
	b.log.Info("ARP for a remote ipaddr", "vtep", t.name, "result", fig.arp.verdict())
	return fig, nil
}

// commitRemoteMACs writes vtepMACs Ucast_Macs_Remote rows of vtepLS, with
// their locators, in one transaction on the vtep.db of the ovsdb-server at
// sock. Locators that exist already (the unknown-dst one) are reused:
// (encapsulation_type, dst_ip, tunnel_key) is unique.
func commitRemoteMACs(sock string) error {
	locs := make([]string, vtepLocators)
	for i := range locs {
		locs[i] = remoteLocator(i)
	}
	found, err := selectUUIDs(sock, "Physical_Locator", "dst_ip", locs)
	if err != nil {
		return err
	}
	ls, err := selectUUIDs(sock, "Logical_Switch", "name", []string{vtepLS})
	if err != nil {
		return err
	}
	if len(ls[0]) != 1 {
		return fmt.Errorf("%d logical switches named %s", len(ls[0]), vtepLS)
	}
	ops := make([]ovsdbOp, 0, vtepLocators+vtepMACs)
	refs := make([][]string, vtepLocators)
	for i, ip := range locs {
		if len(found[i]) > 0 {
			refs[i] = []string{"uuid", found[i][0]}
			continue
		}
		name := fmt.Sprintf("loc%d", i)
		ops = append(ops, ovsdbOp{"op": "insert", "table": "Physical_Locator", "uuid-name": name,
			"row": map[string]any{"encapsulation_type": "vxlan_over_ipv4", "dst_ip": ip}})
		refs[i] = []string{"named-uuid", name}
	}
	for i := range vtepMACs {
		ops = append(ops, ovsdbOp{"op": "insert", "table": "Ucast_Macs_Remote", "row": map[string]any{
			"MAC": remoteMAC(i), "ipaddr": remoteIP(i), "logical_switch": []string{"uuid", ls[0][0]},
			"locator": refs[i%vtepLocators]}})
	}
	_, err = transact(sock, vtepDB, ops, 5*time.Minute)
	return err
}

// restartVTEP stops t and starts it again with want remote-MAC flows in,
// and reports the flow changes ovs-ofctl monitor saw on its bridge until
// it settled: the remote-MAC flows all there and no change for
// restartQuiet.
func (b *bench) restartVTEP(ctx context.Context, t *vtepTarget, count func() (int, error), want int) (restartFigures, error) {
	var fig restartFigures
	w, err := b.sw.watchBridge(ctx, t.macBridge, t.macFlows, isRemoteMACFlow)
	if err != nil {
		return fig, err
	}
	defer w.close()
	start := time.Now()
	if err := t.stop(); err != nil {
		return fig, err
	}
	if err := t.start(ctx); err != nil {
		return fig, err
	}
	for {
		polled := time.Now()
		n, err := count()
		s := w.state()
		quietSince := s.lastEvent
		if quietSince.Before(start) {
			quietSince = start
		}
		if err == nil && n == want && s.armed && time.Since(quietSince) >= restartQuiet {
			fig.mac, fig.all, fig.bridgeGone = s.mac, s.all, s.rearmed
			fig.unreportedMAC, fig.paused = s.unreportedMAC, s.paused
			if s.mac.deleted > 0 {
				fig.missing = s.lastMACAdded.Sub(s.firstMACDeleted)
			}
			if !s.lastMACAdded.IsZero() {
				fig.lastMACBack = s.lastMACAdded.Sub(start)
			}
			return fig, nil
		}
		select {
		case <-ctx.Done():
			return fig, fmt.Errorf("restart of %s: %d of %d remote-MAC flows (last error %v): %w", t.name, n, want, err, ctx.Err())
		case <-time.After(max(vtepPoll, time.Since(polled))):
		}
	}
}

// isRemoteMACFlow tells whether a flow change ovs-ofctl monitor reports
// is of a remote-MAC flow: one that matches a remote row's MAC.
func isRemoteMACFlow(line string) bool { return strings.Contains(line, "dl_dst="+remoteMACPrefix+":") }

// bridgeWatch is ovs-ofctl monitor on a bridge kept up while the bridge
// comes and goes: when it is deleted (OVS reports its flows deleted and
// closes the connection), the watch arms a new monitor as soon as it is
// back, which reports the flows already there as added.
type bridgeWatch struct {
	mu sync.Mutex
	s  watchState
	// stop ends the watch; done is closed when it has ended.
	stop context.CancelFunc
	done chan struct{}
}

// watchState is what a bridgeWatch has seen.
type watchState struct {
	mac, all flowTally
	// unreported are the flows (remote-MAC ones, all) on the bridge when
	// its monitor ended without reporting them deleted: OVS reports the
	// deletion of a bridge's flows only as far as the connection lasts.
	// They are counted as deleted, too.
	unreportedMAC, unreported int
	liveMAC, live             int  // flows on the bridge, by the counts at arming and the changes since
	paused                    bool // OVS paused a monitor: the counts are lower bounds
	armed                     bool // a monitor is on the bridge
	rearmed                   int  // times the bridge vanished and the watch armed again
	lastEvent                 time.Time
	firstMACDeleted           time.Time
	lastMACAdded              time.Time
}

// watchBridge starts watching bridge, counting the changes isMAC accepts
// (of the flows macFlows selects) apart as well, and returns once the
// first monitor is armed. Nothing may change the bridge's flows until it
// returns.
func (s *ovsSwitch) watchBridge(ctx context.Context, bridge, macFlows string, isMAC func(string) bool) (*bridgeWatch, error) {
	m, err := s.monitor(ctx, bridge, false)
	if err != nil {
		return nil, err
	}
	st := watchState{armed: true}
	if st.live, err = s.flowCount(bridge, ""); err == nil {
		st.liveMAC, err = s.flowCount(bridge, macFlows)
	}
	if err != nil {
		m.stop()
		return nil, err
	}
	wctx, stop := context.WithCancel(ctx)
	w := &bridgeWatch{s: st, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			w.follow(wctx, m, isMAC)
			if wctx.Err() != nil {
				return
			}
			// The bridge is gone: watch it again once it is back.
			for m = nil; m == nil; {
				if m, _ = s.monitor(wctx, bridge, true); m == nil {
					select {
					case <-wctx.Done():
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
			w.mu.Lock()
			w.s.armed = true
			w.s.rearmed++
			w.mu.Unlock()
		}
	}()
	return w, nil
}

// follow tallies m's reports until it ends (with every report it read) or
// ctx does, and stops it.
func (w *bridgeWatch) follow(ctx context.Context, m *flowMonitor, isMAC func(string) bool) {
	defer m.stop()
	for {
		select {
		case ev := <-m.events:
			w.note(ev, isMAC)
		case <-m.done:
			for {
				select {
				case ev := <-m.events:
					w.note(ev, isMAC)
				default:
					w.lost()
					return
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

// lost books the end of a monitor (the bridge gone): the flows it had
// not reported deleted went with the bridge.
func (w *bridgeWatch) lost() {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := &w.s
	if s.liveMAC > 0 && s.firstMACDeleted.IsZero() {
		s.firstMACDeleted = time.Now()
	}
	s.unreportedMAC += max(s.liveMAC, 0)
	s.unreported += max(s.live, 0)
	s.mac.deleted += max(s.liveMAC, 0)
	s.all.deleted += max(s.live, 0)
	s.liveMAC, s.live, s.armed = 0, 0, false
}

// note tallies one reported change.
func (w *bridgeWatch) note(ev flowEvent, isMAC func(string) bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if strings.Contains(ev.line, monitorPaused) {
		w.s.paused = true
		return
	}
	mac := isMAC(ev.line)
	var kind func(*flowTally) *int
	switch {
	case strings.Contains(ev.line, "event=DELETED"):
		kind = func(t *flowTally) *int { return &t.deleted }
		w.s.live--
		if mac {
			w.s.liveMAC--
			if w.s.firstMACDeleted.IsZero() {
				w.s.firstMACDeleted = ev.at
			}
		}
	case strings.Contains(ev.line, "event=ADDED"):
		kind = func(t *flowTally) *int { return &t.added }
		w.s.live++
		if mac {
			w.s.liveMAC++
			w.s.lastMACAdded = ev.at
		}
	case strings.Contains(ev.line, "event=MODIFIED"):
		kind = func(t *flowTally) *int { return &t.modified }
	default:
		return
	}
	*kind(&w.s.all)++
	if mac {
		*kind(&w.s.mac)++
	}
	w.s.lastEvent = ev.at
}

// state is what the watch has seen so far.
func (w *bridgeWatch) state() watchState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.s
}

// close ends the watch.
func (w *bridgeWatch) close() {
	w.stop()
	<-w.done
}

// askRemoteIP is figure C: the local host behind the bound port sends an
// ARP request for row 0's ipaddr; a reply back on the port means the VTEP
// answered it, a copy leaving through a tunnel means it flooded it. The
// VTEP's tunnels reach the benchmark through an underlay made for this:
// the VTEP's tunnel IP on underlayBridge, the remote locators' neighbour
// entries set, the vxlan packets seen on underlayPort.
func (b *bench) askRemoteIP(host interface{ Write([]byte) error }) (arpFigure, error) {
	fig := arpFigure{target: netip.MustParseAddr(remoteIP(0)), waited: 2 * time.Second}
	cleanup, err := b.underlay()
	defer cleanup()
	if err != nil {
		return fig, err
	}
	port, err := openCapture(vtepPort)
	if err != nil {
		return fig, err
	}
	defer port.close()
	tunnels, err := openCapture(underlayPort)
	if err != nil {
		return fig, err
	}
	defer tunnels.close()
	start := time.Now()
	if err := host.Write(arpRequestFrame(arpHost.mac, arpHost.ip, fig.target)); err != nil {
		return fig, err
	}
	deadline := start.Add(fig.waited)
	reply, err := port.find(deadline, func(f []byte) bool {
		op, _, spa, _, ok := arpOf(f)
		return ok && op == arpReply && spa == fig.target
	})
	if err != nil {
		return fig, err
	}
	if reply != nil {
		fig.replied = time.Since(start)
		_, fig.reply, _, _, _ = arpOf(reply)
	}
	flooded, err := tunnels.find(deadline, func(f []byte) bool {
		_, _, inner, ok := vxlanInner(f)
		if !ok {
			return false
		}
		op, _, _, tpa, ok := arpOf(inner)
		return ok && op == arpRequest && tpa == fig.target
	})
	if err != nil {
		return fig, err
	}
	if flooded != nil {
		fig.tunnel, fig.vni, _, _ = vxlanInner(flooded)
	}
	return fig, nil
}

// underlay gives the VTEP's tunnel IP (localTunnel) to the device of a
// fresh bridge, underlayBridge, whose internal port underlayPort sees what
// the bridge floods, and sets the remote locators' neighbour entries there
// so that userspace tunnels send to them; cleanup removes it.
func (b *bench) underlay() (cleanup func(), err error) {
	cleanup = func() { b.sw.vsctl("--if-exists", "del-br", underlayBridge) }
	if _, err := b.sw.vsctl("add-br", underlayBridge, "--", "set", "bridge", underlayBridge, "datapath_type=netdev",
		"--", "add-port", underlayBridge, underlayPort, "--", "set", "interface", underlayPort, "type=internal"); err != nil {
		return cleanup, err
	}
	ctl := filepath.Join(b.sw.Dir, "ovs-vswitchd.ctl")
	cmds := [][]string{
		{"sysctl", "-qw", "net.ipv6.conf." + underlayBridge + ".disable_ipv6=1"},
		{"sysctl", "-qw", "net.ipv6.conf." + underlayPort + ".disable_ipv6=1"},
		{"ip", "addr", "add", localTunnel + "/24", "dev", underlayBridge},
		{"ip", "link", "set", underlayBridge, "up"},
		{"ip", "link", "set", underlayPort, "up"},
	}
	for i := range vtepLocators {
		cmds = append(cmds, []string{"ovs-appctl", "-t", ctl, "tnl/neigh/set", underlayBridge, remoteLocator(i),
			fmt.Sprintf("02:0d:00:00:00:%02x", 21+i)})
	}
	for _, c := range cmds {
		if _, err := b.sw.Exec(c[0], c[1:]...); err != nil {
			return cleanup, err
		}
	}
	// ovs-vswitchd learns the route from the kernel a moment later.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out, err := b.sw.Exec("ovs-appctl", "-t", ctl, "ovs/route/lookup", remoteLocator(0))
		if err == nil && strings.Contains(out, "dev "+underlayBridge) {
			return cleanup, nil
		}
		if time.Now().After(deadline) {
			return cleanup, fmt.Errorf("ovs-vswitchd has no route to %s through %s: %q %v", remoteLocator(0), underlayBridge, out, err)
		}
	}
}

// reportVTEP adds scenario 7's rows: base's figures (ovs-vtep) in the
// baseline column, measured's (l2gwd) in the value column, "not yet" while
// there is none, and their ratio.
func (b *bench) reportVTEP(label string, base vtepFigures, measured *vtepFigures) {
	r := &b.rep
	value := func(f func(vtepFigures) string) string {
		if measured == nil {
			return "not yet"
		}
		return f(*measured)
	}
	timed := func(figure string, f func(vtepFigures) time.Duration, target string) {
		v, ratio := "not yet", ""
		if measured != nil {
			v = fmtDuration(f(*measured))
			if f(base) > 0 {
				ratio = fmt.Sprintf("%.4f", float64(f(*measured))/float64(f(base)))
			}
		}
		r.add(label, figure, v, fmtDuration(f(base)), ratio, target)
	}
	text := func(figure string, f func(vtepFigures) string, target string) {
		r.add(label, figure, value(f), f(base), "", target)
	}
	text("VTEP under test (value: l2gwd, baseline: ovs-vtep)", func(v vtepFigures) string { return v.name }, "")
	r.add(label, "Ucast_Macs_Remote rows in one transaction", strconv.Itoa(vtepMACs), "", "", "")
	text("remote-MAC flows in OVS", func(v vtepFigures) string { return strconv.Itoa(v.flows) }, "")
	timed("commit answered by ovsdb-server", func(v vtepFigures) time.Duration { return v.committed }, "")
	timed("commit to every remote-MAC flow in OVS", func(v vtepFigures) time.Duration { return v.inOVS }, "≥ 200× faster (≤ 0.005)")
	timed("  same, per row", func(v vtepFigures) time.Duration { return v.inOVS / vtepMACs }, "")
	timed("  commit answered to every flow in OVS", func(v vtepFigures) time.Duration { return v.inOVS - v.committed }, "")
	text("restart: remote-MAC flows deleted / added / modified", func(v vtepFigures) string { return v.restart.mac.String() }, "0 / 0 / 0")
	text("  of the deletions, unreported (bridge gone)", func(v vtepFigures) string { return strconv.Itoa(v.restart.unreportedMAC) }, "")
	text("restart: all flows of its bridge del / add / mod", func(v vtepFigures) string {
		if v.restart.paused {
			return v.restart.all.String() + " (OVS paused the monitor: at least)"
		}
		return v.restart.all.String()
	}, "")
	text("restart: bridge deleted and made again", func(v vtepFigures) string { return strconv.Itoa(v.restart.bridgeGone) }, "0")
	timed("restart: remote-MAC flows missing for", func(v vtepFigures) time.Duration { return v.restart.missing }, "0")
	timed("restart: stop to the last remote-MAC flow back", func(v vtepFigures) time.Duration { return v.restart.lastMACBack }, "")
	text("ARP for row 0's ipaddr "+remoteIP(0), func(v vtepFigures) string { return v.arp.verdict() }, "answered")
}
