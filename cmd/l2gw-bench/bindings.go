package main

import (
	"fmt"
	"net/netip"
)

// The benchmark may use documentation addresses only. Those give
// docIPv4Count IPv4 host addresses (.1-.254 of three /24s); a binding
// beyond them gets one IPv6 address of 2001:db8::/32 instead. Either way a
// binding compiles to flowsPerBinding flows: unicast, and the ARP or the
// neighbour-discovery answer.
var docIPv4Nets = [][3]byte{{192, 0, 2}, {198, 51, 100}, {203, 0, 113}}

const (
	hostsPerNet     = 254
	docIPv4Count    = hostsPerNet * 3
	flowsPerBinding = 2
)

// bindingFor is the i-th binding the benchmark creates (i from 0): a
// locally administered unicast MAC 02:00:<i> and one address.
func bindingFor(i int) binding {
	mac := fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", byte(i>>24), byte(i>>16), byte(i>>8), byte(i))
	if i < docIPv4Count {
		n := docIPv4Nets[i/hostsPerNet]
		return binding{MAC: mac, IPs: []string{netip.AddrFrom4([4]byte{n[0], n[1], n[2], byte(i%hostsPerNet + 1)}).String()}}
	}
	ip := [16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)}
	return binding{MAC: mac, IPs: []string{netip.AddrFrom16(ip).String()}}
}

// bindingFlows is how many flows count bindings compile to.
func bindingFlows(count int) int { return count * flowsPerBinding }
