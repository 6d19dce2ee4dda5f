package flows

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/libOpenflow/util"
	"github.com/sirupsen/logrus"
)

// flowPart is one flow-stats reply part carrying the flows with the given cookies.
func flowPart(xid uint32, more bool, cookies ...uint64) *openflow13.MultipartReply {
	rep := &openflow13.MultipartReply{Header: openflow13.NewOfp13Header(), Type: openflow13.MultipartType_Flow}
	rep.Xid = xid
	if more {
		rep.Flags = openflow13.OFPMPF_REPLY_MORE
	}
	for _, c := range cookies {
		st := openflow13.NewFlowStats()
		st.Cookie = c
		rep.Body = append(rep.Body, st)
	}
	return rep
}

func cookiesOf(entries []util.Message) map[uint64]bool {
	got := map[uint64]bool{}
	for _, e := range entries {
		got[e.(*openflow13.FlowStats).Cookie] = true
	}
	return got
}

// readParts has r count parts as read off the connection, in order: one
// per final flag.
func readParts(r *replyParts, finals ...bool) {
	for _, f := range finals {
		r.seen(f)
	}
}

func TestReplyPartsInOrder(t *testing.T) {
	r := newReplyParts(openflow13.MultipartType_Flow)
	readParts(r, false, false, true)
	r.add(flowPart(7, true, 1, 2))
	r.add(flowPart(7, true, 3, 4))
	r.add(flowPart(7, false, 5))
	entries, err := r.wait(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := cookiesOf(entries); len(got) != 5 {
		t.Fatalf("got cookies %v, want 1-5", got)
	}
}

func TestReplyPartsFinalPartFirst(t *testing.T) {
	r := newReplyParts(openflow13.MultipartType_Flow)
	readParts(r, false, false, true)
	r.add(flowPart(7, false, 5)) // parsed first
	if r.complete() {
		t.Fatal("complete with 1 of 3 parts")
	}
	done := make(chan []util.Message)
	go func() {
		entries, err := r.wait(context.Background(), time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- entries
	}()
	r.add(flowPart(7, true, 3, 4))
	r.add(flowPart(7, true, 1, 2))
	if got := cookiesOf(<-done); len(got) != 5 {
		t.Fatalf("got cookies %v, want 1-5", got)
	}
}

func TestReplyPartsNeedsFinalPart(t *testing.T) {
	r := newReplyParts(openflow13.MultipartType_Flow)
	readParts(r, false)
	r.add(flowPart(7, true, 1, 2))
	if r.complete() {
		t.Fatal("complete before the final part arrived")
	}
	readParts(r, true)
	r.add(flowPart(7, false))
	if !r.complete() {
		t.Fatal("not complete after the final (empty) part")
	}
}

func TestReplyPartsEmptyReply(t *testing.T) {
	r := newReplyParts(openflow13.MultipartType_Flow)
	readParts(r, true)
	r.add(flowPart(7, false))
	entries, err := r.wait(context.Background(), time.Second)
	if err != nil || len(entries) != 0 {
		t.Fatalf("got %d entries, %v; want none", len(entries), err)
	}
}

func TestReplyPartsIgnoresOtherTypes(t *testing.T) {
	r := newReplyParts(openflow13.MultipartType_GroupDesc)
	readParts(r, true)
	r.add(flowPart(7, false, 1))
	if r.complete() {
		t.Fatal("a flow-stats part completed a group description reply")
	}
}

func TestReplyPartsTimesOut(t *testing.T) {
	r := newReplyParts(openflow13.MultipartType_Flow)
	readParts(r, false)
	r.add(flowPart(7, true, 1))
	start := time.Now()
	_, err := r.wait(context.Background(), 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "1 parts of 1 read, final part seen: false") {
		t.Fatalf("wait: %v, want a timeout naming 1 part read, no final part", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("timed out after %s, want about 50ms", d)
	}
}

func TestReplyPartsIdleTimerRestartsOnProgress(t *testing.T) {
	r := newReplyParts(openflow13.MultipartType_Flow)
	go func() {
		for c := uint64(1); c <= 3; c++ {
			time.Sleep(60 * time.Millisecond)
			readParts(r, c == 3)
			r.add(flowPart(7, c < 3, c))
		}
	}()
	// Each part comes within the idle time; the whole takes longer.
	if _, err := r.wait(context.Background(), 150*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

func TestReplyPartsContextCancel(t *testing.T) {
	r := newReplyParts(openflow13.MultipartType_Flow)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.wait(ctx, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait: %v, want context.Canceled", err)
	}
}

func TestListenAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Listen(l.Addr().String(), slog.Default())
	if err == nil || !strings.Contains(err.Error(), "openflow listen "+l.Addr().String()) {
		t.Fatalf("Listen on a busy address: %v, want an openflow listen error", err)
	}
}

func TestNotConnected(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s, err := Listen(addr, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Connected() {
		t.Fatal("connected without a switch")
	}
	if err := s.Apply(context.Background(), ModList([]Mod{DeleteCookieMod(1)})); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Apply: %v, want ErrNotConnected", err)
	}
	if _, err := s.Dump(context.Background(), 0, 0); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Dump: %v, want ErrNotConnected", err)
	}
}

// flowStatsBytes marshals a flow-stats reply with one entry per match.
func flowStatsBytes(t *testing.T, matches ...openflow13.Match) []byte {
	t.Helper()
	rep := &openflow13.MultipartReply{Header: openflow13.NewOfp13Header(), Type: openflow13.MultipartType_Flow}
	rep.Header.Type = openflow13.Type_MultiPartReply
	for i, m := range matches {
		st := openflow13.NewFlowStats()
		st.Cookie, st.TableId, st.Priority = uint64(i)+0xA0, uint8(i), uint16(100+i)
		st.Match = m
		apply := openflow13.NewInstrApplyActions()
		apply.AddAction(openflow13.NewActionOutput(1), false)
		st.Instructions = append(st.Instructions, apply)
		st.Length = st.Len()
		rep.Body = append(rep.Body, st)
	}
	b, err := rep.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseFlowStatsKeepsCookieTablePriority(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0xab, 0xcd}
	ip := net.ParseIP("2001:db8::1")
	mask := uint64(0xffff)
	m1 := *openflow13.NewMatch()
	m1.AddField(*openflow13.NewInPortField(3))
	m1.AddField(*openflow13.NewEthDstField(mac, nil))
	m2 := *openflow13.NewMatch()
	m2.AddField(*openflow13.NewRegMatchField(6, 42, nil))
	m2.AddField(*openflow13.NewMetadataField(7, &mask))
	m2.AddField(*openflow13.NewEthTypeField(0x86dd))
	m2.AddField(*openflow13.NewIpv6DstField(ip, nil))
	m3 := *openflow13.NewMatch() // matches everything
	b := flowStatsBytes(t, m1, m2, m3)

	// Read off the connection in reads of 5 bytes, as a Dump reads it.
	got, err := dumpOf(t, b, 5)
	if err != nil || len(got) != 3 {
		t.Fatalf("decoded %d entries (%v), want 3", len(got), err)
	}
	for i, f := range got {
		if f.Cookie != uint64(i)+0xA0 || f.Table != uint8(i) || f.Priority != uint16(100+i) {
			t.Errorf("entry %d: cookie %#x table %d priority %d", i, f.Cookie, f.Table, f.Priority)
		}
	}
	// The same reply, late for a Dump that gave up, reaches ofctrl as a
	// bare header: libOpenflow's decoder panics on actions it does not know.
	msg, err := openflow13Parser{}.Parse(b)
	if rep, ok := msg.(*openflow13.MultipartReply); err != nil || !ok || rep.Type != openflow13.MultipartType_Flow || len(rep.Body) != 0 {
		t.Fatalf("an unclaimed flow stats reply parsed as %+v (%v), want its header", msg, err)
	}
}

// dumpOf has a session's connection read the flow-stats reply b, in reads
// of chunk bytes, while a Dump waits for it; it returns what the Dump
// would.
func dumpOf(t *testing.T, b []byte, chunk int) ([]DumpedFlow, error) {
	t.Helper()
	s := &Session{dumps: map[uint32]*flowDump{}}
	d := &flowDump{done: make(chan struct{}), progress: make(chan struct{}, 1)}
	s.dumps[binary.BigEndian.Uint32(b[4:8])] = d
	tap := &inboundTap{onError: func(switchError) {}, claim: s.claimDump}
	for ; len(b) > 0; b = b[min(chunk, len(b)):] {
		tap.scan(b[:min(chunk, len(b))])
	}
	select {
	case <-d.done:
		return d.flows, d.err
	default:
		t.Fatal("the dump did not complete")
		return nil, nil
	}
}

func TestParseFlowStatsRejectsTruncated(t *testing.T) {
	m := *openflow13.NewMatch()
	m.AddField(*openflow13.NewInPortField(3))
	b := flowStatsBytes(t, m)
	binary.BigEndian.PutUint16(b[multipartHeaderLen:], 400) // entry longer than the message
	if _, err := dumpOf(t, b, len(b)); err == nil {
		t.Fatal("decoded a flow stats entry running past the message")
	}
	b = flowStatsBytes(t, m)
	binary.BigEndian.PutUint16(b[multipartHeaderLen+flowStatsLen+2:], 200) // match longer than the entry
	if _, err := dumpOf(t, b, len(b)); err == nil {
		t.Fatal("decoded a flow stats entry whose match runs past it")
	}
}

func TestEventsKeepLatestStateWhenReaderLags(t *testing.T) {
	s := &Session{events: make(chan Event, eventBuffer)}
	for i := 0; i < 3*eventBuffer+1; i++ { // never blocks
		s.notify(Event{Connected: i%2 == 0})
	}
	var last Event
	for n := 0; n < eventBuffer; n++ {
		select {
		case last = <-s.Events():
		default:
			t.Fatalf("only %d events queued, want %d", n, eventBuffer)
		}
	}
	if !last.Connected {
		t.Fatal("last queued event says disconnected, the latest state is connected")
	}
}

// ofMessage is an OpenFlow 1.3 message of the given type and xid with body.
func ofMessage(typ uint8, xid uint32, body ...byte) []byte {
	b := []byte{openflow13.VERSION, typ, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(8+len(body)))
	binary.BigEndian.PutUint32(b[4:], xid)
	return append(b, body...)
}

func TestInboundTapFindsErrorsAcrossReads(t *testing.T) {
	var stream []byte
	stream = append(stream, ofMessage(openflow13.Type_EchoRequest, 1)...)
	// bad instruction (3), bad table id (2), with the start of the offending request
	stream = append(stream, ofMessage(openflow13.Type_Error, 2, 0, 3, 0, 2, 4, 0x12, 0, 8, 1, 2, 3, 4)...)
	stream = append(stream, ofMessage(openflow13.Type_MultiPartReply, 3, make([]byte, 100)...)...)
	// experimenter error 2301, ONF
	stream = append(stream, ofMessage(openflow13.Type_Error, 4, 0xff, 0xff, 0x08, 0xfd, 0x4f, 0x4e, 0x46, 0x00)...)
	stream = append(stream, ofMessage(openflow13.Type_EchoReply, 5)...)

	for _, chunk := range []int{1, 3, 7, 13, len(stream)} {
		var got []switchError
		c := &inboundTap{onError: func(e switchError) { got = append(got, e) }}
		for b := stream; len(b) > 0; {
			k := min(chunk, len(b))
			c.scan(b[:k])
			b = b[k:]
		}
		want := []switchError{{xid: 2, typ: 3, code: 2}, {xid: 4, typ: 0xffff, code: 2301, vendor: 0x4f4e4600}}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("reads of %d bytes: errors %+v, want %+v", chunk, got, want)
		}
	}
}

func TestLogrusEntriesReachSlog(t *testing.T) {
	var buf strings.Builder
	h := &slogHook{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	h.Fire(&logrus.Entry{Level: logrus.ErrorLevel, Message: "bundle failed", Data: logrus.Fields{"xid": 7}})
	h.Fire(&logrus.Entry{Level: logrus.WarnLevel, Message: "timed out"})
	out := buf.String()
	for _, want := range []string{`level=ERROR msg="bundle failed" xid=7`, `level=WARN msg="timed out"`} {
		if !strings.Contains(out, want) {
			t.Errorf("slog output lacks %q:\n%s", want, out)
		}
	}
}

// scan has the tap frame b as if read off its connection (in reads of at
// most tapReadLen bytes).
func (c *inboundTap) scan(b []byte) {
	for len(b) > 0 {
		c.compact()
		k := copy(c.in[c.w:min(len(c.in), c.w+tapReadLen)], b)
		c.w += k
		b = b[k:]
		c.frame()
	}
}
