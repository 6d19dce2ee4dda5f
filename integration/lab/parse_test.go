package lab

import (
	"reflect"
	"testing"
)

// Outputs below were captured from iputils ping 20221126 and arping 2.23 here.

func TestParsePing(t *testing.T) {
	for _, tc := range []struct {
		out            string
		sent, received int
	}{
		{"PING 192.0.2.12 (192.0.2.12) 56(84) bytes of data.\n64 bytes from 192.0.2.12: icmp_seq=1 ttl=64 time=0.9 ms\n\n" +
			"--- 192.0.2.12 ping statistics ---\n3 packets transmitted, 3 received, 0% packet loss, time 401ms\n", 3, 3},
		{"--- 192.0.2.99 ping statistics ---\n2 packets transmitted, 0 received, 100% packet loss, time 1021ms\n", 2, 0},
		{"--- 192.0.2.99 ping statistics ---\n3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2040ms\n", 3, 0},
	} {
		sent, received, ok := parsePing(tc.out)
		if !ok || sent != tc.sent || received != tc.received {
			t.Errorf("parsePing(%q) = %d, %d, %v; want %d, %d", tc.out, sent, received, ok, tc.sent, tc.received)
		}
	}
	if _, _, ok := parsePing("ping: connect: Network is unreachable\n"); ok {
		t.Error("parsePing found a summary in an error message")
	}
}

func TestParseArping(t *testing.T) {
	replies := "ARPING 192.0.2.2\n" +
		"42 bytes from 02:00:00:00:00:0c (192.0.2.2): index=0 time=21.160 usec\n" +
		"42 bytes from 02:00:00:00:00:0C (192.0.2.2): index=1 time=6.664 usec\n\n" +
		"--- 192.0.2.2 statistics ---\n2 packets transmitted, 2 packets received,   0% unanswered (0 extra)\n"
	if got, want := parseArping(replies), []string{"02:00:00:00:00:0c", "02:00:00:00:00:0c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("parseArping(replies) = %v, want %v", got, want)
	}
	timeouts := "ARPING 192.0.2.99\nTimeout\nTimeout\n\n--- 192.0.2.99 statistics ---\n" +
		"2 packets transmitted, 0 packets received, 100% unanswered (0 extra)\n"
	if got := parseArping(timeouts); len(got) != 0 {
		t.Errorf("parseArping(timeouts) = %v, want none", got)
	}
}
