package ovsdb

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/l2gw/l2gw/ovsdb/vswitch"
)

// Rows l2gwd creates carry external_ids:l2gw-owner=l2gwd.
const (
	ownerKey   = "l2gw-owner"
	ownerValue = "l2gwd"
)

func ownerIDs() map[string]string { return map[string]string{ownerKey: ownerValue} }

func ownedByL2gwd(externalIDs map[string]string) bool { return externalIDs[ownerKey] == ownerValue }

// BridgeConfig is the bridge l2gwd drives.
type BridgeConfig struct {
	Name string // e.g. "br-int"
	// DatapathType ("system", "netdev" or "" for OVS's default) is used when
	// the bridge is created; an existing bridge keeps its datapath.
	DatapathType string
	// ControllerTarget is l2gwd's OpenFlow listener, e.g. "tcp:127.0.0.1:6653"
	// or "ssl:127.0.0.1:6653".
	ControllerTarget string
	// SSL, when set, is what Open_vSwitch.ssl must hold: the key, certificate
	// and CA ovs-vswitchd uses for an ssl: controller target. Nil leaves the
	// SSL table alone.
	SSL *SSLConfig
	// TableNames names the bridge's OpenFlow tables (table number → name),
	// so ovs-ofctl --names shows them: each gets a Flow_Table row with that
	// name. A table's existing row keeps its other settings (flow_limit,
	// overflow_policy, ...); tables not listed are left alone.
	TableNames map[int]string
}

// EnsureBridge makes the bridge exist (created like ovs-vsctl add-br, with its
// internal port of the same name) with protocols=OpenFlow13, fail_mode=secure
// and exactly one controller, at cfg.ControllerTarget, its tables named as
// cfg.TableNames says, and, when cfg.SSL is set, OVS's SSL table holding
// cfg.SSL. All changes go in one transaction, so
// OVS never sees an ssl: target without its key; when everything is already
// right, nothing is written.
func (c *Client) EnsureBridge(ctx context.Context, cfg BridgeConfig) error {
	if cfg.Name == "" || cfg.ControllerTarget == "" {
		return fmt.Errorf("ensure bridge: name and controller target are required (got %+v)", cfg)
	}
	for table, name := range cfg.TableNames {
		if table < 0 || table > 254 || name == "" {
			return fmt.Errorf("ensure bridge %s: table %d name %q: want a table 0-254 and a name", cfg.Name, table, name)
		}
	}
	if cfg.SSL != nil && (cfg.SSL.PrivateKey == "" || cfg.SSL.Certificate == "" || cfg.SSL.CACert == "") {
		return fmt.Errorf("ensure bridge %s: SSL needs a private key, a certificate and a CA certificate (got %+v)", cfg.Name, *cfg.SSL)
	}
	return c.apply(ctx, "ensure bridge "+cfg.Name, func(s *snapshot) ([]ovsdb.Operation, error) {
		ops, err := c.bridgeOps(s, cfg)
		if err != nil || cfg.SSL == nil {
			return ops, err
		}
		ssl, err := c.sslOps(s, *cfg.SSL)
		if err != nil {
			return nil, err
		}
		return append(ops, ssl...), nil
	})
}

// bridgeOps plans the operations that bring the bridge to cfg.
func (c *Client) bridgeOps(s *snapshot, cfg BridgeConfig) ([]ovsdb.Operation, error) {
	br, ok := s.bridges[cfg.Name]
	if !ok {
		return c.createBridgeOps(s, cfg)
	}
	ops, err := c.fixBridgeOps(s, br, cfg.ControllerTarget)
	if err != nil {
		return nil, err
	}
	tables, err := c.flowTableOps(s, br, cfg.TableNames)
	if err != nil {
		return nil, err
	}
	return append(ops, tables...), nil
}

// createBridgeOps inserts the bridge, its internal port and interface, its
// controller and its named flow tables, and adds the bridge to Open_vSwitch.bridges.
func (c *Client) createBridgeOps(s *snapshot, cfg BridgeConfig) ([]ovsdb.Operation, error) {
	if s.root == "" {
		return nil, errors.New("the database has no Open_vSwitch row (not initialised: ovs-vsctl init)")
	}
	iface := &vswitch.Interface{
		UUID:        "l2gw_bridge_iface",
		Name:        cfg.Name,
		Type:        "internal",
		ExternalIDs: ownerIDs(),
	}
	port := &vswitch.Port{
		UUID:        "l2gw_bridge_port",
		Name:        cfg.Name,
		Interfaces:  []string{iface.UUID},
		ExternalIDs: ownerIDs(),
	}
	ctrl := newController(cfg.ControllerTarget)
	failMode := vswitch.BridgeFailModeSecure
	tables, tableRefs := newFlowTables(cfg.TableNames)
	br := &vswitch.Bridge{
		UUID:         "l2gw_bridge",
		Name:         cfg.Name,
		DatapathType: cfg.DatapathType,
		Protocols:    []vswitch.BridgeProtocols{vswitch.BridgeProtocolsOpenflow13},
		FailMode:     &failMode,
		Controller:   []string{ctrl.UUID},
		Ports:        []string{port.UUID},
		FlowTables:   tableRefs,
		ExternalIDs:  ownerIDs(),
	}
	ops, err := c.ovs.Create(append([]model.Model{iface, port, ctrl, br}, tables...)...)
	if err != nil {
		return nil, fmt.Errorf("create bridge %s: %w", cfg.Name, err)
	}
	root := &vswitch.OpenvSwitch{UUID: s.root}
	addBridge, err := c.ovs.Where(root).Mutate(root, model.Mutation{
		Field:   &root.Bridges,
		Mutator: ovsdb.MutateOperationInsert,
		Value:   []string{br.UUID},
	})
	if err != nil {
		return nil, fmt.Errorf("add bridge %s to Open_vSwitch: %w", cfg.Name, err)
	}
	return append(ops, addBridge...), nil
}

// ControllerMaxBackoff (ms) caps how long the bridge waits between attempts
// to reach l2gwd: a restarted l2gwd has its switch back within about a
// second instead of OVS's default of up to eight.
const ControllerMaxBackoff = 1000

// newController is a Controller row to insert, named for the transaction.
func newController(target string) *vswitch.Controller {
	backoff := ControllerMaxBackoff
	return &vswitch.Controller{UUID: "l2gw_controller", Target: target, MaxBackoff: &backoff, ExternalIDs: ownerIDs()}
}

// controllerBackoffOps sets max_backoff on controller uuid when it differs.
func (c *Client) controllerBackoffOps(s *snapshot, uuid string) ([]ovsdb.Operation, error) {
	ctrl := s.controllers[uuid]
	if ctrl.MaxBackoff != nil && *ctrl.MaxBackoff == ControllerMaxBackoff {
		return nil, nil
	}
	backoff := ControllerMaxBackoff
	ctrl.MaxBackoff = &backoff
	ops, err := c.ovs.Where(&vswitch.Controller{UUID: uuid}).Update(&ctrl, &ctrl.MaxBackoff)
	if err != nil {
		return nil, fmt.Errorf("set max_backoff of controller %s: %w", ctrl.Target, err)
	}
	return ops, nil
}

// fixBridgeOps sets protocols, fail_mode and the controller of an existing
// bridge where they differ; it returns no operation when all are right.
// Controller rows the bridge no longer references are garbage-collected by
// ovsdb-server.
func (c *Client) fixBridgeOps(s *snapshot, br vswitch.Bridge, target string) ([]ovsdb.Operation, error) {
	want := br
	var fields []any
	protocols := []vswitch.BridgeProtocols{vswitch.BridgeProtocolsOpenflow13}
	if !slices.Equal(br.Protocols, protocols) {
		want.Protocols = protocols
		fields = append(fields, &want.Protocols)
	}
	if br.FailMode == nil || *br.FailMode != vswitch.BridgeFailModeSecure {
		failMode := vswitch.BridgeFailModeSecure
		want.FailMode = &failMode
		fields = append(fields, &want.FailMode)
	}
	var ops []ovsdb.Operation
	keep := controllerWithTarget(s, br, target)
	if keep != "" {
		backoff, err := c.controllerBackoffOps(s, keep)
		if err != nil {
			return nil, err
		}
		ops = append(ops, backoff...)
	}
	if !hasOnlyController(s, br, target) {
		if keep == "" {
			ctrl := newController(target)
			insert, err := c.ovs.Create(ctrl)
			if err != nil {
				return nil, fmt.Errorf("create controller %s: %w", target, err)
			}
			ops = append(ops, insert...)
			keep = ctrl.UUID
		}
		want.Controller = []string{keep}
		fields = append(fields, &want.Controller)
	}
	if len(fields) == 0 {
		return ops, nil
	}
	update, err := c.ovs.Where(&vswitch.Bridge{UUID: br.UUID}).Update(&want, fields...)
	if err != nil {
		return nil, fmt.Errorf("update bridge %s: %w", br.Name, err)
	}
	return append(ops, update...), nil
}

// hasOnlyController reports whether br has exactly one controller, at target.
func hasOnlyController(s *snapshot, br vswitch.Bridge, target string) bool {
	return len(br.Controller) == 1 && s.controllers[br.Controller[0]].Target == target
}

// controllerWithTarget returns the UUID of one of br's controllers whose
// target is target, or "".
func controllerWithTarget(s *snapshot, br vswitch.Bridge, target string) string {
	for _, uuid := range br.Controller {
		if ct, ok := s.controllers[uuid]; ok && ct.Target == target {
			return uuid
		}
	}
	return ""
}
