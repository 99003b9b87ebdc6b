package redisadapter

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/socketfleet/socketfleet/runtime/parser"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// requests holds one adapter's requests that await answers from the other
// servers, by request id. T is the variant's answer type. The zero value is
// ready to use.
type requests[T any] struct {
	mu      sync.Mutex
	pending map[string]*pendingRequest[T]
}

// pendingRequest collects the answers to one request.
type pendingRequest[T any] struct {
	answers  chan T                    // fetchSockets and serverSideEmit: one per server
	ackCount func(n int)               // acknowledged broadcast: clients reached per server
	ack      func(arg json.RawMessage) // acknowledged broadcast: each client's ack
}

func (r *requests[T]) track(id string, p *pendingRequest[T]) {
	r.mu.Lock()
	if r.pending == nil {
		r.pending = map[string]*pendingRequest[T]{}
	}
	r.pending[id] = p
	r.mu.Unlock()
}

func (r *requests[T]) untrack(id string) {
	r.mu.Lock()
	delete(r.pending, id)
	r.mu.Unlock()
}

// lookup returns the request with this id, nil when it is not ours or no
// longer waits.
func (r *requests[T]) lookup(id string) *pendingRequest[T] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending[id]
}

// ours reports whether id is one of this adapter's requests: servers hear
// their own requests on the shared channel.
func (r *requests[T]) ours(id string) bool { return id != "" && r.lookup(id) != nil }

// broadcastWithAck registers an acknowledged broadcast until ctx ends and
// publishes it; the registration is dropped at once if publishing fails.
func (r *requests[T]) broadcastWithAck(ctx context.Context, id string, clientCount func(int), ack func(json.RawMessage),
	publish func(context.Context) error) error {
	r.track(id, &pendingRequest[T]{ackCount: clientCount, ack: ack})
	context.AfterFunc(ctx, func() { r.untrack(id) })
	if err := publish(ctx); err != nil {
		r.untrack(id)
		return err
	}
	return nil
}

// ask publishes a request that every other server answers once and
// collects the answers until all have come, timeout has passed or ctx
// ends. servers counts the servers of the namespace, this one included; a
// lone server asks nobody.
func (r *requests[T]) ask(ctx context.Context, id string, timeout time.Duration,
	servers func(context.Context) (int, error), publish func(context.Context) error) ([]T, error) {
	n, err := servers(ctx)
	if err != nil {
		return nil, err
	}
	others := n - 1
	if others <= 0 {
		return nil, nil
	}
	p := &pendingRequest[T]{answers: make(chan T, others)}
	r.track(id, p)
	defer r.untrack(id)
	if err := publish(ctx); err != nil {
		return nil, err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	out := make([]T, 0, others)
	for len(out) < others {
		select {
		case a := <-p.answers:
			out = append(out, a)
		case <-timer.C:
			return out, fmt.Errorf("%w: %d of %d responses", ErrTimeout, len(out), others)
		case <-ctx.Done():
			return out, fmt.Errorf("%w: %d of %d responses: %w", ErrTimeout, len(out), others, ctx.Err())
		}
	}
	return out, nil
}

// answer hands an answer to the request waiting for it. An answer for no
// request, or beyond the servers counted, is dropped: the channel never
// blocks the dispatcher.
func (p *pendingRequest[T]) answer(a T) {
	if p.answers == nil {
		return
	}
	select {
	case p.answers <- a:
	default:
	}
}

// localOnly delivers an acknowledged broadcast that could not reach the
// other servers (publishErr) to the local sockets, and reports it partial.
func localOnly(ctx context.Context, local *socketio.MemoryAdapter, p *parser.Packet, opts socketio.BroadcastOptions,
	clientCount func(int), ack func(json.RawMessage), publishErr error) error {
	if err := local.BroadcastWithAck(ctx, p, opts, clientCount, ack); err != nil {
		return err
	}
	return fmt.Errorf("%w: %w", socketio.ErrPartialBroadcast, publishErr)
}
