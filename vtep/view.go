package vtep

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/ovsdb/hwvtep"
)

// Values of the schema's fault status columns (vtep(5)).
const (
	faultInvalidVLANMap  = "invalid_vlan_map"
	faultInvalidACL      = "invalid_ACL_binding"
	faultLRSupport       = "lr_support_fault"
	unknownDst           = "unknown-dst"
	faultKeyPrefix       = "l2gw-fault-" // of the Logical_Switch other_config key, before the switch's name
	maxVNI               = 1<<24 - 1
	maxVLAN              = 4094
	maxNetworkNameLength = 63
)

// The schema's enumerations used (variables in the generated models).
var (
	vxlanOverIPv4         = hwvtep.PhysicalLocatorEncapsulationTypeVxlanOverIpv4
	replicationSourceNode = hwvtep.LogicalSwitchReplicationModeSourceNode
)

// macKey names a MAC of a network.
type macKey struct {
	network string
	mac     [6]byte
}

// lswitch is a logical switch bound to this switch's ports that the
// origin honours: a network of origin vtep.
type lswitch struct {
	uuid, name string
	vni        uint32
	sourceNode bool
	// attachments are its bindings on this switch's ports, sorted; ports
	// the UUIDs of those ports.
	attachments []app.Attachment
	ports       []string
}

// network is the lswitch as the feed is told it.
func (l *lswitch) network() app.Network {
	return app.Network{Name: l.name, Attachments: slices.Clone(l.attachments)}
}

// tunnel is the tunnel to endpoint that carries l.
func (l *lswitch) tunnel(endpoint netip.Addr) app.Tunnel {
	return app.Tunnel{Endpoint: endpoint, NetworkType: app.TypeVXLAN, SegmentationID: l.vni}
}

// problem is something of the database the origin does not do, logged
// once per row (while it lasts).
type problem struct {
	table, row, why string
}

// view is what the database says to this switch: the logical switches it
// honours, their remote MACs and flood targets, and the faults to report.
type view struct {
	byUUID map[string]*lswitch
	byName map[string]*lswitch
	macs   map[macKey]app.RemoteMAC
	floods map[app.FloodTarget]bool
	// portFaults are the port_fault_status of this switch's ports, by
	// Physical_Port UUID (sorted values; absent: none); lsFaults the
	// l2gw-fault text of the Logical_Switch rows bound to them, by UUID;
	// switchFaults the switch_fault_status.
	portFaults   map[string][]string
	lsFaults     map[string]string
	switchFaults []string
	problems     map[problem]bool
}

func newView() *view {
	return &view{
		byUUID:     map[string]*lswitch{},
		byName:     map[string]*lswitch{},
		macs:       map[macKey]app.RemoteMAC{},
		floods:     map[app.FloodTarget]bool{},
		portFaults: map[string][]string{},
		lsFaults:   map[string]string{},
		problems:   map[problem]bool{},
	}
}

func (w *view) note(table, row, format string, args ...any) {
	w.problems[problem{table: table, row: row, why: fmt.Sprintf(format, args...)}] = true
}

func (w *view) portFault(uuid, fault string) {
	if !slices.Contains(w.portFaults[uuid], fault) {
		w.portFaults[uuid] = append(w.portFaults[uuid], fault)
		slices.Sort(w.portFaults[uuid])
	}
}

// translate reads what the database says to the physical switch named sw
// whose tunnel IP is self.
func translate(s *snapshot, sw string, self netip.Addr) *view {
	w := newView()
	ps := s.physicalSwitch(sw)
	if ps == nil {
		return w
	}
	w.bindings(s, ps)
	w.routers(s)
	w.remoteUnicast(s, self)
	w.remoteMulticast(s, self)
	return w
}

// bindings reads the vlan_bindings of the switch's ports.
func (w *view) bindings(s *snapshot, ps *hwvtep.PhysicalSwitch) {
	for _, pu := range ps.Ports {
		pp := s.ports[pu]
		if len(pp.ACLBindings) > 0 {
			w.portFault(pu, faultInvalidACL)
			w.note(hwvtep.PhysicalPortTable, pp.Name, "ACL bindings are not supported")
		}
		for _, vlan := range slices.Sorted(maps.Keys(pp.VLANBindings)) {
			lu := pp.VLANBindings[vlan]
			ls := s.lswitches[lu]
			if vlan < 0 || vlan > maxVLAN {
				w.portFault(pu, faultInvalidVLANMap)
				w.note(hwvtep.PhysicalPortTable, pp.Name, "VLAN %d (bound to logical switch %q) is out of range 0-%d", vlan, ls.Name, maxVLAN)
				continue
			}
			vni, why := lswitchProblem(ls)
			if why != "" {
				w.portFault(pu, faultInvalidVLANMap)
				w.lsFaults[lu] = why
				w.note(hwvtep.LogicalSwitchTable, ls.Name, "%s", why)
				continue
			}
			l := w.byUUID[lu]
			if l == nil {
				l = &lswitch{uuid: lu, name: ls.Name, vni: vni,
					sourceNode: ls.ReplicationMode != nil && *ls.ReplicationMode == replicationSourceNode}
				w.byUUID[lu], w.byName[ls.Name] = l, l
			}
			if i := slices.IndexFunc(l.attachments, func(a app.Attachment) bool { return a.Port == pp.Name }); i >= 0 {
				// l2gwd attaches a network to a port once.
				w.portFault(pu, faultInvalidVLANMap)
				w.note(hwvtep.PhysicalPortTable, pp.Name, "logical switch %q is bound on VLAN %d too: a network is attached to a port once, on VLAN %d",
					ls.Name, vlan, l.attachments[i].VLAN)
				continue
			}
			l.attachments = append(l.attachments, app.Attachment{Port: pp.Name, VLAN: uint16(vlan)})
			l.ports = append(l.ports, pu)
		}
	}
	for _, l := range w.byUUID {
		slices.SortFunc(l.attachments, func(a, b app.Attachment) int {
			return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.VLAN, b.VLAN))
		})
	}
}

// drop takes the logical switch named name out of the view (with its
// remote MACs and flood targets), for why: the feed refused it or it is
// not in force. Its bindings are faults.
func (w *view) drop(name, why string) {
	l := w.byName[name]
	if l == nil {
		return
	}
	delete(w.byName, name)
	delete(w.byUUID, l.uuid)
	for _, pu := range l.ports {
		w.portFault(pu, faultInvalidVLANMap)
	}
	w.lsFaults[l.uuid] = why
	w.note(hwvtep.LogicalSwitchTable, name, "%s", why)
	for k := range w.macs {
		if k.network == name {
			delete(w.macs, k)
		}
	}
	for f := range w.floods {
		if f.Network == name {
			delete(w.floods, f)
		}
	}
}

// networks returns the networks of the view, by name.
func (w *view) networks() map[string]app.Network {
	out := make(map[string]app.Network, len(w.byName))
	for name, l := range w.byName {
		out[name] = l.network()
	}
	return out
}

// lswitchProblem returns the VNI of a logical switch, or why it cannot be
// a network.
func lswitchProblem(ls *hwvtep.LogicalSwitch) (uint32, string) {
	if why := nameProblem(ls.Name); why != "" {
		return 0, why
	}
	switch {
	case ls.TunnelKey == nil || *ls.TunnelKey == 0:
		return 0, "logical switch has no tunnel_key"
	case *ls.TunnelKey < 0 || *ls.TunnelKey > maxVNI:
		return 0, fmt.Sprintf("tunnel_key %d is not a VXLAN VNI (1-%d)", *ls.TunnelKey, maxVNI)
	}
	return uint32(*ls.TunnelKey), ""
}

// nameProblem says why name cannot name a network (the API's rule: 1-63
// characters of [a-z0-9-]), or "".
func nameProblem(name string) string {
	if name == "" || len(name) > maxNetworkNameLength {
		return fmt.Sprintf("name %q is not 1-%d characters long, as l2gwd's network names are", name, maxNetworkNameLength)
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return fmt.Sprintf("name %q has characters other than a-z, 0-9 and '-', which l2gwd's network names may not", name)
		}
	}
	return ""
}

// routers reports logical routers that route between the switch's
// logical switches: l2gwd does not route.
func (w *view) routers(s *snapshot) {
	for _, lr := range s.routers {
		for _, lu := range lr.SwitchBinding {
			if w.byUUID[lu] != nil || w.lsFaults[lu] != "" {
				if !slices.Contains(w.switchFaults, faultLRSupport) {
					w.switchFaults = append(w.switchFaults, faultLRSupport)
				}
				w.note(hwvtep.LogicalRouterTable, lr.Name, "logical routers are not supported")
				break
			}
		}
	}
}

// endpoint returns the tunnel endpoint of a locator, or why it is none.
func endpoint(loc *hwvtep.PhysicalLocator, self netip.Addr) (netip.Addr, string) {
	if loc.EncapsulationType != vxlanOverIPv4 {
		return netip.Addr{}, fmt.Sprintf("encapsulation %q is not supported (only %s)", loc.EncapsulationType, vxlanOverIPv4)
	}
	ip, err := netip.ParseAddr(loc.DstIP)
	if err != nil || !ip.Is4() {
		return netip.Addr{}, fmt.Sprintf("dst_ip %q is not an IPv4 address", loc.DstIP)
	}
	if ip == self {
		return netip.Addr{}, fmt.Sprintf("dst_ip %s is this switch's own tunnel IP", ip)
	}
	return ip, ""
}

// remoteUnicast reads the Ucast_Macs_Remote rows of the honoured logical
// switches.
func (w *view) remoteUnicast(s *snapshot, self netip.Addr) {
	for _, u := range slices.Sorted(maps.Keys(s.ucastRemote)) {
		r := s.ucastRemote[u]
		l := w.byUUID[r.LogicalSwitch]
		if l == nil {
			continue
		}
		hw, err := net.ParseMAC(r.MAC)
		if err != nil || len(hw) != 6 || hw[0]&1 != 0 {
			w.note(hwvtep.UcastMacsRemoteTable, u, "MAC %q is not a unicast MAC address", r.MAC)
			continue
		}
		ep, why := endpoint(s.locators[r.Locator], self)
		if why != "" {
			w.note(hwvtep.UcastMacsRemoteTable, u, "MAC %s: locator %s", hw, why)
			continue
		}
		m := app.RemoteMAC{Network: l.name, Tunnel: l.tunnel(ep), MAC: hw}
		if r.Ipaddr != "" {
			ip, err := netip.ParseAddr(r.Ipaddr)
			if err != nil {
				w.note(hwvtep.UcastMacsRemoteTable, u, "MAC %s: ipaddr %q is not an IP address (the MAC is used without it)", hw, r.Ipaddr)
			} else {
				m.IPs = []netip.Addr{ip}
			}
		}
		k := macKey{l.name, [6]byte(hw)}
		if prev, dup := w.macs[k]; dup {
			w.note(hwvtep.UcastMacsRemoteTable, u, "MAC %s of logical switch %q has another Ucast_Macs_Remote row: the one to the lowest dst_ip is used", hw, l.name)
			if !ep.Less(prev.Tunnel.Endpoint) {
				continue
			}
		}
		w.macs[k] = m
	}
}

// remoteMulticast reads the Mcast_Macs_Remote unknown-dst rows of the
// honoured logical switches: their flood targets. With replication_mode
// source_node each locator is one; with service_node (or none: vtep(5)'s
// default) the first by address is the one service node.
func (w *view) remoteMulticast(s *snapshot, self netip.Addr) {
	eps := map[*lswitch][]netip.Addr{}
	for _, u := range slices.Sorted(maps.Keys(s.mcastRemote)) {
		r := s.mcastRemote[u]
		l := w.byUUID[r.LogicalSwitch]
		if l == nil {
			continue
		}
		if r.MAC != unknownDst {
			w.note(hwvtep.McastMacsRemoteTable, u, "multicast MAC %q is not supported (only %s)", r.MAC, unknownDst)
			continue
		}
		for _, lu := range s.locatorSets[r.LocatorSet].Locators {
			loc := s.locators[lu]
			ep, why := endpoint(loc, self)
			if why != "" {
				if loc.DstIP != self.String() {
					w.note(hwvtep.McastMacsRemoteTable, u, "unknown-dst locator %s", why)
				}
				continue
			}
			eps[l] = append(eps[l], ep)
		}
	}
	for l, to := range eps {
		slices.SortFunc(to, netip.Addr.Compare)
		to = slices.Compact(to)
		if !l.sourceNode {
			to = to[:1]
		}
		for _, ep := range to {
			w.floods[app.FloodTarget{Network: l.name, Tunnel: l.tunnel(ep)}] = true
		}
	}
}
