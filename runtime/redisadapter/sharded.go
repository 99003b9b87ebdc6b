package redisadapter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketfleet/socketfleet/runtime/parser"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// Subscription modes of the sharded adapter.
const (
	socketIDLength             = 20
	subscriptionDynamic        = "dynamic"
	subscriptionDynamicPrivate = "dynamic-private"
	subscriptionStatic         = "static"
)

// ShardedOptions configures a ShardedCluster.
type ShardedOptions struct {
	// ChannelPrefix prefixes every channel (default "socket.io").
	ChannelPrefix string
	// SubscriptionMode is "dynamic" (default: one channel per public room),
	// "dynamic-private" (socket id rooms too) or "static" (no room
	// channels), as in createShardedAdapter.
	SubscriptionMode string
	// RequestsTimeout bounds fetchSockets and serverSideEmit (default 5s).
	RequestsTimeout time.Duration
	// Logger receives warnings (default: discarded).
	Logger *slog.Logger
}

// ShardedCluster is the sharded Pub/Sub link (Redis ≥ 7, SPUBLISH and
// SSUBSCRIBE), compatible with Node's createShardedAdapter from
// @socket.io/redis-adapter 8.3. Its protocol is not the classic one: all
// servers of a cluster must use the same variant. With a Redis Cluster
// client, every channel of the process must hash to one node; use it with a
// standalone or Sentinel-managed Redis.
type ShardedCluster struct {
	link[*ShardedAdapter]
	opts ShardedOptions
	// roomOps serializes room channel (un)subscriptions, which the in-memory
	// adapter's hooks may not do themselves.
	roomOps chan roomOp
}

type roomOp struct {
	subscribe bool
	channel   string
}

// NewSharded returns a sharded cluster on client. Pass its Adapter method as
// socketio.Options.Adapter.
func NewSharded(client redis.UniversalClient, opts ShardedOptions) *ShardedCluster {
	if opts.ChannelPrefix == "" {
		opts.ChannelPrefix = "socket.io"
	}
	if opts.SubscriptionMode == "" {
		opts.SubscriptionMode = subscriptionDynamic
	}
	if opts.RequestsTimeout <= 0 {
		opts.RequestsTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &ShardedCluster{link: newLink[*ShardedAdapter](client, opts.Logger, opts.RequestsTimeout), opts: opts,
		roomOps: make(chan roomOp, 1024)}
	c.sub = client.SSubscribe(context.Background())
	go c.dispatch(c.sub.Channel(redis.WithChannelSize(4096)))
	go c.applyRoomOps()
	return c
}

// Close unsubscribes and stops the cluster's goroutines. The client is not
// closed.
func (c *ShardedCluster) Close() error { return c.close(func() { close(c.roomOps) }) }

func (c *ShardedCluster) channel(nsp string) string { return c.opts.ChannelPrefix + "#" + nsp + "#" }

func (c *ShardedCluster) applyRoomOps() {
	for op := range c.roomOps {
		ctx, cancel := c.opCtx()
		var err error
		if op.subscribe {
			err = c.sub.SSubscribe(ctx, op.channel)
		} else {
			err = c.sub.SUnsubscribe(ctx, op.channel)
		}
		cancel()
		if err != nil {
			c.log.Warn("redisadapter: room channel", "channel", op.channel, "err", err)
		}
	}
}

// roomChannel reports whether room gets its own channel in this mode.
func (c *ShardedCluster) roomChannel(room string) bool {
	switch c.opts.SubscriptionMode {
	case subscriptionDynamicPrivate:
		return true
	case subscriptionDynamic:
		return len(room) != socketIDLength
	}
	return false
}

// Adapter is the socketio.AdapterFactory of the cluster.
func (c *ShardedCluster) Adapter(nsp *socketio.Namespace) socketio.Adapter {
	a := &ShardedAdapter{cluster: c, nsp: nsp, name: nsp.Name(), uid: newHexID()}
	hook := func(subscribe bool) func(string) {
		return func(room string) {
			if !c.roomChannel(room) {
				return
			}
			select {
			case c.roomOps <- roomOp{subscribe: subscribe, channel: c.channel(a.name) + room + "#"}:
			default:
				c.log.Warn("redisadapter: room subscription queue full", "room", room)
			}
		}
	}
	a.MemoryAdapter = socketio.NewMemoryAdapterWith(nsp, socketio.MemoryAdapterOptions{
		DisableRecovery: true,
		OnCreateRoom:    hook(true),
		OnDeleteRoom:    hook(false),
	})
	c.register(a.name, a)
	ctx, cancel := c.opCtx()
	defer cancel()
	if err := c.sub.SSubscribe(ctx, c.channel(a.name), c.channel(a.name)+a.uid+"#"); err != nil {
		c.log.Warn("redisadapter: subscribe", "namespace", a.name, "err", err)
	}
	return a
}

// dispatch routes every message of the subscription to its namespace; a
// message that cannot be decoded is counted and dropped.
func (c *ShardedCluster) dispatch(ch <-chan *redis.Message) {
	defer close(c.done)
	for msg := range ch {
		rest, ok := strings.CutPrefix(msg.Channel, c.opts.ChannelPrefix+"#")
		if !ok {
			continue
		}
		nsp, _, _ := strings.Cut(rest, "#")
		a, found := c.adapter(nsp)
		if !found {
			continue
		}
		m, err := decodeShardedMessage([]byte(msg.Payload))
		if err == nil {
			err = a.handle(msg.Channel, m)
		}
		if err != nil {
			c.dropped.record(msg.Channel, err)
		}
	}
}

// ShardedAdapter is the adapter of one namespace on a ShardedCluster.
type ShardedAdapter struct {
	*socketio.MemoryAdapter
	cluster  *ShardedCluster
	nsp      *socketio.Namespace
	name     string
	uid      string
	requests requests[*shardedData] // this server's requests by id
}

var _ socketio.Adapter = (*ShardedAdapter)(nil)

// publish sends a message of this server on channel.
func (a *ShardedAdapter) publish(ctx context.Context, channel string, typ int, data *shardedData) error {
	b, err := encodeShardedMessage(shardedMessage{Type: typ, Data: data, UID: a.uid, NSP: a.name})
	if err != nil {
		return fmt.Errorf("redisadapter: encode: %w", err)
	}
	if err := a.cluster.client.SPublish(ctx, channel, b).Err(); err != nil {
		return fmt.Errorf("redisadapter: publish on %s: %w", channel, err)
	}
	return nil
}

// publishAll sends a message to every server of the namespace.
func (a *ShardedAdapter) publishAll(ctx context.Context, typ int, data *shardedData) error {
	return a.publish(ctx, a.cluster.channel(a.name), typ, data)
}

// wireOptsOf is opts as the sharded wire carries them (flags always set).
func wireOptsOf(o socketio.BroadcastOptions) *wireOpts {
	w := optsToWire(o, true)
	return &w
}

func packetOf(p *parser.Packet) (wirePacket, error) {
	args, err := jsonToValues(p.Data, p.Attachments)
	if err != nil {
		return wirePacket{}, err
	}
	return wirePacket{Type: int(parser.Event), Data: args}, nil
}

// Broadcast publishes to the other servers (unless local), then delivers
// locally.
func (a *ShardedAdapter) Broadcast(p *parser.Packet, opts socketio.BroadcastOptions) error {
	if !opts.Flags.Local {
		if err := a.publishBroadcast(p, opts); err != nil {
			a.cluster.log.Warn("redisadapter: broadcast not forwarded", "namespace", a.name, "err", err)
		}
	}
	return a.MemoryAdapter.Broadcast(p, opts)
}

func (a *ShardedAdapter) publishBroadcast(p *parser.Packet, opts socketio.BroadcastOptions) error {
	wp, err := packetOf(p)
	if err != nil {
		return err
	}
	channel := a.cluster.channel(a.name)
	if len(opts.Rooms) == 1 && a.cluster.roomChannel(opts.Rooms[0]) {
		channel += opts.Rooms[0] + "#"
	}
	ctx, cancel := a.cluster.opCtx()
	defer cancel()
	return a.publish(ctx, channel, msgBroadcast, &shardedData{Packet: wp, Opts: wireOptsOf(opts)})
}

// ServerCount counts the servers subscribed to the namespace channel.
func (a *ShardedAdapter) ServerCount(ctx context.Context) (int, error) {
	ch := a.cluster.channel(a.name)
	res, err := a.cluster.client.PubSubShardNumSub(ctx, ch).Result()
	if err != nil {
		return 1, fmt.Errorf("redisadapter: count servers: %w", err)
	}
	return int(max(res[ch], 1)), nil
}

// BroadcastWithAck delivers to the local and remote sockets and reports
// client counts and acknowledgements per server.
func (a *ShardedAdapter) BroadcastWithAck(ctx context.Context, p *parser.Packet, opts socketio.BroadcastOptions,
	clientCount func(n int), ack func(arg json.RawMessage)) error {
	if !opts.Flags.Local {
		wp, err := packetOf(p)
		if err != nil {
			return err
		}
		id := newHexID()
		if err := a.requests.broadcastWithAck(ctx, id, clientCount, ack, func(ctx context.Context) error {
			return a.publishAll(ctx, msgBroadcast, &shardedData{Packet: wp, RequestID: id, Opts: wireOptsOf(opts)})
		}); err != nil {
			return err
		}
	}
	return a.MemoryAdapter.BroadcastWithAck(ctx, p, opts, clientCount, ack)
}

// AddSockets makes the selected sockets of every server join rooms.
func (a *ShardedAdapter) AddSockets(ctx context.Context, opts socketio.BroadcastOptions, rooms []string) error {
	if !opts.Flags.Local {
		if err := a.publishAll(ctx, msgSocketsJoin, &shardedData{Opts: wireOptsOf(opts), Rooms: nonNil(rooms)}); err != nil {
			return err
		}
	}
	return a.MemoryAdapter.AddSockets(ctx, opts, rooms)
}

// DelSockets makes the selected sockets of every server leave rooms.
func (a *ShardedAdapter) DelSockets(ctx context.Context, opts socketio.BroadcastOptions, rooms []string) error {
	if !opts.Flags.Local {
		if err := a.publishAll(ctx, msgSocketsLeave, &shardedData{Opts: wireOptsOf(opts), Rooms: nonNil(rooms)}); err != nil {
			return err
		}
	}
	return a.MemoryAdapter.DelSockets(ctx, opts, rooms)
}

// DisconnectSockets disconnects the selected sockets of every server.
func (a *ShardedAdapter) DisconnectSockets(ctx context.Context, opts socketio.BroadcastOptions, close bool) error {
	if !opts.Flags.Local {
		if err := a.publishAll(ctx, msgDisconnectSockets, &shardedData{Opts: wireOptsOf(opts), Close: &close}); err != nil {
			return err
		}
	}
	return a.MemoryAdapter.DisconnectSockets(ctx, opts, close)
}

// FetchSockets describes the selected sockets of every server.
func (a *ShardedAdapter) FetchSockets(ctx context.Context, opts socketio.BroadcastOptions) ([]socketio.SocketInfo, error) {
	sockets, err := a.MemoryAdapter.FetchSockets(ctx, opts)
	if err != nil || opts.Flags.Local {
		return sockets, err
	}
	answers, err := a.ask(ctx, msgFetchSockets, &shardedData{Opts: wireOptsOf(opts)})
	for _, d := range answers {
		sockets = append(sockets, d.Sockets...)
	}
	if err != nil {
		return sockets, fmt.Errorf("fetchSockets: %w", err)
	}
	return sockets, nil
}

// ServerSideEmit sends an event to the other servers.
func (a *ShardedAdapter) ServerSideEmit(ctx context.Context, event string, args []json.RawMessage) error {
	packet, err := eventValues(event, args)
	if err != nil {
		return err
	}
	return a.publishAll(ctx, msgServerSideEmit, &shardedData{Packet: packet})
}

// ServerSideEmitWithAck sends an event to the other servers and returns
// the first argument of each one's acknowledgement.
func (a *ShardedAdapter) ServerSideEmitWithAck(ctx context.Context, event string, args []json.RawMessage) ([]json.RawMessage, error) {
	packet, err := eventValues(event, args)
	if err != nil {
		return nil, err
	}
	answers, err := a.ask(ctx, msgServerSideEmit, &shardedData{Packet: packet})
	out := make([]json.RawMessage, 0, len(answers))
	for _, d := range answers {
		b, _ := json.Marshal(normalize(d.Packet))
		out = append(out, b)
	}
	if err != nil {
		return out, fmt.Errorf("serverSideEmit: %w: %w", err, socketio.ErrAckTimeout)
	}
	return out, nil
}

func eventValues(event string, args []json.RawMessage) ([]any, error) {
	data, err := eventData(event, args)
	if err != nil {
		return nil, err
	}
	return jsonToValues(data, nil)
}

// ask publishes a request and waits for every other server's response.
func (a *ShardedAdapter) ask(ctx context.Context, typ int, data *shardedData) ([]*shardedData, error) {
	data.RequestID = newHexID()
	return a.requests.ask(ctx, data.RequestID, a.cluster.opts.RequestsTimeout, a.ServerCount, func(ctx context.Context) error {
		return a.publishAll(ctx, typ, data)
	})
}

// handle acts on a message of any server: responses to this server's
// requests come on its private channel, the rest on the namespace's.
func (a *ShardedAdapter) handle(channel string, m shardedMessage) error {
	if m.UID == a.uid || (m.NSP != "" && m.NSP != a.name) {
		return nil
	}
	if channel == a.cluster.channel(a.name)+a.uid+"#" {
		return a.onResponse(m)
	}
	return a.onMessage(m)
}

// onMessage handles a message of another server. It returns the error of a
// message whose data it cannot use.
func (a *ShardedAdapter) onMessage(m shardedMessage) error {
	ctx, cancel := a.cluster.opCtx()
	defer cancel()
	d := m.Data
	// Responses may be sent after this returns (acks): each gets its own
	// deadline.
	respond := func(typ int, data *shardedData) {
		data.RequestID = d.RequestID
		ctx, cancel := a.cluster.opCtx()
		defer cancel()
		if err := a.publish(ctx, a.cluster.channel(a.name)+m.UID+"#", typ, data); err != nil {
			a.cluster.log.Warn("redisadapter: response not sent", "namespace", a.name, "err", err)
		}
	}
	local := optsFromWire(d.Opts)
	local.Flags.Local = true
	switch m.Type {
	case msgBroadcast:
		wp, err := d.broadcastPacket()
		if err != nil {
			return err
		}
		p, err := fromWire(wp, a.name)
		if err != nil {
			return fmt.Errorf("broadcast packet: %w", err)
		}
		if d.RequestID == "" {
			_ = a.MemoryAdapter.Broadcast(p, local)
			return nil
		}
		a.ackBroadcast(p, local, d.Opts, respond)
	case msgSocketsJoin:
		_ = a.MemoryAdapter.AddSockets(ctx, local, d.Rooms)
	case msgSocketsLeave:
		_ = a.MemoryAdapter.DelSockets(ctx, local, d.Rooms)
	case msgDisconnectSockets:
		_ = a.MemoryAdapter.DisconnectSockets(ctx, local, d.Close != nil && *d.Close)
	case msgFetchSockets:
		sockets, _ := a.MemoryAdapter.FetchSockets(ctx, local)
		respond(msgFetchSocketsResponse, &shardedData{Sockets: nonNilSockets(sockets)})
	case msgServerSideEmit:
		return a.onServerSideEmit(d, respond)
	}
	return nil
}

func (a *ShardedAdapter) onServerSideEmit(d *shardedData, respond func(int, *shardedData)) error {
	values, _ := d.Packet.([]any)
	data, err := json.Marshal(normalize(values))
	var args []json.RawMessage
	if err == nil {
		args, err = parser.Args(data, nil)
	}
	if err == nil && len(args) == 0 {
		err = errors.New("no event name")
	}
	var event string
	if err == nil {
		err = json.Unmarshal(args[0], &event)
	}
	if err != nil {
		return fmt.Errorf("serverSideEmit: %w", err)
	}
	var ack func(json.RawMessage)
	if d.RequestID != "" {
		var once sync.Once
		ack = func(arg json.RawMessage) {
			once.Do(func() {
				var v any
				_ = json.Unmarshal(arg, &v)
				respond(msgServerSideEmitResponse, &shardedData{Packet: v})
			})
		}
	}
	a.nsp.HandleServerSideEmit(context.Background(), event, args[1:], ack)
	return nil
}

// ackBroadcast delivers an acknowledged broadcast of another server and
// answers with the client count and each acknowledgement.
func (a *ShardedAdapter) ackBroadcast(p *parser.Packet, opts socketio.BroadcastOptions, wire *wireOpts, respond func(int, *shardedData)) {
	timeout := a.cluster.opts.RequestsTimeout
	if wire.Flags != nil && wire.Flags.Timeout > 0 {
		timeout = time.Duration(wire.Flags.Timeout) * time.Millisecond
	}
	opts.Flags = socketio.BroadcastFlags{Local: true}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	context.AfterFunc(ctx, cancel)
	_ = a.MemoryAdapter.BroadcastWithAck(ctx, p, opts, func(n int) {
		respond(msgBroadcastClientCount, &shardedData{ClientCount: &n})
		if n == 0 {
			cancel()
		}
	}, func(arg json.RawMessage) {
		var v any
		_ = json.Unmarshal(arg, &v)
		respond(msgBroadcastAck, &shardedData{Packet: v})
	})
}

// onResponse routes a response to the request waiting for it.
func (a *ShardedAdapter) onResponse(m shardedMessage) error {
	p := a.requests.lookup(m.Data.RequestID)
	if p == nil {
		return nil
	}
	switch m.Type {
	case msgBroadcastClientCount:
		if m.Data.ClientCount != nil && p.ackCount != nil {
			p.ackCount(*m.Data.ClientCount)
		}
	case msgBroadcastAck:
		if p.ack != nil {
			b, err := json.Marshal(normalize(m.Data.Packet))
			if err != nil {
				return fmt.Errorf("acknowledgement: %w", err)
			}
			p.ack(b)
		}
	case msgFetchSocketsResponse, msgServerSideEmitResponse:
		p.answer(m.Data)
	}
	return nil
}

// Close unsubscribes the namespace's channels.
func (a *ShardedAdapter) Close(ctx context.Context) error {
	c := a.cluster
	if !c.unregister(a.name) {
		return nil
	}
	return c.sub.SUnsubscribe(ctx, c.channel(a.name), c.channel(a.name)+a.uid+"#")
}

// newHexID returns 16 hex characters, like the ClusterAdapter's ids.
func newHexID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
