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
	tap := &inboundTap{Conn: conn, onError: s.recordError, onPart: s.partSeen}
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

// inboundTap wraps the switch connection and sees the bytes of every
// inbound message in the order the switch sent them, as libOpenflow's one
// reader reads them (libOpenflow then parses messages on many goroutines,
// which loses that order). It reports every OpenFlow error message: an
// error about a bundled flow_mod is known before the reply to the bundle's
// close request, which the switch sends after it. And it hands over whole,
// in order, the messages keep asks for (the flow monitor's, see macTable).
// And it reports every multipart reply part, in order, to onPart (when not
// nil): the part without OFPMPF_REPLY_MORE tells how many parts its reply
// has.
type inboundTap struct {
	net.Conn
	onError func(switchError)
	onPart  func(xid uint32, final bool)
	// keep is asked, with each message's header, whether to hand the whole
	// message to onMessage; nil keeps none. onMessage must not keep msg,
	// which is reused. Both run on the connection's reader: they must not
	// block.
	keep      func(header []byte) bool
	onMessage func(msg []byte)

	head    [ofpExpErrorLen]byte // header, error type and code, experimenter id; or multipart type and flags
	msg     []byte               // the message being kept
	keeping bool                 // the current message is kept in msg
	seen    int                  // bytes of the current message read so far
	size    int                  // length of the current message once its header is read
	want    int                  // bytes of it to keep in head
}

// Read reads from the connection and scans what it read.
func (c *inboundTap) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.scan(p[:n])
	return n, err
}

const (
	ofpHeaderLen   = 8
	ofpErrorLen    = 12 // header, type, code
	ofpExpErrorLen = 16 // and the experimenter id
	ofpPartLen     = 12 // multipart reply header, type, flags
)

func (c *inboundTap) scan(b []byte) {
	for len(b) > 0 {
		if c.size == 0 {
			k := copy(c.head[c.seen:ofpHeaderLen], b)
			c.seen += k
			b = b[k:]
			if c.seen < ofpHeaderLen {
				return
			}
			c.start()
		}
		if c.seen < c.want {
			k := copy(c.head[c.seen:c.want], b)
			if c.keeping {
				c.msg = append(c.msg, b[:k]...)
			}
			c.seen += k
			b = b[k:]
			if c.seen == c.want {
				c.report()
			}
		}
		k := min(len(b), c.size-c.seen)
		if c.keeping {
			c.msg = append(c.msg, b[:k]...)
		}
		c.seen += k
		b = b[k:]
		if c.seen == c.size {
			if c.keeping {
				c.onMessage(c.msg)
			}
			c.seen, c.size = 0, 0
		}
	}
}

// start sets up the reading of the message whose header is in head.
func (c *inboundTap) start() {
	c.size = max(int(binary.BigEndian.Uint16(c.head[2:4])), ofpHeaderLen)
	c.want, c.keeping = 0, false
	switch {
	case c.head[1] == openflow13.Type_Error:
		c.want = min(ofpExpErrorLen, c.size)
	case c.keep != nil && c.keep(c.head[:ofpHeaderLen]):
		c.keeping = true
		c.msg = append(c.msg[:0], c.head[:ofpHeaderLen]...)
	}
	if c.head[1] == openflow13.Type_MultiPartReply && c.onPart != nil {
		c.want = min(ofpPartLen, c.size)
	}
}

// report hands the error message kept in head to onError, or the
// multipart reply part whose header is there to onPart.
func (c *inboundTap) report() {
	if c.head[1] == openflow13.Type_MultiPartReply {
		if c.want == ofpPartLen {
			c.onPart(binary.BigEndian.Uint32(c.head[4:8]), binary.BigEndian.Uint16(c.head[10:12])&openflow13.OFPMPF_REPLY_MORE == 0)
		}
		return
	}
	if c.want < ofpErrorLen {
		return // too short to be an error message; libOpenflow will complain
	}
	e := switchError{
		xid:  binary.BigEndian.Uint32(c.head[4:8]),
		typ:  binary.BigEndian.Uint16(c.head[8:10]),
		code: binary.BigEndian.Uint16(c.head[10:12]),
	}
	if e.typ == openflow13.ET_EXPERIMENTER && c.want >= ofpExpErrorLen {
		e.vendor = binary.BigEndian.Uint32(c.head[12:16])
	}
	c.onError(e)
}
