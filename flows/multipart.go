package flows

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/libOpenflow/util"
)

// replyParts reassembles one multipart reply (all parts share the request's
// xid). libOpenflow parses inbound messages on many goroutines, so parts come
// in any order and the final part (the one without OFPMPF_REPLY_MORE) may come
// before earlier ones: the parts are counted as the switch sent them, in
// order (inboundTap, seen), and the reply is complete once as many parts
// were parsed as were read up to the final one.
type replyParts struct {
	typ uint16 // multipart type of the request

	mu       sync.Mutex
	entries  []util.Message
	parts    int
	final    bool
	inOrder  int           // parts read off the connection so far
	total    int           // parts in the reply, once the final one was read; else -1
	progress chan struct{} // signalled (without blocking) on every part
}

func newReplyParts(typ uint16) *replyParts {
	return &replyParts{typ: typ, total: -1, progress: make(chan struct{}, 1)}
}

// add takes one part; parts of another multipart type are ignored.
func (r *replyParts) add(rep *openflow13.MultipartReply) {
	if rep.Type != r.typ {
		return
	}
	r.mu.Lock()
	r.entries = append(r.entries, rep.Body...)
	r.parts++
	if rep.Flags&openflow13.OFPMPF_REPLY_MORE == 0 {
		r.final = true
	}
	r.mu.Unlock()
	select {
	case r.progress <- struct{}{}:
	default:
	}
}

// seen counts a part of the reply as read off the connection, before it is
// parsed; final says it is the last one.
func (r *replyParts) seen(final bool) {
	r.mu.Lock()
	r.inOrder++
	if final && r.total < 0 {
		r.total = r.inOrder
	}
	r.mu.Unlock()
	select {
	case r.progress <- struct{}{}:
	default:
	}
}

// complete reports whether the whole reply arrived.
func (r *replyParts) complete() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.final && r.total >= 0 && r.parts >= r.total
}

// wait returns the body entries once the reply is complete. It gives up when
// ctx ends or when idle passes without a new part.
func (r *replyParts) wait(ctx context.Context, idle time.Duration) ([]util.Message, error) {
	timer := time.NewTimer(idle)
	defer timer.Stop()
	for !r.complete() {
		select {
		case <-r.progress:
			timer.Reset(idle)
		case <-timer.C:
			return nil, fmt.Errorf("no reply part for %s: %w", idle, r.shortfall())
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ctx.Err(), r.shortfall())
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.entries, nil
}

// shortfall describes what is still missing.
func (r *replyParts) shortfall() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Errorf("incomplete multipart reply: %d parts of %d read, final part seen: %t",
		r.parts, r.inOrder, r.final)
}
