package flows

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/contiv/libOpenflow/openflow13"
)

// Messages captured from ovs-vswitchd 3.1.0 on an OpenFlow 1.3 connection
// to br0.mgmt (ovs-ofctl ofp-print decodes each as the comment says).
const (
	// ONFST_FLOW_MONITOR request (xid=0x66): id=1 flags=add,delete,modify,actions table=30
	capturedMonitorRequest = "0412003000000066ffff0000000000004f4e46000000074e" +
		"00000001001e0004ffffffff1e000000" + "0001000400000000"
	// Its reply: no initial flows.
	capturedMonitorReply = "0413001800000066ffff0000000000004f4e46000000074e"
	// ONFST_FLOW_MONITOR reply (xid=0x0), one MAC learned by packet-outs
	// in network 7 and left to idle out:
	//  event=ADDED table=30 idle_timeout=2 cookie=0xb100000700000000 reg6=0x7,dl_dst=02:0b:00:00:00:01 actions=load:0x5->NXM_NX_REG7[0..15]
	//  event=MODIFIED ... cookie=0xb100000700000000 ... actions=load:0x6->NXM_NX_REG7[0..15]
	//  event=MODIFIED ... cookie=0xb200000900000000 ... actions=load:0xc6336402->NXM_NX_TUN_IPV4_DST[],load:0xfffe->NXM_NX_REG7[0..15]
	//  event=MODIFIED ... cookie=0xb100000700000000 ... actions=load:0x6->NXM_NX_REG7[0..15]
	//  event=DELETED reason=idle ... cookie=0xb100000700000000 ... actions=load:0x6->NXM_NX_REG7[0..15]
	capturedLearnMoveIdle = "041301c000000000ffff0000000000004f4e46000000074e" +
		"00500000000000640002000000161e00b1000007000000000001001680000606020b0000000100010c0400000007000000" +
		"04002000000000ffff0018000023200007000f00010e040000000000000005" +
		"00500002000000640002000000161e00b1000007000000000001001680000606020b0000000100010c0400000007000000" +
		"04002000000000ffff0018000023200007000f00010e040000000000000006" +
		"00680002000000640002000000161e00b2000009000000000001001680000606020b0000000100010c0400000007000000" +
		"04003800000000ffff0018000023200007001f0001400400000000c6336402ffff0018000023200007000f00010e04000000000000fffe" +
		"00500002000000640002000000161e00b1000007000000000001001680000606020b0000000100010c0400000007000000" +
		"04002000000000ffff0018000023200007000f00010e040000000000000006" +
		"00500001000000640002000000161e00b1000007000000000001001680000606020b0000000100010c0400000007000000" +
		"04002000000000ffff0018000023200007000f00010e040000000000000006"
	// The connection's own delete (flow_mod xid 0x67) of cookie
	// 0xb100000700000000: event=ABBREV xid=0x67.
	capturedAbbrev = "0413002000000000ffff0000000000004f4e46000000074e0008000300000067"
	// A static binding added by another connection: event=ADDED table=30
	// cookie=0xa300000100000001 priority=200,reg6=0x7,dl_dst=02:0b:00:00:00:09 actions=load:0x2->NXM_NX_REG7[0..15]
	capturedBindingAdded = "0413006800000000ffff0000000000004f4e46000000074e" +
		"00500000000000c80000000000161e00a3000001000000010001001680000606020b0000000900010c0400000007000000" +
		"04002000000000ffff0018000023200007000f00010e040000000000000002"
	// ovs-ofctl del-flows of a learned entry: event=DELETED reason=delete
	// cookie=0xb100000700000000 reg6=0x7,dl_dst=02:0b:00:00:00:04 actions=load:0x3->NXM_NX_REG7[0..15]
	capturedDeletedByOfctl = "0413006800000000ffff0000000000004f4e46000000074e" +
		"00500001000200640000000000161e00b1000007000000000001001680000606020b0000000400010c0400000007000000" +
		"04002000000000ffff0018000023200007000f00010e040000000000000003"
	// ONFT_FLOW_MONITOR_PAUSED and _RESUMED, sent when ovs-ofctl added
	// 20,000 flows to table 30 while the monitoring connection did not read.
	capturedPaused  = "04040010000000004f4e46000000074f"
	capturedResumed = "04040010000000004f4e460000000750"
	// OFPST_FLOW reply (xid=0x66) to table=30, cookie=0xb100000000000000/0xff00000000000000:
	//  cookie=0xb100000700000000, table=30, idle_timeout=300, priority=100,reg6=0x7,dl_dst=02:0b:00:00:00:01 actions=load:0x5->NXM_NX_REG7[0..15]
	//  cookie=0xb100000700000000, table=30, idle_timeout=300, priority=100,reg6=0x7,dl_dst=02:0b:00:00:00:02 actions=load:0x6->NXM_NX_REG7[0..15]
	// (the bridge also had an entry learned from a gateway, cookie
	// 0xb200000900000000, and a static binding: the cookie left them out.)
	capturedLearnedDump = "041300e000000066000100000000000000681e00000000061d5353000064012c0000000000000000b100000700000000" +
		"000000000000000000000000000000000001001680000606020b0000000100010c0400000007000000" +
		"04002000000000ffff0018000023200007000f00010e04000000000000000500681e000000000616b599400064012c0000000000000000" +
		"b100000700000000000000000000000000000000000000000001001680000606020b0000000200010c0400000007000000" +
		"04002000000000ffff0018000023200007000f00010e040000000000000006"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// updatesOf returns the updates of a captured monitor reply, each alone.
func updatesOf(t *testing.T, msg []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for body := msg[experimenterMultipartLen:]; len(body) > 0; {
		n := int(binary.BigEndian.Uint16(body))
		out = append(out, body[:n])
		body = body[n:]
	}
	return out
}

// monitorReply frames updates as one flow monitor reply with xid.
func monitorReply(xid uint32, updates ...[]byte) []byte {
	b := []byte{openflow13.VERSION, openflow13.Type_MultiPartReply, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0,
		0x4f, 0x4e, 0x46, 0, 0, 0, 0x07, 0x4e}
	binary.BigEndian.PutUint32(b[4:], xid)
	for _, u := range updates {
		b = append(b, u...)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

func TestMonitorRequestIsTheOneOVSAccepted(t *testing.T) {
	got := monitorRequest(0x66, 1, TableL2Lookup, monitorAdd|monitorDelete|monitorModify|monitorActions)
	if want := unhex(t, capturedMonitorRequest); string(got) != string(want) {
		t.Errorf("monitor request\n%x, want (what OVS 3.1 answered with %s)\n%x", got, capturedMonitorReply, want)
	}
}

func TestMonitorUpdatesDecodeAsOVSSentThem(t *testing.T) {
	mac := [6]byte{2, 0x0b, 0, 0, 0, 1}
	want := []flowUpdate{
		{event: updateAdded, priority: 100, table: 30, cookie: 0xb100000700000000, network: 7, mac: mac, hasKey: true, port: 5, hasActions: true},
		{event: updateModified, priority: 100, table: 30, cookie: 0xb100000700000000, network: 7, mac: mac, hasKey: true, port: 6, hasActions: true},
		{event: updateModified, priority: 100, table: 30, cookie: 0xb200000900000000, network: 7, mac: mac, hasKey: true, port: 0xfffe, hasActions: true},
		{event: updateModified, priority: 100, table: 30, cookie: 0xb100000700000000, network: 7, mac: mac, hasKey: true, port: 6, hasActions: true},
		{event: updateDeleted, reason: removedIdleTimeout, priority: 100, table: 30, cookie: 0xb100000700000000, network: 7, mac: mac, hasKey: true, port: 6, hasActions: true},
	}
	got := decodeUpdates(t, capturedLearnMoveIdle)
	if len(got) != len(want) {
		t.Fatalf("decoded %d updates, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("update %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if got := decodeUpdates(t, capturedAbbrev); len(got) != 1 || got[0] != (flowUpdate{event: updateAbbrev, xid: 0x67}) {
		t.Errorf("abbreviated update: %+v, want event %d xid 0x67", got, updateAbbrev)
	}
	del := decodeUpdates(t, capturedDeletedByOfctl)
	if len(del) != 1 || del[0].event != updateDeleted || del[0].reason != 2 || del[0].mac != [6]byte{2, 0x0b, 0, 0, 0, 4} {
		t.Errorf("deleted update: %+v, want event deleted, reason 2 (delete), MAC 02:0b:00:00:00:04", del)
	}
	// A static binding's update is not a learned entry's: only its fixed
	// fields are read.
	if b := decodeUpdates(t, capturedBindingAdded); len(b) != 1 || b[0].learned() || b[0].hasKey || b[0].priority != 200 {
		t.Errorf("static binding update: %+v, want a non-learned one at priority 200 with no key read", b)
	}
}

func decodeUpdates(t *testing.T, msg string) []flowUpdate {
	t.Helper()
	var out []flowUpdate
	if _, err := parseMonitorReply(unhex(t, msg), func(u *flowUpdate) { out = append(out, *u) }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMonitorRepliesOfBadLengthsAreRefused(t *testing.T) {
	msg := unhex(t, capturedLearnMoveIdle)
	for _, cut := range []int{1, 4, 8, 30} {
		bad := append([]byte(nil), msg[:len(msg)-cut]...)
		binary.BigEndian.PutUint16(bad[2:], uint16(len(bad)))
		if _, err := parseMonitorReply(bad, func(*flowUpdate) {}); err == nil {
			t.Errorf("a reply cut by %d bytes decoded without error", cut)
		}
	}
}

// TestParserHandsMonitorRepliesToOfctlUndecoded: libOpenflow's multipart
// decoder dereferences a nil body entry on experimenter replies; the
// session's parser must not let it see them.
func TestParserHandsMonitorRepliesToOfctlUndecoded(t *testing.T) {
	msg, err := openflow13Parser{}.Parse(unhex(t, capturedLearnMoveIdle))
	if err != nil {
		t.Fatal(err)
	}
	rep, ok := msg.(*openflow13.MultipartReply)
	if !ok || rep.Type != openflow13.MultipartType_Experimenter || rep.Xid != 0 || len(rep.Body) != 0 {
		t.Errorf("parsed %T %+v, want an experimenter multipart reply with xid 0 and no body", msg, msg)
	}
	for _, notice := range []string{capturedPaused, capturedResumed} {
		if _, err := (openflow13Parser{}).Parse(unhex(t, notice)); err != nil {
			t.Errorf("parse %s: %v", notice, err)
		}
	}
}

// FuzzParseMonitorReply: whatever the switch sends, decoding a monitor
// reply returns an error or updates, never a panic.
func FuzzParseMonitorReply(f *testing.F) {
	for _, m := range []string{capturedLearnMoveIdle, capturedAbbrev, capturedBindingAdded, capturedDeletedByOfctl, capturedMonitorReply} {
		b, _ := hex.DecodeString(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		parseMonitorReply(b, func(*flowUpdate) {})
	})
}
