package ovsdb

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/l2gw/l2gw/ovsdb/vswitch"
)

// testNamedBridge names three tables the way l2gwd's pipeline does.
var testNamedBridge = func() BridgeConfig {
	cfg := testBridge
	cfg.TableNames = map[int]string{0: "classifier", 5: "source_lookup", 10: "learn"}
	return cfg
}()

// tableNames reads the bridge's table names from the cache.
func tableNames(t *testing.T, c *Client, bridge string) map[int]string {
	t.Helper()
	s := snap(t, c)
	names := map[int]string{}
	for table, uuid := range s.bridges[bridge].FlowTables {
		if row, ok := s.flowTables[uuid]; ok && row.Name != nil {
			names[table] = *row.Name
		}
	}
	return names
}

// insertFlowTable gives bridge's table a Flow_Table row the way
// ovs-vsctl -- --id=@ft create Flow_Table ... -- set Bridge br flow_tables:N=@ft does.
func insertFlowTable(t *testing.T, c *Client, bridge string, table int, row *vswitch.FlowTable) {
	t.Helper()
	row.UUID = "operator_flow_table"
	ops := mustOps(t)(c.ovs.Create(row))
	br := &vswitch.Bridge{UUID: snap(t, c).bridges[bridge].UUID}
	ops = append(ops, mustOps(t)(c.ovs.Where(br).Mutate(br, model.Mutation{
		Field: &br.FlowTables, Mutator: ovsdb.MutateOperationInsert, Value: map[int]string{table: row.UUID},
	}))...)
	commit(t, c, ops...)
	waitFor(t, "the operator's Flow_Table row in the cache", func() bool {
		_, ok := snap(t, c).bridges[bridge].FlowTables[table]
		return ok
	})
}

// flowTableRow reads a Flow_Table row's every column from the server (the
// client's cache holds only the name).
func flowTableRow(t *testing.T, c *Client, uuid string) ovsdb.Row {
	t.Helper()
	sel := ovsdb.Operation{Op: ovsdb.OperationSelect, Table: vswitch.FlowTableTable,
		Where: []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, ovsdb.UUID{GoUUID: uuid})}}
	results, err := c.ovs.Transact(context.Background(), sel)
	if err != nil || len(results) != 1 || len(results[0].Rows) != 1 {
		t.Fatalf("select Flow_Table row %s: %v %+v", uuid, err, results)
	}
	return results[0].Rows[0]
}

func TestEnsureBridgeNamesTablesOfANewBridge(t *testing.T) {
	c, counter := newMemoryClient(t, true)
	ctx := context.Background()
	if err := c.EnsureBridge(ctx, testNamedBridge); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions(); n != 2 { // the Open_vSwitch row, then the bridge with its tables
		t.Fatalf("transactions = %d, want 2", n)
	}
	if got := tableNames(t, c, "br-int"); !maps.Equal(got, testNamedBridge.TableNames) {
		t.Errorf("table names = %v, want %v", got, testNamedBridge.TableNames)
	}
	if err := c.EnsureBridge(ctx, testNamedBridge); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions(); n != 2 {
		t.Errorf("second EnsureBridge wrote: transactions = %d, want still 2", n)
	}
	for table, uuid := range snap(t, c).bridges["br-int"].FlowTables {
		ids, _ := flowTableRow(t, c, uuid)["external_ids"].(ovsdb.OvsMap)
		if ids.GoMap[ownerKey] != ownerValue {
			t.Errorf("Flow_Table row of table %d has external_ids %v, want it tagged as l2gwd's", table, ids.GoMap)
		}
	}
}

func TestEnsureBridgeNamesTablesOfAnExistingBridgeKeepingOperatorRows(t *testing.T) {
	c, counter := newMemoryClient(t, true)
	ctx := context.Background()
	if err := c.EnsureBridge(ctx, testBridge); err != nil {
		t.Fatal(err)
	}
	limit, stale := 1000, "old"
	insertFlowTable(t, c, "br-int", 10, &vswitch.FlowTable{Name: &stale, FlowLimit: &limit,
		ExternalIDs: map[string]string{"site": "lab"}})
	opRow := snap(t, c).bridges["br-int"].FlowTables[10]
	other := "operator_table"
	insertFlowTable(t, c, "br-int", 99, &vswitch.FlowTable{Name: &other})

	tx := counter.Transactions()
	if err := c.EnsureBridge(ctx, testNamedBridge); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 1 {
		t.Errorf("naming the tables took %d transactions, want 1", n)
	}
	want := maps.Clone(testNamedBridge.TableNames)
	want[99] = other
	if got := tableNames(t, c, "br-int"); !maps.Equal(got, want) {
		t.Errorf("table names = %v, want %v", got, want)
	}
	if snap(t, c).bridges["br-int"].FlowTables[10] != opRow {
		t.Errorf("table 10's row was replaced, want row %s renamed in place", opRow)
	}
	got := flowTableRow(t, c, opRow)
	ids, _ := got["external_ids"].(ovsdb.OvsMap)
	if got["flow_limit"] != float64(limit) || got["name"] != "learn" || ids.GoMap["site"] != "lab" {
		t.Errorf("table 10's row = %v, want name learn, flow_limit %d and external_ids kept", got, limit)
	}

	tx = counter.Transactions()
	if err := c.EnsureBridge(ctx, testNamedBridge); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 0 {
		t.Errorf("EnsureBridge with nothing to do sent %d transactions", n)
	}
}

func TestEnsureBridgeRejectsBadTableNames(t *testing.T) {
	c, counter := newMemoryClient(t, true)
	for _, names := range []map[int]string{{255: "x"}, {-1: "x"}, {3: ""}} {
		cfg := testBridge
		cfg.TableNames = names
		if err := c.EnsureBridge(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "table") {
			t.Errorf("EnsureBridge with table names %v: %v, want an error", names, err)
		}
	}
	if n := counter.Transactions(); n != 1 {
		t.Errorf("transactions = %d, want only the Open_vSwitch row's", n)
	}
}

func TestOVSEnsureBridgeNamesTables(t *testing.T) {
	o := startOVS(t)
	c, counter := dialOVS(t, o)
	ctx := context.Background()
	if err := c.EnsureBridge(ctx, testBridge); err != nil {
		t.Fatal(err)
	}
	// An operator already limits table 10.
	vsctl(t, o, "--", "--id=@ft", "create", "Flow_Table", "flow_limit=1000", "overflow_policy=evict",
		"--", "set", "Bridge", "br-int", "flow_tables:10=@ft")
	opRow := vsctl(t, o, "get", "Bridge", "br-int", "flow_tables:10")
	waitFor(t, "the operator's Flow_Table row in the cache", func() bool {
		return snap(t, c).bridges["br-int"].FlowTables[10] == opRow
	})

	if err := c.EnsureBridge(ctx, testNamedBridge); err != nil {
		t.Fatal(err)
	}
	for _, check := range []struct{ args, want string }{
		{"get Bridge br-int flow_tables:10", opRow},
		{"get Flow_Table " + opRow + " name", "learn"},
		{"get Flow_Table " + opRow + " flow_limit", "1000"},
		{"get Flow_Table " + opRow + " overflow_policy", "evict"},
	} {
		if got := vsctl(t, o, strings.Fields(check.args)...); got != check.want {
			t.Errorf("ovs-vsctl %s = %s, want %s", check.args, got, check.want)
		}
	}

	// ovs-ofctl reads the names back from ovs-vswitchd: both ways.
	o.Ofctl(t, "add-flow", "br-int", "table=classifier,priority=10,in_port=LOCAL,actions=goto_table:source_lookup")
	o.Ofctl(t, "add-flow", "br-int", "table=20,priority=10,actions=drop")
	dump := o.Ofctl(t, "--names", "--no-stats", "dump-flows", "br-int")
	for _, want := range []string{
		` table=classifier, priority=10,in_port=LOCAL actions=goto_table:"source_lookup"`,
		` table=20, priority=10 actions=drop`, // a table nobody named keeps its number
	} {
		if !strings.Contains(dump, want+"\n") {
			t.Errorf("ovs-ofctl --names dump-flows:\n%s\nwant a line %q", dump, want)
		}
	}

	// An operator's later setting on one of l2gwd's rows stays, and an
	// EnsureBridge with nothing to do writes nothing.
	classifier := vsctl(t, o, "get", "Bridge", "br-int", "flow_tables:0")
	vsctl(t, o, "set", "Flow_Table", classifier, "flow_limit=500")
	tx := counter.Transactions()
	if err := c.EnsureBridge(ctx, testNamedBridge); err != nil {
		t.Fatal(err)
	}
	if n := counter.Transactions() - tx; n != 0 {
		t.Errorf("second EnsureBridge sent %d transactions, want 0", n)
	}
	if got := vsctl(t, o, "--columns=name,flow_limit", "list", "Flow_Table", classifier); !strings.Contains(got, "flow_limit          : 500") ||
		!strings.Contains(got, "name                : classifier") {
		t.Errorf("table 0's row after EnsureBridge:\n%s\nwant name classifier, flow_limit 500", got)
	}
}
