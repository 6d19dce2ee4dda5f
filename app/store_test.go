package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestPersistenceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	fixture(t, s)
	must[[]MACBinding](t)(s.AddMACs("b-b", append(manyBindings(300, 1),
		MACBinding{MAC: "02:0b:00:00:00:99", IPs: []string{"2001:db8::99", "192.0.2.99"}})))
	must[Network](t)(s.CreateNetwork(Network{Name: "gone"}))
	gone := must[Network](t)(s.GetNetwork("gone"))
	mustOK(t, s.DeleteNetwork("gone"))
	before := s.Snapshot()
	mustOK(t, s.Close())

	s = openState(t, dir)
	defer s.Close()
	after := s.Snapshot()
	if !reflect.DeepEqual(after, before) {
		t.Fatalf("state after restart differs:\n got %+v\nwant %+v", after, before)
	}
	// The ID cursor is stored too: a freed ID is not reused after a restart.
	n := must[Network](t)(s.CreateNetwork(Network{Name: "new"}))
	if n.ID == gone.ID {
		t.Errorf("network created after restart reused freed ID %d", n.ID)
	}
	for _, old := range before.Networks {
		if old.ID == n.ID {
			t.Errorf("network created after restart got %s's ID %d", old.Name, n.ID)
		}
	}
	// Restored indexes still enforce the rules.
	_, err := s.AddMACs("a-c", MACBindings{{MAC: "02:0b:00:00:00:01"}})
	wantError(t, err, Conflict, At(FieldMACs).Index(0).Field(FieldMAC))
	_, err = s.AddMACs("b-b", MACBindings{{MAC: "02:0b:00:00:00:98", IPs: []string{"2001:db8::99"}}})
	wantError(t, err, Conflict, At(FieldMACs).Index(0).Field(FieldIPs).Index(0))
	_, err = s.CreateNetwork(Network{Name: "x", Attachments: []Attachment{{Port: "trunk0", VLAN: 100}}})
	wantError(t, err, Conflict, At(FieldAttachments).Index(0))
	_, err = s.CreateConnection(Connection{Name: "x", Network: "net-b", RemoteGateway: "site-c", SegmentationID: 5001, NetworkType: TypeGeneve})
	wantError(t, err, Conflict, At(FieldSegmentationID))
}

func TestSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	defer s.Close()
	start := time.Now()
	_, err := Open(dir, Options{})
	if err == nil {
		t.Fatal("second Open of a data directory in use succeeded")
	}
	want := fmt.Sprintf("data directory %s is in use by another l2gwd", dir)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q, want it to say %q", err, want)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("second Open took %v to fail, want about 1 s", d)
	}
}

func TestOpenRejectsOtherSchema(t *testing.T) {
	dir := t.TempDir()
	mustOK(t, openState(t, dir).Close())
	db, err := bolt.Open(filepath.Join(dir, dbFileName), 0o600, nil)
	mustOK(t, err)
	mustOK(t, db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte("2")) }))
	mustOK(t, db.Close())
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "schema version") {
		t.Errorf("Open of a schema-2 store: err = %v, want a schema version error", err)
	}
}

// failWrites makes every transaction, own or shared, do all its work and
// then fail, as a full or read-only disk would at commit; bbolt rolls it
// back.
func failWrites(s *State) (restore func()) {
	update, batch := s.update, s.batch
	failing := func(fn func(*bolt.Tx) error) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			return errors.New("injected: no space left on device")
		}
	}
	s.update = func(fn func(*bolt.Tx) error) error { return s.db.Update(failing(fn)) }
	s.batch = func(fn func(*bolt.Tx) error) error { return s.db.Batch(failing(fn)) }
	return func() { s.update, s.batch = update, batch }
}

func TestWriteFailureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	fixture(t, s)
	// net-c and site-d to delete; net-d and site-e to connect.
	must[Network](t)(s.CreateNetwork(Network{Name: "net-c", Attachments: []Attachment{{Port: "eth3"}}}))
	must[Network](t)(s.CreateNetwork(Network{Name: "net-d"}))
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-d", TunnelIP: "203.0.113.4"}))
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-e", TunnelIP: "203.0.113.5"}))
	before := s.Snapshot()
	notified := 0
	s.Subscribe(func(Change) { notified++ })

	// Each change is valid, also in this order once writes work again.
	ops := []struct {
		name string
		op   func() error
	}{
		{"CreateNetwork", func() error {
			return discard(s.CreateNetwork(Network{Name: "net-x", Attachments: []Attachment{{Port: "eth9"}}}))
		}},
		{"ReplaceNetwork", func() error { return discard(s.ReplaceNetwork("net-a", Network{})) }},
		{"DeleteNetwork", func() error { return s.DeleteNetwork("net-c") }},
		{"CreateRemoteGateway", func() error {
			return discard(s.CreateRemoteGateway(RemoteGateway{Name: "site-x", TunnelIP: "203.0.113.9"}))
		}},
		{"ReplaceRemoteGateway", func() error {
			return discard(s.ReplaceRemoteGateway("site-b", RemoteGateway{TunnelIP: "203.0.113.10"}))
		}},
		{"DeleteRemoteGateway", func() error { return s.DeleteRemoteGateway("site-d") }},
		{"CreateConnection", func() error {
			return discard(s.CreateConnection(Connection{Name: "d-e", Network: "net-d", RemoteGateway: "site-e", SegmentationID: 1}))
		}},
		{"DeleteMAC", func() error { return s.DeleteMAC("a-b", "02:0b:00:00:00:01") }},
		{"AddMACs", func() error { return discard(s.AddMACs("a-b", manyBindings(1000, 1))) }},
		{"ReplaceMACs", func() error { return discard(s.ReplaceMACs("a-b", manyBindings(10, 1))) }},
		{"DeleteConnection", func() error { return s.DeleteConnection("a-b") }},
	}
	restore := failWrites(s)
	for _, o := range ops {
		e := wantError(t, o.op(), Unavailable, nil)
		if !strings.Contains(e.Message, "no space left on device") || !strings.Contains(e.Message, dbFileName) {
			t.Errorf("%s: message %q does not say what failed where", o.name, e.Message)
		}
		if got := s.Snapshot(); !reflect.DeepEqual(got, before) {
			t.Fatalf("%s: a failed write changed the state in memory", o.name)
		}
	}
	restore()
	if notified != 0 {
		t.Errorf("subscribers called %d times for failed writes", notified)
	}
	s = reopen(t, s, dir)
	if got := s.Snapshot(); !reflect.DeepEqual(got, before) {
		t.Fatal("a failed write changed the stored state")
	}
	// Once the disk works again, so does every change.
	for _, o := range ops {
		if err := o.op(); err != nil {
			t.Errorf("%s after the disk recovered: %v", o.name, err)
		}
	}
}

func TestChangesAfterCloseAreUnavailable(t *testing.T) {
	s := newState(t)
	fixture(t, s)
	mustOK(t, s.Close())
	_, err := s.CreateNetwork(Network{Name: "late"})
	wantError(t, err, Unavailable, nil)
	if _, err := s.GetNetwork("net-a"); err != nil {
		t.Errorf("read after Close: %v", err)
	}
}

func TestSubscribe(t *testing.T) {
	s := newState(t)
	fixture(t, s)
	var first, second int
	s.Subscribe(func(Change) {
		first++
		s.Snapshot() // subscribers run outside the State's lock
	})
	s.Subscribe(func(Change) { second++ })
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.CreateNetwork(Network{Name: "net-c"})           // change 1
		s.CreateNetwork(Network{Name: "net-a"})           // rejected: name taken
		s.AddMACs("a-b", manyBindings(100, 1))            // change 2, however many bindings
		s.AddMACs("a-b", manyBindings(1, 1))              // rejected: bound already
		s.ReplaceMACs("a-b", nil)                         // change 3
		s.DeleteMAC("a-b", "02:0b:00:00:00:01")           // rejected: gone with the replace
		s.ReplaceNetwork("net-a", Network{Name: "net-a"}) // change 4
		s.DeleteConnection("a-b")                         // change 5
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a change did not return: subscriber called under the lock?")
	}
	if first != 5 || second != 5 {
		t.Errorf("subscribers called %d and %d times, want 5 each (once per committed change)", first, second)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := newState(t)
	fixture(t, s)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 20 {
				name := fmt.Sprintf("w%d-%d", w, i)
				if _, err := s.CreateNetwork(Network{Name: name, Attachments: []Attachment{{Port: "shared", VLAN: uint16(1 + i)}}}); err != nil {
					var e *Error
					if !errors.As(err, &e) || e.Kind != Conflict {
						t.Errorf("create %s: %v", name, err)
					}
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 20 {
				s.Snapshot()
				s.ListNetworks()
				s.ListMACs("a-b")
			}
		}()
	}
	wg.Wait()
	// Workers raced for the same 20 port/VLAN pairs: exactly one network won each.
	if got := len(s.ListNetworks()); got != 2+20 {
		t.Errorf("%d networks, want 22", got)
	}
}

// TestLargeBatch commits 200,000 bindings in one request and reads them back
// after a restart.
func TestLargeBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("large batch")
	}
	dir := t.TempDir()
	s := openState(t, dir)
	fixture(t, s)
	batch := manyBindings(200_000, 1)
	start := time.Now()
	must[[]MACBinding](t)(s.AddMACs("a-b", batch))
	t.Logf("AddMACs of %d bindings: %v", len(batch), time.Since(start))
	start = time.Now()
	must[[]MACBinding](t)(s.ReplaceMACs("a-b", manyBindings(200_000, 100_001)))
	t.Logf("ReplaceMACs of %d bindings (half kept): %v", len(batch), time.Since(start))
	want := must[[]MACBinding](t)(s.ListMACs("a-b"))
	mustOK(t, s.Close())
	start = time.Now()
	s = openState(t, dir)
	defer s.Close()
	t.Logf("Open with %d bindings: %v", len(batch)+3, time.Since(start))
	got := must[[]MACBinding](t)(s.ListMACs("a-b"))
	if len(got) != 200_000 || got[0].MAC != "02:aa:00:01:86:a1" || !reflect.DeepEqual(got, want) {
		t.Errorf("after restart: %d bindings, first %v; want the replaced set", len(got), got[0])
	}
}

func BenchmarkAddMACs100k(b *testing.B) {
	batch := manyBindings(100_000, 1)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s := openState(b, b.TempDir())
		fixture(b, s)
		b.StartTimer()
		if _, err := s.AddMACs("a-b", batch); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

// TestLoadedStoreIsNotResident: once loaded, the store's pages leave the
// resident set (reads are served from memory).
func TestLoadedStoreIsNotResident(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	fixture(t, s)
	must[[]MACBinding](t)(s.AddMACs("a-b", manyBindings(50_000, 1)))
	mustOK(t, s.Close())

	before := mappedRSS(t, s.path)
	s = openState(t, dir)
	defer s.Close()
	var used int64
	mustOK(t, s.db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil }))
	if rss := mappedRSS(t, s.path); before != 0 || rss > used/4 {
		t.Fatalf("after loading a %d kB store, %d kB of it are resident (%d kB before opening); want under a quarter",
			used>>10, rss>>10, before>>10)
	}
}

// mappedRSS returns how much of file's memory maps in this process is
// resident (bytes), from /proc/self/smaps.
func mappedRSS(t *testing.T, file string) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	var total int64
	inFile := false
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-"):
			inFile = fields[len(fields)-1] == file
		case inFile && len(fields) == 3 && fields[0] == "Rss:":
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				t.Fatalf("smaps line %q: %v", line, err)
			}
			total += kb << 10
		}
	}
	return total
}
