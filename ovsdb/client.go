package ovsdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/ovn-org/libovsdb/cache"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/l2gw/l2gw/ovsdb/vswitch"
)

const (
	// reconnectTimeout bounds one reconnection attempt.
	reconnectTimeout = 5 * time.Second
	// maxReconnectInterval caps the backoff between reconnection attempts.
	maxReconnectInterval = 2 * time.Second
	// cacheSyncTimeout bounds the wait for a committed change to show in the cache.
	cacheSyncTimeout = 10 * time.Second
)

// Client is l2gwd's connection to the site's ovsdb-server. It keeps a cache of
// the Open_vSwitch, Bridge, Port, Interface, Controller, Flow_Table and SSL
// tables (the columns l2gwd reads) and reconnects by itself when the server
// goes away.
type Client struct {
	ovs     client.Client
	log     *slog.Logger
	changes chan struct{}
	// watchMu guards watches, the channels of Watch.
	watchMu sync.Mutex
	watches []chan struct{}
	// writeMu serialises the Ensure* calls: each plans its transaction from
	// the cache and waits for the cache to show the result, so two must not
	// interleave.
	writeMu sync.Mutex
}

// Dial connects to the ovsdb-server at endpoint ("unix:/path" or
// "tcp:host:port") and fills the cache. It fails when the server cannot be
// reached now; once connected, the client reconnects on its own (retrying
// forever) and refills the cache.
func Dial(ctx context.Context, endpoint string, log *slog.Logger) (*Client, error) {
	dbModel, err := clientModel()
	if err != nil {
		return nil, fmt.Errorf("ovsdb model: %w", err)
	}
	lr := LibovsdbLogger(log)
	ovs, err := client.NewOVSDBClient(dbModel,
		client.WithEndpoint(endpoint),
		client.WithReconnect(reconnectTimeout, reconnectBackoff()),
		client.WithLogger(&lr))
	if err != nil {
		return nil, fmt.Errorf("ovsdb client for %s: %w", endpoint, err)
	}
	if err := ovs.Connect(ctx); err != nil {
		return nil, fmt.Errorf("connect to ovsdb %s: %w", endpoint, err)
	}
	c := &Client{ovs: ovs, log: log, changes: make(chan struct{}, 1)}
	ovs.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    func(string, model.Model) { c.notify() },
		UpdateFunc: func(string, model.Model, model.Model) { c.notify() },
		DeleteFunc: func(string, model.Model) { c.notify() },
	})
	if _, err := ovs.Monitor(ctx, c.newMonitor()); err != nil {
		ovs.Close()
		return nil, fmt.Errorf("monitor ovsdb %s: %w", endpoint, err)
	}
	return c, nil
}

// clientModel is the part of the Open_vSwitch schema l2gwd uses.
func clientModel() (model.ClientDBModel, error) {
	return model.NewClientDBModel("Open_vSwitch", map[string]model.Model{
		vswitch.OpenvSwitchTable: &vswitch.OpenvSwitch{},
		vswitch.BridgeTable:      &vswitch.Bridge{},
		vswitch.PortTable:        &vswitch.Port{},
		vswitch.InterfaceTable:   &vswitch.Interface{},
		vswitch.ControllerTable:  &vswitch.Controller{},
		vswitch.FlowTableTable:   &vswitch.FlowTable{},
		vswitch.SSLTable:         &vswitch.SSL{},
	})
}

// reconnectBackoff retries forever: libovsdb panics when its backoff gives up.
func reconnectBackoff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = maxReconnectInterval
	b.MaxElapsedTime = 0
	return b
}

// newMonitor watches only the columns l2gwd reads, so that counters and
// status columns ovs-vswitchd rewrites all the time (statistics, status,
// link_resets, ...) do not wake Changes. Of the Interface status columns it
// watches only ofport, link_state and bfd_status, which ovs-vswitchd writes
// when a port gets its number, gains or loses carrier, and when a BFD
// session changes state: events l2gwd acts on.
// It uses monitor_cond (not monitor_cond_since) so that every reconnection
// refills the cache and thereby signals Changes.
func (c *Client) newMonitor() *client.Monitor {
	var (
		root  vswitch.OpenvSwitch
		br    vswitch.Bridge
		port  vswitch.Port
		iface vswitch.Interface
		ctrl  vswitch.Controller
		table vswitch.FlowTable
		ssl   vswitch.SSL
	)
	m := c.ovs.NewMonitor(
		client.WithTable(&root, &root.Bridges, &root.SSL),
		client.WithTable(&br, &br.Name, &br.DatapathType, &br.Protocols, &br.FailMode,
			&br.Controller, &br.Ports, &br.FlowTables, &br.ExternalIDs),
		client.WithTable(&port, &port.Name, &port.Interfaces, &port.ExternalIDs),
		client.WithTable(&iface, &iface.Name, &iface.Type, &iface.Options, &iface.Ofport, &iface.ExternalIDs,
			&iface.BFD, &iface.BFDStatus, &iface.LinkState),
		client.WithTable(&ctrl, &ctrl.Target, &ctrl.MaxBackoff, &ctrl.ExternalIDs),
		client.WithTable(&table, &table.Name),
		client.WithTable(&ssl, &ssl.PrivateKey, &ssl.Certificate, &ssl.CaCert, &ssl.BootstrapCaCert, &ssl.ExternalIDs),
	)
	m.Method = ovsdb.ConditionalMonitorRPC
	return m
}

// notify wakes the Changes reader and every Watch reader without ever
// blocking the cache.
func (c *Client) notify() {
	wake(c.changes)
	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	for _, ch := range c.watches {
		wake(ch)
	}
}

// wake puts a value in ch unless one is waiting there already.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Watch is another reader's Changes: a channel of its own that receives a
// value (coalesced, buffer of one) after every cache update and
// reconnection from now on, and one at once so that the reader reads the
// current state first. It is never closed.
func (c *Client) Watch() <-chan struct{} {
	ch := make(chan struct{}, 1)
	ch <- struct{}{}
	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	c.watches = append(c.watches, ch)
	return ch
}

// Changes receives a value (coalesced, buffer of one) after every cache update
// of the monitored tables and after every reconnection. It is never closed.
func (c *Client) Changes() <-chan struct{} { return c.changes }

// Connected reports whether the client is connected to ovsdb-server now.
// (libovsdb's own Connected stays true while it reconnects; its current
// endpoint is empty then.)
func (c *Client) Connected() bool {
	return c.ovs.Connected() && c.ovs.CurrentEndpoint() != ""
}

// Close disconnects for good; the client does not reconnect afterwards.
func (c *Client) Close() { c.ovs.Close() }

// apply computes operations from the cache with plan and, when there are any,
// commits them in one transaction and waits until the cache shows the result
// (plan has nothing left to do), so the next call plans from the new state.
// When plan returns no operations, nothing is written.
func (c *Client) apply(ctx context.Context, what string, plan func(*snapshot) ([]ovsdb.Operation, error)) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	s, err := c.snapshot(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	ops, err := plan(s)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if len(ops) == 0 {
		return nil
	}
	if err := c.transact(ctx, ops); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	c.log.Info("ovsdb updated", "change", what, "operations", len(ops))
	if err := c.awaitCache(ctx, plan); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// transact commits ops in one transaction and reports every failed operation.
func (c *Client) transact(ctx context.Context, ops []ovsdb.Operation) error {
	results, err := c.ovs.Transact(ctx, ops...)
	if err != nil {
		return fmt.Errorf("transact: %w", err)
	}
	opErrs, err := ovsdb.CheckOperationResults(results, ops)
	if err != nil {
		errs := []error{err}
		for _, e := range opErrs {
			errs = append(errs, e)
		}
		return fmt.Errorf("transaction failed: %w", errors.Join(errs...))
	}
	return nil
}

// awaitCache waits until plan, run on the cache, has nothing left to do.
func (c *Client) awaitCache(ctx context.Context, plan func(*snapshot) ([]ovsdb.Operation, error)) error {
	ctx, cancel := context.WithTimeout(ctx, cacheSyncTimeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		pending := "changes still to make"
		s, err := c.snapshot(ctx)
		if err == nil {
			var ops []ovsdb.Operation
			if ops, err = plan(s); err == nil && len(ops) == 0 {
				return nil
			}
		}
		if err != nil {
			pending = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("committed, but the cache does not show the result (%s): %w", pending, ctx.Err())
		case <-tick.C:
		}
	}
}
