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
	oxmHeaderLen       = 4
	experimenterIDLen  = 4
)

// parseFlowStatsReply decodes a flow-stats reply into an
// openflow13.MultipartReply whose body holds *openflow13.FlowStats without
// instructions, and whose matches keep every field's value and mask as the
// switch sent them (oxmBytes).
//
// libOpenflow's own decoder loses MAC and IPv6 addresses (it copies them into
// nil slices), so a dumped match would not select the flow it came from; and
// it panics on actions and match fields it does not know.
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

// parseFlowStats decodes one ofp_flow_stats entry and returns its length.
func parseFlowStats(b []byte) (*openflow13.FlowStats, int, error) {
	if len(b) < flowStatsLen+4 {
		return nil, 0, fmt.Errorf("%d bytes, too short", len(b))
	}
	n := int(binary.BigEndian.Uint16(b[0:2]))
	if n < flowStatsLen+4 || n > len(b) {
		return nil, 0, fmt.Errorf("length %d, have %d bytes", n, len(b))
	}
	st := &openflow13.FlowStats{
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
	}
	m, err := parseMatch(b[flowStatsLen:n])
	if err != nil {
		return nil, 0, err
	}
	st.Match = m
	return st, n, nil
}

// parseMatch decodes an OXM ofp_match (b may go on past it).
func parseMatch(b []byte) (openflow13.Match, error) {
	m := openflow13.Match{
		Type:   binary.BigEndian.Uint16(b[0:2]),
		Length: binary.BigEndian.Uint16(b[2:4]),
	}
	if m.Type != openflow13.MatchType_OXM || m.Length < 4 || int(m.Length) > len(b) {
		return m, fmt.Errorf("match type %d length %d, have %d bytes", m.Type, m.Length, len(b))
	}
	for fields := b[4:m.Length]; len(fields) > 0; {
		if len(fields) < oxmHeaderLen {
			return m, fmt.Errorf("match field of %d bytes", len(fields))
		}
		f := openflow13.MatchField{
			Class:   binary.BigEndian.Uint16(fields[0:2]),
			Field:   fields[2] >> 1,
			HasMask: fields[2]&1 == 1,
			Length:  fields[3],
		}
		end := oxmHeaderLen + int(f.Length)
		if end > len(fields) {
			return m, fmt.Errorf("match field %#x:%d of length %d, have %d bytes", f.Class, f.Field, f.Length, len(fields)-oxmHeaderLen)
		}
		payload := fields[oxmHeaderLen:end]
		// The experimenter id stays in front of the value: MatchField
		// would not marshal it back.
		skip := 0
		if f.Class == openflow13.OXM_CLASS_EXPERIMENTER {
			skip = experimenterIDLen
		}
		if f.HasMask {
			if (len(payload)-skip)%2 != 0 || len(payload) < skip {
				return m, fmt.Errorf("masked match field %#x:%d of odd length %d", f.Class, f.Field, f.Length)
			}
			half := skip + (len(payload)-skip)/2
			f.Value, f.Mask = newOXMBytes(payload[:half]), newOXMBytes(payload[half:])
		} else {
			f.Value = newOXMBytes(payload)
		}
		m.Fields = append(m.Fields, f)
		fields = fields[end:]
	}
	return m, nil
}

// oxmBytes is a match field's value or mask as the switch sent it.
type oxmBytes []byte

func newOXMBytes(b []byte) *oxmBytes {
	c := oxmBytes(append([]byte(nil), b...))
	return &c
}

// Len is the value's size in bytes.
func (o *oxmBytes) Len() uint16 { return uint16(len(*o)) }

// MarshalBinary returns the value as sent.
func (o *oxmBytes) MarshalBinary() ([]byte, error) { return append([]byte(nil), *o...), nil }

// UnmarshalBinary keeps a copy of data.
func (o *oxmBytes) UnmarshalBinary(data []byte) error {
	*o = append((*o)[:0], data...)
	return nil
}
