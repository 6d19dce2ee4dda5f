package evpn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

var marker = bytes.Repeat([]byte{0xff}, 16)

// frrUpdate is a MAC/IP route as FRR 8.4 sends one for an IPv6 host with
// the router flag: attributes in FRR's order, and the ARP/ND extended
// community (RFC 9047) that GoBGP v4.8.0 cannot parse.
var frrUpdate = slices.Concat(marker, []byte{
	0x00, 0x88, 0x02, // length 136, UPDATE
	0x00, 0x00, // no withdrawn routes
	0x00, 0x71, // 113 bytes of path attributes
	// MP_REACH_NLRI (optional, extended length), 60 bytes.
	0x90, 0x0e, 0x00, 0x3c,
	0x00, 0x19, 0x46, // L2VPN EVPN
	0x04, 192, 0, 2, 3, 0x00, // next hop 192.0.2.3, reserved
	0x02, 0x31, // route type 2 (MAC/IP), 49 bytes
	0x00, 0x01, 192, 0, 2, 3, 0x00, 0x01, // RD 192.0.2.3:1
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ESI 0
	0, 0, 0, 0, // Ethernet tag 0
	48, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0f, // MAC 02:00:00:00:00:0f
	128, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0f, // IP 2001:db8::f
	0x00, 0x13, 0x89, // label: VNI 5001
	0x40, 0x01, 0x01, 0x00, // ORIGIN IGP
	0x40, 0x02, 0x00, // AS_PATH (empty: iBGP)
	0x40, 0x05, 0x04, 0x00, 0x00, 0x00, 0x64, // LOCAL_PREF 100
	// EXTENDED_COMMUNITIES (optional transitive), 32 bytes.
	0xc0, 0x10, 0x20,
	0x00, 0x02, 0xfd, 0xe8, 0x00, 0x00, 0x13, 0x89, // route target 65000:5001
	0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // MAC mobility, sequence 1
	0x06, 0x08, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, // ARP/ND, router flag
	0x03, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, // encapsulation VXLAN
})

// frrUpdateStripped is frrUpdate as GoBGP is to see it.
var frrUpdateStripped = slices.Concat(marker, []byte{0x00, 0x80, 0x02, 0x00, 0x00, 0x00, 0x69},
	frrUpdate[19+4:19+4+64+14],
	[]byte{0xc0, 0x10, 0x18},
	frrUpdate[19+4+64+14+3:19+4+64+14+3+16],
	frrUpdate[19+4+64+14+3+24:])

// message is a BGP message of type typ with body.
func message(typ byte, body ...[]byte) []byte {
	b := slices.Concat(body...)
	return slices.Concat(marker, binary.BigEndian.AppendUint16(nil, uint16(19+len(b))), []byte{typ}, b)
}

// update is an UPDATE message with these path attributes.
func update(attrs ...[]byte) []byte {
	a := slices.Concat(attrs...)
	return message(bgpMsgUpdate, []byte{0, 0}, binary.BigEndian.AppendUint16(nil, uint16(len(a))), a)
}

// attr is a path attribute; flag 0x10 gives it a 2-byte length.
func attr(flags, typ byte, value ...[]byte) []byte {
	v := slices.Concat(value...)
	if flags&attrFlagExtLen != 0 {
		return slices.Concat([]byte{flags, typ}, binary.BigEndian.AppendUint16(nil, uint16(len(v))), v)
	}
	return slices.Concat([]byte{flags, typ, byte(len(v))}, v)
}

var (
	localPref = attr(0x40, 5, []byte{0, 0, 0, 100})
	rt        = []byte{0x00, 0x02, 0xfd, 0xe8, 0x00, 0x00, 0x13, 0x89}
	arpND     = []byte{0x06, 0x08, 0x01, 0, 0, 0, 0, 0}
	dfElect   = []byte{0x06, 0x06, 0x00, 0x01, 0, 0, 0, 0}
)

// TestStripFRRUpdate: the MAC/IP route FRR sends reaches GoBGP without
// the ARP/ND community and with its lengths fixed, which GoBGP parses;
// the original it would have treated as a withdrawal.
func TestStripFRRUpdate(t *testing.T) {
	if _, err := bgp.ParseBGPMessage(frrUpdate); err == nil || !strings.Contains(err.Error(), "unknown evpn subtype: 8") {
		t.Fatalf("GoBGP parses FRR's update: %v; the relay is no longer needed for it", err)
	}
	got, subtypes := stripUnparsable(frrUpdate)
	if !bytes.Equal(got, frrUpdateStripped) {
		t.Fatalf("stripped update:\n% x\nwant\n% x", got, frrUpdateStripped)
	}
	if !slices.Equal(subtypes, []uint8{8}) {
		t.Errorf("stripped subtypes %v, want [8]", subtypes)
	}
	m, err := bgp.ParseBGPMessage(got)
	if err != nil {
		t.Fatalf("GoBGP cannot parse the stripped update: %v", err)
	}
	var comms []string
	for _, a := range m.Body.(*bgp.BGPUpdate).PathAttributes {
		if ec, ok := a.(*bgp.PathAttributeExtendedCommunities); ok {
			for _, c := range ec.Value {
				comms = append(comms, c.String())
			}
		}
	}
	if want := []string{"65000:5001", "mac-mobility: 1", "VXLAN"}; !slices.Equal(comms, want) {
		t.Errorf("communities GoBGP reads: %q, want %q", comms, want)
	}
}

// TestStripCases: an extended-length attribute keeps its form and what
// follows it, an attribute left empty goes, and an update with nothing
// to strip or with lengths that do not add up passes unchanged.
func TestStripCases(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in, want []byte
		subtypes []uint8
	}{{
		name:     "extended length, attribute after",
		in:       update(attr(0xd0, attrExtCommunities, arpND, rt), localPref),
		want:     update(attr(0xd0, attrExtCommunities, rt), localPref),
		subtypes: []uint8{8},
	}, {
		name:     "attribute left empty",
		in:       update(localPref, attr(0xc0, attrExtCommunities, dfElect, arpND)),
		want:     update(localPref),
		subtypes: []uint8{6, 8},
	}, {
		name: "nothing to strip",
		in:   update(attr(0xc0, attrExtCommunities, rt, []byte{0x06, 0x00, 0, 0, 0, 0, 0, 2}), localPref),
	}, {
		name: "attribute longer than the update",
		in:   slices.Concat(update(attr(0xc0, attrExtCommunities, arpND))[:19+4], []byte{0xc0, 0x10, 0x10}, arpND),
	}, {
		name: "communities of a length GoBGP refuses itself",
		in:   update(attr(0xc0, attrExtCommunities, arpND, []byte{1})),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == nil {
				want = tc.in
			}
			got, subtypes := stripUnparsable(tc.in)
			if !bytes.Equal(got, want) || !slices.Equal(subtypes, tc.subtypes) {
				t.Errorf("got % x (stripped %v)\nwant % x (stripped %v)", got, subtypes, want, tc.subtypes)
			}
		})
	}
}

// TestStripWhatGoBGPCannotParse: of the EVPN extended communities, GoBGP
// v4.8.0 reads subtypes 0-5, and 9 with a flag set; the rest are
// stripped.
func TestStripWhatGoBGPCannotParse(t *testing.T) {
	for st := range 256 {
		for _, flags := range []byte{0, 1} {
			c := []byte{ecTypeEVPN, byte(st), 0, flags, 0, 0, 0, 0}
			_, subtypes := stripUnparsable(update(attr(0xc0, attrExtCommunities, rt, c)))
			kept := st <= 5 || st == 9 && flags != 0
			if kept != (len(subtypes) == 0) {
				t.Errorf("EVPN subtype %d, flags %d: stripped %v, want kept %v", st, flags, subtypes, kept)
			}
		}
	}
}

// TestRelayMessages: a stream of messages passes byte for byte but for
// the update that needs stripping; a stream that is not BGP messages is
// an error.
func TestRelayMessages(t *testing.T) {
	open := message(1, []byte{4, 0xfd, 0xe8, 0, 0, 192, 0, 2, 3, 0})
	keepalive := message(4)
	plain := update(attr(0xc0, attrExtCommunities, rt), localPref)
	notification := message(3, []byte{6, 2})
	var out bytes.Buffer
	var stripped []uint8
	in := slices.Concat(open, keepalive, frrUpdate, plain, notification)
	if err := relayMessages(&out, bytes.NewReader(in), func(st uint8) { stripped = append(stripped, st) }); err != nil {
		t.Fatal(err)
	}
	if want := slices.Concat(open, keepalive, frrUpdateStripped, plain, notification); !bytes.Equal(out.Bytes(), want) {
		t.Errorf("relayed\n% x\nwant\n% x", out.Bytes(), want)
	}
	if !slices.Equal(stripped, []uint8{8}) {
		t.Errorf("stripped %v, want [8]", stripped)
	}

	badMarker := slices.Clone(keepalive)
	badMarker[3] = 0
	short := slices.Clone(keepalive)
	short[17] = 18
	for name, in := range map[string][]byte{
		"marker":            slices.Concat(keepalive, badMarker),
		"length under 19":   slices.Concat(keepalive, short),
		"cut inside header": slices.Concat(keepalive, keepalive[:10]),
		"cut inside body":   frrUpdate[:100],
	} {
		err := relayMessages(&bytes.Buffer{}, bytes.NewReader(in), func(uint8) {})
		if !errors.Is(err, errFraming) {
			t.Errorf("%s: %v, want a framing error", name, err)
		}
	}
}
