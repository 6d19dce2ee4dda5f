package flows

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/contiv/libOpenflow/openflow13"
)

// bulkInput is n bindings with one IPv4 each: 2n binding flows (unicast into
// the tunnel, ARP responder) plus each network's and connection's own. Only
// documentation addresses are used, and there are 762 of them, so the
// bindings are spread over networks of at most that many (the same IPs in
// different networks are legal), each with its own VXLAN connection and key.
func bulkInput(n int) *Input {
	in := &Input{TunnelPorts: map[string]uint32{"vxlan": 10}}
	for first := 0; first < n; first += len(docIPv4Nets) * 254 {
		k := uint32(len(in.Networks) + 1)
		c := Connection{ID: k, NetworkType: "vxlan", RemoteIP: net.IPv4(198, 51, 100, 2), SegmentationID: 5000 + k, Flood: true}
		for i := first; i < n && i < first+len(docIPv4Nets)*254; i++ {
			id := uint32(i + 1)
			c.Bindings = append(c.Bindings, Binding{ID: id,
				MAC:  [6]byte{0x02, 0x0b, 0, byte(id >> 16), byte(id >> 8), byte(id)},
				IPv4: []net.IP{docIPv4(i - first)}})
		}
		in.Networks = append(in.Networks, Network{ID: k, Connections: []Connection{c}})
	}
	return in
}

// docIPv4Nets are the three IPv4 documentation networks (RFC 5737).
var docIPv4Nets = [][3]byte{{192, 0, 2}, {198, 51, 100}, {203, 0, 113}}

// docIPv4 returns the i-th (0..761) host address of docIPv4Nets.
func docIPv4(i int) net.IP {
	p := docIPv4Nets[i/254]
	return net.IPv4(p[0], p[1], p[2], byte(i%254+1))
}

// bulkFlows compiles bulkInput(n) into the flows Apply installs.
func bulkFlows(t testing.TB, n int) []*Flow {
	t.Helper()
	set, err := Compile(bulkInput(n))
	if err != nil {
		t.Fatal(err)
	}
	return set.Sorted()
}

// encodingMods are flow_mods of every shape the session sends: adds of the
// pipeline's compiled flows (learn actions included), of bulk binding flows
// and of the session tests' flows, and deletes by cookie.
func encodingMods(t *testing.T) []Mod {
	t.Helper()
	flows := mustCompile(t, twoSites()).Sorted()
	flows = append(flows, bulkFlows(t, 8)...)
	flows = append(flows, testFlows(16)...)
	cookies := make([]uint64, len(flows))
	for i, f := range flows {
		cookies[i] = f.Cookie
	}
	return Mods(flows, cookies)
}

// bundleAdd is one decoded bundle-add message.
type bundleAdd struct {
	xid, bundleID uint32
	flags         uint16
	flowMod       []byte // the message it carries
}

// decodeBundleAdds splits b into OpenFlow messages and decodes each as a
// bundle add carrying a flow_mod, failing t on anything else.
func decodeBundleAdds(t *testing.T, b []byte) []bundleAdd {
	t.Helper()
	var adds []bundleAdd
	for len(b) > 0 {
		if len(b) < bundleAddHeaderLen+ofpHeaderLen {
			t.Fatalf("%d bytes left over", len(b))
		}
		n := int(binary.BigEndian.Uint16(b[2:4]))
		if b[0] != openflow13.VERSION || b[1] != openflow13.Type_Experimenter || n > len(b) || n < bundleAddHeaderLen+ofpHeaderLen {
			t.Fatalf("message %d: not an OpenFlow 1.3 experimenter message: % x", len(adds), b[:bundleAddHeaderLen])
		}
		msg := b[:n]
		b = b[n:]
		if id, typ := binary.BigEndian.Uint32(msg[8:12]), binary.BigEndian.Uint32(msg[12:16]); id != openflow13.ONF_EXPERIMENTER_ID || typ != onfBundleAdd {
			t.Fatalf("message %d: experimenter %#x type %d, want an ONF bundle add", len(adds), id, typ)
		}
		add := bundleAdd{
			xid:      binary.BigEndian.Uint32(msg[4:8]),
			bundleID: binary.BigEndian.Uint32(msg[16:20]),
			flags:    binary.BigEndian.Uint16(msg[22:24]),
			flowMod:  msg[bundleAddHeaderLen:],
		}
		fm := add.flowMod
		if fm[0] != openflow13.VERSION || fm[1] != openflow13.Type_FlowMod || int(binary.BigEndian.Uint16(fm[2:4])) != len(fm) {
			t.Fatalf("message %d carries no whole flow_mod: % x", len(adds), fm[:ofpHeaderLen])
		}
		if inner := binary.BigEndian.Uint32(fm[4:8]); inner != add.xid {
			t.Fatalf("message %d: bundle add xid %d, its flow_mod's %d", len(adds), add.xid, inner)
		}
		adds = append(adds, add)
	}
	return adds
}

// checkBundleAdds fails t unless adds put mods, in order and each with its
// own xid, into atomic bundle 7.
func checkBundleAdds(t *testing.T, adds []bundleAdd, mods []Mod) {
	t.Helper()
	if len(adds) != len(mods) {
		t.Fatalf("decoded %d bundle adds, want %d", len(adds), len(mods))
	}
	seen := make(map[uint32]bool, len(adds))
	for i, a := range adds {
		if a.bundleID != 7 || a.flags != openflow13.OFPBCT_ATOMIC || seen[a.xid] {
			t.Fatalf("bundle add %d: xid %d (again: %t) bundle %d flags %#x; want a fresh xid, bundle 7, flags atomic",
				i, a.xid, seen[a.xid], a.bundleID, a.flags)
		}
		seen[a.xid] = true
		if !bytes.Equal(a.flowMod, mods[i]) {
			t.Fatalf("bundle add %d carries\n%x\nwant mod %d (its xid set)\n%x", i, a.flowMod, i, mods[i])
		}
	}
}

func TestBundleAddsDecodeBack(t *testing.T) {
	mods := encodingMods(t)
	var b []byte
	for i, m := range mods {
		var err error
		if b, err = appendBundleAdd(b, 7, openflow13.OFPBCT_ATOMIC, uint32(5000+i), m); err != nil {
			t.Fatal(err)
		}
	}
	adds := decodeBundleAdds(t, b)
	checkBundleAdds(t, adds, mods)
	for i, a := range adds {
		if a.xid != uint32(5000+i) {
			t.Fatalf("bundle add %d has xid %d, want %d", i, a.xid, 5000+i)
		}
	}

	// libOpenflow's parser reads them back too (the bulk binding flows: it
	// cannot decode every action of the others, such as NXAST_LEARN2).
	for _, f := range bulkFlows(t, 4) {
		if _, o, _ := DecodeCookie(f.Cookie); o.Kind != KindBinding {
			continue
		}
		xid := newXid()
		msg, err := appendBundleAdd(nil, 7, openflow13.OFPBCT_ATOMIC, xid, f.AddMod())
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := openflow13.Parse(msg)
		if err != nil {
			t.Fatalf("libOpenflow cannot parse the bundle add of %#x: %v", f.Cookie, err)
		}
		vh, ok := parsed.(*openflow13.VendorHeader)
		if !ok || vh.Header.Xid != xid {
			t.Fatalf("parsed %T %+v, want a VendorHeader with xid %d", parsed, parsed, xid)
		}
		add := vh.VendorData.(*openflow13.BundleAdd)
		fm, ok := add.Message.(*openflow13.FlowMod)
		if !ok || add.BundleID != 7 || fm.Xid != xid || fm.Cookie != f.Cookie || fm.TableId != f.Table ||
			fm.Priority != f.Priority || fm.Command != openflow13.FC_ADD {
			t.Fatalf("parsed bundle add %+v, flow_mod %+v; want bundle 7 adding %+v", add, fm, f)
		}
	}
}

func TestBundleAddRefusesWhatIsNoFlowModOrTooLarge(t *testing.T) {
	// A flow_mod just under 64 KiB no longer fits once wrapped.
	big := flow(1, 1)
	for range (MaxMessageLen - flowModFixedLen - 8 - 8) / 16 { // empty match, instruction header
		big.apply(output(1))
	}
	f := big.done(Owner{})
	if n := f.WireLen(); n > MaxMessageLen || n+bundleAddHeaderLen <= MaxMessageLen {
		t.Fatalf("test flow is %d bytes, want it to fit a flow_mod but not a bundle add", n)
	}
	short := DeleteCookieMod(1)[:flowModFixedLen-1]
	lying := DeleteCookieMod(1)
	binary.BigEndian.PutUint16(lying[2:], uint16(len(lying)+8))
	for name, m := range map[string]Mod{"oversized": f.AddMod(), "short": short, "wrong length": lying} {
		b, err := appendBundleAdd([]byte("prefix"), 7, openflow13.OFPBCT_ATOMIC, 1, m)
		if err == nil {
			t.Errorf("appendBundleAdd of a %s flow_mod succeeded", name)
		}
		if string(b) != "prefix" {
			t.Errorf("a refused %s bundle add left %d bytes behind", name, len(b)-len("prefix"))
		}
	}
}

// bundle7 "opens" bundle 7.
func bundle7() (uint32, error) { return 7, nil }

// readAll collects what is written to the far end of a pipe.
func readAll(conn net.Conn) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(conn)
		got <- b
	}()
	return got
}

func TestSendBundleAddsWritesEveryModInChunks(t *testing.T) {
	near, far := net.Pipe()
	got := readAll(far)
	mods := Mods(bulkFlows(t, 5000), nil) // 10,000 mods, about 2 MiB
	st, err := sendBundleAdds(context.Background(), near, bundle7, openflow13.OFPBCT_ATOMIC, ModList(mods))
	near.Close()
	if err != nil {
		t.Fatal(err)
	}
	b := <-got
	if st.sent != len(mods) || st.bytes != len(b) || st.bytes < 3*chunkLen {
		t.Fatalf("sent %d mods in %d bytes, the far end read %d; want %d mods in more than %d bytes",
			st.sent, st.bytes, len(b), len(mods), 3*chunkLen)
	}
	checkBundleAdds(t, decodeBundleAdds(t, b), mods)
}

func TestSendBundleAddsStopsAtChunkBoundaries(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	near, far := net.Pipe()
	got := readAll(far)
	st, err := sendBundleAdds(ctx, near, bundle7, openflow13.OFPBCT_ATOMIC, ModList(Mods(bulkFlows(t, 100), nil)))
	near.Close()
	if !errors.Is(err, context.Canceled) || st.sent != 0 || len(<-got) != 0 {
		t.Fatalf("send with an ended context: %d mods sent, %v; want none sent, context canceled", st.sent, err)
	}

	// A mod that cannot be sent stops the send before its chunk: what
	// was sent is whole messages only.
	mods := Mods(bulkFlows(t, 5000), nil)
	const bad = 7000
	mods[bad] = mods[bad][:flowModFixedLen-1]
	near, far = net.Pipe()
	got = readAll(far)
	st, err = sendBundleAdds(context.Background(), near, bundle7, openflow13.OFPBCT_ATOMIC, ModList(mods))
	near.Close()
	if err == nil || !strings.Contains(err.Error(), "mod 7000") {
		t.Fatalf("send with mod %d broken: %v, want it named", bad, err)
	}
	if st.sent == 0 || st.sent > bad {
		t.Fatalf("sent %d mods before broken mod %d", st.sent, bad)
	}
	checkBundleAdds(t, decodeBundleAdds(t, <-got), mods[:st.sent])
}

func TestSendBundleAddsReportsABrokenConnection(t *testing.T) {
	near, far := net.Pipe()
	far.Close()
	_, err := sendBundleAdds(context.Background(), near, bundle7, openflow13.OFPBCT_ATOMIC, ModList(Mods(bulkFlows(t, 10), nil)))
	if !errors.Is(err, errBrokenConnection) {
		t.Fatalf("send to a closed pipe: %v, want errBrokenConnection", err)
	}
}

func TestSendBundleAddsOpensNoBundleForNoMods(t *testing.T) {
	near, far := net.Pipe()
	got := readAll(far)
	opened := false
	open := func() (uint32, error) { opened = true; return 7, nil }
	st, err := sendBundleAdds(context.Background(), near, open, openflow13.OFPBCT_ATOMIC, ModList(nil))
	near.Close()
	if err != nil || opened || st.opened || len(<-got) != 0 {
		t.Fatalf("send of no mods: %v, bundle opened %t, want nothing opened or written", err, opened)
	}
}

func TestSendBundleAddsStopsWhenTheSourceFails(t *testing.T) {
	mods := Mods(bulkFlows(t, 5000), nil)
	const at = 7000
	broken := errors.New("compile failed")
	src := func(emit func(Mod) bool) error {
		for _, m := range mods[:at] {
			if !emit(m) {
				return nil
			}
		}
		return broken
	}
	near, far := net.Pipe()
	got := readAll(far)
	st, err := sendBundleAdds(context.Background(), near, bundle7, openflow13.OFPBCT_ATOMIC, src)
	near.Close()
	if !errors.Is(err, broken) {
		t.Fatalf("send from a failing source: %v, want its error", err)
	}
	if st.sent >= at || st.mods.len() != at {
		t.Fatalf("a failing source's last chunk went out: %d of %d mods sent", st.sent, at)
	}
	checkBundleAdds(t, decodeBundleAdds(t, <-got), mods[:st.sent])
}
