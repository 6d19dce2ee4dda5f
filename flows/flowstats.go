package flows

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/contiv/libOpenflow/common"
	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/libOpenflow/util"
)

// openflow13Parser parses the switch's OpenFlow 1.3 messages: flow-stats
// and group-description replies itself (see parseFlowStatsReply,
// parseGroupDescReply), flow monitor replies and
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
		case openflow13.MultipartType_Flow:
			return parseFlowStatsReply(b)
		case openflow13.MultipartType_GroupDesc:
			return parseGroupDescReply(b)
		case openflow13.MultipartType_Experimenter:
			// libOpenflow's decoder panics on experimenter replies: hand
			// ofctrl the header only.
			rep := &openflow13.MultipartReply{Type: openflow13.MultipartType_Experimenter,
				Flags: binary.BigEndian.Uint16(b[10:12])}
			return rep, rep.Header.UnmarshalBinary(b)
		}
	}
	return openflow13.Parse(b)
}

// Sizes of the fixed parts of the messages parseFlowStatsReply reads.
const (
	multipartHeaderLen = 16 // ofp_header, type, flags, pad
	flowStatsLen       = 48 // ofp_flow_stats before its match
)

// parseFlowStatsReply decodes a flow-stats reply into an
// openflow13.MultipartReply whose body holds *flowStats: the entries' fixed
// fields and, for learned entries, their eth_dst and learned port: no
// other match field or instruction. A dump needs no more, and
// 100,000 flows' matches would cost tens of megabytes to decode.
//
// libOpenflow's own decoder also loses MAC and IPv6 addresses (it copies
// them into nil slices), and panics on actions and match fields it does not
// know.
func parseFlowStatsReply(b []byte) (*openflow13.MultipartReply, error) {
	rep := &openflow13.MultipartReply{}
	if err := rep.Header.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("flow stats reply: %w", err)
	}
	if int(rep.Length) > len(b) || rep.Length < multipartHeaderLen {
		return nil, fmt.Errorf("flow stats reply: length %d, have %d bytes", rep.Length, len(b))
	}
	rep.Type = binary.BigEndian.Uint16(b[8:10])
	rep.Flags = binary.BigEndian.Uint16(b[10:12])
	for body := b[multipartHeaderLen:rep.Length]; len(body) > 0; {
		st, n, err := parseFlowStats(body)
		if err != nil {
			return nil, fmt.Errorf("flow stats reply: entry %d: %w", len(rep.Body), err)
		}
		rep.Body = append(rep.Body, st)
		body = body[n:]
	}
	return rep, nil
}

// parseFlowStats decodes the fixed fields of one ofp_flow_stats entry, the
// eth_dst of its match and its learned port, and returns its length.
func parseFlowStats(b []byte) (*flowStats, int, error) {
	if len(b) < flowStatsLen+4 {
		return nil, 0, fmt.Errorf("%d bytes, too short", len(b))
	}
	n := int(binary.BigEndian.Uint16(b[0:2]))
	if n < flowStatsLen+4 || n > len(b) {
		return nil, 0, fmt.Errorf("length %d, have %d bytes", n, len(b))
	}
	l := int(binary.BigEndian.Uint16(b[flowStatsLen+2 : flowStatsLen+4]))
	if l < 4 || flowStatsLen+l > n {
		return nil, 0, fmt.Errorf("match of length %d in an entry of %d bytes", l, n)
	}
	fs := &flowStats{
		length:       uint16(n),
		table:        b[2],
		durationSec:  binary.BigEndian.Uint32(b[4:8]),
		durationNSec: binary.BigEndian.Uint32(b[8:12]),
		priority:     binary.BigEndian.Uint16(b[12:14]),
		cookie:       binary.BigEndian.Uint64(b[24:32]),
	}
	fs.ethDst, fs.hasEthDst = oxmEthDst(b[flowStatsLen+4 : flowStatsLen+l])
	if ins := flowStatsLen + (l+7)/8*8; ins <= n {
		fs.port = learnedPort(b[ins:n])
	}
	return fs, n, nil
}

// flowStats is a flow-stats entry as parseFlowStats decodes it: what a
// dump reports of it and nothing else (32 bytes; openflow13.FlowStats is
// 128), one allocation per entry. A 200,000-flow dump holds all of them at
// once.
type flowStats struct {
	cookie                    uint64
	durationSec, durationNSec uint32
	length                    uint16 // of the entry on the wire
	priority                  uint16
	port                      uint16 // learnedPort's, 0 when none
	table                     uint8
	hasEthDst                 bool // the match has an eth_dst
	ethDst                    [6]byte
}

// errFlowStatsReadOnly is MarshalBinary's answer: a flowStats is a
// util.Message only to travel in a MultipartReply's body, which it is
// decoded into, never encoded from.
var errFlowStatsReadOnly = errors.New("flow stats entry: decoded for reading only")

// Len is the entry's length on the wire.
func (f *flowStats) Len() uint16 { return f.length }

// MarshalBinary refuses: an entry is never sent.
func (f *flowStats) MarshalBinary() ([]byte, error) { return nil, errFlowStatsReadOnly }

// UnmarshalBinary decodes one entry, as parseFlowStats does.
func (f *flowStats) UnmarshalBinary(b []byte) error {
	st, _, err := parseFlowStats(b)
	if err != nil {
		return err
	}
	*f = *st
	return nil
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
