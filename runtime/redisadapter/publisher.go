package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// publisher sends the messages of a Pub/Sub adapter (classic or sharded) to
// Redis from one goroutine, in the order they were queued, in pipelines:
// whatever queued while the previous pipeline was on its way goes out in
// the next one. A broadcast does not wait for Redis (its emit returns once
// the message is queued, as Node's adapters return before Redis answers),
// so a loop of emits reaches this server's own clients in one go and the
// other servers in a few round trips instead of one each; a request
// (fetchSockets, serverSideEmit, remote joins, ...) waits for its publish,
// which leaves after every broadcast queued before it, so the other servers
// see a server's broadcasts and requests in the order it made them.
type publisher struct {
	sharded bool // SPUBLISH instead of PUBLISH

	mu     sync.RWMutex // held for reading while a message is queued
	closed bool
	queue  chan queuedPublish
	done   chan struct{} // closed when the goroutine returns
}

// queuedPublish is one message waiting for the publisher.
type queuedPublish struct {
	channel string
	payload []byte
	// result, when set, receives the publish's outcome (a request); a
	// broadcast has none: one Redis did not take waits in the outbox.
	result chan error
}

// publishQueueSize bounds the messages queued for the publisher: a server
// emitting faster than Redis takes its publishes blocks in Broadcast once
// this many wait, as it blocked on every publish before pipelining.
const publishQueueSize = 4096

// maxPipeline bounds the messages of one pipeline.
const maxPipeline = 256

// ErrLinkClosed is returned for a publish queued after the adapter closed.
var ErrLinkClosed = errors.New("redisadapter: adapter closed")

// startPublisher starts the link's publisher (Pub/Sub variants only).
func (l *link[A]) startPublisher(sharded bool) {
	l.pub = &publisher{sharded: sharded, queue: make(chan queuedPublish, publishQueueSize), done: make(chan struct{})}
	go l.runPublisher()
}

// publishBroadcast queues a broadcast for the other servers and returns:
// Redis takes it after what was queued before, or it waits in the outbox.
func (l *link[A]) publishBroadcast(channel string, payload []byte) {
	if err := l.enqueuePublish(queuedPublish{channel: channel, payload: payload}); err != nil {
		l.unforwarded.record(channel, err)
	}
}

// publishAndWait queues a message after the broadcasts before it and waits
// until Redis took it, or for ctx.
func (l *link[A]) publishAndWait(ctx context.Context, channel string, payload []byte) error {
	result := make(chan error, 1)
	if err := l.enqueuePublish(queuedPublish{channel: channel, payload: payload, result: result}); err != nil {
		return err
	}
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		return fmt.Errorf("redisadapter: publish on %s: %w", channel, ctx.Err())
	}
}

func (l *link[A]) enqueuePublish(m queuedPublish) error {
	p := l.pub
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return fmt.Errorf("publish on %s: %w", m.channel, ErrLinkClosed)
	}
	p.queue <- m
	return nil
}

// closePublisher stops taking messages and waits until the queued ones
// went to Redis (or to the outbox).
func (l *link[A]) closePublisher() {
	p := l.pub
	if p == nil {
		return
	}
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.queue)
	}
	p.mu.Unlock()
	<-p.done
}

// runPublisher is the publisher's goroutine: it takes what is queued, up to
// maxPipeline messages, and sends it.
func (l *link[A]) runPublisher() {
	p := l.pub
	defer close(p.done)
	batch := make([]queuedPublish, 0, maxPipeline)
	for m := range p.queue {
		batch = append(batch[:0], m)
	more:
		for len(batch) < maxPipeline {
			select {
			case m, ok := <-p.queue:
				if !ok {
					break more
				}
				batch = append(batch, m)
			default:
				break more
			}
		}
		l.sendBatch(batch)
		clear(batch) // no payload outlives its pipeline here
	}
}

// sendBatch sends a batch in one pipeline. While broadcasts wait in the
// outbox, or while the last Ping failed (and the outbox is on), the batch's
// broadcasts go to the outbox, behind what waits there: a pipeline sent
// during an outage would retry through the failed dials and could land on
// a restarted Redis before the other servers have subscribed again,
// reaching nobody. A broadcast that Redis did not take goes there too (or
// is dropped and counted when the outbox is off). A request gets its
// outcome. The pipeline waits at most broadcastPublishWait, as one publish
// did.
func (l *link[A]) sendBatch(batch []queuedPublish) {
	l.outbox.mu.Lock()
	queueBroadcasts := len(l.outbox.waiting) > 0 || (l.pingFailed.Load() && l.outbox.opts.MaxMessages >= 0)
	l.outbox.mu.Unlock()
	send := batch
	if queueBroadcasts {
		send = make([]queuedPublish, 0, len(batch))
		for _, m := range batch {
			if m.result == nil {
				l.toOutbox(m, nil)
			} else {
				send = append(send, m)
			}
		}
		if len(send) == 0 {
			return
		}
	}
	var cmds []redis.Cmder
	ctx, cancel := context.WithTimeout(context.Background(), min(l.timeout, broadcastPublishWait))
	err := l.publish(ctx, send[0].channel, func(ctx context.Context) error {
		var err error
		cmds, err = l.client.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for _, m := range send {
				if l.pub.sharded {
					pipe.SPublish(ctx, m.channel, m.payload)
				} else {
					pipe.Publish(ctx, m.channel, m.payload)
				}
			}
			return nil
		})
		return err
	})
	cancel()
	for i, m := range send {
		merr := err
		if i < len(cmds) && cmds[i].Err() == nil {
			merr = nil
		} else if merr == nil && i < len(cmds) {
			merr = fmt.Errorf("redisadapter: publish on %s: %w", m.channel, cmds[i].Err())
		}
		switch {
		case m.result != nil:
			m.result <- merr
		case merr != nil:
			l.toOutbox(m, merr)
		}
	}
}

// toOutbox hands a broadcast to the outbox, behind the ones waiting there
// (failed: the error of its publish, nil when it did not try), or counts it
// dropped when the outbox is off or full.
func (l *link[A]) toOutbox(m queuedPublish, failed error) {
	if l.outbox.opts.MaxMessages < 0 {
		l.unforwarded.record(m.channel, fmt.Errorf("%w (the outbox is off)", failed))
		return
	}
	sharded, client := l.pub.sharded, l.client
	if _, err := l.enqueue(m.channel, func(ctx context.Context) error {
		if sharded {
			return client.SPublish(ctx, m.channel, m.payload).Err()
		}
		return client.Publish(ctx, m.channel, m.payload).Err()
	}); err != nil {
		l.unforwarded.record(m.channel, err)
	}
}
