package engineio

import (
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// readWebSocket reads packets until the connection fails or the session
// ends. It runs on the handler goroutine of the upgraded request.
func (s *Session) readWebSocket(conn *wsConn) {
	for {
		frameType, data, err := conn.ReadMessage()
		if err != nil {
			reason := ReasonTransportClose
			if errors.Is(err, websocket.ErrReadLimit) {
				reason = ReasonTransportError
			}
			s.finish(reason)
			return
		}
		if frameType == websocket.BinaryMessage {
			s.deliver(data, true)
			continue
		}
		p, err := decodeText(data)
		if err != nil {
			s.srv.log.Debug("engineio: bad websocket packet", "sid", s.id, "err", err)
			s.finish(ReasonParseError)
			return
		}
		s.receive(p)
	}
}

// upgrade runs the polling→WebSocket upgrade of s on conn: probe ping/pong,
// noop to release the pending poll, then the upgrade packet switches the
// session. On failure or timeout only conn is closed; the session goes on
// polling.
func (s *Session) upgrade(conn *wsConn) {
	fail := func(why string) {
		s.srv.log.Debug("engineio: upgrade failed", "sid", s.id, "why", why)
		s.mu.Lock()
		if s.probe == conn {
			s.probe = nil
		}
		s.noopPending = false
		s.mu.Unlock()
		_ = conn.Close()
	}
	_ = conn.SetReadDeadline(time.Now().Add(s.srv.opts.UpgradeTimeout))
	for {
		frameType, data, err := conn.ReadMessage()
		if err != nil {
			fail("read: " + err.Error())
			return
		}
		if frameType != websocket.TextMessage {
			fail("binary frame during upgrade")
			return
		}
		switch string(data) {
		case "2probe":
			_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := conn.WriteMessage(websocket.TextMessage, []byte("3probe")); err != nil {
				fail("write probe: " + err.Error())
				return
			}
			// Release the pending poll so that the client can pause polling.
			s.mu.Lock()
			s.noopPending = true
			s.notifyLocked()
			s.mu.Unlock()
		case "5":
			s.mu.Lock()
			if s.state == stateClosed {
				s.mu.Unlock()
				_ = conn.Close()
				return
			}
			s.probe = nil
			s.ws = conn
			s.transport = WebSocket
			if s.pollWaiting {
				s.noopPending = true
				select {
				case s.pollWake <- struct{}{}:
				default:
				}
			}
			if len(s.queue) > 0 || s.state == stateClosing {
				s.flushing = true
				s.srv.flushers.schedule(s)
			}
			s.mu.Unlock()
			_ = conn.SetReadDeadline(time.Time{})
			s.readWebSocket(conn)
			return
		default:
			fail("unexpected packet " + string(data))
			return
		}
	}
}

// upgradeHeaders are the response headers of a WebSocket handshake.
func (srv *Server) upgradeHeaders(sid string) http.Header {
	h := http.Header{}
	if c := srv.cookie(sid); c != nil {
		h.Add("Set-Cookie", c.String())
	}
	return h
}
