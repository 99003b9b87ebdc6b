package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketfleet/socketfleet/runtime/engineio"
	"github.com/socketfleet/socketfleet/runtime/parser"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Path is the URL path prefix the server answers on; default
	// "/socket.io/". A trailing slash is added when missing.
	Path string
	// Engine configures the Engine.IO layer (heartbeat, transports, limits,
	// CORS, cookie, AllowRequest).
	Engine engineio.Options
	// ConnectTimeout closes an Engine.IO session that has not joined any
	// namespace after this long; default 45s, negative disables it.
	ConnectTimeout time.Duration
	// Recovery enables connection state recovery; nil (default) disables it.
	Recovery *RecoveryOptions
	// Adapter creates each namespace's Adapter; default NewMemoryAdapter.
	Adapter AdapterFactory
	// SessionStore keeps the sessions of disconnected sockets when Recovery
	// is set; default a new MemorySessionStore.
	SessionStore SessionStore
	// CleanupEmptyChildNamespaces removes a dynamic namespace (created by
	// OfRegexp or OfFunc) when its last socket leaves.
	CleanupEmptyChildNamespaces bool
	// MaxAttachments limits the binary attachments of one incoming packet;
	// default 10 (socket.io-parser's default).
	MaxAttachments int
	// Parser is the Socket.IO parser every client of the server must use:
	// parser.Default (when nil) or parser.Msgpack (socket.io-msgpack-parser).
	// A client that speaks another parser is logged, counted
	// (ParserMismatches) and disconnected, as the reference server does on a
	// decode error.
	Parser parser.Codec
	// Logger receives diagnostics; default slog.Default().
	Logger *slog.Logger
}

// RecoveryOptions configure connection state recovery (Socket.IO 4.6+): a
// client that lost its connection for a recoverable reason reconnects with
// the same socket id, rooms and data and receives the packets it missed.
type RecoveryOptions struct {
	// MaxDisconnectionDuration is how long a disconnected session and the
	// packets buffered for it are kept; default 2 minutes.
	MaxDisconnectionDuration time.Duration
	// SkipMiddlewares skips the namespace's connect middlewares when a
	// session is recovered (Node's default is true; here the zero value runs
	// them).
	SkipMiddlewares bool
	// MaxBufferedPackets bounds the in-memory adapter's packet buffer (the
	// oldest packets are dropped first; a client whose offset was dropped
	// cannot recover); default 100000.
	MaxBufferedPackets int
}

// recoverableReasons are the disconnect reasons after which a session is
// persisted for recovery (socket.io's RECOVERABLE_DISCONNECT_REASONS).
func recoverableReason(reason string) bool {
	switch reason {
	case ReasonTransportError, ReasonTransportClose, ReasonForcedClose, ReasonPingTimeout,
		ReasonServerShutdown, ReasonForcedServerClose:
		return true
	}
	return false
}

// Disconnect reasons passed to OnDisconnecting and OnDisconnect handlers.
// Engine.IO reasons pass through unchanged.
const (
	ReasonServerNamespaceDisconnect = "server namespace disconnect"
	ReasonClientNamespaceDisconnect = "client namespace disconnect"
	ReasonServerShutdown            = engineio.ReasonServerShutdown
	ReasonForcedServerClose         = "forced server close"
	ReasonTransportClose            = engineio.ReasonTransportClose
	ReasonTransportError            = engineio.ReasonTransportError
	ReasonPingTimeout               = engineio.ReasonPingTimeout
	ReasonParseError                = engineio.ReasonParseError
	ReasonForcedClose               = engineio.ReasonForcedClose
)

// Server is a Socket.IO server: an http.Handler serving the Engine.IO
// transports under Options.Path and multiplexing namespaces over them.
type Server struct {
	opts   Options
	path   string
	engine *engineio.Server
	store  SessionStore
	log    *slog.Logger
	ids    idGenerator

	ctx    context.Context
	cancel context.CancelFunc

	// handshakeStrings shares equal handshake addresses and URLs between
	// clients.
	handshakeStrings sharedStrings

	mismatches       atomic.Uint64 // clients that spoke another parser
	lastMismatchLog  atomic.Int64  // unix nanoseconds of the last mismatch log line
	suppressedLogged atomic.Uint64 // mismatches not logged since then

	mu      sync.RWMutex
	nsps    map[string]*Namespace
	parents []*ParentNamespace
	closed  bool
}

// NewServer creates a server with the main namespace "/".
func NewServer(opts Options) *Server {
	if opts.Path == "" {
		opts.Path = "/socket.io/"
	}
	if !strings.HasPrefix(opts.Path, "/") {
		opts.Path = "/" + opts.Path
	}
	if !strings.HasSuffix(opts.Path, "/") {
		opts.Path += "/"
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 45 * time.Second
	}
	if opts.Adapter == nil {
		opts.Adapter = NewMemoryAdapter
	}
	if opts.MaxAttachments == 0 {
		opts.MaxAttachments = 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Parser == nil {
		opts.Parser = parser.Default
	}
	if opts.Recovery != nil {
		rec := *opts.Recovery
		if rec.MaxDisconnectionDuration <= 0 {
			rec.MaxDisconnectionDuration = 2 * time.Minute
		}
		if rec.MaxBufferedPackets <= 0 {
			rec.MaxBufferedPackets = 100000
		}
		opts.Recovery = &rec
		if opts.SessionStore == nil {
			opts.SessionStore = NewMemorySessionStore()
		}
	}
	if opts.Engine.Logger == nil {
		opts.Engine.Logger = opts.Logger
	}
	s := &Server{
		opts:  opts,
		path:  opts.Path,
		store: opts.SessionStore,
		log:   opts.Logger,
		nsps:  make(map[string]*Namespace),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.engine = engineio.NewServer(opts.Engine, s.onSession)
	s.Of("/")
	return s
}

// Parser returns the server's Socket.IO parser.
func (s *Server) Parser() parser.Codec { return s.opts.Parser }

// ParserMismatches returns how many sessions were closed because their
// client spoke another parser than the server's.
func (s *Server) ParserMismatches() uint64 { return s.mismatches.Load() }

// encode encodes a packet with the server's parser into the Engine.IO
// messages that carry it. A broadcast is encoded once for all its targets.
// A packet the parser cannot write (never one the runtime built) is logged
// and dropped.
func (s *Server) encode(p *parser.Packet) []*engineio.Message {
	frames, err := s.opts.Parser.Encode(p)
	if err != nil {
		s.log.Error("socketio: encode packet", "parser", s.opts.Parser.Name(), "type", p.Type.String(),
			"nsp", p.Namespace, "err", err)
		return nil
	}
	msgs := make([]*engineio.Message, len(frames))
	for i, f := range frames {
		if f.Binary {
			msgs[i] = engineio.BinaryMessage(f.Data)
		} else {
			msgs[i] = engineio.TextMessage(f.Data)
		}
	}
	return msgs
}

// mismatchLogInterval spaces the parser mismatch log lines: a fleet whose
// clients all use another parser logs one line per interval, with counts.
const mismatchLogInterval = 10 * time.Second

// parserMismatch counts a client that speaks another parser and logs it.
func (s *Server) parserMismatch(sess *engineio.Session, err error) {
	total := s.mismatches.Add(1)
	now := time.Now().UnixNano()
	last := s.lastMismatchLog.Load()
	if last != 0 && now-last < int64(mismatchLogInterval) || !s.lastMismatchLog.CompareAndSwap(last, now) {
		s.suppressedLogged.Add(1)
		return
	}
	s.log.Warn("socketio: client speaks a different Socket.IO parser than the server's; closing the session "+
		"(configure the same parser on both sides: the runtime's parser setting, the client's parser option)",
		"parser", s.opts.Parser.Name(), "session", sess.ID(), "transport", string(sess.Transport()),
		"err", err, "mismatches_total", total, "not_logged_since_last_line", s.suppressedLogged.Swap(0))
}

// ServeHTTP serves the Engine.IO transports for requests under Options.Path
// and answers 404 to anything else.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, s.path) {
		http.NotFound(w, r)
		return
	}
	s.engine.ServeHTTP(w, r)
}

// Engine returns the Engine.IO server (for statistics and transport-level
// draining).
func (s *Server) Engine() *engineio.Server { return s.engine }

// SessionStore returns the store of recoverable sessions (nil when recovery
// is off).
func (s *Server) SessionStore() SessionStore { return s.store }

// Recovery returns the effective recovery options (defaults applied), or nil
// when recovery is off.
func (s *Server) Recovery() *RecoveryOptions { return s.opts.Recovery }

// Of returns the namespace name, creating it if needed. A missing leading
// slash is added. Of("/") is the main namespace, which always exists.
func (s *Server) Of(name string) *Namespace {
	name = normalizeNamespace(name)
	s.mu.RLock()
	nsp := s.nsps[name]
	s.mu.RUnlock()
	if nsp != nil {
		return nsp
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if nsp = s.nsps[name]; nsp == nil {
		nsp = newNamespace(s, name, nil)
		s.nsps[name] = nsp
	}
	return nsp
}

// OfRegexp registers a dynamic namespace: a client connecting to an unknown
// namespace whose name matches re creates it as a child of the returned
// ParentNamespace.
func (s *Server) OfRegexp(re *regexp.Regexp) *ParentNamespace {
	return s.OfFunc(func(_ context.Context, name string, _ json.RawMessage) bool {
		return re.MatchString(name)
	})
}

// OfFunc registers a dynamic namespace decided by match, called with the
// namespace name and the CONNECT auth payload for each connection to an
// unknown namespace (in registration order, first match wins).
func (s *Server) OfFunc(match func(ctx context.Context, name string, auth json.RawMessage) bool) *ParentNamespace {
	p := &ParentNamespace{srv: s, match: match, children: make(map[string]*Namespace)}
	s.mu.Lock()
	s.parents = append(s.parents, p)
	s.mu.Unlock()
	return p
}

// Namespaces returns the existing namespaces (static and dynamic children).
func (s *Server) Namespaces() []*Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		out = append(out, n)
	}
	return out
}

// Close disconnects every socket with reason "server shutting down" (their
// sessions are persisted when recovery is on), closes the adapters and the
// Engine.IO server and waits for its goroutines, or for ctx.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	nsps := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		nsps = append(nsps, n)
	}
	s.mu.Unlock()

	var errs []error
	for _, n := range nsps {
		for _, sock := range n.Sockets() {
			sock.onClose(ReasonServerShutdown)
		}
		if err := n.adapter.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close adapter of %q: %w", n.name, err))
		}
	}
	if err := s.engine.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close engine: %w", err))
	}
	s.cancel()
	return errors.Join(errs...)
}

func (s *Server) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

func (s *Server) onSession(sess *engineio.Session, r *http.Request) engineio.SessionHandler {
	return newClient(s, sess, r)
}

// resolveNamespace finds or creates (dynamic) the namespace a CONNECT packet
// names and registers a pending connection on it; nil when there is none.
func (s *Server) resolveNamespace(ctx context.Context, name string, auth json.RawMessage) *Namespace {
	for attempt := 0; attempt < 3; attempt++ {
		s.mu.RLock()
		nsp := s.nsps[name]
		parents := s.parents
		s.mu.RUnlock()
		if nsp != nil {
			if nsp.beginConnect() {
				return nsp
			}
			continue // removed meanwhile: look again
		}
		for _, p := range parents {
			if !p.match(ctx, name, auth) {
				continue
			}
			s.mu.Lock()
			nsp = s.nsps[name]
			if nsp == nil {
				nsp = newNamespace(s, name, p)
				s.nsps[name] = nsp
				p.addChild(nsp)
			}
			ok := nsp.beginConnect()
			s.mu.Unlock()
			if ok {
				return nsp
			}
			break
		}
		if nsp == nil {
			return nil
		}
	}
	return nil
}

// removeChildIfEmpty deletes a dynamic namespace without sockets when
// CleanupEmptyChildNamespaces is set.
func (s *Server) removeChildIfEmpty(n *Namespace) {
	if n.parent == nil || !s.opts.CleanupEmptyChildNamespaces {
		return
	}
	s.mu.Lock()
	n.mu.Lock()
	remove := !n.removed && len(n.sockets) == 0 && n.connecting == 0
	if remove {
		n.removed = true
		if s.nsps[n.name] == n {
			delete(s.nsps, n.name)
		}
	}
	n.mu.Unlock()
	s.mu.Unlock()
	if !remove {
		return
	}
	n.parent.removeChild(n)
	if err := n.adapter.Close(s.ctx); err != nil {
		s.log.Warn("socketio: close adapter of removed namespace", "namespace", n.name, "err", err)
	}
}

func normalizeNamespace(name string) string {
	if !strings.HasPrefix(name, "/") {
		return "/" + name
	}
	return name
}
