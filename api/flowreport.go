package api

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/l2gw/l2gw/app"
)

// FlowReport is the bridge's l2gw flows read back to their owners (the API
// objects), with how they differ from the desired state: the answer of GET
// /v1/flows. Every list is an array, empty if there is nothing in it.
//
// The dump and the desired state are read at two instants: a change
// committed a moment ago may show as a difference until the reconciler has
// applied it (Status.Reconciled).
type FlowReport struct {
	Summary FlowSummary  `json:"summary"`
	Owners  []OwnerFlows `json:"owners"`
	Learned []Learned    `json:"learned"`
}

// FlowSummary counts the flows of a report's owners.
type FlowSummary struct {
	InSync    bool `json:"in_sync"` // nothing missing, extra or different
	Installed int  `json:"installed"`
	Desired   int  `json:"desired"`
	Missing   int  `json:"missing"`
	Extra     int  `json:"extra"`
	Different int  `json:"different"`
	Learned   int  `json:"learned"`        // entries OVS learned
	Held      int  `json:"held,omitempty"` // installed, kept until their dynamic origin is synced
}

// OwnerFlows is one owner's flows: those installed and how they differ from
// those desired. A flow installed with another cookie than the desired one
// in the same table and priority is Different: the same flow with other
// content.
type OwnerFlows struct {
	Kind   string `json:"kind"`             // pipeline, network, connection, binding or tunnel
	ID     uint32 `json:"id"`               // the owner's ID in cookies
	Origin string `json:"origin,omitempty"` // the dynamic origin the owner comes from (its cookies' tag); left out for static
	// Name is the network's or connection's name, "CONN/MAC" for a
	// binding, "pipeline", the tunnel type, or "#ID" for an owner the
	// desired state no longer has.
	Name       string      `json:"name"`
	Network    string      `json:"network,omitempty"`    // the network the owner belongs to
	Connection string      `json:"connection,omitempty"` // the connection the owner belongs to
	Flows      []FlowEntry `json:"flows"`                // installed, by table, priority, cookie
	Missing    []FlowEntry `json:"missing"`              // desired, not installed
	Extra      []FlowEntry `json:"extra"`                // installed, not desired
	Different  []FlowDiff  `json:"different"`            // installed with other content
	// Held are installed and not desired, and kept: their dynamic origin
	// has not told everything since l2gwd started. Left out when none.
	Held []FlowEntry `json:"held,omitempty"`
}

// FlowEntry names one flow on the bridge.
type FlowEntry struct {
	Table    string `json:"table"` // the pipeline table's name
	TableID  uint8  `json:"table_id"`
	Priority uint16 `json:"priority"`
	Cookie   Cookie `json:"cookie"`
}

// FlowDiff is a flow installed with other content than desired: same owner,
// table and priority, another content hash.
type FlowDiff struct {
	Table     string `json:"table"`
	TableID   uint8  `json:"table_id"`
	Priority  uint16 `json:"priority"`
	Installed Cookie `json:"installed"`
	Desired   Cookie `json:"desired"`
}

// Learned counts the MACs OVS learned for a network (from its local ports)
// or a connection (from its remote gateway).
type Learned struct {
	Kind       string `json:"kind"` // network or connection
	ID         uint32 `json:"id"`
	Name       string `json:"name"`
	Network    string `json:"network,omitempty"`
	Connection string `json:"connection,omitempty"`
	Entries    int    `json:"entries"`
}

// Cookie is a flow cookie; in JSON, the hex string ovs-ofctl prints
// ("0xa1000001cd728697").
type Cookie uint64

// MarshalText writes c as 0x and 16 hex digits.
func (c Cookie) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "0x%016x", uint64(c)), nil
}

// UnmarshalText reads a cookie MarshalText wrote.
func (c *Cookie) UnmarshalText(text []byte) error {
	s, ok := strings.CutPrefix(string(text), "0x")
	if !ok {
		return fmt.Errorf("cookie %q: want 0x and hex digits", text)
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return fmt.Errorf("cookie %q: %w", text, err)
	}
	*c = Cookie(v)
	return nil
}

// flowReportOf is rep as the API shows it.
func flowReportOf(rep app.FlowReport) FlowReport {
	s := rep.Summary
	out := FlowReport{
		Summary: FlowSummary{InSync: s.InSync, Installed: s.Installed, Desired: s.Desired, Missing: s.Missing,
			Extra: s.Extra, Different: s.Different, Learned: s.Learned, Held: s.Held},
		Owners:  make([]OwnerFlows, len(rep.Owners)),
		Learned: make([]Learned, len(rep.Learned)),
	}
	for i, o := range rep.Owners {
		of := OwnerFlows{Kind: o.Kind, ID: o.ID, Origin: originOf(o.Origin), Name: o.Name, Network: o.Network, Connection: o.Connection,
			Flows: flowEntries(o.Flows), Missing: flowEntries(o.Missing), Extra: flowEntries(o.Extra),
			Different: make([]FlowDiff, len(o.Different))}
		if len(o.Held) > 0 {
			of.Held = flowEntries(o.Held)
		}
		for j, d := range o.Different {
			of.Different[j] = FlowDiff{Table: d.Table, TableID: d.TableID, Priority: d.Priority,
				Installed: Cookie(d.Installed), Desired: Cookie(d.Desired)}
		}
		out.Owners[i] = of
	}
	for i, l := range rep.Learned {
		out.Learned[i] = Learned{Kind: l.Kind, ID: l.ID, Name: l.Name, Network: l.Network,
			Connection: l.Connection, Entries: l.Entries}
	}
	return out
}

// flowEntries is es as the API shows them.
func flowEntries(es []app.FlowEntry) []FlowEntry {
	out := make([]FlowEntry, len(es))
	for i, e := range es {
		out[i] = FlowEntry{Table: e.Table, TableID: e.TableID, Priority: e.Priority, Cookie: Cookie(e.Cookie)}
	}
	return out
}
