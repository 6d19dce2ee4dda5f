package flows

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/contiv/libOpenflow/openflow13"
)

// OVS's flow monitor on OpenFlow 1.3 (read in OVS 3.1's ofp-msgs.h and
// ofp-monitor.c, checked against ovs-vswitchd 3.1): the request and its
// replies are ONF experimenter multiparts of type 1870 (ONFST13_FLOW_MONITOR)
// carrying Nicira's nx_flow_monitor_request and nx_flow_update_* bodies with
// OpenFlow 1.3 matches and instructions. The Nicira encoding (NXST_FLOW_MONITOR,
// a Nicira experimenter multipart) is only accepted up to OpenFlow 1.2: on 1.3
// OVS answers OFPBRC_BAD_SUBTYPE. libOpenflow knows none of these messages
// (its multipart decoder panics on an experimenter reply), so they are
// encoded and decoded here.
const (
	onfExperimenterID = openflow13.ONF_EXPERIMENTER_ID
	// onfFlowMonitor is the experimenter type of the monitor request and
	// its replies.
	onfFlowMonitor = 1870
	// onfFlowMonitorPaused and onfFlowMonitorResumed are the experimenter
	// messages (OFPT_EXPERIMENTER, xid 0) OVS sends when it stops sending
	// additions because the controller reads too slowly, and when it has
	// caught up (it then sends what was added or modified meanwhile).
	onfFlowMonitorPaused  = 1871
	onfFlowMonitorResumed = 1872
)

// Monitor flags (nx_flow_monitor_flags). Without monitorOwn, the changes
// this connection makes itself (l2gwd's bundles) are reported as one
// abbreviated update per commit, naming the xid of a flow_mod that caused
// them, instead of one update per flow.
const (
	monitorAdd     = 1 << 1
	monitorDelete  = 1 << 2
	monitorModify  = 1 << 3
	monitorActions = 1 << 4
)

// Update events (nx_flow_update_event).
const (
	updateAdded    = 0
	updateDeleted  = 1
	updateModified = 2
	updateAbbrev   = 3
)

// Reasons a flow was removed (ofp_flow_removed_reason), in deleted updates.
const (
	removedIdleTimeout = 0
	removedHardTimeout = 1
)

// Sizes of the messages' fixed parts.
const (
	// multipart header, experimenter id and type
	experimenterMultipartLen = multipartHeaderLen + 8
	monitorRequestLen        = 16 // onf_flow_monitor_request
	updateFullLen            = 24 // nx_flow_update_full
	updateAbbrevLen          = 8  // nx_flow_update_abbrev
)

// monitorRequest encodes a flow monitor request with xid for monitor id on
// table (every flow of it: the request cannot filter by cookie) with flags.
func monitorRequest(xid, id uint32, table uint8, flags uint16) []byte {
	b := make([]byte, 0, experimenterMultipartLen+monitorRequestLen+len(emptyMatch))
	b = append(b, openflow13.VERSION, openflow13.Type_MultiPartRequest, 0, 0)
	b = binary.BigEndian.AppendUint32(b, xid)
	b = binary.BigEndian.AppendUint16(b, openflow13.MultipartType_Experimenter)
	b = append(b, 0, 0, 0, 0, 0, 0) // flags, pad
	b = binary.BigEndian.AppendUint32(b, onfExperimenterID)
	b = binary.BigEndian.AppendUint32(b, onfFlowMonitor)
	b = binary.BigEndian.AppendUint32(b, id)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, uint16(binary.BigEndian.Uint16(emptyMatch[2:4]))) // match_len
	b = binary.BigEndian.AppendUint32(b, openflow13.P_ANY)                                 // out_port
	b = append(b, table, 0, 0, 0)
	b = append(b, emptyMatch...)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	return b
}

// rawMessage is an encoded message for ofctrl to send; it is a
// util.Message only to be sent, never decoded into.
type rawMessage []byte

// errRawMessage is UnmarshalBinary's answer.
var errRawMessage = errors.New("raw OpenFlow message: encoded for sending only")

// Len is the message's length.
func (m rawMessage) Len() uint16 { return uint16(len(m)) }

// MarshalBinary returns the message.
func (m rawMessage) MarshalBinary() ([]byte, error) { return m, nil }

// UnmarshalBinary refuses: the message is only sent.
func (rawMessage) UnmarshalBinary([]byte) error { return errRawMessage }

// isMonitorReply reports whether b (a whole message) is a flow monitor
// reply: the answer to a request or, with xid 0, updates.
func isMonitorReply(b []byte) bool {
	return len(b) >= experimenterMultipartLen && b[1] == openflow13.Type_MultiPartReply &&
		binary.BigEndian.Uint16(b[8:10]) == openflow13.MultipartType_Experimenter &&
		binary.BigEndian.Uint32(b[16:20]) == onfExperimenterID && binary.BigEndian.Uint32(b[20:24]) == onfFlowMonitor
}

// monitorNotice returns the experimenter type of b when it is OVS's
// flow-monitor paused or resumed message, else 0.
func monitorNotice(b []byte) uint32 {
	if len(b) < 16 || b[1] != openflow13.Type_Experimenter || binary.BigEndian.Uint32(b[8:12]) != onfExperimenterID {
		return 0
	}
	if t := binary.BigEndian.Uint32(b[12:16]); t == onfFlowMonitorPaused || t == onfFlowMonitorResumed {
		return t
	}
	return 0
}

// flowUpdate is one update of a flow monitor reply as parseMonitorReply
// decodes it. The match and actions are read only for learned entries
// (cookie tag TagLearned): the network (reg6) and MAC (eth_dst) they match
// and the port they load into reg7 (see learnedPort).
type flowUpdate struct {
	event    uint16
	reason   uint16 // of a deleted flow
	priority uint16
	table    uint8
	cookie   uint64
	xid      uint32 // of an abbreviated update: the flow_mod that caused it

	network    uint32
	mac        [6]byte
	hasKey     bool // the match has both reg6 and eth_dst
	port       uint16
	hasActions bool
}

// learned reports whether u is about an entry a learn action made.
func (u *flowUpdate) learned() bool { return u.cookie>>tagShift == TagLearned }

// parseMonitorReply calls visit with each update of the flow monitor reply
// b (isMonitorReply), in order; the updates are valid during the call only.
// It returns the reply's multipart flags.
func parseMonitorReply(b []byte, visit func(*flowUpdate)) (uint16, error) {
	if !isMonitorReply(b) {
		return 0, errors.New("not a flow monitor reply")
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n > len(b) || n < experimenterMultipartLen {
		return 0, fmt.Errorf("flow monitor reply: length %d, have %d bytes", n, len(b))
	}
	flags := binary.BigEndian.Uint16(b[10:12])
	var u flowUpdate
	for body := b[experimenterMultipartLen:n]; len(body) > 0; {
		m, err := parseFlowUpdate(body, &u)
		if err != nil {
			return flags, fmt.Errorf("flow monitor reply: %w", err)
		}
		visit(&u)
		body = body[m:]
	}
	return flags, nil
}

// parseFlowUpdate decodes the update at the start of b into u and returns
// its length.
func parseFlowUpdate(b []byte, u *flowUpdate) (int, error) {
	if len(b) < 4 {
		return 0, fmt.Errorf("update of %d bytes", len(b))
	}
	n := int(binary.BigEndian.Uint16(b[0:2]))
	*u = flowUpdate{event: binary.BigEndian.Uint16(b[2:4])}
	if n > len(b) || n%8 != 0 {
		return 0, fmt.Errorf("update of length %d, have %d bytes", n, len(b))
	}
	switch u.event {
	case updateAbbrev:
		if n != updateAbbrevLen {
			return 0, fmt.Errorf("abbreviated update of length %d", n)
		}
		u.xid = binary.BigEndian.Uint32(b[4:8])
		return n, nil
	case updateAdded, updateDeleted, updateModified:
	default:
		return 0, fmt.Errorf("update event %d", u.event)
	}
	if n < updateFullLen+4 {
		return 0, fmt.Errorf("update of length %d", n)
	}
	u.reason = binary.BigEndian.Uint16(b[4:6])
	u.priority = binary.BigEndian.Uint16(b[6:8])
	u.table = b[14]
	u.cookie = binary.BigEndian.Uint64(b[16:24])
	if !u.learned() {
		return n, nil
	}
	// The match is an ofp_match (type, length, OXM fields), padded to 8.
	l := int(binary.BigEndian.Uint16(b[updateFullLen+2 : updateFullLen+4]))
	padded := (l + 7) / 8 * 8
	if l < 4 || updateFullLen+padded > n {
		return 0, fmt.Errorf("match of length %d in an update of %d bytes", l, n)
	}
	oxm := b[updateFullLen+4 : updateFullLen+l]
	net, okNet := oxmField(oxm, reg6Header)
	mac, okMAC := oxmField(oxm, ethDstHeader)
	if okNet && okMAC && len(net) == 4 && len(mac) == 6 {
		u.network, u.mac, u.hasKey = binary.BigEndian.Uint32(net), [6]byte(mac), true
	}
	if ins := b[updateFullLen+padded : n]; len(ins) > 0 {
		u.port, u.hasActions = learnedPort(ins), true
	}
	return n, nil
}
