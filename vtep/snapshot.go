package vtep

import (
	"cmp"
	"slices"

	"github.com/ovn-org/libovsdb/client"

	"github.com/l2gw/l2gw/ovsdb/hwvtep"
)

// snapshot is the cached database, by table and UUID. Its rows are the
// cache's own (read only): never modify one.
type snapshot struct {
	globals     []*hwvtep.Global // sorted by UUID
	switches    map[string]*hwvtep.PhysicalSwitch
	ports       map[string]*hwvtep.PhysicalPort
	lswitches   map[string]*hwvtep.LogicalSwitch
	routers     map[string]*hwvtep.LogicalRouter
	locators    map[string]*hwvtep.PhysicalLocator
	locatorSets map[string]*hwvtep.PhysicalLocatorSet
	ucastRemote map[string]*hwvtep.UcastMacsRemote
	mcastRemote map[string]*hwvtep.McastMacsRemote
	ucastLocal  map[string]*hwvtep.UcastMacsLocal
	mcastLocal  map[string]*hwvtep.McastMacsLocal
}

// rows returns the cached rows of table, by UUID.
func rows[T any](c client.Client, table string) map[string]*T {
	out := map[string]*T{}
	rc := c.Cache().Table(table)
	if rc == nil {
		return out
	}
	for uuid, m := range rc.RowsShallow() {
		if row, ok := m.(*T); ok {
			out[uuid] = row
		}
	}
	return out
}

// read copies the cache's index of rows. It reports false when the rows
// read refer to rows it did not read: the cache was being updated meanwhile
// (OVSDB keeps references whole), and the update's own events ask for
// another read.
func read(c client.Client) (*snapshot, bool) {
	s := &snapshot{
		switches:    rows[hwvtep.PhysicalSwitch](c, hwvtep.PhysicalSwitchTable),
		ports:       rows[hwvtep.PhysicalPort](c, hwvtep.PhysicalPortTable),
		lswitches:   rows[hwvtep.LogicalSwitch](c, hwvtep.LogicalSwitchTable),
		routers:     rows[hwvtep.LogicalRouter](c, hwvtep.LogicalRouterTable),
		locators:    rows[hwvtep.PhysicalLocator](c, hwvtep.PhysicalLocatorTable),
		locatorSets: rows[hwvtep.PhysicalLocatorSet](c, hwvtep.PhysicalLocatorSetTable),
		ucastRemote: rows[hwvtep.UcastMacsRemote](c, hwvtep.UcastMacsRemoteTable),
		mcastRemote: rows[hwvtep.McastMacsRemote](c, hwvtep.McastMacsRemoteTable),
		ucastLocal:  rows[hwvtep.UcastMacsLocal](c, hwvtep.UcastMacsLocalTable),
		mcastLocal:  rows[hwvtep.McastMacsLocal](c, hwvtep.McastMacsLocalTable),
	}
	for _, g := range rows[hwvtep.Global](c, hwvtep.GlobalTable) {
		s.globals = append(s.globals, g)
	}
	slices.SortFunc(s.globals, func(a, b *hwvtep.Global) int { return cmp.Compare(a.UUID, b.UUID) })
	return s, s.whole()
}

// whole reports whether every reference the origin follows leads to a row
// of the snapshot.
func (s *snapshot) whole() bool {
	for _, g := range s.globals {
		for _, u := range g.Switches {
			if s.switches[u] == nil {
				return false
			}
		}
	}
	for _, ps := range s.switches {
		for _, u := range ps.Ports {
			if s.ports[u] == nil {
				return false
			}
		}
	}
	for _, pp := range s.ports {
		for _, u := range pp.VLANBindings {
			if s.lswitches[u] == nil {
				return false
			}
		}
	}
	for _, set := range s.locatorSets {
		for _, u := range set.Locators {
			if s.locators[u] == nil {
				return false
			}
		}
	}
	for _, r := range s.ucastRemote {
		if s.lswitches[r.LogicalSwitch] == nil || s.locators[r.Locator] == nil {
			return false
		}
	}
	for _, r := range s.mcastRemote {
		if s.lswitches[r.LogicalSwitch] == nil || s.locatorSets[r.LocatorSet] == nil {
			return false
		}
	}
	for _, r := range s.ucastLocal {
		if s.lswitches[r.LogicalSwitch] == nil || s.locators[r.Locator] == nil {
			return false
		}
	}
	for _, r := range s.mcastLocal {
		if s.lswitches[r.LogicalSwitch] == nil || s.locatorSets[r.LocatorSet] == nil {
			return false
		}
	}
	return true
}

// physicalSwitch returns the Physical_Switch row named name, or nil.
func (s *snapshot) physicalSwitch(name string) *hwvtep.PhysicalSwitch {
	for _, ps := range s.switches {
		if ps.Name == name {
			return ps
		}
	}
	return nil
}
