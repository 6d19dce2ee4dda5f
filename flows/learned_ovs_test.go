package flows

import (
	"context"
	"fmt"
	"testing"
)

// TestDumpReportsWhatOVSLearned runs the learn action of learnLocal in a
// packet-out from OVS's LOCAL port and checks that Dump reports the entry
// OVS learned with its MAC and port.
func TestDumpReportsWhatOVSLearned(t *testing.T) {
	l := startLab(t)
	cookie := LearnedCookie(7)
	learn := fmt.Sprintf("learn(table=%d,priority=%d,idle_timeout=300,cookie=%#x,NXM_NX_REG6[],"+
		"NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:NXM_OF_IN_PORT[]->NXM_NX_REG7[0..15])", TableL2Lookup, PriorityLearned, cookie)
	// An Ethernet frame from 02:0b:00:00:00:01 to ff:ff:ff:ff:ff:ff, type 0x88b5.
	frame := "ffffffffffff020b0000000188b5" + "00000000000000000000000000000000000000000000000000000000000000000000"
	l.ovs.Ofctl(t, "packet-out", "br0", "LOCAL", "load:7->NXM_NX_REG6[],"+learn, frame)

	dump, err := l.s.Dump(context.Background(), cookie, ^uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(dump) != 1 {
		t.Fatalf("dumped %d learned entries, want 1 (ovs-ofctl: %s)", len(dump), l.ovs.Ofctl(t, "dump-flows", "br0"))
	}
	if f := dump[0]; f.MAC().String() != "02:0b:00:00:00:01" || f.LearnedPort != 0xfffe || f.Table != TableL2Lookup {
		t.Errorf("dumped eth_dst %v port %#x table %d, want 02:0b:00:00:00:01 0xfffe (LOCAL) %d (ovs-ofctl: %s)",
			f.MAC(), f.LearnedPort, f.Table, TableL2Lookup, l.ovs.Ofctl(t, "dump-flows", "br0"))
	}
}
