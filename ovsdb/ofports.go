package ovsdb

import (
	"context"
	"slices"
)

// OFPorts maps the name of every interface of bridge's ports to its OpenFlow
// port number, for interfaces ovs-vswitchd has given one (ofport >= 1; the
// bridge's own internal interface is LOCAL, 65534). It reads the cache, so it never blocks: while the client reconnects it returns
// the last known state. An unknown bridge yields an empty map.
func (c *Client) OFPorts(bridge string) map[string]uint32 {
	ofports := make(map[string]uint32)
	s, err := c.lastKnown()
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

// AttachmentPorts names bridge's ports other than the bridge's own internal
// port and l2gwd's tunnel ports (flow-based and BFD), sorted: the ports a
// network can be attached to. It reads the cache, as OFPorts does; ok is false when the
// client is not connected or the bridge is not there, so a caller can tell
// "no ports" from "not known now".
func (c *Client) AttachmentPorts(bridge string) (names []string, ok bool) {
	if !c.Connected() {
		return nil, false
	}
	s, err := c.lastKnown()
	if err != nil {
		c.log.Error("read ports from the ovsdb cache", "bridge", bridge, "err", err)
		return nil, false
	}
	br, ok := s.bridges[bridge]
	if !ok {
		return nil, false
	}
	names = []string{}
	for name, port := range s.portsByName(br) {
		if name != bridge && !isBFDPort(port) && !slices.ContainsFunc(tunnelTypes, func(t string) bool { return name == TunnelPortName(t) }) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, true
}

// lastKnown copies the cache without waiting: the cache waits for a
// reconnection's refill until its context is done, and a done context reads
// the last known state at once.
func (c *Client) lastKnown() (*snapshot, error) {
	now, cancel := context.WithCancel(context.Background())
	cancel()
	return c.snapshot(now)
}
