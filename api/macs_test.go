package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/l2gw/l2gw/app"
)

func TestMACListStreamsWhatTheEncoderWould(t *testing.T) {
	for _, list := range []macList{newMACList(nil), newMACList([]app.MACBinding{{MAC: "02:00:00:00:00:01"}}),
		newMACList([]app.MACBinding{{MAC: "02:00:00:00:00:01", IPs: []string{"192.0.2.1", "2001:db8::1"}}, {MAC: "02:00:00:00:00:02", IPs: []string{"<&>"}}})} {
		var want, got bytes.Buffer
		if err := json.NewEncoder(&want).Encode(list); err != nil {
			t.Fatal(err)
		}
		if err := list.writeJSON(&got); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("streamed\n%s\nencoder\n%s", got.String(), want.String())
		}
	}
}
