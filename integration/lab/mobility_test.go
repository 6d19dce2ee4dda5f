package lab

import (
	"reflect"
	"testing"
)

func TestEchoRequestSeqs(t *testing.T) {
	// Lines of tcpdump 4.99 -l -nn -e, as Capture prints them.
	out := "09:01:39.913 02:0a:00:00:00:01 > 02:00:00:00:00:50, ethertype IPv4 (0x0800), length 98: " +
		"192.0.2.11 > 192.0.2.50: ICMP echo request, id 4711, seq 172, length 64\n" +
		"09:01:39.913 02:00:00:00:00:50 > 02:0a:00:00:00:01, ethertype IPv4 (0x0800), length 98: " +
		"192.0.2.50 > 192.0.2.11: ICMP echo reply, id 4711, seq 172, length 64\n" +
		"09:01:39.924 02:0a:00:00:00:01 > 02:00:00:00:00:50, ethertype IPv4 (0x0800), length 98: " +
		"192.0.2.11 > 192.0.2.50: ICMP echo request, id 4711, seq 173, length 64\n"
	if got, want := EchoRequestSeqs(out), []int{172, 173}; !reflect.DeepEqual(got, want) {
		t.Errorf("EchoRequestSeqs = %v, want %v", got, want)
	}
	if got := EchoRequestSeqs("tcpdump: listening on eth0\n"); got != nil {
		t.Errorf("EchoRequestSeqs of no echo request = %v", got)
	}
}
