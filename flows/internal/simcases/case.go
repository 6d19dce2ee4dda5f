package simcases

import (
	"net/netip"

	"github.com/l2gw/l2gw/flows/flowsim"
)

// Case is a packet and what must become of it, after the packets Before it
// (whose verdicts it does not state) have been through the same bridge.
type Case struct {
	Name   string
	Before []flowsim.Packet
	Packet flowsim.Packet
	// Outputs are the copies that must leave, in any order; none: dropped.
	Outputs []flowsim.Output
	// Learned are the MACs the packet must make learn actions learn.
	Learned []Learn
	// Snooped says the packet announces its sender's address (ARP, ND):
	// when the site snoops (flows.Input.SnoopHosts) it is copied to the
	// controller once, untagged, its network in reg6; otherwise, and when
	// the site does not snoop, it is not. Its outputs and learning are
	// the same either way.
	Snooped bool
}

// Learn is a MAC learned under a cookie (flows.LearnedCookie for a local
// source, flows.LearnedConnectionCookie for a gateway's), or, Installed
// false, refused because the gateway has learned its limit.
type Learn struct {
	Cookie    uint64
	MAC       flowsim.MAC
	Installed bool
}

// host is the MAC of the n-th case's local host h.
func host(n, h byte) flowsim.MAC { return flowsim.MAC{0x02, 0x0a, 0, 0, n, h} }

func tagged(f flowsim.Frame) flowsim.Frame { f.VLAN = VLAN; return f }

func untagged(f flowsim.Frame) flowsim.Frame { f.VLAN = 0; return f }

// out is a copy of f out local port port.
func out(port uint32, f flowsim.Frame) flowsim.Output { return flowsim.Output{Port: port, Frame: f} }

// tunnel is a copy of f into the tunnel to remote with key.
func tunnel(typ string, port uint32, remote netip.Addr, key uint64, f flowsim.Frame) flowsim.Output {
	return flowsim.Output{Port: port, Tunnel: flowsim.Tunnel{Type: typ, Remote: remote, Key: key}, Frame: f}
}
