package engineio

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// writeWait bounds one WebSocket write.
const writeWait = 10 * time.Second

// maxPooledBuffer is the largest write buffer kept for reuse.
const maxPooledBuffer = 64 << 10

// ReadCounter is implemented by a connection that counts the bytes read from
// it (a metrics wrapper): a WebSocket read through the poller reads the
// socket directly, past the connection's Read, and reports the count here. A
// wrapper must also implement syscall.Conn for its connections to be read
// through the poller.
type ReadCounter interface {
	CountRead(n int)
}

// WriteCounter is implemented by a connection that counts the bytes written
// to it (a metrics wrapper): a WebSocket write that the socket takes at once
// goes to the descriptor directly, past the connection's Write, and reports
// the count here. A wrapper that implements syscall.Conn but not
// WriteCounter is always written through its Write.
type WriteCounter interface {
	CountWrite(n int)
}

// wsConn is a WebSocket connection.
//
// Reading: without compression the server parses the client's frames itself
// (frameReader) from whatever bytes have arrived. On Linux the server's
// readPoller tells when a connection has bytes, and a goroutine runs only
// for as long as there is something to read; elsewhere, or when the
// connection is not a plain socket, a goroutine per connection reads. With
// compression gorilla/websocket reads and inflates the messages on a
// goroutine per connection.
//
// Writing: the server writes the frames itself, a whole batch of queued
// messages per system call, because one write per message is what a
// broadcast spends most of its time on. With compression, writes go through
// gorilla instead.
type wsConn struct {
	raw     net.Conn
	gorilla *websocket.Conn // the reader and writer of a compressed connection; nil otherwise
	buffers *sync.Pool      // write buffers, shared by the server's connections

	// Reading, by one reader at a time.
	sess   *Session    // the session the connection carries or probes for
	frames frameReader // partial frames between reads (not with gorilla)

	// Poller registration (Linux).
	rc     syscall.RawConn
	fd     int32
	pollID uint32

	writeMu sync.Mutex // serializes writes to raw
	pending []byte     // framed bytes an interrupted write left; sent first

	// The small fields sit together (an idle server holds one wsConn per
	// client; the struct fits the allocator's 128-byte class).

	// readState tells the poller whether a reader goroutine has the
	// connection (readIdle, readBusy, readAgain; websocket.go).
	readState atomic.Uint32
	// closeWanted is the close code a shutdown left to the writer that
	// held writeMu (0: none); that writer sends it once its write is done.
	closeWanted atomic.Int32
	closeSent   bool // a close frame was written
	probing     bool // the connection is still probing for an upgrade of sess
	// directWrite: a write tries the descriptor first, without a deadline
	// (set with the poller registration; see canWriteDirectly).
	directWrite bool
	// polled: the server's poller watches the connection (Linux); false:
	// a goroutine reads.
	polled bool
}

func (srv *Server) newWSConn(conn *websocket.Conn) *wsConn {
	c := &wsConn{raw: hijacked(conn.NetConn()), buffers: &srv.writeBuffers, frames: frameReader{limit: srv.opts.MaxBufferSize}}
	if srv.opts.Compression {
		c.gorilla = conn
		conn.SetReadLimit(srv.opts.MaxBufferSize)
		conn.SetPingHandler(func(data string) error {
			return c.writeFrame(opPong, []byte(data))
		})
		conn.SetCloseHandler(func(int, string) error { return nil })
	}
	return c
}

// hijacked returns the connection a WebSocket keeps of conn, hijacked from
// its HTTP server: the connection under a stampedConn (OrderRequests), which
// has no more requests to stamp once hijacked and, with no bytes carried,
// only passes reads, writes and counts on. Dropping the wrapper saves its
// memory for as long as the client stays.
func hijacked(conn net.Conn) net.Conn {
	sc, ok := conn.(*stampedConn)
	if !ok {
		return conn
	}
	sc.mu.Lock()
	carried := len(sc.carry) > 0
	sc.mu.Unlock()
	if carried || sc.armed.Load() {
		return conn
	}
	return sc.Conn
}

// writeBatch writes msgs in order, waiting at most wait for the client.
// When that is not enough it returns os.ErrDeadlineExceeded and keeps the
// unwritten bytes, which the next write sends first.
func (c *wsConn) writeBatch(msgs []*Message, wait time.Duration) error {
	c.writeMu.Lock()
	defer c.unlockWrite()
	if c.gorilla != nil {
		if err := c.raw.SetWriteDeadline(time.Now().Add(writeWait)); err != nil {
			return err
		}
		for _, m := range msgs {
			if err := c.gorilla.WriteMessage(m.frameType(), m.wire); err != nil {
				return err
			}
		}
		return nil
	}
	bp, _ := c.buffers.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	buf := (*bp)[:0]
	for _, m := range msgs {
		buf = m.appendFrame(buf)
	}
	err := c.write(buf, wait)
	if cap(buf) <= maxPooledBuffer {
		*bp = buf[:0]
		c.buffers.Put(bp)
	}
	return err
}

// flushPending writes the bytes left over by an interrupted write.
func (c *wsConn) flushPending(wait time.Duration) error {
	c.writeMu.Lock()
	defer c.unlockWrite()
	return c.write(nil, wait)
}

// writeFrame writes one unfragmented frame.
func (c *wsConn) writeFrame(opcode byte, data []byte) error {
	c.writeMu.Lock()
	defer c.unlockWrite()
	frame := appendFrameHeader(make([]byte, 0, 2+len(data)), opcode, len(data))
	return c.write(append(frame, data...), writeWait)
}

// write sends the pending bytes and then b, with a deadline. On a timeout
// the unwritten bytes become pending; b is not retained. c.writeMu is held.
//
// A write the socket buffer takes at once (the common case) goes straight
// to the descriptor: no deadline timer is set or moved. Only what does not
// fit waits, with the deadline.
func (c *wsConn) write(b []byte, wait time.Duration) error {
	data := b
	if len(c.pending) > 0 {
		data = append(c.pending, b...)
	}
	if len(data) == 0 {
		return nil
	}
	if c.directWrite {
		n, err := c.writeNow(data)
		switch {
		case err == nil && n == len(data):
			c.pending = nil
			return nil
		case err != nil && !errors.Is(err, errWouldBlock):
			return err
		}
		data = data[n:]
	}
	if err := c.raw.SetWriteDeadline(time.Now().Add(wait)); err != nil {
		return err
	}
	n, err := c.raw.Write(data)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.pending = append([]byte(nil), data[n:]...)
	case err == nil:
		c.pending = nil
	}
	return err
}

// shutdown sends a close frame with code, unless one was sent or unwritten
// bytes are pending, then closes the connection. When a write is in
// progress the writer does it once its write returns, which a slow client
// cannot delay by more than a second (the caller never waits).
func (c *wsConn) shutdown(code int) {
	c.closeWanted.Store(int32(code))
	if !c.writeMu.TryLock() {
		_ = c.raw.SetWriteDeadline(time.Now().Add(time.Second))
		return // the holder sees closeWanted in unlockWrite
	}
	c.sendCloseLocked()
	c.writeMu.Unlock()
}

// unlockWrite releases writeMu, then carries out a shutdown that came
// while it was held.
func (c *wsConn) unlockWrite() {
	c.writeMu.Unlock()
	if c.closeWanted.Load() != 0 && c.writeMu.TryLock() {
		c.sendCloseLocked()
		c.writeMu.Unlock()
	}
}

// sendCloseLocked writes the wanted close frame (once) and closes the
// connection. c.writeMu is held.
func (c *wsConn) sendCloseLocked() {
	code := c.closeWanted.Load()
	if !c.closeSent && len(c.pending) == 0 {
		_ = c.raw.SetWriteDeadline(time.Now().Add(time.Second))
		frame := appendFrameHeader(nil, opClose, 2)
		_, _ = c.raw.Write(append(frame, byte(code>>8), byte(code)))
	}
	if !c.closeSent {
		c.closeSent = true
		_ = c.Close()
	}
}

// Close closes the connection without a close frame.
func (c *wsConn) Close() error {
	if c.polled {
		c.sess.srv.poller.forget(c)
	}
	return c.raw.Close()
}
