package ha

import (
	"net/netip"
	"slices"

	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/ovsdb"
)

// Endpoints reports each endpoint of remote gateway g with the state of
// its BFD session (over the first network type of g's connections that
// has one; "" when no BFD runs to it) and the one its fast-failover group
// uses: the first whose session forwards, else the first (the group's
// always-live last bucket, and a single endpoint's only one).
func (c *Controller) Endpoints(g app.RemoteGateway) []app.EndpointStatus {
	var types []string
	for _, conn := range c.state.ListConnections() {
		if conn.RemoteGateway == g.Name && !slices.Contains(types, conn.NetworkType) {
			types = append(types, conn.NetworkType)
		}
	}
	slices.Sort(types)
	bfd := c.ovs.BFDPorts(c.cfg.Bridge)
	ips := g.Endpoints()
	out := make([]app.EndpointStatus, len(ips))
	inUse, found := 0, false
	for i, ip := range ips {
		out[i].TunnelIP = ip
		a, err := netip.ParseAddr(ip)
		if err != nil {
			continue
		}
		for _, t := range types {
			st, ok := bfd[ovsdb.BFDPeer{NetworkType: t, Remote: a.Unmap()}]
			if !ok {
				continue
			}
			out[i].BFD = sessionState(st)
			if st.Up() && !found {
				inUse, found = i, true
			}
			break
		}
	}
	out[inUse].InUse = true
	return out
}
