package flows

import (
	"encoding/binary"
	"testing"

	"github.com/contiv/libOpenflow/openflow13"
)

// BenchmarkCompile100k is the full compile a resync does at 100,000 bindings.
func BenchmarkCompile100k(b *testing.B) {
	in := bulkInput(100_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileBinding is the work of one binding change.
func BenchmarkCompileBinding(b *testing.B) {
	in := bulkInput(1)
	c := &in.Networks[0].Connections[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CompileBinding(1, c, in.TunnelPorts, &c.Bindings[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkContractCheck is the check the builder runs on one binding's
// flows (its forwarding flow and one ARP answer).
func BenchmarkContractCheck(b *testing.B) {
	in := bulkInput(1)
	c := &in.Networks[0].Connections[0]
	fs, err := CompileBinding(1, c, in.TunnelPorts, &c.Bindings[0])
	if err != nil {
		b.Fatal(err)
	}
	type parts struct {
		table          uint8
		fields, action []byte
		next           int
	}
	var flows []parts
	for _, f := range fs {
		p := parts{table: f.Table, fields: f.Match[4:binary.BigEndian.Uint16(f.Match[2:])], next: -1}
		for in := f.Instructions; len(in) > 0; in = in[binary.BigEndian.Uint16(in[2:]):] {
			switch binary.BigEndian.Uint16(in) {
			case openflow13.InstrType_APPLY_ACTIONS:
				p.action = in[8:binary.BigEndian.Uint16(in[2:])]
			case openflow13.InstrType_GOTO_TABLE:
				p.next = int(in[4])
			}
		}
		flows = append(flows, p)
	}
	for b.Loop() {
		for _, p := range flows {
			if checkContract(contracts, p.table, p.fields, p.action, p.next) != 0 {
				b.Fatal("breach")
			}
		}
	}
}
