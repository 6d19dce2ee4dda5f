package flows

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/libOpenflow/util"
	"github.com/contiv/ofnet/ofctrl"
)

// replyIdle is how long a multipart request waits for its next reply part.
const replyIdle = 10 * time.Second

// DumpedFlow is a flow as Dump reports it: what names it on the switch,
// and for learned entries what they learned.
// It is 32 bytes: a restart reads 200,000 of them at once.
type DumpedFlow struct {
	Cookie uint64
	// Duration is how long the flow has been installed: for a learned
	// entry, since it was first learned (OpenFlow 1.3 reports no idle age).
	Duration time.Duration
	// LearnedPort is the ofport a learned entry from a local port forwards
	// to, 0 for any other flow.
	LearnedPort uint32
	Priority    uint16
	Table       uint8
	// HasEthDst says whether the flow matches an eth_dst; EthDst is that
	// MAC (without the mask if masked).
	HasEthDst bool
	EthDst    [6]byte
}

// MAC returns the eth_dst the flow matches, or nil if it matches none.
func (f *DumpedFlow) MAC() net.HardwareAddr {
	if !f.HasEthDst {
		return nil
	}
	return net.HardwareAddr(f.EthDst[:])
}

// Dump returns every flow, in any table, whose cookie matches cookie under
// cookieMask: its cookie, table, priority, duration and, for learned
// entries, the MAC and port they learned.
//
// Completeness is checked against the switch's own count (an aggregate-stats
// request with the same cookie and mask, sent first): the dump is only right
// while nobody else changes flows with these cookies.
func (s *Session) Dump(ctx context.Context, cookie, cookieMask uint64) ([]DumpedFlow, error) {
	sw := s.current()
	if sw == nil {
		return nil, fmt.Errorf("dump flows: %w", ErrNotConnected)
	}
	agg := openflow13.NewAggregateStatsRequest()
	agg.TableId = openflow13.OFPTT_ALL
	agg.OutPort = openflow13.P_ANY
	agg.OutGroup = openflow13.OFPG_ANY
	agg.Cookie, agg.CookieMask = cookie, cookieMask
	entries, err := s.multipart(ctx, sw, openflow13.MultipartType_Aggregate, agg, 1)
	if err != nil {
		return nil, fmt.Errorf("dump flows: count them: %w", err)
	}
	count := int(entries[0].(*openflow13.AggregateStats).FlowCount)

	req := openflow13.NewFlowStatsRequest()
	req.TableId = openflow13.OFPTT_ALL
	req.Cookie, req.CookieMask = cookie, cookieMask
	entries, err = s.multipart(ctx, sw, openflow13.MultipartType_Flow, req, count)
	if err != nil {
		return nil, fmt.Errorf("dump flows: %w", err)
	}
	return dumpedFlows(entries), nil
}

// dumpedFlows are the flow-stats entries as Dump reports them; nothing of
// a decoded entry outlives the call, and entries is cleared as it goes.
func dumpedFlows(entries []util.Message) []DumpedFlow {
	flows := make([]DumpedFlow, len(entries))
	for i, e := range entries {
		st := e.(*flowStats)
		flows[i] = DumpedFlow{Cookie: st.cookie, Table: st.table, Priority: st.priority, LearnedPort: uint32(st.port),
			Duration:  time.Duration(st.durationSec)*time.Second + time.Duration(st.durationNSec),
			HasEthDst: st.hasEthDst, EthDst: st.ethDst}
		entries[i] = nil // let the entry go
	}
	return flows
}

// multipart sends one multipart request of type typ with a fresh xid and
// returns the body entries of its reply, of which it expects want (< 0:
// as many as the switch sent, its parts counted in order).
func (s *Session) multipart(ctx context.Context, sw *ofctrl.OFSwitch, typ uint16, body util.Message, want int) ([]util.Message, error) {
	req := &openflow13.MultipartRequest{Header: openflow13.NewOfp13Header(), Type: typ, Body: body}
	req.Header.Type = openflow13.Type_MultiPartRequest
	parts := newReplyParts(typ, want)
	s.mu.Lock()
	s.replies[req.Xid] = parts
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.replies, req.Xid)
		s.mu.Unlock()
	}()
	if err := sw.Send(req); err != nil {
		return nil, fmt.Errorf("send multipart request: %w", err)
	}
	return parts.wait(ctx, replyIdle)
}
