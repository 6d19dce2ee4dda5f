package flows

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"time"

	"github.com/contiv/libOpenflow/common"
	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/libOpenflow/util"
	"github.com/contiv/ofnet/ofctrl"
)

// handshakeTimeout bounds the hello / features exchange of a new connection.
const handshakeTimeout = 10 * time.Second

// controllerID is the controller connection ID every connection of every
// l2gwd sets (ofctrl sends NXT_SET_CONTROLLER_ID): TableSnoop's copies are
// addressed to it, so they reach l2gwd and no other controller of the
// bridge (ovs-ofctl monitor, say), and a restarted l2gwd receives them with
// the same flows. Its value spells "l2".
const controllerID uint16 = 0x6c32

// serve accepts switch connections until l is closed. Each connection's
// TLS handshake (ListenTLS) runs on its own goroutine, so a slow or hostile
// client cannot hold up the others.
//
// The session owns the listener and the handshake instead of using
// ofctrl.Controller: Controller.Listen calls log.Fatal on errors, leaves a
// goroutine per connection blocked forever (a deferred send on a nil channel in
// server mode), and its message stream gives no way to see the OpenFlow error
// that rejects one flow_mod of a bundle (ofctrl only reports bundle-control
// errors). Once the handshake is done, ofctrl.NewSwitch takes the connection
// over as it would under a Controller, except for the one message of
// ofctrl's that groupGuard keeps from the switch: the deletion of every
// group.
//
// Known ofctrl limits: each connection leaves its echo (heartbeat) goroutine
// running after the switch goes; and a switch that reconnects before ofctrl
// noticed its previous connection drop gets the old *OFSwitch back without a
// receive loop (ofctrl keys switches by datapath id), which OVS, closing the
// old TCP connection first, does not trigger in practice.
func (s *Session) serve(l net.Listener) {
	for {
		conn, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			s.log.Error("openflow accept", "err", err)
			time.Sleep(time.Second)
			continue
		}
		go s.handshake(conn)
	}
}

// handshake completes the TLS handshake of a TLS connection, then
// negotiates OpenFlow 1.3 on conn and hands it to ofctrl.
func (s *Session) handshake(conn net.Conn) {
	log := s.log.With("remote", conn.RemoteAddr().String())
	if tc, ok := conn.(*tls.Conn); ok && !tlsHandshake(tc, log) {
		return
	}
	tap := &inboundTap{Conn: conn, onError: s.recordError, onPart: s.partSeen, claim: s.claimDump}
	s.macs.attach(tap)
	stream := util.NewMessageStream(groupGuard{tap}, openflow13Parser{})
	hello, err := common.NewHello(int(openflow13.VERSION))
	if err != nil {
		log.Error("openflow hello", "err", err)
		stream.Shutdown <- true
		return
	}
	stream.Outbound <- hello
	timeout := time.After(handshakeTimeout)
	for {
		select {
		case msg := <-stream.Inbound:
			switch m := msg.(type) {
			case *common.Hello:
				if m.Version != openflow13.VERSION {
					log.Error("openflow switch does not speak OpenFlow 1.3", "version", m.Version)
					stream.Shutdown <- true
					return
				}
				stream.Version = m.Version
				stream.Outbound <- openflow13.NewFeaturesRequest()
			case *openflow13.SwitchFeatures:
				ofctrl.NewSwitch(stream, m.DPID, &switchApp{s: s, conn: conn, tap: tap}, nil, controllerID)
				return
			case *openflow13.ErrorMsg:
				log.Error("openflow handshake refused", "err", ofctrl.GetErrorMessage(m.Type, m.Code, 0))
				stream.Shutdown <- true
				return
			}
		case err := <-stream.Error:
			log.Warn("openflow connection lost during handshake", "err", err)
			return
		case <-timeout:
			log.Warn("openflow handshake timed out")
			stream.Shutdown <- true
			return
		}
	}
}

// groupGuard is the connection as ofctrl writes to it: it drops the
// group_mod that deletes every group (OFPGC_DELETE of OFPG_ALL), which
// ofctrl.NewSwitch sends on every connection of a switch it did not know
// (initFgraph: "clear all existing flood lists"). l2gwd owns the bridge's
// groups and reconciles them like its flows, and OVS deletes with a group
// every flow that points to it: a reconnection or an l2gwd restart would
// cut traffic. l2gwd itself never deletes every group. libOpenflow writes
// one whole message per Write; the session's bundles are written to the
// connection underneath, not through the guard.
type groupGuard struct{ net.Conn }

// Write writes p unless it is a delete of every group, which it reports
// written.
func (g groupGuard) Write(p []byte) (int, error) {
	if isDeleteAllGroups(p) {
		return len(p), nil
	}
	return g.Conn.Write(p)
}

// isDeleteAllGroups reports whether b is exactly one OpenFlow 1.3 group_mod
// that deletes every group.
func isDeleteAllGroups(b []byte) bool {
	return len(b) >= groupModFixedLen && b[0] == openflow13.VERSION && b[1] == openflow13.Type_GroupMod &&
		int(binary.BigEndian.Uint16(b[2:4])) == len(b) &&
		binary.BigEndian.Uint16(b[8:10]) == openflow13.OFPGC_DELETE &&
		binary.BigEndian.Uint32(b[12:16]) == openflow13.OFPG_ALL
}

// switchError is an OpenFlow error message from the switch.
type switchError struct {
	xid       uint32 // of the request it answers
	typ, code uint16
	vendor    uint32 // experimenter id of experimenter errors
}

func (e switchError) String() string {
	return ofctrl.GetErrorMessage(e.typ, e.code, e.vendor)
}

// inboundTap wraps the switch connection and reads it in whole messages,
// in the order the switch sent them (libOpenflow then parses messages on
// many goroutines, which loses that order, and copies them byte by byte).
// It reports every OpenFlow error message: an error about a bundled
// flow_mod is known before the reply to the bundle's close request, which
// the switch sends after it. It hands over whole, in order, the messages
// keep asks for (the flow monitor's, see macTable). It reports every
// multipart reply part, in order, to onPart (when not nil): the part
// without OFPMPF_REPLY_MORE tells how many parts its reply has. And it
// offers every multipart reply part to claim (when not nil): a part claim
// takes (a flow dump's, see Session.Dump) never reaches libOpenflow.
type inboundTap struct {
	net.Conn
	onError func(switchError)
	onPart  func(xid uint32, final bool)
	claim   func(msg []byte) bool
	// keep is asked, with each message's header, whether to hand the whole
	// message to onMessage; nil keeps none. onMessage must not keep msg,
	// which is reused. keep, onMessage and claim run on the connection's
	// reader: they must not block.
	keep      func(header []byte) bool
	onMessage func(msg []byte)

	in   []byte // read off the connection: in[r:w] is not framed yet
	r, w int
	pass []byte // whole messages for libOpenflow; out is what Read has not returned of it
	out  []byte
	err  error // the connection's read error, returned once out is empty
}

// tapReadLen is how much the tap reads off the connection at once: a flow
// dump of 2,000,000 flows is about 300 MB.
const tapReadLen = 256 << 10

// Read returns the bytes of whole messages for libOpenflow, reading and
// framing more off the connection when it has none left.
func (c *inboundTap) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		c.fill()
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

const (
	ofpHeaderLen   = 8
	ofpErrorLen    = 12 // header, type, code
	ofpExpErrorLen = 16 // and the experimenter id
	ofpPartLen     = 12 // multipart reply header, type, flags
)

// fill reads once off the connection and frames what it read.
func (c *inboundTap) fill() {
	c.compact()
	n, err := c.Conn.Read(c.in[c.w:min(len(c.in), c.w+tapReadLen)])
	c.w += n
	c.pass = c.pass[:0]
	c.frame()
	c.out = c.pass
	c.err = err
}

// compact moves the partial message at in[r:w] to the front of in (made
// on the first read: room for a read and a partial message).
func (c *inboundTap) compact() {
	if c.in == nil {
		c.in = make([]byte, tapReadLen+MaxMessageLen)
	}
	if c.r > 0 {
		c.w = copy(c.in, c.in[c.r:c.w])
		c.r = 0
	}
}

// frame handles each whole message in in[r:w] and queues those not
// claimed in pass.
func (c *inboundTap) frame() {
	for c.w-c.r >= ofpHeaderLen {
		size := max(int(binary.BigEndian.Uint16(c.in[c.r+2:c.r+4])), ofpHeaderLen)
		if c.w-c.r < size {
			return
		}
		msg := c.in[c.r : c.r+size]
		c.r += size
		if !c.handle(msg) {
			c.pass = append(c.pass, msg...)
		}
	}
}

// handle reports what msg is to whom it concerns, and tells whether it
// was claimed.
func (c *inboundTap) handle(msg []byte) (claimed bool) {
	switch {
	case msg[1] == openflow13.Type_Error:
		c.reportError(msg)
	case c.keep != nil && c.keep(msg[:ofpHeaderLen]):
		c.onMessage(msg)
	}
	if msg[1] != openflow13.Type_MultiPartReply || len(msg) < ofpPartLen {
		return false
	}
	if c.onPart != nil {
		c.onPart(binary.BigEndian.Uint32(msg[4:8]), binary.BigEndian.Uint16(msg[10:12])&openflow13.OFPMPF_REPLY_MORE == 0)
	}
	return c.claim != nil && c.claim(msg)
}

// reportError hands the error message msg to onError.
func (c *inboundTap) reportError(msg []byte) {
	if len(msg) < ofpErrorLen {
		return // too short to be an error message; libOpenflow will complain
	}
	e := switchError{
		xid:  binary.BigEndian.Uint32(msg[4:8]),
		typ:  binary.BigEndian.Uint16(msg[8:10]),
		code: binary.BigEndian.Uint16(msg[10:12]),
	}
	if e.typ == openflow13.ET_EXPERIMENTER && len(msg) >= ofpExpErrorLen {
		e.vendor = binary.BigEndian.Uint32(msg[12:16])
	}
	c.onError(e)
}
