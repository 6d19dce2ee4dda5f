package flows

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/contiv/libOpenflow/common"
)

// Packet-ins OVS 3.1 sent l2gwd from TableSnoop (TestSnoopedAddressesReachTheWatchOnOVS,
// network 7, hosts 02:0a:00:00:00:11 on port 1 and 02:0a:00:00:00:12 on
// port 2, both with Linux's own stack).
const (
	// h1: arping 192.0.2.12 (a request, padded to 60 bytes).
	capturedARPRequest = "040a006c00000000ffffffff003a010fa000000078acea5900010014800000040000000100010c0400000007000000000000" +
		"ffffffffffff020a0000001108060001080006040001020a00000011c000020b000000000000c000020c00000000000000000000000000000000"
	// h2: its kernel's reply.
	capturedARPReply = "040a005c00000000ffffffff002a010fa0000000dcac07b800010014800000040000000200010c0400000007000000000000" +
		"020a00000011020a0000001208060001080006040002020a00000012c000020c020a00000011c000020b"
	// h1: ndisc6 -s 2001:db8::11 2001:db8::12 (a solicitation with its source's link-layer address).
	capturedSolicitation = "040a008800000000ffffffff0056010fa0000000bd36306200010014800000040000000100010c0400000007000000000000" +
		"3333ff000012020a0000001186dd600cb56000203aff20010db8000000000000000000000011ff0200000000000000000001ff000012" +
		"87001bdd0000000020010db80000000000000000000000120101020a00000011"
	// h2: its kernel's advertisement, with its target's link-layer address.
	capturedAdvertisement = "040a008800000000ffffffff0056010fa0000000dd26239b00010014800000040000000200010c0400000007000000000000" +
		"020a00000011020a0000001286dd6000000000203aff20010db800000000000000000000001220010db8000000000000000000000011" +
		"88008a276000000020010db80000000000000000000000120201020a00000012"
	// h2: arping -U -S 192.0.2.11 (gratuitous: 192.0.2.11 claimed by h2's MAC).
	capturedGratuitous = "040a006c00000000ffffffff003a010fa000000078acea5900010014800000040000000200010c0400000007000000000000" +
		"ffffffffffff020a0000001208060001080006040001020a00000012c000020bffffffffffffc000020b00000000000000000000000000000000"
)

// packetInData is where a captured packet-in's frame starts: its match is
// in_port and reg6 (20 bytes, padded to 24), then 2 bytes of padding.
const packetInData = packetInFixedLen + 24 + 2

func capture(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSnoopedPacketInsAreReadAsTheHostsAnnouncements(t *testing.T) {
	h1, h2 := [6]byte{2, 0x0a, 0, 0, 0, 0x11}, [6]byte{2, 0x0a, 0, 0, 0, 0x12}
	for _, tc := range []struct {
		name, msg string
		want      announcement
	}{
		{"ARP request", capturedARPRequest, announcement{7, 1, h1, netip.MustParseAddr("192.0.2.11")}},
		{"ARP reply", capturedARPReply, announcement{7, 2, h2, netip.MustParseAddr("192.0.2.12")}},
		{"gratuitous ARP", capturedGratuitous, announcement{7, 2, h2, netip.MustParseAddr("192.0.2.11")}},
		{"neighbour solicitation", capturedSolicitation, announcement{7, 1, h1, netip.MustParseAddr("2001:db8::11")}},
		{"neighbour advertisement", capturedAdvertisement, announcement{7, 2, h2, netip.MustParseAddr("2001:db8::12")}},
	} {
		got, err := parseSnoopPacketIn(capture(t, tc.msg))
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

// fixICMPv6 recomputes the ICMPv6 checksum of the IPv6 frame at the
// start of f.
func fixICMPv6(f []byte) {
	ip := f[ethHeaderLen:]
	msg := ip[ipv6HeaderLen : ipv6HeaderLen+int(binary.BigEndian.Uint16(ip[4:6]))]
	msg[2], msg[3] = 0, 0
	sum := icmpv6Checksum(netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40])), msg)
	binary.BigEndian.PutUint16(msg[2:], sum)
}

// TestSnoopedCopiesThatAnnounceNothingAreRefused: the captures, changed
// into what no host announces of itself (or what is not TableSnoop's),
// are refused with a reason.
func TestSnoopedCopiesThatAnnounceNothingAreRefused(t *testing.T) {
	// Frame offsets: ARP after the Ethernet header; IPv6 source at 22,
	// ICMPv6 at 54 (its checksum at 56), the option's address at 80.
	for _, tc := range []struct {
		name, msg string
		change    func(b, frame []byte)
		fix       bool // recompute the ICMPv6 checksum
		want      string
	}{
		{"ARP sender MAC not the source", capturedARPRequest, func(_, f []byte) { f[27] = 0x99 }, false, "not the frame's source"},
		{"ARP probe (sender 0.0.0.0)", capturedARPRequest, func(_, f []byte) { copy(f[28:32], []byte{0, 0, 0, 0}) }, false, "not a host's address"},
		{"ARP from a multicast address", capturedARPRequest, func(_, f []byte) { copy(f[28:32], []byte{224, 0, 0, 1}) }, false, "not a host's address"},
		{"ARP from the broadcast address", capturedARPRequest, func(_, f []byte) { copy(f[28:32], []byte{255, 255, 255, 255}) }, false, "not a host's address"},
		{"ARP from a link-local address", capturedARPRequest, func(_, f []byte) { copy(f[28:32], []byte{169, 254, 1, 1}) }, false, "not a host's address"},
		{"ARP of another operation", capturedARPRequest, func(_, f []byte) { f[21] = 3 }, false, "operation 3"},
		{"ARP for IPv6", capturedARPRequest, func(_, f []byte) { f[16] = 0x86 }, false, "not IPv4 over Ethernet"},
		{"a multicast source MAC", capturedARPRequest, func(_, f []byte) { f[6] |= 1 }, false, "not a host's"},
		{"duplicate address detection", capturedSolicitation, func(_, f []byte) { clear(f[22:38]) }, true, "duplicate address detection"},
		{"solicitation whose option is another MAC", capturedSolicitation, func(_, f []byte) { f[85] = 0x99 }, true, "not the frame's source"},
		{"solicitation without its option", capturedSolicitation, func(_, f []byte) { f[78] = 14 }, true, "no link-layer address option"},
		{"solicitation with an empty option", capturedSolicitation, func(_, f []byte) { f[79] = 0 }, true, "malformed"},
		{"solicitation from a link-local address", capturedSolicitation, func(_, f []byte) { copy(f[22:24], []byte{0xfe, 0x80}) }, true, "not a host's address"},
		{"solicitation with a bad checksum", capturedSolicitation, func(_, f []byte) { f[57]++ }, false, "checksum"},
		{"solicitation from another link (hop limit 254)", capturedSolicitation, func(_, f []byte) { f[21] = 254 }, false, "hop limit 254"},
		{"advertisement whose option is another MAC", capturedAdvertisement, func(_, f []byte) { f[85] = 0x99 }, true, "not the frame's source"},
		{"advertisement of a multicast target", capturedAdvertisement, func(_, f []byte) { copy(f[62:64], []byte{0xff, 0x02}) }, true, "not a host's address"},
		{"router solicitation", capturedAdvertisement, func(_, f []byte) { f[54] = 133 }, true, "type 133"},
		{"another table's copy", capturedARPRequest, func(b, _ []byte) { b[15] = TableLearn }, false, errNotSnoop.Error()},
		{"another owner's copy", capturedARPRequest, func(b, _ []byte) { b[16] = 0xB0 }, false, errNotSnoop.Error()},
		{"a table miss", capturedARPRequest, func(b, _ []byte) { b[14] = 0 }, false, errNotSnoop.Error()},
		{"no network in the match", capturedARPRequest, func(b, _ []byte) { b[packetInFixedLen+14] = 0x0e }, false, "without the network"},
		{"truncated frame", capturedSolicitation, func(b, _ []byte) { binary.BigEndian.PutUint16(b[2:], packetInData+60) }, false, "payload"},
	} {
		b := capture(t, tc.msg)
		tc.change(b, b[packetInData:])
		if tc.fix {
			fixICMPv6(b[packetInData:])
		}
		a, err := parseSnoopPacketIn(b)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %+v, %v; want an error saying %q", tc.name, a, err, tc.want)
		}
	}
	if _, err := parseSnoopPacketIn(capture(t, capturedARPRequest)[:40]); err == nil {
		t.Error("a packet-in cut inside its match was read")
	}
}

// FuzzParseSnoopPacketIn: no packet-in makes the parser panic, and what
// it accepts is a host's unicast MAC with a host's address.
func FuzzParseSnoopPacketIn(f *testing.F) {
	for _, c := range []string{capturedARPRequest, capturedARPReply, capturedSolicitation, capturedAdvertisement, capturedGratuitous} {
		f.Add(capture(f, c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseSnoopPacketIn(b)
		if err != nil {
			if a != (announcement{}) {
				t.Fatalf("refused with %v, but read %+v", err, a)
			}
			return
		}
		if !hostAddress(a.ip) || a.mac[0]&1 != 0 || a.mac == [6]byte{} {
			t.Fatalf("accepted %+v", a)
		}
	})
}

// TestLibOpenflowNeverDecodesTheCopiesNorTheMeterAnswer: ofctrl is handed
// a bare header for a packet-in (the session reads them itself) and for
// the "meter exists" error the idempotent meter add expects (which ofctrl
// would log as an error on every restart).
func TestLibOpenflowNeverDecodesTheCopiesNorTheMeterAnswer(t *testing.T) {
	meterExists := "0401000c00000042000c0001" // OFPET_METER_MOD_FAILED, OFPMMFC_METER_EXISTS, xid 0x42
	for _, msg := range []string{capturedARPRequest, capturedAdvertisement, meterExists} {
		got, err := openflow13Parser{}.Parse(capture(t, msg))
		if h, ok := got.(*common.Header); err != nil || !ok || h.Xid != binary.BigEndian.Uint32(capture(t, msg)[4:8]) {
			t.Errorf("%s...: parsed as %T, %v; want its bare header", msg[:16], got, err)
		}
	}
	if got, err := (openflow13Parser{}).Parse(capture(t, "0401000c00000042000c0003")); err != nil || reflect.TypeOf(got) == reflect.TypeOf(&common.Header{}) {
		t.Errorf("another meter error (unknown meter) parsed as %T, %v; want libOpenflow's error message", got, err)
	}
}
