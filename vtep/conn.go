package vtep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ovn-org/libovsdb/cache"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	l2ovsdb "github.com/l2gw/l2gw/ovsdb"
	"github.com/l2gw/l2gw/ovsdb/hwvtep"
)

// transactTimeout bounds one transaction.
const transactTimeout = 10 * time.Second

// probeInterval is how often the connection is probed with an OVSDB echo
// when nothing else shows it alive, and how long an echo may take: a
// server gone without closing the connection (a host down, a network
// cut on a tcp: endpoint) is noticed within twice that, as ovsdb-server's
// own default inactivity probe (5 s) notices its clients.
const probeInterval = 5 * time.Second

// conn is one connection to the hardware_vtep database, with a monitor
// whose cache held the whole database (the columns read) when dial
// returned. It does not reconnect: when the server goes away, gone is
// closed and the origin dials a new one, so that a fresh cache is never
// mistaken for a database that lost its rows while it is being refilled.
type conn struct {
	c    client.Client
	gone chan struct{}
	quit chan struct{} // ends the goroutine that closes gone
}

// clientModel is the part of the hardware_vtep schema the origin uses.
func clientModel() (model.ClientDBModel, error) {
	return model.NewClientDBModel("hardware_vtep", map[string]model.Model{
		hwvtep.GlobalTable:             &hwvtep.Global{},
		hwvtep.PhysicalSwitchTable:     &hwvtep.PhysicalSwitch{},
		hwvtep.PhysicalPortTable:       &hwvtep.PhysicalPort{},
		hwvtep.LogicalSwitchTable:      &hwvtep.LogicalSwitch{},
		hwvtep.LogicalRouterTable:      &hwvtep.LogicalRouter{},
		hwvtep.PhysicalLocatorTable:    &hwvtep.PhysicalLocator{},
		hwvtep.PhysicalLocatorSetTable: &hwvtep.PhysicalLocatorSet{},
		hwvtep.UcastMacsRemoteTable:    &hwvtep.UcastMacsRemote{},
		hwvtep.McastMacsRemoteTable:    &hwvtep.McastMacsRemote{},
		hwvtep.UcastMacsLocalTable:     &hwvtep.UcastMacsLocal{},
		hwvtep.McastMacsLocalTable:     &hwvtep.McastMacsLocal{},
	})
}

// dial connects to endpoint and fills the cache; wake is called after
// every change of it.
func dial(ctx context.Context, endpoint string, log *slog.Logger, wake func()) (*conn, error) {
	dbModel, err := clientModel()
	if err != nil {
		return nil, fmt.Errorf("hardware_vtep model: %w", err)
	}
	lr := l2ovsdb.LibovsdbLogger(log)
	c, err := client.NewOVSDBClient(dbModel, client.WithEndpoint(endpoint), client.WithLogger(&lr))
	if err != nil {
		return nil, fmt.Errorf("hardware_vtep client for %s: %w", endpoint, err)
	}
	// libovsdb tells a disconnection only to a receiver waiting at that
	// moment (a send that does not block): one waits from before Connect.
	cn := &conn{c: c, gone: make(chan struct{}), quit: make(chan struct{})}
	go func(lost chan struct{}) {
		select {
		case <-lost:
			close(cn.gone)
		case <-cn.quit:
		}
	}(c.DisconnectNotify())
	if err := c.Connect(ctx); err != nil {
		close(cn.quit)
		return nil, fmt.Errorf("connect to hardware_vtep database %s: %w", endpoint, err)
	}
	c.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    func(string, model.Model) { wake() },
		UpdateFunc: func(string, model.Model, model.Model) { wake() },
		DeleteFunc: func(string, model.Model) { wake() },
	})
	if _, err := c.Monitor(ctx, newMonitor(c)); err != nil {
		cn.close()
		return nil, fmt.Errorf("monitor hardware_vtep database %s: %w", endpoint, err)
	}
	go cn.probe(log)
	return cn, nil
}

// probe sends an echo every probeInterval until the connection goes, and
// drops the connection when one is not answered within probeInterval
// (gone is then closed, and the origin dials again).
func (c *conn) probe(log *slog.Logger) {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		select {
		case <-c.gone:
			return
		case <-c.quit:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), probeInterval)
		err := c.c.Echo(ctx)
		cancel()
		if err != nil {
			log.Warn("hardware_vtep database does not answer an echo: dropping the connection", "err", err)
			c.c.Disconnect()
			return
		}
	}
}

// newMonitor watches the columns the origin reads, not the statistics and
// status columns a switch rewrites (vlan_stats, Tunnel, Manager).
func newMonitor(c client.Client) *client.Monitor {
	var (
		global hwvtep.Global
		ps     hwvtep.PhysicalSwitch
		pp     hwvtep.PhysicalPort
		ls     hwvtep.LogicalSwitch
		lr     hwvtep.LogicalRouter
		loc    hwvtep.PhysicalLocator
		set    hwvtep.PhysicalLocatorSet
		ur     hwvtep.UcastMacsRemote
		mr     hwvtep.McastMacsRemote
		ul     hwvtep.UcastMacsLocal
		ml     hwvtep.McastMacsLocal
	)
	m := c.NewMonitor(
		client.WithTable(&global, &global.Switches),
		client.WithTable(&ps, &ps.Name, &ps.Ports, &ps.TunnelIPs, &ps.SwitchFaultStatus),
		client.WithTable(&pp, &pp.Name, &pp.VLANBindings, &pp.ACLBindings, &pp.PortFaultStatus),
		client.WithTable(&ls, &ls.Name, &ls.TunnelKey, &ls.ReplicationMode, &ls.OtherConfig),
		client.WithTable(&lr, &lr.Name, &lr.SwitchBinding),
		client.WithTable(&loc, &loc.EncapsulationType, &loc.DstIP, &loc.TunnelKey),
		client.WithTable(&set, &set.Locators),
		client.WithTable(&ur, &ur.MAC, &ur.LogicalSwitch, &ur.Locator, &ur.Ipaddr),
		client.WithTable(&mr, &mr.MAC, &mr.LogicalSwitch, &mr.LocatorSet, &mr.Ipaddr),
		client.WithTable(&ul, &ul.MAC, &ul.LogicalSwitch, &ul.Locator, &ul.Ipaddr),
		client.WithTable(&ml, &ml.MAC, &ml.LogicalSwitch, &ml.LocatorSet, &ml.Ipaddr),
	)
	m.Method = ovsdb.ConditionalMonitorRPC
	return m
}

// close ends the connection.
func (c *conn) close() {
	c.c.Close()
	close(c.quit)
}

// transact commits ops in one transaction and reports every failed
// operation.
func (c *conn) transact(ctx context.Context, ops []ovsdb.Operation) error {
	ctx, cancel := context.WithTimeout(ctx, transactTimeout)
	defer cancel()
	results, err := c.c.Transact(ctx, ops...)
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
