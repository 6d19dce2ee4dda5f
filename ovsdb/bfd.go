package ovsdb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/l2gw/l2gw/ovsdb/vswitch"
)

// bfdPeerKey is the external_ids key that marks a port (and its interface) as
// one of l2gwd's BFD ports; its value is the peer, "vxlan/198.51.100.1".
const bfdPeerKey = "l2gw-bfd-peer"

// cpathDownDiag is the diagnostic a BFD peer sends while bfd:cpath_down is
// set on its side (RFC 5880's "Concatenated Path Down").
const cpathDownDiag = "Concatenated Path Down"

// bfdTypeLetters abbreviate the network types in BFD port names.
var bfdTypeLetters = map[string]string{"vxlan": "v", "gre": "g", "geneve": "n"}

// BFDPeer is a remote tunnel endpoint l2gwd runs BFD with over one network
// type: a gateway's endpoint, or the other node of the local HA pair.
type BFDPeer struct {
	NetworkType string     // vxlan, gre or geneve: the type of the BFD port
	Remote      netip.Addr // the endpoint's tunnel IP (IPv4 or IPv6)
}

// String is "vxlan/198.51.100.1", as the ports' external_ids hold it.
func (p BFDPeer) String() string { return p.NetworkType + "/" + p.Remote.String() }

// BFDConfig is what all the BFD ports of a bridge share.
type BFDConfig struct {
	// LocalIP is the ports' options:local_ip, the zero Addr for none: the
	// same as EnsureTunnelPorts' localIP, so that a BFD port and the
	// flow-based port of its type receive from the same address. When set,
	// every peer must be of its family.
	LocalIP netip.Addr
	// IntervalMS is bfd:min_tx and bfd:min_rx, in milliseconds (at least 1;
	// 100 is a safe choice on a busy machine, 10 gave false downs on two
	// cores).
	IntervalMS int
	// Multiplier is bfd:mult, the number of intervals without a packet that
	// take a session down (1-255); 0 leaves OVS's default, 3.
	Multiplier int
	// CPathDown sets bfd:cpath_down on every port: the sessions stay up but
	// the peers see this node as not forwarding ("Concatenated Path Down"),
	// which tells them not to send through it.
	CPathDown bool
}

// BFDPortName is the name of the BFD port (and its interface) for peer,
// within the 15 bytes of a Linux interface name: "bfd", a letter for the
// network type (v vxlan, g gre, n geneve), then "4-" and the IPv4 address in
// hex ("vxlan/198.51.100.1" → "bfdv4-c6336401"), or "6-" and the first 9 hex
// digits of the IPv6 address's SHA-256 ("bfdv6-…"). It panics on a network
// type other than those three or an invalid address.
func BFDPortName(peer BFDPeer) string {
	letter, ok := bfdTypeLetters[peer.NetworkType]
	if !ok || !peer.Remote.IsValid() {
		panic(fmt.Sprintf("ovsdb: no BFD port name for %v", peer))
	}
	if peer.Remote.Is4() {
		a := peer.Remote.As4()
		return "bfd" + letter + "4-" + hex.EncodeToString(a[:])
	}
	a := peer.Remote.As16()
	sum := sha256.Sum256(a[:])
	return "bfd" + letter + "6-" + hex.EncodeToString(sum[:])[:9]
}

// EnsureBFDPorts keeps exactly one BFD port on bridge for each of peers and
// none of its own for any other: a port of the peer's network type with
// options remote_ip=REMOTE, key=0 (so that it coexists with the flow-based
// port of the same type, which gets every other VNI from that remote) and
// local_ip=cfg.LocalIP when set, and bfd enable=true, min_tx and min_rx
// cfg.IntervalMS, cpath_down as cfg.CPathDown, mult as cfg.Multiplier (when
// not 0) and nothing else (so decay_min_rx is off). All changes go in one
// transaction: ports created, hand-edited types, options, bfd settings and
// external_ids set back, ports of peers no longer listed deleted; when all is
// right nothing is written. A port of a BFD port's name that l2gwd does not
// own is an error, and is left alone.
func (c *Client) EnsureBFDPorts(ctx context.Context, bridge string, peers []BFDPeer, cfg BFDConfig) error {
	want, err := wantedBFDPorts(peers, cfg)
	if err != nil {
		return fmt.Errorf("ensure BFD ports on %s: %w", bridge, err)
	}
	return c.apply(ctx, "ensure BFD ports on "+bridge, func(s *snapshot) ([]ovsdb.Operation, error) {
		return c.bfdOps(s, bridge, want)
	})
}

// wantedBFDPorts checks peers and cfg and returns the interface each peer's
// port must have, by port name.
func wantedBFDPorts(peers []BFDPeer, cfg BFDConfig) (map[string]vswitch.Interface, error) {
	if cfg.IntervalMS < 1 {
		return nil, fmt.Errorf("BFD interval %d ms: want at least 1", cfg.IntervalMS)
	}
	if cfg.Multiplier < 0 || cfg.Multiplier > 255 {
		return nil, fmt.Errorf("BFD multiplier %d: want 1-255, or 0 for OVS's default", cfg.Multiplier)
	}
	if cfg.LocalIP.IsValid() && (cfg.LocalIP.Zone() != "" || cfg.LocalIP.Is4In6() || cfg.LocalIP.IsUnspecified()) {
		return nil, fmt.Errorf("local IP %v: want a plain IPv4 or IPv6 address", cfg.LocalIP)
	}
	settings := bfdSettings(cfg)
	want := make(map[string]vswitch.Interface, len(peers))
	for _, p := range peers {
		r := p.Remote
		switch {
		case !slices.Contains(tunnelTypes, p.NetworkType):
			return nil, fmt.Errorf("peer %v: unknown network type %q (want one of %v)", r, p.NetworkType, tunnelTypes)
		case !r.IsValid() || r.Zone() != "" || r.Is4In6() || r.IsUnspecified() || r.IsMulticast():
			return nil, fmt.Errorf("peer %v: want a unicast IPv4 or IPv6 address", r)
		case cfg.LocalIP.IsValid() && cfg.LocalIP.Is4() != r.Is4():
			return nil, fmt.Errorf("peer %v: not of the local IP %v's family", r, cfg.LocalIP)
		}
		name := BFDPortName(p)
		if other, ok := want[name]; ok {
			if other.ExternalIDs[bfdPeerKey] == p.String() {
				continue // listed twice
			}
			return nil, fmt.Errorf("peers %s and %v have the same BFD port name %s", other.ExternalIDs[bfdPeerKey], p, name)
		}
		opts := map[string]string{"remote_ip": r.String(), "key": "0"}
		if cfg.LocalIP.IsValid() {
			opts["local_ip"] = cfg.LocalIP.String()
		}
		want[name] = vswitch.Interface{
			Name:        name,
			Type:        p.NetworkType,
			Options:     opts,
			BFD:         maps.Clone(settings),
			ExternalIDs: bfdIDs(p),
		}
	}
	return want, nil
}

// bfdIDs are the external_ids of a BFD port and its interface.
func bfdIDs(p BFDPeer) map[string]string {
	ids := ownerIDs()
	ids[bfdPeerKey] = p.String()
	return ids
}

// isBFDPort reports whether port is one of l2gwd's BFD ports.
func isBFDPort(port vswitch.Port) bool {
	_, marked := port.ExternalIDs[bfdPeerKey]
	return marked && ownedByL2gwd(port.ExternalIDs)
}

// bfdOps plans the operations that leave bridge with the wanted BFD ports
// and no other BFD port of l2gwd's.
func (c *Client) bfdOps(s *snapshot, bridge string, want map[string]vswitch.Interface) ([]ovsdb.Operation, error) {
	br, ok := s.bridges[bridge]
	if !ok {
		return nil, fmt.Errorf("bridge %s does not exist", bridge)
	}
	onBridge := s.portsByName(br)
	var ops []ovsdb.Operation
	var add, remove []string
	for _, name := range slices.Sorted(maps.Keys(onBridge)) {
		port := onBridge[name]
		iface, wanted := want[name]
		switch {
		case wanted && !ownedByL2gwd(port.ExternalIDs):
			return nil, fmt.Errorf("port %s is not l2gwd's: cannot make it the BFD port for %s", name, iface.ExternalIDs[bfdPeerKey])
		case wanted:
			fix, err := c.fixBFDPortOps(s, port, iface)
			if err != nil {
				return nil, err
			}
			ops = append(ops, fix...)
		case isBFDPort(port):
			remove = append(remove, port.UUID)
		}
	}
	for i, name := range slices.Sorted(maps.Keys(want)) {
		if _, exists := onBridge[name]; exists {
			continue
		}
		iface := want[name]
		iface.UUID = fmt.Sprintf("l2gw_bfd_iface_%d", i)
		port := &vswitch.Port{
			UUID:        fmt.Sprintf("l2gw_bfd_port_%d", i),
			Name:        name,
			Interfaces:  []string{iface.UUID},
			ExternalIDs: iface.ExternalIDs,
		}
		create, err := c.ovs.Create(&iface, port)
		if err != nil {
			return nil, fmt.Errorf("create BFD port %s: %w", name, err)
		}
		ops = append(ops, create...)
		add = append(add, port.UUID)
	}
	for _, change := range []struct {
		mutator ovsdb.Mutator
		ports   []string
	}{{ovsdb.MutateOperationInsert, add}, {ovsdb.MutateOperationDelete, remove}} {
		if len(change.ports) == 0 {
			continue
		}
		mutate, err := c.bridgePortsOps(br, change.mutator, change.ports...)
		if err != nil {
			return nil, fmt.Errorf("change the BFD ports of %s: %w", br.Name, err)
		}
		ops = append(ops, mutate...)
	}
	return ops, nil
}

// fixBFDPortOps sets the interface of an existing BFD port, and the port's
// external_ids, back to want; it returns no operation when they are right.
func (c *Client) fixBFDPortOps(s *snapshot, port vswitch.Port, want vswitch.Interface) ([]ovsdb.Operation, error) {
	if len(port.Interfaces) != 1 {
		return nil, fmt.Errorf("BFD port %s has %d interfaces, want 1", port.Name, len(port.Interfaces))
	}
	iface, ok := s.ifaces[port.Interfaces[0]]
	if !ok || iface.Name != port.Name {
		return nil, fmt.Errorf("BFD port %s has no interface of its own name", port.Name)
	}
	var ops []ovsdb.Operation
	if iface.Type != want.Type || !maps.Equal(iface.Options, want.Options) ||
		!maps.Equal(iface.BFD, want.BFD) || !maps.Equal(iface.ExternalIDs, want.ExternalIDs) {
		fixed := iface
		fixed.Type, fixed.Options, fixed.BFD, fixed.ExternalIDs = want.Type, want.Options, want.BFD, want.ExternalIDs
		update, err := c.ovs.Where(&vswitch.Interface{UUID: iface.UUID}).
			Update(&fixed, &fixed.Type, &fixed.Options, &fixed.BFD, &fixed.ExternalIDs)
		if err != nil {
			return nil, fmt.Errorf("fix BFD interface %s: %w", iface.Name, err)
		}
		ops = append(ops, update...)
	}
	if !maps.Equal(port.ExternalIDs, want.ExternalIDs) {
		fixed := port
		fixed.ExternalIDs = want.ExternalIDs
		update, err := c.ovs.Where(&vswitch.Port{UUID: port.UUID}).Update(&fixed, &fixed.ExternalIDs)
		if err != nil {
			return nil, fmt.Errorf("fix BFD port %s: %w", port.Name, err)
		}
		ops = append(ops, update...)
	}
	return ops, nil
}

// BFDStatus is one BFD port as ovs-vswitchd reports it (its bfd_status).
type BFDStatus struct {
	Port string // the port's (and its interface's) name
	// OFPort is the port's OpenFlow port number, for a group bucket's
	// watch_port; 0 while ovs-vswitchd has given it none.
	OFPort uint32
	// State is the local end's session state: "up", "init", "down" or
	// "admin_down"; "" until ovs-vswitchd has reported one.
	State string
	// Forwarding is OVS's verdict on the path: the session is up and the
	// peer reports no path down (cpath_down included).
	Forwarding bool
	// RemoteState is the state the peer reports for its end.
	RemoteState string
	// Diagnostic is the local end's diagnostic ("No Diagnostic", "Control
	// Detection Time Expired", "Concatenated Path Down" while this side
	// has cpath_down, ...).
	Diagnostic string
	// RemoteDiagnostic is the peer's diagnostic: "Concatenated Path Down"
	// while the peer has cpath_down set.
	RemoteDiagnostic string
	// LocalCPathDown is this side's bfd:cpath_down as configured.
	LocalCPathDown bool
}

// Up reports whether the peer can be sent through: the session is up and
// forwarding.
func (s BFDStatus) Up() bool { return s.State == "up" && s.Forwarding }

// CPathDown reports whether the peer is alive but asks not to be used: the
// session is up, but the peer sets cpath_down.
func (s BFDStatus) CPathDown() bool {
	return s.State == "up" && !s.Forwarding && s.RemoteDiagnostic == cpathDownDiag
}

// BFDPorts returns l2gwd's BFD ports on bridge with their state, by peer. It
// reads the cache, as OFPorts does, so it never blocks: while the client
// reconnects it returns the last known state. Changes and Watch receive a
// value whenever a session's state changes. An unknown bridge yields an
// empty map.
func (c *Client) BFDPorts(bridge string) map[BFDPeer]BFDStatus {
	ports := make(map[BFDPeer]BFDStatus)
	s, err := c.lastKnown()
	if err != nil {
		c.log.Error("read BFD ports from the ovsdb cache", "bridge", bridge, "err", err)
		return ports
	}
	br, ok := s.bridges[bridge]
	if !ok {
		return ports
	}
	for name, port := range s.portsByName(br) {
		peer, ok := parseBFDPeer(port.ExternalIDs[bfdPeerKey])
		if !isBFDPort(port) || !ok || len(port.Interfaces) != 1 {
			continue
		}
		ports[peer] = bfdStatusOf(name, s.ifaces[port.Interfaces[0]])
	}
	return ports
}

// bfdStatusOf is the BFD state of iface, port name's interface.
func bfdStatusOf(name string, iface vswitch.Interface) BFDStatus {
	st := BFDStatus{
		Port:             name,
		State:            iface.BFDStatus["state"],
		Forwarding:       iface.BFDStatus["forwarding"] == "true",
		RemoteState:      iface.BFDStatus["remote_state"],
		Diagnostic:       iface.BFDStatus["diagnostic"],
		RemoteDiagnostic: iface.BFDStatus["remote_diagnostic"],
		LocalCPathDown:   iface.BFD["cpath_down"] == "true",
	}
	if iface.Ofport != nil && *iface.Ofport >= 1 {
		st.OFPort = uint32(*iface.Ofport)
	}
	return st
}

// parseBFDPeer reads BFDPeer.String's form back.
func parseBFDPeer(s string) (BFDPeer, bool) {
	typ, addr, ok := strings.Cut(s, "/")
	if !ok {
		return BFDPeer{}, false
	}
	remote, err := netip.ParseAddr(addr)
	if err != nil {
		return BFDPeer{}, false
	}
	return BFDPeer{NetworkType: typ, Remote: remote}, true
}
