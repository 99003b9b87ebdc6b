// Package redisadapter links Socket.IO servers through Redis Pub/Sub,
// byte-compatible with Node's @socket.io/redis-adapter 8.3 (createAdapter):
// Go and Node servers can share one cluster, and @socket.io/redis-emitter
// publishes to both.
//
//	cluster := redisadapter.New(rdb, redisadapter.Options{})
//	defer cluster.Close()
//	srv := socketio.NewServer(socketio.Options{Adapter: cluster.Adapter})
//
// Wire format (docs/redis-wire.md): broadcasts are
// msgpack [uid, packet, opts] on `<key>#<nsp>#` (or `<key>#<nsp>#<room>#`
// for one room), requests and responses are JSON on `<key>-request#<nsp>#`
// and `<key>-response#<nsp>#`, except the acknowledged broadcast and its
// acks, which are msgpack. The process holds exactly one subscriber
// connection, because servers count each other with PUBSUB NUMSUB.
//
// Two other protocols share the package: NewSharded (createShardedAdapter,
// sharded Pub/Sub) and NewStreams (@socket.io/redis-streams-adapter 0.3:
// Redis Streams plus Pub/Sub, with connection state recovery across
// servers). The servers of one cluster must all speak the same one.
//
// When Redis is unreachable, local delivery goes on, cluster operations
// fail with an error, and go-redis reconnects the subscription by itself.
package redisadapter

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketfleet/socketfleet/runtime/parser"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// Options configures a Cluster.
type Options struct {
	// Key prefixes every channel (default "socket.io").
	Key string
	// RequestsTimeout bounds fetchSockets and serverSideEmit requests
	// (default 5s).
	RequestsTimeout time.Duration
	// Logger receives warnings (default: discarded).
	Logger *slog.Logger
	// Outbox bounds the broadcasts kept while Redis is away.
	Outbox OutboxOptions
}

// ErrTimeout is wrapped by cluster requests that did not get every
// server's answer in time.
var ErrTimeout = errors.New("redisadapter: timeout reached")

// Cluster is the link of one process to the others: one subscriber
// connection shared by the adapters of every namespace.
type Cluster struct {
	link[*Adapter]
	opts Options
}

// New returns a cluster on client. Pass its Adapter method as
// socketio.Options.Adapter.
func New(client redis.UniversalClient, opts Options) *Cluster {
	if opts.Key == "" {
		opts.Key = "socket.io"
	}
	if opts.RequestsTimeout <= 0 {
		opts.RequestsTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{link: newLink[*Adapter](client, opts.Logger, opts.RequestsTimeout, opts.Outbox, pubSubResubscribeGrace), opts: opts}
	c.subscribe(false)
	c.startPublisher(false)
	go c.dispatch(c.sub.Channel(redis.WithChannelSize(4096)))
	return c
}

// Close unsubscribes and stops the dispatcher. The client is not closed.
func (c *Cluster) Close() error { return c.close(func() {}) }

func (c *Cluster) broadcastChannel(nsp string) string { return c.opts.Key + "#" + nsp + "#" }
func (c *Cluster) requestChannel(nsp string) string   { return c.opts.Key + "-request#" + nsp + "#" }
func (c *Cluster) responseChannel(nsp string) string  { return c.opts.Key + "-response#" + nsp + "#" }

// Adapter is the socketio.AdapterFactory of the cluster.
func (c *Cluster) Adapter(nsp *socketio.Namespace) socketio.Adapter {
	a := &Adapter{cluster: c, nsp: nsp, name: nsp.Name(), uid: newID()}
	a.MemoryAdapter = socketio.NewMemoryAdapterWith(nsp, socketio.MemoryAdapterOptions{DisableRecovery: true})
	c.register(a.name, a)
	ctx, cancel := c.opCtx()
	defer cancel()
	if err := c.sub.PSubscribe(ctx, c.broadcastChannel(a.name)+"*"); err != nil {
		c.log.Warn("redisadapter: subscribe", "namespace", a.name, "err", err)
	}
	if err := c.sub.Subscribe(ctx, c.requestChannel(a.name), c.responseChannel(a.name), c.responseChannel(a.name)+a.uid+"#"); err != nil {
		c.log.Warn("redisadapter: subscribe", "namespace", a.name, "err", err)
	}
	return a
}

// dispatch routes every message of the subscription to its namespace.
func (c *Cluster) dispatch(ch <-chan *redis.Message) {
	defer close(c.done)
	for msg := range ch {
		kind, nsp, room, ok := c.parseChannel(msg.Channel)
		if !ok {
			continue
		}
		a, found := c.adapter(nsp)
		if !found {
			continue
		}
		payload := []byte(msg.Payload)
		var err error
		switch kind {
		case "broadcast":
			err = a.onBroadcast(room, payload)
		case "request":
			err = a.onRequest(payload)
		case "response":
			err = a.onResponse(payload)
		}
		if err != nil {
			c.dropped.record(msg.Channel, err)
		}
	}
}

// parseChannel splits a channel name into its kind, namespace and room.
func (c *Cluster) parseChannel(ch string) (kind, nsp, room string, ok bool) {
	for _, k := range []string{"request", "response"} {
		prefix := c.opts.Key + "-" + k + "#"
		if rest, found := strings.CutPrefix(ch, prefix); found {
			nsp, _, ok = strings.Cut(rest, "#")
			return k, nsp, "", ok
		}
	}
	rest, found := strings.CutPrefix(ch, c.opts.Key+"#")
	if !found || !strings.HasSuffix(rest, "#") {
		return "", "", "", false
	}
	rest = rest[:len(rest)-1]
	nsp, room, _ = strings.Cut(rest, "#")
	return "broadcast", nsp, room, true
}

// Adapter is the adapter of one namespace: the in-memory adapter for the
// local sockets plus the Redis link for the others.
type Adapter struct {
	*socketio.MemoryAdapter
	cluster  *Cluster
	nsp      *socketio.Namespace
	name     string
	uid      string
	requests requests[response] // this server's requests by id
}

var _ socketio.Adapter = (*Adapter)(nil)

func (a *Adapter) publish(ctx context.Context, channel string, payload []byte) error {
	return a.cluster.publishAndWait(ctx, channel, payload)
}

func (a *Adapter) publishJSON(ctx context.Context, channel string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("redisadapter: encode: %w", err)
	}
	return a.publish(ctx, channel, b)
}

// Broadcast queues the packet for the other servers (unless local) and
// delivers it to the local sockets: the publish goes to Redis after this
// server's earlier ones without the emit waiting for it, and while Redis is
// away it waits in the outbox (OutboxOptions).
func (a *Adapter) Broadcast(p *parser.Packet, opts socketio.BroadcastOptions) error {
	if !opts.Flags.Local {
		if err := a.publishBroadcast(p, opts); err != nil {
			a.cluster.unforwarded.record(a.cluster.broadcastChannel(a.name), err)
		}
	}
	return a.MemoryAdapter.Broadcast(p, opts)
}

// publishBroadcast encodes the packet and queues it for the other servers;
// an error means it could not be encoded.
func (a *Adapter) publishBroadcast(p *parser.Packet, opts socketio.BroadcastOptions) error {
	wp, err := toWire(p, a.name)
	if err != nil {
		return err
	}
	payload, err := marshalMsgpack(&broadcastMessage{UID: a.uid, Packet: wp, Opts: optsToWire(opts, true)})
	if err != nil {
		return err
	}
	channel := a.cluster.broadcastChannel(a.name)
	if len(opts.Rooms) == 1 {
		channel += opts.Rooms[0] + "#"
	}
	a.cluster.link.publishBroadcast(channel, payload)
	return nil
}

// onBroadcast delivers a broadcast from another server. It returns the
// error of a message it cannot decode.
func (a *Adapter) onBroadcast(room string, payload []byte) error {
	if room != "" && !a.HasRoom(room) {
		return nil // nobody here: skip decoding
	}
	var m broadcastMessage
	if err := unmarshalMsgpack(payload, &m); err != nil {
		return fmt.Errorf("broadcast: %w", err)
	}
	if m.UID == a.uid || (m.Packet.NSP != "" && m.Packet.NSP != a.name) {
		return nil
	}
	p, err := fromWire(m.Packet, a.name)
	if err != nil {
		return fmt.Errorf("broadcast packet: %w", err)
	}
	opts := optsFromWire(&m.Opts)
	opts.Flags.Local = true
	_ = a.MemoryAdapter.Broadcast(p, opts)
	return nil
}

// ServerCount counts the servers subscribed to the namespace's request
// channel, this one included.
func (a *Adapter) ServerCount(ctx context.Context) (int, error) {
	ch := a.cluster.requestChannel(a.name)
	res, err := a.cluster.client.PubSubNumSub(ctx, ch).Result()
	if err != nil {
		return 1, fmt.Errorf("redisadapter: count servers: %w", err)
	}
	return int(max(res[ch], 1)), nil
}

// BroadcastWithAck sends packet to the local and remote sockets selected
// by opts and reports client counts and acknowledgements per server.
func (a *Adapter) BroadcastWithAck(ctx context.Context, p *parser.Packet, opts socketio.BroadcastOptions,
	clientCount func(n int), ack func(arg json.RawMessage)) error {
	if !opts.Flags.Local {
		wp, err := toWire(p, a.name)
		if err != nil {
			return err
		}
		id := newID()
		payload, err := marshalMsgpack(&ackBroadcastRequest{UID: a.uid, RequestID: id, Type: reqBroadcast, Packet: wp, Opts: optsToWire(opts, true)})
		if err != nil {
			return err
		}
		if err := a.requests.broadcastWithAck(ctx, id, clientCount, ack, func(ctx context.Context) error {
			return a.publish(ctx, a.cluster.requestChannel(a.name), payload)
		}); err != nil {
			return localOnly(ctx, a.MemoryAdapter, p, opts, clientCount, ack, err)
		}
	}
	return a.MemoryAdapter.BroadcastWithAck(ctx, p, opts, clientCount, ack)
}

// AddSockets makes the selected sockets of every server join rooms.
func (a *Adapter) AddSockets(ctx context.Context, opts socketio.BroadcastOptions, rooms []string) error {
	return a.remoteMembership(ctx, reqRemoteJoin, opts, rooms, a.MemoryAdapter.AddSockets)
}

// DelSockets makes the selected sockets of every server leave rooms.
func (a *Adapter) DelSockets(ctx context.Context, opts socketio.BroadcastOptions, rooms []string) error {
	return a.remoteMembership(ctx, reqRemoteLeave, opts, rooms, a.MemoryAdapter.DelSockets)
}

func (a *Adapter) remoteMembership(ctx context.Context, typ int, opts socketio.BroadcastOptions, rooms []string,
	local func(context.Context, socketio.BroadcastOptions, []string) error) error {
	if err := local(ctx, opts, rooms); err != nil || opts.Flags.Local {
		return err
	}
	o := optsToWire(opts, false)
	return a.publishJSON(ctx, a.cluster.requestChannel(a.name), request{UID: a.uid, Type: typ, Opts: &o, Rooms: nonNil(rooms)})
}

// DisconnectSockets disconnects the selected sockets of every server.
func (a *Adapter) DisconnectSockets(ctx context.Context, opts socketio.BroadcastOptions, close bool) error {
	if err := a.MemoryAdapter.DisconnectSockets(ctx, opts, close); err != nil || opts.Flags.Local {
		return err
	}
	o := optsToWire(opts, false)
	return a.publishJSON(ctx, a.cluster.requestChannel(a.name), request{UID: a.uid, Type: reqRemoteDisconnect, Opts: &o, Close: &close})
}

// FetchSockets describes the selected sockets of every server.
func (a *Adapter) FetchSockets(ctx context.Context, opts socketio.BroadcastOptions) ([]socketio.SocketInfo, error) {
	sockets, err := a.MemoryAdapter.FetchSockets(ctx, opts)
	if err != nil || opts.Flags.Local {
		return sockets, err
	}
	o := optsToWire(opts, false)
	responses, err := a.ask(ctx, request{UID: a.uid, Type: reqRemoteFetch, Opts: &o})
	for _, r := range responses {
		sockets = append(sockets, r.Sockets...)
	}
	if err != nil {
		return sockets, fmt.Errorf("fetchSockets: %w", err)
	}
	return sockets, nil
}

// ServerSideEmit sends an event to the other servers.
func (a *Adapter) ServerSideEmit(ctx context.Context, event string, args []json.RawMessage) error {
	data, err := eventData(event, args)
	if err != nil {
		return err
	}
	return a.publishJSON(ctx, a.cluster.requestChannel(a.name), request{UID: a.uid, Type: reqServerSideEmit, Data: data})
}

// ServerSideEmitWithAck sends an event to the other servers and returns
// the first argument of each one's acknowledgement.
func (a *Adapter) ServerSideEmitWithAck(ctx context.Context, event string, args []json.RawMessage) ([]json.RawMessage, error) {
	data, err := eventData(event, args)
	if err != nil {
		return nil, err
	}
	responses, err := a.ask(ctx, request{UID: a.uid, Type: reqServerSideEmit, Data: data})
	out := make([]json.RawMessage, 0, len(responses))
	for _, r := range responses {
		out = append(out, r.Data)
	}
	if err != nil {
		return out, fmt.Errorf("serverSideEmit: %w: %w", err, socketio.ErrAckTimeout)
	}
	return out, nil
}

func eventData(event string, args []json.RawMessage) (json.RawMessage, error) {
	all := make([]any, 0, len(args)+1)
	all = append(all, event)
	for _, a := range args {
		all = append(all, a)
	}
	b, err := json.Marshal(all)
	if err != nil {
		return nil, fmt.Errorf("redisadapter: encode event: %w", err)
	}
	return b, nil
}

// ask publishes a request and waits for the answer of every other server,
// or until the requests timeout.
func (a *Adapter) ask(ctx context.Context, req request) ([]response, error) {
	req.RequestID = newID()
	return a.requests.ask(ctx, req.RequestID, a.cluster.opts.RequestsTimeout, a.ServerCount, func(ctx context.Context) error {
		return a.publishJSON(ctx, a.cluster.requestChannel(a.name), req)
	})
}

// onRequest answers a request of another server. It returns the error of a
// message it cannot decode.
func (a *Adapter) onRequest(payload []byte) error {
	if len(payload) > 0 && payload[0] != '{' {
		return a.onAckBroadcastRequest(payload)
	}
	var req request
	if err := json.Unmarshal(payload, &req); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	if req.UID == a.uid || a.requests.ours(req.RequestID) {
		return nil // our own
	}
	switch req.Type {
	case reqRemoteJoin, reqRemoteLeave, reqRemoteDisconnect, reqRemoteFetch:
		if req.Opts == nil { // Node fails on it too; all sockets is not the default
			return fmt.Errorf("request of type %d without opts", req.Type)
		}
	}
	ctx, cancel := a.cluster.opCtx()
	defer cancel()
	local := optsFromWire(req.Opts)
	local.Flags.Local = true
	respond := func(v any) {
		if err := a.publishJSON(ctx, a.cluster.responseChannel(a.name), v); err != nil {
			a.cluster.log.Warn("redisadapter: response not sent", "namespace", a.name, "err", err)
		}
	}
	switch req.Type {
	case reqRemoteJoin:
		_ = a.MemoryAdapter.AddSockets(ctx, local, req.Rooms)
	case reqRemoteLeave:
		_ = a.MemoryAdapter.DelSockets(ctx, local, req.Rooms)
	case reqRemoteDisconnect:
		_ = a.MemoryAdapter.DisconnectSockets(ctx, local, req.Close != nil && *req.Close)
	case reqRemoteFetch:
		sockets, _ := a.MemoryAdapter.FetchSockets(ctx, local)
		respond(response{RequestID: req.RequestID, Sockets: nonNilSockets(sockets)})
	case reqAllRooms:
		respond(response{RequestID: req.RequestID, Rooms: nonNil(a.Rooms())})
	case reqServerSideEmit:
		return a.onServerSideEmit(req, respond)
	}
	return nil
}

func nonNilSockets(s []socketio.SocketInfo) []socketio.SocketInfo {
	if s == nil {
		return []socketio.SocketInfo{}
	}
	return s
}

func (a *Adapter) onServerSideEmit(req request, respond func(any)) error {
	event, args, err := serverSideEvent(req.Data)
	if err != nil {
		return fmt.Errorf("serverSideEmit request: %w", err)
	}
	a.nsp.HandleServerSideEmit(context.Background(), event, args, answerOnce(req.RequestID, func(arg json.RawMessage) {
		if arg == nil {
			arg = json.RawMessage("null")
		}
		respond(response{Type: reqServerSideEmit, RequestID: req.RequestID, Data: arg})
	}))
	return nil
}

// onAckBroadcastRequest delivers an acknowledged broadcast of another server
// and sends back its client count and every acknowledgement.
func (a *Adapter) onAckBroadcastRequest(payload []byte) error {
	var req ackBroadcastRequest
	if err := unmarshalMsgpack(payload, &req); err != nil {
		return fmt.Errorf("acknowledged broadcast: %w", err)
	}
	if req.Type != reqBroadcast {
		return fmt.Errorf("msgpack request of type %d", req.Type)
	}
	if req.UID == a.uid || a.requests.ours(req.RequestID) {
		return nil
	}
	p, err := fromWire(req.Packet, a.name)
	if err != nil {
		return fmt.Errorf("acknowledged broadcast packet: %w", err)
	}
	timeout := a.cluster.opts.RequestsTimeout
	if req.Opts.Flags != nil && req.Opts.Flags.Timeout > 0 {
		timeout = time.Duration(req.Opts.Flags.Timeout) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	opts := socketio.BroadcastOptions{Rooms: req.Opts.Rooms, Except: req.Opts.Except}
	opts.Flags.Local = true
	respCh := a.cluster.responseChannel(a.name)
	_ = a.MemoryAdapter.BroadcastWithAck(ctx, p, opts, func(n int) {
		if err := a.publishJSON(ctx, respCh, response{Type: resBroadcastClientCount, RequestID: req.RequestID, ClientCount: &n}); err != nil {
			a.cluster.log.Warn("redisadapter: client count not sent", "err", err)
		}
		if n == 0 {
			cancel()
		}
	}, func(arg json.RawMessage) {
		var v any
		if len(arg) > 0 {
			_ = json.Unmarshal(arg, &v)
		}
		b, err := marshalMsgpack(&ackResponse{Type: resBroadcastAck, RequestID: req.RequestID, Packet: v})
		if err == nil {
			err = a.publish(ctx, respCh, b)
		}
		if err != nil {
			a.cluster.log.Warn("redisadapter: ack not sent", "err", err)
		}
	})
	context.AfterFunc(ctx, cancel)
	return nil
}

// onResponse routes a response to the request waiting for it. It returns
// the error of a message it cannot decode.
func (a *Adapter) onResponse(payload []byte) error {
	if len(payload) > 0 && payload[0] != '{' {
		var r ackResponse
		if err := unmarshalMsgpack(payload, &r); err != nil {
			return fmt.Errorf("acknowledgement: %w", err)
		}
		if r.Type != resBroadcastAck {
			return fmt.Errorf("msgpack response of type %d", r.Type)
		}
		if p := a.requests.lookup(r.RequestID); p != nil && p.ack != nil {
			arg, err := json.Marshal(normalize(r.Packet))
			if err != nil {
				return fmt.Errorf("acknowledgement: %w", err)
			}
			p.ack(arg)
		}
		return nil
	}
	var r response
	if err := json.Unmarshal(payload, &r); err != nil {
		return fmt.Errorf("response: %w", err)
	}
	p := a.requests.lookup(r.RequestID)
	switch {
	case p == nil:
	case r.Type == resBroadcastClientCount && r.ClientCount != nil && p.ackCount != nil:
		p.ackCount(*r.ClientCount)
	default:
		p.answer(r)
	}
	return nil
}

// Close unsubscribes the namespace's channels.
func (a *Adapter) Close(ctx context.Context) error {
	c := a.cluster
	if !c.unregister(a.name) {
		return nil
	}
	_ = c.sub.PUnsubscribe(ctx, c.broadcastChannel(a.name)+"*")
	return c.sub.Unsubscribe(ctx, c.requestChannel(a.name), c.responseChannel(a.name), c.responseChannel(a.name)+a.uid+"#")
}

// newID returns 6 URL-safe random characters, like Node's uid2(6).
func newID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var b [6]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[b[i]&63]
	}
	return string(b[:])
}
