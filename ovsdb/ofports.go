package ovsdb

import (
	"context"
)

// OFPorts maps the name of every interface of bridge's ports to its OpenFlow
// port number, for interfaces ovs-vswitchd has given one (ofport >= 1; the
// bridge's own internal interface is LOCAL, 65534). It reads the cache, so it never blocks: while the client reconnects it returns
// the last known state. An unknown bridge yields an empty map.
func (c *Client) OFPorts(bridge string) map[string]uint32 {
	// The cache waits for a reconnection's refill until its context is done;
	// a done context reads the last known state at once.
	now, cancel := context.WithCancel(context.Background())
	cancel()
	ofports := make(map[string]uint32)
	s, err := c.snapshot(now)
	if err != nil {
		c.log.Error("read ofports from the ovsdb cache", "bridge", bridge, "err", err)
		return ofports
	}
	br, ok := s.bridges[bridge]
	if !ok {
		return ofports
	}
	for _, port := range s.portsByName(br) {
		for _, uuid := range port.Interfaces {
			iface, ok := s.ifaces[uuid]
			if ok && iface.Ofport != nil && *iface.Ofport >= 1 {
				ofports[iface.Name] = uint32(*iface.Ofport)
			}
		}
	}
	return ofports
}
