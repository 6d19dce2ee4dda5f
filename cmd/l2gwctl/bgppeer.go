package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/l2gw/l2gw/api"
	"github.com/l2gw/l2gw/app"
)

// bgpPeerResource is the "bgp-peer" resource: the BGP neighbours of
// l2gwd's EVPN speaker and their sessions.
func bgpPeerResource() resource {
	return kind[api.BGPPeer, api.BGPPeerStatus]{
		resource: "bgp-peer", summary: "BGP neighbours of the EVPN speaker, and their sessions",
		path: "/v1/bgp-peers", listKey: "bgp_peers",
		columns: []string{"NAME", "ADDRESS", "PORT", "ASN", "STATE", "UPTIME", "RECEIVED", "ACCEPTED", "ADVERTISED", "LAST-ERROR"},
		row: func(p api.BGPPeerStatus) []string {
			port := p.Port
			if port == 0 {
				port = app.DefaultBGPPort
			}
			uptime := "-"
			if p.State == app.BGPEstablished {
				uptime = (time.Duration(p.UptimeSeconds) * time.Second).String()
			}
			return []string{p.Name, p.Address, strconv.Itoa(int(port)), strconv.FormatUint(uint64(p.ASN), 10), p.State, uptime,
				strconv.FormatUint(p.RoutesReceived, 10), strconv.FormatUint(p.RoutesAccepted, 10),
				strconv.FormatUint(p.RoutesAdvertised, 10), orDash(p.LastError)}
		},
		synopsis: "--address IP --asn ASN [--port P] [--password-file F] [--hold-time S] [--keepalive S] [--max-routes N]",
		required: []string{"address", "asn"},
		spec: func(fs *flag.FlagSet) func(string) api.BGPPeer {
			var p api.BGPPeer
			fs.StringVar(&p.Address, "address", "", "the peer's `IP` address")
			uintVar(fs, &p.ASN, 32, "asn", "the peer's autonomous system number `ASN`; l2gwd's own makes an iBGP session")
			uintVar(fs, &p.Port, 16, "port", "the peer's TCP `PORT` (default 179)")
			fs.Func("password-file", "read the session's TCP MD5 password from `FILE` (its first line); "+
				"update without it leaves the peer without a password", func(path string) error {
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				line, _, _ := strings.Cut(string(data), "\n")
				if line = strings.TrimSuffix(line, "\r"); line == "" {
					return errors.New("the file's first line is empty")
				}
				p.Password = line
				return nil
			})
			uintVar(fs, &p.HoldTime, 16, "hold-time", "the hold time in `SECONDS`, 3-65535 (default 90)")
			uintVar(fs, &p.Keepalive, 16, "keepalive", "the keepalive interval in `SECONDS`, less than the hold time (default a third of it)")
			uintVar(fs, &p.MaxRoutes, 32, "max-routes", "close the session when the peer sends more than `N` routes (default 100000)")
			return func(name string) api.BGPPeer {
				p.Name = name
				return p
			}
		},
		update: true,
	}.commands()
}

// uintVar declares the flag name, a decimal number of bits bits, that sets
// *p.
func uintVar[T ~uint16 | ~uint32](fs *flag.FlagSet, p *T, bits int, name, usage string) {
	fs.Func(name, usage, func(s string) error {
		v, err := strconv.ParseUint(s, 10, bits)
		if err != nil {
			return fmt.Errorf("want a number from 0 to %d", uint64(1)<<bits-1)
		}
		*p = T(v)
		return nil
	})
}
