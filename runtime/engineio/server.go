package engineio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Server is an Engine.IO server and an http.Handler: mount it on the
// Socket.IO path of a mux.
type Server struct {
	opts      Options
	log       *slog.Logger
	onSession func(*Session, *http.Request) SessionHandler
	upgrader  websocket.Upgrader
	// upgradeCheckEvery is how often an upgrading session answers its
	// pending poll with a noop (the reference server's 100 ms check).
	upgradeCheckEvery time.Duration
	// arrivals orders the requests of a polling session (OrderRequests).
	arrivals *arrivals
	// beforeTurn and onTurnWait are test hooks: called when a request has
	// taken its arrival stamp, and when it starts waiting for earlier ones.
	beforeTurn, onTurnWait func(*http.Request)

	mu       sync.Mutex
	sessions map[string]*Session
	closed   bool

	// writeBuffers holds the WebSocket write buffers between batches.
	writeBuffers sync.Pool
	// readBuffers holds the buffers the poller's readers read into.
	readBuffers sync.Pool
	// poller watches the WebSocket connections for bytes to read (Linux;
	// started with the first connection). pollerFailed: it could not start.
	poller       *readPoller
	pollerFailed bool
	// flushers write the queues of WebSocket sessions.
	flushers *flushPool
	// parked counts the long-polling connections parked in the poller
	// (park.go).
	parked atomic.Int64
	// answers answers the parked GETs that were woken (park.go).
	answers answerQueue
	// heartbeats pings every session and closes those that do not answer.
	heartbeats *heartbeatWheel

	// wg counts the goroutines the server starts (writers, OnClose calls,
	// WebSocket readers, the poller as a whole) so that Close can wait for
	// them.
	wg sync.WaitGroup
}

// Stats counts open sessions by transport.
type Stats struct {
	Polling   int
	WebSocket int
	// ReadByPoller counts the WebSocket connections (probes included) read
	// through the epoll poller, i.e. with no goroutine of their own while
	// idle (Linux, plain sockets, no compression).
	ReadByPoller int
	// ParkedConns counts the long-polling connections parked in the poller
	// with no goroutine: waiting GETs and idle keep-alive connections
	// between requests (Linux, listeners made by OrderRequests).
	ParkedConns int
}

// NewServer returns a server that hands every new session and its handshake
// request to onSession, which returns the session's handler. onSession runs
// before the handshake answer is written. The handler may keep parts of the
// request (its header map is not reused), not the request itself: a session
// outlives it.
func NewServer(opts Options, onSession func(*Session, *http.Request) SessionHandler) *Server {
	opts = opts.withDefaults()
	srv := &Server{
		opts:      opts,
		log:       opts.Logger,
		onSession: onSession,
		sessions:  make(map[string]*Session),

		upgradeCheckEvery: 100 * time.Millisecond,
		arrivals:          newArrivals(),
	}
	srv.flushers = newFlushPool(&srv.wg)
	srv.heartbeats = newHeartbeatWheel(opts.PingInterval, opts.PingTimeout, &srv.wg)
	srv.readBuffers.New = func() any {
		b := make([]byte, 16<<10)
		return &b
	}
	srv.upgrader = websocket.Upgrader{
		ReadBufferSize:    256,
		WriteBufferSize:   4096,
		WriteBufferPool:   &sync.Pool{},
		EnableCompression: opts.Compression,
		CheckOrigin:       srv.checkWebSocketOrigin,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, _ error) {
			(&RequestError{Status: status, Code: CodeBadRequest}).write(w)
		},
	}
	return srv
}

// ServeHTTP routes a request: CORS, then handshake or the session's
// transport.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if srv.applyCORS(w, r) {
		return // preflight answered
	}
	q := r.URL.Query()
	// One of the constants, not a substring of the request line (a
	// session keeps its transport; the line would stay with it).
	transport := internTransport(q.Get("transport"))
	if !srv.opts.allows(transport) {
		protocolError(CodeUnknownTransport).write(w)
		return
	}
	isUpgrade := websocket.IsWebSocketUpgrade(r)
	sid := q.Get("sid")
	if sid == "" {
		srv.handshake(w, r, transport, isUpgrade, q.Get("EIO"))
		return
	}
	t := srv.takeTurn(r, sid)
	defer t.end()
	s := srv.session(sid)
	if s == nil {
		protocolError(CodeUnknownSID).write(w)
		return
	}
	switch {
	case transport == WebSocket && isUpgrade:
		t.end()
		srv.serveUpgrade(w, r, s)
	case transport == Polling && !isUpgrade && s.Transport() == Polling:
		s.servePolling(w, r, t)
	default:
		protocolError(CodeBadRequest).write(w)
	}
}

// handshake opens a session.
func (srv *Server) handshake(w http.ResponseWriter, r *http.Request, transport Transport, isUpgrade bool, eio string) {
	if r.Method != http.MethodGet {
		protocolError(CodeBadHandshakeMethod).write(w)
		return
	}
	if transport == WebSocket && !isUpgrade {
		protocolError(CodeBadRequest).write(w)
		return
	}
	if srv.opts.AllowRequest != nil {
		if err := srv.opts.AllowRequest(r); err != nil {
			var refusal *RequestError
			if !errors.As(err, &refusal) {
				refusal = &RequestError{Status: http.StatusForbidden, Code: CodeForbidden, Message: err.Error()}
			}
			refusal.write(w)
			return
		}
	}
	if eio != "4" {
		protocolError(CodeUnsupportedProtocolVersion).write(w)
		return
	}
	sid, err := newSessionID()
	if p := srv.opts.SessionIDPrefix; p != nil {
		sid = p() + sid
	}
	if err != nil {
		srv.log.Warn("engineio: session id", "err", err)
		http.Error(w, "session id unavailable", http.StatusInternalServerError)
		return
	}

	var conn *wsConn
	if transport == WebSocket {
		c, err := srv.upgrader.Upgrade(w, r, srv.upgradeHeaders(sid))
		if err != nil {
			return // the upgrader answered
		}
		conn = srv.newWSConn(c)
	}
	s, ok := srv.open(sid, r, transport, conn)
	if !ok {
		if conn != nil {
			_ = conn.Close()
		} else {
			(&RequestError{Status: http.StatusServiceUnavailable, Code: CodeBadRequest, Message: "Server shutting down"}).write(w)
		}
		return
	}
	if conn != nil {
		// The HTTP server's goroutine returns: its connection state
		// (buffers, request, grown stack) can be freed.
		srv.startReading(conn)
		return
	}
	if c := srv.cookie(sid); c != nil {
		http.SetCookie(w, c)
	}
	s.servePoll(w, r, nil)
}

// internTransport returns the Transport constant named t, or t itself.
func internTransport(t string) Transport {
	switch Transport(t) {
	case Polling:
		return Polling
	case WebSocket:
		return WebSocket
	}
	return Transport(t)
}

// open registers a new session with its open packet queued. It reports false
// when the server is closed. For a WebSocket session it adds the reader to
// the wait group.
func (srv *Server) open(sid string, r *http.Request, transport Transport, conn *wsConn) (*Session, bool) {
	s := &Session{
		id:        sid,
		srv:       srv,
		transport: transport,
	}
	if transport == Polling {
		// Only a polling session waits for packets on it (a nil channel
		// is never woken, and never waited on).
		s.pollWake = make(chan struct{}, 1)
	}
	open, _ := json.Marshal(struct {
		SID          string      `json:"sid"`
		Upgrades     []Transport `json:"upgrades"`
		PingInterval int64       `json:"pingInterval"`
		PingTimeout  int64       `json:"pingTimeout"`
		MaxPayload   int64       `json:"maxPayload"`
	}{sid, srv.opts.upgrades(transport), srv.opts.PingInterval.Milliseconds(), srv.opts.PingTimeout.Milliseconds(), srv.opts.MaxBufferSize})
	s.queue = []*Message{controlPacket(packetOpen, open)}
	s.mu.Lock()
	srv.heartbeats.schedule(s, srv.opts.PingInterval)
	s.mu.Unlock()
	h := srv.onSession(s, r)
	s.mu.Lock() // the handler may close the session from a timer of its own (Close reads it)
	s.handler = h
	s.mu.Unlock()

	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		s.finish(ReasonServerShutdown)
		return nil, false
	}
	srv.sessions[sid] = s
	if conn != nil {
		conn.sess = s
		srv.attachPollerLocked(conn)
	}
	srv.mu.Unlock()

	if conn != nil {
		s.mu.Lock()
		s.ws = conn
		s.notifyLocked()
		s.mu.Unlock()
	}
	return s, true
}

// serveUpgrade handles a WebSocket request for a session. As the reference
// server does, a session that is already upgrading (another probe), already
// on WebSocket or closing gets the WebSocket handshake and then a close
// frame on that connection, not an HTTP error (a client without an error
// handler would crash on it); the session goes on.
func (srv *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, s *Session) {
	if len(srv.opts.upgrades(Polling)) == 0 {
		protocolError(CodeBadRequest).write(w)
		return
	}
	c, err := srv.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	conn := srv.newWSConn(c)
	s.mu.Lock()
	if s.transport != Polling || s.probe != nil || s.state != stateOpen {
		s.mu.Unlock()
		srv.log.Debug("engineio: upgrade refused: the session is upgrading, upgraded or closing", "sid", s.id)
		conn.shutdown(closeNormal)
		return
	}
	s.probe = conn
	conn.sess, conn.probing = s, true
	srv.mu.Lock()
	srv.attachPollerLocked(conn)
	srv.mu.Unlock()
	s.mu.Unlock()
	s.probeDeadline(conn)
	srv.startReading(conn)
}

// session returns the open session sid, or nil.
func (srv *Server) session(sid string) *Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.sessions[sid]
}

// remove forgets a closed session.
func (srv *Server) remove(s *Session) {
	srv.mu.Lock()
	if srv.sessions[s.id] == s {
		delete(srv.sessions, s.id)
	}
	srv.mu.Unlock()
}

// Sessions returns a snapshot of the open sessions.
func (srv *Server) Sessions() []*Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	out := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		out = append(out, s)
	}
	return out
}

// Len returns the number of open sessions without copying them.
func (srv *Server) Len() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return len(srv.sessions)
}

// Stats counts the open sessions by transport.
func (srv *Server) Stats() Stats {
	var st Stats
	for _, s := range srv.Sessions() {
		if s.Transport() == WebSocket {
			st.WebSocket++
		} else {
			st.Polling++
		}
	}
	srv.mu.Lock()
	p := srv.poller
	srv.mu.Unlock()
	if p != nil {
		st.ReadByPoller = p.watching()
	}
	st.ParkedConns = int(srv.parked.Load())
	return st
}

// Close closes every session with ReasonServerShutdown, refuses new ones,
// and waits until the server's goroutines (OnClose calls included) are done
// or ctx ends.
func (srv *Server) Close(ctx context.Context) error {
	srv.mu.Lock()
	srv.closed = true
	srv.mu.Unlock()
	for _, s := range srv.Sessions() {
		s.finish(ReasonServerShutdown)
	}
	srv.flushers.stop()
	srv.heartbeats.stop()
	done := make(chan struct{})
	go func() {
		srv.mu.Lock()
		p := srv.poller
		srv.mu.Unlock()
		if p != nil && p.close() { // the sessions are closed: its readers end
			srv.wg.Done()
		}
		srv.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// newSessionID returns 20 URL-safe characters from 15 random bytes, like the
// reference server's ids.
func newSessionID() (string, error) {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b[:]), nil
}

// cookie returns the sticky-session cookie for sid, or nil when disabled.
func (srv *Server) cookie(sid string) *http.Cookie {
	o := srv.opts.Cookie
	if o == nil {
		return nil
	}
	c := &http.Cookie{Name: o.Name, Value: sid, Path: o.Path, HttpOnly: o.HTTPOnly, SameSite: o.SameSite}
	if o.MaxAge > 0 {
		c.MaxAge = int(o.MaxAge / time.Second)
	}
	return c
}

// originAllowed reports whether CORS allows origin.
func (srv *Server) originAllowed(origin string) bool {
	c := srv.opts.CORS
	return c != nil && (slices.Contains(c.Origins, "*") || slices.Contains(c.Origins, origin))
}

// checkWebSocketOrigin restricts WebSocket handshakes to the CORS origins
// when CORS is configured.
func (srv *Server) checkWebSocketOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	return srv.opts.CORS == nil || origin == "" || srv.originAllowed(origin)
}

// applyCORS sets the CORS headers of an allowed cross-origin request and
// answers preflights. It reports whether the request was answered.
func (srv *Server) applyCORS(w http.ResponseWriter, r *http.Request) bool {
	c := srv.opts.CORS
	if c == nil {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	allowed := origin != "" && srv.originAllowed(origin)
	if allowed {
		if c.Credentials || !slices.Contains(c.Origins, "*") {
			h.Set("Access-Control-Allow-Origin", origin)
		} else {
			h.Set("Access-Control-Allow-Origin", "*")
		}
		if c.Credentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
	}
	if r.Method != http.MethodOptions {
		return false
	}
	if allowed {
		h.Set("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE")
		if len(c.Headers) > 0 {
			h.Set("Access-Control-Allow-Headers", strings.Join(c.Headers, ","))
		} else if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
			h.Add("Vary", "Access-Control-Request-Headers")
		}
		if c.MaxAge > 0 {
			h.Set("Access-Control-Max-Age", strconv.Itoa(int(c.MaxAge/time.Second)))
		}
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return true
}
