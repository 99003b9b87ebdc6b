package socketio

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/socketfleet/socketfleet/runtime/parser"
)

// MemoryAdapterOptions customise NewMemoryAdapterWith, mainly for cluster
// adapters built on top of the in-memory one.
type MemoryAdapterOptions struct {
	// OnCreateRoom is called when a room gets its first member, OnDeleteRoom
	// when it loses its last one, OnJoinRoom and OnLeaveRoom for every
	// membership change (socket.io-adapter's create-room, delete-room,
	// join-room and leave-room events). They are called with the adapter's
	// lock held, in order: they must be quick and must not call the adapter.
	OnCreateRoom func(room string)
	OnDeleteRoom func(room string)
	OnJoinRoom   func(room, id string)
	OnLeaveRoom  func(room, id string)
	// DisableRecovery turns off the packet buffer, the offsets and session
	// persistence even when the server has recovery enabled (for a cluster
	// adapter that does not support connection state recovery).
	DisableRecovery bool
}

// MemoryAdapter is the single-server Adapter (socket.io-adapter's in-memory
// Adapter, and its SessionAwareAdapter when the server has recovery
// enabled). Rooms are kept in two maps under one RWMutex; broadcasts collect
// their targets under the read lock and send without it.
type MemoryAdapter struct {
	nsp   *Namespace
	hooks MemoryAdapterOptions

	mu    sync.RWMutex
	rooms map[string]map[string]struct{} // room -> socket ids
	sids  map[string]map[string]struct{} // socket id -> rooms

	recovery *packetBuffer // nil when recovery is off
	store    SessionStore

	targets sync.Pool // *[]*Socket scratch slices of broadcasts
}

// NewMemoryAdapter is the default AdapterFactory.
func NewMemoryAdapter(nsp *Namespace) Adapter {
	return NewMemoryAdapterWith(nsp, MemoryAdapterOptions{})
}

// NewMemoryAdapterWith returns an in-memory adapter with hooks, to embed in
// a cluster adapter.
func NewMemoryAdapterWith(nsp *Namespace, opts MemoryAdapterOptions) *MemoryAdapter {
	a := &MemoryAdapter{
		nsp:   nsp,
		hooks: opts,
		rooms: make(map[string]map[string]struct{}),
		sids:  make(map[string]map[string]struct{}),
	}
	if rec := nsp.srv.opts.Recovery; rec != nil && !opts.DisableRecovery {
		a.recovery = newPacketBuffer(rec.MaxDisconnectionDuration, rec.MaxBufferedPackets, time.Now)
		a.store = nsp.srv.store
	}
	return a
}

// AddAll adds socket id to rooms.
func (a *MemoryAdapter) AddAll(id string, rooms []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	mine := a.sids[id]
	if mine == nil {
		mine = make(map[string]struct{}, len(rooms))
		a.sids[id] = mine
	}
	for _, room := range rooms {
		if _, ok := mine[room]; ok {
			continue
		}
		mine[room] = struct{}{}
		members := a.rooms[room]
		if members == nil {
			members = make(map[string]struct{}, 1)
			a.rooms[room] = members
			if a.hooks.OnCreateRoom != nil {
				a.hooks.OnCreateRoom(room)
			}
		}
		members[id] = struct{}{}
		if a.hooks.OnJoinRoom != nil {
			a.hooks.OnJoinRoom(room, id)
		}
	}
}

// Del removes socket id from room.
func (a *MemoryAdapter) Del(id, room string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if mine := a.sids[id]; mine != nil {
		delete(mine, room)
	}
	a.removeMemberLocked(room, id)
}

// DelAll removes socket id from every room.
func (a *MemoryAdapter) DelAll(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	mine, ok := a.sids[id]
	if !ok {
		return
	}
	for room := range mine {
		a.removeMemberLocked(room, id)
	}
	delete(a.sids, id)
}

func (a *MemoryAdapter) removeMemberLocked(room, id string) {
	members, ok := a.rooms[room]
	if !ok {
		return
	}
	if _, ok := members[id]; !ok {
		return
	}
	delete(members, id)
	if a.hooks.OnLeaveRoom != nil {
		a.hooks.OnLeaveRoom(room, id)
	}
	if len(members) == 0 {
		delete(a.rooms, room)
		if a.hooks.OnDeleteRoom != nil {
			a.hooks.OnDeleteRoom(room)
		}
	}
}

// SocketRooms returns the rooms of socket id (sorted), or nil.
func (a *MemoryAdapter) SocketRooms(id string) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	mine, ok := a.sids[id]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(mine))
	for room := range mine {
		out = append(out, room)
	}
	sort.Strings(out)
	return out
}

// Sockets returns the ids of the sockets in any of rooms (all when empty).
func (a *MemoryAdapter) Sockets(rooms []string) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out []string
	a.forEachIDLocked(BroadcastOptions{Rooms: rooms}, func(id string) { out = append(out, id) })
	return out
}

// HasRoom reports whether room has at least one local member (a cluster
// adapter can skip decoding a broadcast addressed to a room it does not have).
func (a *MemoryAdapter) HasRoom(room string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.rooms[room]) > 0
}

// Rooms returns the names of the rooms.
func (a *MemoryAdapter) Rooms() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]string, 0, len(a.rooms))
	for room := range a.rooms {
		out = append(out, room)
	}
	return out
}

// forEachIDLocked calls fn once for every socket id selected by opts: those
// in any of opts.Rooms (every known socket when empty) and in none of
// opts.Except. The caller holds a.mu.
func (a *MemoryAdapter) forEachIDLocked(opts BroadcastOptions, fn func(id string)) {
	var except map[string]struct{}
	switch len(opts.Except) {
	case 0:
	case 1:
		except = a.rooms[opts.Except[0]]
	default:
		except = make(map[string]struct{})
		for _, room := range opts.Except {
			for id := range a.rooms[room] {
				except[id] = struct{}{}
			}
		}
	}
	excluded := func(id string) bool {
		_, ok := except[id]
		return ok
	}
	switch len(opts.Rooms) {
	case 0:
		for id := range a.sids {
			if !excluded(id) {
				fn(id)
			}
		}
	case 1:
		for id := range a.rooms[opts.Rooms[0]] {
			if !excluded(id) {
				fn(id)
			}
		}
	default:
		seen := make(map[string]struct{})
		for _, room := range opts.Rooms {
			for id := range a.rooms[room] {
				if _, dup := seen[id]; dup || excluded(id) {
					continue
				}
				seen[id] = struct{}{}
				fn(id)
			}
		}
	}
}

// collect returns the local sockets selected by opts (put the slice back with
// releaseTargets).
func (a *MemoryAdapter) collect(opts BroadcastOptions) *[]*Socket {
	buf, _ := a.targets.Get().(*[]*Socket)
	if buf == nil {
		buf = new([]*Socket)
	}
	targets := (*buf)[:0]
	a.mu.RLock()
	a.nsp.mu.RLock()
	a.forEachIDLocked(opts, func(id string) {
		if s := a.nsp.sockets[id]; s != nil {
			targets = append(targets, s)
		}
	})
	a.nsp.mu.RUnlock()
	a.mu.RUnlock()
	*buf = targets
	return buf
}

func (a *MemoryAdapter) releaseTargets(buf *[]*Socket) {
	if cap(*buf) > 4096 {
		return // do not keep huge slices alive
	}
	clear(*buf)
	*buf = (*buf)[:0]
	a.targets.Put(buf)
}

// Broadcast encodes packet once and sends the same messages to every
// selected local socket. With recovery on, a non-volatile event without ack
// id first gets an offset appended and is kept in the packet buffer.
func (a *MemoryAdapter) Broadcast(packet *parser.Packet, opts BroadcastOptions) error {
	packet.Namespace = a.nsp.name
	if a.recovery != nil && packet.Type == parser.Event && !packet.HasID && !opts.Flags.Volatile {
		a.recovery.record(packet, opts)
	}
	msgs := a.nsp.srv.encode(packet)
	buf := a.collect(opts)
	var cache *outgoingCache
	for _, s := range *buf {
		if s.hasOutgoing.Load() {
			if cache == nil {
				cache = &outgoingCache{pkt: packet}
			}
			s.notifyOutgoing(packet, cache)
		}
		s.deliver(packet, msgs, opts.Flags.Volatile)
	}
	a.releaseTargets(buf)
	return nil
}

// BroadcastWithAck sends packet with one ack id (from the namespace's
// counter) to every selected local socket, reports their number to
// clientCount and each answer's first argument to ack. When ctx is done the
// sockets forget the pending acknowledgement.
func (a *MemoryAdapter) BroadcastWithAck(ctx context.Context, packet *parser.Packet, opts BroadcastOptions,
	clientCount func(n int), ack func(arg json.RawMessage)) error {
	packet.Namespace = a.nsp.name
	packet.ID, packet.HasID = a.nsp.NextAckID(), true
	id := packet.ID
	msgs := a.nsp.srv.encode(packet)
	buf := a.collect(opts)
	pending := &pendingAck{broadcast: true, fn: func(args []json.RawMessage, err error) {
		if err != nil {
			return
		}
		var first json.RawMessage
		if len(args) > 0 {
			first = args[0]
		}
		ack(first)
	}}
	targets := make([]*Socket, 0, len(*buf))
	var cache *outgoingCache
	for _, s := range *buf {
		if opts.Flags.Volatile && !s.client.sess.Writable() {
			continue // dropped: do not wait for its answer
		}
		if !s.registerBroadcastAck(id, pending) {
			continue
		}
		targets = append(targets, s)
		if s.hasOutgoing.Load() {
			if cache == nil {
				cache = &outgoingCache{pkt: packet}
			}
			s.notifyOutgoing(packet, cache)
		}
		s.client.send(msgs)
	}
	a.releaseTargets(buf)
	clientCount(len(targets))
	if len(targets) > 0 && ctx.Done() != nil {
		context.AfterFunc(ctx, func() {
			for _, s := range targets {
				s.removeAck(id)
			}
		})
	}
	return nil
}

// ServerCount returns 1.
func (a *MemoryAdapter) ServerCount(context.Context) (int, error) { return 1, nil }

// FetchSockets describes the selected local sockets.
func (a *MemoryAdapter) FetchSockets(_ context.Context, opts BroadcastOptions) ([]SocketInfo, error) {
	buf := a.collect(opts)
	out := make([]SocketInfo, 0, len(*buf))
	for _, s := range *buf {
		out = append(out, s.info())
	}
	a.releaseTargets(buf)
	return out, nil
}

// AddSockets makes the selected local sockets join rooms.
func (a *MemoryAdapter) AddSockets(_ context.Context, opts BroadcastOptions, rooms []string) error {
	buf := a.collect(opts)
	targets := slices.Clone(*buf)
	a.releaseTargets(buf)
	for _, s := range targets {
		s.Join(rooms...)
	}
	return nil
}

// DelSockets makes the selected local sockets leave rooms.
func (a *MemoryAdapter) DelSockets(_ context.Context, opts BroadcastOptions, rooms []string) error {
	buf := a.collect(opts)
	targets := slices.Clone(*buf)
	a.releaseTargets(buf)
	for _, s := range targets {
		for _, room := range rooms {
			s.Leave(room)
		}
	}
	return nil
}

// DisconnectSockets disconnects the selected local sockets.
func (a *MemoryAdapter) DisconnectSockets(_ context.Context, opts BroadcastOptions, close bool) error {
	buf := a.collect(opts)
	targets := slices.Clone(*buf)
	a.releaseTargets(buf)
	for _, s := range targets {
		s.Disconnect(close)
	}
	return nil
}

// ServerSideEmit does nothing: there is no other server.
func (a *MemoryAdapter) ServerSideEmit(context.Context, string, []json.RawMessage) error {
	return nil
}

// ServerSideEmitWithAck returns no answers at once: there is no other server.
func (a *MemoryAdapter) ServerSideEmitWithAck(context.Context, string, []json.RawMessage) ([]json.RawMessage, error) {
	return nil, nil
}

// PersistSession saves the session in the server's SessionStore for
// MaxDisconnectionDuration (recovery only).
func (a *MemoryAdapter) PersistSession(ctx context.Context, session *SessionState) error {
	if a.recovery == nil || a.store == nil {
		return nil
	}
	return a.store.Save(ctx, session, a.recovery.maxAge)
}

// RestoreSession takes the session pid from the SessionStore and returns the
// buffered packets after offset that its rooms selected.
func (a *MemoryAdapter) RestoreSession(ctx context.Context, pid, offset string) (*SessionState, []*parser.Packet, error) {
	if a.recovery == nil || a.store == nil {
		return nil, nil, nil
	}
	seq, err := strconv.ParseUint(offset, 36, 64)
	if err != nil {
		return nil, nil, nil // not one of our offsets
	}
	session, err := a.store.Take(ctx, pid)
	if err != nil || session == nil {
		return nil, nil, err
	}
	missed, ok := a.recovery.since(seq, session.Rooms)
	if !ok {
		return nil, nil, nil
	}
	return session, missed, nil
}

// Close does nothing.
func (a *MemoryAdapter) Close(context.Context) error { return nil }

// packetBuffer keeps the recent broadcast packets for connection state
// recovery, bounded by age and count. Offsets are base-36 sequence numbers
// starting from the creation time in nanoseconds (unique, increasing).
type packetBuffer struct {
	maxAge   time.Duration
	maxCount int
	now      func() time.Time

	mu      sync.Mutex
	next    uint64
	packets []bufferedPacket
	head    int
}

type bufferedPacket struct {
	seq    uint64
	at     time.Time
	rooms  []string
	except []string
	packet *parser.Packet
}

func newPacketBuffer(maxAge time.Duration, maxCount int, now func() time.Time) *packetBuffer {
	return &packetBuffer{maxAge: maxAge, maxCount: maxCount, now: now, next: uint64(now().UnixNano())}
}

// record assigns the packet its offset (appended to its data) and keeps it.
func (b *packetBuffer) record(packet *parser.Packet, opts BroadcastOptions) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	seq := b.next
	packet.Data = appendOffset(packet.Data, strconv.FormatUint(seq, 36))
	b.packets = append(b.packets, bufferedPacket{
		seq: seq, at: now, rooms: opts.Rooms, except: opts.Except, packet: packet,
	})
	b.pruneLocked(now)
}

func (b *packetBuffer) pruneLocked(now time.Time) {
	for b.head < len(b.packets) {
		p := &b.packets[b.head]
		if len(b.packets)-b.head <= b.maxCount && now.Sub(p.at) <= b.maxAge {
			break
		}
		*p = bufferedPacket{}
		b.head++
	}
	if b.head > 64 && b.head*2 > len(b.packets) {
		n := copy(b.packets, b.packets[b.head:])
		clear(b.packets[n:])
		b.packets = b.packets[:n]
		b.head = 0
	}
}

// since returns the packets recorded after seq that a socket in rooms would
// have received; false when seq is no longer (or was never) in the buffer.
func (b *packetBuffer) since(seq uint64, rooms []string) ([]*parser.Packet, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pruneLocked(b.now())
	live := b.packets[b.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].seq >= seq })
	if i == len(live) || live[i].seq != seq {
		return nil, false
	}
	var out []*parser.Packet
	for _, p := range live[i+1:] {
		if includesPacket(rooms, p.rooms, p.except) {
			out = append(out, p.packet)
		}
	}
	return out, true
}

// len returns the number of buffered packets.
func (b *packetBuffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.packets) - b.head
}

// includesPacket reports whether a socket in sessionRooms was a target of a
// broadcast to rooms (all when empty) except the except rooms.
func includesPacket(sessionRooms, rooms, except []string) bool {
	included := len(rooms) == 0
	for _, r := range sessionRooms {
		if !included && slices.Contains(rooms, r) {
			included = true
		}
		if slices.Contains(except, r) {
			return false
		}
	}
	return included
}

// info describes the socket for FetchSockets.
func (s *Socket) info() SocketInfo {
	data := json.RawMessage("{}")
	if v := s.Data(); v != nil {
		if raw, err := json.Marshal(v); err == nil {
			data = raw
		}
	}
	return SocketInfo{ID: s.id, Handshake: s.handshake, Rooms: s.Rooms(), Data: data}
}
