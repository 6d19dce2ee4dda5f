package flows

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"time"

	"github.com/contiv/libOpenflow/common"
	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/libOpenflow/util"
	"github.com/contiv/ofnet/ofctrl"
)

// handshakeTimeout bounds the hello / features exchange of a new connection.
const handshakeTimeout = 10 * time.Second

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
// over as it would under a Controller.
//
// Known ofctrl limits: each connection leaves its echo (heartbeat) goroutine
// running after the switch goes; and a switch that reconnects before ofctrl
// noticed its previous connection drop gets the old *OFSwitch back without a
// receive loop (ofctrl keys switches by datapath id), which OVS, closing the
// old TCP connection first, does not trigger in practice.
func (s *Session) serve(l net.Listener) {
	ctrlID := uint16(rand.Uint32())
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
		go s.handshake(conn, ctrlID)
	}
}

// handshake completes the TLS handshake of a TLS connection, then
// negotiates OpenFlow 1.3 on conn and hands it to ofctrl.
func (s *Session) handshake(conn net.Conn, ctrlID uint16) {
	log := s.log.With("remote", conn.RemoteAddr().String())
	if tc, ok := conn.(*tls.Conn); ok && !tlsHandshake(tc, log) {
		return
	}
	stream := util.NewMessageStream(&errorScanner{Conn: conn, onError: s.recordError}, openflow13Parser{})
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
				ofctrl.NewSwitch(stream, m.DPID, &switchApp{s: s, conn: conn}, nil, ctrlID)
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

// switchError is an OpenFlow error message from the switch.
type switchError struct {
	xid       uint32 // of the request it answers
	typ, code uint16
	vendor    uint32 // experimenter id of experimenter errors
}

func (e switchError) String() string {
	return ofctrl.GetErrorMessage(e.typ, e.code, e.vendor)
}

// errorScanner wraps the switch connection and reports every OpenFlow error
// message as its bytes are read, in the order the switch sent them: an error
// about a bundled flow_mod is known before the reply to the bundle's close
// request, which the switch sends after it. (libOpenflow parses messages on
// many goroutines, so parsed messages lose that order.)
type errorScanner struct {
	net.Conn
	onError func(switchError)

	head [ofpExpErrorLen]byte // header, error type and code, experimenter id
	seen int                  // bytes of the current message read so far
	size int                  // length of the current message once its header is read
	want int                  // bytes of it to keep in head
}

// Read reads from the connection and scans what it read.
func (c *errorScanner) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.scan(p[:n])
	return n, err
}

const (
	ofpHeaderLen   = 8
	ofpErrorLen    = 12 // header, type, code
	ofpExpErrorLen = 16 // and the experimenter id
)

func (c *errorScanner) scan(b []byte) {
	for len(b) > 0 {
		if c.size == 0 {
			k := copy(c.head[c.seen:ofpHeaderLen], b)
			c.seen += k
			b = b[k:]
			if c.seen < ofpHeaderLen {
				return
			}
			c.size = max(int(binary.BigEndian.Uint16(c.head[2:4])), ofpHeaderLen)
			c.want = 0
			if c.head[1] == openflow13.Type_Error {
				c.want = min(ofpExpErrorLen, c.size)
			}
		}
		if c.seen < c.want {
			k := copy(c.head[c.seen:c.want], b)
			c.seen += k
			b = b[k:]
			if c.seen == c.want {
				c.report()
			}
			continue
		}
		k := min(len(b), c.size-c.seen)
		c.seen += k
		b = b[k:]
		if c.seen == c.size {
			c.seen, c.size = 0, 0
		}
	}
}

// report hands the error message kept in head to onError.
func (c *errorScanner) report() {
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
