package ha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultHelloPort is the UDP port the two nodes of a pair tell each other
// their priority on, over the underlay (each node's tunnel IP).
const DefaultHelloPort = 4799

// helloInterval is how often a node tells its peer its priority: the hello
// carries configuration, not liveness (BFD does that), so once a second is
// plenty.
const helloInterval = time.Second

// helloVersion is the version of the hello's JSON.
const helloVersion = 1

// hello is what a node tells its peer.
type hello struct {
	Version  int    `json:"version"`
	Priority uint8  `json:"priority"`
	Digest   string `json:"desired_state_digest"`
}

// peerInfo is what a node knows of its peer from its hellos.
type peerInfo struct {
	Priority uint8     // 0: never heard
	Digest   string    // "" until heard in this run
	Heard    time.Time // the last hello, zero if none in this run
}

// helloLink sends this node's hellos to the peer and receives the peer's:
// one UDP socket on the local tunnel IP. The peer's priority is kept in a
// file of the data directory, so that a restarted node that does not hear
// its peer at once (the peer's hellos are a second apart) still knows
// which of the two it is, and compiles the same flows as before.
type helloLink struct {
	conn  *net.UDPConn
	peer  netip.AddrPort
	file  string
	log   *slog.Logger
	wake  func()
	mu    sync.Mutex
	info  peerInfo
	local hello
}

// storedPeer is the file's content.
type storedPeer struct {
	Peer     string `json:"peer"`
	Priority uint8  `json:"priority"`
}

// listenHello opens the hello socket on local:port toward peer:port and
// loads what dataDir remembers of the peer; wake is called whenever the
// peer's hello says something new.
func listenHello(local, peer netip.Addr, port int, priority uint8, dataDir string, log *slog.Logger, wake func()) (*helloLink, error) {
	// Bound to the tunnel IP even while it is not on an interface (a
	// restarting userspace datapath recreates the device it lives on).
	lc := net.ListenConfig{Control: func(_, _ string, raw syscall.RawConn) error {
		var serr error
		err := raw.Control(func(fd uintptr) {
			if local.Is4() {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_FREEBIND, 1)
			} else {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_FREEBIND, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp", netip.AddrPortFrom(local, uint16(port)).String())
	if err != nil {
		return nil, fmt.Errorf("ha hello: listen on %v port %d: %w", local, port, err)
	}
	conn := pc.(*net.UDPConn)
	l := &helloLink{conn: conn, peer: netip.AddrPortFrom(peer, uint16(port)), file: filepath.Join(dataDir, "ha-peer.json"),
		log: log, wake: wake, local: hello{Version: helloVersion, Priority: priority}}
	if b, err := os.ReadFile(l.file); err == nil {
		var sp storedPeer
		if json.Unmarshal(b, &sp) == nil && sp.Peer == peer.String() {
			l.info.Priority = sp.Priority
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		log.Warn("ha: cannot read what is known of the peer", "file", l.file, "err", err)
	}
	return l, nil
}

// run sends a hello every helloInterval (and at once when setDigest
// changes it) and reads the peer's until ctx ends.
func (l *helloLink) run(ctx context.Context, changed <-chan struct{}) {
	go l.receive()
	t := time.NewTicker(helloInterval)
	defer t.Stop()
	for {
		l.send()
		select {
		case <-ctx.Done():
			l.conn.Close()
			return
		case <-t.C:
		case <-changed:
		}
	}
}

// setDigest sets the digest the next hellos carry.
func (l *helloLink) setDigest(d string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.local.Digest == d {
		return false
	}
	l.local.Digest = d
	return true
}

func (l *helloLink) send() {
	l.mu.Lock()
	b, err := json.Marshal(l.local)
	l.mu.Unlock()
	if err != nil {
		l.log.Error("ha hello: encode", "err", err)
		return
	}
	if _, err := l.conn.WriteToUDPAddrPort(b, l.peer); err != nil {
		l.log.Debug("ha hello: send", "peer", l.peer, "err", err)
	}
}

// receive reads hellos until the socket closes; only the peer's count.
func (l *helloLink) receive() {
	buf := make([]byte, 1024)
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Warn("ha hello: receive", "err", err)
			continue
		}
		if from.Addr().Unmap() != l.peer.Addr() {
			l.log.Debug("ha hello: not from the peer, ignored", "from", from)
			continue
		}
		var h hello
		if err := json.Unmarshal(buf[:n], &h); err != nil || h.Version != helloVersion || h.Priority == 0 {
			l.log.Warn("ha hello: unreadable hello from the peer, ignored", "from", from, "err", err)
			continue
		}
		l.heard(h)
	}
}

// heard records the peer's hello h.
func (l *helloLink) heard(h hello) {
	l.mu.Lock()
	news := l.info.Priority != h.Priority || l.info.Digest != h.Digest || l.info.Heard.IsZero()
	persist := l.info.Priority != h.Priority
	l.info = peerInfo{Priority: h.Priority, Digest: h.Digest, Heard: time.Now()}
	l.mu.Unlock()
	if persist {
		b, _ := json.Marshal(storedPeer{Peer: l.peer.Addr().String(), Priority: h.Priority})
		tmp := l.file + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			l.log.Warn("ha: cannot remember the peer's priority", "file", l.file, "err", err)
		} else if err := os.Rename(tmp, l.file); err != nil {
			l.log.Warn("ha: cannot remember the peer's priority", "file", l.file, "err", err)
		}
		l.log.Info("ha: the peer's priority", "peer", l.peer.Addr(), "priority", h.Priority)
	}
	if news {
		l.wake()
	}
}

// peer returns what is known of the peer.
func (l *helloLink) peerInfo() peerInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}
