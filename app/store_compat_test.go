package app

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// writeStoreFixture rewrites testdata/store-v1 with buildStoreFixture. Only
// the code that first wrote it may: the fixture is what an upgraded l2gwd
// finds on disk.
var writeStoreFixture = flag.Bool("write-store-fixture", false, "rewrite testdata/store-v1/l2gw.db")

// storeFixtureDir holds a store (schema 1) written by l2gwd at commit
// 7a95886, when the store still marshalled app's API types.
const storeFixtureDir = "testdata/store-v1"

// buildStoreFixture makes the changes the fixture store holds: every kind
// of object and field, an ID freed and a binding moved.
func buildStoreFixture(t *testing.T, s *State) {
	t.Helper()
	must[Network](t)(s.CreateNetwork(Network{Name: "backup", Attachments: []Attachment{{Port: "eth1"}, {Port: "trunk0", VLAN: 100}}}))
	must[Network](t)(s.CreateNetwork(Network{Name: "gone"}))
	must[Network](t)(s.CreateNetwork(Network{Name: "lab"}))
	mustOK(t, s.DeleteNetwork("gone"))
	must[Network](t)(s.ReplaceNetwork("lab", Network{Attachments: []Attachment{{Port: "eth2", VLAN: 4094}}}))
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-b", TunnelIP: "198.51.100.2"}))
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-c", TunnelIP: "2001:db8::3"}))
	must[RemoteGateway](t)(s.ReplaceRemoteGateway("site-b", RemoteGateway{TunnelIP: "::ffff:203.0.113.2"}))
	must[Connection](t)(s.CreateConnection(Connection{Name: "backup-b", Network: "backup", RemoteGateway: "site-b", SegmentationID: 5001, Flood: true}))
	must[Connection](t)(s.CreateConnection(Connection{Name: "backup-c", Network: "backup", RemoteGateway: "site-c", SegmentationID: 1 << 31, NetworkType: TypeGRE}))
	must[Connection](t)(s.CreateConnection(Connection{Name: "lab-c", Network: "lab", RemoteGateway: "site-c", SegmentationID: 7, NetworkType: TypeGeneve, Flood: true}))
	must[[]MACBinding](t)(s.AddMACs("backup-b", MACBindings{
		{MAC: "02:0b:00:00:00:01", IPs: []string{"192.0.2.21", "2001:db8::21"}},
		{MAC: "02:0b:00:00:00:02"},
		{MAC: "02:0b:00:00:00:03", IPs: []string{"192.0.2.23"}},
	}))
	must[[]MACBinding](t)(s.ReplaceMACs("lab-c", MACBindings{{MAC: "02:0c:00:00:00:01", IPs: []string{"198.51.100.31"}}}))
	must[[]MACBinding](t)(s.MoveMACs(MACMove{To: "backup-c", MACs: []string{"02:0b:00:00:00:03"}}))
	mustOK(t, s.DeleteMAC("backup-b", "02:0b:00:00:00:02"))
	must[Network](t)(s.CreateNetwork(Network{Name: "empty"}))
}

// storeContents reads every bucket of the store file in dir, key by key.
func storeContents(t *testing.T, dir string) map[string]map[string][]byte {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, dbFileName), 0o600, &bolt.Options{ReadOnly: true})
	mustOK(t, err)
	defer db.Close()
	out := map[string]map[string][]byte{}
	mustOK(t, db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			kv := map[string][]byte{}
			out[string(name)] = kv
			return b.ForEach(func(k, v []byte) error {
				kv[string(k)] = bytes.Clone(v)
				return nil
			})
		})
	}))
	return out
}

// TestStoreFromEarlierRelease: a store written by an earlier l2gwd loads
// as it was written, and the same changes made now write the same bytes.
func TestStoreFromEarlierRelease(t *testing.T) {
	if *writeStoreFixture {
		mustOK(t, os.RemoveAll(storeFixtureDir))
		s := openState(t, storeFixtureDir)
		buildStoreFixture(t, s)
		mustOK(t, s.Close())
		// Cut the file to its used pages: l2gwd grows a store in 16 MB
		// steps, the rest is zeros.
		path := filepath.Join(storeFixtureDir, dbFileName)
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		mustOK(t, err)
		var size int64
		mustOK(t, db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil }))
		mustOK(t, db.Close())
		mustOK(t, os.Truncate(path, size))
		return
	}
	s := openState(t, copyStore(t, storeFixtureDir))
	defer s.Close()
	want := Snapshot{
		Networks: []Network{
			{Name: "backup", ID: 1, Attachments: []Attachment{{Port: "eth1"}, {Port: "trunk0", VLAN: 100}}},
			{Name: "empty", ID: 4, Attachments: []Attachment{}},
			{Name: "lab", ID: 3, Attachments: []Attachment{{Port: "eth2", VLAN: 4094}}},
		},
		RemoteGateways: []RemoteGateway{{Name: "site-b", TunnelIP: "203.0.113.2", TunnelIPs: []string{"203.0.113.2"}},
			{Name: "site-c", TunnelIP: "2001:db8::3", TunnelIPs: []string{"2001:db8::3"}}},
		Connections: []Connection{
			{Name: "backup-b", ID: 1, Network: "backup", RemoteGateway: "site-b", SegmentationID: 5001, NetworkType: TypeVXLAN, Flood: true},
			{Name: "backup-c", ID: 2, Network: "backup", RemoteGateway: "site-c", SegmentationID: 1 << 31, NetworkType: TypeGRE},
			{Name: "lab-c", ID: 3, Network: "lab", RemoteGateway: "site-c", SegmentationID: 7, NetworkType: TypeGeneve, Flood: true},
		},
		MACs: map[string][]MACBinding{
			"backup-b": {{MAC: "02:0b:00:00:00:01", IPs: []string{"192.0.2.21", "2001:db8::21"}, ID: 1}},
			"backup-c": {{MAC: "02:0b:00:00:00:03", IPs: []string{"192.0.2.23"}, ID: 3}},
			"lab-c":    {{MAC: "02:0c:00:00:00:01", IPs: []string{"198.51.100.31"}, ID: 4}},
		},
	}
	if got := s.Snapshot(); !reflect.DeepEqual(got, want) {
		t.Fatalf("loaded state:\n got %+v\nwant %+v", got, want)
	}
	// The cursors were read too: freed IDs are not handed out again.
	if n := must[Network](t)(s.CreateNetwork(Network{Name: "new"})); n.ID != 5 {
		t.Errorf("network created after loading: ID %d, want 5", n.ID)
	}

	fresh := t.TempDir()
	s = openState(t, fresh)
	buildStoreFixture(t, s)
	mustOK(t, s.Close())
	got, old := storeContents(t, fresh), storeContents(t, storeFixtureDir)
	// Buckets of later releases (derived_connections) stay empty for
	// what the earlier release could store.
	for bucket, kv := range got {
		if _, had := old[bucket]; !had && len(kv) == 0 {
			delete(got, bucket)
		}
	}
	if !reflect.DeepEqual(got, old) {
		for bucket, kv := range old {
			for k, v := range kv {
				if !bytes.Equal(got[bucket][k], v) {
					t.Errorf("bucket %s key %q: wrote %q, the earlier release wrote %q", bucket, k, got[bucket][k], v)
				}
			}
		}
		t.Fatalf("the same changes wrote another store:\n%s", fmt.Sprint(got))
	}
}
