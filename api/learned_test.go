package api

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/l2gw/l2gw/app"
)

// stubLearner answers for any network with fixed MACs and records flushes.
type stubLearner struct{ flushed []string }

func (*stubLearner) Learned(_ context.Context, network string) ([]app.LearnedMAC, error) {
	return []app.LearnedMAC{{MAC: "02:00:00:00:00:01", Via: "port eth1", Age: 42*time.Second + 900*time.Millisecond}}, nil
}

func (l *stubLearner) FlushLearned(_ context.Context, network string) (int, error) {
	l.flushed = append(l.flushed, network)
	return 3, nil
}

func TestLearnedRoutes(t *testing.T) {
	state, err := app.Open(t.TempDir(), app.Options{Logger: slog.New(slog.DiscardHandler), LocalTunnelIPs: []string{"198.51.100.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { state.Close() })
	l := &stubLearner{}
	c := &client{t: t, h: NewHandler(state, func() app.Status { return testStatus }, nil, WithLearned(l))}
	c.seed([2]string{"/v1/networks", `{"name":"backup"}`})

	c.want(http.MethodGet, "/v1/networks/backup/learned", "", http.StatusOK,
		`{"learned":[{"mac":"02:00:00:00:00:01","via":"port eth1","age_seconds":42}]}`)
	c.want(http.MethodDelete, "/v1/networks/backup/learned", "", http.StatusOK, `{"flushed":3}`)
	if len(l.flushed) != 1 || l.flushed[0] != "backup" {
		t.Errorf("flushed %v, want [backup]", l.flushed)
	}
	resp := c.do(http.MethodDelete, "/v1/networks/nope/learned", "")
	wantError(t, "DELETE /v1/networks/nope/learned", resp, http.StatusNotFound, codeNotFound, "")
	if len(l.flushed) != 1 {
		t.Errorf("flushed %v for an unknown network", l.flushed)
	}
}
