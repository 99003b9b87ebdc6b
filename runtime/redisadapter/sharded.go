package redisadapter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
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
	// Outbox bounds the broadcasts kept while Redis is away.
	Outbox OutboxOptions
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
	c := &ShardedCluster{link: newLink[*ShardedAdapter](client, opts.Logger, opts.RequestsTimeout, opts.Outbox, pubSubResubscribeGrace), opts: opts,
		roomOps: make(chan roomOp, 1024)}
	c.subscribe(true)
	c.startPublisher(true)
	go c.dispatchByNamespace(c.sub.Channel(redis.WithChannelSize(4096)), c.opts.ChannelPrefix+"#", c.handleMessage)
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
	a := &ShardedAdapter{member: newMember(nsp, c.log, c.opts.RequestsTimeout), cluster: c}
	a.send = func(ctx context.Context, typ int, data *shardedData) (string, error) {
		return "", a.publish(ctx, c.channel(a.name), typ, data)
	}
	a.respond = func(ctx context.Context, requester string, typ int, data *shardedData) error {
		return a.publish(ctx, c.channel(a.name)+requester+"#", typ, data)
	}
	a.serverCount = a.ServerCount
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

// handleMessage decodes a message of the subscription for a.
func (c *ShardedCluster) handleMessage(a *ShardedAdapter, channel string, payload []byte) error {
	m, err := decodeShardedMessage(payload)
	if err != nil {
		return err
	}
	return a.handle(channel, m)
}

// ShardedAdapter is the adapter of one namespace on a ShardedCluster.
type ShardedAdapter struct {
	member
	cluster *ShardedCluster
}

var _ socketio.Adapter = (*ShardedAdapter)(nil)

// publish sends a message of this server on channel.
func (a *ShardedAdapter) publish(ctx context.Context, channel string, typ int, data *shardedData) error {
	b, err := encodeShardedMessage(shardedMessage{Type: typ, Data: data, UID: a.uid, NSP: a.name})
	if err != nil {
		return fmt.Errorf("redisadapter: encode: %w", err)
	}
	return a.cluster.publishAndWait(ctx, channel, b)
}

// Broadcast queues the packet for the other servers (unless local; see
// Adapter.Broadcast), then delivers it locally.
func (a *ShardedAdapter) Broadcast(p *parser.Packet, opts socketio.BroadcastOptions) error {
	if !opts.Flags.Local {
		if err := a.publishBroadcast(p, opts); err != nil {
			a.cluster.unforwarded.record(a.cluster.channel(a.name), err)
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
	b, err := encodeShardedMessage(shardedMessage{Type: msgBroadcast, Data: &shardedData{Packet: wp, Opts: wireOptsOf(opts)}, UID: a.uid, NSP: a.name})
	if err != nil {
		return fmt.Errorf("redisadapter: encode: %w", err)
	}
	a.cluster.link.publishBroadcast(channel, b)
	return nil
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

// handle acts on a message of any server: responses to this server's
// requests come on its private channel, the rest on the namespace's.
func (a *ShardedAdapter) handle(channel string, m shardedMessage) error {
	if a.ignores(m) {
		return nil
	}
	if channel == a.cluster.channel(a.name)+a.uid+"#" {
		return a.onResponse(m)
	}
	return a.onMessage(m, "")
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
