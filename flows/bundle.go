package flows

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/ofnet/ofctrl"
)

// Apply sends mods to the switch in one atomic bundle: either all of them take
// effect or none does. If the switch rejects any mod, the bundle is discarded
// and the error names the first rejected mod. Apply sets each mod's xid; calls
// are serialised.
func (s *Session) Apply(ctx context.Context, mods []*openflow13.FlowMod) error {
	if len(mods) == 0 {
		return nil
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	sw := s.current()
	if sw == nil {
		return fmt.Errorf("apply %d flow mods: %w", len(mods), ErrNotConnected)
	}
	start := time.Now()
	if err := s.applyBundle(ctx, sw, mods); err != nil {
		return fmt.Errorf("apply %d flow mods: %w", len(mods), err)
	}
	s.log.Debug("openflow bundle committed", "mods", len(mods), "duration", time.Since(start))
	return nil
}

func (s *Session) applyBundle(ctx context.Context, sw *ofctrl.OFSwitch, mods []*openflow13.FlowMod) error {
	s.watchErrors()
	defer s.stopWatchingErrors()
	tx := sw.NewTransaction(ofctrl.Atomic)
	if err := tx.Begin(); err != nil {
		return fmt.Errorf("open bundle: %w", err)
	}
	sent := 0
	var failed error
	for _, m := range mods {
		if err := ctx.Err(); err != nil {
			failed = err
			break
		}
		if err := tx.AddFlow(m); err != nil {
			failed = fmt.Errorf("send flow mod: %w", err)
			break
		}
		sent++
	}
	added, err := tx.Complete()
	if err != nil {
		// ofctrl cannot discard a bundle it failed to close; the switch
		// drops it when its idle timeout passes or the connection goes.
		return fmt.Errorf("close bundle: %w", errors.Join(failed, err))
	}
	// The switch sent its errors about the mods before its close reply.
	if failed == nil {
		failed = rejection(mods[:sent], s.watchedErrors(), added)
	}
	if failed != nil {
		if err := tx.Abort(); err != nil {
			return fmt.Errorf("%w (discard bundle: %w)", failed, err)
		}
		return failed
	}
	if err := tx.Commit(); err != nil {
		// A mod that fails at commit is reported before the commit reply.
		return fmt.Errorf("commit bundle: %w", errors.Join(err, rejection(mods, s.watchedErrors(), len(mods))))
	}
	return nil
}

// rejection describes the switch errors about mods (sent, with their xids
// set), or nil if there were none and ofctrl counted all of them as added.
func rejection(mods []*openflow13.FlowMod, errs []switchError, added int) error {
	byXid := make(map[uint32]int, len(mods))
	for i, m := range mods {
		byXid[m.Xid] = i
	}
	n := 0
	var first error
	for _, e := range errs {
		i, ok := byXid[e.xid]
		if !ok {
			continue
		}
		n++
		if first == nil {
			m := mods[i]
			first = fmt.Errorf("mod %d (table %d, priority %d, cookie %#x): %s", i, m.TableId, m.Priority, m.Cookie, e)
		}
	}
	switch {
	case first != nil:
		return fmt.Errorf("switch rejected %d flow mods, first %w", n, first)
	case added < len(mods):
		return fmt.Errorf("switch rejected %d flow mods", len(mods)-added)
	}
	return nil
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

// recordError collects e if a bundle is being sent.
func (s *Session) recordError(e switchError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errs != nil {
		*s.errs = append(*s.errs, e)
	}
}
