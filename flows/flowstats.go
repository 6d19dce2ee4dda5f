package flows

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/contiv/libOpenflow/common"
	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/libOpenflow/util"
)

// openflow13Parser parses the switch's OpenFlow 1.3 messages:
// group-description replies itself (see parseGroupDescReply), flow-stats
// replies (decoded as read, see Session.Dump), flow monitor replies and
// packet-ins not at all (the session reads them in order off the
// connection, see inboundTap), nor the "meter exists" error the snooping
// meter's idempotent add expects (snoop.go), which ofctrl would log;
// everything else with libOpenflow.
type openflow13Parser struct{}

// Parse decodes one message. It runs on libOpenflow's parser goroutines and
// must not keep b, which is reused.
func (openflow13Parser) Parse(b []byte) (util.Message, error) {
	if isPacketIn(b) || isMeterExistsError(b) {
		// ofctrl ignores a bare header of these types.
		var h common.Header
		return &h, h.UnmarshalBinary(b)
	}
	if len(b) >= multipartHeaderLen && b[1] == openflow13.Type_MultiPartReply {
		switch binary.BigEndian.Uint16(b[8:10]) {
		case openflow13.MultipartType_Flow, openflow13.MultipartType_Experimenter:
			// A flow dump's parts are decoded as they are read (Session.Dump):
			// these come late, for a dump that gave up. libOpenflow's decoders
			// panic on actions and experimenter replies they do not know: hand
			// ofctrl the header only.
			rep := &openflow13.MultipartReply{Type: binary.BigEndian.Uint16(b[8:10]),
				Flags: binary.BigEndian.Uint16(b[10:12])}
			return rep, rep.Header.UnmarshalBinary(b)
		case openflow13.MultipartType_GroupDesc:
			return parseGroupDescReply(b)
		}
	}
	return openflow13.Parse(b)
}

// Sizes of the fixed parts of the messages parseFlowStatsReply reads.
const (
	multipartHeaderLen = 16 // ofp_header, type, flags, pad
	flowStatsLen       = 48 // ofp_flow_stats before its match
)

// decodeFlowStats decodes one ofp_flow_stats entry into what a dump
// reports of it: its fixed fields, whether its content still hashes to its
// cookie and, for learned entries, the eth_dst of its match and its learned
// port; no other match field or instruction (2,000,000 flows' matches
// would cost hundreds of megabytes to decode). It returns the entry's
// length and allocates nothing.
//
// libOpenflow's own decoder also loses MAC and IPv6 addresses (it copies
// them into nil slices), and panics on actions and match fields it does not
// know.
func decodeFlowStats(b []byte) (DumpedFlow, int, error) {
	if len(b) < flowStatsLen+4 {
		return DumpedFlow{}, 0, fmt.Errorf("%d bytes, too short", len(b))
	}
	n := int(binary.BigEndian.Uint16(b[0:2]))
	if n < flowStatsLen+4 || n > len(b) {
		return DumpedFlow{}, 0, fmt.Errorf("length %d, have %d bytes", n, len(b))
	}
	l := int(binary.BigEndian.Uint16(b[flowStatsLen+2 : flowStatsLen+4]))
	if l < 4 || flowStatsLen+l > n {
		return DumpedFlow{}, 0, fmt.Errorf("match of length %d in an entry of %d bytes", l, n)
	}
	ins := flowStatsLen + pad8(l)
	if ins > n {
		return DumpedFlow{}, 0, fmt.Errorf("match of length %d padded past an entry of %d bytes", l, n)
	}
	f := DumpedFlow{
		Table:       b[2],
		Duration:    time.Duration(binary.BigEndian.Uint32(b[4:8]))*time.Second + time.Duration(binary.BigEndian.Uint32(b[8:12])),
		Priority:    binary.BigEndian.Uint16(b[12:14]),
		Cookie:      binary.BigEndian.Uint64(b[24:32]),
		LearnedPort: uint32(learnedPort(b[ins:n])),
	}
	f.EthDst, f.HasEthDst = oxmEthDst(b[flowStatsLen+4 : flowStatsLen+l])
	if computedTag(f.Cookie) {
		f.Altered = contentHashOf(f.Table, f.Priority, b[flowStatsLen:ins], b[ins:n]) != uint32(f.Cookie)
	}
	return f, n, nil
}

// reg7Header is NXM_NX_REG7's header, where a learned entry loads its
// output port.
var reg7Header = fieldHeader("NXM_NX_REG7")

// learnedPort returns the port a learned entry loads into reg7[0..15]
// (learnLocal's load:NXM_OF_IN_PORT[]->NXM_NX_REG7[0..15], which OVS
// reports in OpenFlow 1.3 as an NXAST_REG_LOAD in the apply-actions
// instruction) among the instructions ins, 0 if there is none. It
// allocates nothing.
func learnedPort(ins []byte) uint16 {
	for len(ins) >= 8 {
		typ, n := binary.BigEndian.Uint16(ins[0:2]), int(binary.BigEndian.Uint16(ins[2:4]))
		if n < 8 || n > len(ins) {
			return 0
		}
		if typ == openflow13.InstrType_APPLY_ACTIONS {
			for acts := ins[8:n]; len(acts) >= 4; {
				m := int(binary.BigEndian.Uint16(acts[2:4]))
				if m < 4 || m > len(acts) {
					return 0
				}
				if m == 24 && binary.BigEndian.Uint16(acts[0:2]) == openflow13.ActionType_Experimenter &&
					binary.BigEndian.Uint32(acts[4:8]) == openflow13.NxExperimenterID &&
					binary.BigEndian.Uint16(acts[8:10]) == openflow13.NXAST_REG_LOAD &&
					binary.BigEndian.Uint16(acts[10:12]) == 15 && // ofs 0, 16 bits
					binary.BigEndian.Uint32(acts[12:16]) == reg7Header {
					return uint16(binary.BigEndian.Uint64(acts[16:24]))
				}
				acts = acts[m:]
			}
		}
		ins = ins[n:]
	}
	return 0
}

// OXM headers of the match fields learned entries match.
var (
	ethDstHeader = fieldHeader("OXM_OF_ETH_DST")
	reg6Header   = fieldHeader("NXM_NX_REG6")
)

// oxmEthDst returns the OXM_OF_ETH_DST value among the OXM fields oxm
// (masked or not), and whether there is one. It allocates nothing.
func oxmEthDst(oxm []byte) ([6]byte, bool) {
	v, ok := oxmField(oxm, ethDstHeader)
	if !ok || len(v) != 6 {
		return [6]byte{}, false
	}
	return [6]byte(v), true
}

// oxmField returns the value of the field of header's class and field
// among the OXM fields oxm (without its mask when masked), and whether
// there is one. It allocates nothing.
func oxmField(oxm []byte, header uint32) ([]byte, bool) {
	for len(oxm) >= 4 {
		h, n := binary.BigEndian.Uint32(oxm[0:4]), int(oxm[3])
		if len(oxm) < 4+n {
			return nil, false
		}
		if h>>9 == header>>9 { // class and field; not the mask bit and length
			v := oxm[4 : 4+n]
			if h&(1<<8) != 0 {
				v = v[:n/2]
			}
			return v, true
		}
		oxm = oxm[4+n:]
	}
	return nil, false
}
