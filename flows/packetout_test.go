package flows

import (
	"encoding/hex"
	"net/netip"
	"testing"
)

// TestAnnouncementFrames: the RARP and the gratuitous ARP are the frames
// QEMU and Linux send (broadcast, padded to 60 bytes), and a gratuitous ARP
// needs an IPv4 address.
func TestAnnouncementFrames(t *testing.T) {
	m := [6]byte(mac("02:0b:00:00:00:42"))
	pad := "000000000000000000000000000000000000"
	for _, tc := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"RARP", RARP(m), "ffffffffffff" + "020b00000042" + "8035" + "0001" + "0800" + "0604" + "0003" +
			"020b00000042" + "00000000" + "020b00000042" + "00000000" + pad},
		{"gratuitous ARP", GratuitousARP(m, netip.MustParseAddr("::ffff:192.0.2.42")), "ffffffffffff" + "020b00000042" + "0806" + "0001" + "0800" + "0604" + "0001" +
			"020b00000042" + "c000022a" + "000000000000" + "c000022a" + pad},
	} {
		if got := hex.EncodeToString(tc.frame); got != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
	if f := GratuitousARP(m, netip.MustParseAddr("2001:db8::42")); f != nil {
		t.Errorf("a gratuitous ARP for an IPv6 address: %x", f)
	}
}
