package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/l2gw/l2gw/app"
)

func TestMACListStreamsWhatTheEncoderWould(t *testing.T) {
	for _, macs := range [][]app.MACBinding{nil, {{MAC: "02:00:00:00:00:01", ID: 1}},
		{{MAC: "02:00:00:00:00:01", IPs: []string{"192.0.2.1", "2001:db8::1"}}, {MAC: "02:00:00:00:00:02", IPs: []string{"<&>"}}}} {
		wire := struct {
			MACs []MACBinding `json:"macs"`
		}{MACs: []MACBinding{}}
		for _, m := range macs {
			wire.MACs = append(wire.MACs, MACBinding{MAC: m.MAC, IPs: m.IPs})
		}
		var want, got bytes.Buffer
		if err := json.NewEncoder(&want).Encode(wire); err != nil {
			t.Fatal(err)
		}
		if err := (macList{MACs: macs}).writeJSON(&got); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("streamed\n%s\nencoder\n%s", got.String(), want.String())
		}
	}
}
