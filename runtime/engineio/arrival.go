package engineio

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Arrival order of the requests of one polling session.
//
// A long-polling client may have two requests of one session in flight on
// two connections: a GET and a POST carrying a close packet, or (a broken
// client) two GETs. The reference server, single-threaded, handles them in
// the order their bytes arrive: a GET that arrived first is the pending poll
// and is answered when the close comes; a second GET is the one refused.
// net/http runs each connection's requests in its own goroutine, so a request
// that arrived later can reach the handler first on a busy machine.
//
// OrderRequests restores arrival order: the listener it returns stamps each
// connection's first read of a request with a sequence number and notes the
// session id of the request line (the first read of a request nearly always
// holds the whole line; when it does not, that request is not ordered). A
// request of a session then waits, before it looks at the session, until
// every request of that session stamped before it has reached its ordering
// point: a GET once it is the pending poll (or refused), a POST once its
// packets were handled, any request once it fails or leaves. A request that
// never reaches the handler (a bad request, a client that goes away) leaves
// its place when its connection goes idle or closes. The wait is bounded by
// maxTurnWait, so a stalled earlier request cannot hold a session's later
// ones for longer.

// maxTurnWait bounds how long a request waits for the earlier requests of
// its session.
const maxTurnWait = time.Second

// arrivals is the server's record of requests read but not yet at their
// ordering point, by session id.
type arrivals struct {
	seq     atomic.Uint64
	mu      sync.Mutex
	pending map[string]map[uint64]struct{}
	// turn is closed (and replaced) whenever a request leaves pending.
	turn chan struct{}
}

// arrival is one request's place: its stamp and the session id of its
// request line ("" when the request is not ordered).
type arrival struct {
	sid   string
	stamp uint64
}

func newArrivals() *arrivals {
	return &arrivals{pending: make(map[string]map[uint64]struct{}), turn: make(chan struct{})}
}

func (a *arrivals) add(arr arrival) {
	a.mu.Lock()
	defer a.mu.Unlock()
	stamps := a.pending[arr.sid]
	if stamps == nil {
		stamps = make(map[uint64]struct{}, 2)
		a.pending[arr.sid] = stamps
	}
	stamps[arr.stamp] = struct{}{}
}

// leave removes arr from pending and wakes the waiting requests.
func (a *arrivals) leave(arr arrival) {
	if arr.sid == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	stamps := a.pending[arr.sid]
	if _, ok := stamps[arr.stamp]; !ok {
		return
	}
	delete(stamps, arr.stamp)
	if len(stamps) == 0 {
		delete(a.pending, arr.sid)
	}
	close(a.turn)
	a.turn = make(chan struct{})
}

// earlierPending reports whether a request of arr's session stamped before
// arr is pending, and the channel that announces the next change.
func (a *arrivals) earlierPending(arr arrival) (bool, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for stamp := range a.pending[arr.sid] {
		if stamp < arr.stamp {
			return true, a.turn
		}
	}
	return false, nil
}

// turn is a request's place in its session's order; end marks its ordering
// point (idempotent, nil-safe).
type turn struct {
	a   *arrivals
	arr arrival
}

func (t *turn) end() {
	if t == nil || t.a == nil {
		return
	}
	t.a.leave(t.arr)
	t.a = nil
}

// takeTurn returns r's place in the order of session sid once every request
// of that session that arrived earlier has reached its ordering point (or
// maxTurnWait passed, or r was cancelled). The caller ends it.
func (srv *Server) takeTurn(r *http.Request, sid string) *turn {
	c, _ := r.Context().Value(stampedConnKey{}).(*stampedConn)
	if c == nil {
		return nil
	}
	// The listener's record: one OrderRequests orders the requests of every
	// engine served on its listener.
	arr := c.take()
	t := &turn{a: c.a, arr: arr}
	if arr.sid != sid {
		t.end() // the request line and the query disagree: not ordered
		return nil
	}
	if srv.beforeTurn != nil {
		srv.beforeTurn(r)
	}
	var timeout <-chan time.Time
	for {
		earlier, changed := c.a.earlierPending(arr)
		if !earlier {
			return t
		}
		if timeout == nil {
			if srv.onTurnWait != nil {
				srv.onTurnWait(r)
			}
			timer := time.NewTimer(maxTurnWait)
			defer timer.Stop()
			timeout = timer.C
		}
		select {
		case <-changed:
		case <-timeout:
			return t
		case <-r.Context().Done():
			return t
		}
	}
}

// OrderRequests makes hs observe the requests of a polling session in the
// order they arrived (see above): it sets hs.ConnContext and hs.ConnState
// (calling those already set) and returns the listener hs must serve on.
// Without it requests are handled as net/http dispatches them.
func (srv *Server) OrderRequests(hs *http.Server, ln net.Listener) net.Listener {
	connContext, connState := hs.ConnContext, hs.ConnState
	hs.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if connContext != nil {
			ctx = connContext(ctx, c)
		}
		if sc, ok := c.(*stampedConn); ok && sc.a != nil {
			ctx = context.WithValue(ctx, stampedConnKey{}, sc)
		}
		return ctx
	}
	hs.ConnState = func(c net.Conn, state http.ConnState) {
		if sc, ok := c.(*stampedConn); ok {
			switch state {
			case http.StateIdle:
				// The request is answered: a place it did not take (another
				// handler's request) is left, and the next one is stamped.
				sc.a.leave(sc.take())
				sc.armed.Store(true)
				sc.endHandBack()
				if sc.ln != nil && sc.httpIdle.CompareAndSwap(false, true) {
					sc.ln.idleInHTTP.Add(1)
				}
			case http.StateHijacked, http.StateClosed:
				sc.armed.Store(false)
				sc.a.leave(sc.take())
				sc.endHandBack()
			}
			if state != http.StateIdle && sc.ln != nil && sc.httpIdle.CompareAndSwap(true, false) {
				sc.ln.idleInHTTP.Add(-1)
			}
			if state != http.StateNew && sc.awaitingRequest.CompareAndSwap(true, false) {
				sc.ln.requestCame(sc)
			}
		}
		if connState != nil {
			connState(c, state)
		}
	}
	idle := hs.IdleTimeout
	if idle == 0 {
		idle = hs.ReadTimeout
	}
	return &stampedListener{
		Listener: ln, a: srv.arrivals, idleTimeout: idle,
		resumedSig: make(chan struct{}, 1), slotFreed: make(chan struct{}, 1),
		accepted: make(chan acceptResult), done: make(chan struct{}),
		awaiting: map[*stampedConn]struct{}{},
	}
}

type stampedConnKey struct{}

// stampedListener wraps accepted connections in stampedConn. Its Accept
// also returns the parked connections given back (park.go).
type stampedListener struct {
	net.Listener
	a *arrivals
	// idleTimeout is the HTTP server's: how long a parked connection may
	// stay idle (0: no limit).
	idleTimeout time.Duration
	// idle lists the parked idle connections for the idle timeout's sweep.
	idle idleConns

	// Connections given back (park.go), handed to the HTTP server at most
	// maxHandedBack at a time.
	resumeMu   sync.Mutex
	resumed    []*stampedConn
	resumedSig chan struct{} // a connection was queued
	handedBack atomic.Int64  // given back and not yet done with (handBackSlot)
	slotFreed  chan struct{} // handedBack went down
	handBacks  atomic.Uint64 // numbers the hand-backs
	// awaiting holds the connections given back that have not sent a
	// request since (park.go: closeAwaiting), under resumeMu.
	awaiting map[*stampedConn]struct{}
	// idleInHTTP counts the connections idle in the HTTP server between
	// requests, each on a goroutine with its read buffer.
	idleInHTTP atomic.Int64
	accepted   chan acceptResult
	done       chan struct{}
	startOnce  sync.Once
	closeOnce  sync.Once
}

// Accept returns the next new or given-back connection.
func (l *stampedListener) Accept() (net.Conn, error) {
	l.startOnce.Do(func() { go l.acceptLoop() })
	for {
		if sc := l.nextResumed(); sc != nil {
			return sc, nil
		}
		select {
		case <-l.resumedSig:
		case <-l.slotFreed:
		case r := <-l.accepted:
			if r.err != nil {
				return nil, r.err
			}
			sc := &stampedConn{Conn: r.c, a: l.a, ln: l}
			sc.armed.Store(true)
			return sc, nil
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
}

// Close closes the wrapped listener; connections given back later are
// closed.
func (l *stampedListener) Close() error {
	err := net.ErrClosed
	l.closeOnce.Do(func() {
		close(l.done)
		l.closeResumed()
		l.closeAwaiting()
		err = l.Listener.Close()
	})
	return err
}

// stampedConn stamps the first read of each request while armed (between
// requests); reads of a request's body or of a hijacked connection cost one
// atomic load.
type stampedConn struct {
	net.Conn
	a     *arrivals
	ln    *stampedListener // nil: not accepted by a stampedListener
	armed atomic.Bool

	mu      sync.Mutex
	arrival arrival // of the request being read, until a handler takes it
	carry   []byte  // bytes read while the connection was parked, read first
	// handBack is the number of the hand-back whose slot the connection
	// holds (0: none), handBackTimer its time limit (park.go).
	handBack      atomic.Uint64
	handBackTimer *time.Timer
	httpIdle      atomic.Bool // counted in ln.idleInHTTP
	// awaitingRequest: given back and in ln.awaiting until its next
	// request (or its close).
	awaitingRequest atomic.Bool
}

func (c *stampedConn) Read(b []byte) (int, error) {
	n, err := c.readCarry(b)
	if n == 0 {
		n, err = c.Conn.Read(b)
	}
	if n > 0 && c.armed.CompareAndSwap(true, false) {
		arr := arrival{stamp: c.a.seq.Add(1), sid: requestLineSID(b[:n])}
		if arr.sid != "" {
			c.a.add(arr)
		}
		c.mu.Lock()
		prev := c.arrival
		c.arrival = arr
		c.mu.Unlock()
		c.a.leave(prev)
	}
	return n, err
}

// readCarry returns the bytes read while the connection was parked.
func (c *stampedConn) readCarry(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.carry) == 0 {
		return 0, nil
	}
	n := copy(b, c.carry)
	c.carry = c.carry[n:]
	if len(c.carry) == 0 {
		c.carry = nil
	}
	return n, nil
}

// take returns the place of the request being read and forgets it.
func (c *stampedConn) take() arrival {
	c.mu.Lock()
	defer c.mu.Unlock()
	arr := c.arrival
	c.arrival = arrival{}
	return arr
}

// SyscallConn exposes the socket (the WebSocket read poller watches it).
func (c *stampedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("engineio: connection has no file descriptor")
	}
	return sc.SyscallConn()
}

// CountRead passes the count of bytes read past Read on.
func (c *stampedConn) CountRead(n int) {
	if rc, ok := c.Conn.(ReadCounter); ok {
		rc.CountRead(n)
	}
}

// CountWrite passes the count of bytes written past Write on.
func (c *stampedConn) CountWrite(n int) {
	if wc, ok := c.Conn.(WriteCounter); ok {
		wc.CountWrite(n)
	}
}

// requestLineSID returns the sid query parameter of the HTTP request line at
// the start of b, or "" when b holds no complete request line, the line has
// no sid, or the sid is percent-encoded (such requests are not ordered).
func requestLineSID(b []byte) string {
	line, _, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok {
		return ""
	}
	_, target, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return ""
	}
	target, _, _ = bytes.Cut(target, []byte(" "))
	_, query, ok := bytes.Cut(target, []byte("?"))
	if !ok {
		return ""
	}
	for len(query) > 0 {
		var param []byte
		param, query, _ = bytes.Cut(query, []byte("&"))
		if value, ok := bytes.CutPrefix(param, []byte("sid=")); ok {
			if len(value) == 0 || bytes.ContainsAny(value, "%+") {
				return ""
			}
			return string(value)
		}
	}
	return ""
}
