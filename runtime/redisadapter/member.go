package redisadapter

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/socketfleet/socketfleet/runtime/parser"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// member is the adapter of one namespace in a ClusterAdapter-style cluster
// (socket.io-adapter's ClusterAdapter: the sharded and the streams
// variants): the messages of the shared envelope, their handling and the
// request/response machinery. A variant provides the transport (send,
// respond, serverCount) and its own Broadcast, ServerCount and Close.
type member struct {
	*socketio.MemoryAdapter
	nsp      *socketio.Namespace
	name     string
	uid      string
	log      *slog.Logger
	timeout  time.Duration          // RequestsTimeout
	requests requests[*shardedData] // this server's requests by id

	// send publishes a message of this server to every server of the
	// namespace; offset is the stream entry id when the transport has
	// one.
	send func(ctx context.Context, typ int, data *shardedData) (offset string, err error)
	// respond sends a response to the server whose uid is requester.
	respond func(ctx context.Context, requester string, typ int, data *shardedData) error
	// serverCount counts the servers of the namespace, this one included.
	serverCount func(ctx context.Context) (int, error)
	// deliverEntry, when set, delivers the broadcast stream entry offset to
	// the local sockets, except those it was replayed to on recovery.
	deliverEntry func(p *parser.Packet, opts socketio.BroadcastOptions, offset string)
}

func newMember(nsp *socketio.Namespace, log *slog.Logger, timeout time.Duration) member {
	return member{nsp: nsp, name: nsp.Name(), uid: newHexID(), log: log, timeout: timeout}
}

func (a *member) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), a.timeout)
}

func (a *member) publishAll(ctx context.Context, typ int, data *shardedData) error {
	_, err := a.send(ctx, typ, data)
	return err
}

// wireOptsOf is opts as the ClusterAdapter wire carries them (flags always
// set).
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

// recovery reports whether the server keeps sessions for connection state
// recovery.
func (a *member) recovery() bool { return a.nsp.Server().Recovery() != nil }

// addOffset appends a stream offset to a broadcast packet when connection
// state recovery needs it: events without ack id that are not volatile
// (ClusterAdapter's addOffsetIfNecessary).
func (a *member) addOffset(p *parser.Packet, opts socketio.BroadcastOptions, offset string) {
	if offset != "" && a.recovery() && p.Type == parser.Event && !p.HasID && !opts.Flags.Volatile {
		socketio.AppendOffset(p, offset)
	}
}

// BroadcastWithAck delivers to the local and remote sockets and reports
// client counts and acknowledgements per server.
func (a *member) BroadcastWithAck(ctx context.Context, p *parser.Packet, opts socketio.BroadcastOptions,
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
			return localOnly(ctx, a.MemoryAdapter, p, opts, clientCount, ack, err)
		}
	}
	return a.MemoryAdapter.BroadcastWithAck(ctx, p, opts, clientCount, ack)
}

// AddSockets makes the selected sockets of every server join rooms.
func (a *member) AddSockets(ctx context.Context, opts socketio.BroadcastOptions, rooms []string) error {
	if !opts.Flags.Local {
		if err := a.publishAll(ctx, msgSocketsJoin, &shardedData{Opts: wireOptsOf(opts), Rooms: nonNil(rooms)}); err != nil {
			return err
		}
	}
	return a.MemoryAdapter.AddSockets(ctx, opts, rooms)
}

// DelSockets makes the selected sockets of every server leave rooms.
func (a *member) DelSockets(ctx context.Context, opts socketio.BroadcastOptions, rooms []string) error {
	if !opts.Flags.Local {
		if err := a.publishAll(ctx, msgSocketsLeave, &shardedData{Opts: wireOptsOf(opts), Rooms: nonNil(rooms)}); err != nil {
			return err
		}
	}
	return a.MemoryAdapter.DelSockets(ctx, opts, rooms)
}

// DisconnectSockets disconnects the selected sockets of every server.
func (a *member) DisconnectSockets(ctx context.Context, opts socketio.BroadcastOptions, close bool) error {
	if !opts.Flags.Local {
		if err := a.publishAll(ctx, msgDisconnectSockets, &shardedData{Opts: wireOptsOf(opts), Close: &close}); err != nil {
			return err
		}
	}
	return a.MemoryAdapter.DisconnectSockets(ctx, opts, close)
}

// FetchSockets describes the selected sockets of every server.
func (a *member) FetchSockets(ctx context.Context, opts socketio.BroadcastOptions) ([]socketio.SocketInfo, error) {
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
func (a *member) ServerSideEmit(ctx context.Context, event string, args []json.RawMessage) error {
	packet, err := eventValues(event, args)
	if err != nil {
		return err
	}
	return a.publishAll(ctx, msgServerSideEmit, &shardedData{Packet: packet})
}

// ServerSideEmitWithAck sends an event to the other servers and returns
// the first argument of each one's acknowledgement.
func (a *member) ServerSideEmitWithAck(ctx context.Context, event string, args []json.RawMessage) ([]json.RawMessage, error) {
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
func (a *member) ask(ctx context.Context, typ int, data *shardedData) ([]*shardedData, error) {
	data.RequestID = newHexID()
	return a.requests.ask(ctx, data.RequestID, a.timeout, a.serverCount, func(ctx context.Context) error {
		return a.publishAll(ctx, typ, data)
	})
}

// onMessage handles a message of another server; offset is the stream
// entry id of a message read from a stream ("" otherwise). It returns the
// error of a message whose data it cannot use.
func (a *member) onMessage(m shardedMessage, offset string) error {
	ctx, cancel := a.opCtx()
	defer cancel()
	d := m.Data
	// Responses may be sent after this returns (acks): each gets its own
	// deadline.
	respond := func(typ int, data *shardedData) {
		data.RequestID = d.RequestID
		ctx, cancel := a.opCtx()
		defer cancel()
		if err := a.respond(ctx, m.UID, typ, data); err != nil {
			a.log.Warn("redisadapter: response not sent", "namespace", a.name, "err", err)
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
			if offset != "" && a.deliverEntry != nil {
				a.deliverEntry(p, local, offset)
				return nil
			}
			a.addOffset(p, local, offset)
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
	case msgFetchSocketsResponse, msgServerSideEmitResponse, msgBroadcastClientCount, msgBroadcastAck:
		// Variants that cannot tell responses from messages by channel.
		return a.onResponse(m)
	}
	return nil
}

func (a *member) onServerSideEmit(d *shardedData, respond func(int, *shardedData)) error {
	values, _ := d.Packet.([]any)
	data, err := json.Marshal(normalize(values))
	if err != nil {
		return fmt.Errorf("serverSideEmit: %w", err)
	}
	event, args, err := serverSideEvent(data)
	if err != nil {
		return fmt.Errorf("serverSideEmit: %w", err)
	}
	a.nsp.HandleServerSideEmit(context.Background(), event, args, answerOnce(d.RequestID, func(arg json.RawMessage) {
		var v any
		_ = json.Unmarshal(arg, &v)
		respond(msgServerSideEmitResponse, &shardedData{Packet: v})
	}))
	return nil
}

// ackBroadcast delivers an acknowledged broadcast of another server and
// answers with the client count and each acknowledgement.
func (a *member) ackBroadcast(p *parser.Packet, opts socketio.BroadcastOptions, wire *wireOpts, respond func(int, *shardedData)) {
	timeout := a.timeout
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
func (a *member) onResponse(m shardedMessage) error {
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

// ignores reports whether a message is this server's own or of another
// namespace.
func (a *member) ignores(m shardedMessage) bool {
	return m.UID == a.uid || (m.NSP != "" && m.NSP != a.name)
}
