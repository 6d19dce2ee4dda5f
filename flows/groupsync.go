package flows

import (
	"context"
	"fmt"

	"github.com/contiv/libOpenflow/openflow13"
)

// DumpGroups returns the groups l2gwd owns on the switch (IsControllerGroup),
// read with one group-description request; the others are left out. The
// dump is complete when every part of the reply the switch sent has
// arrived (counted in the order they were sent).
func (s *Session) DumpGroups(ctx context.Context) (GroupSet, error) {
	sw := s.current()
	if sw == nil {
		return nil, fmt.Errorf("dump groups: %w", ErrNotConnected)
	}
	entries, err := s.multipart(ctx, sw, openflow13.MultipartType_GroupDesc, rawMessage{})
	if err != nil {
		return nil, fmt.Errorf("dump groups: %w", err)
	}
	groups := make(GroupSet)
	for _, e := range entries {
		if g := &e.(*groupDesc).Group; IsControllerGroup(g.id) {
			groups[g.id] = g
		}
	}
	return groups, nil
}

// ReconcileGroups brings l2gwd's groups on the switch to desired: it dumps
// them, and sends in one bundle only the difference (GroupChanges, which
// it returns): an unchanged group gets no group_mod, so a reconnection or
// an l2gwd restart leaves the bridge's groups (and the flows that point
// to them) untouched. It deletes the groups of l2gwd's that are not
// desired, and with them the flows that point to them: call it with the
// groups the desired flows point to, or reconcile flows and groups in one
// bundle (DumpGroups, DiffGroups, GroupChanges.Around). Nothing else may
// change l2gwd's groups meanwhile.
func (s *Session) ReconcileGroups(ctx context.Context, desired GroupSet) (GroupChanges, error) {
	installed, err := s.DumpGroups(ctx)
	if err != nil {
		return GroupChanges{}, fmt.Errorf("reconcile groups: %w", err)
	}
	c := DiffGroups(desired, installed)
	if c.Empty() {
		return c, nil
	}
	if err := s.Apply(ctx, c.Around(nil)); err != nil {
		return c, fmt.Errorf("reconcile groups (%d to add, %d to modify, %d to delete): %w",
			len(c.Add), len(c.Modify), len(c.Delete), err)
	}
	return c, nil
}
