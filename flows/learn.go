package flows

import "encoding/binary"

// learnSpec is one field of a learn action: match (dst == src in the
// learned flow) or load (dst := src when the learned flow runs).
type learnSpec struct {
	load     bool
	src, dst string
	nBits    uint16
}

// Learn spec header bits (nx_learn_spec: src type bit 13, dst type bits 11-12).
const (
	learnSpecLoad = 1 << 11
)

// learnAction builds a NXAST_LEARN action that adds flows to table at
// priority with cookie, expiring after idle seconds without traffic.
func learnAction(table uint8, priority, idle uint16, cookie uint64, specs ...learnSpec) action {
	n := 32 + 14*len(specs)
	a := nxAction(16, pad8(n)) // NXAST_LEARN
	a = binary.BigEndian.AppendUint16(a, idle)
	a = binary.BigEndian.AppendUint16(a, 0) // hard timeout
	a = binary.BigEndian.AppendUint16(a, priority)
	a = binary.BigEndian.AppendUint64(a, cookie)
	a = binary.BigEndian.AppendUint16(a, 0) // flags
	a = append(a, table, 0)
	a = append(a, 0, 0, 0, 0) // fin idle and hard timeouts
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

// learnLocal learns the packet's source MAC in its network toward its
// ingress port:
//
//	learn(table=l2_lookup, priority=100, NXM_NX_REG6[], NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],
//	      load:NXM_OF_IN_PORT[]->NXM_NX_REG7[0..15])
func learnLocal(networkID uint32, idle uint16) action {
	return learnAction(TableL2Lookup, PriorityLearned, idle, LearnedCookie(networkID),
		learnSpec{src: "NXM_NX_REG6", dst: "NXM_NX_REG6", nBits: 32},
		learnSpec{src: "NXM_OF_ETH_SRC", dst: "NXM_OF_ETH_DST", nBits: 48},
		learnSpec{load: true, src: "NXM_OF_IN_PORT", dst: "NXM_NX_REG7", nBits: 16},
	)
}

// learnRemote learns the packet's source MAC in its network toward the
// gateway it came from: the learned flow sets tun_dst to the packet's
// tun_src, keeps its tunnel key and outputs to its tunnel port.
func learnRemote(networkID uint32, idle uint16) action {
	return learnAction(TableL2Lookup, PriorityLearned, idle, LearnedCookie(networkID),
		learnSpec{src: "NXM_NX_REG6", dst: "NXM_NX_REG6", nBits: 32},
		learnSpec{src: "NXM_OF_ETH_SRC", dst: "NXM_OF_ETH_DST", nBits: 48},
		learnSpec{load: true, src: "NXM_NX_TUN_IPV4_SRC", dst: "NXM_NX_TUN_IPV4_DST", nBits: 32},
		learnSpec{load: true, src: "NXM_NX_TUN_ID", dst: "NXM_NX_TUN_ID", nBits: 64},
		learnSpec{load: true, src: "NXM_OF_IN_PORT", dst: "NXM_NX_REG7", nBits: 16},
	)
}
