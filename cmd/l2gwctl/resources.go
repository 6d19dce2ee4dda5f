package main

import (
	"flag"
	"fmt"
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
		columns:  []string{"NAME", "TUNNEL-IP"},
		row:      func(g api.RemoteGateway) []string { return []string{g.Name, g.TunnelIP} },
		synopsis: "--tunnel-ip IP", required: []string{"tunnel-ip"},
		spec: func(fs *flag.FlagSet) func(string) api.RemoteGateway {
			ip := fs.String("tunnel-ip", "", "the gateway's tunnel endpoint `IP` address")
			return func(name string) api.RemoteGateway { return api.RemoteGateway{Name: name, TunnelIP: *ip} }
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
			return request{method: http.MethodGet, path: "/v1/status", show: showOne(
				[]string{"BRIDGE", "CONNECTED", "OVSDB", "RECONCILED", "FLOWS"},
				func(s api.Status) []string {
					return []string{s.Bridge, strconv.FormatBool(s.Connected), strconv.FormatBool(s.OVSDBConnected),
						strconv.FormatBool(s.Reconciled), strconv.Itoa(s.Flows)}
				})}
		}),
	}}},
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
