package vtep

import (
	"cmp"
	"maps"
	"net"
	"net/netip"
	"slices"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/ovsdb/hwvtep"
)

// Named UUIDs of the rows a transaction inserts and refers to.
const (
	namedLocator    = "l2gw_locator"
	namedLocatorSet = "l2gw_locator_set"
)

// localMAC is a MAC the local-MAC watch reports, where it is learned.
type localMAC struct {
	at  app.Attachment
	ips []netip.Addr
}

// local takes in one event of the local-MAC watch.
func (v *VTEP) local(ev app.LocalMACEvent) {
	hw, err := net.ParseMAC(ev.MAC)
	if err != nil || len(hw) != 6 {
		return
	}
	k := macKey{ev.Network, [6]byte(hw)}
	switch ev.Kind {
	case app.LocalMACAdded, app.LocalMACMoved, app.LocalMACIPs:
		v.locals[k] = localMAC{at: ev.Attachment, ips: ev.IPs}
	case app.LocalMACRemoved:
		delete(v.locals, k)
	}
}

// ipaddr is the address Ucast_Macs_Local.ipaddr gives for a MAC: its
// first IPv4 address, else its first address, else none.
func (m localMAC) ipaddr() string {
	for _, ip := range m.ips {
		if ip.Is4() {
			return ip.String()
		}
	}
	if len(m.ips) > 0 {
		return m.ips[0].String()
	}
	return ""
}

// localKey names a Ucast_Macs_Local row: its logical switch and MAC.
type localKey struct {
	ls, mac string
}

// localOps plans the Ucast_Macs_Local rows of the MACs learned on the
// bindings of honoured logical switches, and the Mcast_Macs_Local
// unknown-dst row of each, all with this switch's own locator; and deletes
// the rows with that locator the view no longer has.
func (v *VTEP) localOps(c client.Client, s *snapshot, w *view) ([]ovsdb.Operation, error) {
	self := v.cfg.TunnelIP.String()
	want := map[localKey]string{}
	for k, m := range v.locals {
		l := w.byName[k.network]
		if l == nil || !slices.Contains(l.attachments, m.at) {
			continue
		}
		want[localKey{l.uuid, net.HardwareAddr(k.mac[:]).String()}] = m.ipaddr()
	}

	loc := ""
	for u, pl := range s.locators {
		if pl.DstIP == self && pl.EncapsulationType == vxlanOverIPv4 && pl.TunnelKey == nil {
			loc = u
		}
	}
	set := ""
	if loc != "" {
		for u, ps := range s.locatorSets {
			if len(ps.Locators) == 1 && ps.Locators[0] == loc {
				set = u
			}
		}
	}
	var ops []ovsdb.Operation
	add := func(more []ovsdb.Operation, err error) error {
		ops = append(ops, more...)
		return err
	}
	// The locator and set rows are inserted with the first row that needs
	// them.
	locator := func() (string, error) {
		if loc == "" {
			loc = namedLocator
			err := add(c.Create(&hwvtep.PhysicalLocator{UUID: loc, DstIP: self, EncapsulationType: vxlanOverIPv4}))
			return loc, err
		}
		return loc, nil
	}
	locatorSet := func() (string, error) {
		if set == "" {
			l, err := locator()
			if err != nil {
				return "", err
			}
			set = namedLocatorSet
			err = add(c.Create(&hwvtep.PhysicalLocatorSet{UUID: set, Locators: []string{l}}))
			return set, err
		}
		return set, nil
	}

	have := map[localKey]bool{}
	for _, u := range slices.Sorted(maps.Keys(s.ucastLocal)) {
		r := s.ucastLocal[u]
		if loc == "" || r.Locator != loc {
			continue
		}
		k := localKey{r.LogicalSwitch, canonicalMAC(r.MAC)}
		ip, wanted := want[k]
		switch {
		case !wanted || have[k]:
			if err := add(c.Where(&hwvtep.UcastMacsLocal{UUID: u}).Delete()); err != nil {
				return nil, err
			}
		case r.Ipaddr != ip:
			row := &hwvtep.UcastMacsLocal{UUID: u, Ipaddr: ip}
			if err := add(c.Where(row).Update(row, &row.Ipaddr)); err != nil {
				return nil, err
			}
		}
		have[k] = true
	}
	for _, k := range slices.SortedFunc(maps.Keys(want), compareLocalKeys) {
		if have[k] {
			continue
		}
		l, err := locator()
		if err != nil {
			return nil, err
		}
		if err := add(c.Create(&hwvtep.UcastMacsLocal{MAC: k.mac, LogicalSwitch: k.ls, Locator: l, Ipaddr: want[k]})); err != nil {
			return nil, err
		}
	}

	flood := map[string]bool{}
	for _, u := range slices.Sorted(maps.Keys(s.mcastLocal)) {
		r := s.mcastLocal[u]
		if set == "" || r.LocatorSet != set {
			continue
		}
		if r.MAC != unknownDst || w.byUUID[r.LogicalSwitch] == nil || flood[r.LogicalSwitch] {
			if err := add(c.Where(&hwvtep.McastMacsLocal{UUID: u}).Delete()); err != nil {
				return nil, err
			}
			continue
		}
		flood[r.LogicalSwitch] = true
	}
	for _, u := range slices.Sorted(maps.Keys(w.byUUID)) {
		if flood[u] {
			continue
		}
		ls, err := locatorSet()
		if err != nil {
			return nil, err
		}
		if err := add(c.Create(&hwvtep.McastMacsLocal{MAC: unknownDst, LogicalSwitch: u, LocatorSet: ls})); err != nil {
			return nil, err
		}
	}
	return ops, nil
}

// canonicalMAC is mac in lower case, as net.HardwareAddr prints it, or mac
// itself when it is none.
func canonicalMAC(mac string) string {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return mac
	}
	return hw.String()
}

func compareLocalKeys(a, b localKey) int {
	return cmp.Or(cmp.Compare(a.ls, b.ls), cmp.Compare(a.mac, b.mac))
}
