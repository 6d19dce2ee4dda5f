package app

import (
	"maps"
	"net/netip"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// CreateRemoteGateway adds a remote gateway; it is returned with TunnelIP
// and TunnelIPs filled in, in canonical form.
func (s *State) CreateRemoteGateway(g RemoteGateway) (RemoteGateway, error) {
	var out RemoteGateway
	err := s.mutate(func(ch *Change) error {
		ch.Topology = true
		if err := validateName(g.Name); err != nil {
			return err
		}
		ips, err := parseEndpoints(g, s.local)
		if err != nil {
			return err
		}
		if _, exists := s.gateways[g.Name]; exists {
			return alreadyExists("remote gateway", g.Name)
		}
		if err := s.checkTunnelIPs(g, ips); err != nil {
			return err
		}
		g = gatewayOf(g.Name, ips)
		if err := s.commit(func(tx *bolt.Tx) error { return putGateway(tx, g) }); err != nil {
			return err
		}
		s.addGateway(g, ips)
		s.log.Info("remote gateway created", "remote_gateway", g.Name, "tunnel_ips", g.TunnelIPs)
		out = cloneGateway(g)
		return nil
	})
	return out, err
}

// ReplaceRemoteGateway changes an existing remote gateway's endpoints
// (PUT); g.Name must be "" or name. The endpoints' order counts: a new
// order is a change of the gateway.
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
		ips, err := parseEndpoints(g, s.local)
		if err != nil {
			return err
		}
		g.Name = name
		if err := s.checkTunnelIPs(g, ips); err != nil {
			return err
		}
		g = gatewayOf(name, ips)
		if err := s.commit(func(tx *bolt.Tx) error { return putGateway(tx, g) }); err != nil {
			return err
		}
		s.dropGatewayIPs(old)
		s.addGateway(g, ips)
		s.resolveDerived(ch)
		s.log.Info("remote gateway replaced", "remote_gateway", name, "tunnel_ips", g.TunnelIPs)
		out = cloneGateway(g)
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
		s.dropGatewayIPs(g)
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
	return cloneGateway(g), nil
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
		out = append(out, cloneGateway(s.gateways[name]))
	}
	return out
}

// gatewayOf is the gateway called name with endpoints ips (canonical,
// at least one).
func gatewayOf(name string, ips []netip.Addr) RemoteGateway {
	g := RemoteGateway{Name: name, TunnelIPs: make([]string, len(ips))}
	for i, a := range ips {
		g.TunnelIPs[i] = a.String()
	}
	g.TunnelIP = g.TunnelIPs[0]
	return g
}

// cloneGateway is g with a list of its own.
func cloneGateway(g RemoteGateway) RemoteGateway {
	g.TunnelIPs = slices.Clone(g.TunnelIPs)
	return g
}

// checkTunnelIPs rejects endpoints another remote gateway has (g is the
// request, for the errors' paths).
func (s *State) checkTunnelIPs(g RemoteGateway, ips []netip.Addr) error {
	for i, ip := range ips {
		if owner, taken := s.tunnelIPs[ip]; taken && owner != g.Name {
			at, field := endpointPath(g, i)
			return conflict(at, "%s %s is already used by remote gateway %q", field, ip, owner)
		}
	}
	return nil
}

// addGateway puts g, whose endpoints are ips, in memory.
func (s *State) addGateway(g RemoteGateway, ips []netip.Addr) {
	s.gateways[g.Name] = g
	for _, ip := range ips {
		s.tunnelIPs[ip] = g.Name
	}
}

// dropGatewayIPs takes g's endpoints out of the index of endpoints.
func (s *State) dropGatewayIPs(g RemoteGateway) {
	for _, ip := range g.TunnelIPs {
		delete(s.tunnelIPs, netip.MustParseAddr(ip))
	}
}
