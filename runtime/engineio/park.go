package engineio

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Parked long-polling connections.
//
// A long-polling client keeps a GET waiting for up to pingInterval and sends
// its POSTs (pongs, emits) on a second keep-alive connection that is idle
// most of the time. Served by net/http, each of them holds a goroutine with
// its stack and buffers. On a listener made by OrderRequests (the only one
// that can take a connection back), the server instead takes such a
// connection out of net/http (Hijack) and parks it in the read poller, with
// no goroutine and no buffer:
//
//   - a GET that must wait is parked "waiting": Send, the heartbeat, an
//     upgrade's noop or the session's close answer it from one of a few
//     workers that write the HTTP response themselves (Content-Length, the
//     CORS headers the handler set, keep-alive);
//   - after that answer, and after an answer written without waiting (a
//     POST's "ok", a GET that had packets, the handshake), the connection
//     is parked "idle" until its next bytes arrive (except after messages,
//     which the client follows with its next GET at once, while fewer than
//     maxIdleInHTTP connections wait in the HTTP server), then the listener's
//     Accept hands it back to the http.Server with the bytes already read,
//     and the next request is served as usual (ordered by OrderRequests
//     like any other); at most maxHandedBack connections handed back are
//     served at a time, the others wait in the listener's queue;
//   - a client that closes a waiting GET's connection ends its session with
//     ReasonTransportError, as a GET whose request context ends does (the
//     reference server's "poll connection closed prematurely"); an idle
//     connection the client closes is handed back and net/http closes it;
//   - an idle connection is closed after the http.Server's IdleTimeout (or
//     ReadTimeout), as net/http would, by one sweep per listener (at most
//     an eighth of the timeout, or 1 s, late) rather than a timer per
//     connection.
//
// Only plain HTTP/1.1 keep-alive requests are parked (not TLS, not
// HTTP/1.0, not "Connection: close"), and at most Options.MaxParkedConns
// connections at a time; every other request is served on its net/http
// goroutine as before.

// maxCarry bounds the bytes a waiting connection keeps for the request that
// follows its GET (a client that pipelines); past it the connection is not
// watched until the GET is answered.
const maxCarry = 4096

type parkState uint8

const (
	parkWaiting parkState = iota // a GET of sess waits on it (owned by sess while sess.parked is it)
	parkIdle                     // between requests, owned by the poller
	parkGone                     // handed back or closed
)

// parkedConn is a connection taken out of net/http.
type parkedConn struct {
	pollReg // the poller registration, valid while registered
	srv     *Server
	sc      *stampedConn

	mu         sync.Mutex
	state      parkState
	registered bool
	sess       *Session // parkWaiting: the session whose GET waits
	head       []byte   // extra response header lines of the waiting GET (CORS)
	carry      []byte   // bytes read past the request, for the next one
	eof        bool     // the client closed its side

	// In the listener's list of idle connections (idleConns), under the
	// list's mu (not pc.mu).
	idlePrev, idleNext *parkedConn
	idleAt             time.Duration // when it became idle (monoNow)
	idleLinked         bool
}

// parkable returns the connection of r when r may be parked, else nil.
func (srv *Server) parkable(r *http.Request) *stampedConn {
	if srv.opts.MaxParkedConns < 0 || r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.Close || r.TLS != nil {
		return nil
	}
	sc, _ := r.Context().Value(stampedConnKey{}).(*stampedConn)
	if sc == nil || sc.ln == nil || srv.parked.Load() >= int64(srv.opts.MaxParkedConns) {
		return nil
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closed || srv.startPollerLocked() == nil {
		return nil
	}
	return sc
}

// hijack takes r's connection out of net/http. It returns nil when net/http
// refused (the request goes on as usual), and a connection that is not
// parkable (nil sc) when net/http handed over another connection than sc.
func (srv *Server) hijack(w http.ResponseWriter, sc *stampedConn) *parkedConn {
	head := renderHeader(w.Header())
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil
	}
	pc := &parkedConn{srv: srv, head: head}
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		pc.carry = bytes.Clone(b)
	}
	if c, ok := conn.(*stampedConn); ok && c == sc {
		pc.sc = sc
		// Deadlines set while serving would cut the parked reads; the HTTP
		// server sets its own for the next request.
		_ = sc.SetDeadline(time.Time{})
	} else {
		pc.sc = &stampedConn{Conn: conn}
	}
	return pc
}

// renderHeader returns the header lines of h (nil when empty).
func renderHeader(h http.Header) []byte {
	if len(h) == 0 {
		return nil
	}
	var b bytes.Buffer
	_ = h.Write(&b)
	return b.Bytes()
}

// respond writes a 200 answer with body. It is called by the connection's
// one owner.
func (pc *parkedConn) respond(contentType string, body []byte) error {
	keepAlive := pc.sc.ln != nil
	buf := make([]byte, 0, 128+len(pc.head)+len(body))
	buf = append(buf, "HTTP/1.1 200 OK\r\nContent-Length: "...)
	buf = strconv.AppendInt(buf, int64(len(body)), 10)
	buf = append(buf, "\r\nContent-Type: "...)
	buf = append(buf, contentType...)
	buf = append(buf, "\r\nDate: "...)
	buf = time.Now().UTC().AppendFormat(buf, http.TimeFormat)
	if !keepAlive {
		buf = append(buf, "\r\nConnection: close"...)
	}
	buf = append(buf, "\r\n"...)
	buf = append(buf, pc.head...)
	buf = append(buf, "\r\n"...)
	buf = append(buf, body...)
	pc.head = nil
	_ = pc.sc.SetWriteDeadline(time.Now().Add(writeWait))
	_, err := pc.sc.Write(buf)
	_ = pc.sc.SetWriteDeadline(time.Time{})
	return err
}

// parkPoll parks the connection of the GET r of s, which must wait. It
// reports false when net/http kept the connection: the caller serves the GET
// as usual then.
func (srv *Server) parkPoll(s *Session, w http.ResponseWriter, sc *stampedConn) bool {
	pc := srv.hijack(w, sc)
	if pc == nil {
		return false
	}
	pc.mu.Lock()
	s.mu.Lock()
	waiting := pc.sc.ln != nil && s.mustWaitLocked()
	if waiting {
		s.parked, pc.sess, pc.state = pc, s, parkWaiting
	}
	s.mu.Unlock()
	if waiting && srv.poller.register(pc.sc, pc, func(reg pollReg) { pc.pollReg = reg }) {
		pc.registered = true
		srv.parked.Add(1)
		pc.mu.Unlock()
		return true
	}
	pc.mu.Unlock()
	// Not parked: answer now, on this goroutine, unless a wake-up already
	// took the connection (that answer hands it back: it is not registered).
	s.mu.Lock()
	if waiting && s.parked != pc {
		s.mu.Unlock()
		return true
	}
	s.parked = nil
	s.mu.Unlock()
	s.answerPoll(pc)
	return true
}

// parkAfter answers a request with body on its connection taken out of
// net/http, then parks the connection until its next request. It reports
// false when net/http kept the connection (nothing was written), and the
// write's error.
func (srv *Server) parkAfter(w http.ResponseWriter, sc *stampedConn, contentType string, body []byte) (bool, error) {
	pc := srv.hijack(w, sc)
	if pc == nil {
		return false, nil
	}
	err := pc.respond(contentType, body)
	pc.settle(err, true)
	return true, err
}

// wakePollLocked makes the waiting GET of s answer. s.mu is held.
func (s *Session) wakePollLocked() {
	if pc := s.parked; pc != nil {
		s.parked = nil
		s.srv.answers.add(&s.srv.wg, s, pc)
		return
	}
	select {
	case s.pollWake <- struct{}{}:
	default:
	}
}

// maxAnswerers bounds the goroutines that answer parked GETs. A heartbeat
// or a broadcast wakes thousands of them at once: a goroutine each would
// hold thousands of stacks at the same moment (and the garbage collector's
// goal grows with them), where a few workers answer them one after the
// other, each answer being one write of a small response to an idle socket.
// A client that does not read holds its worker for at most writeWait.
const maxAnswerers = 32

// answerQueue holds the parked GETs to answer and runs at most
// maxAnswerers goroutines that answer them.
type answerQueue struct {
	mu      sync.Mutex
	queue   []pendingAnswer
	workers int
}

// pendingAnswer is a parked GET to answer.
type pendingAnswer struct {
	s  *Session
	pc *parkedConn
}

// add queues the answer of s's GET parked on pc, and starts a worker (one
// counted in wg) when fewer than maxAnswerers run.
func (q *answerQueue) add(wg *sync.WaitGroup, s *Session, pc *parkedConn) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queue = append(q.queue, pendingAnswer{s, pc})
	if q.workers >= maxAnswerers {
		return
	}
	q.workers++
	wg.Add(1)
	go func() {
		defer wg.Done()
		q.run()
	}()
}

// run answers queued GETs until the queue is empty.
func (q *answerQueue) run() {
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.queue = nil // the burst's array goes with it
			q.workers--
			q.mu.Unlock()
			return
		}
		a := q.queue[0]
		q.queue[0] = pendingAnswer{}
		q.queue = q.queue[1:]
		q.mu.Unlock()
		a.s.answerPoll(a.pc)
	}
}

// answerPoll answers the GET of s parked on pc (which s no longer holds).
func (s *Session) answerPoll(pc *parkedConn) {
	s.mu.Lock()
	s.pollWaiting = false
	body, closing, active, reason := s.pollAnswerLocked()
	s.mu.Unlock()
	err := pc.respond(pollContentType, body)
	// After a ping or a noop the connection stays parked until the client's
	// next request arrives (after its POSTs, e.g. the pong): handed back at
	// once, it would hold an HTTP server goroutine and its read buffer
	// meanwhile. After messages the client polls again at once: the HTTP
	// server takes it back now rather than after one more poller event,
	// unless many connections already wait in the HTTP server.
	pc.settle(err, !active || pc.sc.ln.parkAfterMessages())
	switch {
	case closing:
		s.finish(reason) // no-op when already closed
	case err != nil:
		s.finish(ReasonTransportError)
	}
}

// settle parks pc idle after an answer until the client's next request
// (when idle is set), or hands it back to the HTTP server, or closes it
// (the write failed, the client is gone).
func (pc *parkedConn) settle(writeErr error, idle bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.sess = nil
	switch {
	case writeErr != nil || pc.eof || pc.sc.ln == nil:
		pc.closeLocked()
	case !idle || len(pc.carry) > 0:
		pc.giveBackLocked() // the next request comes at once, or has begun
	default:
		pc.state = parkIdle
		if !pc.registered {
			pc.registered = pc.srv.poller.register(pc.sc, pc, func(reg pollReg) { pc.pollReg = reg })
			if !pc.registered {
				pc.giveBackLocked()
				return
			}
			pc.srv.parked.Add(1)
		} else if !pc.srv.poller.rearmReg(&pc.pollReg) {
			pc.giveBackLocked()
			return
		}
		if pc.sc.ln.idleTimeout > 0 {
			pc.sc.ln.idle.add(pc)
		}
	}
}

// readReady runs when a parked connection has bytes or was closed by the
// client.
func (pc *parkedConn) readReady(p *readPoller) {
	pc.mu.Lock()
	switch pc.state {
	case parkIdle:
		pc.giveBackLocked() // the next request (or its end) is the HTTP server's
		pc.mu.Unlock()
		return
	case parkGone:
		pc.mu.Unlock()
		return
	}
	// A GET waits: read what the client sends meanwhile to see it close.
	var buf [512]byte
	for !pc.eof {
		n, err := readRawNow(pc.rc, buf[:min(len(buf), maxCarry-len(pc.carry))])
		if n > 0 {
			pc.carry = append(pc.carry, buf[:n]...)
			if rc, ok := pc.sc.Conn.(ReadCounter); ok {
				rc.CountRead(n)
			}
		}
		switch {
		case errors.Is(err, errWouldBlock):
			if len(pc.carry) < maxCarry {
				p.rearmReg(&pc.pollReg)
			}
			pc.mu.Unlock()
			return
		case err != nil:
			pc.eof = true
		case len(pc.carry) >= maxCarry:
			pc.mu.Unlock()
			return // watched again once the GET is answered
		}
	}
	s := pc.sess
	if s == nil {
		pc.mu.Unlock()
		return
	}
	s.mu.Lock()
	owned := s.parked == pc
	if owned {
		s.parked, s.pollWaiting = nil, false
	}
	s.mu.Unlock()
	if owned {
		pc.closeLocked()
	}
	pc.mu.Unlock()
	if owned {
		// The client gave up on its poll: the session is gone.
		s.finish(ReasonTransportError)
	}
}

// monoStart is the origin of monoNow.
var monoStart = time.Now()

// monoNow is the monotonic clock's time since monoStart.
func monoNow() time.Duration { return time.Since(monoStart) }

// idleConns is a listener's parked idle connections in the order they
// became idle, which is the order of their deadlines (one idle timeout per
// listener). One goroutine, running while the list is not empty, closes
// those idle for longer than the timeout: no timer per connection.
type idleConns struct {
	mu         sync.Mutex
	head, tail *parkedConn
	sweeping   bool
}

// add appends pc, just parked idle (pc.mu is held), and starts the sweep
// of pc's listener when it is not running.
func (q *idleConns) add(pc *parkedConn) {
	q.mu.Lock()
	defer q.mu.Unlock()
	pc.idleAt, pc.idleLinked = monoNow(), true
	pc.idlePrev, pc.idleNext = q.tail, nil
	if q.tail != nil {
		q.tail.idleNext = pc
	} else {
		q.head = pc
	}
	q.tail = pc
	if !q.sweeping {
		q.sweeping = true
		go q.sweep(pc.sc.ln)
	}
}

// remove unlinks pc when it is in the list. pc.mu is held.
func (q *idleConns) remove(pc *parkedConn) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.unlinkLocked(pc)
}

func (q *idleConns) unlinkLocked(pc *parkedConn) {
	if !pc.idleLinked {
		return
	}
	if pc.idlePrev != nil {
		pc.idlePrev.idleNext = pc.idleNext
	} else {
		q.head = pc.idleNext
	}
	if pc.idleNext != nil {
		pc.idleNext.idlePrev = pc.idlePrev
	} else {
		q.tail = pc.idlePrev
	}
	pc.idlePrev, pc.idleNext, pc.idleLinked = nil, nil, false
}

// sweepEvery returns how often the connections idle for longer than
// timeout are looked for: an eighth of it, between 10 ms and 1 s.
func sweepEvery(timeout time.Duration) time.Duration {
	return min(max(timeout/8, 10*time.Millisecond), time.Second)
}

// sweep closes the connections of l idle for longer than its idle timeout
// until the list is empty or l is closed.
func (q *idleConns) sweep(l *stampedListener) {
	t := time.NewTicker(sweepEvery(l.idleTimeout))
	defer t.Stop()
	var expired []*parkedConn
	for {
		select {
		case <-t.C:
		case <-l.done:
			q.mu.Lock()
			q.sweeping = false
			q.mu.Unlock()
			return
		}
		q.mu.Lock()
		now := monoNow()
		for pc := q.head; pc != nil && now-pc.idleAt >= l.idleTimeout; pc = q.head {
			q.unlinkLocked(pc)
			expired = append(expired, pc)
		}
		empty := q.head == nil
		if empty {
			q.sweeping = false
		}
		q.mu.Unlock()
		for i, pc := range expired {
			pc.mu.Lock()
			if pc.state == parkIdle {
				pc.closeLocked()
			}
			pc.mu.Unlock()
			expired[i] = nil
		}
		expired = expired[:0]
		if empty {
			return
		}
	}
}

// pollerClosed is called by the poller when it stops, with pc removed from
// it: an idle connection goes back to the HTTP server, a waiting one when
// its GET is answered.
func (pc *parkedConn) pollerClosed() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.registered {
		pc.registered = false
		pc.srv.parked.Add(-1)
	}
	if pc.state == parkIdle {
		pc.giveBackLocked()
	}
}

// releaseLocked ends pc's registration and takes it off its listener's
// idle list. pc.mu is held.
func (pc *parkedConn) releaseLocked() {
	if pc.registered {
		pc.srv.poller.unregister(&pc.pollReg, pc)
		pc.registered = false
		pc.srv.parked.Add(-1)
	}
	if pc.sc.ln != nil {
		pc.sc.ln.idle.remove(pc)
	}
	pc.state = parkGone
}

func (pc *parkedConn) closeLocked() {
	if pc.state == parkGone {
		return
	}
	pc.releaseLocked()
	_ = pc.sc.Close()
}

// giveBackLocked hands pc to its listener's Accept, with the bytes already
// read. pc.mu is held.
func (pc *parkedConn) giveBackLocked() {
	if pc.state == parkGone {
		return
	}
	pc.releaseLocked()
	carry := pc.carry
	pc.carry = nil
	pc.sc.ln.resume(pc.sc, carry)
}

// maxHandedBack bounds the connections given back to the HTTP server at
// one time. Every connection handed back costs a goroutine, its stack and
// the server's read and write buffers until its request is done; when
// thousands of parked clients send their next request at once (after a
// heartbeat or a broadcast), the others wait their turn in the listener's
// queue, with their bytes in the kernel, instead of all holding buffers at
// the same moment (the garbage collector's goal, hence the RSS, follows
// that peak).
const maxHandedBack = 128

// handBackHold bounds how long one hand-back holds its slot: a request
// whose body trickles in, or a slow handler, lets the queue move on after
// it.
const handBackHold = 100 * time.Millisecond

// maxIdleInHTTP is how many connections may wait in the HTTP server for a
// next request that comes at once (after an answer carrying messages)
// before such connections are parked too: one more poller event per
// request is cheaper than the server's goroutine and buffers when many
// clients poll at once.
const maxIdleInHTTP = 256

// parkAfterMessages reports whether a connection of l answered with
// messages is parked until the client's next request rather than kept by
// the HTTP server.
func (l *stampedListener) parkAfterMessages() bool {
	return l != nil && l.idleInHTTP.Load() >= maxIdleInHTTP
}

// resume queues sc, given back with the bytes already read, for Accept, or
// closes it once the listener is closed.
func (l *stampedListener) resume(sc *stampedConn, carry []byte) {
	sc.mu.Lock()
	sc.carry = carry
	sc.mu.Unlock()
	sc.armed.Store(true)
	l.resumeMu.Lock()
	select {
	case <-l.done:
		l.resumeMu.Unlock()
		_ = sc.Close()
		return
	default:
	}
	l.resumed = append(l.resumed, sc)
	l.resumeMu.Unlock()
	select {
	case l.resumedSig <- struct{}{}:
	default:
	}
}

// nextResumed returns the next connection given back when fewer than
// maxHandedBack are being served, with a slot taken for it; else nil.
func (l *stampedListener) nextResumed() *stampedConn {
	if l.handedBack.Load() >= maxHandedBack {
		return nil
	}
	l.resumeMu.Lock()
	if len(l.resumed) == 0 {
		l.resumeMu.Unlock()
		return nil
	}
	sc := l.resumed[0]
	l.resumed[0] = nil
	l.resumed = l.resumed[1:]
	if len(l.resumed) == 0 {
		l.resumed = nil // the burst's array goes with it
	}
	sc.awaitingRequest.Store(true)
	l.awaiting[sc] = struct{}{}
	l.resumeMu.Unlock()
	l.handedBack.Add(1)
	n := l.handBacks.Add(1)
	sc.handBack.Store(n)
	t := time.AfterFunc(handBackHold, func() { sc.freeHandBack(n) })
	sc.mu.Lock()
	sc.handBackTimer = t
	sc.mu.Unlock()
	return sc
}

// endHandBack frees the slot of sc's hand-back, if it holds one: its
// request is done, or the connection was taken out of the HTTP server
// again, or closed.
func (sc *stampedConn) endHandBack() {
	if n := sc.handBack.Load(); n != 0 {
		sc.freeHandBack(n)
	}
}

// freeHandBack frees the slot of hand-back n once.
func (sc *stampedConn) freeHandBack(n uint64) {
	if !sc.handBack.CompareAndSwap(n, 0) {
		return
	}
	sc.mu.Lock()
	if t := sc.handBackTimer; t != nil {
		t.Stop()
		sc.handBackTimer = nil
	}
	sc.mu.Unlock()
	l := sc.ln
	l.handedBack.Add(-1)
	select {
	case l.slotFreed <- struct{}{}:
	default:
	}
}

// closeResumed closes the connections still queued when the listener
// closes.
func (l *stampedListener) closeResumed() {
	l.resumeMu.Lock()
	queued := l.resumed
	l.resumed = nil
	l.resumeMu.Unlock()
	for _, sc := range queued {
		_ = sc.Close()
	}
}

// Connections given back and awaiting their next request.
//
// The HTTP server counts a connection given back as new (it comes from
// Accept), and http.Server.Shutdown leaves a new connection open until it
// is 5 s old, waiting for its first request. A connection given back is no
// new one but a keep-alive connection between two requests, which Shutdown
// closes at once; a client that keeps it pooled (a balancer, or a peer
// forwarding to the admin listener) sends nothing on it, so every stop
// waited those 5 s. The listener's Close (the first step of Shutdown)
// closes them.

// requestCame takes sc, which left http.StateNew (its request began, or it
// was closed or hijacked), out of the awaiting connections.
func (l *stampedListener) requestCame(sc *stampedConn) {
	l.resumeMu.Lock()
	delete(l.awaiting, sc)
	l.resumeMu.Unlock()
}

// closeAwaiting closes the connections given back that have not sent a
// request since (once the listener is closed: later ones are closed by
// resume).
func (l *stampedListener) closeAwaiting() {
	l.resumeMu.Lock()
	conns := make([]*stampedConn, 0, len(l.awaiting))
	for sc := range l.awaiting {
		conns = append(conns, sc)
	}
	clear(l.awaiting)
	l.resumeMu.Unlock()
	for _, sc := range conns {
		_ = sc.Close() // net/http's read fails and it forgets the connection
	}
}

// acceptResult is one Accept of the wrapped listener.
type acceptResult struct {
	c   net.Conn
	err error
}

// acceptLoop accepts the wrapped listener's connections for Accept until
// the listener is closed.
func (l *stampedListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		select {
		case l.accepted <- acceptResult{c, err}:
		case <-l.done:
			if c != nil {
				_ = c.Close()
			}
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
	}
}
