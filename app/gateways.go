package app

import (
	"maps"
	"net/netip"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// CreateRemoteGateway adds a remote gateway; its tunnel IP is returned in
// canonical form.
func (s *State) CreateRemoteGateway(g RemoteGateway) (RemoteGateway, error) {
	var out RemoteGateway
	err := s.mutate(func(ch *Change) error {
		ch.Topology = true
		if err := validateName(g.Name); err != nil {
			return err
		}
		ip, err := parseTunnelIP(g.TunnelIP, s.local)
		if err != nil {
			return err
		}
		g.TunnelIP = ip.String()
		if _, exists := s.gateways[g.Name]; exists {
			return alreadyExists("remote gateway", g.Name)
		}
		if err := s.checkTunnelIP(g.Name, ip); err != nil {
			return err
		}
		if err := s.commit(func(tx *bolt.Tx) error { return putGateway(tx, g) }); err != nil {
			return err
		}
		s.addGateway(g, ip)
		s.log.Info("remote gateway created", "remote_gateway", g.Name, "tunnel_ip", g.TunnelIP)
		out = g
		return nil
	})
	return out, err
}

// ReplaceRemoteGateway changes an existing remote gateway's tunnel IP (PUT);
// g.Name must be "" or name.
func (s *State) ReplaceRemoteGateway(name string, g RemoteGateway) (RemoteGateway, error) {
	var out RemoteGateway
	err := s.mutate(func(ch *Change) error {
		ch.Topology = true
		old, exists := s.gateways[name]
		if !exists {
			return notFound(nil, "remote gateway %q not found", name)
		}
		if g.Name != "" && g.Name != name {
			return invalid(At(FieldName), "name %q does not match remote gateway %q being replaced", g.Name, name)
		}
		g.Name = name
		ip, err := parseTunnelIP(g.TunnelIP, s.local)
		if err != nil {
			return err
		}
		g.TunnelIP = ip.String()
		if err := s.checkTunnelIP(name, ip); err != nil {
			return err
		}
		if err := s.commit(func(tx *bolt.Tx) error { return putGateway(tx, g) }); err != nil {
			return err
		}
		delete(s.tunnelIPs, netip.MustParseAddr(old.TunnelIP))
		s.addGateway(g, ip)
		s.resolveDerived(ch)
		s.log.Info("remote gateway replaced", "remote_gateway", name, "tunnel_ip", g.TunnelIP)
		out = g
		return nil
	})
	return out, err
}

// DeleteRemoteGateway deletes a remote gateway no connection uses.
func (s *State) DeleteRemoteGateway(name string) error {
	return s.mutate(func(ch *Change) error {
		ch.Topology = true
		g, exists := s.gateways[name]
		if !exists {
			return notFound(nil, "remote gateway %q not found", name)
		}
		var users []string
		for _, cs := range s.conns {
			if cs.RemoteGateway == name {
				users = append(users, cs.Name)
			}
		}
		if len(users) > 0 {
			return inUse("remote gateway %q is used by connections %s", name, quotedList(users))
		}
		if err := s.commit(func(tx *bolt.Tx) error { return deleteKey(tx, bucketGateways, name) }); err != nil {
			return err
		}
		delete(s.tunnelIPs, netip.MustParseAddr(g.TunnelIP))
		delete(s.gateways, name)
		s.log.Info("remote gateway deleted", "remote_gateway", name)
		return nil
	})
}

// GetRemoteGateway returns one remote gateway.
func (s *State) GetRemoteGateway(name string) (RemoteGateway, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g, exists := s.gateways[name]
	if !exists {
		return RemoteGateway{}, notFound(nil, "remote gateway %q not found", name)
	}
	return g, nil
}

// ListRemoteGateways returns every remote gateway, sorted by name.
func (s *State) ListRemoteGateways() []RemoteGateway {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.listGateways()
}

func (s *State) listGateways() []RemoteGateway {
	out := make([]RemoteGateway, 0, len(s.gateways))
	for _, name := range slices.Sorted(maps.Keys(s.gateways)) {
		out = append(out, s.gateways[name])
	}
	return out
}

func (s *State) checkTunnelIP(gateway string, ip netip.Addr) error {
	if owner, taken := s.tunnelIPs[ip]; taken && owner != gateway {
		return conflict(At(FieldTunnelIP), "tunnel_ip %s is already used by remote gateway %q", ip, owner)
	}
	return nil
}

func (s *State) addGateway(g RemoteGateway, ip netip.Addr) {
	s.gateways[g.Name] = g
	s.tunnelIPs[ip] = g.Name
}
