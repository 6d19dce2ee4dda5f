package flows

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"
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

// sendStats tells what sending a bundle's adds did and where its time went.
type sendStats struct {
	sent   int           // mods sent
	bytes  int           // written
	encode time.Duration // spent wrapping mods into bundle adds
	send   time.Duration // from the first encoded byte to the last written
}

// sendBundleAdds writes one bundle-add message per mod, adding it to bundle
// bundleID (opened with flags), straight to the switch connection conn, in
// chunks of about chunkLen bytes: one goroutine fills the next chunk while
// another writes the last. It gives each mod a fresh xid, shared by its
// bundle add. It sends all mods, or stops early at a chunk boundary (the
// connection stays usable) when ctx ends or a mod is malformed, and returns
// why.
//
// Writing beside libOpenflow's own writer is safe: a net.Conn write holds
// the socket's write lock until the whole buffer is written, so a chunk is
// never interleaved with another message. A write that fails may have sent
// part of a message; the connection is then unusable, and the write deadline,
// left in the past, makes libOpenflow's next write fail too, so ofctrl drops
// the connection and the switch reconnects: the error is then
// errBrokenConnection.
func sendBundleAdds(ctx context.Context, conn net.Conn, bundleID uint32, flags uint16, mods []Mod) (sendStats, error) {
	var st sendStats
	start := time.Now()
	chunks := make(chan []byte)
	free := make(chan []byte, 2)
	total := 0
	for _, m := range mods {
		total += bundleAddHeaderLen + len(m)
	}
	if total <= chunkLen {
		free <- make([]byte, 0, total) // a small change: one write
	} else {
		for range cap(free) {
			free <- make([]byte, 0, chunkLen+MaxMessageLen)
		}
	}
	var writeFailed atomic.Bool
	written := make(chan error, 1)
	go func() {
		var err error
		for c := range chunks {
			if err == nil {
				err = writeChunk(conn, c)
				writeFailed.Store(err != nil)
			}
			free <- c[:0]
		}
		written <- err
	}()

	var failed error
	for st.sent < len(mods) && failed == nil {
		if failed = ctx.Err(); failed != nil || writeFailed.Load() {
			break
		}
		buf := <-free
		t := time.Now()
		n := st.sent
		for ; n < len(mods) && len(buf) < chunkLen; n++ {
			var err error
			if buf, err = appendBundleAdd(buf, bundleID, flags, newXid(), mods[n]); err != nil {
				failed = fmt.Errorf("mod %d: %w", n, err)
				break
			}
		}
		st.encode += time.Since(t)
		if failed != nil {
			free <- buf[:0]
			break
		}
		st.bytes += len(buf)
		chunks <- buf
		st.sent = n
	}
	close(chunks)
	if err := <-written; err != nil {
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
