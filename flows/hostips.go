package flows

import (
	"net"
	"net/netip"
	"slices"
	"time"
)

// MaxHostIPs is how many addresses the watch keeps of one MAC: the most
// recently announced.
const MaxHostIPs = 8

// The addresses local hosts announced (TableSnoop's copies, snoop.go), as
// the macTable keeps them beside its learned entries. An address belongs
// to the MAC that announced it last in its network: when another MAC
// announces it, it moves there. A MAC's addresses go with its learned
// entry. A copy can arrive before the flow monitor reports the entry its
// frame made the switch learn (OVS sends the two on their own paths), so
// what a MAC not learned (yet) announced is kept for unlearnedGrace and
// dropped then if the MAC was not learned meanwhile: a host whose frames
// are never learned (statically bound elsewhere, say) cannot make the table
// grow.

// unlearnedGrace is how long addresses of a MAC that is not learned are
// kept: far longer than the flow monitor takes to report a learned entry.
const unlearnedGrace = 10 * time.Second

// ipKey is an address in a network.
type ipKey struct {
	network uint32
	ip      netip.Addr
}

// hostIPs are the addresses one MAC announced, the most recent last, and
// when it last announced one.
type hostIPs struct {
	addrs []netip.Addr
	at    time.Time
}

// unlearnedMAC is a MAC that announced an address while it was not
// learned, and when.
type unlearnedMAC struct {
	key macKey
	at  time.Time
}

// snooped takes a's address, announced at now; t.mu is held. A watch
// hears of it when it changes the addresses of a learned MAC.
func (t *macTable) snooped(a announcement, now time.Time) {
	t.pruneUnlearned(now)
	k := macKey{network: a.network, mac: a.mac}
	ik := ipKey{network: a.network, ip: a.ip}
	if owner, ok := t.ipOwner[ik]; ok && owner != k {
		t.dropIP(owner, a.ip)
	}
	h := t.ips[k]
	if h == nil {
		h = &hostIPs{}
		t.ips[k] = h
	}
	h.at = now
	if i := slices.Index(h.addrs, a.ip); i >= 0 {
		// Known: it is now the most recent, and nothing changed.
		h.addrs = append(slices.Delete(h.addrs, i, i+1), a.ip)
	} else {
		h.addrs = append(h.addrs, a.ip)
		t.ipOwner[ik] = k
		if len(h.addrs) > MaxHostIPs {
			delete(t.ipOwner, ipKey{network: a.network, ip: h.addrs[0]})
			h.addrs = slices.Delete(h.addrs, 0, 1)
		}
		t.touchIPs(k)
	}
	if _, learned := t.entries[k]; !learned {
		t.unlearned = append(t.unlearned, unlearnedMAC{key: k, at: now})
	}
}

// dropIP takes ip from the addresses of k; t.mu is held.
func (t *macTable) dropIP(k macKey, ip netip.Addr) {
	h := t.ips[k]
	if h == nil {
		return
	}
	if i := slices.Index(h.addrs, ip); i >= 0 {
		h.addrs = slices.Delete(h.addrs, i, i+1)
		delete(t.ipOwner, ipKey{network: k.network, ip: ip})
		if len(h.addrs) == 0 {
			delete(t.ips, k)
		}
		t.touchIPs(k)
	}
}

// touchIPs tells the watches that k's addresses changed, if k is learned
// (they report nothing else of a MAC); t.mu is held.
func (t *macTable) touchIPs(k macKey) {
	if _, learned := t.entries[k]; learned {
		t.touch(k, 0)
	}
}

// forgetIPs drops every address of k, whose entry is gone; t.mu is held.
func (t *macTable) forgetIPs(k macKey) {
	h := t.ips[k]
	if h == nil {
		return
	}
	for _, ip := range h.addrs {
		delete(t.ipOwner, ipKey{network: k.network, ip: ip})
	}
	delete(t.ips, k)
}

// pruneUnlearned forgets the addresses of MACs that announced them over
// unlearnedGrace before now and have not been learned since (nor announced
// anything); t.mu is held.
func (t *macTable) pruneUnlearned(now time.Time) {
	n := 0
	for _, u := range t.unlearned {
		if now.Sub(u.at) < unlearnedGrace {
			break
		}
		n++
		if _, learned := t.entries[u.key]; learned {
			continue
		}
		if h := t.ips[u.key]; h != nil && now.Sub(h.at) >= unlearnedGrace {
			t.forgetIPs(u.key)
		}
	}
	t.unlearned = slices.Delete(t.unlearned, 0, n)
}

// ipsOf returns k's addresses, sorted, in a slice of their own (nil when
// none); t.mu is held.
func (t *macTable) ipsOf(k macKey) []netip.Addr {
	h := t.ips[k]
	if h == nil || len(h.addrs) == 0 {
		return nil
	}
	return slices.SortedFunc(slices.Values(h.addrs), netip.Addr.Compare)
}

// packetIn takes a packet-in of the current connection: a host's
// announcement, if it is one of TableSnoop's valid copies; t.mu is held.
// Bad copies are only logged at debug level: any host can send them, at
// up to SnoopRate.
func (t *macTable) packetIn(msg []byte, now time.Time) {
	a, err := parseSnoopPacketIn(msg)
	if err != nil {
		t.snoopStats.Ignored++
		t.log.Debug("host snooping: copy ignored", "err", err)
		return
	}
	t.snoopStats.Announcements++
	t.log.Debug("host snooping: announcement", "network", a.network, "port", a.port,
		"mac", net.HardwareAddr(a.mac[:]), "ip", a.ip)
	t.snooped(a, now)
}

// SnoopStats counts the copies of TableSnoop's the session received.
type SnoopStats struct {
	Announcements uint64 // valid announcements, handed to the watch
	Ignored       uint64 // copies that announce no address (see announcedAddress)
}

// SnoopStats reports the copies of hosts' announcements received so far.
func (s *Session) SnoopStats() SnoopStats {
	s.macs.mu.Lock()
	defer s.macs.mu.Unlock()
	return s.macs.snoopStats
}
