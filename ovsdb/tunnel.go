package ovsdb

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/l2gw/l2gw/ovsdb/vswitch"
)

// tunnelTypes are the network types l2gwd tunnels with, which are also the
// OVS interface types of their ports.
var tunnelTypes = []string{"vxlan", "gre", "geneve"}

// TunnelPortName is the name of the bridge's flow-based tunnel port (and its
// interface) for a network type: "vxlan" → "l2gw-vxlan", "gre" → "l2gw-gre",
// "geneve" → "l2gw-geneve".
func TunnelPortName(networkType string) string { return "l2gw-" + networkType }

// EnsureTunnelPorts keeps exactly one flow-based tunnel port on bridge for each
// of networkTypes (vxlan, gre, geneve): interface type = the network type,
// options remote_ip=flow, key=flow and, when localIP is not empty,
// local_ip=localIP. It fixes wrong types and options, deletes the tunnel ports
// it owns whose type is not listed, and writes nothing when all is right.
func (c *Client) EnsureTunnelPorts(ctx context.Context, bridge string, networkTypes []string, localIP string) error {
	want := make(map[string]bool, len(networkTypes))
	for _, t := range networkTypes {
		if !slices.Contains(tunnelTypes, t) {
			return fmt.Errorf("ensure tunnel ports on %s: unknown network type %q (want one of %v)", bridge, t, tunnelTypes)
		}
		want[t] = true
	}
	return c.apply(ctx, "ensure tunnel ports on "+bridge, func(s *snapshot) ([]ovsdb.Operation, error) {
		return c.tunnelOps(s, bridge, want, localIP)
	})
}

// tunnelOps plans the operations that leave bridge with a tunnel port for each
// wanted type and none (of its own) for the others.
func (c *Client) tunnelOps(s *snapshot, bridge string, want map[string]bool, localIP string) ([]ovsdb.Operation, error) {
	br, ok := s.bridges[bridge]
	if !ok {
		return nil, fmt.Errorf("bridge %s does not exist", bridge)
	}
	onBridge := s.portsByName(br)
	var ops []ovsdb.Operation
	for _, t := range tunnelTypes {
		port, exists := onBridge[TunnelPortName(t)]
		var more []ovsdb.Operation
		var err error
		switch {
		case want[t] && !exists:
			more, err = c.createTunnelOps(br, t, localIP)
		case want[t]:
			more, err = c.fixTunnelOps(s, port, t, localIP)
		case exists && ownedByL2gwd(port.ExternalIDs):
			more, err = c.removePortOps(br, port)
		}
		if err != nil {
			return nil, err
		}
		ops = append(ops, more...)
	}
	return ops, nil
}

// tunnelOptions are the interface options of a flow-based tunnel port.
func tunnelOptions(localIP string) map[string]string {
	opts := map[string]string{"remote_ip": "flow", "key": "flow"}
	if localIP != "" {
		opts["local_ip"] = localIP
	}
	return opts
}

// createTunnelOps inserts the tunnel port for networkType and its interface,
// and adds the port to the bridge.
func (c *Client) createTunnelOps(br vswitch.Bridge, networkType, localIP string) ([]ovsdb.Operation, error) {
	name := TunnelPortName(networkType)
	iface := &vswitch.Interface{
		UUID:        "l2gw_iface_" + networkType,
		Name:        name,
		Type:        networkType,
		Options:     tunnelOptions(localIP),
		ExternalIDs: ownerIDs(),
	}
	port := &vswitch.Port{
		UUID:        "l2gw_port_" + networkType,
		Name:        name,
		Interfaces:  []string{iface.UUID},
		ExternalIDs: ownerIDs(),
	}
	ops, err := c.ovs.Create(iface, port)
	if err != nil {
		return nil, fmt.Errorf("create tunnel port %s: %w", name, err)
	}
	addPort, err := c.bridgePortsOps(br, ovsdb.MutateOperationInsert, port.UUID)
	if err != nil {
		return nil, fmt.Errorf("add tunnel port %s to %s: %w", name, br.Name, err)
	}
	return append(ops, addPort...), nil
}

// fixTunnelOps corrects the type and options of an existing tunnel port's
// interface; it returns no operation when they are right.
func (c *Client) fixTunnelOps(s *snapshot, port vswitch.Port, networkType, localIP string) ([]ovsdb.Operation, error) {
	if len(port.Interfaces) != 1 {
		return nil, fmt.Errorf("tunnel port %s has %d interfaces, want 1", port.Name, len(port.Interfaces))
	}
	iface, ok := s.ifaces[port.Interfaces[0]]
	if !ok || iface.Name != port.Name {
		return nil, fmt.Errorf("tunnel port %s has no interface of its own name", port.Name)
	}
	opts := tunnelOptions(localIP)
	if iface.Type == networkType && maps.Equal(iface.Options, opts) {
		return nil, nil
	}
	want := iface
	want.Type, want.Options = networkType, opts
	ops, err := c.ovs.Where(&vswitch.Interface{UUID: iface.UUID}).Update(&want, &want.Type, &want.Options)
	if err != nil {
		return nil, fmt.Errorf("fix tunnel interface %s: %w", iface.Name, err)
	}
	return ops, nil
}

// removePortOps removes port from the bridge; ovsdb-server then deletes the
// unreferenced Port row and its Interface rows.
func (c *Client) removePortOps(br vswitch.Bridge, port vswitch.Port) ([]ovsdb.Operation, error) {
	ops, err := c.bridgePortsOps(br, ovsdb.MutateOperationDelete, port.UUID)
	if err != nil {
		return nil, fmt.Errorf("remove port %s from %s: %w", port.Name, br.Name, err)
	}
	return ops, nil
}

// bridgePortsOps inserts ports into or deletes them from br's ports column.
func (c *Client) bridgePortsOps(br vswitch.Bridge, mutator ovsdb.Mutator, portUUIDs ...string) ([]ovsdb.Operation, error) {
	row := &vswitch.Bridge{UUID: br.UUID}
	return c.ovs.Where(row).Mutate(row, model.Mutation{
		Field:   &row.Ports,
		Mutator: mutator,
		Value:   portUUIDs,
	})
}
