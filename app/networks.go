package app

import (
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// CreateNetwork adds a network and returns it as stored, ID assigned.
func (s *State) CreateNetwork(n Network) (Network, error) {
	var out Network
	err := s.mutate(func(ch *Change) error {
		ch.Topology = true
		n, err := validateNetwork(n)
		if err != nil {
			return err
		}
		if ns := s.networks[n.Name]; ns != nil {
			if err := dynamicNetworkConflict(At(FieldName), ns, "the API cannot create a network of its name"); err != nil {
				return err
			}
			return alreadyExists("network", n.Name)
		}
		if err := s.checkPorts(n); err != nil {
			return err
		}
		if err := s.checkVNI(n); err != nil {
			return err
		}
		ids, next, err := s.netIDs.allocate(1)
		if err != nil {
			return err
		}
		n.ID = ids[0]
		err = s.commit(func(tx *bolt.Tx) error {
			if err := putNetwork(tx, n); err != nil {
				return err
			}
			return putCursor(tx, kindNetwork, next)
		})
		if err != nil {
			return err
		}
		s.netIDs.next.Store(next)
		s.addNetwork(n)
		s.resolveFeedNetworks(ch)
		s.resolveDerived(ch)
		s.log.Info("network created", "network", n.Name, "id", n.ID, "attachments", len(n.Attachments), "evpn_vni", evpnVNI(n.EVPN))
		out = cloneNetwork(n)
		return nil
	})
	return out, err
}

// ReplaceNetwork replaces the attachments and EVPN membership of an
// existing network (PUT); n.Name must be "" or name. The network keeps its
// ID and connections.
func (s *State) ReplaceNetwork(name string, n Network) (Network, error) {
	var out Network
	err := s.mutate(func(ch *Change) error {
		ch.Topology = true
		ns := s.networks[name]
		if ns == nil {
			return notFound(nil, "network %q not found", name)
		}
		if err := dynamicNetworkConflict(nil, ns, "it is read-only here"); err != nil {
			return err
		}
		if n.Name != "" && n.Name != name {
			return invalid(At(FieldName), "name %q does not match network %q being replaced", n.Name, name)
		}
		n.Name = name
		n, err := validateNetwork(n)
		if err != nil {
			return err
		}
		if err := s.checkPorts(n); err != nil {
			return err
		}
		if err := s.checkVNI(n); err != nil {
			return err
		}
		n.ID = ns.ID
		if err := s.commit(func(tx *bolt.Tx) error { return putNetwork(tx, n) }); err != nil {
			return err
		}
		s.setAttachments(ns, n.Attachments)
		s.setEVPN(ns, n.EVPN)
		s.resolveFeedNetworks(ch)
		s.log.Info("network replaced", "network", n.Name, "attachments", len(n.Attachments), "evpn_vni", evpnVNI(n.EVPN))
		out = cloneNetwork(n)
		return nil
	})
	return out, err
}

// DeleteNetwork deletes a network no connection uses.
func (s *State) DeleteNetwork(name string) error {
	return s.mutate(func(ch *Change) error {
		ch.Topology = true
		ns := s.networks[name]
		if ns == nil {
			return notFound(nil, "network %q not found", name)
		}
		if err := dynamicNetworkConflict(nil, ns, "it is read-only here"); err != nil {
			return err
		}
		if len(ns.byGateway) > 0 {
			return inUse("network %q is used by connections %s", name, quotedList(slices.Collect(maps.Values(ns.byGateway))))
		}
		if err := s.commit(func(tx *bolt.Tx) error { return deleteKey(tx, bucketNetworks, name) }); err != nil {
			return err
		}
		s.setAttachments(ns, nil)
		s.setEVPN(ns, nil)
		delete(s.networks, name)
		s.netIDs.release(ns.ID)
		s.resolveFeedNetworks(ch)
		s.resolveDerived(ch)
		s.log.Info("network deleted", "network", name)
		return nil
	})
}

// GetNetwork returns one network.
func (s *State) GetNetwork(name string) (Network, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ns := s.networks[name]
	if ns == nil {
		return Network{}, notFound(nil, "network %q not found", name)
	}
	return cloneNetwork(ns.Network), nil
}

// ListNetworks returns every network, sorted by name.
func (s *State) ListNetworks() []Network {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.listNetworks()
}

func (s *State) listNetworks() []Network {
	out := make([]Network, 0, len(s.networks))
	for _, name := range slices.Sorted(maps.Keys(s.networks)) {
		out = append(out, cloneNetwork(s.networks[name].Network))
	}
	return out
}

// checkPorts rejects attachments another network already has (a dynamic
// origin's in force among them).
func (s *State) checkPorts(n Network) error {
	for i, a := range n.Attachments {
		owner, taken := s.ports[a]
		if !taken || owner == n.Name {
			continue
		}
		if o := s.networks[owner].Origin; o.Dynamic() {
			return conflict(attachmentPath(i), "port %q %s is already attached to network %q of origin %s", a.Port, vlanText(a.VLAN), owner, o)
		}
		return conflict(attachmentPath(i), "port %q %s is already attached to network %q", a.Port, vlanText(a.VLAN), owner)
	}
	return nil
}

func vlanText(vlan uint16) string {
	if vlan == 0 {
		return "untagged"
	}
	return fmt.Sprintf("vlan %d", vlan)
}

func (s *State) addNetwork(n Network) {
	ns := &networkState{
		Network:   Network{Name: n.Name, ID: n.ID, Origin: n.Origin},
		byGateway: make(map[string]string),
		macs:      newMACOwners(0),
		ips:       newIPOwners(0),
	}
	s.networks[n.Name] = ns
	s.netIDs.mark(n.ID)
	s.setAttachments(ns, n.Attachments)
	s.setEVPN(ns, n.EVPN)
}

func (s *State) setAttachments(ns *networkState, atts []Attachment) {
	for _, a := range ns.Attachments {
		delete(s.ports, a)
	}
	ns.Attachments = atts
	for _, a := range atts {
		s.ports[a] = ns.Name
	}
}

func cloneNetwork(n Network) Network {
	n.Attachments = append(make([]Attachment, 0, len(n.Attachments)), n.Attachments...)
	n.EVPN = cloneEVPN(n.EVPN)
	return n
}
