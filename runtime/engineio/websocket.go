package engineio

import (
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

var (
	// errWouldBlock: the socket holds nothing to read now.
	errWouldBlock = errors.New("engineio: nothing to read")
	// errPeerClosed: the client closed the connection or sent a close frame.
	errPeerClosed = errors.New("engineio: connection closed by the client")
	// errBadPacket: a text frame is not an Engine.IO packet.
	errBadPacket = errors.New("engineio: bad websocket packet")
)

// startReading starts the reading goroutine of c unless the server's poller
// watches it; the caller has counted the goroutine in srv.wg.
func (srv *Server) startReading(c *wsConn) {
	if c.polled {
		return
	}
	go func() {
		defer srv.wg.Done()
		if c.gorilla != nil {
			c.readGorilla()
		} else {
			c.readBlocking()
		}
	}()
}

// attachPollerLocked registers c with the server's poller (started on
// first use) unless c needs a goroutine of its own, which it then counts in
// srv.wg. c.sess and c.probing are set: c may be read at once. srv.mu is
// held.
func (srv *Server) attachPollerLocked(c *wsConn) {
	if c.gorilla != nil || srv.closed {
		srv.wg.Add(1)
		return
	}
	if p := srv.startPollerLocked(); p == nil || !p.watch(c) {
		srv.wg.Add(1)
	}
}

// startPollerLocked starts the server's poller on first use and returns it,
// or nil when it cannot run here. srv.mu is held.
func (srv *Server) startPollerLocked() *readPoller {
	if srv.poller == nil && !srv.pollerFailed {
		p, err := newReadPoller()
		if err != nil {
			srv.pollerFailed = true
			srv.log.Debug("engineio: reads fall back to a goroutine per connection", "err", err)
		} else {
			// The poller holds a count in srv.wg until Close stops it, so
			// that its readers may end sessions (which adds to srv.wg).
			srv.poller = p
			srv.wg.Add(1)
		}
	}
	return srv.poller
}

// The reading states of a connection watched by the poller (wsConn.readState).
const (
	readIdle  uint32 = iota // no reader: the poller reads the next bytes itself
	readBusy                // a reader goroutine has the connection
	readAgain               // bytes arrived while readBusy: the reader reads again
)

// readOn is c's reader goroutine: it handles the bytes the poller read (and
// the read's error), then reads until the socket is empty (more: the
// poller's read may have left bytes), again as long as the poller saw bytes
// arrive meanwhile. A connection whose reading ended stays readBusy, so
// that the poller never reads it again.
func (c *wsConn) readOn(data []byte, readErr error, more bool) {
	err := c.consume(data, readErr)
	if errors.Is(err, errWouldBlock) {
		err = nil
	}
	var bp *[]byte
	for {
		if err == nil && more {
			if bp == nil {
				bp = c.sess.srv.readBuffers.Get().(*[]byte)
			}
			err = c.readAvailable(*bp)
		}
		if err != nil {
			break
		}
		if c.readState.CompareAndSwap(readBusy, readIdle) {
			break
		}
		c.readState.Store(readBusy) // it was readAgain: read again
		more = true
	}
	if bp != nil {
		c.sess.srv.readBuffers.Put(bp)
	}
	if err != nil {
		c.readFailed(err)
	}
}

// readAvailable feeds the frame reader until the socket is empty. A read
// that does not fill buf took everything the socket held: the reader stops
// there instead of spending a system call on an empty socket (bytes that
// arrive meanwhile make the edge-triggered poller fire again, and set
// readAgain).
func (c *wsConn) readAvailable(buf []byte) error {
	for {
		n, err := c.readNow(buf)
		if err := c.consume(buf[:n], err); err != nil {
			if errors.Is(err, errWouldBlock) {
				return nil
			}
			return err
		}
		if n < len(buf) {
			return nil
		}
	}
}

// readBlocking reads c on its own goroutine until reading ends.
func (c *wsConn) readBlocking() {
	buf := make([]byte, 4096)
	for {
		n, err := c.raw.Read(buf)
		if err := c.consume(buf[:n], err); err != nil {
			c.readFailed(err)
			return
		}
	}
}

// consume hands the bytes of one read to the frame reader, then returns the
// read's own error: the bytes a read returns come before its error.
func (c *wsConn) consume(data []byte, readErr error) error {
	if len(data) > 0 {
		if err := c.frames.feed(data, c.onFrame); err != nil {
			return err
		}
	}
	return readErr
}

// readGorilla reads a compressed connection with gorilla/websocket, which
// inflates the messages and answers pings.
func (c *wsConn) readGorilla() {
	for {
		frameType, data, err := c.gorilla.ReadMessage()
		if err == nil {
			op := opText
			if frameType == websocket.BinaryMessage {
				op = opBinary
			}
			err = c.onFrame(op, data)
		}
		if err != nil {
			c.readFailed(err)
			return
		}
	}
}

// onFrame handles a message or control frame read from c.
func (c *wsConn) onFrame(op byte, payload []byte) error {
	switch op {
	case opPing:
		return c.writeFrame(opPong, payload)
	case opPong:
		return nil
	case opClose:
		return errPeerClosed
	}
	if c.probing {
		return c.sess.probeMessage(c, op, payload)
	}
	return c.sess.wsMessage(op, payload)
}

// readFailed ends reading c: a probing connection is dropped (the session
// goes on polling), otherwise the session ends with the matching reason.
func (c *wsConn) readFailed(err error) {
	var violation *frameError
	if errors.As(err, &violation) {
		c.shutdown(violation.code)
	}
	if c.probing {
		c.sess.failProbe(c, "read: "+err.Error())
		return
	}
	reason := ReasonTransportClose
	switch {
	case violation != nil && violation.code == closeTooBig, errors.Is(err, websocket.ErrReadLimit):
		reason = ReasonTransportError
	case errors.Is(err, errBadPacket):
		reason = ReasonParseError
	}
	c.sess.finish(reason)
}

// wsMessage handles a message of the session's WebSocket.
func (s *Session) wsMessage(op byte, data []byte) error {
	if op == opBinary {
		s.deliver(data, true)
		return nil
	}
	p, err := decodeText(data)
	if err != nil {
		s.srv.log.Debug("engineio: bad websocket packet", "sid", s.id, "err", err)
		return errBadPacket
	}
	s.receive(p)
	return nil
}

// probeMessage runs the polling→WebSocket upgrade on the probing connection
// c: "2probe" is answered with "3probe", then every upgradeCheckEvery, as on
// the reference server, a pending poll is released with a noop so that the
// client pauses polling; "5" switches the session to c.
func (s *Session) probeMessage(c *wsConn, op byte, data []byte) error {
	if op != opText {
		return errors.New("binary frame during upgrade")
	}
	switch string(data) {
	case "2probe":
		if err := c.writeFrame(opText, []byte("3probe")); err != nil {
			return err
		}
		s.mu.Lock()
		if s.probe == c && s.upgradeCheck == nil {
			s.upgradeCheck = time.AfterFunc(s.srv.upgradeCheckEvery, func() { s.checkUpgrade(c) })
		}
		s.mu.Unlock()
		return nil
	case "5":
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.state == stateClosed || s.probe != c {
			return errors.New("session closed or upgrade timed out")
		}
		s.stopUpgradeCheckLocked()
		c.probing = false
		s.probe = nil
		s.ws = c
		s.transport = WebSocket
		if s.pollWaiting {
			s.noopPending = true
			s.wakePollLocked()
		}
		if len(s.queue) > 0 || s.state == stateClosing {
			s.flushing = true
			s.srv.flushers.schedule(s)
		}
		return nil
	default:
		return errors.New("unexpected packet " + string(data))
	}
}

// checkUpgrade answers the pending poll of a session upgrading through c
// with a noop, and runs again after upgradeCheckEvery until the upgrade ends.
func (s *Session) checkUpgrade(c *wsConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.probe != c || s.state != stateOpen || s.upgradeCheck == nil {
		return
	}
	if s.pollWaiting {
		s.noopPending = true
		s.notifyLocked()
	}
	s.upgradeCheck.Reset(s.srv.upgradeCheckEvery)
}

// stopUpgradeCheckLocked stops checkUpgrade. s.mu is held.
func (s *Session) stopUpgradeCheckLocked() {
	if s.upgradeCheck != nil {
		s.upgradeCheck.Stop()
		s.upgradeCheck = nil
	}
}

// failProbe drops the probing connection c; the session goes on polling.
func (s *Session) failProbe(c *wsConn, why string) {
	s.dropProbe(c)
	s.srv.log.Debug("engineio: upgrade failed", "sid", s.id, "why", why)
	_ = c.Close()
}

// dropProbe forgets c as the session's probe and reports whether it was.
func (s *Session) dropProbe(c *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.probe != c {
		return false
	}
	s.probe = nil
	s.noopPending = false
	s.stopUpgradeCheckLocked()
	return true
}

// probeDeadline drops c if the upgrade is not done within the timeout.
func (s *Session) probeDeadline(c *wsConn) {
	time.AfterFunc(s.srv.opts.UpgradeTimeout, func() {
		if s.dropProbe(c) {
			s.srv.log.Debug("engineio: upgrade failed", "sid", s.id, "why", "timeout")
			_ = c.Close()
		}
	})
}

// upgradeHeaders are the response headers of a WebSocket handshake.
func (srv *Server) upgradeHeaders(sid string) http.Header {
	h := http.Header{}
	if c := srv.cookie(sid); c != nil {
		h.Add("Set-Cookie", c.String())
	}
	return h
}
