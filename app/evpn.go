package app

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Route target number ranges (RFC 4360, RFC 5668): a 2-byte ASN goes with
// a 4-byte number, a 4-byte ASN or an IPv4 address with a 2-byte one.
const (
	maxASN2    = 1<<16 - 1
	maxRTShort = 1<<16 - 1
	maxRTLong  = 1<<32 - 1
)

// validateEVPN checks a network's EVPN membership on its own (not against
// other networks) and returns a copy with its route targets in canonical
// form, or nil for nil.
func validateEVPN(e *EVPN) (*EVPN, error) {
	if e == nil {
		return nil, nil
	}
	at := At(FieldEVPN)
	if e.VNI == 0 {
		return nil, invalid(at.Field(FieldVNI), "evpn vni is required: use 1-%d", maxVNI)
	}
	if e.VNI > maxVNI {
		return nil, invalid(at.Field(FieldVNI), "evpn vni %d is out of range: use 1-%d", e.VNI, maxVNI)
	}
	out := &EVPN{VNI: e.VNI}
	var err error
	if out.ImportRTs, err = parseRouteTargets(at.Field(FieldImportRTs), "import", e.ImportRTs); err != nil {
		return nil, err
	}
	if out.ExportRTs, err = parseRouteTargets(at.Field(FieldExportRTs), "export", e.ExportRTs); err != nil {
		return nil, err
	}
	return out, nil
}

// parseRouteTargets checks the route targets of one direction, each given
// once, and returns them in canonical form (nil for none).
func parseRouteTargets(at Path, direction string, in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]string, len(in))
	seen := make(map[string]int, len(in))
	for i, s := range in {
		rt, problem := parseRouteTarget(s)
		if problem != "" {
			return nil, invalid(at.Index(i), "%s route target %q %s", direction, s, problem)
		}
		if j, dup := seen[rt]; dup {
			return nil, invalid(at.Index(i), "%s route target %s is listed twice (also [%d])", direction, rt, j)
		}
		seen[rt] = i
		out[i] = rt
	}
	return out, nil
}

// parseRouteTarget reads a route target, "ASN:NN" or "IPv4:NN" in decimal,
// and returns it in canonical form (no leading zeros), or says what is
// wrong. An ASN up to 65535 takes a number up to 4294967295; a larger ASN
// (up to 4294967295) and an IPv4 address take a number up to 65535.
func parseRouteTarget(s string) (string, string) {
	admin, number, ok := strings.Cut(s, ":")
	if !ok || admin == "" || number == "" {
		return "", "is not ASN:NN or IPv4:NN"
	}
	nn, err := strconv.ParseUint(number, 10, 32)
	if err != nil {
		return "", fmt.Sprintf("has number %q: want a decimal number up to %d", number, uint64(maxRTLong))
	}
	if strings.Contains(admin, ".") {
		ip, err := netip.ParseAddr(admin)
		if err != nil || !ip.Is4() {
			return "", fmt.Sprintf("has %q before the colon: want an ASN or an IPv4 address", admin)
		}
		if nn > maxRTShort {
			return "", fmt.Sprintf("has number %d: after an IPv4 address the number is at most %d", nn, maxRTShort)
		}
		return ip.String() + ":" + strconv.FormatUint(nn, 10), ""
	}
	asn, err := strconv.ParseUint(admin, 10, 32)
	if err != nil {
		return "", fmt.Sprintf("has %q before the colon: want an ASN up to %d or an IPv4 address", admin, uint64(maxRTLong))
	}
	if asn > maxASN2 && nn > maxRTShort {
		return "", fmt.Sprintf("has number %d: after a 4-byte ASN (above %d) the number is at most %d", nn, maxASN2, maxRTShort)
	}
	return strconv.FormatUint(asn, 10) + ":" + strconv.FormatUint(nn, 10), ""
}

// checkVNI rejects an EVPN VNI another network already has.
func (s *State) checkVNI(n Network) error {
	if n.EVPN == nil {
		return nil
	}
	if owner, taken := s.vnis[n.EVPN.VNI]; taken && owner != n.Name {
		return conflict(At(FieldEVPN).Field(FieldVNI), "evpn vni %d is already used by network %q", n.EVPN.VNI, owner)
	}
	return nil
}

// setEVPN makes e network ns's EVPN membership, in ns and in the VNI index.
func (s *State) setEVPN(ns *networkState, e *EVPN) {
	if ns.EVPN != nil {
		delete(s.vnis, ns.EVPN.VNI)
	}
	ns.EVPN = e
	if e != nil {
		s.vnis[e.VNI] = ns.Name
	}
}

// EVPNNetworks returns the networks in EVPN (EVPN not nil), sorted by name.
func (s *State) EVPNNetworks() []Network {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Network, 0, len(s.vnis))
	for _, name := range slices.Sorted(maps.Values(s.vnis)) {
		out = append(out, cloneNetwork(s.networks[name].Network))
	}
	return out
}

// cloneEVPN is a deep copy of e (nil for nil).
func cloneEVPN(e *EVPN) *EVPN {
	if e == nil {
		return nil
	}
	return &EVPN{VNI: e.VNI, ImportRTs: slices.Clone(e.ImportRTs), ExportRTs: slices.Clone(e.ExportRTs)}
}

// evpnVNI is the VNI of e for the log, 0 when not in EVPN.
func evpnVNI(e *EVPN) uint32 {
	if e == nil {
		return 0
	}
	return e.VNI
}
