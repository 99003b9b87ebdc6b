package engineio

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// servePolling handles a long-polling request of an open session; t is its
// place in the session's arrival order (nil when not ordered), which the
// caller ends when the request is done.
func (s *Session) servePolling(w http.ResponseWriter, r *http.Request, t *turn) {
	switch r.Method {
	case http.MethodGet:
		s.servePoll(w, r, t)
	case http.MethodPost:
		s.servePost(w, r)
	default:
		protocolError(CodeBadRequest).write(w)
	}
}

// servePoll answers a GET: it waits until packets are queued (or the session
// ends) and writes them as one payload. Once it is the pending poll, the
// session's later requests may go on (t ends).
func (s *Session) servePoll(w http.ResponseWriter, r *http.Request, t *turn) {
	s.mu.Lock()
	if s.pollWaiting {
		// A second concurrent GET: the reference server kills the session.
		s.mu.Unlock()
		protocolError(CodeBadRequest).write(w)
		s.finish(ReasonTransportError)
		return
	}
	s.pollWaiting = true
	t.end()
	if s.mustWaitLocked() {
		// Wait with no goroutine when the connection can be parked.
		if sc := s.srv.parkable(r); sc != nil {
			s.mu.Unlock()
			if s.srv.parkPoll(s, w, sc) {
				return
			}
			s.mu.Lock()
		}
	}
	for s.mustWaitLocked() {
		s.mu.Unlock()
		select {
		case <-s.pollWake:
		case <-r.Context().Done():
			s.mu.Lock()
			s.pollWaiting = false
			s.mu.Unlock()
			// The client gave up on its poll: the session is gone.
			s.finish(ReasonTransportError)
			return
		}
		s.mu.Lock()
	}
	s.pollWaiting = false
	body, closing, active, reason := s.pollAnswerLocked()
	s.mu.Unlock()

	// After an answer without messages (the handshake's, a ping, a noop)
	// the client's next request may be a while away (its POSTs come first):
	// the connection waits for it with no goroutine when it can be parked.
	// After messages it polls again at once, and the HTTP server keeps it,
	// unless many connections already wait in the HTTP server.
	var err error
	parked := false
	if sc := s.srv.parkable(r); sc != nil && (!active || sc.ln.parkAfterMessages()) {
		parked, err = s.srv.parkAfter(w, sc, pollContentType, body)
	}
	if !parked {
		h := w.Header()
		h.Set("Content-Type", pollContentType)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		_, err = w.Write(body)
	}
	switch {
	case closing:
		s.finish(reason) // no-op when already closed
	case err != nil:
		s.finish(ReasonTransportError)
	}
}

// pollContentType is the Content-Type of a GET's answer.
const pollContentType = "text/plain; charset=UTF-8"

// mustWaitLocked reports whether a GET has nothing to answer yet. s.mu is
// held.
func (s *Session) mustWaitLocked() bool {
	return s.state == stateOpen && len(s.queue) == 0 && !s.noopPending
}

// pollAnswerLocked takes the answer of a GET: the payload, whether the
// session ends with it and why. s.mu is held.
func (s *Session) pollAnswerLocked() (body []byte, closing, active bool, reason string) {
	batch := s.takeQueueLocked()
	for _, m := range batch {
		if m.binary || m.wire[0] == packetMessage {
			active = true
			break
		}
	}
	// A graceful close sends what is queued first and the close packet in a
	// later answer, as the reference server does: the client then handles
	// every queued packet (e.g. Socket.IO DISCONNECTs) before the close. A
	// session the client closed itself gets a noop.
	closed := s.state == stateClosed
	closing = closed || (s.state == stateClosing && len(batch) == 0)
	reason = s.closeReason
	switch {
	case closing && s.noopPending:
		batch = append(batch, noopMessage)
	case closing:
		batch = append(batch, closeMessage)
	case len(batch) == 0:
		batch = append(batch, noopMessage)
	}
	s.noopPending = false
	return encodePayload(batch), closing, active, reason
}

// servePost reads a payload from the client and passes its packets on.
func (s *Session) servePost(w http.ResponseWriter, r *http.Request) {
	max := s.srv.opts.MaxBufferSize
	s.mu.Lock()
	if s.postActive {
		s.mu.Unlock()
		protocolError(CodeBadRequest).write(w)
		s.finish(ReasonTransportError)
		return
	}
	s.postActive = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.postActive = false
		s.mu.Unlock()
	}()

	// Protocol 4 sends binary as base64 text; a binary body is invalid.
	if r.Header.Get("Content-Type") == "application/octet-stream" {
		protocolError(CodeBadRequest).write(w)
		s.finish(ReasonTransportError)
		return
	}
	// An oversized payload is refused; the session goes on, as in the
	// reference server.
	if r.ContentLength > max {
		http.Error(w, "Payload Too Large", http.StatusRequestEntityTooLarge)
		return
	}
	// A body that trickles in is cut when the session would have timed out
	// anyway (its pong can only come in a POST): it holds a goroutine and a
	// buffer meanwhile. The server sets the next request's deadline itself.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.srv.opts.PingInterval + s.srv.opts.PingTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, "Payload Too Large", http.StatusRequestEntityTooLarge)
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			http.Error(w, "Request Timeout", http.StatusRequestTimeout)
		}
		s.finish(ReasonTransportError)
		return
	}
	packets, err := decodePayload(body)
	if err != nil {
		s.srv.log.Debug("engineio: bad polling payload", "sid", s.id, "err", err)
		s.finish(ReasonParseError)
	}
	for _, p := range packets {
		s.receive(p)
	}
	// The connection waits for the client's next POST with no goroutine
	// when it can be parked.
	if sc := s.srv.parkable(r); sc != nil {
		if parked, _ := s.srv.parkAfter(w, sc, "text/html", []byte("ok")); parked {
			return
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	_, _ = io.WriteString(w, "ok")
}
