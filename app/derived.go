package app

import (
	"cmp"
	"maps"
	"slices"
)

// Connections that dynamic origins make. A tunnel (endpoint, type, key)
// that a feed names in a network, by a remote MAC or a flood target, is a
// connection of the desired state: its derivedConn, named by derivedName.
// Two origins naming the same tunnel in one network share it. If an API
// connection of the same network has the tunnel, the origins' remote MACs
// go through that connection and the derived one compiles nothing of its
// own (shared). A tunnel admits traffic into one network only: if an API
// connection of another network has it, or a derived connection of another
// network that an origin earlier in precedence names (or, between equals,
// of the network with the lower ID), the derived connection is excluded:
// nothing of it compiles, and its remote MACs are shadowed.
//
// A derived connection's ID comes from the connections' ID space and is
// remembered in the store with the origins that name it (few records,
// written when a tunnel appears or goes, never per remote MAC): its flows
// keep their cookies across a restart of l2gwd, and until an origin is
// synced again the connections it named before the restart stay (held).

// derivedKey identifies a derived connection.
type derivedKey struct {
	network string
	tunnel  Tunnel
}

// derivedConn is a connection that dynamic origins name.
type derivedConn struct {
	derivedKey
	id   uint32
	refs [numOrigins]derivedRef
	// status is what the last resolve found.
	status derivedStatus
	// saved is the recordState the store has.
	saved [numOrigins]recordedRef
}

// recordedRef is what the store remembers of one origin's ref.
type recordedRef uint8

const (
	recordedNone  recordedRef = iota // the origin does not name it
	recordedNamed                    // it names it
	recordedFlood                    // it names it and floods to it
)

// recordState is what the store should remember of d.
func (d *derivedConn) recordState() (rs [numOrigins]recordedRef) {
	for o, r := range d.refs {
		switch {
		case !r.named():
		case r.flood || (r.held && r.heldFlood):
			rs[o] = recordedFlood
		default:
			rs[o] = recordedNamed
		}
	}
	return rs
}

// derivedRef is what one origin says of a derived connection.
type derivedRef struct {
	macs  int  // the origin's remote MACs through it
	flood bool // the origin asks to flood to it
	// floodStale says flood was set before the feed's last Reset and not
	// since.
	floodStale bool
	// held says the origin named it before l2gwd restarted and has not
	// been synced since; heldFlood is whether it flooded then.
	held, heldFlood bool
}

func (r derivedRef) named() bool { return r.macs > 0 || r.flood || r.held }

// derivedStatus is what a derived connection compiles to.
type derivedStatus uint8

const (
	derivedDormant  derivedStatus = iota // its network does not exist
	derivedOwn                           // a connection of its own
	derivedShared                        // through the API connection with its tunnel
	derivedExcluded                      // its tunnel admits into another network
)

// usable reports whether remote MACs through d compile.
func (d *derivedConn) usable() bool { return d.status == derivedOwn || d.status == derivedShared }

// named reports whether some origin names d.
func (d *derivedConn) named() bool {
	return slices.ContainsFunc(d.refs[:], derivedRef.named)
}

// owner is the first origin in precedence that names d: its flows carry
// that origin's tag.
func (d *derivedConn) owner() Origin {
	for o, r := range d.refs {
		if r.named() {
			return Origin(o)
		}
	}
	return OriginStatic
}

// floods reports whether some origin asks to flood to d.
func (d *derivedConn) floods() bool {
	return slices.ContainsFunc(d.refs[:], func(r derivedRef) bool { return r.flood || (r.held && r.heldFlood) })
}

// derivedShape is what of a derived connection its flows and its record
// depend on, beyond its key and ID.
type derivedShape struct {
	named, floods bool
	owner         Origin
	recorded      [numOrigins]recordedRef
}

// shape is d's shape now.
func (d *derivedConn) shape() derivedShape {
	return derivedShape{named: d.named(), floods: d.floods(), owner: d.owner(), recorded: d.recordState()}
}

// record is what the store remembers of d.
func (d *derivedConn) record() derivedRecord {
	r := derivedRecord{ID: d.id, Network: d.network, Endpoint: d.tunnel.Endpoint.String(),
		NetworkType: d.tunnel.NetworkType, SegmentationID: d.tunnel.SegmentationID, Origins: map[string]derivedOrigin{}}
	for o, ref := range d.refs {
		if ref.named() {
			r.Origins[Origin(o).String()] = derivedOrigin{Flood: ref.flood || (ref.held && ref.heldFlood)}
		}
	}
	return r
}

// derivedConnNamed returns the derived connection called name, if it is
// listed as a connection of its own (not shared with an API connection).
func (s *State) derivedConnNamed(name string) *derivedConn {
	network, t, ok := parseDerivedName(name)
	if !ok {
		return nil
	}
	d := s.derived[derivedKey{network, t}]
	if d == nil || d.status == derivedShared {
		return nil
	}
	return d
}

// connNotFound is the error for connection name missing where an API
// connection is wanted: a Conflict when a dynamic origin's connection has
// the name (it is read-only), else NotFound.
func (s *State) connNotFound(name string) error { return s.connNotFoundAt(nil, name) }

// connNotFoundAt is connNotFound for the request's field.
func (s *State) connNotFoundAt(field Path, name string) error {
	if d := s.derivedConnNamed(name); d != nil {
		return conflict(field, "connection %q belongs to origin %s: it is read-only here", name, d.owner())
	}
	return notFound(field, "connection %q not found", name)
}

// derivedBindings lists the remote MACs that compile through d, as
// bindings, sorted by MAC.
func (s *State) derivedBindings(d *derivedConn) []MACBinding {
	rix := s.remote[d.network]
	if rix == nil {
		return nil
	}
	var entries []macEntry
	for mac, act := range rix.active {
		if act.tunnel == d.tunnel {
			entries = append(entries, macEntry{hw: mac, addrs: act.addrs})
		}
	}
	sortMACEntries(entries)
	out := cloneBindings(entries)
	for i := range out {
		out[i].Origin = rix.active[entries[i].hw].origin
	}
	return out
}

// tunnelUsable reports whether remote MACs of network through t compile.
func (s *State) tunnelUsable(network string, t Tunnel) bool {
	d := s.derived[derivedKey{network, t}]
	return d != nil && d.usable()
}

// staticConnOf returns the API connection that has tunnel t, or nil.
func (s *State) staticConnOf(t Tunnel) *connState {
	gw, ok := s.tunnelIPs[t.Endpoint]
	if !ok {
		return nil
	}
	name, ok := s.tunnels[tunnelKey{gateway: gw, networkType: t.NetworkType, segmentationID: t.SegmentationID}]
	if !ok {
		return nil
	}
	return s.conns[name]
}

// resolveDerived works out every derived connection's status and, for
// each one whose status changed, refreshes its network's remote MACs into
// ch; ch.Topology is set when one that compiles changed. It runs after
// every change of the topology or of which derived connections exist.
func (s *State) resolveDerived(ch *Change) {
	byTunnel := map[Tunnel][]*derivedConn{}
	for _, d := range s.derived {
		byTunnel[d.tunnel] = append(byTunnel[d.tunnel], d)
	}
	stale := map[string]bool{}
	for t, ds := range byTunnel {
		static := s.staticConnOf(t)
		// The derived connection that admits t, when no API one does.
		var admits *derivedConn
		if static == nil {
			for _, d := range ds {
				ns := s.networks[d.network]
				if ns == nil {
					continue
				}
				if admits == nil || d.owner() < admits.owner() ||
					(d.owner() == admits.owner() && ns.ID < s.networks[admits.network].ID) {
					admits = d
				}
			}
		}
		for _, d := range ds {
			status := derivedExcluded
			switch {
			case s.networks[d.network] == nil:
				status = derivedDormant
			case static != nil && static.Network == d.network:
				status = derivedShared
			case d == admits:
				status = derivedOwn
			}
			if status != d.status {
				ch.Topology = ch.Topology || d.status == derivedOwn || status == derivedOwn
				d.status = status
				stale[d.network] = true
			}
		}
	}
	for _, network := range slices.Sorted(maps.Keys(stale)) {
		s.refreshNetworkRemote(network, ch)
	}
}

// listDerived returns the derived connections as Connections, sorted by
// name: those that compile as connections of their own, or, with all,
// every one but those shared with an API connection.
func (s *State) listDerived(all bool) []Connection {
	var out []Connection
	for _, d := range s.derived {
		if d.status == derivedOwn || (all && d.status != derivedShared) {
			out = append(out, d.connection())
		}
	}
	slices.SortFunc(out, func(a, b Connection) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// connection is d as a Connection.
func (d *derivedConn) connection() Connection {
	return Connection{
		Name: derivedName(d.network, d.tunnel), Network: d.network, SegmentationID: d.tunnel.SegmentationID,
		NetworkType: d.tunnel.NetworkType, Flood: d.floods(), ID: d.id, Origin: d.owner(), TunnelIP: d.tunnel.Endpoint.String(),
	}
}
