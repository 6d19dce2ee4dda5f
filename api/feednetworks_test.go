package api

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/l2gw/l2gw/app"
)

// TestADynamicOriginsNetworkIsReadOnly: a network vtep told is listed with
// its origin, and the API can neither write it, nor take its name or its
// ports, nor make connections in it; once vtep lets it go, it can.
func TestADynamicOriginsNetworkIsReadOnly(t *testing.T) {
	state, err := app.Open(t.TempDir(), app.Options{Logger: slog.New(slog.DiscardHandler), LocalTunnelIPs: []string{"198.51.100.1"},
		Origins: []app.Origin{app.OriginVTEP}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { state.Close() })
	c := &client{t: t, h: NewHandler(state, func() app.Status { return testStatus }, nil)}
	c.seed(seedNetwork, seedGateway, seedConn)
	vtep, err := state.Feed(app.OriginVTEP)
	if err != nil {
		t.Fatal(err)
	}
	// ls-red is in force; vtep's backup (the API's name) is shadowed.
	err = vtep.UpsertNetworks(app.Network{Name: "ls-red", Attachments: []app.Attachment{{Port: "trunk0", VLAN: 700}, {Port: "eth7"}}},
		app.Network{Name: "backup", Attachments: []app.Attachment{{Port: "eth8"}}})
	if err != nil {
		t.Fatal(err)
	}

	c.want("GET", "/v1/networks", "", 200, `{"networks":[`+
		`{"name":"backup","attachments":[{"port":"eth1"},{"port":"trunk0","vlan":100}]},`+
		`{"name":"ls-red","attachments":[{"port":"eth7"},{"port":"trunk0","vlan":700}],"origin":"vtep"}]}`)
	c.want("GET", "/v1/networks/ls-red", "", 200, `{"name":"ls-red","attachments":[{"port":"eth7"},{"port":"trunk0","vlan":700}],"origin":"vtep"}`)

	for _, w := range []struct {
		what, method, path, body, field string
	}{
		{"PUT ls-red", "PUT", "/v1/networks/ls-red", `{"attachments":[]}`, ""},
		{"DELETE ls-red", "DELETE", "/v1/networks/ls-red", "", ""},
		{"POST ls-red", "POST", "/v1/networks", `{"name":"ls-red"}`, "name"},
		{"POST with vtep's eth7", "POST", "/v1/networks", `{"name":"n2","attachments":[{"port":"eth7"}]}`, "attachments[0]"},
		{"PUT backup with vtep's trunk0.700", "PUT", "/v1/networks/backup", `{"attachments":[{"port":"eth1"},{"port":"trunk0","vlan":700}]}`, "attachments[1]"},
		{"a connection in ls-red", "POST", "/v1/connections", `{"name":"ls-red-b","network":"ls-red","remote_gateway":"site-b","segmentation_id":77}`, "network"},
	} {
		resp := c.do(w.method, w.path, w.body)
		wantError(t, w.what, resp, http.StatusConflict, codeConflict, w.field)
		if !strings.Contains(resp.body, "vtep") {
			t.Errorf("%s: %s does not name the origin", w.what, resp.body)
		}
	}
	// A body may not claim the origin either.
	resp := c.do("POST", "/v1/networks", `{"name":"n3","origin":"vtep"}`)
	wantError(t, "POST with origin vtep", resp, http.StatusBadRequest, codeInvalid, "origin")

	// vtep lets ls-red go: its name and ports are free, and vtep's
	// backup stays shadowed behind the API's.
	if err := vtep.RemoveNetworks("ls-red"); err != nil {
		t.Fatal(err)
	}
	c.want("POST", "/v1/networks", `{"name":"ls-red","attachments":[{"port":"eth7"}]}`, 201, `{"name":"ls-red","attachments":[{"port":"eth7"}]}`)
	c.want("GET", "/v1/networks/backup", "", 200, `{"name":"backup","attachments":[{"port":"eth1"},{"port":"trunk0","vlan":100}]}`)
	if got := vtep.NetworkConflicts(); len(got) != 1 || got["backup"] == "" {
		t.Fatalf("vtep's conflicts %q", got)
	}
}
