package main

import (
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// vtepDB is the hardware_vtep database the benchmark drives a VTEP under
// test through: the database of that name on the benchmark's
// ovsdb-server, next to Open_vSwitch.
const vtepDB = "hardware_vtep"

// ovsdbOp is one OVSDB operation (RFC 7047, section 5.2).
type ovsdbOp map[string]any

// ovsdbResult is the result of one operation; Error is set when it failed.
type ovsdbResult struct {
	Error   string            `json:"error"`
	Details string            `json:"details"`
	Rows    []json.RawMessage `json:"rows"`
}

// rpcMessage is a JSON-RPC 1.0 message as ovsdb-server sends them.
type rpcMessage struct {
	ID     any             `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  any             `json:"error"`
}

// transact commits ops to database db of the ovsdb-server listening on the
// unix socket sock, in one transaction, as ovsdb-client transact does
// (whose transaction is a command-line argument, too small for thousands
// of rows), and returns the result of each operation. A failed operation
// is an error.
func transact(sock, db string, ops []ovsdbOp, timeout time.Duration) ([]ovsdbResult, error) {
	conn, err := net.DialTimeout("unix", sock, timeout)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", sock, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	params := make([]any, 0, len(ops)+1)
	params = append(params, db)
	for _, op := range ops {
		params = append(params, op)
	}
	enc, dec := json.NewEncoder(conn), json.NewDecoder(conn)
	if err := enc.Encode(map[string]any{"id": 1, "method": "transact", "params": params}); err != nil {
		return nil, fmt.Errorf("send transaction to %s: %w", sock, err)
	}
	for {
		var m rpcMessage
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("read the answer of %s: %w", sock, err)
		}
		if m.Method == "echo" { // the server checks that the client is alive
			if err := enc.Encode(map[string]any{"id": m.ID, "result": m.Params, "error": nil}); err != nil {
				return nil, fmt.Errorf("answer echo of %s: %w", sock, err)
			}
			continue
		}
		if id, ok := m.ID.(float64); !ok || id != 1 {
			continue
		}
		if m.Error != nil {
			return nil, fmt.Errorf("transaction on %s: %v", db, m.Error)
		}
		var results []ovsdbResult
		if err := json.Unmarshal(m.Result, &results); err != nil {
			return nil, fmt.Errorf("decode the results of a transaction on %s: %w", db, err)
		}
		// The server answers each operation up to the first that failed,
		// and one more result when the commit itself failed.
		for i, r := range results {
			if r.Error != "" {
				return nil, fmt.Errorf("transaction on %s: operation %d of %d: %s: %s", db, i+1, len(ops), r.Error, r.Details)
			}
		}
		if len(results) < len(ops) {
			return nil, fmt.Errorf("transaction on %s: %d results for %d operations", db, len(results), len(ops))
		}
		return results, nil
	}
}

// selectUUIDs returns the _uuid of the rows of table whose column equals
// value, for each value, in one read.
func selectUUIDs(sock, table, column string, values []string) ([][]string, error) {
	ops := make([]ovsdbOp, len(values))
	for i, v := range values {
		ops[i] = ovsdbOp{"op": "select", "table": table, "where": []any{[]any{column, "==", v}}, "columns": []string{"_uuid"}}
	}
	results, err := transact(sock, vtepDB, ops, 30*time.Second)
	if err != nil {
		return nil, err
	}
	out := make([][]string, len(values))
	for i, r := range results {
		for _, raw := range r.Rows {
			var row struct {
				UUID []string `json:"_uuid"`
			}
			if err := json.Unmarshal(raw, &row); err != nil || len(row.UUID) != 2 {
				return nil, fmt.Errorf("a %s row without a _uuid: %s", table, raw)
			}
			out[i] = append(out[i], row.UUID[1])
		}
	}
	return out, nil
}
