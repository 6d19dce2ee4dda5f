package flowsim

import (
	"fmt"
	"net/netip"
	"strings"
)

// Verdict is what became of a packet: the copies of it that left the
// bridge, in order (none: dropped), the copies sent to the controller,
// what it made learn actions learn, and every flow it met on the way.
type Verdict struct {
	InPort     uint32
	Outputs    []Output
	Controller []ControllerCopy
	Learned    []Learned
	Steps      []Step
}

// ControllerCopy is a copy of a packet sent to the controller connections
// with ControllerID: by the flow of table with cookie, through meter
// (which the simulator does not rate), the packet as it was then (its
// port, frame, registers), as the controller's packet-in says it.
type ControllerCopy struct {
	Table        uint8
	Cookie       uint64
	ControllerID uint16
	Meter        uint32
	InPort       uint32
	Frame        Frame
	Regs         [16]uint32
}

// Output is one copy of a packet leaving the bridge: the port, the frame
// as it left (its VLAN the one pushed, if any) and, for a tunnel port, the
// tunnel it went into.
type Output struct {
	Port   uint32
	Tunnel Tunnel // zero for a port that is not a tunnel
	Frame  Frame
}

// Tunnel is where a copy sent to a flow-based tunnel port goes: the remote
// gateway (tun_dst when it is not 0.0.0.0, else tun_ipv6_dst, as OVS
// chooses) and the key, over the port's network type.
type Tunnel struct {
	Type   string
	Remote netip.Addr
	Key    uint64
}

// Step is one table lookup: the flow the packet met (Priority -1 and
// Cookie 0 when it met none), Depth resubmits deep.
type Step struct {
	Table    uint8
	Priority int
	Cookie   uint64
	Depth    int
}

// Dropped reports whether no copy of the packet left the bridge.
func (v Verdict) Dropped() bool { return len(v.Outputs) == 0 }

// LocalPorts returns the ports the copies that went to no tunnel left by.
func (v Verdict) LocalPorts() []uint32 {
	var out []uint32
	for _, o := range v.Outputs {
		if !o.Tunnel.Remote.IsValid() {
			out = append(out, o.Port)
		}
	}
	return out
}

// Tunnels returns the tunnels copies went into.
func (v Verdict) Tunnels() []Tunnel {
	var out []Tunnel
	for _, o := range v.Outputs {
		if o.Tunnel.Remote.IsValid() {
			out = append(out, o.Tunnel)
		}
	}
	return out
}

// Answer returns the reply the bridge made of the packet, when all it did
// was send one back out the port it came in by as an ARP reply or a
// neighbour advertisement: the packet was answered in OVS.
func (v Verdict) Answer() (Frame, bool) {
	if len(v.Outputs) != 1 || v.Outputs[0].Port != v.InPort || v.Outputs[0].Tunnel.Remote.IsValid() {
		return Frame{}, false
	}
	f := v.Outputs[0].Frame
	arpReply := f.EthType == EthTypeARP && f.ARP.Op == 2
	advert := f.EthType == EthTypeIPv6 && f.IPv6.Proto == ProtoICMPv6 && f.IPv6.ICMPType == NeighborAdvert
	return f, arpReply || advert
}

func (o Output) String() string {
	if o.Tunnel.Remote.IsValid() {
		return fmt.Sprintf("%s %s key %d (port %d): %s", o.Tunnel.Type, o.Tunnel.Remote, o.Tunnel.Key, o.Port, o.Frame)
	}
	return fmt.Sprintf("port %d: %s", o.Port, o.Frame)
}

func (v Verdict) String() string {
	var b strings.Builder
	if v.Dropped() {
		b.WriteString("dropped")
	}
	for i, o := range v.Outputs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(o.String())
	}
	for _, c := range v.Controller {
		fmt.Fprintf(&b, "; to the controller from table %d through meter %d: %s", c.Table, c.Meter, c.Frame)
	}
	for _, l := range v.Learned {
		fmt.Fprintf(&b, "; learned %s", l)
	}
	b.WriteString("; met")
	for _, s := range v.Steps {
		fmt.Fprintf(&b, " %s%d/%d/%#x", strings.Repeat(">", s.Depth), s.Table, s.Priority, s.Cookie)
	}
	return b.String()
}
