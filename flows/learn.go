package flows

import "github.com/contiv/libOpenflow/openflow13"

// learnSpec is one field of a learn action: match (dst == src in the
// learned flow) or load (dst := src when the learned flow runs).
type learnSpec struct {
	load     bool
	src, dst string
	nBits    uint16
}

// learnAction builds a NXAST_LEARN action that adds flows to table at
// priority with cookie, expiring after idle seconds without traffic.
func learnAction(table uint8, priority, idle uint16, cookie uint64, specs ...learnSpec) openflow13.Action {
	a := openflow13.NewNXActionLearn()
	a.TableID = table
	a.Priority = priority
	a.IdleTimeout = idle
	a.Cookie = cookie
	for _, s := range specs {
		header := openflow13.NewLearnHeaderMatchFromField(s.nBits)
		if s.load {
			header = openflow13.NewLearnHeaderLoadFromField(s.nBits)
		}
		a.LearnSpecs = append(a.LearnSpecs, &openflow13.NXLearnSpec{
			Header:   header,
			SrcField: &openflow13.NXLearnSpecField{Field: nxmField(s.src)},
			DstField: &openflow13.NXLearnSpecField{Field: nxmField(s.dst)},
		})
	}
	a.Length = a.Len()
	return a
}

// learnLocal learns the packet's source MAC in its network toward its
// ingress port:
//
//	learn(table=l2_lookup, priority=100, NXM_NX_REG6[], NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],
//	      load:NXM_OF_IN_PORT[]->NXM_NX_REG7[0..15])
func learnLocal(networkID uint32, idle uint16) openflow13.Action {
	return learnAction(TableL2Lookup, PriorityLearned, idle, LearnedCookie(networkID),
		learnSpec{src: "NXM_NX_REG6", dst: "NXM_NX_REG6", nBits: 32},
		learnSpec{src: "NXM_OF_ETH_SRC", dst: "NXM_OF_ETH_DST", nBits: 48},
		learnSpec{load: true, src: "NXM_OF_IN_PORT", dst: "NXM_NX_REG7", nBits: 16},
	)
}

// learnRemote learns the packet's source MAC in its network toward the
// gateway it came from: the learned flow sets tun_dst to the packet's
// tun_src, keeps its tunnel key and outputs to its tunnel port.
func learnRemote(networkID uint32, idle uint16) openflow13.Action {
	return learnAction(TableL2Lookup, PriorityLearned, idle, LearnedCookie(networkID),
		learnSpec{src: "NXM_NX_REG6", dst: "NXM_NX_REG6", nBits: 32},
		learnSpec{src: "NXM_OF_ETH_SRC", dst: "NXM_OF_ETH_DST", nBits: 48},
		learnSpec{load: true, src: "NXM_NX_TUN_IPV4_SRC", dst: "NXM_NX_TUN_IPV4_DST", nBits: 32},
		learnSpec{load: true, src: "NXM_NX_TUN_ID", dst: "NXM_NX_TUN_ID", nBits: 64},
		learnSpec{load: true, src: "NXM_OF_IN_PORT", dst: "NXM_NX_REG7", nBits: 16},
	)
}
