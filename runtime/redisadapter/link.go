package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// link is what every cluster variant shares: the Redis client, the one
// subscriber connection of the process, the adapter of each namespace and
// the accounting of dropped messages. A is the variant's adapter type.
type link[A any] struct {
	client  redis.UniversalClient
	log     *slog.Logger
	timeout time.Duration // RequestsTimeout
	sub     *redis.PubSub
	// probe is a channel only this link subscribes to (with SSUBSCRIBE
	// when shardedProbe), so that Ping can tell whether the subscription
	// is registered on the server the publishes go to.
	probe        string
	shardedProbe bool
	dropped      droppedMessages // undecodable messages from Redis
	// unforwarded are the broadcasts that did not reach Redis.
	unforwarded droppedMessages
	// failedAt is when the last publish failed (Unix nanoseconds), 0 once
	// one succeeds.
	failedAt atomic.Int64
	// pingFailed is set while the last Ping failed (Redis away, or this
	// process's subscription not registered on it): the publisher then hands
	// broadcasts to the outbox, whose flusher waits for the subscriptions.
	pingFailed atomic.Bool
	// outbox keeps the broadcasts that wait for Redis.
	outbox outbox
	// pub sends the Pub/Sub variants' messages (nil for streams).
	pub *publisher

	mu       sync.Mutex
	adapters map[string]A // by namespace name
	closed   bool
	done     chan struct{} // closed when the dispatcher returns
}

func newLink[A any](client redis.UniversalClient, logger *slog.Logger, timeout time.Duration, outbox OutboxOptions, resubscribeGrace time.Duration) link[A] {
	return link[A]{
		client:      client,
		log:         logger,
		timeout:     timeout,
		outbox:      newOutbox(outbox, resubscribeGrace),
		dropped:     droppedMessages{log: logger},
		unforwarded: droppedMessages{log: logger, what: "redisadapter: broadcast not forwarded to the other servers"},
		adapters:    map[string]A{},
		done:        make(chan struct{}),
	}
}

// probePrefix starts the probe channel of every link: no adapter channel
// starts with it, and nothing is ever published on it.
const probePrefix = "socketfleet-probe#"

// ErrNotSubscribed is returned by Ping while Redis answers but this
// process's subscription is not registered on the server yet: after a
// restart of Redis or a Sentinel failover, until go-redis has reconnected
// the subscriber connection and subscribed again, broadcasts from the other
// servers do not arrive.
var ErrNotSubscribed = errors.New("redisadapter: Redis answers but the subscription is not re-established on it yet")

// subscribe opens the process's subscriber connection, subscribed to the
// link's probe channel (with SSUBSCRIBE when sharded). A Redis that does
// not answer only delays it: go-redis subscribes when it connects.
func (l *link[A]) subscribe(sharded bool) {
	l.probe, l.shardedProbe = probePrefix+newID()+newID(), sharded
	ctx, cancel := l.opCtx()
	defer cancel()
	if sharded {
		l.sub = l.client.SSubscribe(ctx, l.probe)
	} else {
		l.sub = l.client.Subscribe(ctx, l.probe)
	}
}

// Ping reports whether Redis answers and, but with Redis Cluster (whose
// nodes count only their own subscribers), whether this process's
// subscription is registered on the server that the client sends its
// commands to: PUBSUB NUMSUB (SHARDNUMSUB) of the probe channel must count
// it. A PING alone says nothing of the subscriber connection, which
// go-redis reconnects on its own, after the command connections: after a
// failover, the publishes reach the new primary before this process hears
// anything from it. An answer lets the next publish through at once, even
// within a second of a failed one, whatever the subscription.
func (l *link[A]) Ping(ctx context.Context) (err error) {
	defer func() { l.pingFailed.Store(err != nil) }()
	if err := l.client.Ping(ctx).Err(); err != nil {
		return err
	}
	l.failedAt.Store(0)
	if _, cluster := l.client.(*redis.ClusterClient); cluster || l.probe == "" {
		return nil
	}
	var counts map[string]int64
	if l.shardedProbe {
		counts, err = l.client.PubSubShardNumSub(ctx, l.probe).Result()
	} else {
		counts, err = l.client.PubSubNumSub(ctx, l.probe).Result()
	}
	switch {
	case err != nil:
		return fmt.Errorf("count subscribers: %w", err)
	case counts[l.probe] == 0:
		return ErrNotSubscribed
	}
	return nil
}

// DecodeErrors counts the messages from Redis dropped because they could
// not be decoded (logged at most once per 10 seconds).
func (l *link[A]) DecodeErrors() uint64 { return l.dropped.count() }

func (l *link[A]) register(name string, a A) {
	l.mu.Lock()
	l.adapters[name] = a
	l.mu.Unlock()
}

// adapter returns the adapter of a namespace, if this process has one.
func (l *link[A]) adapter(name string) (A, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.adapters[name]
	return a, ok
}

// unregister forgets a namespace's adapter and reports whether the link is
// still open (its channels then need unsubscribing).
func (l *link[A]) unregister(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.adapters, name)
	return !l.closed
}

// close closes the subscription once, after stop (which releases what the
// variant runs beside its dispatcher), and waits for the dispatcher.
func (l *link[A]) close(stop func()) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.closePublisher()
	l.closeOutbox()
	stop()
	err := l.sub.Close()
	<-l.done
	return err
}

// publishRetryAfter is how long after a failed publish the link refuses to
// try again: while Redis is away, emits do not each wait for a connection
// that fails (up to RequestsTimeout against a Redis that does not answer);
// the first one after it tests the link.
const publishRetryAfter = time.Second

// ErrLinkDown is wrapped by the publishes skipped because the previous one
// failed less than a second ago.
var ErrLinkDown = errors.New("redisadapter: Redis link down")

// publish runs send, the publish of one message on channel, unless a
// publish failed less than publishRetryAfter ago; after that, one caller
// tests the link while the others still skip.
func (l *link[A]) publish(ctx context.Context, channel string, send func(context.Context) error) error {
	if failed := l.failedAt.Load(); failed != 0 {
		if time.Since(time.Unix(0, failed)) < publishRetryAfter || !l.failedAt.CompareAndSwap(failed, time.Now().UnixNano()) {
			return fmt.Errorf("%w: publish on %s skipped", ErrLinkDown, channel)
		}
	}
	if err := send(ctx); err != nil {
		l.failedAt.Store(time.Now().UnixNano())
		return fmt.Errorf("redisadapter: publish on %s: %w", channel, err)
	}
	l.failedAt.Store(0)
	return nil
}

// dispatchByNamespace routes every message of the subscription whose channel starts
// with prefix followed by a namespace name and "#" to that namespace's
// adapter; a message handle cannot decode is counted and dropped. It
// returns when the subscription is closed.
func (l *link[A]) dispatchByNamespace(ch <-chan *redis.Message, prefix string, handle func(a A, channel string, payload []byte) error) {
	defer close(l.done)
	for msg := range ch {
		rest, ok := strings.CutPrefix(msg.Channel, prefix)
		if !ok {
			continue
		}
		nsp, _, _ := strings.Cut(rest, "#")
		a, found := l.adapter(nsp)
		if !found {
			continue
		}
		if err := handle(a, msg.Channel, []byte(msg.Payload)); err != nil {
			l.dropped.record(msg.Channel, err)
		}
	}
}

// opCtx bounds one cluster operation by RequestsTimeout.
func (l *link[A]) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), l.timeout)
}
