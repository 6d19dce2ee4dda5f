package flows

import (
	"bytes"
	"fmt"
	"net"
	"testing"

	"github.com/contiv/libOpenflow/openflow13"
)

func TestNDResponderHasTheCanonicalShape(t *testing.T) {
	target := net.ParseIP("2001:db8::21")
	f := ndResponder(1, mac("02:0b:00:00:00:01"), target, Owner{Kind: KindBinding, ID: 1})
	instrs := parseInstructions(t, f.Instructions)
	var kinds []string
	for _, a := range instrs[0].actions {
		kinds = append(kinds, fmt.Sprintf("%d/%d", a.typ, a.subtype))
	}
	// move eth_src→eth_dst, set eth_src
	if got, want := fmt.Sprint(kinds), "[65535/6 25/0]"; got != want {
		t.Fatalf("responder actions %s, want %s", got, want)
	}
	if instrs[1].typ != openflow13.InstrType_GOTO_TABLE || instrs[1].table != TableNDAdvertise {
		t.Fatalf("responder goes to %d, want nd_advertise", instrs[1].table)
	}
	var matched []string
	for _, m := range parseWireMatch(t, f.Match) {
		matched = append(matched, fieldKeyName(uint32(m.class)<<7|uint32(m.field)))
		if m.field == openflow13.OXM_FIELD_IPV6_ND_TARGET && !bytes.Equal(m.value, target) {
			t.Errorf("responder matches nd_target %x, want %v", m.value, target)
		}
	}
	if got, want := fmt.Sprint(matched), "[reg6 reg5 eth_type ip_proto icmpv6_type nd_target]"; got != want {
		t.Fatalf("responder matches %s, want %s", got, want)
	}
}

// TestNDMatchEncodingMatchesLibOpenflow checks the solicitation match
// against libOpenflow's encoding of the fields it knows (nd_reserved and
// nd_options_type, which it does not, are checked by OVS in
// TestNeighborSolicitationsAnsweredOnOVS).
func TestNDMatchEncodingMatchesLibOpenflow(t *testing.T) {
	target := net.ParseIP("2001:db8::21")
	icmpType, _ := openflow13.FindFieldHeaderByName("OXM_OF_ICMPV6_TYPE", false)
	icmpType.Value = &openflow13.IcmpTypeField{Type: icmpv6NeighborSolicit}
	ndTarget, _ := openflow13.FindFieldHeaderByName("OXM_OF_IPV6_ND_TARGET", false)
	ndTarget.Value = &openflow13.Ipv6DstField{Ipv6Dst: target}
	want := bytes.Join([][]byte{
		libField(openflow13.NewEthTypeField(0x86dd)),
		libField(openflow13.NewIpProtoField(58)),
		libField(icmpType),
		libField(ndTarget),
	}, nil)
	if got := bytes.Join(sliceOf(matchNeighborSolicit(target)), nil); !bytes.Equal(got, want) {
		t.Fatalf("solicitation match\n got %x\nwant %x", got, want)
	}
}

func sliceOf(fs []field) [][]byte {
	out := make([][]byte, len(fs))
	for i, f := range fs {
		out[i] = f
	}
	return out
}
