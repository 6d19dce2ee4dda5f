package lab

import (
	"strings"
	"testing"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// segmentBridge is the Linux bridge of a segment's namespace.
const segmentBridge = "br-seg"

// Segment is a site's local layer-2 segment shared by several gateway
// nodes (an HA pair) and hosts: a Linux bridge in a namespace of its own,
// as the access switch of a site would be.
type Segment struct {
	lab   *Lab
	Name  string
	NetNS string
}

// AddSegment creates segment name (lower-case letters and digits) in
// namespace <prefix><name>: an empty Linux bridge.
func (l *Lab) AddSegment(name string) *Segment {
	t := l.t
	t.Helper()
	if !namePattern.MatchString(name) {
		t.Fatalf("segment name %q: only lower-case letters and digits", name)
	}
	seg := &Segment{lab: l, Name: name, NetNS: l.prefix + name}
	if err := l.addNetNS(seg.NetNS); err != nil {
		t.Fatal(err)
	}
	err := runAll(
		[]string{"ip", "-n", seg.NetNS, "link", "add", segmentBridge, "type", "bridge"},
		[]string{"ip", "-n", seg.NetNS, "link", "set", segmentBridge, "up"},
	)
	if err != nil {
		t.Fatalf("segment %s: %v", name, err)
	}
	return seg
}

// AddHost creates host name in namespace <prefix><segment><name>, eth0
// with mac and ip/24 (from 192.0.2.0/24), on the segment's bridge. Its
// Site is nil; the probes work on it as on any host.
func (seg *Segment) AddHost(t testing.TB, name, mac, ip string) *Host {
	t.Helper()
	checkHost(t, name, mac, ip)
	h := &Host{Name: name, NetNS: seg.NetNS + name, MAC: mac, IP: ip, Port: name}
	if err := seg.lab.addNetNS(h.NetNS); err != nil {
		t.Fatal(err)
	}
	err := runAll(
		[]string{"ip", "-n", seg.NetNS, "link", "add", name, "type", "veth", "peer", "name", HostIf, "netns", h.NetNS},
		[]string{"ip", "-n", h.NetNS, "link", "set", HostIf, "address", mac},
		[]string{"ip", "-n", h.NetNS, "addr", "add", ip + "/24", "dev", HostIf},
		[]string{"ip", "-n", h.NetNS, "link", "set", HostIf, "up"},
		[]string{"ip", "-n", seg.NetNS, "link", "set", name, "master", segmentBridge, "up"},
	)
	if err != nil {
		t.Fatalf("host %s: create link: %v", name, err)
	}
	ovstest.DisableTxChecksum(t, h.NetNS, HostIf)
	return h
}

// Attach joins site s to the segment: a veth pair whose end port, in the
// site's namespace, becomes a port of br-int, and whose other end,
// "s-<site>", is a port of the segment's bridge.
func (seg *Segment) Attach(t testing.TB, s *Site, port string) {
	t.Helper()
	peer := "s-" + s.Name
	checkIfName(t, port)
	checkIfName(t, peer)
	err := runAll(
		[]string{"ip", "-n", s.NetNS, "link", "add", port, "type", "veth", "peer", "name", peer, "netns", seg.NetNS},
		[]string{"ip", "-n", seg.NetNS, "link", "set", peer, "master", segmentBridge, "up"},
		[]string{"ip", "-n", s.NetNS, "link", "set", port, "up"},
	)
	if err != nil {
		t.Fatalf("segment %s: attach site %s: %v", seg.Name, s.Name, err)
	}
	ovstest.DisableTxChecksum(t, s.NetNS, port)
	s.AttachPort(t, port)
}

// SetLink takes site s's attachment port to the segment down (up=false)
// or back up, at the site's end: br-int's port loses carrier.
func (seg *Segment) SetLink(t testing.TB, s *Site, port string, up bool) {
	t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	if _, err := run("ip", "-n", s.NetNS, "link", "set", port, state); err != nil {
		t.Fatalf("site %s: set %s %s: %v", s.Name, port, state, err)
	}
}

// Isolate cuts the WAN between the given sites (on) or joins them again
// (off), each still reaching every site not isolated: their WAN bridge
// ports become isolated ports, which forward only to and from the others.
func (l *Lab) Isolate(t testing.TB, on bool, sites ...*Site) {
	t.Helper()
	state := "off"
	if on {
		state = "on"
	}
	for _, s := range sites {
		if _, err := run("ip", "netns", "exec", l.wanNS, "bridge", "link", "set", "dev", s.wanPeer, "isolated", state); err != nil {
			t.Fatalf("site %s: WAN isolation %s: %v", s.Name, state, err)
		}
	}
}

// FDBPort is the port of the segment's bridge its forwarding database has
// mac on ("s-<site>", or a host's name), "" when it has none.
func (seg *Segment) FDBPort(t testing.TB, mac string) string {
	t.Helper()
	out, err := run("bridge", "-n", seg.NetNS, "fdb", "show", "br", segmentBridge)
	if err != nil {
		t.Fatalf("segment %s: fdb: %v", seg.Name, err)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && strings.EqualFold(f[0], mac) && f[1] == "dev" {
			return f[2]
		}
	}
	return ""
}
