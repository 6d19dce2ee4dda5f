package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/l2gw/l2gw/api"
	"github.com/l2gw/l2gw/app"
)

// resources is every resource of the command line, in usage order.
var resources = []resource{
	kind[api.Network, api.Network]{
		resource: "network", summary: "local layer-2 segments on the gateway bridge",
		path: "/v1/networks", listKey: "networks",
		columns: []string{"NAME", "ATTACHMENTS", "ORIGIN"},
		row: func(n api.Network) []string {
			atts := make([]string, len(n.Attachments))
			for i, a := range n.Attachments {
				atts[i] = a.Port
				if a.VLAN != 0 {
					atts[i] += ":" + strconv.Itoa(int(a.VLAN))
				}
			}
			origin := n.Origin
			if origin == "" { // the API's own
				origin = app.OriginStatic.String()
			}
			return []string{n.Name, orDash(strings.Join(atts, ",")), origin}
		},
		synopsis: "[--attach PORT[:VLAN]]... [--evpn-vni VNI [--evpn-import-rt RT]... [--evpn-export-rt RT]...]",
		spec: func(fs *flag.FlagSet) func(string) api.Network {
			atts := []api.Attachment{}
			fs.Func("attach", "attach bridge port `PORT[:VLAN]` to the network, tagged with VLAN if given; "+
				"repeat or comma-separate for more; update replaces all attachments", func(s string) error {
				for _, one := range strings.Split(s, ",") {
					a, err := parseAttachment(one)
					if err != nil {
						return err
					}
					atts = append(atts, a)
				}
				return nil
			})
			evpn := evpnFlags(fs)
			return func(name string) api.Network { return api.Network{Name: name, Attachments: atts, EVPN: evpn()} }
		},
		update: true,
	}.commands(),

	kind[api.RemoteGateway, api.RemoteGateway]{
		resource: "gateway", summary: "remote gateways, the tunnel endpoints of other sites",
		path: "/v1/remote-gateways", listKey: "remote_gateways",
		columns:  []string{"NAME", "TUNNEL-IPS"},
		row:      func(g api.RemoteGateway) []string { return []string{g.Name, gatewayEndpoints(g)} },
		synopsis: "--tunnel-ip IP [--tunnel-ip IP]...", required: []string{"tunnel-ip"},
		spec: func(fs *flag.FlagSet) func(string) api.RemoteGateway {
			var ips []string
			fs.Func("tunnel-ip", "the gateway's tunnel endpoint `IP` address; repeat or comma-separate for a gateway "+
				"of several endpoints (a gateway pair), in preference order", func(s string) error {
				ips = append(ips, strings.Split(s, ",")...)
				return nil
			})
			return func(name string) api.RemoteGateway {
				if len(ips) == 1 { // as l2gwctl always sent it: an earlier l2gwd takes it too
					return api.RemoteGateway{Name: name, TunnelIP: ips[0]}
				}
				return api.RemoteGateway{Name: name, TunnelIPs: ips}
			}
		},
		update: true,
	}.commands(),

	bgpPeerResource(),

	kind[api.Connection, api.Connection]{
		resource: "connection", summary: "a network joined to a remote gateway on a segmentation ID",
		path: "/v1/connections", listKey: "connections",
		columns: []string{"NAME", "NETWORK", "GATEWAY", "TYPE", "SEG-ID", "FLOOD"},
		row: func(c api.Connection) []string {
			gateway := c.RemoteGateway
			if c.Origin != "" { // a dynamic origin's: no gateway, its endpoint
				gateway = c.Origin + " " + c.TunnelIP
			}
			return []string{c.Name, c.Network, gateway, c.NetworkType,
				strconv.FormatUint(uint64(c.SegmentationID), 10), strconv.FormatBool(c.Flood)}
		},
		synopsis: "--network N --gateway G --segmentation-id ID [--type vxlan|gre|geneve] [--flood=true|false]",
		required: []string{"network", "gateway", "segmentation-id"},
		spec: func(fs *flag.FlagSet) func(string) api.Connection {
			var c api.Connection
			fs.StringVar(&c.Network, "network", "", "the local network `N` to join")
			fs.StringVar(&c.RemoteGateway, "gateway", "", "the remote gateway `G` to join it to")
			fs.Func("segmentation-id", "the segment's `ID` on the wire: VNI 1-16777215, or GRE key", func(s string) error {
				id, err := strconv.ParseUint(s, 10, 32)
				c.SegmentationID = uint32(id)
				return err
			})
			fs.StringVar(&c.NetworkType, "type", app.TypeVXLAN, "tunnel encapsulation `TYPE`: vxlan, gre or geneve")
			fs.BoolVar(&c.Flood, "flood", true, "send broadcast and unknown traffic to the gateway")
			return func(name string) api.Connection {
				c.Name = name
				return c
			}
		},
	}.commands(),

	macResource(),

	learnedResource(),

	flowsResource(),

	traceResource(),

	{name: "status", summary: "the daemon's view of its switch", verbs: []verb{{
		setup: fixed(func([]string) request {
			return request{method: http.MethodGet, path: "/v1/status", show: showStatus}
		}),
	}}},
}

// gatewayEndpoints is a gateway's endpoints in preference order, comma
// separated, each with what the switch says of it when the daemon
// reports it: "198.51.100.11 (bfd down), 198.51.100.12 (bfd up, in use)".
func gatewayEndpoints(g api.RemoteGateway) string {
	if len(g.Endpoints) == 0 {
		ips := g.TunnelIPs
		if len(ips) == 0 { // an earlier l2gwd
			ips = []string{g.TunnelIP}
		}
		return strings.Join(ips, ",")
	}
	out := make([]string, len(g.Endpoints))
	for i, e := range g.Endpoints {
		bfd := "bfd " + e.BFD
		if e.BFD == "" {
			bfd = "no bfd"
		}
		if e.InUse {
			bfd += ", in use"
		}
		out[i] = e.TunnelIP + " (" + bfd + ")"
	}
	return strings.Join(out, ", ")
}

// showStatus shows GET /v1/status: the switch and the desired state
// digest, then, for a node of a gateway pair, its HA standing.
func showStatus(w io.Writer, body []byte) error {
	var s api.Status
	if err := json.Unmarshal(body, &s); err != nil {
		return fmt.Errorf("decode status: %w", err)
	}
	err := writeTable(w, []string{"BRIDGE", "CONNECTED", "OVSDB", "RECONCILED", "FLOWS", "DIGEST"}, []api.Status{s},
		func(s api.Status) []string {
			return []string{s.Bridge, strconv.FormatBool(s.Connected), strconv.FormatBool(s.OVSDBConnected),
				strconv.FormatBool(s.Reconciled), strconv.Itoa(s.Flows), orDash(s.DesiredStateDigest)}
		})
	if err != nil || s.HA == nil {
		return err
	}
	fmt.Fprintln(w)
	err = writeTable(w, []string{"ROLE", "PRIORITY", "PEER", "PEER-BFD", "PEER-SEGMENT-BFD", "PEER-PRIORITY", "PEER-DIGEST", "CPATH-DOWN"},
		[]api.HAStatus{*s.HA}, func(ha api.HAStatus) []string {
			peerPriority := "-" // not told yet
			if ha.PeerPriority != 0 {
				peerPriority = strconv.Itoa(int(ha.PeerPriority))
			}
			return []string{ha.Role, strconv.Itoa(int(ha.Priority)), ha.Peer, orDash(ha.PeerBFD), orDash(ha.PeerSegmentBFD),
				peerPriority, orDash(ha.PeerDigest), strconv.FormatBool(ha.CPathDown)}
		})
	if err == nil && s.HA.Reason != "" {
		_, err = fmt.Fprintf(w, "reason: %s\n", s.HA.Reason)
	}
	return err
}

// evpnFlags declares the flags of a network's EVPN membership and returns
// the function that builds it from them: nil when none is given (update
// then takes the network out of EVPN).
func evpnFlags(fs *flag.FlagSet) func() *api.EVPN {
	var (
		given bool
		evpn  api.EVPN
		rts   api.RouteTargets
	)
	fs.Func("evpn-vni", "join BGP EVPN on `VNI` (1-16777215); update without it leaves EVPN", func(s string) error {
		vni, err := strconv.ParseUint(s, 10, 32)
		evpn.VNI, given = uint32(vni), true
		return err
	})
	routeTargets := func(list *[]string) func(string) error {
		return func(s string) error {
			*list, given = append(*list, strings.Split(s, ",")...), true
			return nil
		}
	}
	fs.Func("evpn-import-rt", "import EVPN routes with route target `RT` (ASN:NN or IPv4:NN); "+
		"repeat or comma-separate for more; none: any *:VNI", routeTargets(&rts.Import))
	fs.Func("evpn-export-rt", "export EVPN routes with route target `RT`; repeat or comma-separate for more; none: ASN:VNI",
		routeTargets(&rts.Export))
	return func() *api.EVPN {
		if !given {
			return nil
		}
		if rts.Import != nil || rts.Export != nil {
			evpn.RouteTargets = &rts
		}
		return &evpn
	}
}

// parseAttachment reads PORT or PORT:VLAN.
func parseAttachment(s string) (api.Attachment, error) {
	port, vlan, tagged := strings.Cut(s, ":")
	a := api.Attachment{Port: port}
	if tagged {
		v, err := strconv.ParseUint(vlan, 10, 16)
		if err != nil {
			return a, fmt.Errorf("VLAN of %q: %w", s, err)
		}
		a.VLAN = uint16(v)
	}
	return a, nil
}
