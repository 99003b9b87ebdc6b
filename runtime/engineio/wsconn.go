package engineio

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// writeWait bounds one WebSocket write.
const writeWait = 10 * time.Second

// maxPooledBuffer is the largest write buffer kept for reuse.
const maxPooledBuffer = 64 << 10

// wsConn is a WebSocket connection. gorilla/websocket reads the frames; the
// server writes them itself, a whole batch of queued messages per system
// call, because one write per message is what a broadcast spends most of
// its time on. With compression on, writes go through gorilla instead.
type wsConn struct {
	*websocket.Conn
	raw      net.Conn
	compress bool
	buffers  *sync.Pool

	writeMu sync.Mutex // serializes writes to raw
	pending []byte     // framed bytes an interrupted write left; sent first
}

func (srv *Server) newWSConn(conn *websocket.Conn) *wsConn {
	c := &wsConn{Conn: conn, raw: conn.NetConn(), compress: srv.opts.Compression, buffers: &srv.writeBuffers}
	conn.SetReadLimit(srv.opts.MaxBufferSize)
	conn.SetPingHandler(func(data string) error {
		return c.writeControl(websocket.PongMessage, []byte(data))
	})
	conn.SetCloseHandler(func(int, string) error { return nil })
	return c
}

// writeBatch writes msgs in order, waiting at most wait for the client.
// When that is not enough it returns os.ErrDeadlineExceeded and keeps the
// unwritten bytes, which the next write sends first.
func (c *wsConn) writeBatch(msgs []*Message, wait time.Duration) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.compress {
		if err := c.raw.SetWriteDeadline(time.Now().Add(writeWait)); err != nil {
			return err
		}
		for _, m := range msgs {
			if err := c.Conn.WriteMessage(m.frameType(), m.wire); err != nil {
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
	defer c.writeMu.Unlock()
	return c.write(nil, wait)
}

// writeControl writes a control frame.
func (c *wsConn) writeControl(opcode int, data []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	frame := appendFrameHeader(make([]byte, 0, 2+len(data)), byte(opcode), len(data))
	return c.write(append(frame, data...), writeWait)
}

// write sends the pending bytes and then b, with a deadline. On a timeout
// the unwritten bytes become pending; b is not retained. c.writeMu is held.
func (c *wsConn) write(b []byte, wait time.Duration) error {
	if err := c.raw.SetWriteDeadline(time.Now().Add(wait)); err != nil {
		return err
	}
	data := b
	if len(c.pending) > 0 {
		data = append(c.pending, b...)
	}
	if len(data) == 0 {
		return nil
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

// shutdown sends a normal close frame unless a write is in progress (a slow
// client must not block the caller), then closes the connection.
func (c *wsConn) shutdown() {
	if c.writeMu.TryLock() {
		if len(c.pending) == 0 {
			_ = c.raw.SetWriteDeadline(time.Now().Add(time.Second))
			frame := appendFrameHeader(nil, websocket.CloseMessage, 2)
			_, _ = c.raw.Write(append(frame, 0x03, 0xe8)) // 1000: normal closure
		}
		c.writeMu.Unlock()
	}
	_ = c.raw.Close()
}
