package integration

import (
	"testing"
)

// IPv6 addresses of the two sites' first hosts and of a bound address with
// no host behind it.
const (
	ip6A1     = "2001:db8::a1"
	ip6B1     = "2001:db8::b1"
	ip6Absent = "2001:db8::99"
)

// TestIPv6NeighborDiscoveryIsAnsweredInOVS: IPv6 hosts on two sites ping
// each other, first unbound (solicitations flooded, answered by the host),
// then bound; a solicitation for a bound address is answered by OVS with
// the bound MAC even when no host has the address and the WAN is down.
func TestIPv6NeighborDiscoveryIsAnsweredInOVS(t *testing.T) {
	a, _, ha, hb := twoSites(t, "l2nd-", "vxlan")
	ha.AddIPv6(t, ip6A1)
	hb.AddIPv6(t, ip6B1)
	pingOK(t, ha, ip6B1, 3)

	a.must(t, "POST", "/v1/connections/plane-b/macs", object{"macs": []object{
		{"mac": macB1, "ips": []string{ipB1, ip6B1}},
		{"mac": "02:0b:00:00:00:99", "ips": []string{ip6Absent}},
	}}, 201)
	a.waitReconciled(t)
	if mac := ha.Solicit(t, ip6Absent, 3); mac != "02:0b:00:00:00:99" {
		t.Fatalf("solicitation for a bound IPv6 address with no host behind it: answer %q, want 02:0b:00:00:00:99", mac)
	}
	if _, err := ha.Exec(t, "ip", "-6", "neigh", "flush", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	pingOK(t, ha, ip6B1, 3)

	a.site.SetWAN(t, false)
	for _, tc := range []struct{ ip, mac string }{{ip6B1, macB1}, {ip6Absent, "02:0b:00:00:00:99"}} {
		if mac := ha.Solicit(t, tc.ip, 3); mac != tc.mac {
			t.Errorf("with the WAN down, solicitation for %s: answer %q, want %s", tc.ip, mac, tc.mac)
		}
	}
	if mac := ha.Solicit(t, "2001:db8::b2", 2); mac != "" {
		t.Errorf("an unbound address was answered (%s) with the WAN down: the WAN is not down", mac)
	}
}
