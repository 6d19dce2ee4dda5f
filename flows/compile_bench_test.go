package flows

import (
	"testing"
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
