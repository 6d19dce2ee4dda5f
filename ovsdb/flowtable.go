package ovsdb

import (
	"fmt"
	"maps"
	"slices"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/l2gw/l2gw/ovsdb/vswitch"
)

// newFlowTables returns Flow_Table rows (named for the transaction) holding
// names, and the bridge's flow_tables column pointing at them.
func newFlowTables(names map[int]string) ([]model.Model, map[int]string) {
	rows := make([]model.Model, 0, len(names))
	refs := make(map[int]string, len(names))
	for _, table := range slices.Sorted(maps.Keys(names)) {
		row := newFlowTable(table, names[table])
		rows = append(rows, row)
		refs[table] = row.UUID
	}
	return rows, refs
}

// newFlowTable is a Flow_Table row to insert for table, named for the
// transaction.
func newFlowTable(table int, name string) *vswitch.FlowTable {
	return &vswitch.FlowTable{UUID: fmt.Sprintf("l2gw_flow_table_%d", table), Name: &name, ExternalIDs: ownerIDs()}
}

// flowTableOps names the tables of an existing bridge: a table that has a
// Flow_Table row gets only its name set (whatever else an operator set on
// the row stays); a table without one gets a new row, added to the bridge's
// flow_tables. Tables not in names are left alone. It returns no operation
// when every name is already right.
func (c *Client) flowTableOps(s *snapshot, br vswitch.Bridge, names map[int]string) ([]ovsdb.Operation, error) {
	var ops []ovsdb.Operation
	missing := map[int]string{}
	for _, table := range slices.Sorted(maps.Keys(names)) {
		name := names[table]
		row, ok := s.flowTables[br.FlowTables[table]]
		if !ok {
			missing[table] = name
			continue
		}
		if row.Name != nil && *row.Name == name {
			continue
		}
		row.Name = &name
		update, err := c.ovs.Where(&vswitch.FlowTable{UUID: row.UUID}).Update(&row, &row.Name)
		if err != nil {
			return nil, fmt.Errorf("name table %d %q: %w", table, name, err)
		}
		ops = append(ops, update...)
	}
	if len(missing) == 0 {
		return ops, nil
	}
	rows, refs := newFlowTables(missing)
	insert, err := c.ovs.Create(rows...)
	if err != nil {
		return nil, fmt.Errorf("create flow tables of %s: %w", br.Name, err)
	}
	bridge := &vswitch.Bridge{UUID: br.UUID}
	link, err := c.ovs.Where(bridge).Mutate(bridge, model.Mutation{
		Field:   &bridge.FlowTables,
		Mutator: ovsdb.MutateOperationInsert,
		Value:   refs,
	})
	if err != nil {
		return nil, fmt.Errorf("add flow tables to bridge %s: %w", br.Name, err)
	}
	ops = append(ops, insert...)
	return append(ops, link...), nil
}
