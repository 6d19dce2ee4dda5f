package flows

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// announcedBy is a captured packet-in (hex) rewritten as if the host with
// MAC mac (hex, "020b00000001") had sent it, its ICMPv6 checksum
// recomputed.
func announcedBy(t *testing.T, captured, from, mac string) string {
	t.Helper()
	b := unhex(t, strings.ReplaceAll(captured, from, mac))
	if f := b[packetInData:]; f[12] == 0x86 {
		fixICMPv6(f)
	}
	return fmt.Sprintf("%x", b)
}

// TestWatchReportsTheAddressesHostsAnnounce feeds the table the copies
// OVS sent (rewritten for the MACs of the captured dump): each learned
// MAC is reported with what it announced, an address announced by another
// MAC moves there, and the addresses go with the MAC.
func TestWatchReportsTheAddressesHostsAnnounce(t *testing.T) {
	const h1, m1, m2 = "020a00000011", "020b00000001", "020b00000002"
	r := newMACRig(t, 5)
	w := newWatch(r.mt)
	r.read(capturedLearnedDump)
	expectEvents(t, w, "added 7 02:0b:00:00:00:01 port 5", "added 7 02:0b:00:00:00:02 port 6", "synced")

	r.read(announcedBy(t, capturedARPRequest, h1, m1))
	expectEvents(t, w, "ips 7 02:0b:00:00:00:01 port 5 [192.0.2.11]")
	r.read(announcedBy(t, capturedSolicitation, h1, m1), announcedBy(t, capturedARPRequest, h1, m1))
	expectEvents(t, w, "ips 7 02:0b:00:00:00:01 port 5 [192.0.2.11 2001:db8::11]")

	// 02:0b:00:00:00:02 claims 192.0.2.11.
	r.read(announcedBy(t, capturedGratuitous, "020a00000012", m2))
	expectEvents(t, w, "ips 7 02:0b:00:00:00:01 port 5 [2001:db8::11]", "ips 7 02:0b:00:00:00:02 port 6 [192.0.2.11]")

	// Moved and announced again before the watch looks: one move, with
	// the addresses.
	replies := asReplies(t, capturedLearnMoveIdle) // 02:0b:00:00:00:01: learned on 5, moved to 6, remote, learned on 6, idle
	r.read(replies[1], announcedBy(t, capturedARPRequest, h1, m1))
	expectEvents(t, w, "moved 7 02:0b:00:00:00:01 port 6 from 5 [192.0.2.11 2001:db8::11]",
		"ips 7 02:0b:00:00:00:02 port 6 []")

	// Gone: its addresses go with it. Learned again, it has none.
	r.read(replies[4])
	expectEvents(t, w, "removed 7 02:0b:00:00:00:01 port 6 (idle timeout)")
	r.read(replies[3])
	expectEvents(t, w, "added 7 02:0b:00:00:00:01 port 6")

	// A copy read before the monitor reports the learned entry its frame
	// made (they come on their own paths): the address waits for it.
	r.read(replies[4], announcedBy(t, capturedARPRequest, h1, m1))
	expectEvents(t, w, "removed 7 02:0b:00:00:00:01 port 6 (idle timeout)")
	r.read(replies[3])
	expectEvents(t, w, "added 7 02:0b:00:00:00:01 port 6 [192.0.2.11]")
	if st := (&Session{macs: r.mt}).SnoopStats(); st != (SnoopStats{Announcements: 6}) {
		t.Errorf("snoop stats %+v, want 6 announcements", st)
	}
	r.read(strings.Replace(capturedARPRequest, "010fa0", "010aa0", 1)) // from table 10
	if st := (&Session{macs: r.mt}).SnoopStats(); st.Ignored != 1 {
		t.Errorf("snoop stats %+v, want the copy of another table ignored", st)
	}
}

// snoop has the table take an announcement of ip by the host with the
// MAC 02:0b:00:00:00:0N in network 7 at at.
func snoop(mt *macTable, n byte, ip string, at time.Time) {
	mt.mu.Lock()
	defer mt.mu.Unlock()
	mt.snooped(announcement{network: 7, port: 5, mac: [6]byte{2, 0x0b, 0, 0, 0, n}, ip: netip.MustParseAddr(ip)}, at)
}

func TestAMACKeepsItsMostRecentAddresses(t *testing.T) {
	r := newMACRig(t, 2048)
	w := newWatch(r.mt)
	r.read(capturedLearnedDump)
	events(t, w)
	now := time.Now()
	for i := 1; i <= MaxHostIPs; i++ {
		snoop(r.mt, 1, fmt.Sprintf("192.0.2.%d", i), now)
	}
	expectEvents(t, w, "ips 7 02:0b:00:00:00:01 port 5 [192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6 192.0.2.7 192.0.2.8]")
	// 192.0.2.1 again: the most recent now, so a ninth address pushes
	// out 192.0.2.2, the least recent.
	snoop(r.mt, 1, "192.0.2.1", now)
	expectEvents(t, w)
	snoop(r.mt, 1, "2001:db8::9", now)
	expectEvents(t, w, "ips 7 02:0b:00:00:00:01 port 5 [192.0.2.1 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6 192.0.2.7 192.0.2.8 2001:db8::9]")
	// The address pushed out is no one's: another MAC announcing it
	// takes nothing from the first.
	snoop(r.mt, 2, "192.0.2.2", now)
	expectEvents(t, w, "ips 7 02:0b:00:00:00:02 port 6 [192.0.2.2]")
	if n := len(r.mt.ipOwner); n != MaxHostIPs+1 {
		t.Errorf("%d addresses have an owner, want %d", n, MaxHostIPs+1)
	}
}

// TestAddressesOfMACsNeverLearnedAreDropped: what a MAC announced while
// not learned is dropped once unlearnedGrace has passed without it being
// learned: a host whose frames are never learned cannot grow the table.
func TestAddressesOfMACsNeverLearnedAreDropped(t *testing.T) {
	r := newMACRig(t, 2048)
	w := newWatch(r.mt)
	r.read(emptyDump)
	events(t, w)
	start := time.Now()
	for n := byte(1); n <= 100; n++ {
		snoop(r.mt, n, fmt.Sprintf("192.0.2.%d", n), start)
	}
	snoop(r.mt, 1, "192.0.2.101", start.Add(unlearnedGrace/2)) // 02:0b:00:00:00:01 announces again
	expectEvents(t, w)
	snoop(r.mt, 200, "192.0.2.200", start.Add(unlearnedGrace))
	if n := len(r.mt.ips); n != 2 {
		t.Errorf("%d MACs keep addresses after the grace, want 2 (the one that announced since, the newest)", n)
	}
	r.read(replies0(t)) // 02:0b:00:00:00:01 learned on port 5
	expectEvents(t, w, "added 7 02:0b:00:00:00:01 port 5 [192.0.2.1 192.0.2.101]")
	snoop(r.mt, 200, "192.0.2.201", start.Add(3*unlearnedGrace))
	if n := len(r.mt.ips); n != 2 || len(r.mt.unlearned) != 1 {
		t.Errorf("%d MACs keep addresses, %d wait to be learned: want 2 and 1", n, len(r.mt.unlearned))
	}
}
