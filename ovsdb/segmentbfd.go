package ovsdb

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/l2gw/l2gw/ovsdb/vswitch"
)

// segmentBFDKey is the external_ids key l2gwd puts on an attachment's
// interface whose BFD it runs: the mark that lets it take its settings off
// again, and never touch a BFD somebody else configured.
const segmentBFDKey = "l2gw-bfd-segment"

// bfdSettings is the bfd column cfg asks for.
func bfdSettings(cfg BFDConfig) map[string]string {
	settings := map[string]string{
		"enable":     "true",
		"min_tx":     strconv.Itoa(cfg.IntervalMS),
		"min_rx":     strconv.Itoa(cfg.IntervalMS),
		"cpath_down": strconv.FormatBool(cfg.CPathDown),
	}
	if cfg.Multiplier != 0 {
		settings["mult"] = strconv.Itoa(cfg.Multiplier)
	}
	return settings
}

// EnsureSegmentBFD runs BFD, with cfg's timers and cpath_down, on the
// interfaces of bridge's ports named in ports (attachment ports: BFD then
// runs over the local segment they are on, with OVS's default link-local
// BFD addresses, and hears the other node of an HA pair there), and takes
// the BFD l2gwd set off every other interface of bridge. Only the bfd
// column and one external_ids key of those interfaces are written, in one
// transaction, and nothing when all is right. A port that is not on the
// bridge is skipped (it may not exist yet); an interface whose BFD was
// configured by somebody else is an error, and is left alone.
func (c *Client) EnsureSegmentBFD(ctx context.Context, bridge string, ports []string, cfg BFDConfig) error {
	if cfg.IntervalMS < 1 || cfg.Multiplier < 0 || cfg.Multiplier > 255 {
		return fmt.Errorf("ensure segment BFD on %s: interval %d ms, multiplier %d: want an interval of at least 1 ms and a multiplier of 0-255",
			bridge, cfg.IntervalMS, cfg.Multiplier)
	}
	want := bfdSettings(cfg)
	return c.apply(ctx, "ensure segment BFD on "+bridge, func(s *snapshot) ([]ovsdb.Operation, error) {
		br, ok := s.bridges[bridge]
		if !ok {
			return nil, fmt.Errorf("bridge %s does not exist", bridge)
		}
		var ops []ovsdb.Operation
		for name, port := range s.portsByName(br) {
			if isBFDPort(port) || len(port.Interfaces) != 1 {
				continue
			}
			iface, ok := s.ifaces[port.Interfaces[0]]
			if !ok {
				continue
			}
			_, ours := iface.ExternalIDs[segmentBFDKey]
			wanted := slices.Contains(ports, name)
			var bfd, ids map[string]string
			switch {
			case wanted && !ours && len(iface.BFD) > 0:
				return nil, fmt.Errorf("interface %s runs a BFD l2gwd did not configure: leaving it alone", name)
			case wanted:
				bfd, ids = want, maps.Clone(iface.ExternalIDs)
				if ids == nil {
					ids = map[string]string{}
				}
				ids[segmentBFDKey] = "true"
			case ours:
				bfd, ids = map[string]string{}, maps.Clone(iface.ExternalIDs)
				delete(ids, segmentBFDKey)
			default:
				continue
			}
			if maps.Equal(iface.BFD, bfd) && maps.Equal(iface.ExternalIDs, ids) {
				continue
			}
			fixed := iface
			fixed.BFD, fixed.ExternalIDs = bfd, ids
			update, err := c.ovs.Where(&vswitch.Interface{UUID: iface.UUID}).Update(&fixed, &fixed.BFD, &fixed.ExternalIDs)
			if err != nil {
				return nil, fmt.Errorf("set the BFD of %s: %w", name, err)
			}
			ops = append(ops, update...)
		}
		return ops, nil
	})
}

// SegmentBFD returns the BFD state of bridge's attachment interfaces whose
// BFD l2gwd runs (EnsureSegmentBFD), by port name. It reads the cache, as
// BFDPorts does.
func (c *Client) SegmentBFD(bridge string) map[string]BFDStatus {
	out := make(map[string]BFDStatus)
	s, err := c.lastKnown()
	if err != nil {
		c.log.Error("read segment BFD from the ovsdb cache", "bridge", bridge, "err", err)
		return out
	}
	br, ok := s.bridges[bridge]
	if !ok {
		return out
	}
	for name, port := range s.portsByName(br) {
		if len(port.Interfaces) != 1 {
			continue
		}
		iface, ok := s.ifaces[port.Interfaces[0]]
		if _, ours := iface.ExternalIDs[segmentBFDKey]; !ok || !ours {
			continue
		}
		out[name] = bfdStatusOf(name, iface)
	}
	return out
}

// LinkUp reports, for each interface of bridge's ports, whether it has
// carrier (link_state up) as ovs-vswitchd last wrote it, by interface name.
// It reads the cache, as OFPorts does.
func (c *Client) LinkUp(bridge string) map[string]bool {
	out := make(map[string]bool)
	s, err := c.lastKnown()
	if err != nil {
		c.log.Error("read link states from the ovsdb cache", "bridge", bridge, "err", err)
		return out
	}
	br, ok := s.bridges[bridge]
	if !ok {
		return out
	}
	for _, port := range s.portsByName(br) {
		for _, uuid := range port.Interfaces {
			if iface, ok := s.ifaces[uuid]; ok {
				out[iface.Name] = iface.LinkState != nil && *iface.LinkState == vswitch.InterfaceLinkStateUp
			}
		}
	}
	return out
}
