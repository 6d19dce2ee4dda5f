package flows

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/contiv/libOpenflow/openflow13"
)

// testGroupID is an l2gwd group ID of the tests: a network's.
func testGroupID(id uint32) uint32 { return GroupID(Owner{Kind: KindNetwork, ID: id}) }

// failoverGroup is a fast-failover group toward two tunnel endpoints,
// watching a port each.
func failoverGroup(t *testing.T, id, watch1, watch2, tunnel uint32, ip1, ip2 string) *Group {
	t.Helper()
	g, err := NewGroup(id, GroupFastFailover,
		TunnelBucket(watch1, tunnel, net.ParseIP(ip1)), TunnelBucket(watch2, tunnel, net.ParseIP(ip2)))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestGroupModEncoding checks a fast-failover group_mod against
// libOpenflow's encoding of the same group.
func TestGroupModEncoding(t *testing.T) {
	id := testGroupID(7)
	g := failoverGroup(t, id, 11, 12, 3, "198.51.100.1", "198.51.100.11")
	ref := openflow13.NewGroupMod()
	ref.GroupId, ref.Type, ref.Command = id, openflow13.OFPGT_FF, openflow13.OFPGC_MODIFY
	for _, b := range []struct {
		watch uint32
		ip    string
	}{{11, "198.51.100.1"}, {12, "198.51.100.11"}} {
		bkt := openflow13.NewBucket()
		bkt.WatchPort = b.watch
		bkt.AddAction(openflow13.NewActionSetField(*openflow13.NewTunnelIpv4DstField(net.ParseIP(b.ip).To4(), nil)))
		bkt.AddAction(openflow13.NewActionOutput(3))
		ref.AddBucket(*bkt)
	}
	want := marshal(t, ref)
	binary.BigEndian.PutUint32(want[4:], 0) // xids are set when sent
	if got := g.mod(openflow13.OFPGC_MODIFY); !bytes.Equal(got, want) {
		t.Fatalf("group_mod:\n got %x\nwant %x", got, want)
	}

	del := openflow13.NewGroupMod()
	del.GroupId, del.Command = id, openflow13.OFPGC_DELETE
	want = marshal(t, del)
	binary.BigEndian.PutUint32(want[4:], 0)
	if got := groupDeleteMod(id); !bytes.Equal(got, want) {
		t.Fatalf("group delete:\n got %x\nwant %x", got, want)
	}
}

func TestTunnelBucketToAnIPv6Endpoint(t *testing.T) {
	ip := net.ParseIP("2001:db8::1")
	b := TunnelBucket(5, 3, ip)
	want := slices.Concat(tunDstCleared, setField(tlv(hdrTunIPv6D, ip.To16(), nil)), output(3))
	if !bytes.Equal(b.actions, want) || b.watchPort != 5 {
		t.Fatalf("IPv6 bucket: watch %d, actions %x; want watch 5, actions %x", b.watchPort, b.actions, want)
	}
}

func TestNewGroupRefusesWhatOVSWouldNotTakeOrIsNotL2gwds(t *testing.T) {
	ip := net.ParseIP("198.51.100.1")
	big := make([]Bucket, 2000)
	for i := range big {
		big[i] = TunnelBucket(uint32(i+1), 3, ip)
	}
	for _, tc := range []struct {
		name    string
		id      uint32
		typ     GroupType
		buckets []Bucket
		want    string
	}{
		{"foreign ID", 1, GroupFastFailover, []Bucket{TunnelBucket(1, 3, ip)}, "not an l2gwd group ID"},
		{"select", testGroupID(1), GroupType(openflow13.OFPGT_SELECT), nil, "unsupported group type"},
		{"unwatched failover bucket", testGroupID(1), GroupFastFailover, []Bucket{TunnelBucket(0, 3, ip)}, "watches no port"},
		{"failover bucket watching ANY", testGroupID(1), GroupFastFailover, []Bucket{TunnelBucket(openflow13.P_ANY, 3, ip)}, "watches no port"},
		{"indirect with two buckets", testGroupID(1), GroupIndirect, []Bucket{TunnelBucket(1, 3, ip), TunnelBucket(2, 3, ip)}, "one bucket"},
		{"too large", testGroupID(1), GroupFastFailover, big, "over OpenFlow's limit"},
	} {
		if _, err := NewGroup(tc.id, tc.typ, tc.buckets...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewGroup: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	// Only fast-failover buckets watch a port.
	g, err := NewGroup(testGroupID(1), GroupAll, TunnelBucket(0, 3, ip))
	if err != nil {
		t.Fatal(err)
	}
	if watch := binary.BigEndian.Uint32(g.buckets[4:]); watch != openflow13.P_ANY {
		t.Fatalf("bucket of an all group watches %d, want OFPP_ANY", watch)
	}
}

func TestGroupIDsAreTheOwnersCookiePrefix(t *testing.T) {
	o := Owner{Kind: KindConnection, ID: 0x123456, Origin: OriginEVPN}
	if id := GroupID(o); id != 0xD2123456 || !IsControllerGroup(id) {
		t.Fatalf("GroupID(%v) = %#x (l2gwd's: %t), want 0xd2123456, l2gwd's", o, id, IsControllerGroup(id))
	}
	for _, id := range []uint32{1, 0x5000_0001, openflow13.OFPG_MAX, openflow13.OFPG_ALL} {
		if IsControllerGroup(id) {
			t.Errorf("group %#x counts as l2gwd's", id)
		}
	}
}

func TestDiffGroupsSendsOnlyTheDifference(t *testing.T) {
	same := failoverGroup(t, testGroupID(1), 1, 2, 3, "198.51.100.1", "198.51.100.11")
	changed := failoverGroup(t, testGroupID(2), 1, 2, 3, "198.51.100.2", "198.51.100.12")
	was := failoverGroup(t, testGroupID(2), 2, 1, 3, "198.51.100.12", "198.51.100.2") // buckets swapped
	added := failoverGroup(t, testGroupID(3), 1, 2, 3, "198.51.100.3", "198.51.100.13")
	gone := failoverGroup(t, testGroupID(4), 1, 2, 3, "198.51.100.4", "198.51.100.14")
	retyped, err := NewGroup(testGroupID(5), GroupAll, TunnelBucket(1, 3, net.ParseIP("198.51.100.5")))
	if err != nil {
		t.Fatal(err)
	}
	wasFailover := failoverGroup(t, testGroupID(5), 1, 2, 3, "198.51.100.5", "198.51.100.15")
	// The installed copy of same is a dump's, not the same object.
	dumped := &Group{id: same.id, typ: same.typ, buckets: slices.Clone(same.buckets)}

	c := DiffGroups(GroupSet{same.id: same, changed.id: changed, added.id: added, retyped.id: retyped},
		GroupSet{same.id: dumped, changed.id: was, gone.id: gone, retyped.id: wasFailover})
	if len(c.Add) != 1 || c.Add[0] != added {
		t.Errorf("adds: %v, want %v", c.Add, added)
	}
	if len(c.Modify) != 2 || c.Modify[0] != changed || c.Modify[1] != retyped {
		t.Errorf("modifies: %v, want %v and %v", c.Modify, changed, retyped)
	}
	if !slices.Equal(c.Delete, []uint32{gone.id}) {
		t.Errorf("deletes: %#x, want %#x", c.Delete, gone.id)
	}
	if c := DiffGroups(GroupSet{same.id: same}, GroupSet{same.id: dumped}); !c.Empty() {
		t.Errorf("an unchanged group makes changes: %+v", c)
	}
}

// TestAroundOrdersGroupsAroundFlows: no flow of the bundle ever points to
// a group that is not there yet or no longer.
func TestAroundOrdersGroupsAroundFlows(t *testing.T) {
	added := failoverGroup(t, testGroupID(3), 1, 2, 3, "198.51.100.3", "198.51.100.13")
	changed := failoverGroup(t, testGroupID(2), 1, 2, 3, "198.51.100.2", "198.51.100.12")
	f := flow(TableClassifier, 10).match(matchInPort(4)).apply(groupAction(added.id)).done(Owner{})
	c := GroupChanges{Add: []*Group{added}, Modify: []*Group{changed}, Delete: []uint32{testGroupID(4)}}
	var got []string
	err := c.Around(ModList([]Mod{f.AddMod(), DeleteCookieMod(1)}))(func(m Mod) bool {
		if !m.wellFormed() {
			t.Fatalf("malformed mod %x", m)
		}
		got = append(got, newSentMod(m).String())
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"group 0xa1000003, command 0", // add
		"group 0xa1000002, command 1", // modify
		fmt.Sprintf("table 0, priority 10, cookie %#x", f.Cookie),
		"table 255, priority 0, cookie 0x1",
		"group 0xa1000004, command 2", // delete
	}
	if !slices.Equal(got, want) {
		t.Fatalf("bundle:\n got %q\nwant %q", got, want)
	}
	// A source that stops early stops the whole bundle.
	n := 0
	c.Around(ModList([]Mod{f.AddMod(), DeleteCookieMod(1)}))(func(Mod) bool { n++; return n < 3 })
	if n != 3 {
		t.Fatalf("emit called %d times after it returned false at 3", n)
	}
}

// groupDescReply encodes a group-description reply part of groups.
func groupDescReply(t *testing.T, xid uint32, more bool, groups ...*Group) []byte {
	t.Helper()
	b := []byte{openflow13.VERSION, openflow13.Type_MultiPartReply, 0, 0}
	b = binary.BigEndian.AppendUint32(b, xid)
	b = binary.BigEndian.AppendUint16(b, openflow13.MultipartType_GroupDesc)
	flags := uint16(0)
	if more {
		flags = openflow13.OFPMPF_REPLY_MORE
	}
	b = binary.BigEndian.AppendUint16(b, flags)
	b = append(b, 0, 0, 0, 0)
	for _, g := range groups {
		b = append(b, marshal(t, &groupDesc{*g})...)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

func TestGroupDescRepliesParseBackToTheirGroups(t *testing.T) {
	g1 := failoverGroup(t, testGroupID(1), 1, 2, 3, "198.51.100.1", "198.51.100.11")
	g2, err := NewGroup(testGroupID(2), GroupIndirect, TunnelBucket(0, 3, net.ParseIP("2001:db8::2")))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := openflow13Parser{}.Parse(groupDescReply(t, 9, true, g1, g2))
	if err != nil {
		t.Fatal(err)
	}
	rep := msg.(*openflow13.MultipartReply)
	if rep.Xid != 9 || rep.Flags != openflow13.OFPMPF_REPLY_MORE || len(rep.Body) != 2 {
		t.Fatalf("reply: xid %d, flags %d, %d entries; want 9, REPLY_MORE, 2", rep.Xid, rep.Flags, len(rep.Body))
	}
	for i, want := range []*Group{g1, g2} {
		if got := &rep.Body[i].(*groupDesc).Group; !got.same(want) {
			t.Errorf("entry %d: %v, want %v", i, got, want)
		}
	}
	// Lengths that do not add up are refused, not trusted.
	good := groupDescReply(t, 9, false, g1)
	for name, bad := range map[string][]byte{
		"entry longer than the reply": func() []byte { b := slices.Clone(good); b[16+1]++; return b }(),
		"entry shorter than its header": func() []byte {
			b := slices.Clone(good)
			binary.BigEndian.PutUint16(b[16:], 4)
			return b
		}(),
		"bucket longer than its entry": func() []byte { b := slices.Clone(good); b[16+8+1] = 0xff; return b }(),
		"truncated reply":              good[:len(good)-3],
	} {
		if _, err := parseGroupDescReply(bad); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// TestGroupGuardDropsOfctlsDeleteOfEveryGroup: the group_mod ofctl's
// initFgraph sends, built as it builds it, never reaches the switch; any
// other message does.
func TestGroupGuardDropsOfctlsDeleteOfEveryGroup(t *testing.T) {
	all := openflow13.NewGroupMod()
	all.GroupId, all.Command, all.Type = openflow13.OFPG_ALL, openflow13.OFPGC_DELETE, openflow13.OFPGT_ALL
	one := openflow13.NewGroupMod()
	one.GroupId, one.Command = testGroupID(1), openflow13.OFPGC_DELETE
	echo := openflow13.NewEchoRequest()

	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	guard := groupGuard{client}
	got := make(chan []byte)
	go func() {
		var b []byte
		buf := make([]byte, 1024)
		for {
			n, err := server.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil || bytes.Contains(b, marshal(t, echo)) {
				got <- b
				return
			}
		}
	}()
	for _, m := range [][]byte{marshal(t, all), marshal(t, one), marshal(t, echo)} {
		if n, err := guard.Write(m); n != len(m) || err != nil {
			t.Fatalf("Write: %d, %v; want %d, nil", n, err, len(m))
		}
	}
	want := slices.Concat(marshal(t, one), marshal(t, echo))
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("the switch read %x, want %x (the delete of one group and the echo)", b, want)
	}
}

// TestGroupDumpIsCompleteOnlyWithEveryPart: parts parsed out of order
// complete the dump only once every part the switch sent is in, however
// early the final one is parsed.
func TestGroupDumpIsCompleteOnlyWithEveryPart(t *testing.T) {
	g := failoverGroup(t, testGroupID(1), 1, 2, 3, "198.51.100.1", "198.51.100.11")
	tap := &inboundTap{onError: func(switchError) {}}
	r := newReplyParts(openflow13.MultipartType_GroupDesc)
	tap.onPart = func(xid uint32, final bool) {
		if xid == 9 {
			r.seen(final)
		}
	}
	parts := [][]byte{groupDescReply(t, 9, true, g), groupDescReply(t, 9, true, g), groupDescReply(t, 9, false, g)}
	tap.scan(slices.Concat(parts...)) // read off the connection in order, in one read
	parse := func(b []byte) {
		m, err := openflow13Parser{}.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		r.add(m.(*openflow13.MultipartReply))
	}
	parse(parts[2]) // the final part first
	parse(parts[0])
	if r.complete() {
		t.Fatal("complete with 2 of 3 parts")
	}
	parse(parts[1])
	if !r.complete() {
		t.Fatalf("not complete with every part: %v", r.shortfall())
	}
}

func TestBundleAddCarriesAGroupMod(t *testing.T) {
	g := failoverGroup(t, testGroupID(1), 1, 2, 3, "198.51.100.1", "198.51.100.11")
	m := g.mod(openflow13.OFPGC_ADD)
	b, err := appendBundleAdd(nil, 7, bundleFlags, 42, m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[bundleAddHeaderLen:], m) || binary.BigEndian.Uint32(m[4:]) != 42 {
		t.Fatalf("bundle add %x does not carry the group_mod with xid 42", b)
	}
	if _, err := appendBundleAdd(nil, 7, bundleFlags, 42, m[:groupModFixedLen-1]); err == nil {
		t.Fatal("a truncated group_mod went into a bundle add")
	}
}
