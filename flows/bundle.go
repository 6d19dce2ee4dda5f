package flows

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/contiv/libOpenflow/common"
	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/ofnet/ofctrl"
)

// ModSource produces the flow_mods of one bundle, in order, handing each
// to emit; it stops when emit returns false. A bundle is produced while it
// is sent, so its mods need never all be in memory at once. If the source
// returns an error, the bundle is discarded.
type ModSource func(emit func(Mod) bool) error

// ModList is the source of a list of mods.
func ModList(mods []Mod) ModSource {
	return func(emit func(Mod) bool) error {
		for _, m := range mods {
			if !emit(m) {
				break
			}
		}
		return nil
	}
}

// Apply sends the mods src produces to the switch in one atomic bundle:
// either all of them take effect or none does. The mods are flow_mods, and
// group_mods (GroupChanges.Around) in an order that never leaves a flow
// pointing to a missing group: OVS checks each mod against the ones
// before it in the bundle. If the switch rejects any
// mod, the bundle is discarded and the error names the first rejected mod;
// a mod that is no whole flow_mod, or too large to wrap in a bundle add, is
// refused the same way before it is sent, and so is a bundle whose source
// fails. Apply sets each mod's xid (its bytes 4-7); calls are serialised.
// A bundle with no mods sends nothing.
//
// The bundle adds are written straight to the connection in large chunks,
// not one message at a time through ofctrl: bulk changes go in as fast as
// ovs-vswitchd can take them.
func (s *Session) Apply(ctx context.Context, src ModSource) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	sw, conn := s.link()
	if sw == nil {
		return fmt.Errorf("apply flow mods: %w", ErrNotConnected)
	}
	n, err := s.applyBundle(ctx, sw, conn, src)
	if err != nil {
		return fmt.Errorf("apply %d flow mods: %w", n, err)
	}
	return nil
}

// bundleFlags are the flags of l2gw's bundles: atomic.
const bundleFlags = uint16(ofctrl.Atomic)

// newXid draws an xid from libOpenflow's counter, which numbers every
// message ofctrl and libOpenflow send: no other message on the connection
// has it.
func newXid() uint32 { return nextHeader().Xid }

var nextHeader = common.NewHeaderGenerator(int(openflow13.VERSION))

// applyBundle opens a bundle with ofctrl (whose transaction matches the
// switch's bundle-control replies by bundle id) once src produces its first
// mod, writes the bundle adds to the connection itself (sendBundleAdds),
// closes the bundle, and commits it unless the switch rejected a mod, ctx
// ended, src failed or sending failed. It returns how many mods src
// produced.
func (s *Session) applyBundle(ctx context.Context, sw *ofctrl.OFSwitch, conn net.Conn, src ModSource) (int, error) {
	s.watchErrors()
	defer s.stopWatchingErrors()
	start := time.Now()
	tx := sw.NewTransaction(ofctrl.Atomic)
	open := func() (uint32, error) { return tx.ID, tx.Begin() }
	st, failed := sendBundleAdds(ctx, conn, open, bundleFlags, src)
	n := st.mods.len()
	if !st.opened || errors.Is(failed, errBrokenConnection) {
		return n, failed // nothing to close, or the bundle goes with the connection
	}
	written := time.Now()
	if _, err := tx.Complete(); err != nil {
		// ofctrl cannot discard a bundle it failed to close; the switch
		// drops it when its idle timeout passes or the connection goes.
		return n, fmt.Errorf("close bundle: %w", errors.Join(failed, err))
	}
	closed := time.Now()
	// The switch sent its errors about the mods before its close reply.
	if failed == nil {
		failed = rejection(&st.mods, st.sent, s.watchedErrors())
	}
	if failed != nil {
		if err := tx.Abort(); err != nil {
			return n, fmt.Errorf("%w (discard bundle: %w)", failed, err)
		}
		return n, failed
	}
	ownDone := s.macs.expectOwnDeletes(st.mods.at(0).xid, st.mods.at(n-1).xid, st.learnedDeletes)
	err := tx.Commit()
	ownDone()
	if err != nil {
		// A mod that fails at commit is reported before the commit reply.
		return n, fmt.Errorf("commit bundle: %w", errors.Join(err, rejection(&st.mods, st.mods.len(), s.watchedErrors())))
	}
	s.log.Debug("openflow bundle committed", "mods", n, "bytes", st.bytes, "send", st.send,
		"close", closed.Sub(written), "commit", time.Since(closed), "total", time.Since(start))
	return n, nil
}

// rejection describes the switch errors about the first sent of mods, or
// nil if there were none.
func rejection(mods *sentMods, sent int, errs []switchError) error {
	if len(errs) == 0 {
		return nil
	}
	byXid := make(map[uint32]int, sent)
	for i := range sent {
		byXid[mods.at(i).xid] = i
	}
	n, first := 0, sent
	var firstErr switchError
	for _, e := range errs {
		if i, ok := byXid[e.xid]; ok {
			n++
			if i < first {
				first, firstErr = i, e
			}
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("switch rejected %d flow mods, first mod %d (%s): %s", n, first, mods.at(first), firstErr)
}

// watchErrors starts collecting the switch's error messages.
func (s *Session) watchErrors() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = new([]switchError)
}

// watchedErrors returns the errors collected since watchErrors.
func (s *Session) watchedErrors() []switchError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]switchError(nil), *s.errs...)
}

func (s *Session) stopWatchingErrors() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = nil
}

// recordError collects e if a bundle is being sent, and hands it to the
// learned-MAC monitor and the snooping meter, which may have caused it.
func (s *Session) recordError(e switchError) {
	s.macs.refused(e)
	s.meterRefused(e)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errs != nil {
		*s.errs = append(*s.errs, e)
	}
}
