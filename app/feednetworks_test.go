package app

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/flows"
)

// hwNetwork is the network a hardware_vtep logical switch makes in the
// tests: trunk0 on VLAN 200 and eth2 untagged (backup has eth1 and
// trunk0.100).
func hwNetwork(name string) Network {
	return Network{Name: name, Attachments: []Attachment{{Port: "trunk0", VLAN: 200}, {Port: "eth2"}}}
}

// tellHWRemote has f tell a remote MAC of network behind 198.51.100.5
// (VNI 7001), and flood to it.
func tellHWRemote(t *testing.T, f *Feed, network string) {
	t.Helper()
	siteE := vxlanTo("198.51.100.5", 7001)
	mustOK(t, f.UpsertRemoteMACs(remote(network, siteE, "02:0e:00:00:00:01", "192.0.2.51")))
	mustOK(t, f.AddFloodTargets(FloodTarget{Network: network, Tunnel: siteE}))
}

// wantConflict fails unless err is an app Error of kind Conflict whose
// message holds every one of words.
func wantConflict(t *testing.T, what string, err error, words ...string) {
	t.Helper()
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Kind != Conflict {
		t.Fatalf("%s: %v, want a conflict", what, err)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("%s: %q does not say %q", what, err, w)
		}
	}
}

// networkCookies returns the switch's cookies of the flows of network id
// (its own, not its connections').
func networkCookies(sw *memSwitch, id uint32) map[uint64]bool {
	out := map[uint64]bool{}
	for c := range sw.flows {
		if _, o, _ := flows.DecodeCookie(c); o.Kind == flows.KindNetwork && o.ID == id {
			out[c] = true
		}
	}
	return out
}

func TestAFeedsNetworkCompilesAsTheAPIsWould(t *testing.T) {
	fed := newFeedLab(t, 0)
	mustOK(t, fed.vtep.UpsertNetworks(hwNetwork("hw")))
	tellHWRemote(t, fed.vtep, "hw")
	reconcileOK(t, fed.r)
	n := must[Network](t)(fed.s.GetNetwork("hw"))
	if n.Origin != OriginVTEP || n.ID == 0 || len(n.Attachments) != 2 {
		t.Fatalf("the feed's network reads %+v", n)
	}
	if got := fed.vtep.NetworkConflicts(); len(got) != 0 {
		t.Fatalf("conflicts %v", got)
	}

	// The same network made by the API, with the same remote MAC.
	api := newFeedLab(t, 0)
	m := must[Network](t)(api.s.CreateNetwork(hwNetwork("hw")))
	if m.ID != n.ID {
		t.Fatalf("the API's network has ID %d, the feed's %d: the comparison needs the same", m.ID, n.ID)
	}
	tellHWRemote(t, api.vtep, "hw")
	reconcileOK(t, api.r)
	if len(fed.sw.flows) == 0 || !maps.Equal(fed.sw.flows, api.sw.flows) {
		t.Fatalf("the feed's network compiles to %d flows, the API's to %d, not the same", len(fed.sw.flows), len(api.sw.flows))
	}
	if len(networkCookies(fed.sw, n.ID)) == 0 {
		t.Fatal("no flow of the feed's network")
	}
	checkSwitchIsFullCompile(t, fed.s, fed.sw, fed.r)
	checkFeedNetworks(t, fed.s)
}

func TestAChangeOfAFeedsNetworkChangesOnlyItsOwnFlows(t *testing.T) {
	l := newFeedLab(t, 0)
	var changes []Change
	l.s.Subscribe(func(ch Change) { changes = append(changes, ch) })
	mustOK(t, l.vtep.UpsertNetworks(Network{Name: "hw", Attachments: []Attachment{{Port: "trunk0", VLAN: 200}}}))
	if len(changes) != 1 || !changes[0].Topology {
		t.Fatalf("changes %+v: want one topology change", changes)
	}
	tellHWRemote(t, l.vtep, "hw")
	reconcileOK(t, l.r)
	id := must[Network](t)(l.s.GetNetwork("hw")).ID
	before := cookiesOf(l.sw)
	hwBefore := networkCookies(l.sw, id)

	// eth2 joins hw (told in another order: the order is not kept).
	mustOK(t, l.vtep.UpsertNetworks(hwNetwork("hw")))
	reconcileOK(t, l.r)
	after := cookiesOf(l.sw)
	hwAfter := networkCookies(l.sw, id)
	for c := range before {
		if !after[c] && !hwBefore[c] {
			_, o, _ := flows.DecodeCookie(c)
			t.Fatalf("flow %x of %s went with a change of hw", c, o)
		}
	}
	for c := range after {
		if !before[c] && !hwAfter[c] {
			_, o, _ := flows.DecodeCookie(c)
			t.Fatalf("flow %x of %s came with a change of hw", c, o)
		}
	}
	if maps.Equal(hwBefore, hwAfter) {
		t.Fatal("hw's flows did not change with its attachments")
	}

	// Told again as it is: nothing changes, nothing is written.
	txs := countTransactions(l.s)
	n := len(changes)
	l.sw.mods = 0
	mustOK(t, l.vtep.UpsertNetworks(Network{Name: "hw", Attachments: []Attachment{{Port: "eth2"}, {Port: "trunk0", VLAN: 200}}}))
	reconcileOK(t, l.r)
	if l.sw.mods != 0 || txs() != 0 || len(changes) != n {
		t.Fatalf("telling hw again as it is: %d flow_mods, %d transactions, %d changes", l.sw.mods, txs(), len(changes)-n)
	}

	// Removed: its flows go, and the remote MACs and the tunnel it had.
	mustOK(t, l.vtep.RemoveNetworks("hw", "never-told"))
	reconcileOK(t, l.r)
	if got := networkCookies(l.sw, id); len(got) != 0 {
		t.Fatalf("%d flows of hw outlived it", len(got))
	}
	if n := switchFlows(l.sw); n[OriginVTEP] != 0 {
		t.Fatalf("vtep's flows outlived its network: %v", n)
	}
	if _, err := l.s.GetNetwork("hw"); err == nil {
		t.Fatal("hw is still listed")
	}
	checkSwitchIsFullCompile(t, l.s, l.sw, l.r)
	checkFeedNetworks(t, l.s)
}

func TestFeedNetworksOutliveARestartUntilTheOriginIsSynced(t *testing.T) {
	l := newFeedLab(t, 0)
	mustOK(t, l.vtep.UpsertNetworks(hwNetwork("hw"), Network{Name: "hw2", Attachments: []Attachment{{Port: "trunk0", VLAN: 300}}}))
	tellHWRemote(t, l.vtep, "hw")
	l.vtep.Synced()
	reconcileOK(t, l.r)
	installed := cookiesOf(l.sw)
	hw, hw2 := must[Network](t)(l.s.GetNetwork("hw")), must[Network](t)(l.s.GetNetwork("hw2"))

	// l2gwd restarts: the networks are in force with their IDs before
	// vtep tells anything, and not a flow changes.
	l.restart(t, feedOptions(0))
	l.sw.mods = 0
	reconcileOK(t, l.r)
	if l.sw.mods != 0 {
		t.Fatalf("the restart sent %d flow_mods", l.sw.mods)
	}
	for _, want := range []Network{hw, hw2} {
		if got := must[Network](t)(l.s.GetNetwork(want.Name)); got.ID != want.ID || got.Origin != OriginVTEP || !slices.Equal(got.Attachments, want.Attachments) {
			t.Fatalf("after the restart %s reads %+v, want %+v", want.Name, got, want)
		}
	}
	// vtep tells hw again and not hw2: still nothing changes.
	mustOK(t, l.vtep.UpsertNetworks(hwNetwork("hw")))
	tellHWRemote(t, l.vtep, "hw")
	reconcileOK(t, l.r)
	if l.sw.mods != 0 {
		t.Fatalf("telling again sent %d flow_mods", l.sw.mods)
	}
	// Synced: hw2 goes, exactly its flows.
	hw2Flows := networkCookies(l.sw, hw2.ID)
	l.vtep.Synced()
	reconcileOK(t, l.r)
	if l.sw.mods != len(hw2Flows) {
		t.Fatalf("synced sent %d flow_mods, want hw2's %d deletes", l.sw.mods, len(hw2Flows))
	}
	if _, err := l.s.GetNetwork("hw2"); err == nil {
		t.Fatal("hw2, not told again, outlived the sync")
	}
	for c := range installed {
		if !hw2Flows[c] && !cookiesOf(l.sw)[c] {
			t.Fatalf("flow %x changed across the restart", c)
		}
	}
	checkSwitchIsFullCompile(t, l.s, l.sw, l.r)

	// A Reset keeps hw until synced; not told again, it goes then.
	l.vtep.Reset()
	reconcileOK(t, l.r)
	if _, err := l.s.GetNetwork("hw"); err != nil {
		t.Fatal("a reset took hw before vtep was synced")
	}
	l.vtep.Synced()
	if _, err := l.s.GetNetwork("hw"); err == nil {
		t.Fatal("hw, not told again after the reset, outlived the sync")
	}
	reconcileOK(t, l.r)
	checkSwitchIsFullCompile(t, l.s, l.sw, l.r)
	checkFeedNetworks(t, l.s)

	// Told again, and l2gwd restarts without the vtep source: its
	// network goes at once.
	mustOK(t, l.vtep.UpsertNetworks(hwNetwork("hw")))
	opts := feedOptions(0)
	opts.Origins = []Origin{OriginEVPN}
	l.restart(t, opts)
	if _, err := l.s.GetNetwork("hw"); err == nil {
		t.Fatal("vtep's network outlived its source")
	}
	l.restart(t, feedOptions(0))
	if _, err := l.s.GetNetwork("hw"); err == nil {
		t.Fatal("vtep's network came back with its source: its record should be gone")
	}
}

func TestFeedNetworksConflictWithTheAPIsAndEachOther(t *testing.T) {
	l := newFeedLab(t, 0)
	s, vtep, evpn := l.s, l.vtep, l.evpn
	// backup is the API's; eth1 untagged is backup's: vtep's networks are
	// kept shadowed, no error.
	mustOK(t, vtep.UpsertNetworks(Network{Name: "backup", Attachments: []Attachment{{Port: "trunk0", VLAN: 300}}},
		Network{Name: "hw", Attachments: []Attachment{{Port: "eth1"}}}))
	got := vtep.NetworkConflicts()
	if len(got) != 2 || !strings.Contains(got["backup"], "API") || !strings.Contains(got["hw"], `"eth1" untagged`) {
		t.Fatalf("vtep's conflicts %q", got)
	}
	if n := must[Network](t)(s.GetNetwork("backup")); n.Origin != OriginStatic {
		t.Fatalf("backup reads %+v", n)
	}
	// evpn's hw has nothing of anyone's in force: it is in force.
	mustOK(t, evpn.UpsertNetworks(Network{Name: "hw", Attachments: []Attachment{{Port: "trunk0", VLAN: 200}}}))
	if n := must[Network](t)(s.GetNetwork("hw")); n.Origin != OriginEVPN {
		t.Fatalf("hw reads %+v, want evpn's", n)
	}
	reconcileOK(t, l.r)

	// The API cannot take what a feed's network in force has.
	wantConflict(t, "POST hw", second(s.CreateNetwork(Network{Name: "hw"})), "evpn")
	wantConflict(t, "POST with trunk0.200", second(s.CreateNetwork(Network{Name: "n2", Attachments: []Attachment{{Port: "trunk0", VLAN: 200}}})), "hw", "evpn")
	wantConflict(t, "PUT backup with trunk0.200", second(s.ReplaceNetwork("backup", Network{Attachments: []Attachment{{Port: "trunk0", VLAN: 200}}})), "evpn")
	wantConflict(t, "PUT hw", second(s.ReplaceNetwork("hw", Network{})), "evpn")
	wantConflict(t, "DELETE hw", s.DeleteNetwork("hw"), "evpn")
	wantConflict(t, "a connection in hw", second(s.CreateConnection(Connection{Name: "hw-b", Network: "hw", RemoteGateway: "site-b", SegmentationID: 77})), "evpn")

	// The API lets eth1 and the name backup go: vtep's networks come
	// into force, and vtep's hw, first in precedence, takes the name
	// from evpn's.
	mustOK(t, s.DeleteConnection("backup-b"))
	mustOK(t, s.DeleteNetwork("backup"))
	if got := vtep.NetworkConflicts(); len(got) != 0 {
		t.Fatalf("vtep's conflicts once the API's backup is gone: %q", got)
	}
	if got := evpn.NetworkConflicts(); len(got) != 1 || !strings.Contains(got["hw"], "vtep") {
		t.Fatalf("evpn's conflicts: %q", got)
	}
	for name, want := range map[string]Origin{"backup": OriginVTEP, "hw": OriginVTEP} {
		if n := must[Network](t)(s.GetNetwork(name)); n.Origin != want {
			t.Fatalf("%s reads %+v", name, n)
		}
	}
	reconcileOK(t, l.r)
	checkSwitchIsFullCompile(t, s, l.sw, l.r)
	checkFeedNetworks(t, s)

	// vtep takes its networks back: evpn's hw is in force again, and the
	// API may make backup.
	mustOK(t, vtep.RemoveNetworks("backup", "hw"))
	if n := must[Network](t)(s.GetNetwork("hw")); n.Origin != OriginEVPN || len(evpn.NetworkConflicts()) != 0 {
		t.Fatalf("hw reads %+v once vtep's is gone (evpn's conflicts %q)", n, evpn.NetworkConflicts())
	}
	must[Network](t)(s.CreateNetwork(Network{Name: "backup", Attachments: []Attachment{{Port: "eth1"}}}))
	reconcileOK(t, l.r)
	checkSwitchIsFullCompile(t, s, l.sw, l.r)
	checkFeedNetworks(t, s)
}

// TestARemoteMACCompilesAnewWhenItsNetworkIsAnothers: the API's network
// goes and a feed's of the same name comes into force in one change; the
// remote MACs of the name compile with the new network's ID.
func TestARemoteMACCompilesAnewWhenItsNetworkIsAnothers(t *testing.T) {
	l := newFeedLab(t, 0)
	must[Network](t)(l.s.CreateNetwork(Network{Name: "red", Attachments: []Attachment{{Port: "trunk0", VLAN: 7}}}))
	mustOK(t, l.vtep.UpsertNetworks(Network{Name: "red", Attachments: []Attachment{{Port: "trunk0", VLAN: 8}}}))
	tellHWRemote(t, l.evpn, "red")
	reconcileOK(t, l.r)
	mustOK(t, l.s.DeleteNetwork("red"))
	if n := must[Network](t)(l.s.GetNetwork("red")); n.Origin != OriginVTEP {
		t.Fatalf("red reads %+v", n)
	}
	reconcileOK(t, l.r)
	checkSwitchIsFullCompile(t, l.s, l.sw, l.r)
}

func TestFeedNetworksRefuseBadInputAndChangeNothing(t *testing.T) {
	l := newFeedLab(t, 0)
	good := Network{Name: "hw", Attachments: []Attachment{{Port: "eth2"}}}
	bad := map[string]Network{
		"no name":         {Attachments: []Attachment{{Port: "trunk0", VLAN: 9}}},
		"upper case":      {Name: "HW"},
		"a colon":         {Name: "hw:1"},
		"64 characters":   {Name: strings.Repeat("a", 64)},
		"no port":         {Name: "n1", Attachments: []Attachment{{VLAN: 9}}},
		"long port":       {Name: "n1", Attachments: []Attachment{{Port: "a-very-long-port-name"}}},
		"port with slash": {Name: "n1", Attachments: []Attachment{{Port: "eth/1"}}},
		"vlan 4095":       {Name: "n1", Attachments: []Attachment{{Port: "trunk0", VLAN: 4095}}},
		"port twice":      {Name: "n1", Attachments: []Attachment{{Port: "trunk0", VLAN: 9}, {Port: "trunk0", VLAN: 10}}},
		"evpn":            {Name: "n1", EVPN: &EVPN{VNI: 9}},
		"name twice":      good,
		"attachment of another network of the call": {Name: "n1", Attachments: []Attachment{{Port: "eth2"}}},
	}
	before := l.s.ListNetworks()
	for what, n := range bad {
		err := l.vtep.UpsertNetworks(good, n)
		var apiErr *Error
		if !errors.As(err, &apiErr) || apiErr.Kind != Invalid {
			t.Errorf("%s: %v, want an invalid-argument error", what, err)
		}
	}
	if got := l.s.ListNetworks(); !slices.EqualFunc(got, before, func(a, b Network) bool { return a.Name == b.Name }) || len(l.vtep.NetworkConflicts()) != 0 {
		t.Fatalf("refused calls changed the networks: %+v", got)
	}
	l.s.mu.RLock()
	told := len(l.s.feedNets)
	l.s.mu.RUnlock()
	if told != 0 {
		t.Fatalf("refused calls left %d feed networks", told)
	}
}

// checkFeedNetworks fails unless the networks in force are what the feeds
// told and the rules admit: each feed network in force is listed as told,
// with its origin and ID; each one shadowed has a conflict that holds
// (its name or one of its attachments is another network's in force); and
// working the rules out again changes nothing.
func checkFeedNetworks(t *testing.T, s *State) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, fn := range s.feedNets {
		ns := s.networks[k.name]
		if fn.conflict == "" {
			if ns == nil || ns.Origin != k.origin || ns.ID != fn.id || !slices.Equal(ns.Attachments, fn.attachments) {
				t.Fatalf("%s's network %s is in force but reads %+v", k.origin, k.name, ns)
			}
			continue
		}
		held := ns != nil && ns.Origin != k.origin
		for _, a := range fn.attachments {
			if owner, ok := s.ports[a]; ok && owner != k.name {
				held = true
			}
		}
		if !held && fn.id != 0 {
			t.Fatalf("%s's network %s is shadowed (%s) but nothing in force has its name or ports", k.origin, k.name, fn.conflict)
		}
	}
	for name, ns := range s.networks {
		if ns.Origin.Dynamic() && s.feedNets[feedNetKey{origin: ns.Origin, name: name}] == nil {
			t.Fatalf("network %s of %s is in force, not told", name, ns.Origin)
		}
	}
	var ch Change
	s.resolveFeedNetworks(&ch)
	if ch.touchesFlows() {
		t.Fatalf("working the networks out again changes %+v", ch)
	}
}

// TestFeedNetworksSurviveARewriteOfTheStore: after a write that landed
// although it was reported failed, the next write rewrites the store from
// memory; the records of the feeds' networks are in it, and a restart has
// them with their IDs.
func TestFeedNetworksSurviveARewriteOfTheStore(t *testing.T) {
	l := newFeedLab(t, 0)
	mustOK(t, l.vtep.UpsertNetworks(hwNetwork("hw")))
	hw := must[Network](t)(l.s.GetNetwork("hw"))
	landNext(l.s)
	wantStoreFailed(t, "CreateNetwork", second(l.s.CreateNetwork(Network{Name: "ghost"})), "input/output error")
	must[Network](t)(l.s.CreateNetwork(Network{Name: "real"}))
	l.restart(t, feedOptions(0))
	if got := must[Network](t)(l.s.GetNetwork("hw")); got.ID != hw.ID || got.Origin != OriginVTEP {
		t.Fatalf("after the rewrite and a restart hw reads %+v, want %+v", got, hw)
	}
	if _, err := l.s.GetNetwork("ghost"); err == nil {
		t.Fatal("the failed network came back")
	}
}
