package flows

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync/atomic"
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
	// Altered says the flow is one l2gwd computes whose match or
	// instructions no longer hash to its cookie: it was changed on the
	// switch (ovs-ofctl mod-flows keeps the cookie) and must be installed
	// again.
	Altered bool
}

// MAC returns the eth_dst the flow matches, or nil if it matches none.
func (f *DumpedFlow) MAC() net.HardwareAddr {
	if !f.HasEthDst {
		return nil
	}
	return net.HardwareAddr(f.EthDst[:])
}

// Dump returns every flow, in any table, whose cookie matches cookie under
// cookieMask: its cookie, table, priority, duration, whether it was altered
// and, for learned entries, the MAC and port they learned. The reply is
// decoded as the connection's reader reads it (see inboundTap.claim), and
// is complete with its final part: the dump is only right while nobody
// else changes flows with these cookies.
func (s *Session) Dump(ctx context.Context, cookie, cookieMask uint64) ([]DumpedFlow, error) {
	sw := s.current()
	if sw == nil {
		return nil, fmt.Errorf("dump flows: %w", ErrNotConnected)
	}
	body := openflow13.NewFlowStatsRequest()
	body.TableId = openflow13.OFPTT_ALL
	body.Cookie, body.CookieMask = cookie, cookieMask
	req := &openflow13.MultipartRequest{Header: openflow13.NewOfp13Header(), Type: openflow13.MultipartType_Flow, Body: body}
	req.Header.Type = openflow13.Type_MultiPartRequest
	d := &flowDump{done: make(chan struct{}), progress: make(chan struct{}, 1)}
	s.mu.Lock()
	s.dumps[req.Xid] = d
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.dumps, req.Xid)
		s.mu.Unlock()
	}()
	if err := sw.Send(req); err != nil {
		return nil, fmt.Errorf("dump flows: send the request: %w", err)
	}
	timer := time.NewTimer(replyIdle)
	defer timer.Stop()
	for {
		select {
		case <-d.done:
			if d.err != nil {
				return nil, fmt.Errorf("dump flows: %w", d.err)
			}
			return d.flows, nil
		case <-d.progress:
			timer.Reset(replyIdle)
		case <-timer.C:
			return nil, fmt.Errorf("dump flows: no reply part for %s (%d flows read)", replyIdle, d.read.Load())
		case <-ctx.Done():
			return nil, fmt.Errorf("dump flows: %w (%d flows read)", ctx.Err(), d.read.Load())
		}
	}
}

// flowDump is one flow dump's reply as the connection's reader decodes
// it: flows and err are the reader's until done is closed.
type flowDump struct {
	flows    []DumpedFlow
	err      error
	done     chan struct{} // closed after the final part, or the first bad one
	progress chan struct{} // signalled (without blocking) on every part
	read     atomic.Int64  // flows decoded so far
}

// claimDump decodes msg if it is a part of the reply to a Dump in
// progress, and tells whether it was. It runs on the connection's reader
// (inboundTap.claim).
func (s *Session) claimDump(msg []byte) bool {
	if len(msg) < multipartHeaderLen || binary.BigEndian.Uint16(msg[8:10]) != openflow13.MultipartType_Flow {
		return false
	}
	s.mu.Lock()
	d := s.dumps[binary.BigEndian.Uint32(msg[4:8])]
	s.mu.Unlock()
	if d == nil {
		return false
	}
	select {
	case <-d.done:
		return true // a part after a bad one
	default:
	}
	for body := msg[multipartHeaderLen:]; len(body) > 0; {
		f, n, err := decodeFlowStats(body)
		if err != nil {
			d.err = fmt.Errorf("flow stats reply: entry %d: %w", len(d.flows), err)
			close(d.done)
			return true
		}
		d.flows = append(d.flows, f)
		body = body[n:]
	}
	d.read.Store(int64(len(d.flows)))
	if binary.BigEndian.Uint16(msg[10:12])&openflow13.OFPMPF_REPLY_MORE == 0 {
		close(d.done)
		return true
	}
	select {
	case d.progress <- struct{}{}:
	default:
	}
	return true
}

// multipart sends one multipart request of type typ with a fresh xid and
// returns the body entries of every part of its reply.
func (s *Session) multipart(ctx context.Context, sw *ofctrl.OFSwitch, typ uint16, body util.Message) ([]util.Message, error) {
	req := &openflow13.MultipartRequest{Header: openflow13.NewOfp13Header(), Type: typ, Body: body}
	req.Header.Type = openflow13.Type_MultiPartRequest
	parts := newReplyParts(typ)
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
