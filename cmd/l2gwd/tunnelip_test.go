package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestTunnelIPFamilies: --tunnel-ip takes an IPv4 or an IPv6 address, which
// becomes the tunnel ports' local_ip, or one of each (dual stack), which
// leaves local_ip unset; no remote gateway may claim any of them; anything else is refused with the reason.
func TestTunnelIPFamilies(t *testing.T) {
	for _, tc := range []struct {
		value, own, localIP, err string
	}{
		{value: "198.51.100.1", own: "198.51.100.1", localIP: "198.51.100.1"},
		{value: "2001:DB8::1", own: "2001:db8::1", localIP: "2001:db8::1"},
		{value: "::ffff:198.51.100.1", own: "198.51.100.1", localIP: "198.51.100.1"},
		{value: "198.51.100.1,2001:db8::1", own: "198.51.100.1 2001:db8::1", localIP: ""},
		{value: "2001:db8::1, 198.51.100.1", own: "2001:db8::1 198.51.100.1", localIP: ""},
		{value: "2001:db8::1,2001:db8::2", err: "one IPv4 and one IPv6"},
		{value: "198.51.100.1,2001:db8::1,203.0.113.1", err: "or one of each"},
		{value: "2001:db8::1%wan0", err: "without a zone"},
		{value: "ff02::1", err: "want a unicast address"},
		{value: "::", err: "want a unicast address"},
		{value: "198.51.100.1,", err: "want an IPv4 or IPv6 address"},
	} {
		c, err := parseConfig([]string{"--tunnel-ip", tc.value}, env(nil), &bytes.Buffer{})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "--tunnel-ip") {
				t.Errorf("--tunnel-ip %q: error %v, want it to mention --tunnel-ip and %q", tc.value, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("--tunnel-ip %q: %v", tc.value, err)
			continue
		}
		if own, local := strings.Join(c.ownTunnelIPs(), " "), c.tunnelPortLocalIP(); own != tc.own || local != tc.localIP {
			t.Errorf("--tunnel-ip %q: own tunnel IP %q, tunnel ports' local_ip %q; want %q, %q", tc.value, own, local, tc.own, tc.localIP)
		}
	}
}
