package app

import (
	"maps"
	"net/netip"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Defaults of a BGP peer's optional fields, which the BGP speaker applies
// to a field left 0 (the State stores what it was given).
const (
	// DefaultBGPPort is the TCP port of BGP (RFC 4271).
	DefaultBGPPort = 179
	// DefaultBGPHoldTime is the hold time, in seconds, proposed to a peer.
	DefaultBGPHoldTime = 90
	// DefaultBGPMaxRoutes is how many routes a peer may send before its
	// session is closed.
	DefaultBGPMaxRoutes = 100000
)

// Limits of a BGP peer's fields.
const (
	// maxBGPPasswordLen is the longest TCP MD5 key Linux takes
	// (TCP_MD5SIG_MAXKEYLEN).
	maxBGPPasswordLen = 80
	// minBGPHoldTime is the shortest hold time other than 0 (RFC 4271,
	// section 4.2).
	minBGPHoldTime = 3
)

// BGPPeer is a configured BGP neighbour.
type BGPPeer struct {
	Name string
	// Address is the peer's IPv4 or IPv6 address in canonical form;
	// unique among peers, not one of this gateway's tunnel IPs.
	Address string
	// ASN is the peer's autonomous system number, 1-4294967295.
	ASN uint32
	// Port is the peer's TCP port; 0 means DefaultBGPPort.
	Port uint16
	// Password is the TCP MD5 key of the session (RFC 2385), up to 80
	// bytes; "" for none. The API never shows it.
	Password string
	// HoldTime is the hold time in seconds: 0 means DefaultBGPHoldTime,
	// else 3-65535.
	HoldTime uint16
	// Keepalive is the keepalive interval in seconds, less than the hold
	// time; 0 means a third of the hold time.
	Keepalive uint16
	// MaxRoutes is how many routes the peer may send; 0 means
	// DefaultBGPMaxRoutes.
	MaxRoutes uint32
}

// BGP session states (RFC 4271, section 8.2.2), as BGPPeerStatus.State
// reports them.
const (
	BGPIdle        = "idle"
	BGPConnect     = "connect"
	BGPActive      = "active"
	BGPOpenSent    = "opensent"
	BGPOpenConfirm = "openconfirm"
	BGPEstablished = "established"
)

// BGPPeerStatus is what the BGP speaker reports of one peer.
type BGPPeerStatus struct {
	// State is one of the BGP session states (BGPIdle ... BGPEstablished).
	State string
	// Since is when the session entered State: its uptime when
	// established.
	Since            time.Time
	RoutesReceived   uint64
	RoutesAccepted   uint64
	RoutesAdvertised uint64
	// LastError is the last reason the session went down or was
	// refused; "" for none.
	LastError string
}

// CreateBGPPeer adds a BGP peer; its address is returned in canonical
// form.
func (s *State) CreateBGPPeer(p BGPPeer) (BGPPeer, error) {
	var out BGPPeer
	err := s.mutate(func(ch *Change) error {
		ch.BGPPeers = true
		if err := validateName(p.Name); err != nil {
			return err
		}
		p, addr, err := validateBGPPeer(p, s.local)
		if err != nil {
			return err
		}
		if _, exists := s.peers[p.Name]; exists {
			return alreadyExists("bgp peer", p.Name)
		}
		if err := s.checkPeerAddress(p.Name, addr); err != nil {
			return err
		}
		if err := s.commit(func(tx *bolt.Tx) error { return putBGPPeer(tx, p) }); err != nil {
			return err
		}
		s.addBGPPeer(p, addr)
		s.log.Info("bgp peer created", "bgp_peer", p.Name, "address", p.Address, "asn", p.ASN, "password", p.Password != "")
		out = p
		return nil
	})
	return out, err
}

// ReplaceBGPPeer replaces an existing BGP peer, every field (PUT); p.Name
// must be "" or name.
func (s *State) ReplaceBGPPeer(name string, p BGPPeer) (BGPPeer, error) {
	var out BGPPeer
	err := s.mutate(func(ch *Change) error {
		ch.BGPPeers = true
		old, exists := s.peers[name]
		if !exists {
			return notFound(nil, "bgp peer %q not found", name)
		}
		if p.Name != "" && p.Name != name {
			return invalid(At(FieldName), "name %q does not match bgp peer %q being replaced", p.Name, name)
		}
		p.Name = name
		p, addr, err := validateBGPPeer(p, s.local)
		if err != nil {
			return err
		}
		if err := s.checkPeerAddress(name, addr); err != nil {
			return err
		}
		if err := s.commit(func(tx *bolt.Tx) error { return putBGPPeer(tx, p) }); err != nil {
			return err
		}
		delete(s.peerAddrs, netip.MustParseAddr(old.Address))
		s.addBGPPeer(p, addr)
		s.log.Info("bgp peer replaced", "bgp_peer", name, "address", p.Address, "asn", p.ASN, "password", p.Password != "")
		out = p
		return nil
	})
	return out, err
}

// DeleteBGPPeer deletes a BGP peer.
func (s *State) DeleteBGPPeer(name string) error {
	return s.mutate(func(ch *Change) error {
		ch.BGPPeers = true
		p, exists := s.peers[name]
		if !exists {
			return notFound(nil, "bgp peer %q not found", name)
		}
		if err := s.commit(func(tx *bolt.Tx) error { return deleteKey(tx, bucketBGPPeers, name) }); err != nil {
			return err
		}
		delete(s.peerAddrs, netip.MustParseAddr(p.Address))
		delete(s.peers, name)
		s.log.Info("bgp peer deleted", "bgp_peer", name)
		return nil
	})
}

// GetBGPPeer returns one BGP peer, its password included.
func (s *State) GetBGPPeer(name string) (BGPPeer, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, exists := s.peers[name]
	if !exists {
		return BGPPeer{}, notFound(nil, "bgp peer %q not found", name)
	}
	return p, nil
}

// ListBGPPeers returns every BGP peer, sorted by name, their passwords
// included (the BGP speaker needs them).
func (s *State) ListBGPPeers() []BGPPeer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]BGPPeer, 0, len(s.peers))
	for _, name := range slices.Sorted(maps.Keys(s.peers)) {
		out = append(out, s.peers[name])
	}
	return out
}

// validateBGPPeer checks a peer's fields but its name on their own (not
// against other peers) and returns the peer with its address in canonical
// form, and that address.
func validateBGPPeer(p BGPPeer, local []netip.Addr) (BGPPeer, netip.Addr, error) {
	addr, err := parsePeerAddress(p.Address, local)
	if err != nil {
		return BGPPeer{}, netip.Addr{}, err
	}
	p.Address = addr.String()
	if p.ASN == 0 {
		return BGPPeer{}, netip.Addr{}, invalid(At(FieldASN), "asn is required: use 1-4294967295")
	}
	if n := len(p.Password); n > maxBGPPasswordLen {
		return BGPPeer{}, netip.Addr{}, invalid(At(FieldPassword), "password is %d bytes long: a TCP MD5 key is at most %d bytes", n, maxBGPPasswordLen)
	}
	if p.HoldTime != 0 && p.HoldTime < minBGPHoldTime {
		return BGPPeer{}, netip.Addr{}, invalid(At(FieldHoldTime), "hold_time %d is out of range: use %d-65535 seconds, or omit it for %d (RFC 4271 allows no hold time of 1 or 2 seconds)", p.HoldTime, minBGPHoldTime, DefaultBGPHoldTime)
	}
	hold, what := p.HoldTime, "hold_time"
	if hold == 0 {
		hold, what = DefaultBGPHoldTime, "the default hold time"
	}
	if p.Keepalive >= hold {
		return BGPPeer{}, netip.Addr{}, invalid(At(FieldKeepalive), "keepalive %d must be less than %s %d", p.Keepalive, what, hold)
	}
	return p, addr, nil
}

// parsePeerAddress checks a BGP peer's address, IPv4 or IPv6 without a
// zone, and returns it in canonical form (an IPv4-mapped IPv6 address is
// its IPv4 address).
func parsePeerAddress(s string, local []netip.Addr) (netip.Addr, error) {
	field := At(FieldAddress)
	a, err := parseAddress(field, "address", s)
	if err != nil {
		return netip.Addr{}, err
	}
	if problem := hostAddrProblem(a); problem != "" {
		return netip.Addr{}, invalid(field, "address %s %s", a, problem)
	}
	if slices.Contains(local, a) {
		return netip.Addr{}, invalid(field, "address %s is this gateway's own tunnel IP", a)
	}
	return a, nil
}

func (s *State) checkPeerAddress(peer string, addr netip.Addr) error {
	if owner, taken := s.peerAddrs[addr]; taken && owner != peer {
		return conflict(At(FieldAddress), "address %s is already used by bgp peer %q", addr, owner)
	}
	return nil
}

func (s *State) addBGPPeer(p BGPPeer, addr netip.Addr) {
	s.peers[p.Name] = p
	s.peerAddrs[addr] = p.Name
}
