package sioclient

import (
	"context"
	"sync"
)

// queue is an unbounded FIFO between a connection's reader and the test: the
// reader never blocks (pongs keep flowing while a test does not read) and
// nothing is dropped.
type queue[T any] struct {
	mu     sync.Mutex
	items  []T
	done   bool
	notify chan struct{} // closed and replaced when items or done change
}

func newQueue[T any]() *queue[T] {
	return &queue[T]{notify: make(chan struct{})}
}

func (q *queue[T]) push(v T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append(q.items, v)
	close(q.notify)
	q.notify = make(chan struct{})
}

// close marks the end of the stream; queued items can still be popped.
func (q *queue[T]) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.done = true
	close(q.notify)
	q.notify = make(chan struct{})
}

// pop returns the next item (ok true), or ok false once the queue is closed
// and empty, or ctx's error.
func (q *queue[T]) pop(ctx context.Context) (v T, ok bool, err error) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			v = q.items[0]
			var zero T
			q.items[0] = zero
			q.items = q.items[1:]
			q.mu.Unlock()
			return v, true, nil
		}
		done, notify := q.done, q.notify
		q.mu.Unlock()
		if done {
			return v, false, nil
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return v, false, ctx.Err()
		}
	}
}
