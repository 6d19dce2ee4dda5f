package flows

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/ofnet/ofctrl"
)

// ErrNotConnected is returned by Apply and Dump while no switch is connected.
var ErrNotConnected = errors.New("openflow switch not connected")

// Event reports a change of the switch connection.
type Event struct {
	Connected bool // the switch (re)connected; false: it went away
	// Generation numbers the connection the event is about: 1 for the
	// session's first, one more for each next (see Session.Generation).
	Generation uint64
}

// Session is l2gwd's OpenFlow 1.3 controller endpoint for one bridge: the
// bridge connects to it (controller tcp:ADDR, or ssl:ADDR with ListenTLS),
// and it programs flows in atomic bundles and reads them back with flow-stats
// dumps. When the switch reconnects (or ovs-vswitchd restarts), the session
// carries on with the new connection.
type Session struct {
	log      *slog.Logger
	listener net.Listener
	events   chan Event

	applyMu sync.Mutex // one bundle at a time
	macs    *macTable  // the MACs learned on local ports (WatchLocalMACs)

	meterMu sync.Mutex   // held while a connection becomes the switch, so SnoopHosts sees it or it sees SnoopHosts
	meter   meterInstall // SnoopMeter on the switch (snoop.go)

	mu      sync.Mutex
	sw      *ofctrl.OFSwitch       // current connection, nil when none
	conn    net.Conn               // sw's connection, written to directly by Apply
	gen     uint64                 // connections so far: sw's Generation
	replies map[uint32]*replyParts // outstanding multipart requests by xid
	dumps   map[uint32]*flowDump   // outstanding flow dumps by xid
	errs    *[]switchError         // while a bundle is sent: the switch's errors
}

// eventBuffer is how many connection events wait for a slow reader before
// older ones are dropped.
const eventBuffer = 16

// Listen starts accepting switch connections on addr ("127.0.0.1:6653").
// The libraries' own logs (ofctrl, libOpenflow: warnings and errors) go to
// the first logger ever given to Listen or ListenTLS.
func Listen(addr string, log *slog.Logger) (*Session, error) {
	return listen(addr, nil, log)
}

// listen starts a session on addr, over TLS when conf is not nil.
func listen(addr string, conf *tls.Config, log *slog.Logger) (*Session, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("openflow listen %s: %w", addr, err)
	}
	if conf != nil {
		l = tls.NewListener(l, conf)
	}
	routeLibraryLogs(log)
	s := &Session{
		log:      log,
		listener: l,
		events:   make(chan Event, eventBuffer),
		replies:  make(map[uint32]*replyParts),
		dumps:    make(map[uint32]*flowDump),
		macs:     newMACTable(log),
	}
	go s.serve(l)
	log.Info("openflow listening", "addr", l.Addr().String(), "tls", conf != nil)
	return s, nil
}

// Events delivers an Event on every switch connect and disconnect. It never
// blocks the session: when the reader lags, the oldest events are dropped, so
// the last event received always tells the current state.
func (s *Session) Events() <-chan Event { return s.events }

// Generation is the number of the switch connection in use (the
// Generation of its connected Event), 0 while there is none: what was
// read from the switch under one generation holds until the next.
func (s *Session) Generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sw == nil {
		return 0
	}
	return s.gen
}

// Connected reports whether a switch is connected now.
func (s *Session) Connected() bool { return s.current() != nil }

func (s *Session) current() *ofctrl.OFSwitch {
	sw, _ := s.link()
	return sw
}

// link returns the current switch and its connection (nil, nil when none).
func (s *Session) link() (*ofctrl.OFSwitch, net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sw, s.conn
}

// Close stops listening and drops the switch connection (a Disconnected
// event follows). ofctrl leaves the dropped connection's receive goroutine
// parked.
func (s *Session) Close() {
	s.listener.Close()
	if sw := s.current(); sw != nil {
		sw.Disconnect()
	}
}

// switchApp receives ofctrl's callbacks for one switch connection of a
// Session.
type switchApp struct {
	s    *Session
	conn net.Conn
	tap  *inboundTap // conn as libOpenflow reads it
}

// SwitchConnected sends the host snooping meter (when SnoopHosts was
// called) and arms the connection's learned-MAC monitor, then makes sw the
// session's switch: both come before any bundle is sent.
func (a *switchApp) SwitchConnected(sw *ofctrl.OFSwitch) {
	s := a.s
	s.meterMu.Lock()
	defer s.meterMu.Unlock()
	if s.meter.on {
		s.installMeter(sw)
	}
	s.macs.arm(a.tap, sw)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sw, s.conn = sw, a.conn
	s.gen++
	s.log.Info("openflow switch connected", "dpid", sw.DPID().String())
	s.notify(Event{Connected: true, Generation: s.gen})
}

// SwitchDisconnected forgets sw unless a newer connection already replaced it.
func (a *switchApp) SwitchDisconnected(sw *ofctrl.OFSwitch) {
	s := a.s
	s.macs.detach(a.tap)
	s.meterMu.Lock()
	if s.meter.sw == sw {
		s.meter.sw = nil
	}
	s.meterMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sw != sw {
		return
	}
	s.sw, s.conn = nil, nil
	s.log.Warn("openflow switch disconnected", "dpid", sw.DPID().String())
	s.notify(Event{Connected: false, Generation: s.gen})
}

// PacketRcvd is never called: packet-ins (TableSnoop's copies) are read
// off the connection by the session itself (macTable.inbound), and
// libOpenflow does not decode them (openflow13Parser).
func (a *switchApp) PacketRcvd(*ofctrl.OFSwitch, *ofctrl.PacketIn) {}

// MultipartReply hands a reply part to the request waiting for its xid.
func (a *switchApp) MultipartReply(_ *ofctrl.OFSwitch, rep *openflow13.MultipartReply) {
	a.s.mu.Lock()
	r := a.s.replies[rep.Xid]
	a.s.mu.Unlock()
	if r != nil {
		r.add(rep)
	}
}

// partSeen hands a multipart reply part, read off the connection, to the
// request waiting for its xid.
func (s *Session) partSeen(xid uint32, final bool) {
	s.mu.Lock()
	r := s.replies[xid]
	s.mu.Unlock()
	if r != nil {
		r.seen(final)
	}
}

// notify queues ev without blocking, dropping the oldest queued events when
// the reader lags. Callers hold s.mu, so events queue in the order the state
// changed.
func (s *Session) notify(ev Event) {
	for {
		select {
		case s.events <- ev:
			return
		default:
		}
		select {
		case <-s.events:
		default:
		}
	}
}
