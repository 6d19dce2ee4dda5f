package app

import (
	"reflect"
	"strings"
	"testing"
)

func TestBGPPeerLifecycle(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	t.Cleanup(func() { s.Close() })
	var changes []Change
	s.Subscribe(func(ch Change) { changes = append(changes, ch) })

	rr1 := must[BGPPeer](t)(s.CreateBGPPeer(BGPPeer{Name: "rr1", Address: "::ffff:198.51.100.3", ASN: 65000}))
	if rr1.Address != "198.51.100.3" {
		t.Errorf("address %q, want it canonical 198.51.100.3", rr1.Address)
	}
	full := BGPPeer{Name: "rr2", Address: "2001:DB8::4", ASN: 4200000000, Port: 1179, Password: strings.Repeat("k", 80),
		HoldTime: 3, Keepalive: 1, MaxRoutes: 10}
	rr2 := must[BGPPeer](t)(s.CreateBGPPeer(full))
	full.Address = "2001:db8::4"
	if rr2 != full {
		t.Errorf("created %+v, want %+v", rr2, full)
	}
	if got := must[BGPPeer](t)(s.GetBGPPeer("rr2")); got != full {
		t.Errorf("GetBGPPeer %+v, want %+v", got, full)
	}
	// The loopback is a peer address (a speaker on this host).
	must[BGPPeer](t)(s.CreateBGPPeer(BGPPeer{Name: "local", Address: "127.0.0.1", ASN: 65001, Port: 10179, HoldTime: 65535, Keepalive: 65534}))
	if got := s.ListBGPPeers(); len(got) != 3 || got[0].Name != "local" || got[1] != rr1 || got[2] != full {
		t.Fatalf("ListBGPPeers %+v", got)
	}

	// PUT replaces every field; the address it gave up is free again.
	replaced := must[BGPPeer](t)(s.ReplaceBGPPeer("rr1", BGPPeer{Address: "198.51.100.30", ASN: 65000, Password: "s3cret"}))
	if want := (BGPPeer{Name: "rr1", Address: "198.51.100.30", ASN: 65000, Password: "s3cret"}); replaced != want {
		t.Errorf("replaced %+v, want %+v", replaced, want)
	}
	must[BGPPeer](t)(s.ReplaceBGPPeer("local", BGPPeer{Name: "local", Address: "198.51.100.3", ASN: 65001}))
	mustOK(t, s.DeleteBGPPeer("rr2"))
	must[BGPPeer](t)(s.CreateBGPPeer(BGPPeer{Name: "rr3", Address: "2001:db8::4", ASN: 65000}))

	// Each committed change told the subscribers it was the peers', and
	// only that.
	if len(changes) != 7 {
		t.Fatalf("%d changes delivered, want 7 (one per create, replace and delete)", len(changes))
	}
	for i, ch := range changes {
		if !reflect.DeepEqual(ch, Change{BGPPeers: true}) {
			t.Errorf("change %d: %+v, want only BGPPeers", i, ch)
		}
	}

	want := s.ListBGPPeers()
	s = reopen(t, s, dir)
	if got := s.ListBGPPeers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a restart:\n got %+v\nwant %+v", got, want)
	}
	// The address index came back too.
	_, err := s.CreateBGPPeer(BGPPeer{Name: "rr4", Address: "198.51.100.30", ASN: 65000})
	wantError(t, err, Conflict, At(FieldAddress))
}

func TestBGPPeerRejected(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	t.Cleanup(func() { s.Close() })
	must[BGPPeer](t)(s.CreateBGPPeer(BGPPeer{Name: "rr1", Address: "198.51.100.3", ASN: 65000}))
	must[BGPPeer](t)(s.CreateBGPPeer(BGPPeer{Name: "rr2", Address: "198.51.100.4", ASN: 65000}))
	before := s.ListBGPPeers()
	notified := 0
	s.Subscribe(func(Change) { notified++ })
	create := func(p BGPPeer) func() error {
		if p.Name == "" {
			p.Name = "rr9"
		}
		if p.Address == "" {
			p.Address = "203.0.113.9"
		}
		if p.ASN == 0 {
			p.ASN = 65000
		}
		return func() error { return discard(s.CreateBGPPeer(p)) }
	}
	for _, tc := range []struct {
		name string
		op   func() error
		kind ErrorKind
		at   Path
	}{
		{"bad name", create(BGPPeer{Name: "RR_9"}), Invalid, At(FieldName)},
		{"name taken", create(BGPPeer{Name: "rr1"}), AlreadyExists, At(FieldName)},
		{"no address", func() error { return discard(s.CreateBGPPeer(BGPPeer{Name: "rr9", ASN: 65000})) }, Invalid, At(FieldAddress)},
		{"address not an IP", create(BGPPeer{Address: "rr1.example"}), Invalid, At(FieldAddress)},
		{"address with a zone", create(BGPPeer{Address: "fe80::1%eth0"}), Invalid, At(FieldAddress)},
		{"address unspecified", create(BGPPeer{Address: "::"}), Invalid, At(FieldAddress)},
		{"address multicast", create(BGPPeer{Address: "224.0.0.5"}), Invalid, At(FieldAddress)},
		{"address broadcast", create(BGPPeer{Address: "255.255.255.255"}), Invalid, At(FieldAddress)},
		{"our tunnel IP", create(BGPPeer{Address: localTunnelIP}), Invalid, At(FieldAddress)},
		{"address taken", create(BGPPeer{Address: "::ffff:198.51.100.3"}), Conflict, At(FieldAddress)},
		{"no ASN", func() error {
			return discard(s.CreateBGPPeer(BGPPeer{Name: "rr9", Address: "203.0.113.9"}))
		}, Invalid, At(FieldASN)},
		{"password of 81 bytes", create(BGPPeer{Password: strings.Repeat("k", 81)}), Invalid, At(FieldPassword)},
		{"hold time 2", create(BGPPeer{HoldTime: 2}), Invalid, At(FieldHoldTime)},
		{"keepalive as long as the hold time", create(BGPPeer{HoldTime: 30, Keepalive: 30}), Invalid, At(FieldKeepalive)},
		{"keepalive over the default hold time", create(BGPPeer{Keepalive: 90}), Invalid, At(FieldKeepalive)},
		{"replace unknown", func() error {
			return discard(s.ReplaceBGPPeer("nope", BGPPeer{Address: "203.0.113.9", ASN: 65000}))
		}, NotFound, nil},
		{"replace naming another", func() error {
			return discard(s.ReplaceBGPPeer("rr1", BGPPeer{Name: "rr2", Address: "198.51.100.3", ASN: 65000}))
		}, Invalid, At(FieldName)},
		{"replace onto a taken address", func() error {
			return discard(s.ReplaceBGPPeer("rr1", BGPPeer{Address: "198.51.100.4", ASN: 65000}))
		}, Conflict, At(FieldAddress)},
		{"replace with a bad hold time", func() error {
			return discard(s.ReplaceBGPPeer("rr1", BGPPeer{Address: "198.51.100.3", ASN: 65000, HoldTime: 1}))
		}, Invalid, At(FieldHoldTime)},
		{"delete unknown", func() error { return s.DeleteBGPPeer("nope") }, NotFound, nil},
		{"get unknown", func() error { return discard(s.GetBGPPeer("nope")) }, NotFound, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := wantError(t, tc.op(), tc.kind, tc.at)
			if strings.Contains(e.Message, strings.Repeat("k", 81)) {
				t.Errorf("the message shows the password: %s", e.Message)
			}
			if got := s.ListBGPPeers(); !reflect.DeepEqual(got, before) {
				t.Fatalf("peers changed by a rejected request (%s): %+v", e.Message, got)
			}
		})
	}
	if notified != 0 {
		t.Errorf("subscribers called %d times for rejected requests", notified)
	}
	s = reopen(t, s, dir)
	if got := s.ListBGPPeers(); !reflect.DeepEqual(got, before) {
		t.Fatalf("stored peers changed by rejected requests: %+v", got)
	}
}

// TestBGPPeersAndEVPNAreNoFlowWork: changing BGP peers leaves the switch
// reconciled and sends it nothing, and so does a network's EVPN
// membership (no flow depends on either).
func TestBGPPeersAndEVPNAreNoFlowWork(t *testing.T) {
	state, sw := siteState(t), newMemSwitch()
	r := newTestReconciler(state, sw)
	reconcileOK(t, r)
	bundles, mods := sw.bundles, sw.mods

	must[BGPPeer](t)(state.CreateBGPPeer(BGPPeer{Name: "rr1", Address: "198.51.100.3", ASN: 65000}))
	must[BGPPeer](t)(state.ReplaceBGPPeer("rr1", BGPPeer{Address: "198.51.100.4", ASN: 65000}))
	mustOK(t, state.DeleteBGPPeer("rr1"))
	if r.hasPending() || !r.Status().Reconciled {
		t.Fatalf("after peer changes: pending %v, status %+v; want nothing for the reconciler to do", r.hasPending(), r.Status())
	}

	n := must[Network](t)(state.GetNetwork("backup"))
	n.EVPN = &EVPN{VNI: 5001}
	must[Network](t)(state.ReplaceNetwork("backup", n))
	reconcileOK(t, r)
	if sw.bundles != bundles || sw.mods != mods || !r.Status().Reconciled {
		t.Fatalf("%d bundles and %d flow mods sent for peers and EVPN, want none; status %+v",
			sw.bundles-bundles, sw.mods-mods, r.Status())
	}
}

// TestReadBGPConfigBeforeOpen: the peers and EVPN networks of a closed
// store read back alone, as l2gwd reads them before loading the rest.
func TestReadBGPConfigBeforeOpen(t *testing.T) {
	dir := t.TempDir()
	if peers, nets, err := ReadBGPConfig(dir); err != nil || peers != nil || nets != nil {
		t.Fatalf("no store yet: %v %v %v, want nothing and no error", peers, nets, err)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.CreateNetwork(Network{Name: "plain", Attachments: []Attachment{{Port: "eth2"}}})
	must(err)
	_, err = s.CreateNetwork(Network{Name: "blue", Attachments: []Attachment{{Port: "eth1"}}, EVPN: &EVPN{VNI: 5001, ExportRTs: []string{"65000:7"}}})
	must(err)
	_, err = s.CreateBGPPeer(BGPPeer{Name: "rr2", Address: "198.51.100.4", ASN: 65000, Password: "secret"})
	must(err)
	_, err = s.CreateBGPPeer(BGPPeer{Name: "rr1", Address: "198.51.100.3", ASN: 65000})
	must(err)
	must(s.Close())

	peers, nets, err := ReadBGPConfig(dir)
	must(err)
	if len(peers) != 2 || peers[0].Name != "rr1" || peers[1].Name != "rr2" || peers[1].Password != "secret" {
		t.Errorf("peers read back as %+v, want rr1 and rr2 (with its password)", peers)
	}
	if len(nets) != 1 || nets[0].Name != "blue" || nets[0].ID == 0 || nets[0].EVPN == nil || nets[0].EVPN.VNI != 5001 ||
		len(nets[0].EVPN.ExportRTs) != 1 {
		t.Errorf("EVPN networks read back as %+v, want blue with its VNI and route target", nets)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("the store does not open after ReadBGPConfig: %v", err)
	}
	s.Close()
}
