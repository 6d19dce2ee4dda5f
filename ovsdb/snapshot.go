package ovsdb

import (
	"context"
	"fmt"

	"github.com/ovn-org/libovsdb/client"

	"github.com/l2gw/l2gw/ovsdb/vswitch"
)

// snapshot is a copy of the cached rows l2gwd plans from.
type snapshot struct {
	root        string                        // the Open_vSwitch row's UUID ("" before ovs-vsctl init)
	bridges     map[string]vswitch.Bridge     // by name
	ports       map[string]vswitch.Port       // by UUID
	ifaces      map[string]vswitch.Interface  // by UUID
	controllers map[string]vswitch.Controller // by UUID
	flowTables  map[string]vswitch.FlowTable  // by UUID
	ssl         *vswitch.SSL                  // the row Open_vSwitch.ssl points at, nil when none
}

// snapshot copies the cache. While the client reconnects it waits for the
// refilled cache until ctx is done, then reads the last known state.
func (c *Client) snapshot(ctx context.Context) (*snapshot, error) {
	roots, err := list[vswitch.OpenvSwitch](ctx, c.ovs)
	if err != nil {
		return nil, err
	}
	bridges, err := list[vswitch.Bridge](ctx, c.ovs)
	if err != nil {
		return nil, err
	}
	ports, err := list[vswitch.Port](ctx, c.ovs)
	if err != nil {
		return nil, err
	}
	ifaces, err := list[vswitch.Interface](ctx, c.ovs)
	if err != nil {
		return nil, err
	}
	controllers, err := list[vswitch.Controller](ctx, c.ovs)
	if err != nil {
		return nil, err
	}
	flowTables, err := list[vswitch.FlowTable](ctx, c.ovs)
	if err != nil {
		return nil, err
	}
	ssl, err := list[vswitch.SSL](ctx, c.ovs)
	if err != nil {
		return nil, err
	}
	s := &snapshot{
		bridges:     make(map[string]vswitch.Bridge, len(bridges)),
		ports:       make(map[string]vswitch.Port, len(ports)),
		ifaces:      make(map[string]vswitch.Interface, len(ifaces)),
		controllers: make(map[string]vswitch.Controller, len(controllers)),
		flowTables:  make(map[string]vswitch.FlowTable, len(flowTables)),
	}
	if len(roots) > 0 {
		s.root = roots[0].UUID
		for i := range ssl {
			if roots[0].SSL != nil && ssl[i].UUID == *roots[0].SSL {
				s.ssl = &ssl[i]
			}
		}
	}
	for _, b := range bridges {
		s.bridges[b.Name] = b
	}
	for _, p := range ports {
		s.ports[p.UUID] = p
	}
	for _, i := range ifaces {
		s.ifaces[i.UUID] = i
	}
	for _, ct := range controllers {
		s.controllers[ct.UUID] = ct
	}
	for _, ft := range flowTables {
		s.flowTables[ft.UUID] = ft
	}
	return s, nil
}

// list copies one table from the cache.
func list[T any](ctx context.Context, ovs client.Client) ([]T, error) {
	var rows []T
	if err := ovs.List(ctx, &rows); err != nil {
		return nil, fmt.Errorf("read %T rows from the cache: %w", rows, err)
	}
	return rows, nil
}

// portsByName returns the ports of br, by name.
func (s *snapshot) portsByName(br vswitch.Bridge) map[string]vswitch.Port {
	ports := make(map[string]vswitch.Port, len(br.Ports))
	for _, uuid := range br.Ports {
		if p, ok := s.ports[uuid]; ok {
			ports[p.Name] = p
		}
	}
	return ports
}
