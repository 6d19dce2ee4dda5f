package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"text/tabwriter"

	"github.com/l2gw/l2gw/api"
)

// errFlowsDiffer is flows --diff finding differences: exit status 1, like
// diff(1), with nothing more to say than what it printed.
var errFlowsDiffer = errors.New("the bridge's flows differ from the desired state")

// flowsResource is the "flows" command: GET /v1/flows.
func flowsResource() resource {
	return resource{name: "flows", summary: "the bridge's flows by owner; with --diff only what differs " +
		"from the desired state, and exit status 1 if anything does (like diff(1))", verbs: []verb{{
		synopsis: "[--network N] [--connection C] [--diff]",
		setup: func(fs *flag.FlagSet) func([]string) (request, error) {
			network := fs.String("network", "", "only network `N`'s flows: its own, its connections' and their bindings'")
			connection := fs.String("connection", "", "only connection `C`'s flows: its own and its bindings'")
			diff := fs.Bool("diff", false, "only the missing, extra and different flows; exit status 1 if there are any")
			return func([]string) (request, error) {
				q := url.Values{}
				if *network != "" {
					q.Set("network", *network)
				}
				if *connection != "" {
					q.Set("connection", *connection)
				}
				if *diff {
					q.Set("diff", "true")
				}
				path := "/v1/flows"
				if len(q) > 0 {
					path += "?" + q.Encode()
				}
				// flows prints its answer itself in either format (-o),
				// so that --diff sets the exit status in both.
				format := fs.Lookup("o").Value.String()
				if err := fs.Set("o", "table"); err != nil {
					return request{}, err
				}
				return request{method: http.MethodGet, path: path, show: showFlows(format, *diff)}, nil
			}
		},
	}}}
}

// showFlows prints a flow report as format (table, json or yaml); with diff it
// returns errFlowsDiffer when the report is not in sync.
func showFlows(format string, diff bool) func(io.Writer, []byte) error {
	return func(w io.Writer, body []byte) error {
		var rep api.FlowReport
		if err := json.Unmarshal(body, &rep); err != nil {
			return fmt.Errorf("decode flows: %w", err)
		}
		var err error
		if format != "table" {
			err = writeAnswer(w, format, body)
		} else {
			err = writeFlows(w, rep, diff)
		}
		if err == nil && diff && !rep.Summary.InSync {
			err = errFlowsDiffer
		}
		return err
	}
}

// flowRow is one line of the flows table.
type flowRow struct {
	entry api.FlowEntry
	state string // ok, missing, extra, held (until its origin is synced), or different: want COOKIE
}

// writeFlows writes the report as one aligned table, grouped by owner (the
// owner named on its first row), then the learned MACs and a summary. With
// diff it shows only the rows that differ.
func writeFlows(w io.Writer, rep api.FlowReport, diff bool) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	rows := 0
	for _, o := range rep.Owners {
		owner := o.Kind + " " + o.Name
		if o.Kind == o.Name { // pipeline
			owner = o.Kind
		}
		if o.Origin != "" {
			owner = o.Origin + " " + owner
		}
		for _, r := range ownerRows(o, diff) {
			if rows == 0 {
				fmt.Fprintln(tw, "OWNER\tTABLE\tPRIORITY\tCOOKIE\tSTATE")
			}
			rows++
			fmt.Fprintf(tw, "%s\t%s\t%d\t%#x\t%s\n", owner, r.entry.Table, r.entry.Priority, uint64(r.entry.Cookie), r.state)
			owner = ""
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rows > 0 {
		fmt.Fprintln(w)
	}
	if len(rep.Learned) > 0 {
		if err := writeTable(w, []string{"LEARNED IN", "ENTRIES"}, rep.Learned, func(l api.Learned) []string {
			return []string{l.Kind + " " + l.Name, strconv.Itoa(l.Entries)}
		}); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	_, err := fmt.Fprintln(w, summaryLine(rep.Summary, diff))
	return err
}

// ownerRows lists an owner's flows with their state, in pipeline order:
// installed ones (extra or different among them) and missing ones; with
// diff only those that differ.
func ownerRows(o api.OwnerFlows, diff bool) []flowRow {
	state := map[api.Cookie]string{}
	for _, e := range o.Extra {
		state[e.Cookie] = "extra"
	}
	held := map[api.Cookie]bool{}
	for _, e := range o.Held {
		held[e.Cookie] = true
	}
	for _, d := range o.Different {
		state[d.Installed] = fmt.Sprintf("different: want %#x", uint64(d.Desired))
	}
	var rows []flowRow
	for _, e := range o.Flows {
		if s, differs := state[e.Cookie]; differs {
			rows = append(rows, flowRow{entry: e, state: s})
		} else if held[e.Cookie] {
			rows = append(rows, flowRow{entry: e, state: "held"})
		} else if !diff {
			rows = append(rows, flowRow{entry: e, state: "ok"})
		}
	}
	for _, e := range o.Missing {
		rows = append(rows, flowRow{entry: e, state: "missing"})
	}
	slices.SortStableFunc(rows, func(a, b flowRow) int {
		if a.entry.TableID != b.entry.TableID {
			return int(a.entry.TableID) - int(b.entry.TableID)
		}
		return int(b.entry.Priority) - int(a.entry.Priority)
	})
	return rows
}

// summaryLine says in one line how the flows compare; with diff, only
// that.
func summaryLine(s api.FlowSummary, diff bool) string {
	verdict := "in sync"
	if !s.InSync {
		verdict = fmt.Sprintf("%d missing, %d extra, %d different", s.Missing, s.Extra, s.Different)
	}
	if diff {
		if s.InSync {
			return "in sync with the desired state"
		}
		return verdict
	}
	line := fmt.Sprintf("%d flows installed, %d desired: %s; %d learned MAC(s)", s.Installed, s.Desired, verdict, s.Learned)
	if s.Held > 0 {
		line += fmt.Sprintf("; %d held until their origin is synced", s.Held)
	}
	return line
}
