package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/l2gw/l2gw/api"
)

// flushedAnswer is the answer of DELETE /v1/networks/{name}/learned.
type flushedAnswer struct {
	Flushed int `json:"flushed"`
}

// learnedResource is the "learned" resource: the MACs OVS learned in a
// network, GET and DELETE /v1/networks/{name}/learned.
func learnedResource() resource {
	path := func(network string) string { return "/v1/networks/" + url.PathEscape(network) + "/learned" }
	return resource{name: "learned", summary: "MACs the bridge learned in a network, from its ports and its gateways", verbs: []verb{
		{name: "list", synopsis: "NETWORK", nargs: 1, setup: fixed(func(args []string) request {
			return request{method: http.MethodGet, path: path(args[0]), show: showList("learned", []string{"MAC", "VIA", "AGE"},
				func(m api.LearnedMAC) []string {
					return []string{m.MAC, m.Via, strconv.FormatInt(m.AgeSeconds, 10) + "s"}
				})}
		})},
		{name: "flush", synopsis: "NETWORK", nargs: 1, setup: fixed(func(args []string) request {
			return request{method: http.MethodDelete, path: path(args[0]), show: showFlushed(args[0])}
		})},
	}}
}

// showFlushed says how many learned MACs of network a flush deleted.
func showFlushed(network string) func(io.Writer, []byte) error {
	return func(w io.Writer, body []byte) error {
		var f flushedAnswer
		if err := json.Unmarshal(body, &f); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
		_, err := fmt.Fprintf(w, "flushed %d learned MAC(s) of network %s\n", f.Flushed, network)
		return err
	}
}
