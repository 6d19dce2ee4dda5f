package flows

import (
	"encoding/binary"
	"fmt"

	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/libOpenflow/util"
)

// openflow13Parser parses the switch's OpenFlow 1.3 messages: flow-stats
// replies itself (see parseFlowStatsReply), everything else with libOpenflow.
type openflow13Parser struct{}

// Parse decodes one message. It runs on libOpenflow's parser goroutines and
// must not keep b, which is reused.
func (openflow13Parser) Parse(b []byte) (util.Message, error) {
	if len(b) >= 10 && b[1] == openflow13.Type_MultiPartReply &&
		binary.BigEndian.Uint16(b[8:10]) == openflow13.MultipartType_Flow {
		return parseFlowStatsReply(b)
	}
	return openflow13.Parse(b)
}

// Sizes of the fixed parts of the messages parseFlowStatsReply reads.
const (
	multipartHeaderLen = 16 // ofp_header, type, flags, pad
	flowStatsLen       = 48 // ofp_flow_stats before its match
)

// parseFlowStatsReply decodes a flow-stats reply into an
// openflow13.MultipartReply whose body holds *openflow13.FlowStats with the
// entries' fixed fields only: no match, no instructions. A dump needs no
// more (Dump reports cookies, tables and priorities), and 100,000 flows'
// matches would cost tens of megabytes to decode.
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

// parseFlowStats decodes the fixed fields of one ofp_flow_stats entry and
// returns its length.
func parseFlowStats(b []byte) (*openflow13.FlowStats, int, error) {
	if len(b) < flowStatsLen+4 {
		return nil, 0, fmt.Errorf("%d bytes, too short", len(b))
	}
	n := int(binary.BigEndian.Uint16(b[0:2]))
	if n < flowStatsLen+4 || n > len(b) {
		return nil, 0, fmt.Errorf("length %d, have %d bytes", n, len(b))
	}
	if l := int(binary.BigEndian.Uint16(b[flowStatsLen+2 : flowStatsLen+4])); l < 4 || flowStatsLen+l > n {
		return nil, 0, fmt.Errorf("match of length %d in an entry of %d bytes", l, n)
	}
	return &openflow13.FlowStats{
		Length:       uint16(n),
		TableId:      b[2],
		DurationSec:  binary.BigEndian.Uint32(b[4:8]),
		DurationNSec: binary.BigEndian.Uint32(b[8:12]),
		Priority:     binary.BigEndian.Uint16(b[12:14]),
		IdleTimeout:  binary.BigEndian.Uint16(b[14:16]),
		HardTimeout:  binary.BigEndian.Uint16(b[16:18]),
		Flags:        binary.BigEndian.Uint16(b[18:20]),
		Cookie:       binary.BigEndian.Uint64(b[24:32]),
		PacketCount:  binary.BigEndian.Uint64(b[32:40]),
		ByteCount:    binary.BigEndian.Uint64(b[40:48]),
	}, n, nil
}
