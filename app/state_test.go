package app

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const localTunnelIP = "198.51.100.1"

func openState(t testing.TB, dir string) *State {
	t.Helper()
	s, err := Open(dir, Options{Logger: slog.New(slog.DiscardHandler), LocalTunnelIPs: []string{localTunnelIP}})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

// reopen closes s and opens its store in dir again, as a restarted
// l2gwd would; the reopened state is closed when t ends.
func reopen(t testing.TB, s *State, dir string) *State {
	t.Helper()
	mustOK(t, s.Close())
	s = openState(t, dir)
	t.Cleanup(func() { s.Close() })
	return s
}

func newState(t testing.TB) *State {
	t.Helper()
	s := openState(t, t.TempDir())
	t.Cleanup(func() { s.Close() })
	return s
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantError checks that err is an *Error of the given kind and path.
func wantError(t testing.TB, err error, kind ErrorKind, at Path) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *Error of kind %d", err, err, kind)
	}
	if e.Kind != kind || !slices.Equal(e.Path, at) {
		t.Fatalf("error = {Kind:%d Path:%v Message:%q}, want {Kind:%d Path:%v}", e.Kind, e.Path, e.Message, kind, at)
	}
	if e.Message == "" {
		t.Fatalf("error of kind %d has no message", kind)
	}
	return e
}

// fixture builds two networks with connections to two remote gateways:
//
//	net-a: eth1 untagged, trunk0 vlan 100; connections a-b (site-b, vxlan 5001), a-c (site-c, vxlan 5001)
//	net-b: eth2 untagged;                  connection  b-b (site-b, vxlan 5002)
//	bindings: a-b 02:0b:00:00:00:01 192.0.2.21; a-c 02:0c:00:00:00:01 192.0.2.31; b-b 02:0b:00:00:00:02 192.0.2.22
func fixture(t testing.TB, s *State) {
	t.Helper()
	must[Network](t)(s.CreateNetwork(Network{Name: "net-a", Attachments: []Attachment{{Port: "eth1"}, {Port: "trunk0", VLAN: 100}}}))
	must[Network](t)(s.CreateNetwork(Network{Name: "net-b", Attachments: []Attachment{{Port: "eth2"}}}))
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-b", TunnelIP: "198.51.100.2"}))
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-c", TunnelIP: "198.51.100.3"}))
	must[Connection](t)(s.CreateConnection(Connection{Name: "a-b", Network: "net-a", RemoteGateway: "site-b", SegmentationID: 5001, Flood: true}))
	must[Connection](t)(s.CreateConnection(Connection{Name: "a-c", Network: "net-a", RemoteGateway: "site-c", SegmentationID: 5001, NetworkType: TypeGeneve}))
	must[Connection](t)(s.CreateConnection(Connection{Name: "b-b", Network: "net-b", RemoteGateway: "site-b", SegmentationID: 5002, Flood: true}))
	must[[]MACBinding](t)(s.AddMACs("a-b", MACBindings{{MAC: "02:0b:00:00:00:01", IPs: []string{"192.0.2.21"}}}))
	must[[]MACBinding](t)(s.AddMACs("a-c", MACBindings{{MAC: "02:0c:00:00:00:01", IPs: []string{"192.0.2.31"}}}))
	must[[]MACBinding](t)(s.AddMACs("b-b", MACBindings{{MAC: "02:0b:00:00:00:02", IPs: []string{"192.0.2.22"}}}))
}

func discard[T any](_ T, err error) error { return err }

type rejectCase struct {
	name string
	op   func(s *State) error
	kind ErrorKind
	at   Path
}

func atts(a ...Attachment) Network { return Network{Name: "net-x", Attachments: a} }

var rejectCases = []rejectCase{
	// names
	{"network name empty", func(s *State) error { return discard(s.CreateNetwork(Network{})) }, Invalid, At(FieldName)},
	{"network name upper case", func(s *State) error { return discard(s.CreateNetwork(Network{Name: "Net"})) }, Invalid, At(FieldName)},
	{"network name underscore", func(s *State) error { return discard(s.CreateNetwork(Network{Name: "net_x"})) }, Invalid, At(FieldName)},
	{"network name 64 chars", func(s *State) error { return discard(s.CreateNetwork(Network{Name: strings.Repeat("a", 64)})) }, Invalid, At(FieldName)},
	{"network name taken", func(s *State) error { return discard(s.CreateNetwork(Network{Name: "net-a"})) }, AlreadyExists, At(FieldName)},
	{"gateway name invalid", func(s *State) error {
		return discard(s.CreateRemoteGateway(RemoteGateway{Name: "site b", TunnelIP: "198.51.100.9"}))
	}, Invalid, At(FieldName)},
	{"gateway name taken", func(s *State) error {
		return discard(s.CreateRemoteGateway(RemoteGateway{Name: "site-b", TunnelIP: "198.51.100.9"}))
	}, AlreadyExists, At(FieldName)},
	{"connection name invalid", func(s *State) error {
		return discard(s.CreateConnection(Connection{Name: "x.y", Network: "net-b", RemoteGateway: "site-c", SegmentationID: 7}))
	}, Invalid, At(FieldName)},
	{"connection name taken", func(s *State) error {
		return discard(s.CreateConnection(Connection{Name: "a-b", Network: "net-b", RemoteGateway: "site-c", SegmentationID: 7}))
	}, AlreadyExists, At(FieldName)},

	// attachments
	{"port empty", func(s *State) error { return discard(s.CreateNetwork(atts(Attachment{}))) }, Invalid, At(FieldAttachments).Index(0).Field(FieldPort)},
	{"port 16 chars", func(s *State) error { return discard(s.CreateNetwork(atts(Attachment{Port: "abcdefghijklmnop"}))) }, Invalid, At(FieldAttachments).Index(0).Field(FieldPort)},
	{"port with slash", func(s *State) error {
		return discard(s.CreateNetwork(atts(Attachment{Port: "p1"}, Attachment{Port: "a/b"})))
	}, Invalid, At(FieldAttachments).Index(1).Field(FieldPort)},
	{"port with colon", func(s *State) error { return discard(s.CreateNetwork(atts(Attachment{Port: "eth0:1"}))) }, Invalid, At(FieldAttachments).Index(0).Field(FieldPort)},
	{"port with space", func(s *State) error { return discard(s.CreateNetwork(atts(Attachment{Port: "eth 0"}))) }, Invalid, At(FieldAttachments).Index(0).Field(FieldPort)},
	{"port dot", func(s *State) error { return discard(s.CreateNetwork(atts(Attachment{Port: "."}))) }, Invalid, At(FieldAttachments).Index(0).Field(FieldPort)},
	{"vlan 4095", func(s *State) error {
		return discard(s.CreateNetwork(atts(Attachment{Port: "p1"}, Attachment{Port: "p2", VLAN: 4095})))
	}, Invalid, At(FieldAttachments).Index(1).Field(FieldVLAN)},
	{"same port twice", func(s *State) error {
		return discard(s.CreateNetwork(atts(Attachment{Port: "p1", VLAN: 10}, Attachment{Port: "p1", VLAN: 20})))
	}, Invalid, At(FieldAttachments).Index(1).Field(FieldPort)},
	{"port and vlan taken", func(s *State) error {
		return discard(s.CreateNetwork(atts(Attachment{Port: "p1"}, Attachment{Port: "trunk0", VLAN: 100})))
	}, Conflict, At(FieldAttachments).Index(1)},
	{"untagged port taken", func(s *State) error { return discard(s.CreateNetwork(atts(Attachment{Port: "eth1"}))) }, Conflict, At(FieldAttachments).Index(0)},
	{"replace unknown network", func(s *State) error { return discard(s.ReplaceNetwork("net-x", Network{})) }, NotFound, nil},
	{"replace network other name", func(s *State) error { return discard(s.ReplaceNetwork("net-a", Network{Name: "net-b"})) }, Invalid, At(FieldName)},
	{"replace network bad port", func(s *State) error {
		return discard(s.ReplaceNetwork("net-a", Network{Attachments: []Attachment{{Port: "eth1"}, {Port: ""}}}))
	}, Invalid, At(FieldAttachments).Index(1).Field(FieldPort)},
	{"replace network port taken", func(s *State) error {
		return discard(s.ReplaceNetwork("net-a", Network{Attachments: []Attachment{{Port: "eth2"}}}))
	}, Conflict, At(FieldAttachments).Index(0)},
	{"delete unknown network", func(s *State) error { return s.DeleteNetwork("net-x") }, NotFound, nil},
	{"delete network in use", func(s *State) error { return s.DeleteNetwork("net-a") }, InUse, nil},

	// tunnel IPs
	{"tunnel ip empty", gw(""), Invalid, At(FieldTunnelIP)},
	{"tunnel ip garbage", gw("site-x.example"), Invalid, At(FieldTunnelIP)},
	{"tunnel ip v6 link-local", gw("fe80::1"), Invalid, At(FieldTunnelIP)},
	{"tunnel ip v6 zone", gw("2001:db8::1%wan0"), Invalid, At(FieldTunnelIP)},
	{"tunnel ip v6 multicast", gw("ff02::1"), Invalid, At(FieldTunnelIP)},
	{"tunnel ip v6 loopback", gw("::1"), Invalid, At(FieldTunnelIP)},
	{"tunnel ip unspecified", gw("0.0.0.0"), Invalid, At(FieldTunnelIP)},
	{"tunnel ip multicast", gw("224.0.0.1"), Invalid, At(FieldTunnelIP)},
	{"tunnel ip broadcast", gw("255.255.255.255"), Invalid, At(FieldTunnelIP)},
	{"tunnel ip loopback", gw("127.0.0.1"), Invalid, At(FieldTunnelIP)},
	{"tunnel ip local", gw(localTunnelIP), Invalid, At(FieldTunnelIP)},
	{"tunnel ip taken", gw("198.51.100.2"), Conflict, At(FieldTunnelIP)},
	{"tunnel ip taken, mapped notation", gw("::ffff:198.51.100.2"), Conflict, At(FieldTunnelIP)},
	{"replace unknown gateway", func(s *State) error {
		return discard(s.ReplaceRemoteGateway("site-x", RemoteGateway{TunnelIP: "198.51.100.9"}))
	}, NotFound, nil},
	{"replace gateway other name", func(s *State) error {
		return discard(s.ReplaceRemoteGateway("site-b", RemoteGateway{Name: "site-c", TunnelIP: "198.51.100.9"}))
	}, Invalid, At(FieldName)},
	{"replace gateway ip taken", func(s *State) error {
		return discard(s.ReplaceRemoteGateway("site-b", RemoteGateway{TunnelIP: "198.51.100.3"}))
	}, Conflict, At(FieldTunnelIP)},
	{"replace gateway ip v6 unspecified", func(s *State) error {
		return discard(s.ReplaceRemoteGateway("site-b", RemoteGateway{TunnelIP: "::"}))
	}, Invalid, At(FieldTunnelIP)},
	{"tunnel ips more than 8", gws("198.51.100.11", "198.51.100.12", "198.51.100.13", "198.51.100.14",
		"198.51.100.15", "198.51.100.16", "198.51.100.17", "198.51.100.18", "198.51.100.19"), Invalid, At(FieldTunnelIPs)},
	{"tunnel ips empty endpoint", gws("", "198.51.100.12"), Invalid, At(FieldTunnelIPs).Index(0)},
	{"tunnel ips garbage", gws("198.51.100.11", "site-x.example"), Invalid, At(FieldTunnelIPs).Index(1)},
	{"tunnel ips local", gws("198.51.100.11", localTunnelIP), Invalid, At(FieldTunnelIPs).Index(1)},
	{"tunnel ips loopback", gws("198.51.100.11", "127.0.0.1"), Invalid, At(FieldTunnelIPs).Index(1)},
	{"tunnel ips multicast", gws("198.51.100.11", "198.51.100.12", "224.0.0.1"), Invalid, At(FieldTunnelIPs).Index(2)},
	{"tunnel ips two families", gws("198.51.100.11", "2001:db8::12"), Invalid, At(FieldTunnelIPs).Index(1)},
	{"tunnel ips two families, mapped first", gws("::ffff:198.51.100.11", "2001:db8::12"), Invalid, At(FieldTunnelIPs).Index(1)},
	{"tunnel ips duplicate", gws("198.51.100.11", "198.51.100.12", "::ffff:198.51.100.11"), Invalid, At(FieldTunnelIPs).Index(2)},
	{"tunnel ips taken", gws("198.51.100.11", "198.51.100.3"), Conflict, At(FieldTunnelIPs).Index(1)},
	{"tunnel ip not the first of tunnel ips", func(s *State) error {
		return discard(s.CreateRemoteGateway(RemoteGateway{Name: "site-x", TunnelIP: "198.51.100.12", TunnelIPs: []string{"198.51.100.11", "198.51.100.12"}}))
	}, Invalid, At(FieldTunnelIP)},
	{"tunnel ip garbage with tunnel ips", func(s *State) error {
		return discard(s.CreateRemoteGateway(RemoteGateway{Name: "site-x", TunnelIP: "x", TunnelIPs: []string{"198.51.100.11"}}))
	}, Invalid, At(FieldTunnelIP)},
	{"replace gateway endpoint taken", func(s *State) error {
		return discard(s.ReplaceRemoteGateway("site-b", RemoteGateway{TunnelIPs: []string{"198.51.100.2", "198.51.100.3"}}))
	}, Conflict, At(FieldTunnelIPs).Index(1)},
	{"replace gateway endpoints two families", func(s *State) error {
		return discard(s.ReplaceRemoteGateway("site-b", RemoteGateway{TunnelIPs: []string{"198.51.100.2", "2001:db8::2"}}))
	}, Invalid, At(FieldTunnelIPs).Index(1)},
	{"delete unknown gateway", func(s *State) error { return s.DeleteRemoteGateway("site-x") }, NotFound, nil},
	{"delete gateway in use", func(s *State) error { return s.DeleteRemoteGateway("site-c") }, InUse, nil},

	// connections
	{"connection unknown network", conn("net-x", "site-c", "", 7), NotFound, At(FieldNetwork)},
	{"connection unknown gateway", conn("net-b", "site-x", "", 7), NotFound, At(FieldRemoteGateway)},
	{"connection no network", conn("", "site-c", "", 7), Invalid, At(FieldNetwork)},
	{"connection no gateway", conn("net-b", "", "", 7), Invalid, At(FieldRemoteGateway)},
	{"connection bad type", conn("net-b", "site-c", "stt", 7), Invalid, At(FieldNetworkType)},
	{"connection upper-case type", conn("net-b", "site-c", "VXLAN", 7), Invalid, At(FieldNetworkType)},
	{"segmentation id 0", conn("net-b", "site-c", "", 0), Invalid, At(FieldSegmentationID)},
	{"vxlan id over 24 bits", conn("net-b", "site-c", TypeVXLAN, 1<<24), Invalid, At(FieldSegmentationID)},
	{"geneve id over 24 bits", conn("net-b", "site-c", TypeGeneve, 1<<24), Invalid, At(FieldSegmentationID)},
	{"tunnel key taken", conn("net-b", "site-c", TypeGeneve, 5001), Conflict, At(FieldSegmentationID)},
	{"second connection to a gateway", conn("net-a", "site-b", TypeGRE, 99), Conflict, At(FieldRemoteGateway)},
	{"delete unknown connection", func(s *State) error { return s.DeleteConnection("x-y") }, NotFound, nil},

	// MAC bindings
	{"macs unknown connection", addMACs("x-y", "02:0b:00:00:00:09"), NotFound, nil},
	{"macs empty batch", func(s *State) error { return discard(s.AddMACs("a-b", nil)) }, Invalid, At(FieldMACs)},
	{"mac garbage", addMACs("a-b", "02:0b:00:00:00:09", "zz"), Invalid, At(FieldMACs).Index(1).Field(FieldMAC)},
	{"mac empty", addMACs("a-b", ""), Invalid, At(FieldMACs).Index(0).Field(FieldMAC)},
	{"mac 8 bytes", addMACs("a-b", "02:00:00:00:00:00:00:01"), Invalid, At(FieldMACs).Index(0).Field(FieldMAC)},
	{"mac multicast", addMACs("a-b", "01:00:5e:00:00:01"), Invalid, At(FieldMACs).Index(0).Field(FieldMAC)},
	{"mac broadcast", addMACs("a-b", "ff:ff:ff:ff:ff:ff"), Invalid, At(FieldMACs).Index(0).Field(FieldMAC)},
	{"mac zero", addMACs("a-b", "00:00:00:00:00:00"), Invalid, At(FieldMACs).Index(0).Field(FieldMAC)},
	{"mac twice in request", addMACs("a-b", "02:0b:00:00:00:09", "02:0b:00:00:00:08", "02-0B-00-00-00-09"), Invalid, At(FieldMACs).Index(2).Field(FieldMAC)},
	{"ip garbage", addBinding("a-b", "02:0b:00:00:00:09", "192.0.2.40", "192.0.2"), Invalid, At(FieldMACs).Index(0).Field(FieldIPs).Index(1)},
	{"ip with zone", addBinding("a-b", "02:0b:00:00:00:09", "fe80::1%eth0"), Invalid, At(FieldMACs).Index(0).Field(FieldIPs).Index(0)},
	{"ip twice in binding", addBinding("a-b", "02:0b:00:00:00:09", "192.0.2.40", "::ffff:192.0.2.40"), Invalid, At(FieldMACs).Index(0).Field(FieldIPs).Index(1)},
	{"ip twice in request", func(s *State) error {
		return discard(s.AddMACs("a-b", MACBindings{
			{MAC: "02:0b:00:00:00:09", IPs: []string{"2001:db8::9"}},
			{MAC: "02:0b:00:00:00:0a", IPs: []string{"192.0.2.41", "2001:DB8::9"}},
		}))
	}, Invalid, At(FieldMACs).Index(1).Field(FieldIPs).Index(1)},
	{"mac bound on same connection", addMACs("a-b", "02:0b:00:00:00:09", "02:0B:00:00:00:01"), Conflict, At(FieldMACs).Index(1).Field(FieldMAC)},
	{"mac bound on other connection of network", addMACs("a-b", "02:0c:00:00:00:01"), Conflict, At(FieldMACs).Index(0).Field(FieldMAC)},
	{"ip bound to other mac of network", addBinding("a-b", "02:0b:00:00:00:09", "192.0.2.31"), Conflict, At(FieldMACs).Index(0).Field(FieldIPs).Index(0)},
	{"replace macs unknown connection", func(s *State) error { return discard(s.ReplaceMACs("x-y", nil)) }, NotFound, nil},
	{"replace macs invalid", func(s *State) error {
		return discard(s.ReplaceMACs("a-b", MACBindings{{MAC: "02:0b:00:00:00:01"}, {MAC: "01:00:00:00:00:01"}}))
	}, Invalid, At(FieldMACs).Index(1).Field(FieldMAC)},
	{"replace macs with other connection's mac", func(s *State) error {
		return discard(s.ReplaceMACs("a-b", MACBindings{{MAC: "02:0b:00:00:00:01"}, {MAC: "02:0c:00:00:00:01"}}))
	}, Conflict, At(FieldMACs).Index(1).Field(FieldMAC)},
	{"replace macs with other connection's ip", func(s *State) error {
		return discard(s.ReplaceMACs("a-b", MACBindings{{MAC: "02:0b:00:00:00:01", IPs: []string{"192.0.2.21", "192.0.2.31"}}}))
	}, Conflict, At(FieldMACs).Index(0).Field(FieldIPs).Index(1)},
	{"delete mac unknown connection", func(s *State) error { return s.DeleteMAC("x-y", "02:0b:00:00:00:01") }, NotFound, nil},
	{"delete mac not bound", func(s *State) error { return s.DeleteMAC("a-b", "02:0c:00:00:00:01") }, NotFound, nil},
	{"delete mac garbage", func(s *State) error { return s.DeleteMAC("a-b", "zz") }, Invalid, nil},
}

func gw(ip string) func(s *State) error {
	return func(s *State) error {
		return discard(s.CreateRemoteGateway(RemoteGateway{Name: "site-x", TunnelIP: ip}))
	}
}

func gws(ips ...string) func(s *State) error {
	return func(s *State) error {
		return discard(s.CreateRemoteGateway(RemoteGateway{Name: "site-x", TunnelIPs: ips}))
	}
}

func conn(network, gateway, typ string, seg uint32) func(s *State) error {
	return func(s *State) error {
		return discard(s.CreateConnection(Connection{Name: "x-y", Network: network, RemoteGateway: gateway, NetworkType: typ, SegmentationID: seg}))
	}
}

func addMACs(conn string, macs ...string) func(s *State) error {
	return func(s *State) error {
		b := make(MACBindings, len(macs))
		for i, m := range macs {
			b[i].MAC = m
		}
		return discard(s.AddMACs(conn, b))
	}
}

func addBinding(conn, mac string, ips ...string) func(s *State) error {
	return func(s *State) error { return discard(s.AddMACs(conn, MACBindings{{MAC: mac, IPs: ips}})) }
}

// TestRejected checks every validation rule: the error's kind and path, that the state in memory and on disk is unchanged, and that no
// subscriber hears of it.
func TestRejected(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	fixture(t, s)
	before, digest := s.Snapshot(), s.DesiredStateDigest()
	notified := 0
	s.Subscribe(func(Change) { notified++ })
	for _, tc := range rejectCases {
		t.Run(tc.name, func(t *testing.T) {
			e := wantError(t, tc.op(s), tc.kind, tc.at)
			if got := s.Snapshot(); !reflect.DeepEqual(got, before) {
				t.Fatalf("state changed by a rejected request (%s)", e.Message)
			}
			if got := s.DesiredStateDigest(); got != digest {
				t.Fatalf("digest changed by a rejected request (%s): %s, was %s", e.Message, got, digest)
			}
		})
	}
	if notified != 0 {
		t.Errorf("subscribers called %d times for rejected requests", notified)
	}
	s = reopen(t, s, dir)
	if got := s.Snapshot(); !reflect.DeepEqual(got, before) {
		t.Fatalf("stored state changed by rejected requests:\n got %+v\nwant %+v", got, before)
	}
}

// TestIPv6TunnelIP: an IPv6 tunnel endpoint is accepted in canonical
// form, and taken once, whatever its notation.
func TestIPv6TunnelIP(t *testing.T) {
	s := newState(t)
	g, err := s.CreateRemoteGateway(RemoteGateway{Name: "site-b", TunnelIP: "2001:DB8:0:0::0002"})
	if err != nil || g.TunnelIP != "2001:db8::2" {
		t.Fatalf("create IPv6 gateway: %+v, %v", g, err)
	}
	_, err = s.CreateRemoteGateway(RemoteGateway{Name: "site-c", TunnelIP: "2001:db8:0::2"})
	e := wantError(t, err, Conflict, At(FieldTunnelIP))
	if want := `tunnel_ip 2001:db8::2 is already used by remote gateway "site-b"`; e.Message != want {
		t.Errorf("message = %q, want %q", e.Message, want)
	}
}

// TestAccepted checks the edges of the rules from the accepting side, and
// that accepted values come back normalised.
func TestAccepted(t *testing.T) {
	s := newState(t)
	fixture(t, s)
	n := must[Network](t)(s.CreateNetwork(Network{Name: strings.Repeat("a", 63), Attachments: []Attachment{
		{Port: "abcdefghijklmno"}, {Port: "trunk0", VLAN: 4094}, {Port: "trunk1", VLAN: 1},
	}}))
	if n.ID == 0 || len(n.Attachments) != 3 {
		t.Errorf("network = %+v", n)
	}
	empty := must[Network](t)(s.CreateNetwork(Network{Name: "empty"}))
	if empty.Attachments == nil {
		t.Error("a network without attachments returns null attachments, want []")
	}
	// The same port untagged and with another VLAN belongs to other networks.
	must[Network](t)(s.CreateNetwork(Network{Name: "net-c", Attachments: []Attachment{{Port: "trunk0"}, {Port: "eth1", VLAN: 100}}}))

	g := must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-d", TunnelIP: "::ffff:203.0.113.4"}))
	if g.TunnelIP != "203.0.113.4" {
		t.Errorf("tunnel_ip = %q, want 203.0.113.4", g.TunnelIP)
	}

	c := must[Connection](t)(s.CreateConnection(Connection{Name: "c-b", Network: "net-c", RemoteGateway: "site-b", SegmentationID: 1<<24 - 1}))
	if c.NetworkType != TypeVXLAN || c.Flood || c.ID == 0 {
		t.Errorf("connection = %+v, want vxlan, flood false as given, an ID", c)
	}
	// Same key to the same gateway on another tunnel type; GRE keys use 32 bits.
	must[Connection](t)(s.CreateConnection(Connection{Name: "e-b", Network: "empty", RemoteGateway: "site-b", SegmentationID: 5001, NetworkType: TypeGRE}))
	must[Connection](t)(s.CreateConnection(Connection{Name: "e-d", Network: "empty", RemoteGateway: "site-d", SegmentationID: 1<<32 - 1, NetworkType: TypeGRE}))

	got := must[[]MACBinding](t)(s.AddMACs("a-b", MACBindings{
		{MAC: "02:0B:00:00:00:10", IPs: []string{"::ffff:192.0.2.50", "2001:DB8::0050"}},
		{MAC: "02-0b-00-00-00-11"},
		{MAC: "020b.0000.0012", IPs: []string{"192.0.2.52"}},
	}))
	want := []MACBinding{
		{MAC: "02:0b:00:00:00:10", IPs: []string{"192.0.2.50", "2001:db8::50"}},
		{MAC: "02:0b:00:00:00:11"},
		{MAC: "02:0b:00:00:00:12", IPs: []string{"192.0.2.52"}},
	}
	for i := range got {
		if got[i].ID == 0 {
			t.Errorf("binding %d has no ID", i)
		}
		got[i].ID = 0
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AddMACs returned %+v, want %+v", got, want)
	}
	// The same MAC and IPs are free in another network.
	must[[]MACBinding](t)(s.AddMACs("b-b", MACBindings{{MAC: "02:0b:00:00:00:01", IPs: []string{"192.0.2.21", "192.0.2.50"}}}))
	// DeleteMAC takes any notation.
	mustOK(t, s.DeleteMAC("a-b", "02-0B-00-00-00-11"))
	list := must[[]MACBinding](t)(s.ListMACs("a-b"))
	var macs []string
	for _, b := range list {
		macs = append(macs, b.MAC)
	}
	if fmt.Sprint(macs) != "[02:0b:00:00:00:01 02:0b:00:00:00:10 02:0b:00:00:00:12]" {
		t.Errorf("ListMACs = %v", macs)
	}
}

func TestReplaceNetwork(t *testing.T) {
	s := newState(t)
	fixture(t, s)
	old := must[Network](t)(s.GetNetwork("net-a"))
	n := must[Network](t)(s.ReplaceNetwork("net-a", Network{Attachments: []Attachment{{Port: "eth1", VLAN: 7}}}))
	if n.ID != old.ID || n.Name != "net-a" {
		t.Errorf("replaced network = %+v, want name net-a and ID %d kept", n, old.ID)
	}
	// trunk0/100 is free again; eth1/7 is not.
	must[Network](t)(s.CreateNetwork(Network{Name: "net-c", Attachments: []Attachment{{Port: "trunk0", VLAN: 100}}}))
	_, err := s.CreateNetwork(Network{Name: "net-d", Attachments: []Attachment{{Port: "eth1", VLAN: 7}}})
	wantError(t, err, Conflict, At(FieldAttachments).Index(0))
	if got := must[Connection](t)(s.GetConnection("a-b")); got.Network != "net-a" {
		t.Errorf("connection lost its network: %+v", got)
	}
}

func TestReplaceRemoteGateway(t *testing.T) {
	s := newState(t)
	fixture(t, s)
	g := must[RemoteGateway](t)(s.ReplaceRemoteGateway("site-b", RemoteGateway{Name: "site-b", TunnelIP: "203.0.113.2"}))
	if !reflect.DeepEqual(g, RemoteGateway{Name: "site-b", TunnelIP: "203.0.113.2", TunnelIPs: []string{"203.0.113.2"}}) {
		t.Errorf("replaced gateway = %+v", g)
	}
	// Its old IP is free, its new one is taken.
	must[RemoteGateway](t)(s.CreateRemoteGateway(RemoteGateway{Name: "site-x", TunnelIP: "198.51.100.2"}))
	_, err := s.CreateRemoteGateway(RemoteGateway{Name: "site-y", TunnelIP: "203.0.113.2"})
	wantError(t, err, Conflict, At(FieldTunnelIP))
	// Keeping its own IP is no conflict.
	must[RemoteGateway](t)(s.ReplaceRemoteGateway("site-b", RemoteGateway{TunnelIP: "203.0.113.2"}))
}

func TestDeletesInUseThenFree(t *testing.T) {
	s := newState(t)
	fixture(t, s)
	e := wantError(t, s.DeleteNetwork("net-a"), InUse, nil)
	if !strings.Contains(e.Message, `"a-b", "a-c"`) {
		t.Errorf("in-use message %q does not name the connections", e.Message)
	}
	wantError(t, s.DeleteRemoteGateway("site-b"), InUse, nil)
	mustOK(t, s.DeleteConnection("a-b"))
	mustOK(t, s.DeleteConnection("b-b"))
	mustOK(t, s.DeleteRemoteGateway("site-b"))
	wantError(t, s.DeleteNetwork("net-a"), InUse, nil)
	mustOK(t, s.DeleteConnection("a-c"))
	mustOK(t, s.DeleteNetwork("net-a"))
	mustOK(t, s.DeleteNetwork("net-b"))
	mustOK(t, s.DeleteRemoteGateway("site-c"))
	snap := s.Snapshot()
	if len(snap.Networks)+len(snap.RemoteGateways)+len(snap.Connections)+len(snap.MACs) != 0 {
		t.Errorf("state not empty after deleting everything: %+v", snap)
	}
	// Everything deleted is free to create again, ports and tunnel IPs included.
	fixture(t, s)
}

func TestDeleteConnectionCascade(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	fixture(t, s)
	must[[]MACBinding](t)(s.AddMACs("a-b", manyBindings(500, 1)))
	mustOK(t, s.DeleteConnection("a-b"))
	if _, err := s.ListMACs("a-b"); err == nil {
		t.Fatal("ListMACs of a deleted connection succeeded")
	}
	if _, ok := s.Snapshot().MACs["a-b"]; ok {
		t.Error("snapshot still has bindings of the deleted connection")
	}
	// Its MACs and IPs are free in the network again, on another connection.
	must[[]MACBinding](t)(s.AddMACs("a-c", MACBindings{{MAC: "02:0b:00:00:00:01", IPs: []string{"192.0.2.21"}}}))
	must[[]MACBinding](t)(s.AddMACs("a-c", manyBindings(500, 1)))
	// A connection of the same name starts empty, also after a restart.
	must[Connection](t)(s.CreateConnection(Connection{Name: "a-b", Network: "net-b", RemoteGateway: "site-c", SegmentationID: 9}))
	s = reopen(t, s, dir)
	if got := must[[]MACBinding](t)(s.ListMACs("a-b")); len(got) != 0 {
		t.Errorf("recreated connection has %d bindings after restart, want 0", len(got))
	}
	if got := must[[]MACBinding](t)(s.ListMACs("a-c")); len(got) != 502 {
		t.Errorf("a-c has %d bindings after restart, want 502", len(got))
	}
}

// manyBindings returns n bindings with distinct MACs 02:aa:xx:xx:xx:xx and
// one IPv6 each from 2001:db8:aa::/48 (documentation), numbered from first.
func manyBindings(n, first int) MACBindings {
	out := make(MACBindings, n)
	for i := range out {
		v := first + i
		out[i] = MACBinding{
			MAC: fmt.Sprintf("02:aa:%02x:%02x:%02x:%02x", byte(v>>24), byte(v>>16), byte(v>>8), byte(v)),
			IPs: []string{fmt.Sprintf("2001:db8:aa::%x:%x", v>>16, v&0xffff)},
		}
	}
	return out
}

func TestAddMACsAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	fixture(t, s)
	before := s.Snapshot()
	batch := manyBindings(1000, 1)
	batch[999].MAC = "02:0c:00:00:00:01" // bound on a-c, same network
	_, err := s.AddMACs("a-b", batch)
	wantError(t, err, Conflict, At(FieldMACs).Index(999).Field(FieldMAC))
	batch[999] = MACBinding{MAC: "02:aa:00:00:10:00", IPs: []string{"192.0.2.21"}} // IP of 02:0b:00:00:00:01
	_, err = s.AddMACs("a-b", batch)
	wantError(t, err, Conflict, At(FieldMACs).Index(999).Field(FieldIPs).Index(0))
	if got := s.Snapshot(); !reflect.DeepEqual(got, before) {
		t.Fatal("a rejected batch changed the state")
	}
	// The first 999 are all free: the batch without the clash goes in whole.
	added := must[[]MACBinding](t)(s.AddMACs("a-b", batch[:999]))
	if len(added) != 999 {
		t.Fatalf("added %d bindings, want 999", len(added))
	}
	s = reopen(t, s, dir)
	if got := must[[]MACBinding](t)(s.ListMACs("a-b")); len(got) != 1000 {
		t.Errorf("a-b has %d bindings after restart, want 1000", len(got))
	}
}

func TestReplaceMACs(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir)
	defer func() { s.Close() }()
	fixture(t, s)
	must[[]MACBinding](t)(s.AddMACs("a-b", MACBindings{{MAC: "02:0b:00:00:00:03", IPs: []string{"192.0.2.23"}}}))
	old := must[[]MACBinding](t)(s.ListMACs("a-b"))
	keptID := old[0].ID // 02:0b:00:00:00:01

	// The new set may reuse the old set's MACs and move its IPs between MACs.
	got := must[[]MACBinding](t)(s.ReplaceMACs("a-b", MACBindings{
		{MAC: "02:0b:00:00:00:01", IPs: []string{"192.0.2.23"}},
		{MAC: "02:0b:00:00:00:04", IPs: []string{"192.0.2.21"}},
	}))
	if got[0].ID != keptID {
		t.Errorf("kept MAC changed ID %d → %d", keptID, got[0].ID)
	}
	if got[1].ID == 0 || got[1].ID == keptID || got[1].ID == old[1].ID {
		t.Errorf("new MAC got ID %d (kept %d, removed %d)", got[1].ID, keptID, old[1].ID)
	}
	list := must[[]MACBinding](t)(s.ListMACs("a-b"))
	if !reflect.DeepEqual(list, got) {
		t.Errorf("ListMACs = %+v, want %+v", list, got)
	}
	// The store holds the new set: a kept MAC with new IPs, a new MAC, and
	// not the removed one.
	before := s.Snapshot()
	mustOK(t, s.Close())
	s = openState(t, dir)
	if after := s.Snapshot(); !reflect.DeepEqual(after, before) {
		t.Fatalf("after restart:\n got %+v\nwant %+v", after.MACs, before.MACs)
	}
	// 02:0b:00:00:00:03 is gone from the network: another connection may bind it.
	must[[]MACBinding](t)(s.AddMACs("a-c", MACBindings{{MAC: "02:0b:00:00:00:03"}}))
	// The old IP→MAC pairs are gone: 192.0.2.21 now belongs to ...:04.
	_, err := s.AddMACs("a-c", MACBindings{{MAC: "02:0c:00:00:00:05", IPs: []string{"192.0.2.21"}}})
	e := wantError(t, err, Conflict, At(FieldMACs).Index(0).Field(FieldIPs).Index(0))
	if !strings.Contains(e.Message, "02:0b:00:00:00:04") {
		t.Errorf("message %q does not name the owning MAC", e.Message)
	}
	// An empty set clears it.
	if got := must[[]MACBinding](t)(s.ReplaceMACs("a-b", nil)); len(got) != 0 {
		t.Errorf("ReplaceMACs(nil) returned %v", got)
	}
	if got := must[[]MACBinding](t)(s.ListMACs("a-b")); len(got) != 0 {
		t.Errorf("after clearing, ListMACs = %v", got)
	}
	must[[]MACBinding](t)(s.AddMACs("a-c", MACBindings{{MAC: "02:0b:00:00:00:01", IPs: []string{"192.0.2.23"}}}))
}

func TestSnapshotIsDeepCopy(t *testing.T) {
	s := newState(t)
	fixture(t, s)
	snap := s.Snapshot()
	snap.Networks[0].Attachments[0].Port = "changed"
	snap.MACs["a-b"][0].IPs[0] = "changed"
	snap.MACs["a-b"][0].MAC = "changed"
	list := must[[]MACBinding](t)(s.ListMACs("a-b"))
	list[0].IPs[0] = "changed"
	n := must[Network](t)(s.GetNetwork("net-a"))
	n.Attachments[0].Port = "changed"
	again := s.Snapshot()
	if again.Networks[0].Attachments[0].Port != "eth1" || again.MACs["a-b"][0].IPs[0] != "192.0.2.21" || again.MACs["a-b"][0].MAC != "02:0b:00:00:00:01" {
		t.Errorf("changing a returned copy changed the state: %+v", again)
	}
	if len(again.MACs) != 3 {
		t.Errorf("snapshot MACs has %d connections, want 3", len(again.MACs))
	}
	for _, n := range again.Networks {
		if n.ID == 0 {
			t.Errorf("network %s without ID in snapshot", n.Name)
		}
	}
	for _, c := range again.Connections {
		if c.ID == 0 {
			t.Errorf("connection %s without ID in snapshot", c.Name)
		}
	}
}

func TestListsSortedAndNotNull(t *testing.T) {
	s := newState(t)
	if s.ListNetworks() == nil || s.ListRemoteGateways() == nil || s.ListConnections() == nil {
		t.Error("empty lists are nil, want empty slices (JSON [])")
	}
	for _, name := range []string{"zz", "aa", "mm"} {
		must[Network](t)(s.CreateNetwork(Network{Name: name}))
	}
	var names []string
	for _, n := range s.ListNetworks() {
		names = append(names, n.Name)
	}
	if fmt.Sprint(names) != "[aa mm zz]" {
		t.Errorf("ListNetworks order = %v", names)
	}
}

func TestIDs(t *testing.T) {
	s := newState(t)
	fixture(t, s)
	seen := map[uint32]string{}
	for _, n := range s.ListNetworks() {
		if n.ID < 1 || n.ID >= 1<<24 || seen[n.ID] != "" {
			t.Errorf("network %s: bad or duplicate ID %d", n.Name, n.ID)
		}
		seen[n.ID] = n.Name
	}
	clear(seen)
	for _, c := range s.ListConnections() {
		if c.ID < 1 || c.ID >= 1<<24 || seen[c.ID] != "" {
			t.Errorf("connection %s: bad or duplicate ID %d", c.Name, c.ID)
		}
		seen[c.ID] = c.Name
	}
	// A freed ID is not handed out again straight away.
	b := must[Network](t)(s.GetNetwork("net-b"))
	mustOK(t, s.DeleteConnection("b-b"))
	mustOK(t, s.DeleteNetwork("net-b"))
	n := must[Network](t)(s.CreateNetwork(Network{Name: "net-b"}))
	if n.ID == b.ID {
		t.Errorf("recreated network reused freed ID %d at once", n.ID)
	}
}

func TestIDSpaceWrapsAround(t *testing.T) {
	ids := newIDSpace(kindMAC)
	ids.next.Store(maxObjectID - 1)
	ids.mark(maxObjectID)
	ids.mark(1)
	got, next, err := ids.allocate(3)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint([]uint32{maxObjectID - 1, 2, 3}) || next != 4 {
		t.Errorf("allocate(3) = %v next %d, want [%d 2 3] next 4", got, next, maxObjectID-1)
	}
}
