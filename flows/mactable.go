package flows

import (
	"cmp"
	"encoding/binary"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/libOpenflow/util"
	"github.com/contiv/ofnet/ofctrl"
)

// macKey names a learned entry by what it matches: its network (reg6) and
// MAC (eth_dst). OVS keeps one entry per key in TableL2Lookup at
// PriorityLearned: learning a MAC again, locally or from a gateway,
// modifies that entry.
type macKey struct {
	network uint32
	mac     [6]byte
}

// macTable is what the session knows of the MACs learned on the bridge's
// local ports (entries with a network's LearnedCookie), kept up to date by
// OVS's flow monitor, and of the addresses their hosts announced
// (TableSnoop's copies, hostips.go), handed to MACWatches.
//
// On every switch connection it arms a monitor on TableL2Lookup (adds,
// deletes, modifications, with actions) and then reads the local learned
// entries with a flow-stats request filtered by cookie: the monitor itself
// could send them (its initial set) but cannot filter by cookie, and the
// table also holds every static binding (200,000 bindings made a 20 MB
// initial set). The monitor's messages and the dump's reply are read off
// the connection in the order the switch sent them (inboundTap), never
// through libOpenflow's parallel parsers. Every change the monitor reports
// from the moment it was armed is applied to the dump once the dump is
// complete, in order: each update states an entry whole, so the changes
// older than the dump change nothing and the newer ones bring it up to date,
// however OVS interleaved the dump's parts with its updates. The table then
// differs from what it held before only by what really changed: a
// reconnection that changed nothing reports nothing.
//
// The monitor does not report in full the changes this connection makes:
// l2gwd's bundles (up to millions of flows) come as one abbreviated update
// per commit, which is what keeps them from flooding the watch. A bundle that
// deletes learned entries (FlushLearned, a full sync dropping the entries of
// gone networks) announces the networks it deletes before it commits
// (expectOwnDeletes); its abbreviated update then removes their entries.
type macTable struct {
	log *slog.Logger

	mu      sync.Mutex
	entries map[macKey]uint32 // ofport each local MAC was learned on
	synced  bool              // entries were read from a switch once
	cur     *monitorConn      // the connection whose messages count; nil when none
	own     *ownDeletes       // the bundle being committed, if it deletes learned entries
	watches map[*MACWatch]struct{}

	// The addresses hosts announced (hostips.go).
	ips        map[macKey]*hostIPs
	ipOwner    map[ipKey]macKey // the MAC each address is of
	unlearned  []unlearnedMAC   // MACs that announced one while not learned, oldest first
	snoopStats SnoopStats
}

// monitorConn is the flow monitor of one switch connection.
type monitorConn struct {
	tap                 *inboundTap
	monitorXid, dumpXid uint32
	// dump holds the entries the dump read so far, and pending every
	// change since the monitor was armed, until the dump is complete; dump
	// is nil after.
	dump    map[macKey]uint32
	pending []macOp
	armed   time.Time
}

// ownDeletes is a bundle of l2gwd's that deletes the local learned entries
// of networks; its flow_mods have xids first..last.
type ownDeletes struct {
	first, last uint32
	networks    []uint32
}

// macOp is one change to the entries: key learned on port, key removed
// (why), or every entry of networks removed (l2gwd deleted their cookies).
type macOp struct {
	key      macKey
	port     uint32
	removed  MACRemoval
	networks []uint32
}

// monitorID is the id of the session's one monitor on each connection.
const monitorID = 1

// localLearnedCookie and localLearnedMask select, by cookie, the entries
// learned on local ports (LearnedCookie of any network).
const (
	localLearnedCookie = TagLearned<<tagShift | uint64(KindNetwork)<<kindShift
	localLearnedMask   = uint64(0xFF) << kindShift
)

func newMACTable(log *slog.Logger) *macTable {
	return &macTable{log: log, entries: map[macKey]uint32{}, watches: map[*MACWatch]struct{}{},
		ips: map[macKey]*hostIPs{}, ipOwner: map[ipKey]macKey{}}
}

// attach makes tap, a new connection's, hand the monitor's messages to t.
func (t *macTable) attach(tap *inboundTap) {
	tap.keep = func(h []byte) bool { return t.keep(tap, h) }
	tap.onMessage = func(msg []byte) { t.inbound(tap, msg) }
}

// arm makes tap's connection, whose switch is sw, the one that counts,
// arms its monitor and asks for the local learned entries.
func (t *macTable) arm(tap *inboundTap, sw *ofctrl.OFSwitch) {
	dump := openflow13.NewFlowStatsRequest()
	dump.TableId = TableL2Lookup
	dump.Cookie, dump.CookieMask = localLearnedCookie, localLearnedMask
	req := &openflow13.MultipartRequest{Header: openflow13.NewOfp13Header(), Type: openflow13.MultipartType_Flow, Body: dump}
	req.Header.Type = openflow13.Type_MultiPartRequest
	monitorXid := newXid()
	t.begin(tap, monitorXid, req.Xid)
	mon := monitorRequest(monitorXid, monitorID, TableL2Lookup, monitorAdd|monitorDelete|monitorModify|monitorActions)
	for _, m := range []util.Message{rawMessage(mon), req} {
		if err := sw.Send(m); err != nil {
			t.log.Warn("cannot arm the learned-MAC monitor: the watch keeps what it knew", "err", err)
			t.detach(tap)
			return
		}
	}
}

// begin makes tap's connection the one that counts, whose monitor request
// and dump have xids monitorXid and dumpXid.
func (t *macTable) begin(tap *inboundTap, monitorXid, dumpXid uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur = &monitorConn{tap: tap, monitorXid: monitorXid, dumpXid: dumpXid, dump: map[macKey]uint32{}, armed: time.Now()}
}

// detach forgets tap's connection, gone. The entries stay as they were
// until the next connection reads them again.
func (t *macTable) detach(tap *inboundTap) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur != nil && t.cur.tap == tap {
		t.cur = nil
	}
}

// keep reports whether the message with header h on tap's connection is
// one of the monitor's (its updates and notices, xid 0; the dump's reply
// parts) or a packet-in (host snooping's copies).
func (t *macTable) keep(tap *inboundTap, h []byte) bool {
	t.mu.Lock()
	c := t.cur
	t.mu.Unlock()
	if c == nil || c.tap != tap {
		return false
	}
	xid := binary.BigEndian.Uint32(h[4:8])
	switch h[1] {
	case openflow13.Type_MultiPartReply:
		return xid == 0 || xid == c.dumpXid
	case openflow13.Type_Experimenter:
		return xid == 0
	case openflow13.Type_PacketIn:
		return true
	}
	return false
}

// inbound takes one of the monitor's messages or a packet-in, in the order
// the switch sent them.
func (t *macTable) inbound(tap *inboundTap, msg []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.cur
	if c == nil || c.tap != tap {
		return
	}
	xid := binary.BigEndian.Uint32(msg[4:8])
	switch {
	case isPacketIn(msg):
		t.packetIn(msg, time.Now())
	case isMonitorReply(msg) && xid == 0:
		if _, err := parseMonitorReply(msg, func(u *flowUpdate) { t.update(c, u) }); err != nil {
			t.log.Warn("learned-MAC monitor: bad update", "err", err)
		}
	case msg[1] == openflow13.Type_MultiPartReply && xid == c.dumpXid && c.dump != nil &&
		len(msg) >= multipartHeaderLen && binary.BigEndian.Uint16(msg[8:10]) == openflow13.MultipartType_Flow:
		t.dumped(c, msg)
	case monitorNotice(msg) == onfFlowMonitorPaused:
		t.log.Warn("learned-MAC monitor paused by the switch (l2gwd reads too slowly); it catches up when resumed")
	case monitorNotice(msg) == onfFlowMonitorResumed:
		t.log.Info("learned-MAC monitor resumed")
	}
}

// update applies one monitor update of connection c.
func (t *macTable) update(c *monitorConn, u *flowUpdate) {
	if u.event == updateAbbrev {
		if o := t.own; o != nil && u.xid-o.first <= o.last-o.first {
			t.apply(c, macOp{networks: o.networks})
		}
		return
	}
	if !u.learned() || !u.hasKey || u.table != TableL2Lookup || u.priority != PriorityLearned {
		return // a static binding, or not an entry of l2gw's learn actions
	}
	op := macOp{key: macKey{network: u.network, mac: u.mac}}
	_, owner, _ := DecodeCookie(u.cookie)
	switch {
	case u.event == updateDeleted:
		op.removed = RemovedDeleted
		if u.reason == removedIdleTimeout || u.reason == removedHardTimeout {
			op.removed = RemovedIdle
		}
	case owner.Kind != KindNetwork:
		op.removed = RemovedRemote // now learned from a remote gateway
	case !u.hasActions:
		return
	default:
		op.port = uint32(u.port)
	}
	t.apply(c, op)
}

// dumped takes one part of the dump's reply to connection c; the last
// completes the dump.
func (t *macTable) dumped(c *monitorConn, msg []byte) {
	if len(msg) < multipartHeaderLen {
		t.log.Warn("learned-MAC dump: bad reply", "len", len(msg))
		return
	}
	for body := msg[multipartHeaderLen:]; len(body) > 0; {
		f, n, err := decodeFlowStats(body)
		if err != nil {
			t.log.Warn("learned-MAC dump: bad reply", "err", err)
			return
		}
		body = body[n:]
		_, owner, _ := DecodeCookie(f.Cookie)
		if f.HasEthDst && f.Table == TableL2Lookup && f.Priority == PriorityLearned && owner.Kind == KindNetwork {
			c.dump[macKey{network: owner.ID, mac: f.EthDst}] = f.LearnedPort
		}
	}
	if binary.BigEndian.Uint16(msg[10:12])&openflow13.OFPMPF_REPLY_MORE == 0 {
		t.complete(c)
	}
}

// complete makes the dump of connection c, with every change since its
// monitor was armed, the table, and tells the watches what differs.
func (t *macTable) complete(c *monitorConn) {
	next, why := c.dump, map[macKey]MACRemoval{}
	for _, op := range c.pending {
		applyOp(next, op, func(k macKey, removed MACRemoval) { why[k] = removed })
	}
	changed := 0
	for _, k := range sortedMACs(t.entries) {
		if _, ok := next[k]; !ok {
			changed++
			t.touch(k, cmp.Or(why[k], RemovedUnseen))
		}
	}
	for _, k := range sortedMACs(next) {
		if old, ok := t.entries[k]; !ok || old != next[k] {
			changed++
			t.touch(k, 0)
		}
	}
	t.entries, c.dump, c.pending = next, nil, nil
	if !t.synced {
		t.synced = true
		for w := range t.watches {
			w.enqueue(syncMarker, 0)
		}
	}
	t.log.Info("learned MACs read from the switch", "macs", len(next), "changed", changed, "took", time.Since(c.armed))
}

// apply applies op of connection c: to the table, or kept for the dump
// while it is read.
func (t *macTable) apply(c *monitorConn, op macOp) {
	if c.dump != nil {
		c.pending = append(c.pending, op)
		return
	}
	applyOp(t.entries, op, t.touch)
}

// applyOp applies op to entries and calls changed with each key it
// changed (and why it removed it, 0 when it set it).
func applyOp(entries map[macKey]uint32, op macOp, changed func(macKey, MACRemoval)) {
	if op.networks != nil {
		for _, k := range sortedMACs(entries) {
			if slices.Contains(op.networks, k.network) {
				delete(entries, k)
				changed(k, RemovedDeleted)
			}
		}
		return
	}
	old, ok := entries[op.key]
	switch {
	case op.removed != 0 && ok:
		delete(entries, op.key)
		changed(op.key, op.removed)
	case op.removed == 0 && (!ok || old != op.port):
		entries[op.key] = op.port
		changed(op.key, 0)
	}
}

// touch tells every watch that key changed (removed: why it is gone, and
// its addresses go with it).
func (t *macTable) touch(k macKey, removed MACRemoval) {
	if removed != 0 {
		t.forgetIPs(k)
	}
	for w := range t.watches {
		w.enqueue(k, removed)
	}
}

// expectOwnDeletes announces a bundle of this session's, whose flow_mods
// have xids first..last, that deletes the learned entries with cookies
// (those of networks are local); done must be called once its commit is
// answered. The switch sends the commit's abbreviated update before its
// reply, so the update is read while the announcement stands.
func (t *macTable) expectOwnDeletes(first, last uint32, cookies []uint64) (done func()) {
	var networks []uint32
	for _, c := range cookies {
		if c&localLearnedMask == localLearnedCookie {
			_, o, _ := DecodeCookie(c)
			networks = append(networks, o.ID)
		}
	}
	if networks == nil {
		return func() {}
	}
	t.mu.Lock()
	t.own = &ownDeletes{first: first, last: last, networks: networks}
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		t.own = nil
		t.mu.Unlock()
	}
}

// refused takes a switch error: if it refuses the monitor or its dump, the
// connection no longer counts (the watch keeps what it knew).
func (t *macTable) refused(e switchError) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.cur; c != nil && (e.xid == c.monitorXid || e.xid == c.dumpXid) {
		t.cur = nil
		t.log.Error("the switch refused the learned-MAC monitor: the watch reports no changes on this connection", "err", e.String())
	}
}
