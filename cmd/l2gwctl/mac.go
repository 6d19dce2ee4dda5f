package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/l2gw/l2gw/api"
)

// macBatch is the body of a MAC add or replace, and the shape of --file.
type macBatch struct {
	MACs []api.MACBinding `json:"macs"`
}

// macResource is the "mac" resource: static remote MAC bindings of a
// connection. It reads stdin for --file -.
func macResource() resource {
	path := func(conn string) string { return "/v1/connections/" + url.PathEscape(conn) + "/macs" }
	// batch is add or replace; done formats its message from the count of
	// MACs sent and the connection.
	batch := func(name, method, done string, needOne bool) verb {
		return verb{name: name, synopsis: "CONN MAC[=IP[,IP...]]... [--file F.json|-]", nargs: 1, variadic: true,
			setup: func(fs *flag.FlagSet) func([]string) (request, error) {
				file := fs.String("file", "", "read bindings (before those of the arguments) from JSON file `F` "+
					"{\"macs\":[{\"mac\":\"02:0b:00:00:00:01\",\"ips\":[\"192.0.2.21\"]}]}, or - for stdin")
				return func(args []string) (request, error) {
					b, err := readMACs(*file, args[1:])
					if err != nil {
						return request{}, err
					}
					if needOne && len(b.MACs) == 0 {
						return request{}, errors.New("no MAC to " + name)
					}
					return request{method: method, path: path(args[0]), body: b,
						show: said(done, len(b.MACs), args[0])}, nil
				}
			}}
	}
	return resource{name: "mac", summary: "static bindings of remote MACs (and their IPs) to a connection", verbs: []verb{
		listMACsVerb(path),
		batch("add", http.MethodPost, "added %d MAC(s) to connection %s", true),
		batch("replace", http.MethodPut, "replaced the MACs of connection %[2]s with %[1]d MAC(s)", false),
		{name: "delete", synopsis: "CONN MAC", nargs: 2, setup: fixed(func(args []string) request {
			return request{method: http.MethodDelete, path: path(args[0]) + "/" + url.PathEscape(args[1]),
				show: said("deleted MAC %s of connection %s", args[1], args[0])}
		})},
		moveVerb(),
	}}
}

// listMACsVerb is "mac list": a connection's bindings (CONN), or a
// network's remote MACs of every origin (--network N).
func listMACsVerb(path func(string) string) verb {
	return verb{name: "list", synopsis: "CONN | --network N [--origin static|vtep|evpn]", variadic: true,
		setup: func(fs *flag.FlagSet) func([]string) (request, error) {
			network := fs.String("network", "", "list the remote MACs of network `N` from every origin: its static bindings and what vtep and evpn told, active or shadowed")
			origin := fs.String("origin", "", "with --network: only origin `O`'s (static, vtep or evpn)")
			return func(args []string) (request, error) {
				switch {
				case *network == "" && len(args) == 1 && *origin == "":
					return request{method: http.MethodGet, path: path(args[0]), show: showList("macs", []string{"MAC", "IPS"},
						func(m api.MACBinding) []string { return []string{m.MAC, orDash(strings.Join(m.IPs, ","))} })}, nil
				case *network != "" && len(args) == 0:
					p := "/v1/networks/" + url.PathEscape(*network) + "/remote-macs"
					if *origin != "" {
						p += "?origin=" + url.QueryEscape(*origin)
					}
					return request{method: http.MethodGet, path: p, show: showList("remote_macs",
						[]string{"MAC", "IPS", "ORIGIN", "CONNECTION", "STATE"}, remoteMACRow)}, nil
				}
				return request{}, errors.New("usage: l2gwctl mac list CONN | --network N [--origin O]")
			}
		}}
}

// remoteMACRow is a row of "mac list --network": a shadowed MAC names the
// origin that wins it, a shadowed IP the origin whose MAC answers for it.
func remoteMACRow(m api.RemoteMAC) []string {
	ips := make([]string, len(m.IPs))
	for i, ip := range m.IPs {
		ips[i] = ip
		for _, s := range m.ShadowedIPs {
			if s.IP == ip {
				ips[i] += "(" + s.ShadowedBy + ")"
			}
		}
	}
	state := m.State
	if m.ShadowedBy != "" {
		state += " by " + m.ShadowedBy
	}
	return []string{m.MAC, orDash(strings.Join(ips, ",")), m.Origin, m.Connection, state}
}

// moveVerb is "mac move": bindings, with their IPs, move to another
// connection of their network in one change (POST /v1/macs:move).
func moveVerb() verb {
	return verb{name: "move", synopsis: "--to CONN [--from CONN] MAC...", nargs: 1, variadic: true, required: []string{"to"},
		setup: func(fs *flag.FlagSet) func([]string) (request, error) {
			to := fs.String("to", "", "move the MACs to connection `CONN`")
			from := fs.String("from", "", "move only if every MAC not yet on --to is bound on connection `CONN`")
			return func(args []string) (request, error) {
				return request{method: http.MethodPost, path: "/v1/macs:move",
					body: api.MACMove{To: *to, From: *from, MACs: args},
					show: said("moved %d MAC(s) to connection %s", len(args), *to)}, nil
			}
		}}
}

// readMACs gathers the bindings of file ("" for none, "-" for stdin) and
// then those of args, each MAC or MAC=IP,IP....
func readMACs(file string, args []string) (macBatch, error) {
	b := macBatch{MACs: []api.MACBinding{}}
	if file != "" {
		var r io.Reader = os.Stdin
		if file != "-" {
			f, err := os.Open(file)
			if err != nil {
				return b, fmt.Errorf("read --file: %w", err)
			}
			defer f.Close()
			r = f
		}
		if err := json.NewDecoder(r).Decode(&b); err != nil {
			return b, fmt.Errorf("read --file %s: %w", file, err)
		}
		if b.MACs == nil {
			return b, fmt.Errorf("read --file %s: no \"macs\" array", file)
		}
	}
	for _, arg := range args {
		mac, ips, _ := strings.Cut(arg, "=")
		m := api.MACBinding{MAC: mac}
		if ips != "" {
			m.IPs = strings.Split(ips, ",")
		}
		b.MACs = append(b.MACs, m)
	}
	return b, nil
}
