package app

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// apiClients is how many clients make bench's API scenario runs.
const apiClients = 16

// concurrently runs fn(client) on apiClients goroutines released together.
func concurrently(fn func(client int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c := range apiClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(c)
		}()
	}
	close(start)
	wg.Wait()
}

// countTransactions makes s count the transactions its AddMACs calls
// committed in (shared ones once).
func countTransactions(s *State) func() int {
	var mu sync.Mutex
	txs := map[int]bool{}
	record := func(fn func(*bolt.Tx) error) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			mu.Lock()
			txs[tx.ID()] = true
			mu.Unlock()
			return fn(tx)
		}
	}
	update, batch := s.update, s.batch
	s.update = func(fn func(*bolt.Tx) error) error { return update(record(fn)) }
	s.batch = func(fn func(*bolt.Tx) error) error { return batch(record(fn)) }
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(txs)
	}
}

// shareOneTransaction makes the next apiClients AddMACs writes wait for
// each other and run in one transaction, in the reverse of the order they
// came in, which then fails with fail if it is not nil.
func shareOneTransaction(s *State, fail error) {
	var mu sync.Mutex
	var fns []func(*bolt.Tx) error
	var err error
	done := make(chan struct{})
	share := func(fn func(*bolt.Tx) error) error {
		mu.Lock()
		fns = append(fns, fn)
		if len(fns) == apiClients {
			err = s.db.Update(func(tx *bolt.Tx) error {
				for _, fn := range slices.Backward(fns) {
					if err := fn(tx); err != nil {
						return err
					}
				}
				return fail
			})
			close(done)
		}
		mu.Unlock()
		<-done
		return err
	}
	s.update, s.batch = share, share
}

// TestSharedTransaction has 16 adds share one transaction, their writes in
// the reverse order: all are stored, and the stored ID cursor is past
// every ID they got, so none is reused at once when freed.
func TestSharedTransaction(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	fixture(t, s)
	shareOneTransaction(s, nil)
	ids := make([]uint32, apiClients)
	concurrently(func(c int) {
		ids[c] = must[[]MACBinding](t)(s.AddMACs("a-b", manyBindings(1, 1+c)))[0].ID
	})
	s = reopen(t, s, dir)
	if got := must[[]MACBinding](t)(s.ListMACs("a-b")); len(got) != 1+apiClients {
		t.Fatalf("%d bindings after restart, want %d", len(got), 1+apiClients)
	}
	must[[]MACBinding](t)(s.ReplaceMACs("a-b", nil))
	fresh := must[[]MACBinding](t)(s.AddMACs("a-b", manyBindings(1, 1_000_000)))[0]
	if slices.Contains(ids, fresh.ID) {
		t.Errorf("binding added after restart reused freed ID %d (shared batch had %v)", fresh.ID, ids)
	}
}

// TestConcurrentAddMACs has 16 clients add 200 single bindings each: every
// add succeeds, once, in fewer transactions than adds, and every binding is
// there after a restart with the ID it was answered with.
func TestConcurrentAddMACs(t *testing.T) {
	const perClient = 200
	dir := t.TempDir()
	s := openState(t, dir)
	fixture(t, s)
	type macID struct {
		mac string
		id  uint32
	}
	heard := map[macID]int{}
	s.Subscribe(func(ch Change) {
		for _, bc := range ch.Bindings {
			if bc.Connection != "a-b" || bc.Removed {
				t.Errorf("unexpected change %+v", bc)
			}
			heard[macID{formatMAC(bc.MAC), bc.ID}]++
		}
	})
	transactions := countTransactions(s)
	answered := make([][]MACBinding, apiClients)
	concurrently(func(c int) {
		for i := range perClient {
			got, err := s.AddMACs("a-b", manyBindings(1, 1+c*perClient+i))
			if err != nil {
				t.Errorf("client %d add %d: %v", c, i, err)
				return
			}
			answered[c] = append(answered[c], got...)
		}
	})
	want := map[string]MACBinding{"02:0b:00:00:00:01": s.Snapshot().MACs["a-b"][0]}
	ids := map[uint32]string{}
	for _, got := range answered {
		for _, b := range got {
			want[b.MAC] = b
			if other, dup := ids[b.ID]; dup {
				t.Errorf("%s and %s both got ID %d", b.MAC, other, b.ID)
			}
			ids[b.ID] = b.MAC
			if n := heard[macID{b.MAC, b.ID}]; n != 1 {
				t.Errorf("subscriber heard of %s (ID %d) %d times, want once", b.MAC, b.ID, n)
			}
		}
	}
	if len(heard) != apiClients*perClient {
		t.Errorf("subscriber heard of %d bindings, want %d", len(heard), apiClients*perClient)
	}
	n := transactions()
	t.Logf("%d adds committed in %d transactions", apiClients*perClient, n)
	if n >= apiClients*perClient {
		t.Errorf("%d adds took %d transactions: concurrent adds did not share any", apiClients*perClient, n)
	}
	s = reopen(t, s, dir)
	stored := must[[]MACBinding](t)(s.ListMACs("a-b"))
	if len(stored) != len(want) {
		t.Fatalf("%d bindings after restart, want %d", len(stored), len(want))
	}
	for _, b := range stored {
		if !reflect.DeepEqual(b, want[b.MAC]) {
			t.Errorf("after restart %+v, answered %+v", b, want[b.MAC])
		}
	}
	// The stored ID cursor is past every ID handed out: freed, they are
	// not reused at once.
	must[[]MACBinding](t)(s.ReplaceMACs("a-b", nil))
	fresh := must[[]MACBinding](t)(s.AddMACs("a-b", manyBindings(1, 1_000_000)))
	if mac, taken := ids[fresh[0].ID]; taken {
		t.Errorf("binding added after restart reused %s's freed ID %d", mac, fresh[0].ID)
	}
}

// TestConcurrentAddsOfOneMACOrIP has 16 clients bind the same MAC (on two
// connections of one network), then the same IP to 16 different MACs:
// exactly one wins each race, the others are told why.
func TestConcurrentAddsOfOneMACOrIP(t *testing.T) {
	s := newState(t)
	fixture(t, s)
	for round := range 20 {
		mac := fmt.Sprintf("02:dd:00:00:00:%02x", round)
		ip := fmt.Sprintf("192.0.2.%d", 100+round)
		races := []struct {
			name string
			at   Path
			add  func(c int) ([]MACBinding, error)
		}{
			{"same mac", At(FieldMACs).Index(0).Field(FieldMAC), func(c int) ([]MACBinding, error) {
				return s.AddMACs([]string{"a-b", "a-c"}[c%2], MACBindings{{MAC: mac}})
			}},
			{"same ip", At(FieldMACs).Index(0).Field(FieldIPs).Index(0), func(c int) ([]MACBinding, error) {
				return s.AddMACs("a-b", MACBindings{{MAC: fmt.Sprintf("02:ee:00:00:%02x:%02x", round, c), IPs: []string{ip}}})
			}},
		}
		for _, race := range races {
			var won atomic.Int32
			concurrently(func(c int) {
				_, err := race.add(c)
				if err == nil {
					won.Add(1)
					return
				}
				var e *Error
				if !errors.As(err, &e) || e.Kind != Conflict || !slices.Equal(e.Path, race.at) {
					t.Errorf("round %d %s: client %d: %v, want conflict on %v", round, race.name, c, err, race.at)
				}
			})
			if won.Load() != 1 {
				t.Fatalf("round %d %s: %d adds succeeded, want 1", round, race.name, won.Load())
			}
		}
		found := 0
		snap := s.Snapshot()
		for _, conn := range []string{"a-b", "a-c"} {
			for _, b := range snap.MACs[conn] {
				if b.MAC == mac || slices.Contains(b.IPs, ip) {
					found++
				}
			}
		}
		if found != 2 {
			t.Errorf("round %d: %d bindings have %s or %s, want 2 (one each)", round, found, mac, ip)
		}
	}
}

// replay mirrors the bindings (MAC → ID) a subscriber hears of, failing
// on a removal of something it never heard added.
type replay struct {
	t     *testing.T
	conns map[string]map[string]uint32
}

func (r *replay) apply(ch Change) {
	for _, bc := range ch.Bindings {
		set := r.conns[bc.Connection]
		if set == nil {
			set = map[string]uint32{}
			r.conns[bc.Connection] = set
		}
		mac := formatMAC(bc.MAC)
		if !bc.Removed {
			set[mac] = bc.ID
			continue
		}
		if id, ok := set[mac]; !ok || id != bc.ID {
			r.t.Errorf("removal of %s (id %d) on %s heard before its addition", mac, bc.ID, bc.Connection)
		}
		delete(set, mac)
	}
}

// check compares the mirror with the state's bindings.
func (r *replay) check(snap Snapshot) {
	for conn, set := range r.conns {
		if len(set) > 0 && len(snap.MACs[conn]) != len(set) {
			r.t.Errorf("%s: subscriber has %d bindings, state %d", conn, len(set), len(snap.MACs[conn]))
		}
	}
	for conn, list := range snap.MACs {
		for _, b := range list {
			if id, ok := r.conns[conn][b.MAC]; !ok || id != b.ID {
				r.t.Errorf("%s: state has %+v, subscriber heard id %d (%t)", conn, b, id, ok)
			}
		}
	}
}

// TestAddMACsRacingDeletes has clients add bindings to a connection that
// another client deletes, recreates and replaces the bindings of: no
// binding outlives its connection, in memory or in the store, nothing is
// left reserved, and the subscriber's replay of the changes ends where the
// state does.
func TestAddMACsRacingDeletes(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	fixture(t, s)
	r := &replay{t: t, conns: map[string]map[string]uint32{}}
	for conn, list := range s.Snapshot().MACs {
		r.apply(Change{Bindings: bindingChanges(conn, list)})
	}
	s.Subscribe(r.apply)
	const perClient = 60
	var stop atomic.Bool
	var churn sync.WaitGroup
	churn.Add(1)
	go func() {
		defer churn.Done()
		for i := 0; !stop.Load(); i++ {
			switch i % 3 {
			case 0:
				must[[]MACBinding](t)(s.ReplaceMACs("a-b", manyBindings(3, 900_000+i)))
			case 1:
				mustOK(t, s.DeleteConnection("a-b"))
			case 2:
				must[Connection](t)(s.CreateConnection(Connection{Name: "a-b", Network: "net-a", RemoteGateway: "site-b", SegmentationID: 5001}))
			}
		}
	}()
	var added atomic.Int32
	concurrently(func(c int) {
		for i := range perClient {
			_, err := s.AddMACs("a-b", manyBindings(1, 1+c*perClient+i))
			var e *Error
			switch {
			case err == nil:
				added.Add(1)
			case !errors.As(err, &e) || e.Kind != NotFound:
				t.Errorf("client %d add %d: %v, want success or not found", c, i, err)
			}
		}
	})
	stop.Store(true)
	churn.Wait()
	t.Logf("%d of %d adds succeeded", added.Load(), apiClients*perClient)
	before := s.Snapshot()
	r.check(before)
	s = reopen(t, s, dir) // fails on a binding of a missing connection
	if got := s.Snapshot(); !reflect.DeepEqual(got, before) {
		t.Fatalf("stored state differs from memory:\n got %+v\nwant %+v", got, before)
	}
	// Nothing is left reserved: every MAC and IP not bound is free.
	if _, err := s.GetConnection("a-b"); err == nil {
		must[[]MACBinding](t)(s.ReplaceMACs("a-b", nil))
	}
	must[[]MACBinding](t)(s.AddMACs("a-c", manyBindings(apiClients*perClient, 1)))
}

func bindingChanges(conn string, list []MACBinding) []BindingChange {
	out := make([]BindingChange, len(list))
	for i, b := range list {
		hw, _, _ := parseMAC(b.MAC, new([64]byte))
		out[i] = BindingChange{Connection: conn, MAC: hw, ID: b.ID}
	}
	return out
}

// TestFailedSharedWriteChangesNothing makes the store fail while 16 clients
// add, once in one shared transaction, then in whatever transactions they
// get: every add is unavailable, nothing is kept in memory, reserved,
// announced or stored, and the same bindings can be added elsewhere in the
// network once the store works.
func TestFailedSharedWriteChangesNothing(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	fixture(t, s)
	before := s.Snapshot()
	notified := 0
	s.Subscribe(func(Change) { notified++ })
	addAll := func(conn string, check func(error)) {
		concurrently(func(c int) {
			for i := range 10 {
				_, err := s.AddMACs(conn, manyBindings(1, 1+c*10+i))
				check(err)
			}
		})
	}
	unavailable := func(err error) { wantError(t, err, Unavailable, nil) }
	update, batch := s.update, s.batch
	shareOneTransaction(s, errors.New("injected: I/O error"))
	concurrently(func(c int) { unavailable(discard(s.AddMACs("a-b", manyBindings(1, 1+c*10)))) })
	s.update, s.batch = update, batch
	restore := failWrites(s)
	addAll("a-b", unavailable)
	restore()
	if got := s.Snapshot(); !reflect.DeepEqual(got, before) {
		t.Fatal("failed writes changed the state in memory")
	}
	if notified != 0 {
		t.Errorf("subscribers called %d times for failed writes", notified)
	}
	// Nothing of the failed adds is left reserved in the network.
	addAll("a-c", func(err error) { mustOK(t, err) })
	after := s.Snapshot()
	s = reopen(t, s, dir)
	if got := s.Snapshot(); !reflect.DeepEqual(got, after) || !reflect.DeepEqual(got.MACs["a-b"], before.MACs["a-b"]) {
		t.Fatal("failed writes changed the stored state")
	}
}

// BenchmarkAddMACsParallel is make bench's API scenario without HTTP: 16
// clients each adding one binding per call, every call durable.
func BenchmarkAddMACsParallel(b *testing.B) {
	s := newState(b)
	fixture(b, s)
	var next atomic.Int64
	b.SetParallelism((apiClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.AddMACs("a-b", manyBindings(1, int(next.Add(1)))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "adds/s")
}
