package socketio

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// BroadcastOperator selects sockets of a namespace (by rooms, cluster-wide)
// and acts on them. It is an immutable value: every modifier returns a new
// operator, so one can be kept and reused.
//
//	nsp.To("room1", "room2").Except("muted").Volatile().Emit("tick", n)
type BroadcastOperator struct {
	nsp  *Namespace
	opts BroadcastOptions
}

// Options returns the operator's selection and flags.
func (b BroadcastOperator) Options() BroadcastOptions {
	o := b.opts
	o.Rooms = slices.Clone(o.Rooms)
	o.Except = slices.Clone(o.Except)
	return o
}

// To adds rooms to the selection (union): the sockets in any of them.
func (b BroadcastOperator) To(rooms ...string) BroadcastOperator {
	b.opts.Rooms = appendUnique(b.opts.Rooms, rooms)
	return b
}

// In is an alias of To.
func (b BroadcastOperator) In(rooms ...string) BroadcastOperator { return b.To(rooms...) }

// Except excludes the sockets in any of rooms.
func (b BroadcastOperator) Except(rooms ...string) BroadcastOperator {
	b.opts.Except = appendUnique(b.opts.Except, rooms)
	return b
}

// Volatile drops the event for sessions that cannot take it right now, and
// never stores it for connection state recovery.
func (b BroadcastOperator) Volatile() BroadcastOperator {
	b.opts.Flags.Volatile = true
	return b
}

// Compress sets the compression flag (forwarded to other servers; the
// Engine.IO layer decides per-message compression).
func (b BroadcastOperator) Compress(compress bool) BroadcastOperator {
	b.opts.Flags.Compress = &compress
	return b
}

// Local limits the operation to the sockets of this server.
func (b BroadcastOperator) Local() BroadcastOperator {
	b.opts.Flags.Local = true
	return b
}

// Timeout sets how long EmitWithAck waits for acknowledgements.
func (b BroadcastOperator) Timeout(d time.Duration) BroadcastOperator {
	b.opts.Flags.Timeout = d
	return b
}

// appendUnique returns a new slice with add appended to list, skipping
// duplicates; list is never modified in place.
func appendUnique(list, add []string) []string {
	out := make([]string, len(list), len(list)+len(add))
	copy(out, list)
	for _, r := range add {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// Emit sends an event to the selected sockets. The packet is encoded once
// and the same Engine.IO messages go to every target session.
func (b BroadcastOperator) Emit(event string, args ...any) error {
	if err := checkEventName(event); err != nil {
		return err
	}
	pkt, err := newEventPacket(b.nsp.name, event, args)
	if err != nil {
		return err
	}
	if err := b.nsp.adapter.Broadcast(pkt, b.opts); err != nil {
		return fmt.Errorf("broadcast %q: %w", event, err)
	}
	return nil
}

// EmitWithAck sends an event to the selected sockets, each with an
// acknowledgement request, and waits until every target (on every server)
// answered. It returns one element per answer: the first argument of that
// client's acknowledgement. When the Timeout (or the ctx deadline) passes
// first, it returns the answers received so far and an error wrapping
// ErrAckTimeout. Without either it waits until every answer arrived or ctx
// is cancelled.
func (b BroadcastOperator) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	if err := checkEventName(event); err != nil {
		return nil, err
	}
	pkt, err := newEventPacket(b.nsp.name, event, args)
	if err != nil {
		return nil, err
	}
	var cancel context.CancelFunc
	if b.opts.Flags.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, b.opts.Flags.Timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()

	c := newAckCollector()
	partial := b.nsp.adapter.BroadcastWithAck(ctx, pkt, b.opts, c.clientCount, c.ack)
	if partial != nil && !errors.Is(partial, ErrPartialBroadcast) {
		return nil, fmt.Errorf("broadcast %q: %w", event, partial)
	}
	servers := 1 // only this one answers when the broadcast is partial
	if partial == nil {
		n, err := b.nsp.adapter.ServerCount(ctx)
		if err != nil {
			return c.finish(), fmt.Errorf("broadcast %q: count servers: %w", event, err)
		}
		servers = n
	}
	c.setServers(servers)
	var waitErr error
	select {
	case <-c.done:
	case <-ctx.Done():
		waitErr = ackContextError(ctx)
	}
	switch {
	case partial != nil && waitErr != nil:
		return c.finish(), fmt.Errorf("broadcast %q: %w; %w", event, partial, waitErr)
	case partial != nil || waitErr != nil:
		return c.finish(), fmt.Errorf("broadcast %q: %w", event, cmp.Or(partial, waitErr))
	}
	return c.finish(), nil
}

// ackCollector implements the completion rule of a multi-client ack: every
// server reported its client count and as many answers arrived.
type ackCollector struct {
	done chan struct{}

	mu              sync.Mutex
	finished        bool
	expectedServers int
	servers         int
	expectedClients int
	responses       []json.RawMessage
}

func newAckCollector() *ackCollector {
	return &ackCollector{done: make(chan struct{}), expectedServers: -1}
}

func (c *ackCollector) clientCount(n int) {
	c.mu.Lock()
	c.expectedClients += n
	c.servers++
	c.checkLocked()
	c.mu.Unlock()
}

func (c *ackCollector) ack(arg json.RawMessage) {
	c.mu.Lock()
	if !c.finished {
		if arg == nil {
			arg = json.RawMessage("null")
		}
		c.responses = append(c.responses, arg)
		c.checkLocked()
	}
	c.mu.Unlock()
}

func (c *ackCollector) setServers(n int) {
	c.mu.Lock()
	c.expectedServers = n
	c.checkLocked()
	c.mu.Unlock()
}

func (c *ackCollector) checkLocked() {
	if !c.finished && c.expectedServers == c.servers && len(c.responses) == c.expectedClients {
		c.finished = true
		close(c.done)
	}
}

// finish stops collecting and returns the answers.
func (c *ackCollector) finish() []json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.finished {
		c.finished = true
		close(c.done)
	}
	return c.responses
}

// FetchSockets describes the selected sockets.
func (b BroadcastOperator) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	infos, err := b.nsp.adapter.FetchSockets(ctx, b.opts)
	if err != nil {
		return nil, fmt.Errorf("fetch sockets: %w", err)
	}
	out := make([]*RemoteSocket, len(infos))
	for i := range infos {
		out[i] = &RemoteSocket{SocketInfo: infos[i], nsp: b.nsp}
	}
	return out, nil
}

// SocketsJoin makes the selected sockets join rooms.
func (b BroadcastOperator) SocketsJoin(rooms ...string) error {
	if err := b.nsp.adapter.AddSockets(b.nsp.srv.ctx, b.opts, rooms); err != nil {
		return fmt.Errorf("sockets join: %w", err)
	}
	return nil
}

// SocketsLeave makes the selected sockets leave rooms.
func (b BroadcastOperator) SocketsLeave(rooms ...string) error {
	if err := b.nsp.adapter.DelSockets(b.nsp.srv.ctx, b.opts, rooms); err != nil {
		return fmt.Errorf("sockets leave: %w", err)
	}
	return nil
}

// DisconnectSockets disconnects the selected sockets; close also closes
// their Engine.IO connections.
func (b BroadcastOperator) DisconnectSockets(close bool) error {
	if err := b.nsp.adapter.DisconnectSockets(b.nsp.srv.ctx, b.opts, close); err != nil {
		return fmt.Errorf("disconnect sockets: %w", err)
	}
	return nil
}

// RemoteSocket is a socket returned by FetchSockets, local or on another
// server. Its methods go through the adapter (to the room named by its id),
// so they work wherever the socket is connected.
type RemoteSocket struct {
	SocketInfo
	nsp *Namespace
}

// Emit sends an event to the socket.
func (r *RemoteSocket) Emit(event string, args ...any) error {
	return r.nsp.To(r.ID).Emit(event, args...)
}

// EmitWithAck sends an event and returns the first argument of the socket's
// acknowledgement (only the first crosses servers); ctx bounds the wait.
func (r *RemoteSocket) EmitWithAck(ctx context.Context, event string, args ...any) (json.RawMessage, error) {
	op := r.nsp.To(r.ID)
	op.opts.Flags.ExpectSingleResponse = true
	res, err := op.EmitWithAck(ctx, event, args...)
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("emit %q to %s: %w", event, r.ID, ErrDisconnected)
	}
	return res[0], nil
}

// Join makes the socket join rooms.
func (r *RemoteSocket) Join(rooms ...string) error { return r.nsp.In(r.ID).SocketsJoin(rooms...) }

// Leave makes the socket leave rooms.
func (r *RemoteSocket) Leave(rooms ...string) error { return r.nsp.In(r.ID).SocketsLeave(rooms...) }

// Disconnect disconnects the socket; close also closes its Engine.IO
// connection.
func (r *RemoteSocket) Disconnect(close bool) error {
	return r.nsp.In(r.ID).DisconnectSockets(close)
}
