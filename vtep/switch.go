package vtep

import (
	"fmt"
	"maps"
	"slices"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/l2gw/l2gw/ovsdb/hwvtep"
)

// namedSwitch is the named UUID of the Physical_Switch row a transaction
// inserts.
const namedSwitch = "l2gw_switch"

// switchOps plans the upkeep of this switch's rows: its Physical_Switch
// (created when missing, under the first Global row, which is created too
// when there is none), its tunnel_ips, one Physical_Port per port SetPorts
// named (once it has), and the fault status columns of w.
func (v *VTEP) switchOps(c client.Client, s *snapshot, w *view) ([]ovsdb.Operation, error) {
	tunnelIPs := []string{v.cfg.TunnelIP.String()}
	ps := s.physicalSwitch(v.cfg.Switch)
	if ps == nil {
		var ops []ovsdb.Operation
		row := &hwvtep.PhysicalSwitch{UUID: namedSwitch, Name: v.cfg.Switch, TunnelIPs: tunnelIPs}
		for i, name := range v.ports {
			u := fmt.Sprintf("l2gw_port%d", i)
			row.Ports = append(row.Ports, u)
			more, err := c.Create(&hwvtep.PhysicalPort{UUID: u, Name: name})
			if err != nil {
				return nil, err
			}
			ops = append(ops, more...)
		}
		more, err := c.Create(row)
		if err != nil {
			return nil, err
		}
		ops = append(ops, more...)
		if len(s.globals) == 0 {
			more, err = c.Create(&hwvtep.Global{Switches: []string{namedSwitch}})
		} else {
			g := &hwvtep.Global{UUID: s.globals[0].UUID}
			more, err = c.Where(g).Mutate(g, model.Mutation{Field: &g.Switches, Mutator: ovsdb.MutateOperationInsert, Value: []string{namedSwitch}})
		}
		if err != nil {
			return nil, err
		}
		return append(ops, more...), nil
	}

	var ops []ovsdb.Operation
	add := func(more []ovsdb.Operation, err error) error {
		ops = append(ops, more...)
		return err
	}
	upd := &hwvtep.PhysicalSwitch{UUID: ps.UUID, TunnelIPs: tunnelIPs, SwitchFaultStatus: w.switchFaults}
	var fields []any
	if !slices.Equal(ps.TunnelIPs, tunnelIPs) {
		fields = append(fields, &upd.TunnelIPs)
	}
	if !sameSet(ps.SwitchFaultStatus, w.switchFaults) {
		fields = append(fields, &upd.SwitchFaultStatus)
	}
	if len(fields) > 0 {
		if err := add(c.Where(upd).Update(upd, fields...)); err != nil {
			return nil, err
		}
	}

	byName := map[string]string{}
	var drop []string
	for _, u := range ps.Ports {
		pp := s.ports[u]
		if _, dup := byName[pp.Name]; dup || (v.portsSet && !slices.Contains(v.ports, pp.Name)) {
			drop = append(drop, u)
			continue
		}
		byName[pp.Name] = u
		faults := w.portFaults[u]
		if !sameSet(pp.PortFaultStatus, faults) {
			row := &hwvtep.PhysicalPort{UUID: u, PortFaultStatus: faults}
			if err := add(c.Where(row).Update(row, &row.PortFaultStatus)); err != nil {
				return nil, err
			}
		}
	}
	var fresh []string
	for i, name := range v.ports {
		if _, ok := byName[name]; ok {
			continue
		}
		u := fmt.Sprintf("l2gw_port%d", i)
		fresh = append(fresh, u)
		if err := add(c.Create(&hwvtep.PhysicalPort{UUID: u, Name: name})); err != nil {
			return nil, err
		}
	}
	if len(fresh) > 0 || len(drop) > 0 {
		row := &hwvtep.PhysicalSwitch{UUID: ps.UUID}
		var muts []model.Mutation
		if len(fresh) > 0 {
			muts = append(muts, model.Mutation{Field: &row.Ports, Mutator: ovsdb.MutateOperationInsert, Value: fresh})
		}
		if len(drop) > 0 {
			muts = append(muts, model.Mutation{Field: &row.Ports, Mutator: ovsdb.MutateOperationDelete, Value: drop})
		}
		if err := add(c.Where(row).Mutate(row, muts...)); err != nil {
			return nil, err
		}
	}

	faultKey := v.faultKey()
	for _, u := range slices.Sorted(maps.Keys(s.lswitches)) {
		have, want := s.lswitches[u].OtherConfig[faultKey], w.lsFaults[u]
		if have == want {
			continue
		}
		row := &hwvtep.LogicalSwitch{UUID: u}
		var muts []model.Mutation
		if have != "" {
			muts = append(muts, model.Mutation{Field: &row.OtherConfig, Mutator: ovsdb.MutateOperationDelete, Value: []string{faultKey}})
		}
		if want != "" {
			muts = append(muts, model.Mutation{Field: &row.OtherConfig, Mutator: ovsdb.MutateOperationInsert, Value: map[string]string{faultKey: want}})
		}
		if err := add(c.Where(row).Mutate(row, muts...)); err != nil {
			return nil, err
		}
	}
	return ops, nil
}

// faultKey is the Logical_Switch other_config key in which this switch
// says why it does not use the logical switch: "l2gw-fault-" and its
// name, so that physical switches sharing a database (a gateway pair,
// several gateways of one controller) never clear each other's.
func (v *VTEP) faultKey() string { return faultKeyPrefix + v.cfg.Switch }

// sameSet tells whether two sets of strings hold the same.
func sameSet(a, b []string) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(s string) bool { return !slices.Contains(b, s) })
}
