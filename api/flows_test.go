package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/l2gw/l2gw/flows"
)

// newFlowsSite is newSite with the switch and the bridge connected and
// the reconciler done with its first pass.
func newFlowsSite(t *testing.T) *site {
	t.Helper()
	s := newSite(t)
	s.br.connect()
	s.sw.connect()
	s.awaitReady()
	return s
}

// flowReport answers GET path, which must succeed.
func (s *site) flowReport(path string) FlowReport {
	s.t.Helper()
	var rep FlowReport
	if err := json.Unmarshal([]byte(s.get(path)), &rep); err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	return rep
}

func TestFlowsReadBackToTheAPIObjects(t *testing.T) {
	s := newFlowsSite(t)
	s.seed(seedNetwork, seedGateway, seedConn,
		[2]string{"/v1/connections/backup-b/macs", `{"macs":[{"mac":"02:0b:00:00:00:01","ips":["192.0.2.21"]}]}`})
	s.awaitReady()
	conn, err := s.state.GetConnection("backup-b")
	if err != nil {
		t.Fatal(err)
	}
	s.sw.learn(flows.LearnedConnectionCookie(conn.ID))

	rep := s.flowReport("/v1/flows")
	if sum := rep.Summary; !sum.InSync || sum.Installed == 0 || sum.Installed != sum.Desired || sum.Learned != 1 {
		t.Fatalf("a reconciled bridge: summary %+v", sum)
	}
	var names []string
	for _, o := range rep.Owners {
		names = append(names, o.Kind+" "+o.Name)
	}
	if want := "[pipeline pipeline network backup connection backup-b binding backup-b/02:0b:00:00:00:01 tunnel vxlan]"; fmt.Sprint(names) != want {
		t.Errorf("owners %v, want %s", names, want)
	}

	only := s.flowReport("/v1/flows?connection=backup-b")
	if len(only.Owners) != 2 || len(only.Learned) != 1 || only.Learned[0].Name != "backup-b" {
		t.Errorf("connection backup-b: %+v", only)
	}

	// A flow of the binding disappears from the bridge.
	s.sw.mu.Lock()
	for c := range s.sw.flows {
		if _, o, _ := flows.DecodeCookie(c); o.Kind == flows.KindBinding {
			delete(s.sw.flows, c)
			break
		}
	}
	s.sw.mu.Unlock()
	diff := s.flowReport("/v1/flows?diff=true")
	if diff.Summary.InSync || diff.Summary.Missing != 1 || len(diff.Owners) != 1 ||
		diff.Owners[0].Name != "backup-b/02:0b:00:00:00:01" || len(diff.Owners[0].Missing) != 1 {
		t.Errorf("after losing a binding flow: %+v", diff)
	}
}

func TestFlowsWhileTheReconcilerRuns(t *testing.T) {
	s := newFlowsSite(t)
	s.seed(seedNetwork, seedGateway, seedConn)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20 {
			body := fmt.Sprintf(`{"macs":[{"mac":"02:0b:00:00:01:%02x"}]}`, i)
			if resp := s.do(http.MethodPost, "/v1/connections/backup-b/macs", body); resp.status != http.StatusCreated {
				t.Errorf("add MAC: %d %s", resp.status, resp.body)
			}
		}
	}()
	for range 20 {
		s.flowReport("/v1/flows")
	}
	wg.Wait()
	s.awaitReady()
	if rep := s.flowReport("/v1/flows"); !rep.Summary.InSync {
		t.Errorf("reconciled, but the report differs: %+v", rep.Summary)
	}
}
