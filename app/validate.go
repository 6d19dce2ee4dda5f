package app

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Limits of the API's fields.
const (
	maxNameLen  = 63
	maxPortLen  = 15 // IFNAMSIZ - 1
	maxVLAN     = 4094
	maxVNI      = 1<<24 - 1 // VXLAN and Geneve carry 24-bit segment IDs
	maxObjectID = 1<<24 - 1 // IDs go into 24-bit cookie and register fields
)

// macPath is the path of the MAC of binding i of a batch.
func macPath(i int) Path { return At(FieldMACs).Index(i).Field(FieldMAC) }

// ipPath is the path of IP k of binding i of a batch.
func ipPath(i, k int) Path { return At(FieldMACs).Index(i).Field(FieldIPs).Index(k) }

// validateName checks an object name: 1-63 characters of [a-z0-9-].
func validateName(name string) error {
	if name == "" {
		return invalid(At(FieldName), "name is required")
	}
	if len(name) > maxNameLen {
		return invalid(At(FieldName), "name %q is longer than %d characters", name, maxNameLen)
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return invalid(At(FieldName), "name %q may only contain a-z, 0-9 and '-'", name)
		}
	}
	return nil
}

// validateNetwork checks a network on its own (not against other networks)
// and returns a copy the caller may keep.
func validateNetwork(n Network) (Network, error) {
	if err := validateName(n.Name); err != nil {
		return Network{}, err
	}
	out := Network{Name: n.Name, Attachments: make([]Attachment, len(n.Attachments))}
	seen := make(map[string]int, len(n.Attachments))
	for i, a := range n.Attachments {
		if msg := checkPortName(a.Port); msg != "" {
			return Network{}, invalid(attachmentPath(i).Field(FieldPort), "port %q: %s", a.Port, msg)
		}
		if a.VLAN > maxVLAN {
			return Network{}, invalid(attachmentPath(i).Field(FieldVLAN), "vlan %d is out of range: use 1-%d, or omit it for untagged", a.VLAN, maxVLAN)
		}
		if j, dup := seen[a.Port]; dup {
			return Network{}, invalid(attachmentPath(i).Field(FieldPort), "port %q is already attachments[%d] of this network", a.Port, j)
		}
		seen[a.Port] = i
		out.Attachments[i] = a
	}
	evpn, err := validateEVPN(n.EVPN)
	if err != nil {
		return Network{}, err
	}
	out.EVPN = evpn
	return out, nil
}

// attachmentPath is the path of attachment i of a network.
func attachmentPath(i int) Path { return At(FieldAttachments).Index(i) }

// checkPortName applies the kernel's interface-name rules (dev_valid_name)
// and returns what is wrong, or "".
func checkPortName(port string) string {
	switch {
	case port == "":
		return "a port name is required"
	case len(port) > maxPortLen:
		return fmt.Sprintf("longer than %d characters", maxPortLen)
	case port == "." || port == "..":
		return "not a valid interface name"
	case strings.ContainsFunc(port, func(r rune) bool {
		return r == '/' || r == ':' || r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
	}):
		return "must not contain '/', ':' or whitespace"
	}
	return ""
}

// MaxTunnelIPs is the most endpoints a remote gateway may have. A gateway
// pair needs 2; each endpoint costs a BFD port (ovs-vswitchd's timers),
// an admission and an egress flow per connection and a bucket in the
// connection's group, so the bound keeps a gateway's flows a small
// multiple of a single endpoint's while leaving room for spare nodes.
const MaxTunnelIPs = 8

// parseEndpoints checks a remote gateway's endpoints (Endpoints: TunnelIPs,
// or TunnelIP alone) and returns them in canonical form, in order: 1 to
// MaxTunnelIPs of them, each one parseTunnelIP takes, all of one family
// (failing over must not change the underlay the traffic takes), none
// given twice; TunnelIP, when given with TunnelIPs, must be the first.
// Errors of a gateway given by TunnelIP alone name tunnel_ip, as before
// gateways had several endpoints.
func parseEndpoints(g RemoteGateway, local []netip.Addr) ([]netip.Addr, error) {
	if len(g.TunnelIPs) == 0 {
		a, err := parseTunnelIP(g.TunnelIP, local)
		if err != nil {
			return nil, err
		}
		return []netip.Addr{a}, nil
	}
	if len(g.TunnelIPs) > MaxTunnelIPs {
		return nil, invalid(At(FieldTunnelIPs), "tunnel_ips has %d endpoints: a remote gateway has at most %d", len(g.TunnelIPs), MaxTunnelIPs)
	}
	out := make([]netip.Addr, 0, len(g.TunnelIPs))
	for i, s := range g.TunnelIPs {
		at, name := At(FieldTunnelIPs).Index(i), fmt.Sprintf("tunnel_ips[%d]", i)
		a, err := parseAddress(at, name, s)
		if err != nil {
			return nil, err
		}
		if problem := tunnelAddrProblem(a, local); problem != "" {
			return nil, invalid(at, "%s %s %s", name, a, problem)
		}
		if i > 0 && a.Is4() != out[0].Is4() {
			return nil, invalid(at, "%s %s is %s but tunnel_ips[0] %s is %s: a remote gateway's endpoints are all IPv4 or all IPv6",
				name, a, family(a), out[0], family(out[0]))
		}
		if j := slices.Index(out, a); j >= 0 {
			return nil, invalid(at, "%s %s is also tunnel_ips[%d]", name, a, j)
		}
		out = append(out, a)
	}
	if g.TunnelIP != "" {
		a, err := parseAddress(At(FieldTunnelIP), "tunnel_ip", g.TunnelIP)
		if err != nil {
			return nil, err
		}
		if a != out[0] {
			return nil, invalid(At(FieldTunnelIP), "tunnel_ip %s is not tunnel_ips[0] %s: give the first endpoint, or leave tunnel_ip out", a, out[0])
		}
	}
	return out, nil
}

// family names a's address family.
func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// endpointPath is the path of endpoint i of g as the request gave it:
// tunnel_ip for a gateway given by TunnelIP alone, else tunnel_ips[i].
func endpointPath(g RemoteGateway, i int) (Path, string) {
	if len(g.TunnelIPs) == 0 {
		return At(FieldTunnelIP), "tunnel_ip"
	}
	return At(FieldTunnelIPs).Index(i), fmt.Sprintf("tunnel_ips[%d]", i)
}

// parseTunnelIP checks a remote gateway's tunnel endpoint, IPv4 or IPv6,
// and returns it in canonical form (an IPv4-mapped IPv6 address is its
// IPv4 address). An IPv6 link-local address is refused: a flow's tunnel
// destination carries no zone, so OVS could not tell which link it is on.
func parseTunnelIP(s string, local []netip.Addr) (netip.Addr, error) {
	field := At(FieldTunnelIP)
	a, err := parseAddress(field, "tunnel_ip", s)
	if err != nil {
		return netip.Addr{}, err
	}
	if problem := tunnelAddrProblem(a, local); problem != "" {
		return netip.Addr{}, invalid(field, "tunnel_ip %s %s", a, problem)
	}
	return a, nil
}

// parseAddress reads the required IP address s of the field at (name in
// the messages), without a zone, and returns it in canonical form (an
// IPv4-mapped IPv6 address is its IPv4 address).
func parseAddress(at Path, name, s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, invalid(at, "%s is required", name)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, invalid(at, "%s %q is not an IP address", name, s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, invalid(at, "%s %q has a zone: want an address routable without one", name, s)
	}
	return a.Unmap(), nil
}

// tunnelAddrProblem says what keeps a (unmapped, without a zone) from
// being another site's tunnel endpoint, or "".
func tunnelAddrProblem(a netip.Addr, local []netip.Addr) string {
	switch {
	case a.IsUnspecified(), a.IsMulticast(), a.IsLoopback(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}),
		a.Is6() && a.IsLinkLocalUnicast():
		return "is not a unicast address another site can use"
	case slices.Contains(local, a):
		return "is this gateway's own tunnel IP"
	}
	return ""
}

// maxSegmentationID returns the largest segmentation ID networkType
// carries (VXLAN and Geneve 24 bits, GRE keys 32), and false for a type
// that is not one of them.
func maxSegmentationID(networkType string) (uint32, bool) {
	switch networkType {
	case TypeVXLAN, TypeGeneve:
		return maxVNI, true
	case TypeGRE:
		return 1<<32 - 1, true
	}
	return 0, false
}

// validateConnection checks a connection's own fields (not its references)
// and returns it with the default network type filled in.
func validateConnection(c Connection) (Connection, error) {
	if err := validateName(c.Name); err != nil {
		return Connection{}, err
	}
	if c.Network == "" {
		return Connection{}, invalid(At(FieldNetwork), "network is required")
	}
	if c.RemoteGateway == "" {
		return Connection{}, invalid(At(FieldRemoteGateway), "remote_gateway is required")
	}
	if c.NetworkType == "" {
		c.NetworkType = TypeVXLAN
	}
	maxSeg, known := maxSegmentationID(c.NetworkType)
	if !known {
		return Connection{}, invalid(At(FieldNetworkType), "network_type %q is not one of vxlan, gre, geneve", c.NetworkType)
	}
	if c.SegmentationID < 1 || c.SegmentationID > maxSeg {
		return Connection{}, invalid(At(FieldSegmentationID), "segmentation_id %d is out of range for %s: use 1-%d", c.SegmentationID, c.NetworkType, maxSeg)
	}
	c.ID = 0
	return c, nil
}

// macEntry is a validated MAC binding: the API form (normalised) and the
// parsed forms the index and the store use.
type macEntry struct {
	ID    uint32
	hw    [6]byte
	addrs []netip.Addr
}

// binding returns e in the API's form: MAC and IPs in canonical text.
func (e *macEntry) binding() MACBinding {
	return cloneBindings([]macEntry{*e})[0]
}

// parseMACs validates a batch of bindings on its own (not against the
// state): every MAC unicast, non-zero and given once; every IP valid and
// bound to one MAC only. The result is normalised, in request order.
func parseMACs(in MACBatch) ([]macEntry, error) {
	n := batchLen(in)
	total := 0
	for i := range n {
		total += len(in.Binding(i).IPs)
	}
	// One backing array for all the batch's addresses.
	addrs := make([]netip.Addr, 0, total)
	out := make([]macEntry, n)
	macAt := make(map[[6]byte]int, n)
	ipAt := make(map[netip.Addr]int, total)
	var scratch [64]byte
	for i := range n {
		b := in.Binding(i)
		hw, mac, err := parseMAC(b.MAC, &scratch)
		if err != "" {
			return nil, invalid(macPath(i), "mac %q %s", b.MAC, err)
		}
		if j, dup := macAt[hw]; dup {
			return nil, invalid(macPath(i), "mac %s is also macs[%d] of this request", mac, j)
		}
		macAt[hw] = i
		first := len(addrs)
		for k, s := range b.IPs {
			a, err := parseBindingIP(s)
			if err != "" {
				return nil, invalid(ipPath(i, k), "ip %q %s", s, err)
			}
			if j, dup := ipAt[a]; dup {
				if j == i {
					return nil, invalid(ipPath(i, k), "ip %s is listed twice for mac %s", a, mac)
				}
				return nil, invalid(ipPath(i, k), "ip %s is also given for macs[%d] in this request", a, j)
			}
			ipAt[a] = i
			addrs = append(addrs, a)
		}
		e := macEntry{hw: hw}
		if len(addrs) > first {
			e.addrs = addrs[first:len(addrs):len(addrs)]
		}
		out[i] = e
	}
	return out, nil
}

// parseMAC parses a 6-byte unicast, non-zero MAC and returns it with its
// lowercase colon form (s itself when already canonical), or what is wrong.
func parseMAC(s string, scratch *[64]byte) ([6]byte, string, string) {
	var hw [6]byte
	parsed, err := net.ParseMAC(s)
	if err != nil || len(parsed) != len(hw) {
		return hw, "", "is not a 6-byte MAC address"
	}
	copy(hw[:], parsed)
	switch {
	case hw == [6]byte{}:
		return hw, "", "is the all-zero MAC"
	case hw[0]&1 != 0:
		return hw, "", "is a multicast or broadcast MAC; only unicast MACs can be bound"
	}
	buf := appendMAC(scratch[:0], hw)
	if string(buf) == s {
		return hw, s, ""
	}
	return hw, string(buf), ""
}

// parseBindingIP parses a host address of a binding (IPv4-mapped IPv6 is
// taken as IPv4; its canonical text is netip.Addr's), or says what is
// wrong.
func parseBindingIP(s string) (netip.Addr, string) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, "is not an IPv4 or IPv6 address"
	}
	a = a.Unmap()
	if problem := hostAddrProblem(a); problem != "" {
		return netip.Addr{}, problem
	}
	return a, ""
}

// hostAddrProblem says what keeps a (unmapped) from being a host's
// address, or "".
func hostAddrProblem(a netip.Addr) string {
	if !a.IsValid() || a.Zone() != "" {
		return "is not an IPv4 or IPv6 address"
	}
	if a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return "is not a host's unicast address"
	}
	return ""
}

// appendMAC appends hw in lowercase colon form.
func appendMAC(buf []byte, hw [6]byte) []byte {
	const hex = "0123456789abcdef"
	for i, b := range hw {
		if i > 0 {
			buf = append(buf, ':')
		}
		buf = append(buf, hex[b>>4], hex[b&0xf])
	}
	return buf
}

// formatMAC returns hw in lowercase colon form.
func formatMAC(hw [6]byte) string { return string(appendMAC(make([]byte, 0, 17), hw)) }
