package redisadapter

import (
	"context"
	"log/slog"
	"sync"
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
	dropped droppedMessages

	mu       sync.Mutex
	adapters map[string]A // by namespace name
	closed   bool
	done     chan struct{} // closed when the dispatcher returns
}

func newLink[A any](client redis.UniversalClient, logger *slog.Logger, timeout time.Duration) link[A] {
	return link[A]{client: client, log: logger, timeout: timeout, dropped: droppedMessages{log: logger},
		adapters: map[string]A{}, done: make(chan struct{})}
}

// Ping reports whether Redis answers.
func (l *link[A]) Ping(ctx context.Context) error { return l.client.Ping(ctx).Err() }

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
	stop()
	err := l.sub.Close()
	<-l.done
	return err
}

// opCtx bounds one cluster operation by RequestsTimeout.
func (l *link[A]) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), l.timeout)
}
