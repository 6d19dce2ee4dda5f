package flows

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/contiv/libOpenflow/openflow13"

	"github.com/l2gw/l2gw/internal/ovstest"
)

var (
	gw4 = net.ParseIP("198.51.100.2")
	gw6 = net.ParseIP("2001:db8:0:2::1")
)

// mixedSites is one network with an IPv4 gateway (vxlan, flooding, one
// binding), an IPv6 gateway (geneve, flooding, one binding) and a second
// IPv6 connection over gre that does not flood.
func mixedSites() *Input {
	return &Input{
		TunnelPorts: map[string]uint32{"vxlan": 10, "gre": 11, "geneve": 12},
		Networks: []Network{
			{ID: 1, Attachments: []Attachment{{OFPort: 1}, {OFPort: 3, VLAN: 100}},
				Connections: []Connection{
					{ID: 1, NetworkType: "vxlan", RemoteIP: gw4, SegmentationID: 5001, Flood: true,
						Bindings: []Binding{{ID: 1, MAC: [6]byte(mac("02:0b:00:00:00:01")), IPv4: []net.IP{net.ParseIP("192.0.2.21")}}}},
					{ID: 2, NetworkType: "geneve", RemoteIP: gw6, SegmentationID: 5002, Flood: true,
						Bindings: []Binding{{ID: 2, MAC: [6]byte(mac("02:0c:00:00:00:01")), IPv4: []net.IP{net.ParseIP("192.0.2.31")}}}},
					{ID: 3, NetworkType: "gre", RemoteIP: net.ParseIP("2001:db8:0:3::1"), SegmentationID: 7},
				}},
		},
	}
}

func TestTunnelFieldsMatchLibOpenflow(t *testing.T) {
	v6 := setTunnel(gw6, 5002)
	zero := net.IPv4zero.To4()
	for _, tc := range []struct {
		name      string
		got, want []byte
	}{
		{"tun_ipv6_src", matchTunSrc(gw6), libField(openflow13.NewTunnelIpv6SrcField(gw6, nil))},
		{"tun_src of a 16-byte IPv4", matchTunSrc(net.ParseIP("198.51.100.2").To16()), libField(openflow13.NewTunnelIpv4SrcField(gw4.To4(), nil))},
		{"clear tun_dst", v6[0], marshal(t, openflow13.NewActionSetField(*openflow13.NewTunnelIpv4DstField(zero, nil)))},
		{"set tun_ipv6_dst", v6[1], marshal(t, openflow13.NewActionSetField(*openflow13.NewTunnelIpv6DstField(gw6, nil)))},
		{"set tun_id", v6[2], marshal(t, openflow13.NewActionSetField(*openflow13.NewTunnelIdField(5002)))},
		{"learn from an IPv6 gateway", learnFromGateway(&Connection{ID: 9, RemoteIP: gw6}, 300, 0),
			libLearn(TableL2Lookup, PriorityLearned, 300, LearnedConnectionCookie(9),
				learnSpec{src: "NXM_NX_REG6", dst: "NXM_NX_REG6", nBits: 32},
				learnSpec{src: "NXM_OF_ETH_SRC", dst: "NXM_OF_ETH_DST", nBits: 48},
				learnSpec{load: true, src: "NXM_NX_TUN_IPV6_SRC", dst: "NXM_NX_TUN_IPV6_DST", nBits: 128},
				learnSpec{load: true, src: "NXM_NX_TUN_ID", dst: "NXM_NX_TUN_ID", nBits: 64},
				learnSpec{load: true, src: "NXM_OF_IN_PORT", dst: "NXM_NX_REG7", nBits: 16})},
		{"learn from an IPv4 gateway", learnFromGateway(&Connection{ID: 9, RemoteIP: gw4}, 300, 4096), learnRemote(9, 300, 4096)},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.name, tc.got, tc.want)
		}
	}
}

// TestIPv6TunnelActionsRoundTripThroughOVS has OVS decode what libOpenflow
// cannot express (128-bit stack actions, a learn2 with an IPv6 load): each
// must read back as intended and re-encode to the same bytes.
func TestIPv6TunnelActionsRoundTripThroughOVS(t *testing.T) {
	ovstest.Require(t)
	for _, tc := range []struct {
		name string
		got  []byte
		text string
	}{
		{"push tun_ipv6_dst", push(hdrTunIPv6D, 128), "push:NXM_NX_TUN_IPV6_DST[]"},
		{"pop tun_ipv6_dst", pop(hdrTunIPv6D, 128), "pop:NXM_NX_TUN_IPV6_DST[]"},
		{"learn2 from an IPv6 gateway", learnFromGateway(&Connection{ID: 9, RemoteIP: gw6}, 300, 4096),
			"learn(table=30,idle_timeout=300,priority=100,cookie=0xb200000900000000,limit=4096,NXM_NX_REG6[],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[]," +
				"load:NXM_NX_TUN_IPV6_SRC[]->NXM_NX_TUN_IPV6_DST[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],load:NXM_OF_IN_PORT[]->NXM_NX_REG7[0..15])"},
		{"IPv6 tunnel", slices.Concat(setTunnel(gw6, 5002)...), "set_field:0.0.0.0->tun_dst,set_field:2001:db8:0:2::1->tun_ipv6_dst,set_field:0x138a->tun_id"},
		{"source lookup with IPv6 gateways", slices.Concat(sourceLookup(true)...),
			"push:NXM_OF_ETH_DST[],push:NXM_NX_TUN_ID[],push:NXM_NX_TUN_IPV4_DST[],push:NXM_NX_TUN_IPV6_DST[]," +
				fmt.Sprintf("move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],resubmit(,%d),", TableL2Lookup) +
				"pop:NXM_NX_TUN_IPV6_DST[],pop:NXM_NX_TUN_IPV4_DST[],pop:NXM_NX_TUN_ID[],pop:NXM_OF_ETH_DST[],load:0->NXM_NX_REG7[]"},
	} {
		cmd := exec.Command("ovs-ofctl", "parse-actions", "OpenFlow13")
		cmd.Stdin = strings.NewReader(fmt.Sprintf("%x\n", tc.got))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: ovs-ofctl parse-actions: %v: %s", tc.name, err, out)
		}
		if want := "actions=" + tc.text + "\n\n"; string(out) != want {
			t.Errorf("%s: ovs-ofctl parse-actions OpenFlow13 says:\n%s\nwant:\n%s", tc.name, out, want)
		}
	}
}

// tunnelOutput is where one copy of a packet goes into a tunnel.
type tunnelOutput struct {
	port uint32
	dst  string
	key  uint64
}

// tunnelOutputs runs acts over a packet with no tunnel metadata the way
// OVS does (flow_tnl_dst: tun_dst when it is not 0, else tun_ipv6_dst) and
// returns the copies sent to tunnel ports.
func tunnelOutputs(t *testing.T, acts []wireAction, tunnelPorts map[string]uint32) []tunnelOutput {
	t.Helper()
	var dst4, dst6 net.IP
	var key uint64
	var out []tunnelOutput
	for _, a := range acts {
		switch a.typ {
		case openflow13.ActionType_SetField:
			header, value := binary.BigEndian.Uint32(a.raw[4:]), a.raw[8:]
			switch header {
			case hdrTunIPv4D:
				dst4 = net.IP(value[:4])
			case hdrTunIPv6D:
				dst6 = net.IP(value[:16])
			case hdrTunnelID:
				key = binary.BigEndian.Uint64(value)
			}
		case openflow13.ActionType_Output:
			port := binary.BigEndian.Uint32(a.raw[4:])
			if !slices.Contains(slices.Collect(maps.Values(tunnelPorts)), port) {
				continue
			}
			dst := dst6.String()
			if dst4 != nil && !dst4.IsUnspecified() {
				dst = dst4.String()
			}
			out = append(out, tunnelOutput{port: port, dst: dst, key: key})
		}
	}
	return out
}

// TestMixedGatewaysFloodToEach: head-end replication from a local port
// reaches the IPv4 gateway over IPv4 and the IPv6 gateway over IPv6, in
// either order of the connections.
func TestMixedGatewaysFloodToEach(t *testing.T) {
	for _, reversed := range []bool{false, true} {
		in := mixedSites()
		if reversed {
			slices.Reverse(in.Networks[0].Connections)
		}
		var got []tunnelOutput
		for _, f := range mustCompile(t, in) {
			if f.Table == TableFlood && bytes.Contains(f.Match, matchReg(RegFlags, 0)) {
				got = tunnelOutputs(t, parseInstructions(t, f.Instructions)[0].actions, in.TunnelPorts)
			}
		}
		want := []tunnelOutput{{port: 10, dst: "198.51.100.2", key: 5001}, {port: 12, dst: "2001:db8:0:2::1", key: 5002}}
		if reversed {
			slices.Reverse(want)
		}
		if !slices.Equal(got, want) {
			t.Errorf("reversed=%t: flood from a local port sends %+v, want %+v", reversed, got, want)
		}
	}
}

// TestIPv6GatewayFlows: an IPv6 gateway's traffic is admitted on
// tun_ipv6_src, unicast to its binding goes to its IPv6 address, and
// every flow keeps its table's contract.
func TestIPv6GatewayFlows(t *testing.T) {
	in := mixedSites()
	set := mustCompile(t, in)
	var admitted, unicast bool
	for _, f := range set {
		checkFlowContract(t, f)
		_, owner, _ := DecodeCookie(f.Cookie)
		switch {
		case f.Table == TableClassifier && owner == Owner{Kind: KindConnection, ID: 2}:
			admitted = bytes.Contains(f.Match, matchTunSrc(gw6)) && !bytes.Contains(f.Match, be32(hdrTunIPv4S))
		case f.Table == TableL2Lookup && owner == Owner{Kind: KindBinding, ID: 2}:
			got := tunnelOutputs(t, append(parseInstructions(t, f.Instructions)[0].actions,
				wireAction{typ: openflow13.ActionType_Output, raw: output(12)}), in.TunnelPorts)
			unicast = slices.Equal(got, []tunnelOutput{{port: 12, dst: "2001:db8:0:2::1", key: 5002}})
		}
	}
	if !admitted {
		t.Error("the IPv6 gateway's connection is not admitted on tun_ipv6_src alone")
	}
	if !unicast {
		t.Error("unicast to the IPv6 gateway's binding does not go to its IPv6 address")
	}
}

func TestSourceLookupRestoresIPv6TunnelDst(t *testing.T) {
	checkSourceLookupRestores(t, mixedSites())
	// IPv4-only sites keep the source lookup they always had.
	for _, f := range mustCompile(t, twoSites()) {
		if f.Table == TableSourceLookup && bytes.Contains(f.Instructions, be32(hdrTunIPv6D)) {
			t.Error("an IPv4-only site's source lookup saves tun_ipv6_dst")
		}
	}
}

func TestCompileRejectsARemoteThatIsNoIP(t *testing.T) {
	in := mixedSites()
	in.Networks[0].Connections[1].RemoteIP = net.IP{1, 2, 3}
	if _, err := Compile(in); err == nil || !strings.Contains(err.Error(), "not an IPv4 or IPv6 address") {
		t.Fatalf("Compile with a 3-byte remote IP: %v", err)
	}
}
