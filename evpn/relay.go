package evpn

// The BGP relay: GoBGP v4.8.0 treats an UPDATE as a withdrawal when an
// EVPN extended community in it has a subtype its parser does not know
// (stripUnparsable says which and where), FRR 8.4 attaches such
// communities (ARP/ND, RFC 9047, on MAC/IP routes of IPv6 routers, with
// advertise-default-gw or multihoming proxy; DF election on type-4 routes)
// with no knob to stop it, and GoBGP has no hook between its socket and
// its parser (ServerOption covers gRPC, the logger and a timing hook; the
// listener and the dialer are internal). So GoBGP talks only to loopback
// and every real session goes through this relay, which strips those
// communities from what peers send and passes everything else through
// byte for byte.
//
// GoBGP listens on 127.0.0.1 (a free port) and knows each peer by a
// loopback identity 127.0.0.N, stable while the peer exists; its
// neighbour is that identity, at the port of the relay's listener there,
// from local address 127.0.0.1. Out: the relay accepts GoBGP's connection
// there and dials the real peer (from the --bgp-listen host when it is a
// specific address, with the peer's TCP MD5 key, TTL 1 for eBGP as GoBGP
// did). In: the relay listens on --bgp-listen (with the MD5 key of every
// peer that has one), accepts only configured peers, and connects to
// GoBGP from the peer's identity, so GoBGP sees the right peer and
// resolves connection collisions itself. The loopback legs carry a TCP
// MD5 key of their own, random per speaker, so that no other local
// process can pose as GoBGP or as a peer there.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/server"
	"golang.org/x/sys/unix"

	"github.com/l2gw/l2gw/app"
)

// relayLoopback is GoBGP's own address, where it listens and which it
// connects from.
var relayLoopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

const (
	// relayDialTimeout bounds a connection attempt to a peer or to GoBGP.
	relayDialTimeout = 5 * time.Second
	// relayGrace is how long the other direction of a session may still
	// deliver once one has ended (a NOTIFICATION, say, before the close).
	relayGrace = 2 * time.Second
)

// relay stands between GoBGP and the real peers (see above).
type relay struct {
	log    *slog.Logger
	asn    uint32           // this speaker's: a peer of another ASN is eBGP
	local  netip.Addr       // the --bgp-listen host when specific: where sessions go out from
	ln     *net.TCPListener // --bgp-listen; nil when the speaker accepts no session
	gobgp  netip.AddrPort   // GoBGP's listener, once it listens
	key    string           // TCP MD5 key of the loopback legs
	count  func(subtype uint8)
	ctx    context.Context // ends with close: cancels dials
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	peers  map[string]*relayPeer // by name
	keys   map[netip.Addr]string // the MD5 keys set on ln, by peer address
	noted  map[string]bool       // peers whose stripping was logged
	conns  map[*net.TCPConn]bool // open connections
	closed bool
}

// relayPeer is a configured peer as the relay serves it.
type relayPeer struct {
	app.BGPPeer
	real netip.AddrPort   // where the peer is
	id   netip.Addr       // its loopback identity: GoBGP's neighbour address
	ln   *net.TCPListener // on id: where GoBGP connects to reach the peer
}

// newRelay opens the relay's listener on host:port (none for port 0).
// The relay accepts sessions once GoBGP runs behind it (startBGP); count
// is called for every community stripped, with its subtype.
func newRelay(log *slog.Logger, asn uint32, host string, port int, count func(subtype uint8)) (*relay, error) {
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("bgp listen host %q: %w", host, err)
	}
	addr = addr.Unmap()
	r := &relay{
		log: log.With("component", "bgp-relay"), asn: asn, key: rand.Text(), count: count,
		peers: map[string]*relayPeer{}, keys: map[netip.Addr]string{}, noted: map[string]bool{}, conns: map[*net.TCPConn]bool{},
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if !addr.IsUnspecified() {
		r.local = addr
	}
	if port == 0 {
		return r, nil
	}
	// TTL 255 on the listener, as GoBGP's (netutils.listenControl), for
	// peers that check it (RFC 5082).
	r.ln, err = listenTCP(netip.AddrPortFrom(addr, uint16(port)), 255)
	if err != nil {
		return nil, fmt.Errorf("bgp listen %s: %w", netip.AddrPortFrom(addr, uint16(port)), err)
	}
	return r, nil
}

// startBGP starts GoBGP behind the relay: it listens on a free port of
// relayLoopback when the relay accepts sessions, else nowhere.
func (r *relay) startBGP(ctx context.Context, s *server.BgpServer, g *api.Global) error {
	g.ListenAddresses = []string{relayLoopback.String()}
	g.ListenPort = -1
	if r.ln == nil {
		return s.StartBgp(ctx, &api.StartBgpRequest{Global: g})
	}
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		g.ListenPort = int32(port)
		err = s.StartBgp(ctx, &api.StartBgpRequest{Global: g})
		if err == nil {
			r.gobgp = netip.AddrPortFrom(relayLoopback, port)
			break
		}
		// Someone took the port between freePort and GoBGP's listen.
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 3 {
			return err
		}
	}
	r.wg.Add(1)
	go r.serveReal()
	return nil
}

// freePort returns a TCP port of relayLoopback that is free now.
func freePort() (uint16, error) {
	l, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(relayLoopback, 0)))
	if err != nil {
		return 0, fmt.Errorf("find a loopback port for GoBGP: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).AddrPort().Port(), nil
}

// setPeers makes the relay's peers those of peers (all of them, each
// time) and returns, for each it serves, where GoBGP is to connect to
// reach it: its loopback identity and the port of its listener there.
// A peer keeps its identity while it exists.
func (r *relay) setPeers(peers []app.BGPPeer) (map[string]netip.AddrPort, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("BGP relay closed")
	}
	want := make(map[string]app.BGPPeer, len(peers))
	for _, p := range peers {
		want[p.Name] = p
	}
	for name, rp := range r.peers {
		if _, ok := want[name]; !ok {
			r.drop(name, rp)
		}
	}
	var errs []error
	via := make(map[string]netip.AddrPort, len(want))
	for name, p := range want {
		addr, err := netip.ParseAddr(p.Address)
		if err != nil {
			errs = append(errs, fmt.Errorf("BGP peer %s: address %q: %w", name, p.Address, err))
			if rp := r.peers[name]; rp != nil {
				r.drop(name, rp)
			}
			continue
		}
		rp := r.peers[name]
		if rp == nil {
			if rp, err = r.newPeer(name); err != nil {
				errs = append(errs, err)
				continue
			}
			r.peers[name] = rp
		}
		rp.BGPPeer, rp.real = p, netip.AddrPortFrom(addr.Unmap(), orDefault(p.Port, app.DefaultBGPPort))
		via[name] = netip.AddrPortFrom(rp.id, rp.ln.Addr().(*net.TCPAddr).AddrPort().Port())
	}
	if err := r.syncKeys(); err != nil {
		errs = append(errs, err)
	}
	return via, errors.Join(errs...)
}

// newPeer gives peer name a loopback identity and a listener there; mu is
// held.
func (r *relay) newPeer(name string) (*relayPeer, error) {
	id, ok := r.freeIdentity()
	if !ok {
		return nil, fmt.Errorf("BGP peer %s: no loopback address left for the relay", name)
	}
	ln, err := listenTCP(netip.AddrPortFrom(id, 0), 0)
	if err != nil {
		return nil, fmt.Errorf("BGP peer %s: relay listener on %s: %w", name, id, err)
	}
	if err := setListenerKey(ln, relayLoopback, r.key); err != nil {
		ln.Close()
		return nil, fmt.Errorf("BGP peer %s: relay listener on %s: %w", name, id, err)
	}
	r.wg.Add(1)
	go r.servePeer(name, ln)
	return &relayPeer{id: id, ln: ln}, nil
}

// freeIdentity returns the first loopback address from 127.0.0.2 on that
// no peer has (skipping .0 and .255); mu is held.
func (r *relay) freeIdentity() (netip.Addr, bool) {
	used := make(map[netip.Addr]bool, len(r.peers))
	for _, rp := range r.peers {
		used[rp.id] = true
	}
	for n := 2; n < 1<<16; n++ {
		if low := n & 0xff; low == 0 || low == 0xff {
			continue
		}
		if a := netip.AddrFrom4([4]byte{127, 0, byte(n >> 8), byte(n)}); !used[a] {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// drop forgets a peer and closes its listener; mu is held.
func (r *relay) drop(name string, rp *relayPeer) {
	rp.ln.Close()
	delete(r.peers, name)
	delete(r.noted, name)
}

// syncKeys makes the MD5 keys of the relay's listener those of the peers
// with a password (of the listener's address family: no other can
// connect); mu is held.
func (r *relay) syncKeys() error {
	if r.ln == nil {
		return nil
	}
	listen4 := r.ln.Addr().(*net.TCPAddr).AddrPort().Addr().Unmap().Is4()
	want := map[netip.Addr]string{}
	for _, rp := range r.peers {
		if rp.Password != "" && rp.real.Addr().Is4() == listen4 {
			want[rp.real.Addr()] = rp.Password
		}
	}
	var errs []error
	for addr := range r.keys {
		if _, ok := want[addr]; ok {
			continue
		}
		if err := setListenerKey(r.ln, addr, ""); err != nil {
			errs = append(errs, fmt.Errorf("remove the TCP MD5 key of %s: %w", addr, err))
		}
		delete(r.keys, addr)
	}
	for addr, key := range want {
		if r.keys[addr] == key {
			continue
		}
		if err := setListenerKey(r.ln, addr, key); err != nil {
			errs = append(errs, fmt.Errorf("set the TCP MD5 key of %s: %w", addr, err))
			continue
		}
		r.keys[addr] = key
	}
	return errors.Join(errs...)
}

// serveReal accepts the sessions peers open to --bgp-listen.
func (r *relay) serveReal() {
	defer r.wg.Done()
	for {
		c, err := r.ln.AcceptTCP()
		if err != nil {
			if !r.acceptFailed(err) {
				return
			}
			continue
		}
		from := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		rp, ok := r.peerAt(from)
		if !ok {
			r.log.Debug("BGP connection from an address that is no configured peer: closed", "from", c.RemoteAddr())
			c.Close()
			continue
		}
		r.wg.Add(1)
		go r.inbound(rp, c)
	}
}

// servePeer accepts GoBGP's sessions toward peer name, on its identity.
func (r *relay) servePeer(name string, ln *net.TCPListener) {
	defer r.wg.Done()
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if !r.acceptFailed(err) {
				return
			}
			continue
		}
		rp, ok := r.peerNamed(name)
		if !ok {
			c.Close()
			continue
		}
		r.wg.Add(1)
		go r.outbound(rp, c)
	}
}

// acceptFailed logs a failed accept and tells whether to go on (false:
// the listener is closed).
func (r *relay) acceptFailed(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	r.log.Warn("BGP relay: accept failed", "err", err)
	time.Sleep(100 * time.Millisecond) // out of file descriptors, say: no busy loop
	return true
}

// inbound relays a session a peer opened: to GoBGP, from the peer's
// identity.
func (r *relay) inbound(rp relayPeer, c *net.TCPConn) {
	defer r.wg.Done()
	if !r.track(c) {
		return
	}
	defer r.untrack(c)
	if ttl := r.ttl(rp); ttl > 0 {
		if err := setConnTTL(c, ttl); err != nil {
			r.log.Debug("BGP relay: cannot set the TTL", "peer", rp.Name, "err", err)
		}
	}
	g, err := dialer(rp.id, r.key, 0).DialContext(r.ctx, "tcp4", r.gobgp.String())
	if err != nil {
		r.log.Warn("BGP relay: cannot reach GoBGP", "peer", rp.Name, "err", err)
		return
	}
	gc := g.(*net.TCPConn)
	if !r.track(gc) {
		return
	}
	defer r.untrack(gc)
	r.pipe(rp, c, gc)
}

// dialNow opens a session with peer name at once and hands it to GoBGP as
// one the peer opened: GoBGP's own first attempt waits 1.5-2 s after the
// peer is added (fsm.go connectLoop), and a restarted l2gwd must be back in
// its peers' tables as soon as it can. A peer that does not answer is left
// to GoBGP's retries (and to its own).
func (r *relay) dialNow(name string) {
	rp, ok := r.peerNamed(name)
	if !ok {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		c, err := dialer(r.local, rp.Password, r.ttl(rp)).DialContext(r.ctx, "tcp", rp.real.String())
		if err != nil {
			r.log.Debug("BGP peer not reached at once: GoBGP retries", "peer", rp.Name, "address", rp.real, "err", err)
			return
		}
		r.wg.Add(1)
		r.inbound(rp, c.(*net.TCPConn))
	}()
}

// outbound relays a session GoBGP opened: to the real peer.
func (r *relay) outbound(rp relayPeer, g *net.TCPConn) {
	defer r.wg.Done()
	if !r.track(g) {
		return
	}
	defer r.untrack(g)
	c, err := dialer(r.local, rp.Password, r.ttl(rp)).DialContext(r.ctx, "tcp", rp.real.String())
	if err != nil {
		r.log.Debug("BGP peer not reached", "peer", rp.Name, "address", rp.real, "err", err)
		return
	}
	pc := c.(*net.TCPConn)
	if !r.track(pc) {
		return
	}
	defer r.untrack(pc)
	r.pipe(rp, pc, g)
}

// ttl is the TTL of a peer's sessions: 1 for eBGP, as GoBGP sets it
// (fsm.go setPeerConnTTL); 0 leaves the system's.
func (r *relay) ttl(rp relayPeer) int {
	if rp.ASN != r.asn {
		return 1
	}
	return 0
}

// pipe relays one session until both directions end: what the peer (real)
// sends goes to GoBGP (local) through relayMessages, the rest as is. A
// direction that ends cleanly half-closes its destination and leaves the
// other relayGrace to finish; an error (framing included) closes both.
func (r *relay) pipe(rp relayPeer, real, local *net.TCPConn) {
	done := make(chan error, 2)
	go func() {
		noted := false
		err := relayMessages(local, real, func(subtype uint8) {
			r.count(subtype)
			if !noted {
				noted = true
				r.noteStripping(rp.Name, subtype)
			}
		})
		if err == nil {
			err = local.CloseWrite()
		}
		done <- err
	}()
	go func() {
		_, err := io.Copy(real, local)
		if err == nil {
			err = real.CloseWrite()
		}
		done <- err
	}()
	for i := range 2 {
		err := <-done
		switch {
		case errors.Is(err, errFraming):
			r.log.Warn("BGP session closed: the peer's stream is not BGP messages", "peer", rp.Name, "err", err)
			fallthrough
		case err != nil:
			real.Close()
			local.Close()
		case i == 0:
			deadline := time.Now().Add(relayGrace)
			real.SetDeadline(deadline)
			local.SetDeadline(deadline)
		}
	}
}

// noteStripping logs, once per peer, that its routes lose communities.
func (r *relay) noteStripping(peer string, subtype uint8) {
	r.mu.Lock()
	first := !r.noted[peer]
	r.noted[peer] = true
	r.mu.Unlock()
	if first {
		r.log.Info("BGP peer sends EVPN extended communities GoBGP cannot parse: stripped from its routes (counted in l2gw_evpn_communities_stripped_total; logged once per peer)",
			"peer", peer, "subtype", subtype)
	}
}

// peerAt returns the peer whose real address is addr.
func (r *relay) peerAt(addr netip.Addr) (relayPeer, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rp := range r.peers {
		if rp.real.Addr() == addr {
			return *rp, true
		}
	}
	return relayPeer{}, false
}

// peerNamed returns peer name.
func (r *relay) peerNamed(name string) (relayPeer, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rp := r.peers[name]; rp != nil {
		return *rp, true
	}
	return relayPeer{}, false
}

// neighbour returns where GoBGP knows peer name (zero when the relay does
// not serve it).
func (r *relay) neighbour(name string) netip.Addr {
	rp, _ := r.peerNamed(name)
	return rp.id
}

// track records an open connection; once the relay is closing it closes
// c instead and returns false.
func (r *relay) track(c *net.TCPConn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		c.Close()
		return false
	}
	r.conns[c] = true
	return true
}

// untrack closes a connection and forgets it.
func (r *relay) untrack(c *net.TCPConn) {
	c.Close()
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

// close stops the relay: its listeners close, and its sessions (GoBGP has
// ended them by now) get relayGrace to deliver what is in flight.
func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	if r.ln != nil {
		r.ln.Close()
	}
	for _, rp := range r.peers {
		rp.ln.Close()
	}
	deadline := time.Now().Add(relayGrace)
	for c := range r.conns {
		c.SetDeadline(deadline)
	}
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// listenTCP listens on addr, TCP without MPTCP (Go enables it for
// listeners by default, and an MPTCP socket refuses TCP MD5: golang/go#74643,
// as GoBGP's netutils notes), with TTL ttl unless 0.
func listenTCP(addr netip.AddrPort, ttl int) (*net.TCPListener, error) {
	lc := net.ListenConfig{}
	lc.SetMultipathTCP(false)
	if ttl > 0 {
		lc.Control = func(network, _ string, c syscall.RawConn) error {
			return withFD(c, func(fd int) error { return setTTL(fd, network, ttl) })
		}
	}
	network := "tcp4"
	if !addr.Addr().Is4() {
		network = "tcp6"
	}
	l, err := lc.Listen(context.Background(), network, addr.String())
	if err != nil {
		return nil, err
	}
	return l.(*net.TCPListener), nil
}

// dialer dials from local (any when invalid), with TCP MD5 key key
// unless "" and TTL ttl unless 0.
func dialer(local netip.Addr, key string, ttl int) *net.Dialer {
	d := &net.Dialer{
		Timeout: relayDialTimeout,
		Control: func(network, address string, c syscall.RawConn) error {
			to, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			return withFD(c, func(fd int) error {
				if key != "" {
					if err := setMD5(fd, to.Addr().Unmap(), key); err != nil {
						return fmt.Errorf("TCP MD5 key for %s: %w", to.Addr(), err)
					}
				}
				if ttl > 0 {
					return setTTL(fd, network, ttl)
				}
				return nil
			})
		},
	}
	if local.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	return d
}

// setListenerKey sets the TCP MD5 key ("" removes it) of a listener for
// connections from peer.
func setListenerKey(ln *net.TCPListener, peer netip.Addr, key string) error {
	c, err := ln.SyscallConn()
	if err != nil {
		return err
	}
	return withFD(c, func(fd int) error { return setMD5(fd, peer, key) })
}

// setConnTTL sets the TTL of an accepted connection.
func setConnTTL(conn *net.TCPConn, ttl int) error {
	c, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	network := "tcp4"
	if !conn.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap().Is4() {
		network = "tcp6"
	}
	return withFD(c, func(fd int) error { return setTTL(fd, network, ttl) })
}

// withFD runs fn on a socket's descriptor.
func withFD(c syscall.RawConn, fn func(fd int) error) error {
	var err error
	if cerr := c.Control(func(fd uintptr) { err = fn(int(fd)) }); cerr != nil {
		return cerr
	}
	return err
}

// setMD5 sets a socket's TCP MD5 signature key (RFC 2385) for peer; ""
// removes it. The address family of the key is peer's, which is the
// socket's: IPv4 listeners and dialers are tcp4, IPv6 ones tcp6.
func setMD5(fd int, peer netip.Addr, key string) error {
	sig := unix.TCPMD5Sig{Keylen: uint16(len(key))}
	copy(sig.Key[:], key)
	if peer.Is4() {
		sig.Addr.Family = unix.AF_INET
		a := peer.As4()
		copy(sig.Addr.Data[2:], a[:]) // after sin_port
	} else {
		sig.Addr.Family = unix.AF_INET6
		a := peer.As16()
		copy(sig.Addr.Data[6:], a[:]) // after sin6_port and sin6_flowinfo
	}
	return unix.SetsockoptTCPMD5Sig(fd, unix.IPPROTO_TCP, unix.TCP_MD5SIG, &sig)
}

// setTTL sets the unicast TTL (hop limit) of a tcp4 or tcp6 socket.
func setTTL(fd int, network string, ttl int) error {
	if network == "tcp6" {
		return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl)
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, ttl)
}
