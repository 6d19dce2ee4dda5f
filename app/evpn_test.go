package app

import (
	"math/big"
	"net"
	"reflect"
	"strings"
	"testing"
)

// evpnNames lists the EVPN networks as name and VNI.
func evpnNames(s *State) map[string]uint32 {
	out := map[string]uint32{}
	for _, n := range s.EVPNNetworks() {
		out[n.Name] = n.EVPN.VNI
	}
	return out
}

func TestNetworkEVPNLifecycle(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	t.Cleanup(func() { s.Close() })
	created := must[Network](t)(s.CreateNetwork(Network{Name: "backup", Attachments: []Attachment{{Port: "eth1"}},
		EVPN: &EVPN{VNI: 5001, ImportRTs: []string{"65000:05001", "192.0.2.1:7", "4200000000:65535"}, ExportRTs: []string{"0065000:4294967295"}}}))
	want := &EVPN{VNI: 5001, ImportRTs: []string{"65000:5001", "192.0.2.1:7", "4200000000:65535"}, ExportRTs: []string{"65000:4294967295"}}
	if !reflect.DeepEqual(created.EVPN, want) {
		t.Fatalf("created EVPN %+v, want the route targets canonical %+v", created.EVPN, want)
	}
	must[Network](t)(s.CreateNetwork(Network{Name: "auto", EVPN: &EVPN{VNI: 5002, ImportRTs: []string{}}}))
	must[Network](t)(s.CreateNetwork(Network{Name: "plain"}))
	if got := evpnNames(s); !reflect.DeepEqual(got, map[string]uint32{"auto": 5002, "backup": 5001}) {
		t.Fatalf("EVPN networks %v", got)
	}
	list := s.EVPNNetworks()
	if list[0].Name != "auto" || list[0].EVPN.ImportRTs != nil || list[0].EVPN.ExportRTs != nil {
		t.Errorf("auto route targets: %+v, want none (automatic)", list[0].EVPN)
	}
	// What EVPNNetworks returns is the caller's.
	list[1].EVPN.ImportRTs[0] = "1:1"
	list[1].EVPN.VNI = 9
	if got := must[Network](t)(s.GetNetwork("backup")); !reflect.DeepEqual(got.EVPN, want) {
		t.Fatalf("changing EVPNNetworks' answer changed the state: %+v", got.EVPN)
	}

	// PUT changes the VNI (the old one is free again), adds and removes
	// EVPN.
	must[Network](t)(s.ReplaceNetwork("backup", Network{Attachments: []Attachment{{Port: "eth1"}}, EVPN: &EVPN{VNI: 6001}}))
	must[Network](t)(s.ReplaceNetwork("plain", Network{EVPN: &EVPN{VNI: 5001, ExportRTs: []string{"203.0.113.9:1"}}}))
	must[Network](t)(s.ReplaceNetwork("auto", Network{}))
	if got := evpnNames(s); !reflect.DeepEqual(got, map[string]uint32{"backup": 6001, "plain": 5001}) {
		t.Fatalf("EVPN networks after PUTs %v", got)
	}
	// A network deleted frees its VNI.
	mustOK(t, s.DeleteNetwork("backup"))
	must[Network](t)(s.ReplaceNetwork("auto", Network{EVPN: &EVPN{VNI: 6001}}))

	s = reopen(t, s, dir)
	if got := evpnNames(s); !reflect.DeepEqual(got, map[string]uint32{"auto": 6001, "plain": 5001}) {
		t.Fatalf("EVPN networks after a restart %v", got)
	}
	if got := must[Network](t)(s.GetNetwork("plain")); !reflect.DeepEqual(got.EVPN, &EVPN{VNI: 5001, ExportRTs: []string{"203.0.113.9:1"}}) {
		t.Errorf("plain after a restart: %+v", got.EVPN)
	}
	// The index came back too.
	_, err := s.CreateNetwork(Network{Name: "again", EVPN: &EVPN{VNI: 5001}})
	wantError(t, err, Conflict, At(FieldEVPN).Field(FieldVNI))
}

func TestNetworkEVPNRejected(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	t.Cleanup(func() { s.Close() })
	must[Network](t)(s.CreateNetwork(Network{Name: "net-a", EVPN: &EVPN{VNI: 5001}}))
	must[Network](t)(s.CreateNetwork(Network{Name: "net-b", EVPN: &EVPN{VNI: 5002, ImportRTs: []string{"65000:1"}}}))
	before, beforeEVPN := s.Snapshot(), s.EVPNNetworks()
	vni := At(FieldEVPN).Field(FieldVNI)
	imp := func(i int) Path { return At(FieldEVPN).Field(FieldImportRTs).Index(i) }
	exp := func(i int) Path { return At(FieldEVPN).Field(FieldExportRTs).Index(i) }
	create := func(e EVPN) func() error {
		return func() error { return discard(s.CreateNetwork(Network{Name: "net-x", EVPN: &e})) }
	}
	for _, tc := range []struct {
		name string
		op   func() error
		kind ErrorKind
		at   Path
	}{
		{"no vni", create(EVPN{}), Invalid, vni},
		{"vni over 24 bits", create(EVPN{VNI: 1 << 24}), Invalid, vni},
		{"route target without a colon", create(EVPN{VNI: 7, ImportRTs: []string{"65000"}}), Invalid, imp(0)},
		{"route target without a number", create(EVPN{VNI: 7, ImportRTs: []string{"65000:"}}), Invalid, imp(0)},
		{"route target without an ASN", create(EVPN{VNI: 7, ImportRTs: []string{":1"}}), Invalid, imp(0)},
		{"route target wildcard", create(EVPN{VNI: 7, ImportRTs: []string{"*:7"}}), Invalid, imp(0)},
		{"route target number over 32 bits", create(EVPN{VNI: 7, ImportRTs: []string{"65000:4294967296"}}), Invalid, imp(0)},
		{"route target ASN over 32 bits", create(EVPN{VNI: 7, ExportRTs: []string{"4294967296:1"}}), Invalid, exp(0)},
		{"4-byte ASN with a 4-byte number", create(EVPN{VNI: 7, ExportRTs: []string{"65536:65536"}}), Invalid, exp(0)},
		{"IPv4 with a 4-byte number", create(EVPN{VNI: 7, ExportRTs: []string{"65000:1", "192.0.2.1:65536"}}), Invalid, exp(1)},
		{"IPv6 administrator", create(EVPN{VNI: 7, ExportRTs: []string{"2001:db8::1:1"}}), Invalid, exp(0)},
		{"bad IPv4", create(EVPN{VNI: 7, ExportRTs: []string{"192.0.2.300:1"}}), Invalid, exp(0)},
		{"negative number", create(EVPN{VNI: 7, ImportRTs: []string{"65000:-1"}}), Invalid, imp(0)},
		{"three parts", create(EVPN{VNI: 7, ImportRTs: []string{"1:2:3"}}), Invalid, imp(0)},
		{"route target twice", create(EVPN{VNI: 7, ImportRTs: []string{"65000:7", "65000:07"}}), Invalid, imp(1)},
		{"vni taken", create(EVPN{VNI: 5001}), Conflict, vni},
		{"vni taken by replace", func() error {
			return discard(s.ReplaceNetwork("net-b", Network{EVPN: &EVPN{VNI: 5001}}))
		}, Conflict, vni},
		{"bad route target by replace", func() error {
			return discard(s.ReplaceNetwork("net-a", Network{EVPN: &EVPN{VNI: 5001, ExportRTs: []string{"x:1"}}}))
		}, Invalid, exp(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := wantError(t, tc.op(), tc.kind, tc.at)
			if !reflect.DeepEqual(s.Snapshot(), before) || !reflect.DeepEqual(s.EVPNNetworks(), beforeEVPN) {
				t.Fatalf("state changed by a rejected request (%s)", e.Message)
			}
		})
	}
	s = reopen(t, s, dir)
	if !reflect.DeepEqual(s.EVPNNetworks(), beforeEVPN) {
		t.Fatalf("stored EVPN networks changed by rejected requests: %+v", s.EVPNNetworks())
	}
}

// TestStoreFromEarlierReleaseTakesEVPN: a store written before EVPN loads
// with no EVPN network and no BGP peer, and takes both.
func TestStoreFromEarlierReleaseTakesEVPN(t *testing.T) {
	dir := copyStore(t, storeFixtureDir)
	s := openState(t, dir)
	t.Cleanup(func() { s.Close() })
	if got := s.EVPNNetworks(); len(got) != 0 {
		t.Fatalf("EVPN networks of an earlier release's store: %+v", got)
	}
	if got := s.ListBGPPeers(); len(got) != 0 {
		t.Fatalf("BGP peers of an earlier release's store: %+v", got)
	}
	must[Network](t)(s.ReplaceNetwork("lab", Network{Attachments: []Attachment{{Port: "eth2", VLAN: 4094}}, EVPN: &EVPN{VNI: 5001}}))
	must[BGPPeer](t)(s.CreateBGPPeer(BGPPeer{Name: "rr1", Address: "198.51.100.3", ASN: 65000}))
	s = reopen(t, s, dir)
	if got := evpnNames(s); !reflect.DeepEqual(got, map[string]uint32{"lab": 5001}) {
		t.Errorf("EVPN networks after a restart: %v", got)
	}
	if got := s.ListBGPPeers(); !reflect.DeepEqual(got, []BGPPeer{{Name: "rr1", Address: "198.51.100.3", ASN: 65000}}) {
		t.Errorf("BGP peers after a restart: %+v", got)
	}
}

// FuzzParseRouteTarget checks parseRouteTarget against an independent
// reading of the three forms: it accepts exactly the decimal ASN:NN and
// IPv4:NN whose parts fit their types, and its canonical form parses back
// to itself.
func FuzzParseRouteTarget(f *testing.F) {
	for _, s := range []string{
		"65000:1", "65000:4294967295", "65535:4294967296", "65536:65535", "65536:65536", "4294967295:1", "4294967296:1",
		"0:0", "007:0100", "192.0.2.1:7", "192.0.2.1:65536", "192.0.02.1:7", "2001:db8::1:1", "::1", ":", "1:", ":1",
		"*:5001", "+1:1", "1:-1", "1:2:3", "1.2.3:4", " 1:1", "1:1 ", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		canon, problem := parseRouteTarget(s)
		if want := routeTargetFits(s); (problem == "") != want {
			t.Fatalf("parseRouteTarget(%q) = %q, %q; want accepted %v", s, canon, problem, want)
		}
		if problem != "" {
			return
		}
		if again, problem := parseRouteTarget(canon); again != canon || problem != "" {
			t.Fatalf("canonical %q of %q parses to %q, %q", canon, s, again, problem)
		}
	})
}

// routeTargetFits is an independent reading of which route targets are
// valid: one colon; before it decimal digits (an ASN of at most 32 bits)
// or a dotted IPv4 address, after it decimal digits, of at most 32 bits
// after an ASN of 16 bits, else of 16.
func routeTargetFits(s string) bool {
	parts := strings.Split(s, ":")
	if len(parts) != 2 || !allDigits(parts[1]) {
		return false
	}
	limit := func(bits uint) *big.Int { return new(big.Int).Lsh(big.NewInt(1), bits) } // exclusive
	nn, _ := new(big.Int).SetString(parts[1], 10)
	if ip := net.ParseIP(parts[0]); ip != nil && ip.To4() != nil && strings.Count(parts[0], ".") == 3 {
		return nn.Cmp(limit(16)) < 0
	}
	if !allDigits(parts[0]) {
		return false
	}
	asn, _ := new(big.Int).SetString(parts[0], 10)
	switch {
	case asn.Cmp(limit(16)) < 0:
		return nn.Cmp(limit(32)) < 0
	case asn.Cmp(limit(32)) < 0:
		return nn.Cmp(limit(16)) < 0
	}
	return false
}

func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
