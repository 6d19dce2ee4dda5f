package flows

import (
	"encoding/binary"

	"github.com/contiv/libOpenflow/openflow13"
)

// learnSpec is one field of a learn action: match (dst == src in the
// learned flow) or load (dst := src when the learned flow runs).
type learnSpec struct {
	load     bool
	src, dst string
	nBits    uint16
}

// Learn spec header bits (nx_learn_spec: src type bit 13, dst type bits
// 11-12, the number of bits in the others).
const (
	learnSpecLoad      = 1 << 11
	learnSpecOutput    = 2 << 11
	learnSpecDstMask   = 3 << 11
	learnSpecImmediate = 1 << 13
	learnSpecBits      = 1<<11 - 1
)

// nxastLearn2 is the subtype of NXAST_LEARN2 (OVS 2.8+), a learn action
// with a limit on the flows it may have in its table; libOpenflow does not
// know it.
const nxastLearn2 = 45

// Sizes of nx_action_learn and nx_action_learn2 before their specs.
const (
	learnFixedLen  = 32
	learn2FixedLen = 40
)

// learnAction builds a learn action that adds flows to table at priority
// with cookie, expiring after idle seconds without traffic. With a limit
// (non-zero) it is a NXAST_LEARN2 that adds no flow while table holds limit
// flows with cookie, otherwise a NXAST_LEARN: the encoding OVS itself
// chooses, so a dump shows the same action back.
//
// NXAST_LEARN2 is nx_action_learn followed by limit (32 bits),
// result_dst_ofs (16 bits, 0: no result is written) and 16 bits of
// padding, then the specs.
func learnAction(table uint8, priority, idle uint16, limit uint32, cookie uint64, specs ...learnSpec) action {
	fixed, subtype := learnFixedLen, uint16(openflow13.NXAST_LEARN)
	if limit != 0 {
		fixed, subtype = learn2FixedLen, nxastLearn2
	}
	a := nxAction(subtype, pad8(fixed+14*len(specs)))
	a = binary.BigEndian.AppendUint16(a, idle)
	a = binary.BigEndian.AppendUint16(a, 0) // hard timeout
	a = binary.BigEndian.AppendUint16(a, priority)
	a = binary.BigEndian.AppendUint64(a, cookie)
	a = binary.BigEndian.AppendUint16(a, 0) // flags
	a = append(a, table, 0)
	a = append(a, 0, 0, 0, 0) // fin idle and hard timeouts
	if limit != 0 {
		a = binary.BigEndian.AppendUint32(a, limit)
		a = append(a, 0, 0, 0, 0) // result_dst_ofs, pad
	}
	for _, s := range specs {
		header := s.nBits
		if s.load {
			header |= learnSpecLoad
		}
		a = binary.BigEndian.AppendUint16(a, header)
		a = binary.BigEndian.AppendUint32(a, fieldHeader(s.src))
		a = append(a, 0, 0)
		a = binary.BigEndian.AppendUint32(a, fieldHeader(s.dst))
		a = append(a, 0, 0)
	}
	return a[:cap(a)]
}

// LearnedConnectionCookie is the cookie OVS gives entries learned from
// connection id's gateway. OVS counts a learn action's limit over the flows
// of its table with its cookie, so each connection's own cookie is what
// makes the limit one per (network, gateway).
func LearnedConnectionCookie(connectionID uint32) uint64 {
	return TagLearned<<tagShift | uint64(KindConnection)<<kindShift | uint64(connectionID&MaxOwnerID)<<ownerShift
}

// learnLocal learns the packet's source MAC in its network toward its
// ingress port:
//
//	learn(table=l2_lookup, priority=100, NXM_NX_REG6[], NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],
//	      load:NXM_OF_IN_PORT[]->NXM_NX_REG7[0..15])
func learnLocal(networkID uint32, idle uint16) action {
	return learnAction(TableL2Lookup, PriorityLearned, idle, 0, LearnedCookie(networkID),
		learnSpec{src: "NXM_NX_REG6", dst: "NXM_NX_REG6", nBits: 32},
		learnSpec{src: "NXM_OF_ETH_SRC", dst: "NXM_OF_ETH_DST", nBits: 48},
		learnSpec{load: true, src: "NXM_OF_IN_PORT", dst: "NXM_NX_REG7", nBits: 16},
	)
}

// learnRemote learns the packet's source MAC in its network toward the
// gateway of connection connectionID, which it came from: the learned flow
// sets tun_dst to the packet's tun_src, keeps its tunnel key and outputs to
// its tunnel port. It learns no more than limit MACs from that gateway at
// once (LearnedConnectionCookie); past it, traffic to a new MAC is flooded
// until an entry idles out.
//
//	learn(table=l2_lookup, priority=100, cookie=LearnedConnectionCookie, limit=LIMIT,
//	      NXM_NX_REG6[], NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],
//	      load:NXM_NX_TUN_IPV4_SRC[]->NXM_NX_TUN_IPV4_DST[], load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],
//	      load:NXM_OF_IN_PORT[]->NXM_NX_REG7[0..15])
func learnRemote(connectionID uint32, idle uint16, limit uint32) action {
	return learnAction(TableL2Lookup, PriorityLearned, idle, limit, LearnedConnectionCookie(connectionID),
		learnSpec{src: "NXM_NX_REG6", dst: "NXM_NX_REG6", nBits: 32},
		learnSpec{src: "NXM_OF_ETH_SRC", dst: "NXM_OF_ETH_DST", nBits: 48},
		learnSpec{load: true, src: "NXM_NX_TUN_IPV4_SRC", dst: "NXM_NX_TUN_IPV4_DST", nBits: 32},
		learnSpec{load: true, src: "NXM_NX_TUN_ID", dst: "NXM_NX_TUN_ID", nBits: 64},
		learnSpec{load: true, src: "NXM_OF_IN_PORT", dst: "NXM_NX_REG7", nBits: 16},
	)
}
