// Package adminui is the server side of the official Socket.IO admin UI
// (`@socket.io/admin-ui` 0.5): the admin namespace with its authentication
// (username + bcrypt hash), the `config` and `all_sockets` events on
// connection, `server_stats` every two seconds, the socket and room events,
// and the UI's operations (emit, join, leave, disconnect).
//
// Everything the UI receives is a broadcast on the admin namespace, so it goes
// through the namespace's adapter: with a Redis adapter an admin socket on any
// pod receives the stats and socket events of every pod, and the operations
// (in(filter).socketsJoin, disconnectSockets, ...) reach the sockets of every
// pod, as with Node's instrument(). docs/admin-ui.md describes the protocol
// and what differs from Node.
package adminui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/socketfleet/socketfleet/runtime/engineio"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// Defaults of Options.
const (
	DefaultNamespace       = "/admin"
	DefaultStatsInterval   = 2 * time.Second
	DefaultQueueSize       = 4096
	DefaultMaxSessions     = 1000
	DefaultSessionTTL      = 24 * time.Hour
	DefaultMaxListed       = 2000
	DefaultRequestsTimeout = 5 * time.Second
)

// socketsEvent is the server-side event by which one server asks the others
// for their sockets (all_sockets).
const socketsEvent = "socketfleet:admin-ui:sockets"

// Options configure the admin UI server side.
type Options struct {
	// Namespace is the admin namespace (default "/admin").
	Namespace string
	// Username and PasswordHash (a bcrypt hash) are the credentials the UI
	// logs in with. Both are required unless NoAuth is set.
	Username     string
	PasswordHash []byte
	// NoAuth accepts every admin connection (Node's `auth: false`).
	NoAuth bool
	// ReadOnly advertises no operation and ignores them (Node's readonly).
	ReadOnly bool
	// Events forwards every event received from and sent to the sockets as
	// event_received and event_sent (the UI's Events page). Each event becomes
	// a broadcast on the admin namespace, across servers with a cluster
	// adapter: off by default.
	Events bool
	// ServerID names this server in server_stats (default: host name#pid).
	ServerID string
	// StatsInterval is the period of server_stats (default 2s).
	StatsInterval time.Duration
	// QueueSize bounds the events waiting to be broadcast to the admin
	// namespace (default 4096); events beyond it are dropped and counted.
	QueueSize int
	// MaxSessions bounds the remembered login sessions (default 1000, the
	// oldest is forgotten first); SessionTTL is their lifetime (default 24h).
	MaxSessions int
	SessionTTL  time.Duration
	// MaxListed bounds the sockets one server lists in all_sockets (default
	// 2000).
	MaxListed int
	// Logger receives the warnings (default slog.Default()).
	Logger *slog.Logger
}

// UI is the server side of the admin UI for one socketio.Server. Create it
// with New, wrap the server's adapter factory with WrapAdapter, then call
// Start once the server exists, Observe for each application namespace, and
// Close on shutdown.
type UI struct {
	opts    Options
	log     *slog.Logger
	start   time.Time
	host    string
	pid     int
	srv     *socketio.Server
	admin   atomic.Pointer[socketio.Namespace]
	queue   chan queued
	dropped atomic.Uint64
	bcrypt  chan struct{}

	sessionsMu sync.Mutex
	sessions   map[string]time.Time

	pollingMu sync.Mutex
	polling   map[*socketio.Socket]struct{}

	// seen are the Engine.IO sessions of the previous stats tick.
	aggMu sync.Mutex
	seen  map[string]struct{}

	stop context.CancelFunc
	wg   sync.WaitGroup
}

type queued struct {
	event string
	args  []any
}

// New validates the options and returns a UI that is not started yet.
func New(opts Options) (*UI, error) {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if !strings.HasPrefix(opts.Namespace, "/") {
		return nil, fmt.Errorf("admin ui: namespace %q must start with /", opts.Namespace)
	}
	if !opts.NoAuth {
		if opts.Username == "" {
			return nil, errors.New("admin ui: a username is required (or disable authentication explicitly)")
		}
		if _, err := bcrypt.Cost(opts.PasswordHash); err != nil {
			return nil, fmt.Errorf("admin ui: the password must be a valid bcrypt hash: %w", err)
		}
	}
	if opts.StatsInterval <= 0 {
		opts.StatsInterval = DefaultStatsInterval
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = DefaultMaxSessions
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.MaxListed <= 0 {
		opts.MaxListed = DefaultMaxListed
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	if opts.ServerID == "" {
		// Unique per process: the UI merges the stats of equal server ids.
		opts.ServerID = fmt.Sprintf("%s#%d", host, os.Getpid())
	}
	return &UI{
		opts:     opts,
		log:      opts.Logger,
		start:    time.Now(),
		host:     host,
		pid:      os.Getpid(),
		queue:    make(chan queued, opts.QueueSize),
		bcrypt:   make(chan struct{}, 2),
		sessions: make(map[string]time.Time),
		polling:  make(map[*socketio.Socket]struct{}),
		seen:     make(map[string]struct{}),
	}, nil
}

// Namespace returns the admin namespace's name.
func (u *UI) Namespace() string { return u.opts.Namespace }

// Dropped returns how many events were dropped because the queue was full.
func (u *UI) Dropped() uint64 { return u.dropped.Load() }

// Start creates the admin namespace on srv with its middleware and handlers
// and starts the stats and event goroutines; Close stops them.
func (u *UI) Start(ctx context.Context, srv *socketio.Server) {
	u.srv = srv
	admin := srv.Of(u.opts.Namespace)
	admin.Use(u.authenticate)
	admin.OnConnection(u.onAdminConnection)
	admin.OnServerSideEmit(socketsEvent, func(_ context.Context, ev *socketio.Event) {
		if ev.WantsAck() {
			if err := ev.Ack(u.localSockets()); err != nil {
				u.log.Debug("admin ui: answer the sockets request", "err", err)
			}
		}
	})
	u.Observe(admin)
	u.admin.Store(admin)

	ctx, u.stop = context.WithCancel(ctx)
	u.wg.Add(2)
	go u.emitLoop(ctx)
	go u.statsLoop(ctx)
}

// Close stops the goroutines started by Start and waits for them.
func (u *UI) Close() {
	if u.stop != nil {
		u.stop()
	}
	u.wg.Wait()
}

// Observer is what socketio.Namespace and socketio.ParentNamespace have in
// common for Observe.
type Observer interface {
	OnConnection(socketio.ConnectionHandler)
}

// Observe reports the sockets of ns to the admin namespace
// (socket_connected, socket_updated, socket_disconnected and, with
// Options.Events, event_received and event_sent).
func (u *UI) Observe(ns Observer) {
	ns.OnConnection(u.onSocket)
}

func (u *UI) onSocket(s *socketio.Socket) {
	nsp := s.Namespace().Name()
	id := s.ID()
	if s.Transport() == engineio.Polling {
		u.pollingMu.Lock()
		u.polling[s] = struct{}{}
		u.pollingMu.Unlock()
	}
	s.OnDisconnect(func(reason string) {
		u.pollingMu.Lock()
		delete(u.polling, s)
		u.pollingMu.Unlock()
		u.enqueue("socket_disconnected", nsp, id, reason, jsDate(time.Now()))
	})
	if u.opts.Events && nsp != u.opts.Namespace {
		s.OnAny(func(_ context.Context, ev *socketio.Event) {
			args := append([]any{ev.Name}, ev.Args().Any()...)
			u.enqueue("event_received", nsp, id, args, jsDate(time.Now()))
		})
		s.OnAnyOutgoing(func(event string, raw []json.RawMessage) {
			args := make([]any, 0, len(raw)+1)
			args = append(args, event)
			for _, r := range raw {
				args = append(args, r)
			}
			u.enqueue("event_sent", nsp, id, args, jsDate(time.Now()))
		})
	}
	u.enqueue("socket_connected", serialize(s), jsDate(time.Now()))
}

// enqueue schedules a broadcast to the admin namespace; it never blocks.
func (u *UI) enqueue(event string, args ...any) {
	select {
	case u.queue <- queued{event: event, args: args}:
	default:
		if u.dropped.Add(1)%1000 == 1 {
			u.log.Warn("admin ui: event queue full, events dropped", "dropped", u.dropped.Load())
		}
	}
}

func (u *UI) emitLoop(ctx context.Context) {
	defer u.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-u.queue:
			admin := u.admin.Load()
			if admin == nil {
				continue
			}
			if err := admin.Emit(q.event, q.args...); err != nil {
				u.log.Debug("admin ui: emit", "event", q.event, "err", err)
			}
		}
	}
}

// jsDate formats t as JSON.stringify(new Date()) does.
func jsDate(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// authenticate is the admin namespace's middleware: a known session id, or
// the username and password checked against the bcrypt hash.
func (u *UI) authenticate(ctx context.Context, s *socketio.Socket) error {
	if u.opts.NoAuth {
		return nil
	}
	var auth struct {
		Username  string `json:"username"`
		Password  string `json:"password"`
		SessionID string `json:"sessionId"`
	}
	if raw := s.Handshake().Auth; len(raw) > 0 {
		if err := json.Unmarshal(raw, &auth); err != nil {
			return &socketio.ConnectError{Message: "invalid credentials"}
		}
	}
	if auth.SessionID != "" && u.sessionValid(auth.SessionID) {
		return nil
	}
	if auth.Username == "" && auth.Password == "" {
		return &socketio.ConnectError{Message: "invalid credentials"}
	}
	// At most two bcrypt comparisons at a time: each costs tens of
	// milliseconds of CPU by design.
	select {
	case u.bcrypt <- struct{}{}:
	case <-ctx.Done():
		return &socketio.ConnectError{Message: "invalid credentials"}
	}
	err := bcrypt.CompareHashAndPassword(u.opts.PasswordHash, []byte(auth.Password))
	<-u.bcrypt
	userOK := subtle.ConstantTimeCompare([]byte(auth.Username), []byte(u.opts.Username)) == 1
	if err != nil || !userOK {
		return &socketio.ConnectError{Message: "invalid credentials"}
	}
	sid, err := u.newSession()
	if err != nil {
		return fmt.Errorf("admin ui: new session: %w", err)
	}
	// The session id is sent once the socket is connected.
	s.SetData(newSession(sid))
	return nil
}

// newSession marks an admin socket that logged in with credentials.
type newSession string

func (u *UI) newSession() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random session id: %w", err)
	}
	id := hex.EncodeToString(b[:])
	now := time.Now()
	u.sessionsMu.Lock()
	defer u.sessionsMu.Unlock()
	for k, exp := range u.sessions {
		if now.After(exp) {
			delete(u.sessions, k)
		}
	}
	for len(u.sessions) >= u.opts.MaxSessions {
		oldest, oldestExp := "", time.Time{}
		for k, exp := range u.sessions {
			if oldest == "" || exp.Before(oldestExp) {
				oldest, oldestExp = k, exp
			}
		}
		delete(u.sessions, oldest)
	}
	u.sessions[id] = now.Add(u.opts.SessionTTL)
	return id, nil
}

func (u *UI) sessionValid(id string) bool {
	u.sessionsMu.Lock()
	defer u.sessionsMu.Unlock()
	exp, ok := u.sessions[id]
	if ok && time.Now().After(exp) {
		delete(u.sessions, id)
		return false
	}
	return ok
}

// Features the UI understands.
var (
	operationFeatures = []string{"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"}
	// ALL_EVENTS makes the UI show its sockets, rooms and clients pages (its
	// "development mode"); AGGREGATED_EVENTS its dashboard charts.
	viewFeatures = []string{"AGGREGATED_EVENTS", "ALL_EVENTS"}
)

func (u *UI) features() []string {
	var f []string
	if !u.opts.ReadOnly {
		f = append(f, operationFeatures...)
	}
	return append(f, viewFeatures...)
}

func (u *UI) onAdminConnection(s *socketio.Socket) {
	if sid, ok := s.Data().(newSession); ok {
		s.SetData(nil)
		if err := s.Emit("session", string(sid)); err != nil {
			u.log.Debug("admin ui: send session", "err", err)
		}
	}
	if !u.opts.ReadOnly {
		u.registerOperations(s)
	}
	if err := s.Emit("config", map[string]any{"supportedFeatures": u.features()}); err != nil {
		u.log.Debug("admin ui: send config", "err", err)
	}
	// all_sockets waits for the other servers: not in the connection handler.
	go func() {
		ctx, cancel := context.WithTimeout(s.Context(), DefaultRequestsTimeout)
		defer cancel()
		if err := s.Emit("all_sockets", u.allSockets(ctx)); err != nil {
			u.log.Debug("admin ui: send all_sockets", "err", err)
		}
	}()
}

// allSockets lists the sockets of this server and of the others (asked
// through the admin namespace's adapter; a server that does not answer in
// time is missing from the list).
func (u *UI) allSockets(ctx context.Context) []json.RawMessage {
	out := u.localSockets()
	admin := u.admin.Load()
	if admin == nil {
		return out
	}
	answers, err := admin.ServerSideEmitWithAck(ctx, socketsEvent)
	if err != nil {
		u.log.Warn("admin ui: sockets of the other servers", "err", err, "answers", len(answers))
	}
	for _, a := range answers {
		var list []json.RawMessage
		if err := json.Unmarshal(a, &list); err != nil {
			u.log.Warn("admin ui: malformed sockets answer", "err", err)
			continue
		}
		out = append(out, list...)
	}
	return out
}

// localSockets serializes at most MaxListed sockets of this server.
func (u *UI) localSockets() []json.RawMessage {
	out := []json.RawMessage{}
	for _, ns := range u.srv.Namespaces() {
		for _, s := range ns.Sockets() {
			if len(out) >= u.opts.MaxListed {
				return out
			}
			b, err := json.Marshal(serialize(s))
			if err != nil {
				u.log.Debug("admin ui: serialize socket", "err", err)
				continue
			}
			out = append(out, b)
		}
	}
	return out
}

// namespace returns the existing namespace name, or nil: the UI's operations
// never create a namespace.
func (u *UI) namespace(name string) *socketio.Namespace {
	for _, ns := range u.srv.Namespaces() {
		if ns.Name() == name {
			return ns
		}
	}
	return nil
}

// registerOperations handles the UI's emit, join, leave and _disconnect,
// each on every socket (of every server) of a namespace, optionally only
// those in a room or with an id (filter).
func (u *UI) registerOperations(s *socketio.Socket) {
	target := func(nspName, filter string) (socketio.BroadcastOperator, bool) {
		ns := u.namespace(nspName)
		if ns == nil {
			return socketio.BroadcastOperator{}, false
		}
		if filter != "" {
			return ns.In(filter), true
		}
		return ns.In(), true
	}
	s.On("emit", func(_ context.Context, ev *socketio.Event) {
		var nsp, filter, name string
		if len(ev.Args()) < 3 || ev.Bind(&nsp, &filter, &name) != nil || name == "" {
			return
		}
		if op, ok := target(nsp, filter); ok {
			u.report("emit", op.Emit(name, ev.Args()[3:].Any()...))
		}
	})
	s.On("join", func(_ context.Context, ev *socketio.Event) {
		var nsp, room, filter string
		if ev.Bind(&nsp, &room, &filter) != nil || room == "" {
			return
		}
		if op, ok := target(nsp, filter); ok {
			u.report("join", op.SocketsJoin(room))
		}
	})
	s.On("leave", func(_ context.Context, ev *socketio.Event) {
		var nsp, room, filter string
		if ev.Bind(&nsp, &room, &filter) != nil || room == "" {
			return
		}
		if op, ok := target(nsp, filter); ok {
			u.report("leave", op.SocketsLeave(room))
		}
	})
	s.On("_disconnect", func(_ context.Context, ev *socketio.Event) {
		var nsp, filter string
		var closeConn bool
		if ev.Bind(&nsp, &closeConn, &filter) != nil {
			return
		}
		if op, ok := target(nsp, filter); ok {
			u.report("disconnect", op.DisconnectSockets(closeConn))
		}
	})
}

func (u *UI) report(op string, err error) {
	if err != nil {
		u.log.Warn("admin ui: operation failed", "op", op, "err", err)
	}
}
