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

// Message types of the sharded adapter (socket.io-adapter's ClusterAdapter
// MessageType enum).
const (
	msgBroadcast               = 3
	msgSocketsJoin             = 4
	msgSocketsLeave            = 5
	msgDisconnectSockets       = 6
	msgFetchSockets            = 7
	msgFetchSocketsResponse    = 8
	msgServerSideEmit          = 9
	msgServerSideEmitResponse  = 10
	msgBroadcastClientCount    = 11
	msgBroadcastAck            = 12
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
	client redis.UniversalClient
	opts   ShardedOptions
	log    *slog.Logger
	sub    *redis.PubSub

	mu       sync.Mutex
	adapters map[string]*ShardedAdapter
	closed   bool
	done     chan struct{}
	// roomOps serializes room channel (un)subscriptions, which the in-memory
	// adapter's hooks may not do themselves.
	roomOps chan roomOp
	dropped droppedMessages
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
	c := &ShardedCluster{client: client, opts: opts, log: opts.Logger, adapters: map[string]*ShardedAdapter{},
		done: make(chan struct{}), roomOps: make(chan roomOp, 1024)}
	c.dropped.log = opts.Logger
	c.sub = client.SSubscribe(context.Background())
	go c.dispatch(c.sub.Channel(redis.WithChannelSize(4096)))
	go c.applyRoomOps()
	return c
}

// Ping reports whether Redis answers.
func (c *ShardedCluster) Ping(ctx context.Context) error { return c.client.Ping(ctx).Err() }

// DecodeErrors counts the messages from Redis dropped because they could
// not be decoded (logged at most once per 10 seconds).
func (c *ShardedCluster) DecodeErrors() uint64 { return c.dropped.count() }

// Close unsubscribes and stops the cluster's goroutines. The client is not
// closed.
func (c *ShardedCluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.roomOps)
	err := c.sub.Close()
	<-c.done
	return err
}

func (c *ShardedCluster) channel(nsp string) string { return c.opts.ChannelPrefix + "#" + nsp + "#" }

func (c *ShardedCluster) applyRoomOps() {
	for op := range c.roomOps {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.RequestsTimeout)
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
	a := &ShardedAdapter{cluster: c, nsp: nsp, name: nsp.Name(), uid: newHexID(), pending: map[string]*pendingRequest{}}
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
	c.mu.Lock()
	c.adapters[a.name] = a
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.RequestsTimeout)
	defer cancel()
	if err := c.sub.SSubscribe(ctx, c.channel(a.name), c.channel(a.name)+a.uid+"#"); err != nil {
		c.log.Warn("redisadapter: subscribe", "namespace", a.name, "err", err)
	}
	return a
}

func (c *ShardedCluster) dispatch(ch <-chan *redis.Message) {
	defer close(c.done)
	for msg := range ch {
		rest, ok := strings.CutPrefix(msg.Channel, c.opts.ChannelPrefix+"#")
		if !ok {
			continue
		}
		nsp, _, _ := strings.Cut(rest, "#")
		c.mu.Lock()
		a := c.adapters[nsp]
		c.mu.Unlock()
		if a == nil {
			continue
		}
		env, err := decodeEnvelope([]byte(msg.Payload))
		if err != nil {
			c.dropped.record(msg.Channel, err)
			continue
		}
		if env.UID == a.uid || (env.NSP != "" && env.NSP != a.name) {
			continue
		}
		if msg.Channel == c.channel(a.name)+a.uid+"#" {
			err = a.onResponse(env)
		} else {
			err = a.onMessage(env)
		}
		if err != nil {
			c.dropped.record(msg.Channel, err)
		}
	}
}

// envelope is a ClusterMessage: {type, data, uid, nsp}.
type envelope struct {
	Type int            `json:"type" msgpack:"type"`
	Data map[string]any `json:"data,omitempty" msgpack:"data,omitempty"`
	UID  string         `json:"uid" msgpack:"uid"`
	NSP  string         `json:"nsp" msgpack:"nsp"`
}

// decodeEnvelope reads a JSON or msgpack envelope into generic values
// ([]byte for binary, int64/float64 for numbers).
func decodeEnvelope(payload []byte) (envelope, error) {
	var env envelope
	if len(payload) > 0 && payload[0] == '{' {
		var raw struct {
			Type int             `json:"type"`
			Data json.RawMessage `json:"data"`
			UID  string          `json:"uid"`
			NSP  string          `json:"nsp"`
		}
		if err := json.Unmarshal(payload, &raw); err != nil {
			return env, fmt.Errorf("envelope: %w", err)
		}
		env = envelope{Type: raw.Type, UID: raw.UID, NSP: raw.NSP}
		if len(raw.Data) > 0 {
			v, err := jsonToValues(append(append([]byte("["), raw.Data...), ']'), nil)
			if err != nil {
				return env, fmt.Errorf("envelope data: %w", err)
			}
			var ok bool
			if env.Data, ok = v[0].(map[string]any); !ok && v[0] != nil {
				return env, fmt.Errorf("envelope data: %T, not an object", v[0])
			}
		}
		return env, nil
	}
	if err := unmarshalMsgpack(payload, &env); err != nil {
		return env, fmt.Errorf("envelope: %w", err)
	}
	// Nested msgpack maps decode with interface keys.
	env.Data, _ = normalize(env.Data).(map[string]any)
	return env, nil
}

// encodeEnvelope writes JSON, or msgpack when the data holds binary (as
// Node does for the types that may carry it).
func encodeEnvelope(env envelope) ([]byte, error) {
	if containsBytes(env.Data) {
		return marshalMsgpack(&env)
	}
	return json.Marshal(env)
}

func containsBytes(v any) bool {
	switch x := v.(type) {
	case []byte:
		return true
	case []any:
		for _, e := range x {
			if containsBytes(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if containsBytes(e) {
				return true
			}
		}
	case wirePacket:
		return containsBytes(x.Data)
	}
	return false
}

// ShardedAdapter is the adapter of one namespace on a ShardedCluster.
type ShardedAdapter struct {
	*socketio.MemoryAdapter
	cluster *ShardedCluster
	nsp     *socketio.Namespace
	name    string
	uid     string

	mu      sync.Mutex
	pending map[string]*pendingRequest
}

var _ socketio.Adapter = (*ShardedAdapter)(nil)

func (a *ShardedAdapter) publish(ctx context.Context, channel string, typ int, data map[string]any) error {
	b, err := encodeEnvelope(envelope{Type: typ, Data: data, UID: a.uid, NSP: a.name})
	if err != nil {
		return fmt.Errorf("redisadapter: encode: %w", err)
	}
	if err := a.cluster.client.SPublish(ctx, channel, b).Err(); err != nil {
		return fmt.Errorf("redisadapter: publish on %s: %w", channel, err)
	}
	return nil
}

func (a *ShardedAdapter) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), a.cluster.opts.RequestsTimeout)
}

func wireOptsMap(o socketio.BroadcastOptions) map[string]any {
	w := optsToWire(o, true)
	flags := map[string]any{}
	if w.Flags.Volatile {
		flags["volatile"] = true
	}
	if w.Flags.Compress != nil {
		flags["compress"] = *w.Flags.Compress
	}
	if w.Flags.Timeout > 0 {
		flags["timeout"] = w.Flags.Timeout
	}
	if w.Flags.ExpectSingleResponse {
		flags["expectSingleResponse"] = true
	}
	return map[string]any{"rooms": w.Rooms, "except": w.Except, "flags": flags}
}

func packetMap(p *parser.Packet) (map[string]any, error) {
	args, err := jsonToValues(p.Data, p.Attachments)
	if err != nil {
		return nil, err
	}
	return map[string]any{"type": int(parser.Event), "data": args}, nil
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
	pm, err := packetMap(p)
	if err != nil {
		return err
	}
	channel := a.cluster.channel(a.name)
	if len(opts.Rooms) == 1 && a.cluster.roomChannel(opts.Rooms[0]) {
		channel += opts.Rooms[0] + "#"
	}
	ctx, cancel := a.opCtx()
	defer cancel()
	return a.publish(ctx, channel, msgBroadcast, map[string]any{"packet": pm, "opts": wireOptsMap(opts)})
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
		pm, err := packetMap(p)
		if err != nil {
			return err
		}
		id := newHexID()
		a.track(id, &pendingRequest{ackCount: clientCount, ack: ack})
		context.AfterFunc(ctx, func() { a.untrack(id) })
		if err := a.publish(ctx, a.cluster.channel(a.name), msgBroadcast,
			map[string]any{"packet": pm, "requestId": id, "opts": wireOptsMap(opts)}); err != nil {
			a.untrack(id)
			return err
		}
	}
	return a.MemoryAdapter.BroadcastWithAck(ctx, p, opts, clientCount, ack)
}

// AddSockets makes the selected sockets of every server join rooms.
func (a *ShardedAdapter) AddSockets(ctx context.Context, opts socketio.BroadcastOptions, rooms []string) error {
	if !opts.Flags.Local {
		if err := a.publish(ctx, a.cluster.channel(a.name), msgSocketsJoin, map[string]any{"opts": wireOptsMap(opts), "rooms": nonNil(rooms)}); err != nil {
			return err
		}
	}
	return a.MemoryAdapter.AddSockets(ctx, opts, rooms)
}

// DelSockets makes the selected sockets of every server leave rooms.
func (a *ShardedAdapter) DelSockets(ctx context.Context, opts socketio.BroadcastOptions, rooms []string) error {
	if !opts.Flags.Local {
		if err := a.publish(ctx, a.cluster.channel(a.name), msgSocketsLeave, map[string]any{"opts": wireOptsMap(opts), "rooms": nonNil(rooms)}); err != nil {
			return err
		}
	}
	return a.MemoryAdapter.DelSockets(ctx, opts, rooms)
}

// DisconnectSockets disconnects the selected sockets of every server.
func (a *ShardedAdapter) DisconnectSockets(ctx context.Context, opts socketio.BroadcastOptions, close bool) error {
	if !opts.Flags.Local {
		if err := a.publish(ctx, a.cluster.channel(a.name), msgDisconnectSockets, map[string]any{"opts": wireOptsMap(opts), "close": close}); err != nil {
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
	responses, err := a.ask(ctx, msgFetchSockets, map[string]any{"opts": wireOptsMap(opts)})
	for _, r := range responses {
		var remote []socketio.SocketInfo
		if b, err := json.Marshal(r["sockets"]); err == nil && json.Unmarshal(b, &remote) == nil {
			sockets = append(sockets, remote...)
		}
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
	return a.publish(ctx, a.cluster.channel(a.name), msgServerSideEmit, map[string]any{"packet": packet})
}

// ServerSideEmitWithAck sends an event to the other servers and returns
// the first argument of each one's acknowledgement.
func (a *ShardedAdapter) ServerSideEmitWithAck(ctx context.Context, event string, args []json.RawMessage) ([]json.RawMessage, error) {
	packet, err := eventValues(event, args)
	if err != nil {
		return nil, err
	}
	responses, err := a.ask(ctx, msgServerSideEmit, map[string]any{"packet": packet})
	out := make([]json.RawMessage, 0, len(responses))
	for _, r := range responses {
		b, _ := json.Marshal(normalize(r["packet"]))
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
func (a *ShardedAdapter) ask(ctx context.Context, typ int, data map[string]any) ([]map[string]any, error) {
	servers, err := a.ServerCount(ctx)
	if err != nil {
		return nil, err
	}
	if servers <= 1 {
		return nil, nil
	}
	id := newHexID()
	data["requestId"] = id
	p := &pendingRequest{envelopes: make(chan map[string]any, servers)}
	a.track(id, p)
	defer a.untrack(id)
	if err := a.publish(ctx, a.cluster.channel(a.name), typ, data); err != nil {
		return nil, err
	}
	timer := time.NewTimer(a.cluster.opts.RequestsTimeout)
	defer timer.Stop()
	var out []map[string]any
	for len(out) < servers-1 {
		select {
		case r := <-p.envelopes:
			out = append(out, r)
		case <-timer.C:
			return out, fmt.Errorf("%w: %d of %d responses", ErrTimeout, len(out), servers-1)
		case <-ctx.Done():
			return out, fmt.Errorf("%w: %d of %d responses: %w", ErrTimeout, len(out), servers-1, ctx.Err())
		}
	}
	return out, nil
}

func (a *ShardedAdapter) track(id string, p *pendingRequest) {
	a.mu.Lock()
	a.pending[id] = p
	a.mu.Unlock()
}

func (a *ShardedAdapter) untrack(id string) {
	a.mu.Lock()
	delete(a.pending, id)
	a.mu.Unlock()
}

func (a *ShardedAdapter) lookup(id string) *pendingRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pending[id]
}

// optsFromMap reads wire BroadcastOptions from a decoded envelope.
func optsFromMap(v any) socketio.BroadcastOptions {
	m, _ := v.(map[string]any)
	var o socketio.BroadcastOptions
	o.Rooms = stringsOf(m["rooms"])
	o.Except = stringsOf(m["except"])
	if flags, ok := m["flags"].(map[string]any); ok {
		o.Flags.Volatile, _ = flags["volatile"].(bool)
		if c, ok := flags["compress"].(bool); ok {
			o.Flags.Compress = &c
		}
	}
	o.Flags.Local = true
	return o
}

// stringsOf reads a list of room names (numbers allowed, as Node allows).
func stringsOf(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// onMessage handles a message of another server. It returns the error of a
// message whose data it cannot decode.
func (a *ShardedAdapter) onMessage(env envelope) error {
	ctx, cancel := a.opCtx()
	defer cancel()
	d := env.Data
	switch env.Type {
	case msgBroadcast, msgSocketsJoin, msgSocketsLeave, msgDisconnectSockets, msgFetchSockets:
		// Node fails on these without opts; all sockets is not the default.
		if _, ok := d["opts"].(map[string]any); !ok {
			return fmt.Errorf("message of type %d without opts", env.Type)
		}
	}
	requestID, _ := d["requestId"].(string)
	// Responses may be sent after this returns (acks): each gets its own
	// deadline.
	respond := func(typ int, data map[string]any) {
		data["requestId"] = requestID
		ctx, cancel := a.opCtx()
		defer cancel()
		if err := a.publish(ctx, a.cluster.channel(a.name)+env.UID+"#", typ, data); err != nil {
			a.cluster.log.Warn("redisadapter: response not sent", "namespace", a.name, "err", err)
		}
	}
	switch env.Type {
	case msgBroadcast:
		pm, _ := d["packet"].(map[string]any)
		args, _ := pm["data"].([]any)
		p, err := fromWire(wirePacket{Data: args}, a.name)
		if err != nil {
			return fmt.Errorf("broadcast packet: %w", err)
		}
		opts := optsFromMap(d["opts"])
		if requestID == "" {
			_ = a.MemoryAdapter.Broadcast(p, opts)
			return nil
		}
		a.ackBroadcast(p, opts, d["opts"], respond)
	case msgSocketsJoin:
		_ = a.MemoryAdapter.AddSockets(ctx, optsFromMap(d["opts"]), stringsOf(d["rooms"]))
	case msgSocketsLeave:
		_ = a.MemoryAdapter.DelSockets(ctx, optsFromMap(d["opts"]), stringsOf(d["rooms"]))
	case msgDisconnectSockets:
		closeConn, _ := d["close"].(bool)
		_ = a.MemoryAdapter.DisconnectSockets(ctx, optsFromMap(d["opts"]), closeConn)
	case msgFetchSockets:
		sockets, _ := a.MemoryAdapter.FetchSockets(ctx, optsFromMap(d["opts"]))
		respond(msgFetchSocketsResponse, map[string]any{"sockets": nonNilSockets(sockets)})
	case msgServerSideEmit:
		values, _ := d["packet"].([]any)
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
		if requestID != "" {
			var once sync.Once
			ack = func(arg json.RawMessage) {
				once.Do(func() {
					var v any
					_ = json.Unmarshal(arg, &v)
					respond(msgServerSideEmitResponse, map[string]any{"packet": v})
				})
			}
		}
		a.nsp.HandleServerSideEmit(context.Background(), event, args[1:], ack)
	}
	return nil
}

// ackBroadcast delivers an acknowledged broadcast of another server and
// answers with the client count and each acknowledgement.
func (a *ShardedAdapter) ackBroadcast(p *parser.Packet, opts socketio.BroadcastOptions, rawOpts any, respond func(int, map[string]any)) {
	timeout := a.cluster.opts.RequestsTimeout
	if m, ok := rawOpts.(map[string]any); ok {
		if flags, ok := m["flags"].(map[string]any); ok {
			if ms, ok := toInt64(flags["timeout"]); ok && ms > 0 {
				timeout = time.Duration(ms) * time.Millisecond
			}
		}
	}
	opts.Flags = socketio.BroadcastFlags{Local: true}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	context.AfterFunc(ctx, cancel)
	_ = a.MemoryAdapter.BroadcastWithAck(ctx, p, opts, func(n int) {
		respond(msgBroadcastClientCount, map[string]any{"clientCount": n})
		if n == 0 {
			cancel()
		}
	}, func(arg json.RawMessage) {
		var v any
		_ = json.Unmarshal(arg, &v)
		respond(msgBroadcastAck, map[string]any{"packet": v})
	})
}

// onResponse routes a response to the request waiting for it. It returns
// the error of a response whose data it cannot decode.
func (a *ShardedAdapter) onResponse(env envelope) error {
	id, _ := env.Data["requestId"].(string)
	p := a.lookup(id)
	if p == nil {
		return nil
	}
	switch env.Type {
	case msgBroadcastClientCount:
		if n, ok := toInt64(env.Data["clientCount"]); ok && p.ackCount != nil {
			p.ackCount(int(n))
		}
	case msgBroadcastAck:
		if p.ack != nil {
			b, err := json.Marshal(normalize(env.Data["packet"]))
			if err != nil {
				return fmt.Errorf("acknowledgement: %w", err)
			}
			p.ack(b)
		}
	case msgFetchSocketsResponse, msgServerSideEmitResponse:
		if p.envelopes != nil {
			select {
			case p.envelopes <- env.Data:
			default:
			}
		}
	}
	return nil
}

// Close unsubscribes the namespace's channels.
func (a *ShardedAdapter) Close(ctx context.Context) error {
	c := a.cluster
	c.mu.Lock()
	delete(c.adapters, a.name)
	closed := c.closed
	c.mu.Unlock()
	if closed {
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

// toInt64 reads an integer decoded from JSON or msgpack (whose decoder
// picks the smallest Go integer type).
func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), true
	case float64:
		return int64(x), x == float64(int64(x))
	}
	return 0, false
}
