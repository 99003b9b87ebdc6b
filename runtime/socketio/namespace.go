package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketfleet/socketfleet/runtime/parser"
)

// ConnectMiddleware runs for every connection to a namespace before it is
// accepted (Node's namespace.use). Returning an error refuses the connection:
// the client receives CONNECT_ERROR with the error's message (and data, for a
// *ConnectError). ctx is the socket's context; the middleware may read the
// handshake and call SetData.
type ConnectMiddleware func(ctx context.Context, s *Socket) error

// ConnectionHandler is called for every socket that connected to a namespace,
// before any of its events are handled: register the socket's handlers there.
type ConnectionHandler func(s *Socket)

// Namespace is a communication channel multiplexed over the Engine.IO
// connections (Socket.IO's namespace): it has its own sockets, rooms,
// middlewares, handlers and Adapter. Get one with Server.Of.
type Namespace struct {
	srv     *Server
	name    string
	parent  *ParentNamespace
	adapter Adapter
	ackIDs  atomic.Uint64

	mu           sync.RWMutex
	sockets      map[string]*Socket
	socketsGen   uint64 // counts the changes of sockets
	connecting   int
	removed      bool
	middlewares  []ConnectMiddleware
	onConnection []ConnectionHandler
	serverSide   map[string][]EventHandler
}

func newNamespace(srv *Server, name string, parent *ParentNamespace) *Namespace {
	n := &Namespace{srv: srv, name: name, parent: parent, sockets: make(map[string]*Socket)}
	n.adapter = srv.opts.Adapter(n)
	return n
}

// Name returns the namespace name, e.g. "/" or "/chat".
func (n *Namespace) Name() string { return n.name }

// Server returns the server the namespace belongs to.
func (n *Namespace) Server() *Server { return n.srv }

// Adapter returns the namespace's adapter.
func (n *Namespace) Adapter() Adapter { return n.adapter }

// Parent returns the dynamic namespace that created this one, or nil.
func (n *Namespace) Parent() *ParentNamespace { return n.parent }

// Use adds a connect middleware. Middlewares run in order, after those of the
// parent namespace.
func (n *Namespace) Use(mw ConnectMiddleware) {
	n.mu.Lock()
	n.middlewares = append(n.middlewares, mw)
	n.mu.Unlock()
}

// OnConnection adds a handler called for every new socket, after those of
// the parent namespace.
func (n *Namespace) OnConnection(h ConnectionHandler) {
	n.mu.Lock()
	n.onConnection = append(n.onConnection, h)
	n.mu.Unlock()
}

// Sockets returns the sockets connected to this namespace on this server.
func (n *Namespace) Sockets() []*Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]*Socket, 0, len(n.sockets))
	for _, s := range n.sockets {
		out = append(out, s)
	}
	return out
}

// Socket returns the local socket id, or nil.
func (n *Namespace) Socket(id string) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

// SocketCount returns the number of sockets connected to this namespace on
// this server.
func (n *Namespace) SocketCount() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.sockets)
}

// NextAckID returns a new acknowledgement id, unique within the namespace
// (so one id can address every target of an ack broadcast). Adapters that
// deliver acknowledged packets themselves use it.
func (n *Namespace) NextAckID() uint64 { return n.ackIDs.Add(1) - 1 }

func (n *Namespace) operator() BroadcastOperator { return BroadcastOperator{nsp: n} }

// To selects the sockets in room (union with other To/In calls).
func (n *Namespace) To(rooms ...string) BroadcastOperator { return n.operator().To(rooms...) }

// In is an alias of To.
func (n *Namespace) In(rooms ...string) BroadcastOperator { return n.operator().In(rooms...) }

// Except excludes the sockets in rooms.
func (n *Namespace) Except(rooms ...string) BroadcastOperator {
	return n.operator().Except(rooms...)
}

// Volatile drops the event for sessions that cannot take it right now.
func (n *Namespace) Volatile() BroadcastOperator { return n.operator().Volatile() }

// Compress sets the compression flag of the broadcast.
func (n *Namespace) Compress(compress bool) BroadcastOperator {
	return n.operator().Compress(compress)
}

// Local limits the broadcast to this server.
func (n *Namespace) Local() BroadcastOperator { return n.operator().Local() }

// Timeout sets the acknowledgement timeout of EmitWithAck.
func (n *Namespace) Timeout(d time.Duration) BroadcastOperator { return n.operator().Timeout(d) }

// Emit sends an event to every socket of the namespace (cluster-wide).
func (n *Namespace) Emit(event string, args ...any) error { return n.operator().Emit(event, args...) }

// EmitWithAck sends an event to every socket and waits for their
// acknowledgements; see BroadcastOperator.EmitWithAck.
func (n *Namespace) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	return n.operator().EmitWithAck(ctx, event, args...)
}

// FetchSockets describes every socket of the namespace (cluster-wide).
func (n *Namespace) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	return n.operator().FetchSockets(ctx)
}

// SocketsJoin makes every socket of the namespace join rooms.
func (n *Namespace) SocketsJoin(rooms ...string) error { return n.operator().SocketsJoin(rooms...) }

// SocketsLeave makes every socket of the namespace leave rooms.
func (n *Namespace) SocketsLeave(rooms ...string) error { return n.operator().SocketsLeave(rooms...) }

// DisconnectSockets disconnects every socket of the namespace.
func (n *Namespace) DisconnectSockets(close bool) error {
	return n.operator().DisconnectSockets(close)
}

// ServerSideEmit sends an event to the OnServerSideEmit handlers of this
// namespace on the other servers of the cluster (not this one).
func (n *Namespace) ServerSideEmit(event string, args ...any) error {
	raw, err := serverSideArgs(event, args)
	if err != nil {
		return err
	}
	if err := n.adapter.ServerSideEmit(n.srv.ctx, event, raw); err != nil {
		return fmt.Errorf("server-side emit %q: %w", event, err)
	}
	return nil
}

// ServerSideEmitWithAck is ServerSideEmit expecting one acknowledgement from
// every other server; it returns their first arguments. Without a ctx
// deadline it waits at most 5 seconds (Node's requestsTimeout).
func (n *Namespace) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	raw, err := serverSideArgs(event, args)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	res, err := n.adapter.ServerSideEmitWithAck(ctx, event, raw)
	if err != nil {
		return res, fmt.Errorf("server-side emit %q: %w", event, err)
	}
	return res, nil
}

func serverSideArgs(event string, args []any) ([]json.RawMessage, error) {
	if err := checkEventName(event); err != nil {
		return nil, err
	}
	return marshalArgs(event, args)
}

// marshalArgs encodes each argument with encoding/json (json.RawMessage as is).
func marshalArgs(event string, args []any) ([]json.RawMessage, error) {
	raw := make([]json.RawMessage, len(args))
	for i, a := range args {
		if r, ok := a.(json.RawMessage); ok {
			raw[i] = r
			continue
		}
		b, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("encode argument %d of %q: %w", i, event, err)
		}
		raw[i] = b
	}
	return raw, nil
}

// OnServerSideEmit registers a handler for events sent by other servers with
// ServerSideEmit. The Event has no Socket; Event.Ack answers the sender (its
// first argument only) when it used ServerSideEmitWithAck.
func (n *Namespace) OnServerSideEmit(event string, h EventHandler) {
	n.mu.Lock()
	if n.serverSide == nil {
		n.serverSide = make(map[string][]EventHandler)
	}
	n.serverSide[event] = append(n.serverSide[event], h)
	n.mu.Unlock()
}

// HandleServerSideEmit delivers an event received from another server to the
// OnServerSideEmit handlers; for Adapter implementations. ack is nil when the
// sender expects no acknowledgement; otherwise it is called at most once, with
// the first argument of the handler's Event.Ack (JSON null when none), and
// never if no handler acknowledges.
func (n *Namespace) HandleServerSideEmit(ctx context.Context, event string, args []json.RawMessage, ack func(arg json.RawMessage)) {
	n.mu.RLock()
	handlers := n.serverSide[event]
	n.mu.RUnlock()
	list := make(ArgList, len(args))
	for i, a := range args {
		list[i] = parser.JSONArg(a)
	}
	ev := &Event{Name: event, args: list, wantsAck: ack != nil}
	if ack != nil {
		ev.serverAck = ack
	}
	for _, h := range handlers {
		h(ctx, ev)
	}
}

// beginConnect registers a pending connection; false if the namespace was
// removed.
func (n *Namespace) beginConnect() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.removed {
		return false
	}
	n.connecting++
	return true
}

func (n *Namespace) endConnect() {
	n.mu.Lock()
	n.connecting--
	n.mu.Unlock()
	n.srv.removeChildIfEmpty(n)
}

// connect runs the connection of client c to this namespace: session
// recovery, middlewares, CONNECT reply, registration and handlers.
func (n *Namespace) connect(c *client, auth json.RawMessage) {
	defer n.endConnect()
	var restored *SessionState
	var missed []*parser.Packet
	var from string // the offset the replay starts after
	rec := n.srv.opts.Recovery
	if rec != nil {
		if pid, offset, ok := recoveryAuth(auth); ok {
			st, pkts, err := n.adapter.RestoreSession(n.srv.ctx, pid, offset)
			switch {
			case err != nil:
				n.srv.log.Debug("socketio: restore session", "namespace", n.name, "err", err)
			case st != nil:
				restored, missed, from = st, pkts, offset
			}
		}
	}
	s := newSocket(n, c, auth, restored)
	if restored == nil || !rec.SkipMiddlewares {
		if err := n.runMiddlewares(s); err != nil {
			s.abort()
			if !c.isClosed() {
				c.sendPacket(connectErrorPacket(n.name, err))
			}
			return
		}
	}
	if !c.addSocket(s) {
		s.abort()
		return
	}
	rooms := []string{s.id}
	if restored != nil && len(restored.Rooms) > 0 {
		rooms = restored.Rooms
	}
	catchUp := sessionCatchUpOf(n.adapter)
	if restored == nil {
		catchUp = nil
	}
	if catchUp != nil {
		// A target of broadcasts (registered, in its rooms) before the
		// catch-up read: a broadcast added after RestoreSession's read is
		// in the catch-up or held, or both (the held copy is dropped).
		s.hold()
		n.mu.Lock()
		n.sockets[s.id] = s
		n.socketsGen++
		n.mu.Unlock()
		n.adapter.AddAll(s.id, rooms)
		if len(missed) > 0 {
			if o := packetOffset(missed[len(missed)-1]); o != "" {
				from = o
			}
		}
		more, err := catchUp.CatchUp(n.srv.ctx, s.id, from, restored.Rooms)
		if err != nil {
			n.srv.log.Warn("socketio: catch up a restored session; broadcasts sent while it was restored may be missing", "namespace", n.name, "err", err)
		}
		missed = append(missed, more...)
	}
	for _, p := range missed {
		c.sendPacket(p)
	}
	c.sendPacket(connectReplyPacket(n.name, s.id, s.pid))
	if catchUp != nil {
		replayed := make(map[string]struct{}, len(missed))
		for _, p := range missed {
			replayed[packetOffset(p)] = struct{}{}
		}
		s.release(replayed)
	}

	if catchUp == nil {
		n.mu.Lock()
		n.sockets[s.id] = s
		n.socketsGen++
		n.mu.Unlock()
	}
	s.mu.Lock()
	s.state = stateConnected
	s.mu.Unlock()
	if catchUp == nil {
		n.adapter.AddAll(s.id, rooms)
	}

	var handlers []ConnectionHandler
	if n.parent != nil {
		handlers = n.parent.connectionHandlers()
	}
	n.mu.RLock()
	handlers = append(handlers, n.onConnection...)
	n.mu.RUnlock()
	for _, h := range handlers {
		if !s.Connected() {
			break
		}
		h(s)
	}
}

func (n *Namespace) runMiddlewares(s *Socket) error {
	var mws []ConnectMiddleware
	if n.parent != nil {
		mws = n.parent.connectMiddlewares()
	}
	n.mu.RLock()
	mws = append(mws, n.middlewares...)
	n.mu.RUnlock()
	for _, mw := range mws {
		if err := mw(s.Context(), s); err != nil {
			return err
		}
	}
	return nil
}

// removeSocket forgets a closed socket.
func (n *Namespace) removeSocket(s *Socket) {
	n.mu.Lock()
	if n.sockets[s.id] == s {
		delete(n.sockets, s.id)
		n.socketsGen++
	}
	n.mu.Unlock()
	n.srv.removeChildIfEmpty(n)
}

// recoveryAuth extracts the pid and offset of a recovery attempt from the
// CONNECT payload.
func recoveryAuth(auth json.RawMessage) (pid, offset string, ok bool) {
	if len(auth) == 0 {
		return "", "", false
	}
	var fields struct {
		PID    any `json:"pid"`
		Offset any `json:"offset"`
	}
	if err := json.Unmarshal(auth, &fields); err != nil {
		return "", "", false
	}
	pid, ok1 := fields.PID.(string)
	offset, ok2 := fields.Offset.(string)
	if !ok1 || !ok2 {
		return "", "", false
	}
	return pid, offset, true
}

func connectReplyPacket(nsp, sid, pid string) *parser.Packet {
	body := struct {
		SID string `json:"sid"`
		PID string `json:"pid,omitempty"`
	}{sid, pid}
	data, _ := json.Marshal(body) // two strings always encode
	return &parser.Packet{Type: parser.Connect, Namespace: nsp, Data: data}
}

func connectErrorPacket(nsp string, err error) *parser.Packet {
	body := struct {
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}{Message: err.Error()}
	var ce *ConnectError
	if errors.As(err, &ce) {
		body.Message, body.Data = ce.Message, ce.Data
	}
	data, mErr := json.Marshal(body)
	if mErr != nil {
		body.Data = nil
		data, _ = json.Marshal(body)
	}
	return &parser.Packet{Type: parser.ConnectError, Namespace: nsp, Data: data}
}

// ParentNamespace is a dynamic namespace (Server.OfRegexp, Server.OfFunc):
// it creates child namespaces on demand when clients connect to matching
// names. Its middlewares and connection handlers apply to every child, and
// Emit reaches every child.
type ParentNamespace struct {
	srv   *Server
	match func(ctx context.Context, name string, auth json.RawMessage) bool

	mu           sync.RWMutex
	middlewares  []ConnectMiddleware
	onConnection []ConnectionHandler
	children     map[string]*Namespace
}

// Use adds a connect middleware run for every child namespace (before the
// child's own).
func (p *ParentNamespace) Use(mw ConnectMiddleware) {
	p.mu.Lock()
	p.middlewares = append(p.middlewares, mw)
	p.mu.Unlock()
}

// OnConnection adds a handler called for every socket of every child.
func (p *ParentNamespace) OnConnection(h ConnectionHandler) {
	p.mu.Lock()
	p.onConnection = append(p.onConnection, h)
	p.mu.Unlock()
}

// Children returns the child namespaces created so far.
func (p *ParentNamespace) Children() []*Namespace {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]*Namespace, 0, len(p.children))
	for _, c := range p.children {
		out = append(out, c)
	}
	return out
}

// Emit sends an event to every socket of every child namespace.
func (p *ParentNamespace) Emit(event string, args ...any) error {
	var errs []error
	for _, c := range p.Children() {
		if err := c.Emit(event, args...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *ParentNamespace) addChild(n *Namespace) {
	p.mu.Lock()
	p.children[n.name] = n
	p.mu.Unlock()
}

func (p *ParentNamespace) removeChild(n *Namespace) {
	p.mu.Lock()
	if p.children[n.name] == n {
		delete(p.children, n.name)
	}
	p.mu.Unlock()
}

func (p *ParentNamespace) connectMiddlewares() []ConnectMiddleware {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return append([]ConnectMiddleware(nil), p.middlewares...)
}

func (p *ParentNamespace) connectionHandlers() []ConnectionHandler {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return append([]ConnectionHandler(nil), p.onConnection...)
}

// sessionCatchUpOf returns the SessionCatchUp of adapter, looking through
// wrappers (an adapter with Unwrap() Adapter, such as the runtime's metrics
// wrapper), or nil: a wrapper that hid it would bring back the race it
// closes (a broadcast added between RestoreSession's read and the restored
// socket joining its rooms would be lost to it).
func sessionCatchUpOf(adapter Adapter) SessionCatchUp {
	for adapter != nil {
		if c, ok := adapter.(SessionCatchUp); ok {
			return c
		}
		w, ok := adapter.(interface{ Unwrap() Adapter })
		if !ok {
			return nil
		}
		adapter = w.Unwrap()
	}
	return nil
}
