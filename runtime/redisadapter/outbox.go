package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// OutboxOptions bound the broadcasts a server keeps while Redis is away, to
// forward them, in order, once it answers again: the clients of the other
// servers then get them late instead of never. The local clients get every
// broadcast at once either way.
type OutboxOptions struct {
	// MaxMessages is how many broadcasts wait at most (default 10000); a
	// broadcast beyond it is not forwarded (counted and logged). Negative
	// disables the outbox: a broadcast that cannot be published is dropped
	// at once.
	MaxMessages int
	// MaxAge is how long a broadcast may wait (default 30s): older ones are
	// dropped rather than delivered that late (counted and logged).
	MaxAge time.Duration
}

func newOutbox(opts OutboxOptions, resubscribeGrace time.Duration) outbox {
	if opts.MaxMessages == 0 {
		opts.MaxMessages = 10000
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 30 * time.Second
	}
	return outbox{opts: opts, resubscribeGrace: resubscribeGrace, stop: make(chan struct{})}
}

// pubSubResubscribeGrace is the outbox's resubscribeGrace with the Pub/Sub
// adapters: go-redis retries a lost subscription every 100 ms or so.
const pubSubResubscribeGrace = time.Second

// OutboxStats describe a server's outbox.
type OutboxStats struct {
	// Waiting is the number of broadcasts waiting for Redis now.
	Waiting int `json:"waiting"`
	// Forwarded counts the broadcasts that waited and reached Redis.
	Forwarded uint64 `json:"forwarded"`
	// Dropped counts the broadcasts never forwarded: the outbox was full or
	// disabled, they waited longer than MaxAge, or the server closed.
	Dropped uint64 `json:"dropped"`
}

// errOutboxFull is recorded for a broadcast the outbox had no room for.
var errOutboxFull = errors.New("outbox full")

// outbox is the ordered queue of broadcasts waiting for Redis, and the one
// goroutine that forwards them while it is not empty.
type outbox struct {
	opts OutboxOptions
	// resubscribeGrace is how long the flusher waits, once Redis answers
	// again, before it forwards what waited: the other servers' Pub/Sub
	// subscriptions come back by themselves (go-redis resubscribes on
	// reconnect), and a message published before that reaches nobody. Zero
	// for the streams adapter, whose readers read on from their last entry.
	resubscribeGrace time.Duration
	forwarded        atomic.Uint64

	mu       sync.Mutex
	waiting  []waitingBroadcast
	flushing bool // the flusher runs
	closed   bool
	stop     chan struct{}  // closed by close: the flusher gives up
	done     sync.WaitGroup // the flusher
}

// waitingBroadcast is one broadcast in the outbox.
type waitingBroadcast struct {
	channel string
	send    func(context.Context) error
	at      time.Time
}

// outboxRetryEvery is how often the flusher tries the head of the outbox
// again (the link's own limit, one publish a second while it is down,
// applies to those tries).
const outboxRetryEvery = 250 * time.Millisecond

// broadcastPublishWait bounds how long a broadcast waits for Redis (a
// primary that stopped answering, a failover under way) before it waits in
// the outbox instead: the streams adapter's emit, and the publish API
// request behind it, go on; the Pub/Sub adapters' publisher moves its
// pipeline to the outbox after as long. The client must honour context deadlines (go-redis
// ContextTimeoutEnabled). A publish Redis applied but answered too late is
// forwarded again from the outbox: the other servers' clients may then get
// that broadcast twice.
const broadcastPublishWait = 2 * time.Second

// forward publishes a broadcast on channel with send (the streams adapter's
// XADD; the Pub/Sub adapters' broadcasts go through the publisher), unless
// broadcasts are already waiting: it then waits behind them, so that the
// other servers get every broadcast of this one in order. A broadcast whose publish fails
// waits too. forward reports whether the broadcast waits; a non-nil error
// means it was dropped (the caller counts it).
func (l *link[A]) forward(ctx context.Context, channel string, send func(context.Context) error) (waits bool, err error) {
	l.outbox.mu.Lock()
	empty := len(l.outbox.waiting) == 0
	l.outbox.mu.Unlock()
	if empty {
		pctx, cancel := context.WithTimeout(ctx, broadcastPublishWait)
		err := l.publish(pctx, channel, send)
		cancel()
		if err == nil || l.outbox.opts.MaxMessages < 0 {
			return false, err
		}
	}
	return l.enqueue(channel, send)
}

// enqueue adds a broadcast to the outbox and starts the flusher if needed.
func (l *link[A]) enqueue(channel string, send func(context.Context) error) (bool, error) {
	o := &l.outbox
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || len(o.waiting) >= o.opts.MaxMessages {
		return false, fmt.Errorf("redisadapter: broadcast on %s not forwarded: %w (%d waiting)", channel, errOutboxFull, len(o.waiting))
	}
	o.waiting = append(o.waiting, waitingBroadcast{channel: channel, send: send, at: time.Now()})
	if !o.flushing {
		o.flushing = true
		o.done.Add(1)
		go l.flush()
	}
	return true, nil
}

// flush forwards the waiting broadcasts in order, retrying the head until
// Redis takes it, and returns when the outbox is empty or closed. A
// broadcast older than MaxAge is dropped. After a failure it forwards
// nothing until Redis answers a ping and resubscribeGrace has passed.
func (l *link[A]) flush() {
	o := &l.outbox
	defer o.done.Done()
	retry := time.NewTimer(outboxRetryEvery)
	retry.Stop()
	wait := func(d time.Duration) bool { // false: the server closes
		retry.Reset(d)
		select {
		case <-retry.C:
			return true
		case <-o.stop:
			o.mu.Lock()
			l.dropWaitingLocked()
			o.mu.Unlock()
			return false
		}
	}
	recovering := true // the first broadcast waits because a publish failed
	for {
		o.mu.Lock()
		for len(o.waiting) > 0 && time.Since(o.waiting[0].at) > o.opts.MaxAge {
			l.unforwarded.record(o.waiting[0].channel, fmt.Errorf("waited more than %s for Redis", o.opts.MaxAge))
			o.waiting = o.waiting[1:]
		}
		if len(o.waiting) == 0 || o.closed {
			l.dropWaitingLocked()
			o.mu.Unlock()
			return
		}
		head := o.waiting[0]
		o.mu.Unlock()

		if recovering {
			ctx, cancel := l.opCtx()
			err := l.Ping(ctx)
			cancel()
			if err != nil {
				if !wait(outboxRetryEvery) {
					return
				}
				continue
			}
			recovering = false
			if o.resubscribeGrace > 0 && !wait(o.resubscribeGrace) {
				return
			}
			continue // the head may have expired meanwhile
		}
		ctx, cancel := l.opCtx()
		err := l.publish(ctx, head.channel, head.send)
		cancel()
		if err == nil {
			o.mu.Lock()
			o.waiting = o.waiting[1:]
			o.mu.Unlock()
			o.forwarded.Add(1)
			continue
		}
		recovering = true
		if !wait(outboxRetryEvery) {
			return
		}
	}
}

// dropWaitingLocked ends the flusher's run: what still waits (the server
// is closing) is dropped and counted. outbox.mu is held.
func (l *link[A]) dropWaitingLocked() {
	o := &l.outbox
	for _, w := range o.waiting {
		l.unforwarded.record(w.channel, errors.New("server closed while Redis was away"))
	}
	o.waiting = nil
	o.flushing = false
}

// closeOutbox stops the flusher (what still waits is dropped and counted)
// and waits for it.
func (l *link[A]) closeOutbox() {
	o := &l.outbox
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		close(o.stop)
	}
	o.mu.Unlock()
	o.done.Wait()
}

// Outbox describes the broadcasts waiting for Redis and what became of the
// earlier ones.
func (l *link[A]) Outbox() OutboxStats {
	l.outbox.mu.Lock()
	waiting := len(l.outbox.waiting)
	l.outbox.mu.Unlock()
	return OutboxStats{Waiting: waiting, Forwarded: l.outbox.forwarded.Load(), Dropped: l.unforwarded.count()}
}
