package app

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/contiv/libOpenflow/openflow13"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/l2gw/l2gw/flows"
)

// metricsNamespace prefixes every l2gw metric.
const metricsNamespace = "l2gw"

// Kinds of reconcile pass, the kind label of the pass duration histogram.
const (
	passFull        = "full"        // after a (re)connection, a failure or new ofports: dump or model vs. everything
	passIncremental = "incremental" // the changes committed since the last pass
)

// learnedDumpTimeout bounds the dump of learned flows one scrape makes:
// Prometheus's default scrape timeout is 10 s.
const learnedDumpTimeout = 3 * time.Second

// Instrument registers the reconciler's metrics in reg (namespace l2gw):
//
//   - openflow_connected, ovsdb_connected, bridge_reconciled (gauges, 0/1),
//     flow_mods_total and bundles_total (counters): read from Status at
//     scrape time, the same numbers GET /v1/status serves;
//   - flows{table}: the flows l2gwd owns on the bridge, per pipeline table,
//     as of the last bundle the switch committed (absent until the first
//     dump of the bridge's flows);
//   - reconcile_pass_duration_seconds{kind}: every pass against a
//     connected switch, full or incremental, failed or not;
//   - learned_macs{network}: the MACs the data path has learned in each
//     network, counted by dumping the learned flows at scrape time (absent
//     while no switch is connected);
//   - host_snoop_copies_total{result}: with host snooping, the copies of
//     hosts' ARP and ND l2gwd received through the meter, as
//     "announcement" (taken) or "ignored" (announcing no address).
//
// Call it once, before Run. It fails when reg already holds these metrics.
func (r *Reconciler) Instrument(reg prometheus.Registerer) error {
	m := &reconcilerMetrics{
		passSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "reconcile_pass_duration_seconds",
			Help: "Duration of reconcile passes against a connected switch, by kind (full: dump or model compared with the whole desired state; incremental: the committed changes).",
			// 0.5 ms (one binding) to 33 s (a full pass at hundreds of
			// thousands of flows on a slow switch).
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}, []string{"kind"}),
		tableFlows: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metricsNamespace, Name: "flows",
			Help: "Flows l2gwd owns on the bridge, by pipeline table, as of the last committed bundle.",
		}, []string{"table"}),
	}
	collectors := []prometheus.Collector{m.passSeconds, m.tableFlows, newStatusCollector(r.Status),
		&learnedCollector{sw: r.sw, state: r.state, desc: prometheus.NewDesc(
			prometheus.BuildFQName(metricsNamespace, "", "learned_macs"),
			"MACs the data path has learned (from local ports and from remote gateways), by network.",
			[]string{"network"}, nil)}}
	if hs, ok := r.sw.(hostSnooper); ok && r.snoop {
		for result, count := range map[string]func(flows.SnoopStats) uint64{
			"announcement": func(s flows.SnoopStats) uint64 { return s.Announcements },
			"ignored":      func(s flows.SnoopStats) uint64 { return s.Ignored },
		} {
			collectors = append(collectors, prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: metricsNamespace, Name: "host_snoop_copies_total", ConstLabels: prometheus.Labels{"result": result},
				Help: "Copies of local hosts' ARP and neighbour discovery received through the snooping meter: announcements taken, copies ignored.",
			}, func() float64 { return float64(count(hs.SnoopStats())) }))
		}
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register reconciler metrics: %w", err)
		}
	}
	r.metrics = m
	return nil
}

// reconcilerMetrics is what the reconciler's passes report, through the
// hooks below, called on the Run goroutine. A nil *reconcilerMetrics
// records nothing, so an uninstrumented reconciler pays nothing.
type reconcilerMetrics struct {
	passSeconds *prometheus.HistogramVec
	tableFlows  *prometheus.GaugeVec

	// tally is the table of every flow the switch has, by cookie: the
	// reconciler's model keeps cookies only, and a delete names a cookie,
	// not a table. It costs about 12 bytes a flow (see cookieTable). It is
	// reset from each dump of the bridge's flows, follows every mod sent,
	// and is dropped when a bundle fails (the next pass starts from a
	// dump); nil while it does not mirror the switch.
	tally    *cookieTable[uint8]
	perTable [256]int // flows in each table, per tally
}

// timePass records a pass of kind that began at start:
// defer r.metrics.timePass(kind, time.Now()).
func (m *reconcilerMetrics) timePass(kind string, start time.Time) {
	if m == nil {
		return
	}
	m.passSeconds.WithLabelValues(kind).Observe(time.Since(start).Seconds())
}

// startDump resets the tally for a dump of the bridge of about n flows;
// dumpedFlow then counts each flow it reads and endDump corrects it for
// what was sent while it was read.
func (m *reconcilerMetrics) startDump(n int) {
	if m == nil {
		return
	}
	m.tally = newCookieTable[uint8](n)
	m.perTable = [256]int{}
}

// dumpedFlow counts a flow of table the dump read.
func (m *reconcilerMetrics) dumpedFlow(cookie uint64, table uint8) {
	if m != nil {
		m.add(cookie, table)
	}
}

// endDump ends a dump: the flows of the owners cleared while it was read
// go, those sent come (their tables, by cookie).
func (m *reconcilerMetrics) endDump(e *earlyDeltas) {
	if m == nil {
		return
	}
	if m.tally == nil {
		m.startDump(0) // nothing was read
	}
	if len(e.cleared) > 0 {
		m.tally.deleteIf(func(c uint64, table uint8) bool {
			if e.clearedCookie(c) {
				m.perTable[table]--
				return true
			}
			return false
		})
	}
	for c, table := range e.tables {
		m.add(c, table)
	}
}

// watch returns emit, noting in the tally each mod it is given.
func (m *reconcilerMetrics) watch(emit func(flows.Mod) bool) func(flows.Mod) bool {
	if m == nil {
		return emit
	}
	return func(mod flows.Mod) bool {
		if m.tally != nil && len(mod) > 25 && mod[1] == openflow13.Type_FlowMod {
			// ofp_flow_mod: cookie at byte 8, table 24, command 25. A
			// delete names its flow by cookie alone (flows.DeleteCookieMod).
			// Group mods are not counted here.
			cookie := binary.BigEndian.Uint64(mod[8:16])
			switch mod[25] {
			case openflow13.FC_ADD:
				m.add(cookie, mod[24])
			case openflow13.FC_DELETE:
				m.remove(cookie)
			}
		}
		return emit(mod)
	}
}

func (m *reconcilerMetrics) add(cookie uint64, table uint8) {
	m.remove(cookie)
	m.tally.put(cookie, table)
	m.perTable[table]++
}

func (m *reconcilerMetrics) remove(cookie uint64) {
	if table, ok := m.tally.get(cookie); ok {
		m.tally.del(cookie)
		m.perTable[table]--
	}
}

// applied ends a pass's bundle: committed (err nil), the tally is
// published; failed, it no longer mirrors the switch and is dropped, and
// the flows per table stay what the last committed bundle left.
func (m *reconcilerMetrics) applied(err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.tally = nil
		return
	}
	if m.tally == nil {
		return
	}
	// Every compiled flow is checked against the pipeline's tables.
	for _, t := range flows.Pipeline {
		m.tableFlows.WithLabelValues(t.Name).Set(float64(m.perTable[t.ID]))
	}
}

// statusCollector reports the reconciler's Status at scrape time.
type statusCollector struct {
	status                                         func() Status
	openflow, ovsdb, reconciled, flowMods, bundles *prometheus.Desc
}

func newStatusCollector(status func() Status) *statusCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "", name), help, nil, nil)
	}
	return &statusCollector{
		status:     status,
		openflow:   desc("openflow_connected", "1 while the bridge's OpenFlow session with l2gwd is up."),
		ovsdb:      desc("ovsdb_connected", "1 while l2gwd's OVSDB session is up."),
		reconciled: desc("bridge_reconciled", "1 while the installed flows match the latest committed desired state."),
		flowMods:   desc("flow_mods_total", "Flow mods sent in committed bundles since l2gwd started."),
		bundles:    desc("bundles_total", "OpenFlow bundles committed since l2gwd started."),
	}
}

// Describe sends the descriptions of the status metrics.
func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.openflow, c.ovsdb, c.reconciled, c.flowMods, c.bundles} {
		ch <- d
	}
}

// Collect reads the status once and sends its metrics.
func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.status()
	ch <- prometheus.MustNewConstMetric(c.openflow, prometheus.GaugeValue, oneIf(s.Connected))
	ch <- prometheus.MustNewConstMetric(c.ovsdb, prometheus.GaugeValue, oneIf(s.OVSDBConnected))
	ch <- prometheus.MustNewConstMetric(c.reconciled, prometheus.GaugeValue, oneIf(s.Reconciled))
	ch <- prometheus.MustNewConstMetric(c.flowMods, prometheus.CounterValue, float64(s.FlowMods))
	ch <- prometheus.MustNewConstMetric(c.bundles, prometheus.CounterValue, float64(s.Bundles))
}

func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// learnedCollector counts the learned MACs of every network when scraped.
// OVS creates and expires learned flows on its own, without a reconcile
// pass, so only the switch knows their number: each scrape dumps the
// learned flows (cookies, tables and priorities only; their number is
// bounded by the learn limits) and reads each one's owner from its cookie.
// A MAC learned from a local port carries its network's ID, one learned
// from a remote gateway its connection's.
type learnedCollector struct {
	desc  *prometheus.Desc
	sw    Switch
	state *State
}

// Describe sends the description of learned_macs.
func (c *learnedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect dumps the learned flows and sends one count per network (0 for
// a network that learned nothing). While no switch is connected it sends
// nothing; when the dump fails it sends the error (the rest of the scrape
// is still served).
func (c *learnedCollector) Collect(ch chan<- prometheus.Metric) {
	if !c.sw.Connected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), learnedDumpTimeout)
	defer cancel()
	learned, err := c.sw.Dump(ctx, flows.LearnedTagCookie, flows.ControllerCookieMask)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, fmt.Errorf("count learned MACs: %w", err))
		return
	}
	var topo Snapshot
	c.state.view(func(v stateView) { topo = v.topology() })
	names := make(map[uint32]string, len(topo.Networks))
	counts := make(map[string]int, len(topo.Networks))
	for _, n := range topo.Networks {
		names[n.ID] = n.Name
		counts[n.Name] = 0
	}
	networkOf := make(map[uint32]string, len(topo.Connections))
	for _, conn := range topo.Connections {
		networkOf[conn.ID] = conn.Network
	}
	for _, f := range learned {
		var network string
		var ok bool
		switch _, owner, _ := flows.DecodeCookie(f.Cookie); owner.Kind {
		case flows.KindNetwork:
			network, ok = names[owner.ID]
		case flows.KindConnection:
			network, ok = networkOf[owner.ID]
		}
		// Entries of a network or connection deleted since they were
		// learned wait for their idle timeout: no network to count them in.
		if ok {
			counts[network]++
		}
	}
	for name, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), name)
	}
}
