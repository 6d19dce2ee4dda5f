package vtep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/internal/inbox"
)

// maxRedialInterval caps the backoff between reconnection attempts.
const maxRedialInterval = 2 * time.Second

// startTimeout bounds Start's wait for the database, as l2gwd's wait for
// its Open_vSwitch database.
const startTimeout = 30 * time.Second

// Config configures the origin.
type Config struct {
	// DB is the hardware_vtep database's ovsdb-server: "unix:PATH" or
	// "tcp:HOST:PORT".
	DB string
	// Switch is the name of this gateway's Physical_Switch row.
	Switch string
	// TunnelIP is this gateway's VXLAN endpoint (IPv4: the schema's
	// locators are vxlan_over_ipv4): the switch's tunnel_ips, and the
	// locator of the MACs it reports as local.
	TunnelIP netip.Addr
	// Feed receives what the database says (origin vtep).
	Feed *app.Feed
	// Logger receives the origin's log and libovsdb's; nil means
	// slog.Default().
	Logger *slog.Logger
}

// check validates a Config.
func (cfg *Config) check() error {
	switch {
	case cfg.DB == "":
		return errors.New("vtep: no hardware_vtep database to connect to")
	case cfg.Switch == "":
		return errors.New("vtep: no physical switch name")
	case !cfg.TunnelIP.Unmap().Is4():
		return fmt.Errorf("vtep: tunnel IP %v is not an IPv4 address (hardware_vtep locators are vxlan_over_ipv4)", cfg.TunnelIP)
	case cfg.Feed == nil:
		return errors.New("vtep: no feed")
	}
	return nil
}

// VTEP is l2gwd as one physical switch of a hardware_vtep database.
type VTEP struct {
	cfg  Config
	log  *slog.Logger
	base *slog.Logger // Config.Logger, for libovsdb's log
	q    *inbox.Inbox
	stop context.CancelFunc
	done chan struct{}

	// What follows is the loop's own (run).
	ports    []string // Physical_Port names (SetPorts), once portsSet
	portsSet bool
	locals   map[macKey]localMAC
	told     told
	logged   map[problem]bool // the problems logged, while they last
	failed   string           // the last transaction's error, logged once
}

// Start connects to the database, fills a cache of it and starts the loop
// that keeps this switch's rows and tells the feed what the database says;
// the feed is told synced once the first full read is told. Start fails
// when the database cannot be reached now; afterwards a lost connection is
// dialled again (retrying forever) and everything read again (the feed is
// reset once reconnected: what it was told stays in force while the
// database is away, and until the new read is told).
func Start(ctx context.Context, cfg Config) (*VTEP, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.TunnelIP = cfg.TunnelIP.Unmap()
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	v := &VTEP{
		cfg:    cfg,
		log:    log.With("component", "vtep"),
		base:   log,
		q:      inbox.New(),
		done:   make(chan struct{}),
		locals: map[macKey]localMAC{},
		told:   newTold(),
		logged: map[problem]bool{},
	}
	dialCtx, cancel := context.WithTimeout(ctx, startTimeout)
	c, err := dial(dialCtx, cfg.DB, log, v.q.Poke)
	cancel()
	if err != nil {
		return nil, err
	}
	loopCtx, stop := context.WithCancel(context.Background())
	v.stop = stop
	v.log.Info("hardware_vtep origin started", "db", cfg.DB, "switch", cfg.Switch, "tunnel_ip", cfg.TunnelIP)
	go v.run(loopCtx, c)
	return v, nil
}

// SetPorts names the bridge's ports this switch has (all of them, each
// time), l2gwd's own tunnel ports left out: the switch keeps one
// Physical_Port row for each, and removes the others (with their
// bindings). Until the first call it keeps the rows it finds.
func (v *VTEP) SetPorts(ports []string) {
	ports = slices.Clone(ports)
	slices.Sort(ports)
	v.q.Push(portsSet(slices.Compact(ports)))
}

// WatchLocal feeds the origin the local-MAC watch's events until the
// channel closes: the MACs it writes as Ucast_Macs_Local.
func (v *VTEP) WatchLocal(events <-chan app.LocalMACEvent) {
	go func() {
		for ev := range events {
			v.q.Push(ev)
		}
	}()
}

// NetworksChanged tells the origin that the state's networks changed (a
// State.Subscribe change with Topology set): its networks that an API
// network shadowed may be in force now, or the other way round, and it
// checks again (their MACs, local rows and fault status follow).
func (v *VTEP) NetworksChanged() { v.q.Poke() }

// Close stops the origin and disconnects. What it told the feed stays.
func (v *VTEP) Close() {
	v.stop()
	<-v.done
}

// portsSet is a SetPorts call in the inbox.
type portsSet []string

// run is the loop: one session per connection, until ctx ends.
func (v *VTEP) run(ctx context.Context, c *conn) {
	defer close(v.done)
	for {
		v.session(ctx, c)
		c.close()
		if ctx.Err() != nil {
			return
		}
		v.log.Warn("hardware_vtep database connection lost: reconnecting (what it said stays until it is read again)", "db", v.cfg.DB)
		if c = v.redial(ctx); c == nil {
			return
		}
		// The feed is reset only now: while the database is away, however
		// long, what it said stays in force; the hold time runs from here.
		v.cfg.Feed.Reset()
		v.told = newTold()
		v.log.Info("hardware_vtep database reconnected", "db", v.cfg.DB)
	}
}

// redial dials until it connects (nil when ctx ends first).
func (v *VTEP) redial(ctx context.Context) *conn {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = maxRedialInterval
	b.MaxElapsedTime = 0
	last := ""
	for {
		// A server that accepts but does not answer (stopped, its host
		// gone) must not hold the attempt forever.
		dialCtx, cancel := context.WithTimeout(ctx, 2*probeInterval)
		c, err := dial(dialCtx, v.cfg.DB, v.base, v.q.Poke)
		cancel()
		if err == nil {
			return c
		}
		if err.Error() != last {
			v.log.Warn("hardware_vtep database: cannot reconnect yet", "err", err)
			last = err.Error()
		}
		t := time.NewTimer(b.NextBackOff())
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// session runs turns on connection c, one after every change (of the
// database, the ports or the local MACs), until c goes or ctx ends. The
// first turn that read the whole database tells the feed synced.
func (v *VTEP) session(ctx context.Context, c *conn) {
	synced := false
	for {
		for _, item := range v.q.Take() {
			switch it := item.(type) {
			case portsSet:
				v.ports, v.portsSet = it, true
			case app.LocalMACEvent:
				v.local(it)
			}
		}
		if v.turn(ctx, c) && !synced {
			v.cfg.Feed.Synced()
			synced = true
			v.log.Info("hardware_vtep database read: feed synced", "remote_macs", len(v.told.macs), "flood_targets", len(v.told.floods))
		}
		select {
		case <-ctx.Done():
			return
		case <-c.gone:
			return
		case <-v.q.Wake():
		}
	}
}

// turn reads the cache, tells the feed what changed (networks, then remote
// MACs and flood targets of the networks in force) and writes what this
// switch owes the database, in one transaction. It reports false when the
// cache was being updated as it read (another turn follows).
func (v *VTEP) turn(ctx context.Context, c *conn) bool {
	s, whole := read(c.c)
	if !whole {
		return false
	}
	w := translate(s, v.cfg.Switch, v.cfg.TunnelIP)
	nets := w.networks()
	for name, why := range v.tellNetworks(nets) {
		w.drop(name, why)
	}
	for name, why := range v.cfg.Feed.NetworkConflicts() {
		w.drop(name, "not in force in l2gwd: "+why)
	}
	v.report(w.problems)
	v.tell(w)
	v.removeNetworks(nets)
	ops, err := v.switchOps(c.c, s, w)
	if err == nil {
		var more []ovsdb.Operation
		more, err = v.localOps(c.c, s, w)
		ops = append(ops, more...)
	}
	if err == nil && len(ops) > 0 {
		err = c.transact(ctx, ops)
	}
	switch {
	case ctx.Err() != nil: // Close
	case err != nil && err.Error() != v.failed:
		v.log.Error("hardware_vtep database update", "err", err, "operations", len(ops))
		v.failed = err.Error()
	case err == nil:
		v.failed = ""
	}
	return true
}

// report logs each problem once, while it lasts.
func (v *VTEP) report(now map[problem]bool) {
	for p := range now {
		if !v.logged[p] {
			v.log.Warn("hardware_vtep: not done", "table", p.table, "row", p.row, "why", p.why)
		}
	}
	v.logged = now
}
