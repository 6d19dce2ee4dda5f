package flows

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/contiv/libOpenflow/openflow13"
)

// chunkLen is about how many bytes of bundle-add messages go to the switch
// in one write: large enough that system calls cost nothing next to OVS's
// work (one per ~2,500 flows), small enough to keep memory bounded (two
// buffers, whatever the bundle's size) and cancellation prompt.
const chunkLen = 512 << 10

// sendStall is how long one chunk may wait for the switch to read it.
const sendStall = 10 * time.Second

// errBrokenConnection marks a failed write to the switch: the connection
// may hold part of a message and is dropped.
var errBrokenConnection = errors.New("openflow connection broken")

// sentMod is what a bundle keeps of each mod it sent: enough to name a mod
// the switch rejects, not the mod itself, so a bundle's memory does not
// grow with its mods' size. Of a group_mod (group set) it keeps the group
// ID in cookie and the command in priority.
type sentMod struct {
	cookie   uint64
	xid      uint32
	priority uint16
	table    uint8
	group    bool
}

// newSentMod returns what names m, a well-formed mod.
func newSentMod(m Mod) sentMod {
	if m.isGroupMod() {
		return sentMod{cookie: uint64(binary.BigEndian.Uint32(m[12:16])), xid: binary.BigEndian.Uint32(m[4:8]),
			priority: binary.BigEndian.Uint16(m[8:10]), group: true}
	}
	return sentMod{cookie: binary.BigEndian.Uint64(m[8:16]), xid: binary.BigEndian.Uint32(m[4:8]),
		priority: binary.BigEndian.Uint16(m[30:32]), table: m[24]}
}

func (m sentMod) String() string {
	if m.group {
		return fmt.Sprintf("group %#x, command %d", m.cookie, m.priority)
	}
	return fmt.Sprintf("table %d, priority %d, cookie %#x", m.table, m.priority, m.cookie)
}

// sentMods lists a bundle's sentMods in fixed chunks: a 200,000-mod bundle
// neither copies its list as it grows nor holds an old and a new array at
// once, at the moment its pass holds the most.
type sentMods struct {
	chunks [][]sentMod
	n      int
}

// sentModsChunk is how many sentMods a chunk holds (64 KiB).
const sentModsChunk = 4096

func (l *sentMods) add(m sentMod) {
	if l.n%sentModsChunk == 0 {
		l.chunks = append(l.chunks, make([]sentMod, 0, sentModsChunk))
	}
	c := &l.chunks[len(l.chunks)-1]
	*c = append(*c, m)
	l.n++
}

func (l *sentMods) len() int { return l.n }

// at returns the i-th sentMod.
func (l *sentMods) at(i int) sentMod { return l.chunks[i/sentModsChunk][i%sentModsChunk] }

// sendStats tells what sending a bundle's adds did.
type sendStats struct {
	opened bool          // the bundle was opened (a mod came)
	mods   sentMods      // produced, in order
	sent   int           // of mods, how many went to the switch
	bytes  int           // written
	send   time.Duration // from the first mod produced to the last byte written
	// learnedDeletes are the cookies of the learned entries the mods
	// delete.
	learnedDeletes []uint64
}

// chunkWriter writes chunks to the switch connection on its own goroutine
// while the next chunk is filled, with two buffers in turn.
type chunkWriter struct {
	conn      net.Conn
	chunks    chan []byte
	free      chan []byte
	allocated int
	failed    atomic.Bool
	written   chan error
}

func newChunkWriter(conn net.Conn) *chunkWriter {
	w := &chunkWriter{conn: conn, chunks: make(chan []byte), free: make(chan []byte, 2), written: make(chan error, 1)}
	go func() {
		var err error
		for c := range w.chunks {
			if err == nil {
				err = writeChunk(conn, c)
				w.failed.Store(err != nil)
			}
			w.free <- c[:0]
		}
		w.written <- err
	}()
	return w
}

// buffer returns an empty buffer to fill: a new one while fewer than two
// exist (the first small, so a small change allocates little), else the
// one the writer is done with.
func (w *chunkWriter) buffer() []byte {
	switch {
	case w.allocated == 0:
		w.allocated++
		return make([]byte, 0, 4096)
	case w.allocated == 1 && len(w.free) == 0:
		w.allocated++
		return make([]byte, 0, chunkLen+MaxMessageLen)
	}
	return <-w.free
}

// close writes nothing more and returns the first write error.
func (w *chunkWriter) close() error {
	close(w.chunks)
	return <-w.written
}

// sendBundleAdds writes one bundle-add message per mod that src produces,
// adding it to the bundle that open opens (with flags) when the first mod
// comes — a source with no mods opens no bundle —, straight to the switch
// connection conn, in chunks of about chunkLen bytes: the chunk being
// filled as src produces mods, the last one being written meanwhile. It
// gives each mod a fresh xid, shared by its bundle add, and keeps of it
// only what names it (sentMod). It stops early, at a chunk boundary (the
// connection stays usable), when ctx ends, a mod is malformed or src
// fails, and returns why; the caller must then not commit the bundle.
//
// Writing beside libOpenflow's own writer is safe: a net.Conn write holds
// the socket's write lock until the whole buffer is written, so a chunk is
// never interleaved with another message. A write that fails may have sent
// part of a message; the connection is then unusable, and the write deadline,
// left in the past, makes libOpenflow's next write fail too, so ofctrl drops
// the connection and the switch reconnects: the error is then
// errBrokenConnection.
func sendBundleAdds(ctx context.Context, conn net.Conn, open func() (uint32, error), flags uint16, src ModSource) (sendStats, error) {
	var st sendStats
	start := time.Now()
	w := newChunkWriter(conn)
	buf := w.buffer()
	var failed error
	var bundleID uint32
	emit := func(m Mod) bool {
		if failed != nil {
			return false
		}
		if !st.opened {
			if bundleID, failed = open(); failed != nil {
				failed = fmt.Errorf("open bundle: %w", failed)
				return false
			}
			st.opened = true
		}
		if len(buf) >= chunkLen {
			if failed = ctx.Err(); failed != nil || w.failed.Load() {
				return false
			}
			st.bytes += len(buf)
			st.sent = st.mods.len()
			w.chunks <- buf
			buf = w.buffer()
		}
		var err error
		if buf, err = appendBundleAdd(buf, bundleID, flags, newXid(), m); err != nil {
			failed = fmt.Errorf("mod %d: %w", st.mods.len(), err)
			return false
		}
		sm := newSentMod(m)
		st.mods.add(sm)
		if !sm.group && m[25] == openflow13.FC_DELETE && sm.cookie>>tagShift == TagLearned {
			st.learnedDeletes = append(st.learnedDeletes, sm.cookie)
		}
		return true
	}
	if err := src(emit); err != nil && failed == nil {
		failed = fmt.Errorf("produce flow mods: %w", err)
	}
	if failed == nil {
		failed = ctx.Err()
	}
	if failed == nil && len(buf) > 0 {
		st.bytes += len(buf)
		st.sent = st.mods.len()
		w.chunks <- buf
	}
	if err := w.close(); err != nil {
		return st, fmt.Errorf("write bundle adds: %w: %w", errBrokenConnection, err)
	}
	conn.SetWriteDeadline(time.Time{})
	st.send = time.Since(start)
	return st, failed
}

// writeChunk writes c, giving the switch sendStall to read it.
func writeChunk(conn net.Conn, c []byte) error {
	if err := conn.SetWriteDeadline(time.Now().Add(sendStall)); err != nil {
		return err
	}
	_, err := conn.Write(c)
	return err
}
