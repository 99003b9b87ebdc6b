package engineio

import (
	"sync"
	"time"
)

// SessionHandler receives the events of one session. The server serializes
// the calls of one session: OnMessage calls never overlap, and OnClose comes
// last, exactly once.
type SessionHandler interface {
	// OnMessage receives a message packet; data may be retained.
	OnMessage(data []byte, binary bool)
	// OnClose reports the end of the session with one of the Reason*
	// constants.
	OnClose(reason string)
}

// ClosingHandler is implemented by a SessionHandler that acts before the
// server closes the session's transport with Close (a drain, a shed): it
// gets OnServerClose first, synchronously, before the client can see the
// close and reconnect elsewhere — e.g. to store the state the client will
// recover on another server. OnClose still comes at the end.
type ClosingHandler interface {
	OnServerClose()
}

type sessionState uint8

const (
	stateOpen    sessionState = iota
	stateClosing              // Close was called: flush the queue, then close
	stateClosed
)

// Session is one Engine.IO connection: a client identified by its sid,
// whatever its current transport.
type Session struct {
	// The fields a send touches come first, within the struct's first 56
	// bytes: a broadcast visits every session it reaches, and the cache
	// misses on them are most of what a delivery costs (see fanout.go).
	srv      *Server
	mu       sync.Mutex
	state    sessionState
	flushing bool       // WebSocket: the session is scheduled for or in a write
	ws       *wsConn    // the connection once on (or upgraded to) WebSocket
	queue    []*Message // packets waiting to be written

	id      string
	handler SessionHandler

	// handlerMu serializes the calls to handler.
	handlerMu sync.Mutex

	closeReason string
	transport   Transport
	hbDue       int64 // the heartbeat wheel's tick of the next heartbeat (0: none)

	// Long-polling.
	pollWake chan struct{} // wakes the waiting GET (capacity 1)
	parked   *parkedConn   // the connection of the waiting GET when parked (park.go)

	// WebSocket.
	probe *wsConn // a connection probing for an upgrade
	// upgradeCheck runs while the probe is answered and the upgrade not
	// done: it answers a pending poll with a noop (checkUpgrade).
	upgradeCheck *time.Timer

	// The other one-byte fields sit together (a server holds a Session per
	// client; the struct fits the allocator's 176-byte class).
	awaitingPong bool
	pollWaiting  bool // long-polling: a GET is waiting for packets
	postActive   bool // long-polling: a POST is being read
	noopPending  bool // long-polling: answer the waiting GET with a noop (upgrade in progress)
}

// ID returns the session id (the Engine.IO sid).
func (s *Session) ID() string { return s.id }

// Transport returns the current transport.
func (s *Session) Transport() Transport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transport
}

// LongPolling reports whether the session is on HTTP long-polling (not, or not
// yet, upgraded to WebSocket).
func (s *Session) LongPolling() bool { return s.Transport() == Polling }

// Send queues message packets, in order and atomically, and returns at once.
// It returns ErrSessionClosed once the session is closing, and ErrQueueFull
// (closing the session) when the client does not keep up.
func (s *Session) Send(msgs ...*Message) error {
	s.mu.Lock()
	err := s.queueLocked(msgs)
	if err == nil {
		s.notifyLocked()
	}
	s.mu.Unlock()
	if err == ErrQueueFull {
		s.queueFull()
	}
	return err
}

// queueLocked appends msgs to the queue, or returns why it cannot: the
// session is closing, or the queue would exceed MaxQueuedMessages (the
// caller then calls queueFull without s.mu). s.mu is held.
func (s *Session) queueLocked(msgs []*Message) error {
	if s.state != stateOpen {
		return ErrSessionClosed
	}
	if len(s.queue)+len(msgs) > s.srv.opts.MaxQueuedMessages {
		return ErrQueueFull
	}
	if s.queue == nil && len(msgs) < queueStartCap {
		// A queue grows by doubling from nothing: start it where a batch
		// written during a broadcast storm usually ends.
		s.queue = make([]*Message, 0, queueStartCap)
	}
	s.queue = append(s.queue, msgs...)
	return nil
}

// queueFull closes a session whose client does not read what is sent to it.
func (s *Session) queueFull() {
	s.srv.log.Debug("engineio: send queue full, closing session", "sid", s.id)
	s.finish(ReasonTransportError)
}

// Writable reports whether a packet sent now would be written without
// waiting: a long-polling request is waiting, or the WebSocket writer is idle.
// Volatile packets are dropped when it is false.
func (s *Session) Writable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen {
		return false
	}
	if s.ws != nil {
		return !s.flushing && len(s.queue) == 0
	}
	return s.pollWaiting && len(s.queue) == 0
}

// Close closes the session at the transport level after writing what is
// queued: a long-polling client gets a close packet, a WebSocket client a
// close frame. The client sees a transport close and reconnects. A handler
// that is a ClosingHandler gets OnServerClose before; every handler gets
// OnClose(ReasonForcedClose).
func (s *Session) Close() {
	s.mu.Lock()
	h, ok := s.handler.(ClosingHandler)
	open := s.state == stateOpen
	s.mu.Unlock()
	if ok && open {
		h.OnServerClose()
	}
	s.closeGracefully(ReasonForcedClose)
}

// closeGracefully flushes the queue, then closes with reason.
func (s *Session) closeGracefully(reason string) {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return
	}
	s.state = stateClosing
	s.closeReason = reason
	// A polling client that never polls again is closed after PingTimeout.
	s.srv.heartbeats.schedule(s, s.srv.opts.PingTimeout)
	s.notifyLocked()
	s.mu.Unlock()
}

// notifyLocked makes the transport write the queue. s.mu is held.
func (s *Session) notifyLocked() {
	if s.wakeLocked() {
		s.srv.flushers.schedule(s)
	}
}

// wakeLocked makes the transport write the queue, except that it leaves
// scheduling a WebSocket writer to the caller: it returns true when the
// session needs one (it was not flushing; now it is). s.mu is held.
func (s *Session) wakeLocked() (schedule bool) {
	if s.ws != nil {
		if s.flushing {
			return false
		}
		s.flushing = true
		return true
	}
	if s.pollWaiting {
		s.wakePollLocked()
	}
	return false
}

// finish closes the session now with reason (idempotent): it drops what is
// queued, closes the transports and reports OnClose.
func (s *Session) finish(reason string) {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	s.state = stateClosed
	s.queue = nil
	s.hbDue = 0
	s.stopUpgradeCheckLocked()
	ws, probe, transport := s.ws, s.probe, s.transport
	s.wakePollLocked()
	s.mu.Unlock()

	s.srv.remove(s)
	s.srv.log.Debug("engineio: session closed", "sid", s.id, "transport", transport, "reason", reason)
	for _, c := range []*wsConn{ws, probe} {
		if c != nil {
			c.shutdown(closeNormal)
		}
	}
	s.srv.wg.Add(1)
	go func() {
		defer s.srv.wg.Done()
		s.handlerMu.Lock()
		defer s.handlerMu.Unlock()
		s.handler.OnClose(reason)
	}()
}

// receive handles one packet from the client. It runs on the goroutine of
// the request or connection that read it.
func (s *Session) receive(p incoming) {
	switch p.typ {
	case packetMessage:
		s.deliver(p.data, p.binary)
	case packetPong:
		s.mu.Lock()
		if s.awaitingPong && s.state == stateOpen {
			s.awaitingPong = false
			s.srv.heartbeats.schedule(s, s.srv.opts.PingInterval)
		}
		s.mu.Unlock()
	case packetClose:
		// A pending long-polling GET is answered with a noop.
		s.mu.Lock()
		s.noopPending = true
		s.mu.Unlock()
		s.finish(ReasonTransportClose)
	case packetNoop, packetPing, packetUpgrade:
		// Nothing to do: clients of protocol 4 do not ping, and upgrade
		// packets only matter on the probing connection.
	default:
		s.finish(ReasonParseError)
	}
}

// deliver passes a message to the handler unless the session is closed.
func (s *Session) deliver(data []byte, binary bool) {
	s.handlerMu.Lock()
	defer s.handlerMu.Unlock()
	s.mu.Lock()
	closed := s.state == stateClosed
	s.mu.Unlock()
	if !closed {
		s.handler.OnMessage(data, binary)
	}
}

// takeQueueLocked removes and returns the queued packets. s.mu is held.
func (s *Session) takeQueueLocked() []*Message {
	q := s.queue
	s.queue = nil
	return q
}
