// Package simcases holds what flowsim is checked on, each packet with what
// must become of it: a representative site and packets that exercise every
// feature of l2gw's pipeline (site.go), and probes of the OVS semantics the
// simulator models (probes.go). flowsim's unit tests check the simulator
// against these verdicts, and flows' OVS tests check that Open vSwitch
// agrees with the simulator on every packet, so the verdicts are OVS's too.
package simcases

import (
	"net"
	"net/netip"

	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/flows/flowsim"
)

// The site's ports: local attachments and flow-based tunnel ports.
const (
	Port1  = 1 // network 1, untagged
	Port2  = 2 // network 2, untagged
	Port3  = 3 // network 1, VLAN 100
	VLAN   = 100
	VXLAN  = 10
	GRE    = 11
	Geneve = 12
)

// LearnLimit is how many MACs each gateway may have learned.
const LearnLimit = 2

// The gateways, and the site's own tunnel endpoints.
var (
	LocalIPv4 = netip.MustParseAddr("198.51.100.1")
	LocalIPv6 = netip.MustParseAddr("2001:db8:0:1::1")
	SiteB     = netip.MustParseAddr("198.51.100.2")    // vxlan 5001 (network 1), 5002 (network 2); flooded
	SiteC     = netip.MustParseAddr("198.51.100.3")    // gre 7, not flooded
	SiteD     = netip.MustParseAddr("198.51.100.4")    // vxlan 5005, not flooded: its learning hits the limit
	Site6     = netip.MustParseAddr("2001:db8:0:2::1") // geneve 5003, flooded
	SiteE     = netip.MustParseAddr("198.51.100.5")    // vxlan 5006, named by EVPN (a dynamic origin), not flooded
	Gateways  = []netip.Addr{SiteB, SiteC, SiteD, Site6, SiteE}
)

// Bound MACs and addresses. 192.0.2.21 and 2001:db8::21 are bound in both
// networks, to different MACs.
var (
	BoundB1  = flowsim.MustMAC("02:0b:00:00:00:01") // network 1, behind site b
	BoundB2  = flowsim.MustMAC("02:0b:00:00:00:02") // network 2, behind site b
	Bound6   = flowsim.MustMAC("02:0d:00:00:00:01") // network 1, behind the IPv6 gateway
	BoundIP  = flowsim.MustIP4("192.0.2.21")
	BoundIP6 = flowsim.MustIP6("2001:db8::21")
	Bound6IP = flowsim.MustIP4("192.0.2.31")
	// Remote MACs EVPN told: one behind site e, one behind site b (through
	// the API's connection to it). They are not pinned.
	RemoteE   = flowsim.MustMAC("02:0e:00:00:00:01")
	RemoteEIP = flowsim.MustIP4("192.0.2.51")
	RemoteB   = flowsim.MustMAC("02:0b:00:00:00:05")
)

// Input is the site: network 1 with an untagged and a tagged attachment
// and gateways over vxlan (b, d), gre (c) and geneve over IPv6; network 2
// with one attachment and site b again on another key.
func Input() *flows.Input {
	ip := func(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }
	return &flows.Input{
		TunnelPorts: map[string]uint32{"vxlan": VXLAN, "gre": GRE, "geneve": Geneve},
		LearnLimit:  LearnLimit,
		Dynamic:     true,
		Networks: []flows.Network{
			{ID: 1, Attachments: []flows.Attachment{{OFPort: Port1}, {OFPort: Port3, VLAN: VLAN}},
				Connections: []flows.Connection{
					{ID: 1, NetworkType: "vxlan", RemoteIP: ip(SiteB), SegmentationID: 5001, Flood: true,
						Bindings: []flows.Binding{{ID: 1, MAC: BoundB1, IPv4: []net.IP{BoundIP[:]}, IPv6: []net.IP{BoundIP6[:]}},
							{ID: 8, Origin: flows.OriginEVPN, MAC: RemoteB}}},
					{ID: 2, NetworkType: "gre", RemoteIP: ip(SiteC), SegmentationID: 7},
					{ID: 3, NetworkType: "geneve", RemoteIP: ip(Site6), SegmentationID: 5003, Flood: true,
						Bindings: []flows.Binding{{ID: 3, MAC: Bound6, IPv4: []net.IP{Bound6IP[:]}}}},
					{ID: 5, NetworkType: "vxlan", RemoteIP: ip(SiteD), SegmentationID: 5005},
					{ID: 6, Origin: flows.OriginEVPN, NetworkType: "vxlan", RemoteIP: ip(SiteE), SegmentationID: 5006,
						Bindings: []flows.Binding{{ID: 7, Origin: flows.OriginEVPN, MAC: RemoteE, IPv4: []net.IP{RemoteEIP[:]}}}},
				}},
			{ID: 2, Attachments: []flows.Attachment{{OFPort: Port2}},
				Connections: []flows.Connection{
					{ID: 4, NetworkType: "vxlan", RemoteIP: ip(SiteB), SegmentationID: 5002, Flood: true,
						Bindings: []flows.Binding{{ID: 2, MAC: BoundB2, IPv4: []net.IP{BoundIP[:]}, IPv6: []net.IP{BoundIP6[:]}}}},
				}},
		},
	}
}

// Config is the simulated bridge of Input, installing what it learns.
func Config() flowsim.Config {
	return flowsim.Config{TunnelPorts: Input().TunnelPorts, InstallLearned: true}
}

// flood1 is where network 1 floods f from a local port: the other local
// port (Port3 tagged, Port1 untagged) and the flooding gateways.
func flood1(from uint32, f flowsim.Frame) []flowsim.Output {
	f = untagged(f)
	local := out(Port3, tagged(f))
	if from == Port3 {
		local = out(Port1, f)
	}
	return []flowsim.Output{local, tunnel("vxlan", VXLAN, SiteB, 5001, f), tunnel("geneve", Geneve, Site6, 5003, f)}
}

// fromTunnel is f arriving from gateway remote with key on port.
func fromTunnel(port uint32, remote netip.Addr, key uint64, f flowsim.Frame) flowsim.Packet {
	local := LocalIPv4
	if remote.Is6() {
		local = LocalIPv6
	}
	return flowsim.FromTunnel(port, remote, local, key, f)
}

func local(network uint32, m flowsim.MAC) Learn { return Learn{flows.LearnedCookie(network), m, true} }

func fromGateway(conn uint32, m flowsim.MAC, installed bool) Learn {
	return Learn{flows.LearnedConnectionCookie(conn), m, installed}
}

// arpReply is the answer to ARPRequest(sha, spa, tpa) from mac.
func arpReply(mac, sha flowsim.MAC, spa, tpa flowsim.IP4) flowsim.Frame {
	return flowsim.Frame{EthSrc: mac, EthDst: sha, EthType: flowsim.EthTypeARP,
		ARP: flowsim.ARP{Op: 2, SHA: mac, SPA: tpa, THA: sha, TPA: spa}}
}

// advert is the answer to NeighborSolicitation(sll, src, target) from mac:
// the solicitation rewritten in place (its source option retyped as the
// target option carrying mac, solicited and override flags).
func advert(mac, sll flowsim.MAC, src, target flowsim.IP6) flowsim.Frame {
	f := flowsim.NeighborSolicitation(sll, src, target)
	f.EthSrc, f.EthDst = mac, sll
	f.IPv6.Src, f.IPv6.Dst = target, src
	f.IPv6.ICMPType, f.IPv6.NDTLL, f.IPv6.NDReserved, f.IPv6.NDOptionsType = flowsim.NeighborAdvert, mac, 0x60000000, 2
	return f
}

// Cases are the site's packets, one feature of the pipeline each. They may
// run one after the other on one bridge that learns: each uses source MACs
// of its own, and the gateways whose learning they count (LearnLimit) learn
// no more than that over all of them.
func Cases() []Case {
	bcast := flowsim.Broadcast
	spa := flowsim.MustIP4("192.0.2.1")
	src6 := flowsim.MustIP6("2001:db8::a1")
	dad := flowsim.NeighborSolicitation(host(16, 1), flowsim.IP6{}, BoundIP6)
	garp := flowsim.MustIP4("192.0.2.34")
	noSLL := flowsim.NeighborSolicitation(host(38, 1), flowsim.MustIP6("2001:db8::a2"), flowsim.MustIP6("2001:db8::99"))
	noSLL.IPv6.NDSLL, noSLL.IPv6.NDOptionsType = flowsim.MAC{}, 0
	limited := []flowsim.Packet{
		fromTunnel(VXLAN, SiteD, 5005, flowsim.Ethernet(flowsim.MustMAC("02:0f:00:00:1c:01"), bcast)),
		fromTunnel(VXLAN, SiteD, 5005, flowsim.Ethernet(flowsim.MustMAC("02:0f:00:00:1c:02"), bcast)),
	}
	return []Case{
		{Name: "a broadcast from an untagged port reaches the tagged port with its VLAN and the IPv4 and IPv6 gateways",
			Packet:  flowsim.FromPort(Port1, flowsim.Ethernet(host(1, 1), bcast)),
			Outputs: flood1(Port1, flowsim.Ethernet(host(1, 1), bcast)), Learned: []Learn{local(1, host(1, 1))}},
		{Name: "a broadcast from the tagged port leaves the untagged one without its VLAN",
			Packet:  flowsim.FromPort(Port3, tagged(flowsim.Ethernet(host(2, 1), bcast))),
			Outputs: flood1(Port3, flowsim.Ethernet(host(2, 1), bcast)), Learned: []Learn{local(1, host(2, 1))}},
		{Name: "unknown unicast is flooded",
			Packet:  flowsim.FromPort(Port1, flowsim.Ethernet(host(3, 1), flowsim.MustMAC("02:0e:00:00:00:99"))),
			Outputs: flood1(Port1, flowsim.Ethernet(host(3, 1), flowsim.MustMAC("02:0e:00:00:00:99"))), Learned: []Learn{local(1, host(3, 1))}},
		{Name: "network 2 floods to its own gateway on its own key",
			Packet:  flowsim.FromPort(Port2, flowsim.Ethernet(host(4, 1), bcast)),
			Outputs: []flowsim.Output{tunnel("vxlan", VXLAN, SiteB, 5002, flowsim.Ethernet(host(4, 1), bcast))}, Learned: []Learn{local(2, host(4, 1))}},
		{Name: "unicast to a static binding goes into the tunnel to its gateway",
			Packet:  flowsim.FromPort(Port1, flowsim.Ethernet(host(5, 1), BoundB1)),
			Outputs: []flowsim.Output{tunnel("vxlan", VXLAN, SiteB, 5001, flowsim.Ethernet(host(5, 1), BoundB1))}, Learned: []Learn{local(1, host(5, 1))}},
		{Name: "unicast to a static binding from the tagged port goes into the tunnel untagged",
			Packet:  flowsim.FromPort(Port3, tagged(flowsim.Ethernet(host(6, 1), BoundB1))),
			Outputs: []flowsim.Output{tunnel("vxlan", VXLAN, SiteB, 5001, flowsim.Ethernet(host(6, 1), BoundB1))}, Learned: []Learn{local(1, host(6, 1))}},
		{Name: "unicast to a binding behind the IPv6 gateway goes to it over geneve and IPv6",
			Packet:  flowsim.FromPort(Port1, flowsim.Ethernet(host(7, 1), Bound6)),
			Outputs: []flowsim.Output{tunnel("geneve", Geneve, Site6, 5003, flowsim.Ethernet(host(7, 1), Bound6))}, Learned: []Learn{local(1, host(7, 1))}},
		{Name: "ARP for a bound address is answered",
			Packet:  flowsim.FromPort(Port1, flowsim.ARPRequest(host(8, 1), spa, BoundIP)),
			Outputs: []flowsim.Output{out(Port1, arpReply(BoundB1, host(8, 1), spa, BoundIP))}, Learned: []Learn{local(1, host(8, 1))}, Snooped: true},
		{Name: "ARP from the tagged port is answered tagged",
			Packet:  flowsim.FromPort(Port3, tagged(flowsim.ARPRequest(host(9, 1), spa, BoundIP))),
			Outputs: []flowsim.Output{out(Port3, tagged(arpReply(BoundB1, host(9, 1), spa, BoundIP)))}, Learned: []Learn{local(1, host(9, 1))}, Snooped: true},
		{Name: "ARP for the same address in network 2 is answered with network 2's MAC",
			Packet:  flowsim.FromPort(Port2, flowsim.ARPRequest(host(10, 1), spa, BoundIP)),
			Outputs: []flowsim.Output{out(Port2, arpReply(BoundB2, host(10, 1), spa, BoundIP))}, Learned: []Learn{local(2, host(10, 1))}, Snooped: true},
		{Name: "ARP for a binding behind the IPv6 gateway is answered",
			Packet:  flowsim.FromPort(Port1, flowsim.ARPRequest(host(11, 1), spa, Bound6IP)),
			Outputs: []flowsim.Output{out(Port1, arpReply(Bound6, host(11, 1), spa, Bound6IP))}, Learned: []Learn{local(1, host(11, 1))}, Snooped: true},
		{Name: "ARP for an unbound address is flooded",
			Packet:  flowsim.FromPort(Port1, flowsim.ARPRequest(host(12, 1), spa, flowsim.MustIP4("192.0.2.99"))),
			Outputs: flood1(Port1, flowsim.ARPRequest(host(12, 1), spa, flowsim.MustIP4("192.0.2.99"))), Learned: []Learn{local(1, host(12, 1))}, Snooped: true},
		{Name: "a neighbour solicitation for a bound address is answered",
			Packet:  flowsim.FromPort(Port1, flowsim.NeighborSolicitation(host(13, 1), src6, BoundIP6)),
			Outputs: []flowsim.Output{out(Port1, advert(BoundB1, host(13, 1), src6, BoundIP6))}, Learned: []Learn{local(1, host(13, 1))}, Snooped: true},
		{Name: "a neighbour solicitation from the tagged port is answered tagged",
			Packet:  flowsim.FromPort(Port3, tagged(flowsim.NeighborSolicitation(host(14, 1), src6, BoundIP6))),
			Outputs: []flowsim.Output{out(Port3, tagged(advert(BoundB1, host(14, 1), src6, BoundIP6)))}, Learned: []Learn{local(1, host(14, 1))}, Snooped: true},
		{Name: "a neighbour solicitation for the same address in network 2 is answered with network 2's MAC",
			Packet:  flowsim.FromPort(Port2, flowsim.NeighborSolicitation(host(15, 1), src6, BoundIP6)),
			Outputs: []flowsim.Output{out(Port2, advert(BoundB2, host(15, 1), src6, BoundIP6))}, Learned: []Learn{local(2, host(15, 1))}, Snooped: true},
		{Name: "duplicate address detection is forwarded, not answered",
			Packet: flowsim.FromPort(Port1, dad), Outputs: flood1(Port1, dad), Learned: []Learn{local(1, host(16, 1))}},
		{Name: "a broadcast from a known gateway on its key reaches the local ports only",
			Packet:  fromTunnel(VXLAN, SiteB, 5001, flowsim.Ethernet(flowsim.MustMAC("02:0b:00:00:11:01"), bcast)),
			Outputs: []flowsim.Output{out(Port1, flowsim.Ethernet(flowsim.MustMAC("02:0b:00:00:11:01"), bcast)), out(Port3, tagged(flowsim.Ethernet(flowsim.MustMAC("02:0b:00:00:11:01"), bcast)))},
			Learned: []Learn{fromGateway(1, flowsim.MustMAC("02:0b:00:00:11:01"), true)}},
		{Name: "a frame from an unknown gateway is dropped",
			Packet: fromTunnel(VXLAN, netip.MustParseAddr("198.51.100.9"), 5001, flowsim.Ethernet(flowsim.MustMAC("02:0b:00:00:12:01"), bcast))},
		{Name: "a frame from a known gateway on another key is dropped",
			Packet: fromTunnel(VXLAN, SiteB, 9999, flowsim.Ethernet(flowsim.MustMAC("02:0b:00:00:13:01"), bcast))},
		{Name: "unicast from a gateway to another gateway's binding is dropped (split horizon)",
			Packet:  fromTunnel(VXLAN, SiteB, 5001, flowsim.Ethernet(flowsim.MustMAC("02:0b:00:00:14:01"), Bound6)),
			Learned: []Learn{fromGateway(1, flowsim.MustMAC("02:0b:00:00:14:01"), true)}},
		{Name: "a frame with a multicast source is dropped unlearned",
			Packet: flowsim.FromPort(Port1, flowsim.Ethernet(flowsim.MustMAC("01:00:5e:00:00:01"), bcast))},
		{Name: "a statically bound source from a local port is dropped unlearned",
			Packet: flowsim.FromPort(Port1, flowsim.Ethernet(BoundB1, bcast))},
		{Name: "a statically bound source from the tagged port is dropped unlearned",
			Packet: flowsim.FromPort(Port3, tagged(flowsim.Ethernet(BoundB1, bcast)))},
		{Name: "a statically bound source from another gateway is dropped unlearned",
			Packet: fromTunnel(GRE, SiteC, 7, flowsim.Ethernet(BoundB1, bcast))},
		{Name: "a statically bound source from its own gateway passes unlearned",
			Packet:  fromTunnel(VXLAN, SiteB, 5001, flowsim.Ethernet(BoundB1, bcast)),
			Outputs: []flowsim.Output{out(Port1, flowsim.Ethernet(BoundB1, bcast)), out(Port3, tagged(flowsim.Ethernet(BoundB1, bcast)))}},
		{Name: "a MAC learned on a local port is then sent there",
			Before:  []flowsim.Packet{flowsim.FromPort(Port1, flowsim.Ethernet(host(25, 1), bcast))},
			Packet:  flowsim.FromPort(Port3, tagged(flowsim.Ethernet(host(25, 2), host(25, 1)))),
			Outputs: []flowsim.Output{out(Port1, flowsim.Ethernet(host(25, 2), host(25, 1)))}, Learned: []Learn{local(1, host(25, 2))}},
		{Name: "a MAC learned from the gre gateway is then sent into its tunnel",
			Before:  []flowsim.Packet{fromTunnel(GRE, SiteC, 7, flowsim.Ethernet(flowsim.MustMAC("02:0c:00:00:1a:01"), bcast))},
			Packet:  flowsim.FromPort(Port1, flowsim.Ethernet(host(26, 1), flowsim.MustMAC("02:0c:00:00:1a:01"))),
			Outputs: []flowsim.Output{tunnel("gre", GRE, SiteC, 7, flowsim.Ethernet(host(26, 1), flowsim.MustMAC("02:0c:00:00:1a:01")))},
			Learned: []Learn{local(1, host(26, 1))}},
		{Name: "a broadcast from the IPv6 gateway is admitted on tun_ipv6_src and learned",
			Packet:  fromTunnel(Geneve, Site6, 5003, flowsim.Ethernet(flowsim.MustMAC("02:0d:00:00:1b:01"), bcast)),
			Outputs: []flowsim.Output{out(Port1, flowsim.Ethernet(flowsim.MustMAC("02:0d:00:00:1b:01"), bcast)), out(Port3, tagged(flowsim.Ethernet(flowsim.MustMAC("02:0d:00:00:1b:01"), bcast)))},
			Learned: []Learn{fromGateway(3, flowsim.MustMAC("02:0d:00:00:1b:01"), true)}},
		{Name: "a MAC learned from the IPv6 gateway is then sent to it over IPv6",
			Before:  []flowsim.Packet{fromTunnel(Geneve, Site6, 5003, flowsim.Ethernet(flowsim.MustMAC("02:0d:00:00:1b:02"), bcast))},
			Packet:  flowsim.FromPort(Port1, flowsim.Ethernet(host(28, 1), flowsim.MustMAC("02:0d:00:00:1b:02"))),
			Outputs: []flowsim.Output{tunnel("geneve", Geneve, Site6, 5003, flowsim.Ethernet(host(28, 1), flowsim.MustMAC("02:0d:00:00:1b:02")))},
			Learned: []Learn{local(1, host(28, 1))}},
		{Name: "a gateway that has learned its limit learns no more, and its frames are still delivered",
			Before: limited,
			Packet: fromTunnel(VXLAN, SiteD, 5005, flowsim.Ethernet(flowsim.MustMAC("02:0f:00:00:1c:03"), bcast)),
			Outputs: []flowsim.Output{out(Port1, flowsim.Ethernet(flowsim.MustMAC("02:0f:00:00:1c:03"), bcast)),
				out(Port3, tagged(flowsim.Ethernet(flowsim.MustMAC("02:0f:00:00:1c:03"), bcast)))},
			Learned: []Learn{fromGateway(5, flowsim.MustMAC("02:0f:00:00:1c:03"), false)}},
		{Name: "unicast to a MAC past its gateway's limit is flooded",
			Before:  limited,
			Packet:  flowsim.FromPort(Port1, flowsim.Ethernet(host(30, 1), flowsim.MustMAC("02:0f:00:00:1c:03"))),
			Outputs: flood1(Port1, flowsim.Ethernet(host(30, 1), flowsim.MustMAC("02:0f:00:00:1c:03"))), Learned: []Learn{local(1, host(30, 1))}},
		{Name: "unicast to EVPN's remote MAC goes into the tunnel to its endpoint",
			Packet:  flowsim.FromPort(Port1, flowsim.Ethernet(host(32, 1), RemoteE)),
			Outputs: []flowsim.Output{tunnel("vxlan", VXLAN, SiteE, 5006, flowsim.Ethernet(host(32, 1), RemoteE))}, Learned: []Learn{local(1, host(32, 1))}},
		{Name: "ARP for EVPN's remote MAC's address is answered",
			Packet:  flowsim.FromPort(Port3, tagged(flowsim.ARPRequest(host(33, 1), spa, RemoteEIP))),
			Outputs: []flowsim.Output{out(Port3, tagged(arpReply(RemoteE, host(33, 1), spa, RemoteEIP)))}, Learned: []Learn{local(1, host(33, 1))}, Snooped: true},
		{Name: "a frame from EVPN's endpoint is admitted, and its remote source is not learned",
			Packet:  fromTunnel(VXLAN, SiteE, 5006, flowsim.Ethernet(RemoteE, bcast)),
			Outputs: []flowsim.Output{out(Port1, flowsim.Ethernet(RemoteE, bcast)), out(Port3, tagged(flowsim.Ethernet(RemoteE, bcast)))}},
		{Name: "EVPN's remote MAC from another gateway passes unlearned (not pinned)",
			Packet:  fromTunnel(VXLAN, SiteB, 5001, flowsim.Ethernet(RemoteE, bcast)),
			Outputs: []flowsim.Output{out(Port1, flowsim.Ethernet(RemoteE, bcast)), out(Port3, tagged(flowsim.Ethernet(RemoteE, bcast)))}},
		{Name: "EVPN's remote MAC behind the API's gateway passes unlearned",
			Packet:  fromTunnel(VXLAN, SiteB, 5001, flowsim.Ethernet(RemoteB, bcast)),
			Outputs: []flowsim.Output{out(Port1, flowsim.Ethernet(RemoteB, bcast)), out(Port3, tagged(flowsim.Ethernet(RemoteB, bcast)))}},
		{Name: "EVPN's remote MAC seen on a local port (it moved here) is forwarded and learned there",
			Packet:  flowsim.FromPort(Port1, flowsim.Ethernet(RemoteB, bcast)),
			Outputs: flood1(Port1, flowsim.Ethernet(RemoteB, bcast)), Learned: []Learn{local(1, RemoteB)}},
		{Name: "unicast to a MAC learned within its gateway's limit goes into its tunnel",
			Before:  limited,
			Packet:  flowsim.FromPort(Port1, flowsim.Ethernet(host(31, 1), flowsim.MustMAC("02:0f:00:00:1c:01"))),
			Outputs: []flowsim.Output{tunnel("vxlan", VXLAN, SiteD, 5005, flowsim.Ethernet(host(31, 1), flowsim.MustMAC("02:0f:00:00:1c:01")))},
			Learned: []Learn{local(1, host(31, 1))}},
		{Name: "a gratuitous ARP is flooded",
			Packet:  flowsim.FromPort(Port1, flowsim.ARPRequest(host(34, 1), garp, garp)),
			Outputs: flood1(Port1, flowsim.ARPRequest(host(34, 1), garp, garp)), Learned: []Learn{local(1, host(34, 1))}, Snooped: true},
		{Name: "an ARP reply goes to the MAC it answers",
			Before:  []flowsim.Packet{flowsim.FromPort(Port3, tagged(flowsim.ARPRequest(host(35, 1), spa, garp)))},
			Packet:  flowsim.FromPort(Port1, arpReply(host(35, 2), host(35, 1), spa, garp)),
			Outputs: []flowsim.Output{out(Port3, tagged(arpReply(host(35, 2), host(35, 1), spa, garp)))}, Learned: []Learn{local(1, host(35, 2))}, Snooped: true},
		{Name: "an unsolicited neighbour advertisement with its target's link-layer address is flooded",
			Packet:  flowsim.FromPort(Port3, tagged(advertisement(host(36, 1), src6, true))),
			Outputs: flood1(Port3, advertisement(host(36, 1), src6, true)), Learned: []Learn{local(1, host(36, 1))}, Snooped: true},
		{Name: "a neighbour advertisement without a link-layer address is flooded, not snooped",
			Packet:  flowsim.FromPort(Port1, advertisement(host(37, 1), src6, false)),
			Outputs: flood1(Port1, advertisement(host(37, 1), src6, false)), Learned: []Learn{local(1, host(37, 1))}},
		{Name: "a neighbour solicitation without a source link-layer address is flooded, not snooped",
			Packet:  flowsim.FromPort(Port1, noSLL),
			Outputs: flood1(Port1, noSLL), Learned: []Learn{local(1, host(38, 1))}},
		{Name: "ARP from a gateway is not snooped",
			Packet:  fromTunnel(VXLAN, SiteB, 5001, flowsim.ARPRequest(flowsim.MustMAC("02:0b:00:00:27:01"), garp, spa)),
			Outputs: []flowsim.Output{out(Port1, flowsim.ARPRequest(flowsim.MustMAC("02:0b:00:00:27:01"), garp, spa)), out(Port3, tagged(flowsim.ARPRequest(flowsim.MustMAC("02:0b:00:00:27:01"), garp, spa)))},
			Learned: []Learn{fromGateway(1, flowsim.MustMAC("02:0b:00:00:27:01"), true)}},
		{Name: "ARP from a statically bound source on a local port is dropped, not snooped",
			Packet: flowsim.FromPort(Port1, flowsim.ARPRequest(BoundB1, BoundIP, spa))},
	}
}

// advertisement is an unsolicited neighbour advertisement (override set)
// from mac for target, to all nodes, with a target link-layer address
// option carrying mac when tll.
func advertisement(mac flowsim.MAC, target flowsim.IP6, tll bool) flowsim.Frame {
	f := flowsim.Frame{EthSrc: mac, EthDst: flowsim.MustMAC("33:33:00:00:00:01"), EthType: flowsim.EthTypeIPv6,
		IPv6: flowsim.IPv6{Src: target, Dst: flowsim.MustIP6("ff02::1"), Proto: flowsim.ProtoICMPv6, ICMPType: flowsim.NeighborAdvert,
			NDTarget: target, NDReserved: 0x20000000}}
	if tll {
		f.IPv6.NDTLL, f.IPv6.NDOptionsType = mac, 2
	}
	return f
}
