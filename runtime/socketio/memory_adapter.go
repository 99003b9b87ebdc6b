package socketio

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketfleet/socketfleet/runtime/engineio"
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
//
// A socket's own room (named after its id, which every socket joins) is
// implicit: a flag on the socket's entry instead of a one-member set per
// socket. The room's members are the flagged socket and whoever else joined
// a room of that name (normally nobody).
type MemoryAdapter struct {
	nsp   *Namespace
	hooks MemoryAdapterOptions

	mu    sync.RWMutex
	rooms map[string]map[string]struct{} // room -> socket ids, own rooms' owners excepted
	sids  map[string]socketRooms         // socket id -> its rooms
	gen   uint64                         // counts the changes of rooms and sids (under mu)

	// last is the target list of the last broadcast to one large room,
	// reused while no membership and no socket of the namespace changed: a
	// storm of broadcasts to a room looks its members up once.
	last atomic.Pointer[roomTargets]

	recovery *packetBuffer // nil when recovery is off
	store    SessionStore

	targets sync.Pool // *[]*Socket scratch slices of broadcasts
}

// roomTargets are the sockets of one room at one generation of the
// adapter's rooms and of the namespace's sockets. It is never modified.
type roomTargets struct {
	room           string
	rooms, sockets uint64
	targets        []*Socket
}

// minCachedRoom is the smallest room whose broadcast targets are kept for
// the next broadcast to it.
const minCachedRoom = 64

// socketRooms are the rooms of one socket: its own room (own) and the
// others, in joining order. A socket is in few rooms; a slice is smaller
// than a set.
type socketRooms struct {
	own    bool
	others []string
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
		sids:  make(map[string]socketRooms),
	}
	if rec := nsp.srv.opts.Recovery; rec != nil && !opts.DisableRecovery {
		a.recovery = newPacketBuffer(rec.MaxDisconnectionDuration, rec.MaxBufferedPackets, time.Now)
		a.store = nsp.srv.store
	}
	return a
}

// ownerLocked reports whether room is the own room of a socket that is in
// it. a.mu is held.
func (a *MemoryAdapter) ownerLocked(room string) bool { return a.sids[room].own }

// roomSizeLocked returns the number of members of room. a.mu is held.
func (a *MemoryAdapter) roomSizeLocked(room string) int {
	n := len(a.rooms[room])
	if a.ownerLocked(room) {
		n++
	}
	return n
}

// inRoomLocked reports whether socket id is in room. a.mu is held.
func (a *MemoryAdapter) inRoomLocked(room, id string) bool {
	if room == id && a.ownerLocked(id) {
		return true
	}
	_, ok := a.rooms[room][id]
	return ok
}

// AddAll adds socket id to rooms.
func (a *MemoryAdapter) AddAll(id string, rooms []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	mine := a.sids[id]
	for _, room := range rooms {
		if room == id {
			if mine.own {
				continue
			}
			mine.own = true
			a.sids[id] = mine
			if len(a.rooms[room]) == 0 && a.hooks.OnCreateRoom != nil {
				a.hooks.OnCreateRoom(room)
			}
			if a.hooks.OnJoinRoom != nil {
				a.hooks.OnJoinRoom(room, id)
			}
			continue
		}
		if slices.Contains(mine.others, room) {
			continue
		}
		mine.others = append(mine.others, room)
		members := a.rooms[room]
		if members == nil {
			members = make(map[string]struct{}, 1)
			a.rooms[room] = members
			if a.hooks.OnCreateRoom != nil && !a.ownerLocked(room) {
				a.hooks.OnCreateRoom(room)
			}
		}
		members[id] = struct{}{}
		if a.hooks.OnJoinRoom != nil {
			a.hooks.OnJoinRoom(room, id)
		}
	}
	a.sids[id] = mine
}

// Del removes socket id from room.
func (a *MemoryAdapter) Del(id, room string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	mine, ok := a.sids[id]
	if !ok {
		return
	}
	if room == id {
		if mine.own {
			mine.own = false
			a.sids[id] = mine
			a.leftOwnLocked(id)
		}
		return
	}
	if i := slices.Index(mine.others, room); i >= 0 {
		mine.others = slices.Delete(mine.others, i, i+1)
		a.sids[id] = mine
	}
	a.removeMemberLocked(room, id)
}

// DelAll removes socket id from every room.
func (a *MemoryAdapter) DelAll(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	a.last.Store(nil) // no stale socket kept alive by the cache
	mine, ok := a.sids[id]
	if !ok {
		return
	}
	for _, room := range mine.others {
		a.removeMemberLocked(room, id)
	}
	if mine.own {
		a.sids[id] = socketRooms{others: mine.others}
		a.leftOwnLocked(id)
	}
	delete(a.sids, id)
}

// leftOwnLocked reports that socket id left its own room (its flag is
// already cleared). a.mu is held.
func (a *MemoryAdapter) leftOwnLocked(id string) {
	if a.hooks.OnLeaveRoom != nil {
		a.hooks.OnLeaveRoom(id, id)
	}
	if len(a.rooms[id]) == 0 && a.hooks.OnDeleteRoom != nil {
		a.hooks.OnDeleteRoom(id)
	}
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
		if a.hooks.OnDeleteRoom != nil && !a.ownerLocked(room) {
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
	out := make([]string, 0, len(mine.others)+1)
	if mine.own {
		out = append(out, id)
	}
	out = append(out, mine.others...)
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
	return a.roomSizeLocked(room) > 0
}

// Rooms returns the names of the rooms.
func (a *MemoryAdapter) Rooms() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]string, 0, len(a.rooms)+len(a.sids))
	for room := range a.rooms {
		out = append(out, room)
	}
	for id, mine := range a.sids {
		if _, listed := a.rooms[id]; mine.own && !listed {
			out = append(out, id)
		}
	}
	return out
}

// forEachInRoomLocked calls fn for every member of room. a.mu is held.
func (a *MemoryAdapter) forEachInRoomLocked(room string, fn func(id string)) {
	if a.ownerLocked(room) {
		fn(room)
	}
	for id := range a.rooms[room] {
		fn(id)
	}
}

// forEachIDLocked calls fn once for every socket id selected by opts: those
// in any of opts.Rooms (every known socket when empty) and in none of
// opts.Except. The caller holds a.mu.
func (a *MemoryAdapter) forEachIDLocked(opts BroadcastOptions, fn func(id string)) {
	excluded := func(id string) bool {
		for _, room := range opts.Except {
			if a.inRoomLocked(room, id) {
				return true
			}
		}
		return false
	}
	switch len(opts.Rooms) {
	case 0:
		for id := range a.sids {
			if !excluded(id) {
				fn(id)
			}
		}
	case 1:
		a.forEachInRoomLocked(opts.Rooms[0], func(id string) {
			if !excluded(id) {
				fn(id)
			}
		})
	default:
		seen := make(map[string]struct{})
		for _, room := range opts.Rooms {
			a.forEachInRoomLocked(room, func(id string) {
				if _, dup := seen[id]; dup || excluded(id) {
					return
				}
				seen[id] = struct{}{}
				fn(id)
			})
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

// cachedTargets returns the sockets of the one room opts selects (without
// exceptions) when it has at least minCachedRoom members, from the cache of
// the last such broadcast when nothing changed since. The slice is shared:
// it must not be modified.
func (a *MemoryAdapter) cachedTargets(opts BroadcastOptions) ([]*Socket, bool) {
	if len(opts.Rooms) != 1 || len(opts.Except) != 0 {
		return nil, false
	}
	room := opts.Rooms[0]
	a.mu.RLock()
	defer a.mu.RUnlock()
	a.nsp.mu.RLock()
	defer a.nsp.mu.RUnlock()
	if c := a.last.Load(); c != nil && c.room == room && c.rooms == a.gen && c.sockets == a.nsp.socketsGen {
		return c.targets, true
	}
	n := a.roomSizeLocked(room)
	if n < minCachedRoom {
		return nil, false
	}
	targets := make([]*Socket, 0, n)
	a.forEachInRoomLocked(room, func(id string) {
		if s := a.nsp.sockets[id]; s != nil {
			targets = append(targets, s)
		}
	})
	a.last.Store(&roomTargets{room: room, rooms: a.gen, sockets: a.nsp.socketsGen, targets: targets})
	return targets, true
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
	if targets, ok := a.cachedTargets(opts); ok {
		a.deliverTo(targets, packet, msgs, opts.Flags.Volatile)
		return nil
	}
	buf := a.collect(opts)
	a.deliverTo(*buf, packet, msgs, opts.Flags.Volatile)
	a.releaseTargets(buf)
	return nil
}

// deliverTo sends the encoded packet to targets. The sessions of the
// sockets that take a broadcast as it comes (not volatile, not holding)
// are collected deliverBatch at a time and sent to together (engineio's
// SendEach): reading the sockets in a loop of plain loads lets their
// cache misses overlap, and SendEach does the same for the sessions.
func (a *MemoryAdapter) deliverTo(targets []*Socket, packet *parser.Packet, msgs []*engineio.Message, volatile bool) {
	var (
		cache *outgoingCache
		batch [deliverBatch]*engineio.Session
		n     int
	)
	engine := a.nsp.srv.engine
	for _, s := range targets {
		if s.hasOutgoing.Load() {
			if cache == nil {
				cache = &outgoingCache{pkt: packet}
			}
			s.notifyOutgoing(packet, cache)
		}
		if volatile || s.holding.Load() {
			s.deliver(packet, msgs, volatile)
			continue
		}
		batch[n] = s.client.sess
		if n++; n == len(batch) {
			engine.SendEach(batch[:n], msgs...)
			n = 0
		}
	}
	engine.SendEach(batch[:n], msgs...)
}

// deliverBatch is how many sessions deliverTo collects before sending.
const deliverBatch = 64

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
	return SocketInfo{ID: s.id, Handshake: s.Handshake(), Rooms: s.Rooms(), Data: data}
}
