package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/socketfleet/socketfleet/runtime/parser"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// StreamsOptions configures a StreamsCluster. Each zero value means the
// default of Node's @socket.io/redis-streams-adapter 0.3 createAdapter.
type StreamsOptions struct {
	// StreamName is the stream (default "socket.io"; streamName).
	StreamName string
	// StreamCount spreads the namespaces over this many streams, named
	// StreamName-0 … (default 1; streamCount). Node names some namespaces'
	// stream with a negative number that no reader reads: keep it at 1 in a
	// cluster with Node servers (docs/redis-wire.md §3).
	StreamCount int
	// ChannelPrefix prefixes the Pub/Sub channels (default "socket.io";
	// channelPrefix).
	ChannelPrefix string
	// UseShardedPubSub sends requests and responses with SPUBLISH and
	// SSUBSCRIBE (Redis ≥ 7; useShardedPubSub).
	UseShardedPubSub bool
	// MaxLen trims the stream to about this many entries (default 10000;
	// maxLen). A client can recover only while its offset is in the
	// stream.
	MaxLen int64
	// ReadCount is the COUNT of each XREAD (default 100; readCount).
	ReadCount int64
	// BlockTime is the BLOCK of each XREAD (default 5s; blockTimeInMs).
	BlockTime time.Duration
	// SessionKeyPrefix prefixes the keys of persisted sessions (default
	// "sio:session:"; sessionKeyPrefix).
	SessionKeyPrefix string
	// OnlyPlaintext writes stream data as JSON even when it holds binary,
	// which then arrives as {"type":"Buffer","data":[…]} (onlyPlaintext).
	OnlyPlaintext bool
	// RequestsTimeout bounds fetchSockets and serverSideEmit (default 5s).
	RequestsTimeout time.Duration
	// Logger receives warnings (default: discarded).
	Logger *slog.Logger
	// Outbox bounds the broadcasts kept while Redis is away.
	Outbox OutboxOptions
}

// Bounds of a session restore: the entries after the offset are read in
// batches of restoreBatch, at most restoreMaxBatches of them; a client whose
// offset is further behind is not recovered (rather than recovered with a
// gap).
const (
	restoreBatch      = 1000
	restoreMaxBatches = 100
	// maxRestoreMarks bounds the restored sockets remembered to keep
	// the stream reader from delivering a replayed packet twice.
	maxRestoreMarks = 10000
	maxReadBackoff  = 2 * time.Second
)

// StreamsCluster is the Redis Streams link, compatible with Node's
// @socket.io/redis-streams-adapter 0.3: broadcasts, socketsJoin,
// socketsLeave and disconnectSockets are XADDed to a stream that one reader
// goroutine per stream follows with XREAD; acknowledged broadcasts,
// fetchSockets, serverSideEmit and all responses go over Pub/Sub (one
// subscriber connection per process). It supports connection state
// recovery across servers: offsets are stream entry ids, and sessions are
// stored in Redis for MaxDisconnectionDuration.
type StreamsCluster struct {
	link[*StreamsAdapter]
	opts StreamsOptions

	stop    context.CancelFunc
	readers sync.WaitGroup
	closers []func() error // the readers' own clients
}

// NewStreams returns a streams cluster on client. Pass its Adapter method
// as socketio.Options.Adapter. Each stream is read by its own client (a
// copy of client's options, as Node duplicates its client), so that a
// blocked XREAD delays nothing else and Close interrupts it.
func NewStreams(client redis.UniversalClient, opts StreamsOptions) *StreamsCluster {
	if opts.StreamName == "" {
		opts.StreamName = "socket.io"
	}
	if opts.StreamCount <= 0 {
		opts.StreamCount = 1
	}
	if opts.ChannelPrefix == "" {
		opts.ChannelPrefix = "socket.io"
	}
	if opts.MaxLen <= 0 {
		opts.MaxLen = 10000
	}
	if opts.ReadCount <= 0 {
		opts.ReadCount = 100
	}
	if opts.BlockTime <= 0 {
		opts.BlockTime = 5 * time.Second
	}
	if opts.SessionKeyPrefix == "" {
		opts.SessionKeyPrefix = "sio:session:"
	}
	if opts.RequestsTimeout <= 0 {
		opts.RequestsTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &StreamsCluster{link: newLink[*StreamsAdapter](client, opts.Logger, opts.RequestsTimeout, opts.Outbox, 0), opts: opts}
	c.subscribe(opts.UseShardedPubSub)
	go c.dispatchByNamespace(c.sub.Channel(redis.WithChannelSize(4096)), c.opts.ChannelPrefix+"#", c.handleMessage)
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	streams := []string{opts.StreamName}
	if opts.StreamCount > 1 {
		streams = streams[:0]
		for i := range opts.StreamCount {
			streams = append(streams, fmt.Sprintf("%s-%d", opts.StreamName, i))
		}
	}
	for _, stream := range streams {
		rc, closer := readerClient(client)
		if closer != nil {
			c.closers = append(c.closers, closer)
		}
		c.readers.Add(1)
		go c.read(ctx, rc, stream, c.lastEntry(rc, stream))
	}
	return c
}

// readerClient returns a client of its own for a stream reader when client
// can be copied, else client itself (a reader then stops within BlockTime
// of Close).
func readerClient(client redis.UniversalClient) (redis.UniversalClient, func() error) {
	switch c := client.(type) {
	case *redis.Client:
		o := *c.Options()
		// A copy shares the original's push handlers: maintenance
		// notifications cannot be registered twice. A reader needs none.
		o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		rc := redis.NewClient(&o)
		return rc, rc.Close
	case *redis.ClusterClient:
		o := *c.Options()
		o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		rc := redis.NewClusterClient(&o)
		return rc, rc.Close
	}
	return client, nil
}

// lastEntry is the id of the stream's last entry, where the reader starts:
// unlike Node's "$" it does not miss the entries added before the first
// XREAD blocks. "" when Redis does not answer: the reader asks again before
// its first XREAD (a "$" there would skip what is added between two XREADs
// for as long as none returns an entry).
func (c *StreamsCluster) lastEntry(rc redis.UniversalClient, stream string) string {
	ctx, cancel := c.opCtx()
	defer cancel()
	last, err := rc.XRevRangeN(ctx, stream, "+", "-", 1).Result()
	switch {
	case err != nil:
		return ""
	case len(last) == 0:
		return "0-0"
	}
	return last[0].ID
}

// Close stops the stream readers, unsubscribes and stops the dispatcher.
// The client is not closed.
func (c *StreamsCluster) Close() error {
	return c.close(func() {
		c.stop()
		for _, closer := range c.closers {
			_ = closer()
		}
		c.readers.Wait()
	})
}

func (c *StreamsCluster) channel(nsp string) string { return c.opts.ChannelPrefix + "#" + nsp + "#" }

// read follows one stream from the entry after last ("": after the last
// entry when Redis first answers) and dispatches every entry to its
// namespace; Redis errors are retried with a bounded backoff, from the same
// entry: after a reconnection, or a Sentinel failover to a replica that had
// the entries, nothing added meanwhile is skipped.
func (c *StreamsCluster) read(ctx context.Context, rc redis.UniversalClient, stream, last string) {
	defer c.readers.Done()
	backoff := 50 * time.Millisecond
	failing := false
	for ctx.Err() == nil {
		var res []redis.XStream
		var err error
		if last == "" {
			if last = c.lastEntry(rc, stream); last == "" {
				err = errors.New("the stream's last entry is unknown: Redis does not answer")
			}
		}
		if err == nil {
			res, err = rc.XRead(ctx, &redis.XReadArgs{Streams: []string{stream, last}, Count: c.opts.ReadCount,
				Block: c.opts.BlockTime}).Result()
		}
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				c.log.Warn("redisadapter: stream read failed; retrying", "stream", stream, "err", err)
				failing = true
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxReadBackoff)
			continue
		}
		if failing {
			c.log.Info("redisadapter: stream read resumed", "stream", stream)
			failing, backoff = false, 50*time.Millisecond
		}
		for _, s := range res {
			for _, msg := range s.Messages {
				last = msg.ID
				c.onEntry(stream, msg)
			}
		}
	}
}

// onEntry hands an entry to the adapter of its namespace; an entry that
// cannot be decoded is counted and dropped.
func (c *StreamsCluster) onEntry(stream string, msg redis.XMessage) {
	e, ok := streamEntryOf(msg.Values)
	if !ok {
		return // no nsp: Node skips it too
	}
	a, found := c.adapter(e.NSP)
	if !found {
		return
	}
	if e.UID == a.uid {
		a.replayedTo(msg.ID) // forgets old marks on a server that only reads its own entries
		return               // delivered locally when it was added
	}
	m, err := decodeStreamEntry(e)
	if err != nil {
		c.dropped.record(stream, fmt.Errorf("entry %s: %w", msg.ID, err))
		return
	}
	if a.ignores(m) {
		return
	}
	if err := a.onMessage(m, msg.ID); err != nil {
		c.dropped.record(stream, fmt.Errorf("entry %s: %w", msg.ID, err))
	}
}

// handleMessage decodes a Pub/Sub message for a.
func (c *StreamsCluster) handleMessage(a *StreamsAdapter, _ string, payload []byte) error {
	m, err := decodeShardedMessage(payload)
	if err != nil || a.ignores(m) {
		return err
	}
	return a.onMessage(m, "")
}

// Adapter is the socketio.AdapterFactory of the cluster.
func (c *StreamsCluster) Adapter(nsp *socketio.Namespace) socketio.Adapter {
	a := &StreamsAdapter{member: newMember(nsp, c.log, c.opts.RequestsTimeout), cluster: c,
		stream: streamNameOf(c.opts.StreamName, c.opts.StreamCount, nsp.Name())}
	a.MemoryAdapter = socketio.NewMemoryAdapterWith(nsp, socketio.MemoryAdapterOptions{DisableRecovery: true})
	a.send = a.sendMessage
	a.respond = func(ctx context.Context, requester string, typ int, data *shardedData) error {
		return a.publish(ctx, c.channel(a.name)+requester+"#", shardedMessage{Type: typ, Data: data, UID: a.uid, NSP: a.name})
	}
	a.serverCount = a.ServerCount
	a.deliverEntry = a.deliverStreamEntry
	c.register(a.name, a)
	ctx, cancel := c.opCtx()
	defer cancel()
	if err := a.subscribe(ctx, true); err != nil {
		c.log.Warn("redisadapter: subscribe", "namespace", a.name, "err", err)
	}
	return a
}

// StreamsAdapter is the adapter of one namespace on a StreamsCluster.
type StreamsAdapter struct {
	member
	cluster *StreamsCluster
	stream  string

	// replayMu orders the local deliveries of stream entries (read-locked,
	// from the check of the marks to the choice of target sockets) against
	// the restores' reads of the stream (locked, from the read to the mark).
	// Without it a whole restore could happen in between: the restored
	// socket, already in its rooms, would get an entry its replay had
	// delivered. A restore's read is one XRANGE; deliveries of this
	// namespace on this server wait for it.
	replayMu sync.RWMutex

	marksMu sync.Mutex
	// marks are the sockets restored on this server with the last stream
	// entry replayed to each: the entries up to it must not be delivered to
	// them again (by the reader when behind, or by a broadcast of this server
	// added before the restore's read).
	marks map[string]streamPos
}

var _ socketio.Adapter = (*StreamsAdapter)(nil)

// streamPos is a parsed stream entry id.
type streamPos struct{ ms, seq uint64 }

func (p streamPos) after(q streamPos) bool { return p.ms > q.ms || (p.ms == q.ms && p.seq > q.seq) }

func (a *StreamsAdapter) subscribe(ctx context.Context, on bool) error {
	c := a.cluster
	channels := []string{c.channel(a.name), c.channel(a.name) + a.uid + "#"}
	switch {
	case on && c.opts.UseShardedPubSub:
		return c.sub.SSubscribe(ctx, channels...)
	case on:
		return c.sub.Subscribe(ctx, channels...)
	case c.opts.UseShardedPubSub:
		return c.sub.SUnsubscribe(ctx, channels...)
	}
	return c.sub.Unsubscribe(ctx, channels...)
}

func (a *StreamsAdapter) publish(ctx context.Context, channel string, m shardedMessage) error {
	b, err := encodeStreamMessage(m)
	if err != nil {
		return fmt.Errorf("redisadapter: encode: %w", err)
	}
	return a.cluster.link.publish(ctx, channel, func(ctx context.Context) error {
		if a.cluster.opts.UseShardedPubSub {
			return a.cluster.client.SPublish(ctx, channel, b).Err()
		}
		return a.cluster.client.Publish(ctx, channel, b).Err()
	})
}

// ephemeral reports whether a message goes over Pub/Sub rather than the
// stream: acknowledged broadcasts, fetchSockets and serverSideEmit.
func ephemeral(typ int, d *shardedData) bool {
	return (typ == msgBroadcast && d.RequestID != "") || typ == msgFetchSockets || typ == msgServerSideEmit
}

// sendMessage XADDs a message to the namespace's stream and returns its
// entry id, or publishes an ephemeral one on the namespace channel.
func (a *StreamsAdapter) sendMessage(ctx context.Context, typ int, data *shardedData) (string, error) {
	m := shardedMessage{Type: typ, Data: data, UID: a.uid, NSP: a.name}
	if ephemeral(typ, data) {
		return "", a.publish(ctx, a.cluster.channel(a.name), m)
	}
	var id string
	add, err := a.xadd(m, &id)
	if err != nil {
		return "", err
	}
	if err := a.cluster.link.publish(ctx, a.stream, add); err != nil {
		return "", err
	}
	return id, nil
}

// xadd returns the XADD of m to the namespace's stream, which sets *id to
// the entry id.
func (a *StreamsAdapter) xadd(m shardedMessage, id *string) (func(context.Context) error, error) {
	fields, err := encodeStreamEntry(m, a.cluster.opts.OnlyPlaintext)
	if err != nil {
		return nil, fmt.Errorf("redisadapter: encode: %w", err)
	}
	return func(ctx context.Context) error {
		var err error
		*id, err = a.cluster.client.XAdd(ctx, &redis.XAddArgs{Stream: a.stream, MaxLen: a.cluster.opts.MaxLen, Approx: true,
			ID: "*", Values: fields}).Result()
		return err
	}, nil
}

// Broadcast adds the packet to the stream (unless local), then delivers it
// to the local sockets, with the entry id as offset when connection state
// recovery is on. While Redis is away the XADD waits in the outbox
// (OutboxOptions) and the local delivery happens at once, without offset.
func (a *StreamsAdapter) Broadcast(p *parser.Packet, opts socketio.BroadcastOptions) error {
	if !opts.Flags.Local {
		offset, err := a.publishBroadcast(p, opts)
		switch {
		case err != nil:
			a.cluster.unforwarded.record(a.stream, err)
		case offset != "":
			a.deliverStreamEntry(p, opts, offset)
			return nil
		}
	}
	return a.MemoryAdapter.Broadcast(p, opts)
}

// deliverStreamEntry delivers the broadcast stream entry offset to the local
// sockets, with offset appended when recovery is on, except the restored
// sockets it was already replayed to (see replayMu).
func (a *StreamsAdapter) deliverStreamEntry(p *parser.Packet, opts socketio.BroadcastOptions, offset string) {
	a.replayMu.RLock()
	defer a.replayMu.RUnlock()
	if replayed := a.replayedTo(offset); len(replayed) > 0 {
		opts.Except = append(slices.Clone(opts.Except), replayed...)
	}
	a.addOffset(p, opts, offset)
	_ = a.MemoryAdapter.Broadcast(p, opts)
}

func (a *StreamsAdapter) publishBroadcast(p *parser.Packet, opts socketio.BroadcastOptions) (string, error) {
	wp, err := packetOf(p)
	if err != nil {
		return "", err
	}
	// When the XADD waits in the outbox, the flusher sets id later; it is
	// not read then.
	var id string
	add, err := a.xadd(shardedMessage{Type: msgBroadcast, Data: &shardedData{Packet: wp, Opts: wireOptsOf(opts)}, UID: a.uid, NSP: a.name}, &id)
	if err != nil {
		return "", err
	}
	ctx, cancel := a.opCtx()
	defer cancel()
	if waits, err := a.cluster.forward(ctx, a.stream, add); waits || err != nil {
		return "", err
	}
	return id, nil
}

// ServerCount counts the servers subscribed to the namespace channel, this
// one included.
func (a *StreamsAdapter) ServerCount(ctx context.Context) (int, error) {
	ch := a.cluster.channel(a.name)
	var res map[string]int64
	var err error
	if a.cluster.opts.UseShardedPubSub {
		res, err = a.cluster.client.PubSubShardNumSub(ctx, ch).Result()
	} else {
		res, err = a.cluster.client.PubSubNumSub(ctx, ch).Result()
	}
	if err != nil {
		return 1, fmt.Errorf("redisadapter: count servers: %w", err)
	}
	return int(max(res[ch], 1)), nil
}

// PersistSession stores the session as Node does: SET
// <sessionKeyPrefix><pid> base64(msgpack {sid, pid, rooms, data}) PX
// <MaxDisconnectionDuration>. It runs even when ctx (the socket's) is
// cancelled, bounded by RequestsTimeout.
func (a *StreamsAdapter) PersistSession(ctx context.Context, session *socketio.SessionState) error {
	rec := a.nsp.Server().Recovery()
	if rec == nil {
		return nil
	}
	value, err := encodeStreamSession(session)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
	defer cancel()
	key := a.cluster.opts.SessionKeyPrefix + session.PID
	if err := a.cluster.client.Do(ctx, "SET", key, value, "PX", rec.MaxDisconnectionDuration.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("redisadapter: persist session: %w", err)
	}
	return nil
}

// RestoreSession takes the session pid (GET and DEL in one transaction, so
// it is used once) when offset is still in the stream, and returns it with
// the broadcasts of its namespace after offset that its rooms selected, each
// with its entry id appended. A session written by a Node server restores
// here and the other way round.
func (a *StreamsAdapter) RestoreSession(ctx context.Context, pid, offset string) (*socketio.SessionState, []*parser.Packet, error) {
	if !a.recovery() {
		return nil, nil, nil
	}
	if _, _, ok := parseStreamID(offset); !ok {
		return nil, nil, nil // not a stream offset
	}
	client := a.cluster.client
	key := a.cluster.opts.SessionKeyPrefix + pid
	var get *redis.StringCmd
	_, err := client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, key)
		p.Del(ctx, key)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("redisadapter: take session: %w", err)
	}
	stored, err := get.Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("redisadapter: take session: %w", err)
	}
	found, err := client.XRangeN(ctx, a.stream, offset, offset, 1).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("redisadapter: find offset: %w", err)
	}
	if len(found) == 0 {
		return nil, nil, nil // trimmed from the stream (or never in it)
	}
	session, err := decodeStreamSession(stored)
	if err != nil {
		a.cluster.dropped.record(key, err)
		return nil, nil, err
	}
	missed, err := a.replay(ctx, session.ID, offset, session.Rooms)
	if err != nil {
		return nil, nil, err
	}
	return session, missed, nil
}

// CatchUp returns the broadcasts of the namespace after offset that rooms
// select, for the socket sid restored by RestoreSession and now in its
// rooms (socketio.SessionCatchUp): the entries added between
// RestoreSession's read and the socket joining its rooms. The reader skips
// the entries replayed here for sid.
func (a *StreamsAdapter) CatchUp(ctx context.Context, sid, offset string, rooms []string) ([]*parser.Packet, error) {
	if _, _, ok := parseStreamID(offset); !ok {
		return nil, nil
	}
	return a.replay(ctx, sid, offset, rooms)
}

// replay reads the broadcasts after offset that rooms select for the
// restored socket sid and marks them replayed to it, with replayMu held so
// that no local delivery of an entry falls between the read and the mark.
func (a *StreamsAdapter) replay(ctx context.Context, sid, offset string, rooms []string) ([]*parser.Packet, error) {
	a.replayMu.Lock()
	defer a.replayMu.Unlock()
	missed, last, err := a.missedSince(ctx, offset, rooms)
	if err != nil {
		return nil, err
	}
	a.markReplayed(sid, last)
	return missed, nil
}

var _ socketio.SessionCatchUp = (*StreamsAdapter)(nil)

// missedSince reads the stream after offset and returns the broadcasts a
// socket in rooms would have received (with Node's filter, which does not
// skip volatile ones), and the id of the last entry read.
func (a *StreamsAdapter) missedSince(ctx context.Context, offset string, rooms []string) ([]*parser.Packet, string, error) {
	var missed []*parser.Packet
	last := offset
	for range restoreMaxBatches {
		start, err := nextStreamID(last)
		if err != nil {
			return nil, "", err
		}
		entries, err := a.cluster.client.XRangeN(ctx, a.stream, start, "+", restoreBatch).Result()
		if err != nil {
			return nil, "", fmt.Errorf("redisadapter: read missed packets: %w", err)
		}
		for _, msg := range entries {
			last = msg.ID
			e, ok := streamEntryOf(msg.Values)
			if !ok || e.NSP != a.name || e.Type != "3" {
				continue
			}
			m, err := decodeStreamEntry(e)
			if err != nil {
				a.cluster.dropped.record(a.stream, fmt.Errorf("entry %s: %w", msg.ID, err))
				continue
			}
			if m.Data.RequestID != "" || !selects(rooms, m.Data.Opts) {
				continue
			}
			wp, err := m.Data.broadcastPacket()
			if err != nil {
				continue
			}
			p, err := fromWire(wp, a.name)
			if err != nil {
				a.cluster.dropped.record(a.stream, fmt.Errorf("entry %s: %w", msg.ID, err))
				continue
			}
			socketio.AppendOffset(p, msg.ID)
			missed = append(missed, p)
		}
		if len(entries) < restoreBatch {
			return missed, last, nil
		}
	}
	return nil, "", fmt.Errorf("redisadapter: more than %d entries after offset %s", restoreBatch*restoreMaxBatches, offset)
}

// selects reports whether a socket in sessionRooms was a target of a
// broadcast (Node's shouldIncludePacket).
func selects(sessionRooms []string, o *wireOpts) bool {
	if o == nil {
		return false
	}
	included := len(o.Rooms) == 0
	for _, r := range sessionRooms {
		if slices.Contains(o.Except, r) {
			return false
		}
		if !included && slices.Contains(o.Rooms, r) {
			included = true
		}
	}
	return included
}

// markReplayed remembers that the entries up to last were replayed to the
// restored socket sid.
func (a *StreamsAdapter) markReplayed(sid, last string) {
	ms, seq, ok := parseStreamID(last)
	if !ok {
		return
	}
	a.marksMu.Lock()
	defer a.marksMu.Unlock()
	if a.marks == nil {
		a.marks = map[string]streamPos{}
	}
	if len(a.marks) >= maxRestoreMarks {
		a.log.Warn("redisadapter: too many recent restores; a lagging reader may repeat a replayed packet", "namespace", a.name)
		return
	}
	a.marks[sid] = streamPos{ms, seq}
}

// markLinger is how far (in stream time) the entries must have passed a
// mark before it is forgotten: a broadcast is delivered locally by the
// server that added it and by the readers of the others, each in its own
// goroutine, so an entry older than one already seen may still come.
const markLinger = 10 * time.Second

// replayedTo returns the restored sockets that the entry offset was already
// replayed to, and forgets the marks that entries have passed by more than
// markLinger.
func (a *StreamsAdapter) replayedTo(offset string) []string {
	ms, seq, ok := parseStreamID(offset)
	if !ok {
		return nil
	}
	at := streamPos{ms, seq}
	a.marksMu.Lock()
	defer a.marksMu.Unlock()
	var out []string
	for sid, mark := range a.marks {
		switch {
		case !at.after(mark):
			out = append(out, sid)
		case ms > mark.ms+uint64(markLinger.Milliseconds()):
			delete(a.marks, sid)
		}
	}
	return out
}

// Close unsubscribes the namespace's channels.
func (a *StreamsAdapter) Close(ctx context.Context) error {
	if !a.cluster.unregister(a.name) {
		return nil
	}
	return a.subscribe(ctx, false)
}
