package flows

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"reflect"
	"slices"
	"testing"

	"github.com/contiv/libOpenflow/openflow13"
)

// FuzzCompile compiles Inputs decoded from fuzz bytes (see
// decodeFuzzInput): the compiler never panics and never changes its input;
// it either refuses the input with an error, and only input with an ID a
// cookie cannot carry, a remote IP that is neither IPv4 nor IPv6 or a flow too large to
// send, or it returns, deterministically, flows that each fit a bundle add
// (and so a 64 KiB OpenFlow message), whose flow_mods count their own
// bytes, keep their table's contract, carry cookies unique in the set that
// name an object of the input. When the input is one the API can produce
// (unique IDs, ports, tunnel keys, MACs and IPs per network), the flows are
// also the union of CompileTopology's and every binding's CompileBinding
// (as the reconciler compiles them), and no two share table, priority and
// match, which OVS would take for one flow.
func FuzzCompile(f *testing.F) {
	for _, in := range fuzzInputSeeds() {
		f.Add(encodeFuzzInput(in))
	}
	for _, size := range floodSeedSizes {
		f.Add(floodSeed(size))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := decodeFuzzInput(data)
		kept := cloneInput(in)
		set, err := Compile(in)
		if !reflect.DeepEqual(in, kept) {
			t.Fatalf("Compile changed its input")
		}
		set2, err2 := Compile(in)
		if fmt.Sprint(err) != fmt.Sprint(err2) {
			t.Fatalf("Compile gave %v, then %v", err, err2)
		}
		if why := unsendable(in); err != nil || why != "" {
			if err == nil || why == "" {
				t.Fatalf("Compile returned error %v; the input's own fault: %q", err, why)
			}
			return
		}
		checkSameFlows(t, "compiling twice", set, set2)
		owners := inputOwners(in)
		for c, f := range set {
			checkFuzzedFlow(t, c, f, owners)
		}
		if realistic(in) {
			checkSameFlows(t, "Compile versus CompileTopology and CompileBinding", set, compilePieces(t, in))
			checkUnambiguous(t, set)
		}
	})
}

// TestFuzzCompileSeeds checks that FuzzCompile's seeds mean what they say:
// the Inputs decode back to themselves, the realistic ones are, and the
// flood seeds' flood flows have their sizes.
func TestFuzzCompileSeeds(t *testing.T) {
	for i, in := range fuzzInputSeeds() {
		if got := decodeFuzzInput(encodeFuzzInput(in)); !reflect.DeepEqual(got, in) {
			t.Errorf("seed %d decodes to %+v, want %+v", i, got, in)
		}
	}
	if !realistic(twoSites()) || !realistic(allKinds()) {
		t.Errorf("the realistic seeds are not realistic")
	}
	for _, size := range floodSeedSizes {
		in := decodeFuzzInput(floodSeed(size))
		if got := floodFlowLen(&in.Networks[0], in.TunnelPorts); got != size {
			t.Errorf("flood seed of %d bytes has a flood flow of %d", size, got)
		}
	}
}

// fuzzInputSeeds are FuzzCompile's seeds written as Inputs: realistic
// sites, an empty one, and each kind of input the compiler must refuse.
func fuzzInputSeeds() []*Input {
	snooping := allKinds()
	snooping.SnoopHosts = true
	seeds := []*Input{twoSites(), allKinds(), snooping, {}, {TunnelPorts: map[string]uint32{"vxlan": 10}, LearnIdleTimeout: 65535}}
	for _, bad := range []func(in *Input){
		func(in *Input) { in.Networks[0].ID = 0 },
		func(in *Input) { in.Networks[1].ID = MaxOwnerID + 1 },
		func(in *Input) { in.Networks[0].Connections[0].ID = MaxOwnerID + 1 },
		func(in *Input) { in.Networks[0].Connections[1].ID = 0 },
		func(in *Input) { in.Networks[0].Connections[0].Bindings[1].ID = 0 },
		func(in *Input) { in.Networks[0].Connections[0].Bindings[0].ID = MaxOwnerID + 1 },
		func(in *Input) { in.Networks[0].Connections[0].RemoteIP = net.ParseIP("2001:db8::1") },
		func(in *Input) { in.Networks[0].Connections[1].RemoteIP = nil },
	} {
		in := allKinds()
		bad(in)
		seeds = append(seeds, in)
	}
	return seeds
}

// allKinds is a site with every tunnel type, IPv4 in both of net.IP's
// forms, tagged and untagged attachments on one port in two networks, a
// binding with no IP and one with several, and a connection whose type has
// no port.
func allKinds() *Input {
	return &Input{TunnelPorts: map[string]uint32{"vxlan": 10, "gre": 11, "geneve": 12}, LearnIdleTimeout: 1,
		Networks: []Network{
			{ID: 1, Attachments: []Attachment{{OFPort: 1}, {OFPort: 2, VLAN: 1}, {OFPort: 3, VLAN: 4094}},
				Connections: []Connection{
					{ID: 1, NetworkType: "geneve", RemoteIP: net.IPv4(203, 0, 113, 9), SegmentationID: 1<<24 - 1, Flood: true,
						Bindings: []Binding{
							{ID: 1, MAC: [6]byte(mac("02:00:00:00:00:01"))},
							{ID: 2, MAC: [6]byte(mac("02:00:00:00:00:02")), IPv4: []net.IP{
								net.IPv4(192, 0, 2, 1), net.IP{192, 0, 2, 2}, net.IPv4(192, 0, 2, 3)}},
						}},
					{ID: 2, NetworkType: "gre", RemoteIP: net.IP{198, 51, 100, 7}, SegmentationID: 1<<32 - 1},
					{ID: 3, NetworkType: "stt", RemoteIP: net.IPv4(198, 51, 100, 8), SegmentationID: 1,
						Bindings: []Binding{{ID: 3, MAC: [6]byte(mac("02:00:00:00:00:03"))}}},
				}},
			{ID: MaxOwnerID, Attachments: []Attachment{{OFPort: 3}, {OFPort: 0xfffffeff, VLAN: 7}}},
		}}
}

// floodSeedSizes are the sizes of the flood seeds' flood flows (which grow
// by 16 bytes a step): the largest that can be sent, the smallest that
// fits an OpenFlow message but not a bundle add, the smallest over 64 KiB.
var floodSeedSizes = []int{maxFlowModLen - 7, maxFlowModLen + 9, MaxMessageLen + 1}

// floodSeed encodes a network whose flood flow from local ports is size
// bytes (80 plus a multiple of 16): fanned-out connections, tagged
// attachments and untagged ones.
func floodSeed(size int) []byte {
	const fixed, perTagged, perUntagged = flowModFixedLen + 24 + 8, 48, 16
	fanout := (size - fixed) / perTagged / fuzzFanoutStep
	tagged := (size - fixed - fanout*fuzzFanoutStep*perTagged) / perTagged
	untagged := (size - fixed - (fanout*fuzzFanoutStep+tagged)*perTagged) / perUntagged
	n := Network{ID: 1}
	for i := range tagged + untagged {
		a := Attachment{OFPort: uint32(i + 1)}
		if i < tagged {
			a.VLAN = 100
		}
		n.Attachments = append(n.Attachments, a)
	}
	return encodeFuzzInput(&Input{TunnelPorts: map[string]uint32{"vxlan": 1 << 16}, Networks: []Network{n}},
		fuzzFanoutMin+uint8(fanout-1))
}

// unsendable says why in cannot be compiled ("" when it can): an ID out of
// the range a cookie carries, a remote IP that is neither IPv4 nor IPv6 on a connection
// whose tunnel port exists, or a flood flow over the largest flow_mod that
// can be sent.
func unsendable(in *Input) string {
	outOfRange := func(id uint32) bool { return id == 0 || id > MaxOwnerID }
	for i := range in.Networks {
		n := &in.Networks[i]
		if outOfRange(n.ID) {
			return fmt.Sprintf("network ID %d", n.ID)
		}
		for _, c := range n.Connections {
			if _, ok := in.TunnelPorts[c.NetworkType]; !ok {
				continue
			}
			switch {
			case c.RemoteIP.To4() == nil && c.RemoteIP.To16() == nil:
				return fmt.Sprintf("connection %d's remote IP %v", c.ID, c.RemoteIP)
			case outOfRange(c.ID):
				return fmt.Sprintf("connection ID %d", c.ID)
			}
			for _, b := range c.Bindings {
				if outOfRange(b.ID) {
					return fmt.Sprintf("binding ID %d", b.ID)
				}
			}
		}
		if size := floodFlowLen(n, in.TunnelPorts); size > maxFlowModLen {
			return fmt.Sprintf("network %d's flood flow of %d bytes", n.ID, size)
		}
	}
	return ""
}

// floodFlowLen is the size of n's flood flow from local ports: the fixed
// part, the match on reg6 and reg5 (padded), the apply-actions header; an
// output per untagged attachment; push_vlan, set_field vlan_vid, output and
// pop_vlan per tagged one; set_field tun_dst, set_field tun_id and output
// per flooding connection whose tunnel port exists.
func floodFlowLen(n *Network, tunnelPorts map[string]uint32) int {
	size := flowModFixedLen + 24 + 8
	for _, a := range n.Attachments {
		size += 16
		if a.VLAN != 0 {
			size += 32
		}
	}
	for _, c := range n.Connections {
		if _, ok := tunnelPorts[c.NetworkType]; ok && c.Flood {
			size += 48
		}
	}
	return size
}

// checkSameFlows checks that a and b hold byte-identical flows under the
// same cookies.
func checkSameFlows(t *testing.T, what string, a, b FlowSet) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d flows, then %d", what, len(a), len(b))
	}
	for c, f := range a {
		g, ok := b[c]
		if !ok || !bytes.Equal(f.AddMod(), g.AddMod()) {
			t.Fatalf("%s: flow %x differs", what, c)
		}
	}
}

// compilePieces compiles in the way the reconciler does: the topology, then
// each binding on its own.
func compilePieces(t *testing.T, in *Input) FlowSet {
	t.Helper()
	set, err := CompileTopology(in)
	if err != nil {
		t.Fatalf("Compile succeeded, CompileTopology failed: %v", err)
	}
	for _, n := range in.Networks {
		for _, c := range n.Connections {
			for _, b := range c.Bindings {
				fs, err := CompileBinding(n.ID, &c, in.TunnelPorts, &b)
				if err != nil {
					t.Fatalf("Compile succeeded, CompileBinding of %d failed: %v", b.ID, err)
				}
				for _, f := range fs {
					if _, dup := set[f.Cookie]; dup {
						t.Fatalf("CompileBinding of %d gives cookie %x twice", b.ID, f.Cookie)
					}
					set[f.Cookie] = f
				}
			}
		}
	}
	return set
}

// inputOwners is every owner the input's flows may name.
func inputOwners(in *Input) map[Owner]bool {
	owners := map[Owner]bool{{Kind: KindPipeline}: true}
	for typ := range in.TunnelPorts {
		owners[Owner{Kind: KindTunnel, ID: tunnelTypeID(typ)}] = true
	}
	for _, n := range in.Networks {
		owners[Owner{Kind: KindNetwork, ID: n.ID}] = true
		for _, c := range n.Connections {
			owners[Owner{Kind: KindConnection, ID: c.ID}] = true
			for _, b := range c.Bindings {
				owners[Owner{Kind: KindBinding, ID: b.ID}] = true
			}
		}
	}
	return owners
}

// checkFuzzedFlow checks one compiled flow, held under cookie c.
func checkFuzzedFlow(t *testing.T, c uint64, f *Flow, owners map[Owner]bool) {
	t.Helper()
	m := f.AddMod()
	if f.Cookie != c || binary.BigEndian.Uint64(m[8:16]) != c {
		t.Fatalf("flow held under cookie %x has cookie %x, its flow_mod %x", c, f.Cookie, binary.BigEndian.Uint64(m[8:16]))
	}
	tag, owner, _ := DecodeCookie(c)
	if tag != TagController || !owners[owner] {
		t.Fatalf("flow %x names %s (tag %x), not an object of the input", c, owner, tag)
	}
	if n := f.WireLen(); n >= 1<<16 || n != len(m) || int(binary.BigEndian.Uint16(m[2:4])) != n {
		t.Fatalf("flow %x: WireLen %d, flow_mod of %d bytes with length field %d", c, n, len(m), binary.BigEndian.Uint16(m[2:4]))
	}
	if _, err := appendBundleAdd(nil, 1, openflow13.OFPBCT_ATOMIC, 1, slices.Clone(m)); err != nil {
		t.Fatalf("flow %x cannot be sent: %v", c, err)
	}
	checkFlowContract(t, f)
}

// realistic tells whether in is one the API can produce: unique IDs of
// each kind; tunnel ports distinct, and no attachment's; a port once per
// network and a (port, VLAN) in one network only; one connection per
// network and gateway (remote IP); tunnel keys unique; MACs and IPs unique
// per network.
func realistic(in *Input) bool {
	seen := map[string]bool{}
	// fresh records key and tells whether it was new.
	fresh := func(format string, args ...any) bool {
		k := fmt.Sprintf(format, args...)
		dup := seen[k]
		seen[k] = true
		return !dup
	}
	for _, port := range in.TunnelPorts {
		if !fresh("tunnel port %d", port) {
			return false
		}
	}
	for _, n := range in.Networks {
		if !fresh("network %d", n.ID) {
			return false
		}
		for _, a := range n.Attachments {
			if seen[fmt.Sprintf("tunnel port %d", a.OFPort)] || !fresh("port %d in %d", a.OFPort, n.ID) ||
				!fresh("port %d vlan %d", a.OFPort, a.VLAN) {
				return false
			}
		}
		for _, c := range n.Connections {
			if !fresh("connection %d", c.ID) || !fresh("gateway %v in %d", c.RemoteIP, n.ID) ||
				!fresh("key %s %v %d", c.NetworkType, c.RemoteIP, c.SegmentationID) {
				return false
			}
			for _, b := range c.Bindings {
				if !fresh("binding %d", b.ID) || !fresh("mac %v in %d", b.MAC, n.ID) {
					return false
				}
				for _, ip := range slices.Concat(b.IPv4, b.IPv6) {
					if !fresh("ip %v in %d", ip, n.ID) {
						return false
					}
				}
			}
		}
	}
	return true
}

// checkUnambiguous checks that no two flows share table, priority and
// match: OVS would keep only the last one added.
func checkUnambiguous(t *testing.T, set FlowSet) {
	t.Helper()
	seen := map[string]uint64{}
	for c, f := range set {
		key := fmt.Sprintf("%d/%d/%x", f.Table, f.Priority, f.Match)
		if other, dup := seen[key]; dup {
			t.Fatalf("flows %x and %x share table %d, priority %d and match %x", c, other, f.Table, f.Priority, f.Match)
		}
		seen[key] = c
	}
}

func cloneInput(in *Input) *Input {
	out := *in
	if in.TunnelPorts != nil {
		out.TunnelPorts = make(map[string]uint32, len(in.TunnelPorts))
		for k, v := range in.TunnelPorts {
			out.TunnelPorts[k] = v
		}
	}
	out.Networks = slices.Clone(in.Networks)
	for i := range out.Networks {
		n := &out.Networks[i]
		n.Attachments = slices.Clone(n.Attachments)
		n.Connections = slices.Clone(n.Connections)
		for j := range n.Connections {
			c := &n.Connections[j]
			c.RemoteIP = slices.Clone(c.RemoteIP)
			c.Bindings = slices.Clone(c.Bindings)
			for k := range c.Bindings {
				b := &c.Bindings[k]
				b.IPv4 = cloneIPs(b.IPv4)
				b.IPv6 = cloneIPs(b.IPv6)
			}
		}
	}
	return &out
}

func cloneIPs(ips []net.IP) []net.IP {
	out := slices.Clone(ips)
	for i := range out {
		out[i] = slices.Clone(out[i])
	}
	return out
}

// Fuzz input encoding. Numbers are big-endian; a read past the end gives
// zeros, and a list stops early when the data runs out or at its cap.
//
//	input      = ports:u8 (bit i: tunnelTypes[i] has a port; bit 7:
//	             SnoopHosts) {ofport:u32}
//	             learn_idle_timeout:u16 count:u16 {network}
//	network    = id fanout:u8 count:u16 {attachment} count:u16 {connection}
//	             fanout: from fuzzFanoutMin on, (fanout-fuzzFanoutMin+1) *
//	             fuzzFanoutStep flooding VXLAN connections are added after
//	             the listed ones (see fanoutConnection), so that a short
//	             input can reach OpenFlow's message limit; below it, none
//	attachment = ofport:u32 vlan:u16 (modulo 4095, as the API allows)
//	connection = type:u8 (index into tunnelTypes, modulo) flags:u8 remote
//	             segmentation_id:u32 id count:u16 {binding}
//	             flags: bit 0 flood; bits 1-2 remote IP: 0 IPv4 (4 bytes),
//	             1 IPv4 in net.IP's 16-byte form (4 bytes), 2 IPv6 (16
//	             bytes), 3 none
//	binding    = id mac:6 bytes count:u16 {form:u8 ip}: form bit 1 set, an
//	             IPv6 address (16 bytes); otherwise IPv4 (4 bytes), in
//	             net.IP's 16-byte form when bit 0 is set
//	id         = u16: 0xffff is 0, 0xfffe MaxOwnerID+1, 0xfffd MaxOwnerID,
//	             any other v is v+1
var tunnelTypes = []string{"vxlan", "gre", "geneve", "stt"}

// Fan-out of a network's connections (see the encoding).
const (
	fuzzFanoutMin  = 0xf8
	fuzzFanoutStep = 256
)

// Caps on the fuzz input's lists. Identical flows (which the API never
// produces: it refuses duplicate IPs, ports and tunnel keys) get their
// cookies bumped one by one, in time that grows with the square (the cube
// within a binding) of their number; the caps keep every input fast while
// leaving room for a flood flow over 64 KiB (about 1,365 connections or
// tagged attachments).
const (
	maxFuzzNetworks = 16
	maxFuzzPorts    = 1400 // attachments, and connections, per network
	maxFuzzBindings = 64   // bindings per connection, IPs per binding
)

// Remote IP forms in a connection's flags (bits 1-2).
const (
	remoteIPv4 = iota
	remoteIPv4In16
	remoteIPv6
	remoteNone
)

// fuzzReader reads the fuzz input encoding.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) more() bool { return len(r.b) > 0 }

func (r *fuzzReader) bytes(n int) []byte {
	out := make([]byte, n)
	r.b = r.b[copy(out, r.b):]
	return out
}

func (r *fuzzReader) u8() uint8   { return r.bytes(1)[0] }
func (r *fuzzReader) u16() uint16 { return binary.BigEndian.Uint16(r.bytes(2)) }
func (r *fuzzReader) u32() uint32 { return binary.BigEndian.Uint32(r.bytes(4)) }

func (r *fuzzReader) id() uint32 {
	switch v := r.u16(); v {
	case 0xffff:
		return 0
	case 0xfffe:
		return MaxOwnerID + 1
	case 0xfffd:
		return MaxOwnerID
	default:
		return uint32(v) + 1
	}
}

// fuzzSnoopHosts is the bit of the input's ports byte (see the encoding)
// that sets Input.SnoopHosts.
const fuzzSnoopHosts = 0x80

// decodeFuzzInput decodes the fuzz input encoding.
func decodeFuzzInput(data []byte) *Input {
	r := &fuzzReader{b: data}
	in := &Input{}
	ports := r.u8()
	in.SnoopHosts = ports&fuzzSnoopHosts != 0
	for i, typ := range tunnelTypes {
		if ports&(1<<i) != 0 {
			if in.TunnelPorts == nil {
				in.TunnelPorts = map[string]uint32{}
			}
			in.TunnelPorts[typ] = r.u32()
		}
	}
	in.LearnIdleTimeout = r.u16()
	for n := min(r.u16(), maxFuzzNetworks); n > 0 && r.more(); n-- {
		nw := Network{ID: r.id()}
		fanout := r.u8()
		for k := min(r.u16(), maxFuzzPorts); k > 0 && r.more(); k-- {
			nw.Attachments = append(nw.Attachments, Attachment{OFPort: r.u32(), VLAN: r.u16() % 4095})
		}
		for k := min(r.u16(), maxFuzzPorts); k > 0 && r.more(); k-- {
			nw.Connections = append(nw.Connections, decodeFuzzConnection(r))
		}
		if fanout >= fuzzFanoutMin {
			for i := range min(int(fanout-fuzzFanoutMin+1)*fuzzFanoutStep, maxFuzzPorts) {
				nw.Connections = append(nw.Connections, fanoutConnection(i))
			}
		}
		in.Networks = append(in.Networks, nw)
	}
	return in
}

// fanoutConnection is the i-th connection a network's fan-out adds.
func fanoutConnection(i int) Connection {
	return Connection{ID: 1<<16 + uint32(i), NetworkType: "vxlan", RemoteIP: net.IPv4(203, 0, 113, byte(i)),
		SegmentationID: 1<<16 + uint32(i), Flood: true}
}

func decodeFuzzConnection(r *fuzzReader) Connection {
	c := Connection{NetworkType: tunnelTypes[int(r.u8())%len(tunnelTypes)]}
	flags := r.u8()
	c.Flood = flags&1 != 0
	switch flags >> 1 & 3 {
	case remoteIPv4:
		c.RemoteIP = net.IP(r.bytes(4))
	case remoteIPv4In16:
		b := r.bytes(4)
		c.RemoteIP = net.IPv4(b[0], b[1], b[2], b[3])
	case remoteIPv6:
		c.RemoteIP = net.IP(r.bytes(16))
	}
	c.SegmentationID = r.u32()
	c.ID = r.id()
	for k := min(r.u16(), maxFuzzBindings); k > 0 && r.more(); k-- {
		b := Binding{ID: r.id(), MAC: [6]byte(r.bytes(6))}
		for l := min(r.u16(), maxFuzzBindings); l > 0 && r.more(); l-- {
			form := r.u8()
			if form&2 != 0 {
				b.IPv6 = append(b.IPv6, net.IP(r.bytes(16)))
				continue
			}
			ip := r.bytes(4)
			if form&1 != 0 {
				ip = net.IPv4(ip[0], ip[1], ip[2], ip[3])
			}
			b.IPv4 = append(b.IPv4, net.IP(ip))
		}
		c.Bindings = append(c.Bindings, b)
	}
	return c
}

// encodeFuzzInput encodes in for decodeFuzzInput, with the i-th network's
// fan-out byte fanouts[i] (0 when missing), within the limits of the
// encoding: IDs up to 65533 or one of the special ones, VLANs up to 4094,
// MACs of 6 bytes, lists within their caps.
func encodeFuzzInput(in *Input, fanouts ...uint8) []byte {
	var b []byte
	var ports uint8
	for i, typ := range tunnelTypes {
		if _, ok := in.TunnelPorts[typ]; ok {
			ports |= 1 << i
		}
	}
	if in.SnoopHosts {
		ports |= fuzzSnoopHosts
	}
	b = append(b, ports)
	for _, typ := range tunnelTypes {
		if port, ok := in.TunnelPorts[typ]; ok {
			b = binary.BigEndian.AppendUint32(b, port)
		}
	}
	b = binary.BigEndian.AppendUint16(b, in.LearnIdleTimeout)
	b = binary.BigEndian.AppendUint16(b, uint16(len(in.Networks)))
	for i, n := range in.Networks {
		b = appendFuzzID(b, n.ID)
		var fanout uint8
		if i < len(fanouts) {
			fanout = fanouts[i]
		}
		b = append(b, fanout)
		b = binary.BigEndian.AppendUint16(b, uint16(len(n.Attachments)))
		for _, a := range n.Attachments {
			b = binary.BigEndian.AppendUint32(b, a.OFPort)
			b = binary.BigEndian.AppendUint16(b, a.VLAN)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(n.Connections)))
		for _, c := range n.Connections {
			b = appendFuzzConnection(b, &c)
		}
	}
	return b
}

func appendFuzzConnection(b []byte, c *Connection) []byte {
	b = append(b, byte(slices.Index(tunnelTypes, c.NetworkType)))
	var flags uint8
	if c.Flood {
		flags = 1
	}
	var remote []byte
	switch {
	case c.RemoteIP == nil:
		flags |= remoteNone << 1
	case len(c.RemoteIP) == net.IPv4len:
		remote = c.RemoteIP
	case c.RemoteIP.To4() != nil:
		flags |= remoteIPv4In16 << 1
		remote = c.RemoteIP.To4()
	default:
		flags |= remoteIPv6 << 1
		remote = c.RemoteIP
	}
	b = append(append(b, flags), remote...)
	b = binary.BigEndian.AppendUint32(b, c.SegmentationID)
	b = appendFuzzID(b, c.ID)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Bindings)))
	for _, bd := range c.Bindings {
		b = appendFuzzID(b, bd.ID)
		b = append(b, bd.MAC[:]...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(bd.IPv4)+len(bd.IPv6)))
		for _, ip := range bd.IPv4 {
			var form byte
			if len(ip) == net.IPv6len {
				form = 1
			}
			b = append(append(b, form), ip.To4()...)
		}
		for _, ip := range bd.IPv6 {
			b = append(append(b, 2), ip.To16()...)
		}
	}
	return b
}

func appendFuzzID(b []byte, id uint32) []byte {
	v := uint16(id - 1)
	switch {
	case id == 0:
		v = 0xffff
	case id == MaxOwnerID+1:
		v = 0xfffe
	case id == MaxOwnerID:
		v = 0xfffd
	case id > 0xfffd:
		panic(fmt.Sprintf("ID %d cannot be encoded", id))
	}
	return binary.BigEndian.AppendUint16(b, v)
}
