package app

import (
	"cmp"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// CreateConnection joins a network to a remote gateway. NetworkType ""
// means vxlan; Flood is taken as given.
func (s *State) CreateConnection(c Connection) (Connection, error) {
	var out Connection
	err := s.mutate(func(ch *Change) error {
		ch.Topology = true
		c, err := validateConnection(c)
		if err != nil {
			return err
		}
		ns := s.networks[c.Network]
		if ns == nil {
			return notFound(At(FieldNetwork), "network %q not found", c.Network)
		}
		if err := dynamicNetworkConflict(At(FieldNetwork), ns, "its connections are the origin's"); err != nil {
			return err
		}
		if _, exists := s.gateways[c.RemoteGateway]; !exists {
			return notFound(At(FieldRemoteGateway), "remote gateway %q not found", c.RemoteGateway)
		}
		if s.conns[c.Name] != nil {
			return alreadyExists("connection", c.Name)
		}
		if other, taken := ns.byGateway[c.RemoteGateway]; taken {
			return conflict(At(FieldRemoteGateway), "network %q already has connection %q to remote gateway %q", c.Network, other, c.RemoteGateway)
		}
		if other, taken := s.tunnels[tunnelKeyOf(c)]; taken {
			return conflict(At(FieldSegmentationID), "remote gateway %q already carries %s segmentation_id %d for connection %q",
				c.RemoteGateway, c.NetworkType, c.SegmentationID, other)
		}
		ids, next, err := s.connIDs.allocate(1)
		if err != nil {
			return err
		}
		c.ID = ids[0]
		err = s.commit(func(tx *bolt.Tx) error {
			if err := putConnection(tx, c); err != nil {
				return err
			}
			return putCursor(tx, kindConnection, next)
		})
		if err != nil {
			return err
		}
		s.connIDs.next.Store(next)
		s.addConnection(c)
		s.resolveDerived(ch)
		s.log.Info("connection created", "connection", c.Name, "id", c.ID, "network", c.Network,
			"remote_gateway", c.RemoteGateway, "network_type", c.NetworkType, "segmentation_id", c.SegmentationID)
		out = c
		return nil
	})
	return out, err
}

// DeleteConnection deletes a connection and, in the same transaction, its
// MAC bindings.
func (s *State) DeleteConnection(name string) error {
	return s.mutate(func(ch *Change) error {
		ch.Topology = true
		cs := s.conns[name]
		if cs == nil {
			return s.connNotFound(name)
		}
		err := s.commit(func(tx *bolt.Tx) error {
			if err := deleteMACs(tx, name); err != nil {
				return err
			}
			return deleteKey(tx, bucketConns, name)
		})
		if err != nil {
			return err
		}
		bindings := cs.macs.len()
		unbound := make([]macEntry, 0, cs.macs.len())
		for e := range cs.macs.all() {
			ch.unbound(name, e)
			unbound = append(unbound, e)
		}
		s.unbindAll(cs)
		delete(s.networks[cs.Network].byGateway, cs.RemoteGateway)
		delete(s.tunnels, tunnelKeyOf(cs.Connection))
		delete(s.conns, name)
		s.connIDs.release(cs.ID)
		s.refreshStatic(cs.Network, unbound, ch)
		s.resolveDerived(ch)
		s.log.Info("connection deleted", "connection", name, "macs", bindings)
		return nil
	})
}

// GetConnection returns one connection.
func (s *State) GetConnection(name string) (Connection, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	cs := s.conns[name]
	if cs == nil {
		if d := s.derivedConnNamed(name); d != nil {
			return d.connection(), nil
		}
		return Connection{}, notFound(nil, "connection %q not found", name)
	}
	return cs.Connection, nil
}

// ListConnections returns every connection, the API's and those dynamic
// origins named (except those sharing an API connection's tunnel), sorted
// by name.
func (s *State) ListConnections() []Connection {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := append(s.listConnections(), s.listDerived(true)...)
	slices.SortFunc(out, func(a, b Connection) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// listConnections returns the API's connections, sorted by name.
func (s *State) listConnections() []Connection {
	out := make([]Connection, 0, len(s.conns))
	for _, name := range slices.Sorted(maps.Keys(s.conns)) {
		out = append(out, s.conns[name].Connection)
	}
	return out
}

func (s *State) addConnection(c Connection) {
	s.conns[c.Name] = &connState{Connection: c, macs: newMACTable(0)}
	s.networks[c.Network].byGateway[c.RemoteGateway] = c.Name
	s.tunnels[tunnelKeyOf(c)] = c.Name
	s.connIDs.mark(c.ID)
}
