package redisadapter

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// dropLogInterval is the least time between two log lines about dropped
// messages: a flood of bad messages must not become a flood of logs.
const dropLogInterval = 10 * time.Second

// droppedMessages counts the messages from Redis that a server could not
// decode and drops, and logs them at most once per dropLogInterval: the
// first one of each interval with its channel and error, and how many were
// dropped since the previous line.
type droppedMessages struct {
	log   *slog.Logger
	total atomic.Uint64

	mu       sync.Mutex
	loggedAt time.Time
	unlogged uint64
}

// record counts one dropped message.
func (d *droppedMessages) record(channel string, err error) {
	d.total.Add(1)
	d.mu.Lock()
	now := time.Now()
	if !d.loggedAt.IsZero() && now.Sub(d.loggedAt) < dropLogInterval {
		d.unlogged++
		d.mu.Unlock()
		return
	}
	unlogged := d.unlogged
	d.loggedAt, d.unlogged = now, 0
	d.mu.Unlock()
	d.log.Warn("redisadapter: message dropped: cannot decode", "channel", channel, "err", err,
		"droppedSinceLastLog", unlogged, "droppedTotal", d.total.Load())
}

// count returns how many messages were dropped so far.
func (d *droppedMessages) count() uint64 { return d.total.Load() }
