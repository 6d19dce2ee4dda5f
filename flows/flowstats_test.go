package flows

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"
	"unsafe"

	"github.com/contiv/libOpenflow/openflow13"
)

func TestParseFlowStatsReportsEthDstAndDuration(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0x0b, 0, 0, 0, 0x01}
	masked := net.HardwareAddr{0x02, 0x0c, 0, 0, 0, 0x02}
	m1 := *openflow13.NewMatch() // a learned entry: reg6, then eth_dst
	m1.AddField(*openflow13.NewRegMatchField(6, 7, nil))
	m1.AddField(*openflow13.NewEthDstField(mac, nil))
	m2 := *openflow13.NewMatch() // no eth_dst
	m2.AddField(*openflow13.NewInPortField(3))
	m3 := *openflow13.NewMatch()
	m3.AddField(*openflow13.NewEthDstField(masked, &net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0}))
	b := flowStatsBytes(t, m1, m2, m3)
	// Entry 0 has lived 12.5 s.
	binary.BigEndian.PutUint32(b[multipartHeaderLen+4:], 12)
	binary.BigEndian.PutUint32(b[multipartHeaderLen+8:], 500_000_000)

	got, err := dumpOf(t, b, len(b))
	if err != nil {
		t.Fatal(err)
	}
	alone, _, err := decodeFlowStats(b[multipartHeaderLen:]) // an entry also decodes on its own
	if err != nil || alone != got[0] {
		t.Errorf("entry 0 decoded alone: %+v (%v), in the reply: %+v", alone, err, got[0])
	}
	clear(b) // the reader's buffer is reused: what it reports must not change
	if len(got) != 3 {
		t.Fatalf("%d entries, want 3", len(got))
	}
	if !bytes.Equal(got[0].MAC(), mac) || got[0].Duration != 12500*time.Millisecond || got[0].Cookie != 0xA0 {
		t.Errorf("entry 0: eth_dst %v duration %v cookie %#x, want %v 12.5s 0xa0", got[0].MAC(), got[0].Duration, got[0].Cookie, mac)
	}
	if got[1].MAC() != nil {
		t.Errorf("entry 1 matches no eth_dst, got %v", got[1].MAC())
	}
	if !bytes.Equal(got[2].MAC(), masked) {
		t.Errorf("entry 2: masked eth_dst %v, want %v", got[2].MAC(), masked)
	}
}

func TestOXMEthDstAllocatesNothingWithout(t *testing.T) {
	m := *openflow13.NewMatch()
	m.AddField(*openflow13.NewRegMatchField(6, 7, nil))
	m.AddField(*openflow13.NewInPortField(3))
	b := flowStatsBytes(t, m)
	entry := b[multipartHeaderLen:]
	l := int(binary.BigEndian.Uint16(entry[flowStatsLen+2:]))
	oxm := entry[flowStatsLen+4 : flowStatsLen+l]
	if allocs := testing.AllocsPerRun(100, func() {
		if _, found := oxmEthDst(oxm); found {
			t.Fatal("found an eth_dst in a match without one")
		}
	}); allocs != 0 {
		t.Errorf("%v allocations per match without eth_dst, want 0", allocs)
	}
}

func TestParseFlowStatsReportsLearnedPort(t *testing.T) {
	reg7, err := openflow13.FindFieldHeaderByName("NXM_NX_REG7", false)
	if err != nil {
		t.Fatal(err)
	}
	rep := &openflow13.MultipartReply{Header: openflow13.NewOfp13Header(), Type: openflow13.MultipartType_Flow}
	rep.Header.Type = openflow13.Type_MultiPartReply
	for _, load := range []*openflow13.NXActionRegLoad{
		openflow13.NewNXActionRegLoad(15, reg7, 5),       // load:5->NXM_NX_REG7[0..15], as OVS reports a learned entry
		openflow13.NewNXActionRegLoad(16<<6|15, reg7, 6), // reg7[16..31]: not the learned port
	} {
		st := openflow13.NewFlowStats()
		st.Match.AddField(*openflow13.NewEthDstField(net.HardwareAddr{2, 0, 0, 0, 0, 1}, nil))
		apply := openflow13.NewInstrApplyActions()
		apply.AddAction(openflow13.NewActionOutput(9), false)
		apply.AddAction(load, false)
		st.Instructions = append(st.Instructions, apply)
		st.Length = st.Len()
		rep.Body = append(rep.Body, st)
	}
	b, err := rep.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := dumpOf(t, b, len(b))
	if err != nil {
		t.Fatal(err)
	}
	if p := got[0].LearnedPort; p != 5 {
		t.Errorf("learned port %d, want 5", p)
	}
	if p := got[1].LearnedPort; p != 0 {
		t.Errorf("a load into reg7[16..31] read as learned port %d, want 0", p)
	}
}

// TestDumpedFlowsStaySmall guards the sizes a 200,000-flow dump multiplies.
func TestDumpedFlowsStaySmall(t *testing.T) {
	if n := unsafe.Sizeof(DumpedFlow{}); n > 32 {
		t.Errorf("DumpedFlow is %d bytes, want at most 32", n)
	}
}
