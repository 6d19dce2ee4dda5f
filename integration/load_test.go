package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The load: loadClients API clients at once against one l2gwd (built with
// -race, halting on the first race). Every client has its own HTTP
// connection and its own MACs, so what must exist afterwards is known
// exactly:
//   - writers create (POST, batches of 1-3) and delete their own MACs on
//     one of writerConns, and know which of them are bound; re-adding a
//     bound MAC is a conflict (409) they count, as are malformed requests
//     (400) they send on purpose;
//   - replacers PUT whole sets, drawn from one shared pool, on
//     replaceConn: afterwards it must hold the set of an acknowledged PUT
//     that may have been the last, one that no other acknowledged PUT was
//     sent after it was answered.
const (
	loadClients   = 64
	loadReplacers = 16
	writerMACs    = 12 // MACs per writer; the first writerIPs have an IPv4 address
	writerIPs     = 4
	replacePool   = 32 // MACs the replacers draw from
	replaceConn   = "load-d"
)

var writerConns = []string{"load-b", "load-c"}

// peakRSSBound bounds l2gwd's peak resident memory (VmHWM) after a load of
// duration d. The daemon runs with the race detector, whose own bookkeeping
// grows with the work done: measured here, about 100 MiB after 10 s of this
// load, 170 MiB after 60 s, 215 MiB after 120 s, while a plain build stays
// at about 23 MiB however long the load runs. Hence a base plus an
// allowance per second, with room to spare: 280 MiB for the default 60 s.
func peakRSSBound(d time.Duration) int64 {
	return 160<<20 + int64(d.Seconds())*(2<<20)
}

// loadDuration is how long the load runs: L2GW_LOAD_SECONDS, 60 by default.
func loadDuration(t *testing.T) time.Duration {
	t.Helper()
	s := os.Getenv("L2GW_LOAD_SECONDS")
	if s == "" {
		return 60 * time.Second
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("L2GW_LOAD_SECONDS=%q: want a whole number of seconds, at least 1", s)
	}
	return time.Duration(n) * time.Second
}

func TestLoadConcurrentBindingWrites(t *testing.T) {
	l := newLab(t, "l2ld-")
	g := startGateway(t, l, "a", "198.51.100.1")
	g.must(t, "POST", "/v1/networks", object{"name": "load"}, 201)
	for i, peer := range []string{"b", "c", "d"} {
		g.must(t, "POST", "/v1/remote-gateways", object{"name": "site-" + peer, "tunnel_ip": fmt.Sprintf("198.51.100.%d", i+2)}, 201)
		g.must(t, "POST", "/v1/connections", object{"name": "load-" + peer, "network": "load",
			"remote_gateway": "site-" + peer, "segmentation_id": 6001 + i}, 201)
	}
	d := loadDuration(t)
	idle, err := g.proc.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}

	clients := runLoad(g, d)
	checkAnswers(t, clients, d)
	if g.proc.Exited() {
		t.Fatalf("l2gwd exited during the load (a race halts it): %v", g.proc.Wait())
	}
	peak, err := g.proc.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	bound := peakRSSBound(d)
	t.Logf("load: l2gwd (-race) peak resident memory (VmHWM) %.1f MiB before the load, %.1f MiB after (bound %d MiB)",
		float64(idle)/(1<<20), float64(peak)/(1<<20), bound>>20)
	if peak > bound {
		t.Errorf("l2gwd peak resident memory %d MiB is over the %d MiB bound", peak>>20, bound>>20)
	}

	// Every acknowledged write is there, nothing else, and the bridge
	// holds what the bindings compile to.
	g.waitReconciled(t)
	got := map[string]bindingSet{}
	for _, conn := range append(slices.Clone(writerConns), replaceConn) {
		got[conn] = listBindings(t, g, conn)
	}
	for _, conn := range writerConns {
		if diff := acknowledged(clients, conn).diff(got[conn]); diff != "" {
			t.Errorf("%s after the load, compared with what its writers were told: %s", conn, diff)
		}
		t.Logf("load: %s holds %d bindings, as acknowledged", conn, len(got[conn]))
	}
	checkLastReplace(t, clients, got[replaceConn])
	checkBindingFlows(t, g, got)
	checkFreshCompile(t, g)
}

// runLoad runs loadClients clients against g for d and returns them.
func runLoad(g *gateway, d time.Duration) []*loadClient {
	clients := make([]*loadClient, loadClients)
	for i := range clients {
		c := &loadClient{id: i, http: g.site.HTTPClient(), rng: rand.New(rand.NewPCG(uint64(i), 42)),
			statuses: map[string]int{}, bound: map[int]bool{}}
		if i < loadClients-loadReplacers {
			c.conn = writerConns[i%len(writerConns)]
		} else {
			c.conn = replaceConn
		}
		clients[i] = c
	}
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && len(c.problems) < 10 {
				if c.conn == replaceConn {
					c.replaceStep()
				} else {
					c.writeStep()
				}
			}
		}()
	}
	wg.Wait()
	return clients
}

// checkAnswers logs what the clients were answered and fails t for every
// answer their models did not predict and for any server error.
func checkAnswers(t *testing.T, clients []*loadClient, d time.Duration) {
	t.Helper()
	statuses := map[string]int{}
	var requests, serverErrors int
	for _, c := range clients {
		for k, n := range c.statuses {
			statuses[k] += n
			requests += n
		}
		serverErrors += c.serverErrors
		for _, p := range c.problems {
			t.Errorf("client %d (%s): %s", c.id, c.conn, p)
		}
	}
	t.Logf("load: %d clients, %d requests in %s (%.0f/s); answers: %s",
		len(clients), requests, d, float64(requests)/d.Seconds(), formatCounts(statuses))
	if serverErrors > 0 {
		t.Errorf("%d answers were server errors (5xx)", serverErrors)
	}
}

// acknowledged is what the writers of conn were told is bound.
func acknowledged(clients []*loadClient, conn string) bindingSet {
	set := bindingSet{}
	for _, c := range clients {
		if c.conn != conn {
			continue
		}
		for k, bound := range c.bound {
			if bound {
				b := c.writerBinding(k)
				set[b.MAC] = strings.Join(b.IPs, ",")
			}
		}
	}
	return set
}

// checkBindingFlows checks that g's bridge holds exactly the binding flows
// bindings (by connection) compile to: one forwarding flow per MAC, one ARP
// answer per IPv4 address; and that l2gwd's status counts the flows there are.
func checkBindingFlows(t *testing.T, g *gateway, bindings map[string]bindingSet) {
	t.Helper()
	var want []string
	for _, set := range bindings {
		for mac, ips := range set {
			want = append(want, "dl_dst="+mac)
			for _, ip := range strings.Split(ips, ",") {
				if ip != "" {
					want = append(want, "arp_tpa="+ip)
				}
			}
		}
	}
	sort.Strings(want)
	have := bindingFlowKeys(g.dumpFlows(t, "cookie=0xa300000000000000/0xff00000000000000"))
	if strings.Join(have, " ") != strings.Join(want, " ") {
		t.Errorf("binding flows on the bridge (%d) are not what the bindings imply (%d)", len(have), len(want))
	}
	st, err := g.status(t)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(g.controllerFlows(t)); st.Flows != n || !st.Reconciled {
		t.Errorf("status says %d flows (reconciled %v), the bridge holds %d", st.Flows, st.Reconciled, n)
	}
	t.Logf("load: %d binding flows on the bridge, %d flows in all, %d flow_mods in %d bundles",
		len(have), st.Flows, st.FlowMods, st.Bundles)
}

// loadClient is one API client of the load, on its own HTTP connection.
// Only its goroutine touches it until the load is over.
type loadClient struct {
	id           int
	conn         string // the connection it writes to
	http         *http.Client
	rng          *rand.Rand
	statuses     map[string]int // "POST 201" → count
	serverErrors int            // 5xx answers
	problems     []string       // answers other than the one its model predicts
	bound        map[int]bool   // writer: which of its MACs are bound
	puts         []ackedPut     // replacer: every PUT answered 200
}

// ackedPut is one acknowledged PUT: when it was sent and answered, and the
// set it made.
type ackedPut struct {
	start, end time.Time
	set        bindingSet
}

// binding is a MAC binding as the API takes and lists it.
type binding struct {
	MAC string   `json:"mac"`
	IPs []string `json:"ips,omitempty"`
}

// bindingSet is a connection's bindings: MAC → its IPs joined by ",".
type bindingSet map[string]string

// diff says how got differs from s, or "".
func (s bindingSet) diff(got bindingSet) string {
	var missing, extra, changed []string
	for mac, ips := range s {
		g, ok := got[mac]
		switch {
		case !ok:
			missing = append(missing, mac)
		case g != ips:
			changed = append(changed, fmt.Sprintf("%s has [%s], want [%s]", mac, g, ips))
		}
	}
	for mac := range got {
		if _, ok := s[mac]; !ok {
			extra = append(extra, mac)
		}
	}
	if len(missing)+len(extra)+len(changed) == 0 {
		return ""
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return fmt.Sprintf("missing %v, unexpected %v, changed %v", missing, extra, changed)
}

// decodeBindings reads a MAC list response.
func decodeBindings(body []byte) (bindingSet, error) {
	var list struct{ MACs []binding }
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("decode MAC list: %w", err)
	}
	set := make(bindingSet, len(list.MACs))
	for _, b := range list.MACs {
		set[b.MAC] = strings.Join(b.IPs, ",")
	}
	return set, nil
}

// listBindings GETs a connection's bindings.
func listBindings(t *testing.T, g *gateway, conn string) bindingSet {
	t.Helper()
	set, err := decodeBindings(g.must(t, "GET", "/v1/connections/"+conn+"/macs", nil, 200))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// do sends one request and counts its answer.
func (c *loadClient) do(method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, apiURL+path, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.statuses[method+" no answer"]++
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	c.statuses[fmt.Sprintf("%s %d", method, resp.StatusCode)]++
	if resp.StatusCode >= 500 {
		c.serverErrors++
	}
	return resp.StatusCode, out, err
}

// expect records a problem unless the request got the status want.
func (c *loadClient) expect(what string, status int, body []byte, err error, want int) bool {
	if err == nil && status == want {
		return true
	}
	c.problems = append(c.problems, fmt.Sprintf("%s: status %d (err %v), want %d: %.300s", what, status, err, want, body))
	return false
}

// writerBinding is writer c's k-th MAC and its IPs.
func (c *loadClient) writerBinding(k int) binding {
	b := binding{MAC: fmt.Sprintf("02:1d:%02x:00:00:%02x", c.id, k)}
	if k < writerIPs {
		b.IPs = []string{fmt.Sprintf("192.0.2.%d", 10+writerIPs*c.id+k)}
	}
	return b
}

// writeStep is one request of a writer: mostly creates and deletes, some
// reads of its connection, a few malformed requests.
func (c *loadClient) writeStep() {
	path := "/v1/connections/" + c.conn + "/macs"
	switch r := c.rng.IntN(100); {
	case r < 45:
		picked := c.rng.Perm(writerMACs)[:1+c.rng.IntN(3)]
		macs := make([]binding, len(picked))
		want := http.StatusCreated
		for i, k := range picked {
			macs[i] = c.writerBinding(k)
			if c.bound[k] {
				want = http.StatusConflict // the batch is refused whole
			}
		}
		status, body, err := c.do("POST", path, object{"macs": macs})
		c.expect(fmt.Sprintf("POST %v", macs), status, body, err, want)
		if err == nil && status == http.StatusCreated {
			for _, k := range picked {
				c.bound[k] = true
			}
		}
	case r < 80:
		k := c.rng.IntN(writerMACs)
		mac := c.writerBinding(k).MAC
		want := http.StatusNotFound
		if c.bound[k] {
			want = http.StatusNoContent
		}
		status, body, err := c.do("DELETE", path+"/"+mac, nil)
		c.expect("DELETE "+mac, status, body, err, want)
		if err == nil && status == http.StatusNoContent {
			c.bound[k] = false
		}
	case r < 90:
		status, body, err := c.do("GET", path, nil)
		if !c.expect("GET "+path, status, body, err, http.StatusOK) {
			return
		}
		set, err := decodeBindings(body)
		if err != nil {
			c.problems = append(c.problems, err.Error())
			return
		}
		// Its own MACs read back as its acknowledged writes left them.
		for k := range writerMACs {
			b := c.writerBinding(k)
			ips, listed := set[b.MAC]
			if listed != c.bound[k] || (listed && ips != strings.Join(b.IPs, ",")) {
				c.problems = append(c.problems, fmt.Sprintf("GET lists %s: %v [%s], but it is bound: %v", b.MAC, listed, ips, c.bound[k]))
			}
		}
	default:
		status, body, err := c.do("POST", path, object{"macs": []binding{{MAC: "01:00:5e:00:00:01"}}})
		c.expect("POST of a multicast MAC", status, body, err, http.StatusBadRequest)
	}
}

// replaceStep is one request of a replacer: a PUT of a random set (0-12
// MACs of the shared pool, each with no IP or one of two), now and then a
// read.
func (c *loadClient) replaceStep() {
	path := "/v1/connections/" + replaceConn + "/macs"
	if c.rng.IntN(10) == 0 {
		status, body, err := c.do("GET", path, nil)
		c.expect("GET "+path, status, body, err, http.StatusOK)
		return
	}
	picked := c.rng.Perm(replacePool)[:c.rng.IntN(13)]
	macs := make([]binding, 0, len(picked))
	set := bindingSet{}
	for _, k := range picked {
		b := binding{MAC: fmt.Sprintf("02:1e:00:00:00:%02x", k)}
		switch c.rng.IntN(3) {
		case 1:
			b.IPs = []string{fmt.Sprintf("203.0.113.%d", 1+k)}
		case 2:
			b.IPs = []string{fmt.Sprintf("203.0.113.%d", 101+k)}
		}
		macs = append(macs, b)
		set[b.MAC] = strings.Join(b.IPs, ",")
	}
	start := time.Now()
	status, body, err := c.do("PUT", path, object{"macs": macs})
	if c.expect(fmt.Sprintf("PUT %v", macs), status, body, err, http.StatusOK) {
		c.puts = append(c.puts, ackedPut{start: start, end: time.Now(), set: set})
	}
}

// checkLastReplace checks the replaced connection: it must hold the set of
// an acknowledged PUT that may have been the last, one that no other
// acknowledged PUT was sent after it was answered.
func checkLastReplace(t *testing.T, clients []*loadClient, got bindingSet) {
	t.Helper()
	var puts []ackedPut
	for _, c := range clients {
		puts = append(puts, c.puts...)
	}
	if len(puts) == 0 {
		t.Errorf("no PUT on %s was acknowledged", replaceConn)
		return
	}
	var lastStart time.Time
	for _, p := range puts {
		if p.start.After(lastStart) {
			lastStart = p.start
		}
	}
	candidates := 0
	for _, p := range puts {
		if p.end.Before(lastStart) {
			continue // a PUT sent after it was answered came later
		}
		candidates++
		if p.set.diff(got) == "" {
			t.Logf("load: %s holds %d bindings, the set of one of the %d PUTs that may have been last (of %d acknowledged)",
				replaceConn, len(got), candidates, len(puts))
			return
		}
	}
	t.Errorf("%s holds %v, the set of none of the %d acknowledged PUTs that may have been last", replaceConn, got, candidates)
}

// What a binding's flow is for: an IPv4 address (ARP answer) or its MAC
// (forwarding).
var (
	arpAnswerRE = regexp.MustCompile(`arp_tpa=[0-9.]+`)
	forwardRE   = regexp.MustCompile(`dl_dst=[0-9a-f:]{17}`)
)

// bindingFlowKeys reduces binding flows to "arp_tpa=IP" (ARP answer) or
// "dl_dst=MAC" (forwarding), sorted.
func bindingFlowKeys(flows []string) []string {
	keys := make([]string, 0, len(flows))
	for _, f := range flows {
		switch {
		case arpAnswerRE.MatchString(f):
			keys = append(keys, arpAnswerRE.FindString(f))
		case forwardRE.MatchString(f):
			keys = append(keys, forwardRE.FindString(f))
		default:
			keys = append(keys, "unknown flow: "+f)
		}
	}
	sort.Strings(keys)
	return keys
}

// formatCounts prints counts sorted by key.
func formatCounts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
