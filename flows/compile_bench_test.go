package flows

import (
	"encoding/binary"
	"net"
	"testing"
)

// benchInput is one network with one connection holding n bindings, one
// IPv4 each (2n binding flows).
func benchInput(n int) *Input {
	c := Connection{ID: 1, NetworkType: "vxlan", RemoteIP: net.ParseIP("198.51.100.2"), SegmentationID: 5001, Flood: true}
	for i := range n {
		m := net.HardwareAddr{0x02, 0x0b, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(m[2:], uint32(i))
		ip := net.IPv4(192, 0, 2, 0).To4()
		binary.BigEndian.PutUint32(ip, 0xC0000200+uint32(i)) // distinct values; never sent anywhere
		c.Bindings = append(c.Bindings, Binding{ID: uint32(i + 1), MAC: m, IPv4: []net.IP{ip}})
	}
	return &Input{TunnelPorts: map[string]uint32{"vxlan": 3},
		Networks: []Network{{ID: 1, Attachments: []Attachment{{OFPort: 1}}, Connections: []Connection{c}}}}
}

// BenchmarkCompile100k is the full compile a resync does at 100,000 bindings.
func BenchmarkCompile100k(b *testing.B) {
	in := benchInput(100_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileBinding is the work of one binding change.
func BenchmarkCompileBinding(b *testing.B) {
	in := benchInput(1)
	c := &in.Networks[0].Connections[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CompileBinding(1, c, in.TunnelPorts, &c.Bindings[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDiff100k diffs 100,000 bindings' flows against a switch that has
// all but one binding.
func BenchmarkDiff100k(b *testing.B) {
	desired, err := Compile(benchInput(100_000))
	if err != nil {
		b.Fatal(err)
	}
	installed := desired.Cookies()
	for c := range installed {
		delete(installed, c)
		break
	}
	b.ReportAllocs()
	for b.Loop() {
		Diff(desired, installed)
	}
}

// BenchmarkMods100k encodes 100,000 bindings' flows as flow_mods.
func BenchmarkMods100k(b *testing.B) {
	desired, err := Compile(benchInput(100_000))
	if err != nil {
		b.Fatal(err)
	}
	adds := desired.Sorted()
	b.ReportAllocs()
	for b.Loop() {
		Mods(adds, nil)
	}
}
