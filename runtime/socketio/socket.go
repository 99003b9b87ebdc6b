package socketio

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketfleet/socketfleet/runtime/engineio"
	"github.com/socketfleet/socketfleet/runtime/parser"
)

// EventHandler handles one incoming event. ctx is the socket's context
// (cancelled when it disconnects). Handlers of one socket run one at a time,
// in the order the packets arrived, on the Engine.IO session's goroutine: a
// handler that blocks delays the socket's next packets (including the
// acknowledgements it may be waiting for: do not call Socket.EmitWithAck
// synchronously from a handler of the same socket; use EmitWithAckFunc or a
// goroutine).
type EventHandler func(ctx context.Context, ev *Event)

// EventMiddleware runs for every incoming event before its handlers (Node's
// socket.use). An error stops the event and is passed to the OnError
// handlers; nothing is sent to the client.
type EventMiddleware func(ctx context.Context, ev *Event) error

// OutgoingHandler observes every event sent to a socket, broadcasts
// included (Node's onAnyOutgoing). It must not block.
type OutgoingHandler func(event string, args []json.RawMessage)

type socketState uint8

const (
	stateConnecting socketState = iota
	stateConnected
	stateDisconnecting
	stateClosed
)

// Socket is one client's connection to one namespace. Its methods are safe
// for concurrent use.
type Socket struct {
	// What a broadcast reads of each socket it reaches comes first, in one
	// cache line: client, hasOutgoing, holding.
	client      *client
	hasOutgoing atomic.Bool
	// holding is set while a recovered socket is in its rooms but its
	// replay is not sent yet: broadcasts go to held (under mu).
	holding atomic.Bool
	// persisted is set once the session was stored for recovery.
	persisted atomic.Bool
	recovered bool
	// Under mu (next to the other one-byte fields: a server holds one
	// Socket per client).
	state socketState
	// ctxDone is set when the socket's context ends, created or not.
	ctxDone bool

	nsp *Namespace
	id  string
	pid string
	// created and auth are the socket's part of its Handshake; the rest is
	// the client's (shared by its namespaces) and built on demand.
	created int64  // Unix nanoseconds (a time.Time is three words)
	auth    string // the CONNECT payload; "" for none or "{}" (a string is two words)

	mu sync.Mutex
	// ctx is created on first use (an idle socket whose handlers never run
	// has none).
	ctx      context.Context
	cancel   context.CancelFunc
	data     any
	handlers []eventHandler // in registration order; append-only
	more     *socketExtras  // created when one of its fields is first set
	acks     map[uint64]*pendingAck
}

// socketExtras holds the socket's less common handlers and state, kept out
// of Socket so that a socket that uses none of them stays small. Its slices
// are append-only (a copy of one read under Socket.mu stays valid).
type socketExtras struct {
	anyHandlers     []EventHandler
	outgoing        []OutgoingHandler
	middlewares     []EventMiddleware
	onDisconnecting []func(reason string)
	onDisconnect    []func(reason string)
	onError         []func(err error)
	held            []heldBroadcast
}

// extrasLocked returns s.more, creating it. s.mu is held.
func (s *Socket) extrasLocked() *socketExtras {
	if s.more == nil {
		s.more = &socketExtras{}
	}
	return s.more
}

// extrasOrEmpty returns s.more, or an empty value when nothing was set
// (not to be written). s.mu is held.
func (s *Socket) extrasOrEmpty() *socketExtras {
	if s.more == nil {
		return &noExtras
	}
	return s.more
}

// noExtras is what extrasOrEmpty returns for a socket without extras.
var noExtras socketExtras

// eventHandler is a handler registered with On for one event.
type eventHandler struct {
	event string
	fn    EventHandler
}

// pendingAck waits for the client's acknowledgement of one emitted packet.
type pendingAck struct {
	fn        func(args []json.RawMessage, err error)
	timer     *time.Timer // EmitWithAckFunc only
	broadcast bool        // shared by the targets of an ack broadcast
}

func newSocket(n *Namespace, c *client, auth json.RawMessage, restored *SessionState) *Socket {
	s := &Socket{nsp: n, client: c, created: time.Now().UnixNano()}
	if len(auth) > 0 && string(auth) != "{}" {
		s.auth = string(auth)
	}
	if restored != nil {
		s.id, s.pid = restored.ID, restored.PID
		s.data = restored.Data
		s.recovered = true
	} else {
		s.id = n.srv.ids.next()
		if n.srv.opts.Recovery != nil {
			s.pid = n.srv.ids.next()
		}
	}
	return s
}

// ID returns the socket id (also the name of its own room). It differs from
// the Engine.IO session id.
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Handshake returns the details of the connection. Its header and query
// maps are built from the request at each call (a socket does not keep
// them).
func (s *Socket) Handshake() Handshake {
	var auth json.RawMessage
	if s.auth != "" {
		auth = json.RawMessage(s.auth)
	}
	return s.client.base.handshake(auth, time.Unix(0, s.created))
}

// Context returns a context cancelled when the socket disconnects.
func (s *Socket) Context() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.contextLocked()
}

// contextLocked returns the socket's context, creating it on first use.
// s.mu is held.
func (s *Socket) contextLocked() context.Context {
	if s.ctx == nil {
		s.ctx, s.cancel = context.WithCancel(s.nsp.srv.ctx)
		if s.ctxDone {
			s.cancel()
		}
	}
	return s.ctx
}

// endContext cancels the socket's context, now or when it is created.
func (s *Socket) endContext() {
	s.mu.Lock()
	s.ctxDone = true
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Recovered reports whether the socket resumed a previous session through
// connection state recovery.
func (s *Socket) Recovered() bool { return s.recovered }

// Conn returns the underlying Engine.IO session (shared by the client's
// sockets on other namespaces).
func (s *Socket) Conn() *engineio.Session { return s.client.sess }

// Transport returns the current transport of the Engine.IO session.
func (s *Socket) Transport() engineio.Transport { return s.client.sess.Transport() }

// Connected reports whether the socket is connected (true while its
// OnDisconnecting handlers run).
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateConnected || s.state == stateDisconnecting
}

// Data returns the value set with SetData (nil by default).
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// SetData attaches an application value to the socket. It is kept by
// connection state recovery and exposed (JSON-encoded) by FetchSockets.
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// On adds a handler for an incoming event.
func (s *Socket) On(event string, h EventHandler) {
	s.mu.Lock()
	s.handlers = append(s.handlers, eventHandler{event: event, fn: h})
	s.mu.Unlock()
}

// OnAny adds a handler for every incoming event; catch-all handlers run
// before the event middlewares and the event's own handlers.
func (s *Socket) OnAny(h EventHandler) {
	s.mu.Lock()
	x := s.extrasLocked()
	x.anyHandlers = append(x.anyHandlers, h)
	s.mu.Unlock()
}

// OnAnyOutgoing adds an observer of every event sent to the socket.
func (s *Socket) OnAnyOutgoing(h OutgoingHandler) {
	s.mu.Lock()
	x := s.extrasLocked()
	x.outgoing = append(x.outgoing, h)
	s.hasOutgoing.Store(true)
	s.mu.Unlock()
}

// Use adds an event middleware.
func (s *Socket) Use(mw EventMiddleware) {
	s.mu.Lock()
	x := s.extrasLocked()
	x.middlewares = append(x.middlewares, mw)
	s.mu.Unlock()
}

// OnDisconnecting adds a handler called when the socket is about to
// disconnect, while Rooms still lists its rooms.
func (s *Socket) OnDisconnecting(h func(reason string)) {
	s.mu.Lock()
	x := s.extrasLocked()
	x.onDisconnecting = append(x.onDisconnecting, h)
	s.mu.Unlock()
}

// OnDisconnect adds a handler called once the socket has disconnected.
func (s *Socket) OnDisconnect(h func(reason string)) {
	s.mu.Lock()
	x := s.extrasLocked()
	x.onDisconnect = append(x.onDisconnect, h)
	s.mu.Unlock()
}

// OnError adds a handler for errors: event middleware errors and malformed
// packets.
func (s *Socket) OnError(h func(err error)) {
	s.mu.Lock()
	x := s.extrasLocked()
	x.onError = append(x.onError, h)
	s.mu.Unlock()
}

// Join adds the socket to rooms (no effect once it is disconnected).
func (s *Socket) Join(rooms ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateClosed {
		return
	}
	s.nsp.adapter.AddAll(s.id, rooms)
}

// Leave removes the socket from room.
func (s *Socket) Leave(room string) {
	s.nsp.adapter.Del(s.id, room)
}

// Rooms returns the rooms the socket is in, its own id room included.
func (s *Socket) Rooms() []string {
	return s.nsp.adapter.SocketRooms(s.id)
}

// To returns a broadcast to the sockets in rooms, except this one.
func (s *Socket) To(rooms ...string) BroadcastOperator {
	return s.nsp.operator().Except(s.id).To(rooms...)
}

// In is an alias of To.
func (s *Socket) In(rooms ...string) BroadcastOperator { return s.To(rooms...) }

// Except returns a broadcast to every socket of the namespace except this
// one and those in rooms.
func (s *Socket) Except(rooms ...string) BroadcastOperator {
	return s.Broadcast().Except(rooms...)
}

// Broadcast returns a broadcast to every socket of the namespace except this
// one.
func (s *Socket) Broadcast() BroadcastOperator { return s.nsp.operator().Except(s.id) }

// Emit sends an event to the client. Arguments are encoded with
// encoding/json; []byte values (top level or inside []any and
// map[string]any) travel as binary attachments; json.RawMessage is sent as
// is. With connection state recovery on, the event goes through the adapter
// (it gets an offset and is replayed if the client misses it). Without
// recovery a connect middleware may emit (the client receives the event
// before the CONNECT reply), and Emit returns ErrDisconnected once the socket
// is disconnected.
func (s *Socket) Emit(event string, args ...any) error {
	if err := checkEventName(event); err != nil {
		return err
	}
	pkt, err := newEventPacket(s.nsp.name, event, args)
	if err != nil {
		return err
	}
	if s.nsp.srv.opts.Recovery != nil {
		return s.nsp.adapter.Broadcast(pkt, BroadcastOptions{Rooms: []string{s.id}})
	}
	s.mu.Lock()
	closed := s.state == stateClosed
	s.mu.Unlock()
	if closed {
		return ErrDisconnected
	}
	s.notifyOutgoing(pkt, nil)
	s.client.send(s.client.srv.encode(pkt))
	return nil
}

// EmitWithAck sends an event and waits for the client's acknowledgement,
// returning its arguments. The wait ends with ctx: a passed deadline gives an
// error wrapping ErrAckTimeout. It fails with ErrDisconnected if the socket
// disconnects first. See EventHandler about calling it from a handler.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	type result struct {
		args []json.RawMessage
		err  error
	}
	done := make(chan result, 1)
	id, err := s.emitAck(event, args, &pendingAck{fn: func(a []json.RawMessage, err error) {
		done <- result{a, err}
	}})
	if err != nil {
		return nil, err
	}
	select {
	case r := <-done:
		return r.args, r.err
	case <-ctx.Done():
		s.removeAck(id)
		return nil, ackContextError(ctx)
	}
}

// EmitWithAckFunc sends an event and calls ack once with the client's
// acknowledgement, or with an error wrapping ErrAckTimeout after timeout
// (0: no timeout), or with ErrDisconnected. It does not block. ack runs on
// the session's goroutine or a timer's.
func (s *Socket) EmitWithAckFunc(timeout time.Duration, ack func(args []json.RawMessage, err error), event string, args ...any) error {
	if err := checkEventName(event); err != nil {
		return err
	}
	var once sync.Once
	p := &pendingAck{fn: func(a []json.RawMessage, err error) { once.Do(func() { ack(a, err) }) }}
	id, err := s.emitAckPrepare(p, timeout, func() {
		p.fn(nil, fmt.Errorf("emit %q: %w", event, ErrAckTimeout))
	})
	if err != nil {
		return err
	}
	if err := s.sendWithID(id, event, args); err != nil {
		s.removeAck(id)
		return err
	}
	return nil
}

// emitAck registers p under a new ack id and sends the event with it.
func (s *Socket) emitAck(event string, args []any, p *pendingAck) (uint64, error) {
	if err := checkEventName(event); err != nil {
		return 0, err
	}
	id, err := s.emitAckPrepare(p, 0, nil)
	if err != nil {
		return 0, err
	}
	if err := s.sendWithID(id, event, args); err != nil {
		s.removeAck(id)
		return 0, err
	}
	return id, nil
}

// emitAckPrepare registers p under a new ack id; with a timeout, onTimeout
// runs (once) if the ack is still pending when it passes.
func (s *Socket) emitAckPrepare(p *pendingAck, timeout time.Duration, onTimeout func()) (uint64, error) {
	id := s.nsp.NextAckID()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateConnected && s.state != stateDisconnecting {
		return 0, ErrDisconnected
	}
	if s.acks == nil {
		s.acks = make(map[uint64]*pendingAck)
	}
	s.acks[id] = p
	if timeout > 0 && onTimeout != nil {
		p.timer = time.AfterFunc(timeout, func() {
			if s.removeAck(id) {
				onTimeout()
			}
		})
	}
	return id, nil
}

func (s *Socket) sendWithID(id uint64, event string, args []any) error {
	if err := checkEventName(event); err != nil {
		return err
	}
	pkt, err := newEventPacket(s.nsp.name, event, args)
	if err != nil {
		return err
	}
	pkt.ID, pkt.HasID = id, true
	s.notifyOutgoing(pkt, nil)
	s.client.send(s.client.srv.encode(pkt))
	return nil
}

// registerBroadcastAck registers the shared ack of a broadcast; false when
// the socket is no longer connected.
func (s *Socket) registerBroadcastAck(id uint64, p *pendingAck) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateConnected && s.state != stateDisconnecting {
		return false
	}
	if s.acks == nil {
		s.acks = make(map[uint64]*pendingAck)
	}
	s.acks[id] = p
	return true
}

// removeAck forgets a pending ack; true if it was still pending.
func (s *Socket) removeAck(id uint64) bool {
	s.mu.Lock()
	p, ok := s.acks[id]
	delete(s.acks, id)
	s.mu.Unlock()
	if ok && p.timer != nil {
		p.timer.Stop()
	}
	return ok
}

func ackContextError(ctx context.Context) error {
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%w: %w", ErrAckTimeout, ctx.Err())
	}
	return ctx.Err()
}

// Disconnect disconnects the socket from its namespace: the client gets a
// DISCONNECT packet and the reason is "server namespace disconnect". With
// close, every namespace of the client is disconnected and the Engine.IO
// session is closed.
func (s *Socket) Disconnect(close bool) {
	if !s.Connected() {
		return
	}
	if close {
		s.client.disconnectAll()
		return
	}
	s.client.sendPacket(&parser.Packet{Type: parser.Disconnect, Namespace: s.nsp.name})
	s.onClose(ReasonServerNamespaceDisconnect)
}

// heldBroadcast is a broadcast that reached a socket while its replay was
// being prepared.
type heldBroadcast struct {
	offset string
	msgs   []*engineio.Message
}

// deliver sends pre-encoded messages of a broadcast (packet) to the client,
// or holds them while the socket's replay is being prepared.
func (s *Socket) deliver(packet *parser.Packet, msgs []*engineio.Message, volatile bool) bool {
	if volatile && !s.client.sess.Writable() {
		return false
	}
	if s.holding.Load() {
		s.mu.Lock()
		if s.holding.Load() {
			x := s.extrasLocked()
			x.held = append(x.held, heldBroadcast{offset: packetOffset(packet), msgs: msgs})
			s.mu.Unlock()
			return true
		}
		s.mu.Unlock()
	}
	s.client.send(msgs)
	return true
}

// hold makes deliver keep the broadcasts for the socket until release.
func (s *Socket) hold() { s.holding.Store(true) }

// release sends the held broadcasts, except those whose offset is in
// replayed (the replay already delivered them), and ends holding.
func (s *Socket) release(replayed map[string]struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.extrasOrEmpty().held {
		if _, dup := replayed[h.offset]; dup && h.offset != "" {
			continue
		}
		s.client.send(h.msgs)
	}
	if s.more != nil {
		s.more.held = nil
	}
	s.holding.Store(false)
}

// notifyOutgoing calls the outgoing observers with the packet's event; args
// caches the decoded arguments across the targets of a broadcast.
func (s *Socket) notifyOutgoing(pkt *parser.Packet, cache *outgoingCache) {
	if !s.hasOutgoing.Load() {
		return
	}
	s.mu.Lock()
	handlers := s.extrasOrEmpty().outgoing
	s.mu.Unlock()
	if cache == nil {
		cache = &outgoingCache{pkt: pkt}
	}
	name, args, ok := cache.get()
	if !ok {
		return
	}
	for _, h := range handlers {
		h(name, args)
	}
}

// outgoingCache decodes a packet's event once for every outgoing observer.
type outgoingCache struct {
	pkt  *parser.Packet
	once sync.Once
	name string
	args []json.RawMessage
	ok   bool
}

func (c *outgoingCache) get() (string, []json.RawMessage, bool) {
	c.once.Do(func() {
		all, err := parser.Args(c.pkt.Data, c.pkt.Attachments)
		if err != nil {
			return
		}
		name, args, err := splitEvent(all)
		if err != nil {
			return
		}
		c.name, c.args, c.ok = name, args, true
	})
	return c.name, c.args, c.ok
}

// onPacket handles a packet addressed to this socket's namespace.
func (s *Socket) onPacket(pkt *parser.Packet) {
	switch pkt.Type {
	case parser.Event, parser.BinaryEvent:
		s.onEvent(pkt)
	case parser.Ack, parser.BinaryAck:
		s.onAck(pkt)
	case parser.Disconnect:
		s.onClose(ReasonClientNamespaceDisconnect)
	}
}

func (s *Socket) onEvent(pkt *parser.Packet) {
	all, err := parser.SplitArgs(pkt.Data, pkt.Attachments)
	if err != nil {
		s.emitError(fmt.Errorf("decode event: %w", err))
		return
	}
	name, args, err := splitEventArgs(all)
	if err != nil {
		s.emitError(err)
		return
	}
	ev := &Event{Name: name, args: args, socket: s, id: pkt.ID, wantsAck: pkt.HasID}
	s.mu.Lock()
	if s.state != stateConnected {
		s.mu.Unlock()
		return
	}
	x := s.extrasOrEmpty()
	anyHandlers, middlewares, handlers := x.anyHandlers, x.middlewares, s.handlers
	ctx := s.contextLocked()
	s.mu.Unlock()
	for _, h := range anyHandlers {
		h(ctx, ev)
	}
	for _, mw := range middlewares {
		if err := mw(ctx, ev); err != nil {
			s.emitError(err)
			return
		}
	}
	if !s.Connected() {
		return
	}
	for _, h := range handlers {
		if h.event == name {
			h.fn(ctx, ev)
		}
	}
}

func (s *Socket) onAck(pkt *parser.Packet) {
	if !pkt.HasID {
		return
	}
	s.mu.Lock()
	p, ok := s.acks[pkt.ID]
	delete(s.acks, pkt.ID)
	s.mu.Unlock()
	if !ok {
		return
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	args, err := parser.Args(pkt.Data, pkt.Attachments)
	if err != nil {
		s.emitError(fmt.Errorf("decode ack: %w", err))
		return
	}
	p.fn(args, nil)
}

func (s *Socket) emitError(err error) {
	s.mu.Lock()
	handlers := s.extrasOrEmpty().onError
	s.mu.Unlock()
	for _, h := range handlers {
		h(err)
	}
}

// sendAck answers the client's event id.
func (s *Socket) sendAck(id uint64, args []any) error {
	data, attachments, err := parser.EncodeArgs(args...)
	if err != nil {
		return fmt.Errorf("encode ack arguments: %w", err)
	}
	s.client.sendPacket(&parser.Packet{
		Type: parser.Ack, Namespace: s.nsp.name, ID: id, HasID: true,
		Data: data, Attachments: attachments,
	})
	return nil
}

// abort ends a socket that never connected (refused by a middleware).
func (s *Socket) abort() {
	s.mu.Lock()
	s.state = stateClosed
	s.mu.Unlock()
	s.endContext()
}

// persistSession stores what a recovering client gets back (id, rooms,
// data) when connection state recovery is on, once: before the server
// closes the transport (client.OnServerClose), or at the disconnect.
func (s *Socket) persistSession() {
	if s.nsp.srv.opts.Recovery == nil || s.persisted.Swap(true) {
		return
	}
	session := &SessionState{ID: s.id, PID: s.pid, Rooms: s.Rooms(), Data: s.Data()}
	if err := s.nsp.adapter.PersistSession(s.Context(), session); err != nil {
		s.nsp.srv.log.Warn("socketio: persist session", "namespace", s.nsp.name, "err", err)
	}
}

// onClose disconnects the socket for reason (once): disconnecting handlers,
// session persistence, room cleanup, disconnect handlers.
func (s *Socket) onClose(reason string) {
	s.mu.Lock()
	if s.state != stateConnected {
		s.mu.Unlock()
		return
	}
	s.state = stateDisconnecting
	disconnecting := s.extrasOrEmpty().onDisconnecting
	s.mu.Unlock()

	for _, h := range disconnecting {
		h(reason)
	}
	if recoverableReason(reason) && !s.persisted.Load() {
		s.persistSession()
	}

	s.mu.Lock()
	s.state = stateClosed
	acks := s.acks
	s.acks = nil
	disconnect := s.extrasOrEmpty().onDisconnect
	s.mu.Unlock()

	s.nsp.adapter.DelAll(s.id)
	s.nsp.removeSocket(s)
	s.client.removeSocket(s)
	s.endContext()
	for _, p := range acks {
		if p.timer != nil {
			p.timer.Stop()
		}
		if !p.broadcast {
			p.fn(nil, ErrDisconnected)
		}
	}
	for _, h := range disconnect {
		h(reason)
	}
}
