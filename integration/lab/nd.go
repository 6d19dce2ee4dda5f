package lab

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// AddIPv6 turns IPv6 on for the host's eth0 (lab namespaces start with it
// off) and gives it the address ip/64 (from 2001:db8::/32), usable at once
// (no duplicate address detection). The host sends no router
// solicitations.
func (h *Host) AddIPv6(t testing.TB, ip string) {
	t.Helper()
	if a, err := netip.ParseAddr(ip); err != nil || !a.Is6() || a.Is4In6() {
		t.Fatalf("host %s: %q is not an IPv6 address", h.Name, ip)
	}
	for _, cmd := range [][]string{
		{"sysctl", "-qw", "net.ipv6.conf." + HostIf + ".router_solicitations=0"},
		{"sysctl", "-qw", "net.ipv6.conf." + HostIf + ".disable_ipv6=0"},
		{"ip", "-6", "addr", "add", ip + "/64", "dev", HostIf, "nodad"},
	} {
		if _, err := h.Exec(t, cmd...); err != nil {
			t.Fatalf("host %s: add %s: %v", h.Name, ip, err)
		}
	}
}

// Solicit sends up to tries IPv6 neighbour solicitations for ip out of
// the host's eth0 (ndisc6, Debian package ndisc6), waiting 500 ms for each,
// and returns the target link-layer address of the first advertisement,
// or "" when none came.
func (h *Host) Solicit(t testing.TB, ip string, tries int) string {
	t.Helper()
	// ndisc6 exits non-zero when nothing answers: the output tells.
	out, _ := h.Exec(t, "ndisc6", "-q", "-1", "-n", "-r", strconv.Itoa(tries), "-w", "500", ip, HostIf)
	return strings.ToLower(strings.TrimSpace(out))
}
