package app

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// DesiredStateDigest is a digest of the configuration the API was given,
// the same on two gateways given the same API calls in any order (the
// orchestrator of a gateway pair writes the same calls to both nodes), so
// an operator sees at once whether they agree. It covers:
//   - the API's networks: name, attachments (port and VLAN, as a set),
//     EVPN membership (VNI, import and export route targets as sets);
//   - remote gateways: name, endpoints in preference order;
//   - the API's connections: name, network, remote gateway, network type,
//     segmentation ID, flood;
//   - each API connection's bindings: MAC and IPs (as a set);
//   - BGP peers: name, address, ASN, port, hold time, keepalive, route
//     limit, and whether a password is set (not the password: the digest
//     is shown, and a hash of a short key is one to guess offline).
//
// It leaves out what each node has of its own: IDs (each store assigns
// them), what dynamic origins told (EVPN, vtep), timestamps, and the
// daemon's flags (its own tunnel IP, HA peer and priority). Values count
// as State stores them, in canonical form (198.51.100.2 and
// ::ffff:198.51.100.2 are one tunnel IP). The digest is 32 hex digits
// (128 bits of SHA-256); its definition is versioned, so two releases
// that define it differently never agree by accident.
//
// Bindings are summed as they change (a multiset hash per connection), so
// the digest costs the topology's size, not the bindings'.
func (s *State) DesiredStateDigest() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d := digester{h: sha256.New()}
	d.str("l2gw desired state digest v1")

	var nets []*networkState
	for _, ns := range s.networks {
		if ns.Origin == OriginStatic {
			nets = append(nets, ns)
		}
	}
	slices.SortFunc(nets, func(a, b *networkState) int { return strings.Compare(a.Name, b.Name) })
	d.count("networks", len(nets))
	for _, ns := range nets {
		d.str(ns.Name)
		atts := slices.SortedFunc(slices.Values(ns.Attachments), func(a, b Attachment) int {
			return cmp.Or(strings.Compare(a.Port, b.Port), cmp.Compare(a.VLAN, b.VLAN))
		})
		d.count("attachments", len(atts))
		for _, a := range atts {
			d.str(a.Port)
			d.uint(uint64(a.VLAN))
		}
		if e := ns.EVPN; e != nil {
			d.count("evpn", 1)
			d.uint(uint64(e.VNI))
			d.set(e.ImportRTs)
			d.set(e.ExportRTs)
		} else {
			d.count("evpn", 0)
		}
	}

	names := slices.Sorted(maps.Keys(s.gateways))
	d.count("remote gateways", len(names))
	for _, name := range names {
		g := s.gateways[name]
		d.str(g.Name)
		d.count("tunnel ips", len(g.TunnelIPs))
		for _, ip := range g.TunnelIPs {
			d.str(ip)
		}
	}

	names = slices.Sorted(maps.Keys(s.conns))
	d.count("connections", len(names))
	for _, name := range names {
		cs := s.conns[name]
		d.str(cs.Name)
		d.str(cs.Network)
		d.str(cs.RemoteGateway)
		d.str(cs.NetworkType)
		d.uint(uint64(cs.SegmentationID))
		d.bool(cs.Flood)
		d.count("bindings", cs.macs.len())
		d.h.Write(cs.bindingSum.bytes())
	}

	names = slices.Sorted(maps.Keys(s.peers))
	d.count("bgp peers", len(names))
	for _, name := range names {
		p := s.peers[name]
		d.str(p.Name)
		d.str(p.Address)
		d.uint(uint64(p.ASN))
		d.uint(uint64(p.Port))
		d.bool(p.Password != "")
		d.uint(uint64(p.HoldTime))
		d.uint(uint64(p.Keepalive))
		d.uint(uint64(p.MaxRoutes))
	}
	return hex.EncodeToString(d.h.Sum(nil)[:16])
}

// digester writes values to a hash unambiguously: every string with its
// length, every list with a label and its length.
type digester struct {
	h   hash.Hash
	buf [binary.MaxVarintLen64]byte
}

func (d *digester) uint(v uint64) { d.h.Write(binary.AppendUvarint(d.buf[:0], v)) }

func (d *digester) str(s string) {
	d.uint(uint64(len(s)))
	d.h.Write([]byte(s))
}

func (d *digester) bool(b bool) {
	if b {
		d.uint(1)
	} else {
		d.uint(0)
	}
}

// count starts a list of n values.
func (d *digester) count(label string, n int) {
	d.str(label)
	d.uint(uint64(n))
}

// set writes the strings of list as a set: sorted.
func (d *digester) set(list []string) {
	sorted := slices.Sorted(slices.Values(list))
	d.count("set", len(sorted))
	for _, s := range sorted {
		d.str(s)
	}
}

// multisetSum is a multiset hash of a connection's bindings (AdHash): the
// lane-wise sum, modulo 2^64, of each binding's SHA-256. A binding added
// adds its hash and one removed subtracts it, so keeping the sum costs a
// hash per binding changed, and the sum does not depend on the order the
// bindings came in.
type multisetSum [4]uint64

// add adds (sign 1) or subtracts (sign -1) e's hash.
func (m *multisetSum) add(e macEntry, sign uint64) {
	h := bindingHash(e)
	for i := range m {
		m[i] += sign * binary.BigEndian.Uint64(h[8*i:])
	}
}

// bytes is the sum, big-endian.
func (m *multisetSum) bytes() []byte {
	out := make([]byte, 0, 32)
	for _, v := range m {
		out = binary.BigEndian.AppendUint64(out, v)
	}
	return out
}

// bindingHash is the SHA-256 of a binding's MAC and its IPs, sorted, each
// as 16 bytes (an IPv4 address IPv4-mapped).
func bindingHash(e macEntry) [32]byte {
	var buf [6 + 16*4]byte
	b := append(buf[:0], e.hw[:]...)
	addrs := e.addrs
	if len(addrs) > 1 && !slices.IsSortedFunc(addrs, netip.Addr.Compare) {
		addrs = slices.SortedFunc(slices.Values(addrs), netip.Addr.Compare)
	}
	for _, a := range addrs {
		v := a.As16()
		b = append(b, v[:]...)
	}
	return sha256.Sum256(b)
}

// setBinding makes e the connection's binding of its MAC, keeping the
// sum of its bindings.
func (cs *connState) setBinding(e macEntry) {
	if old, had := cs.macs.get(e.hw); had {
		cs.bindingSum.add(old, ^uint64(0))
	}
	cs.macs.put(e)
	cs.bindingSum.add(e, 1)
}

// dropBinding removes the connection's binding of MAC hw, if any,
// keeping the sum of its bindings.
func (cs *connState) dropBinding(hw [6]byte) {
	if old, had := cs.macs.get(hw); had {
		cs.bindingSum.add(old, ^uint64(0))
		cs.macs.del(hw)
	}
}
