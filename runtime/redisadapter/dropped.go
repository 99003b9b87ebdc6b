package redisadapter

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/socketfleet/socketfleet/runtime/internal/logthrottle"
)

// dropLogInterval is the least time between two log lines about dropped
// messages: a flood of bad messages must not become a flood of logs.
const dropLogInterval = 10 * time.Second

// droppedMessages counts the messages a server drops — from Redis because
// it could not decode them, or to Redis because the link is down — and logs
// them at most once per dropLogInterval: the first one of each interval
// with its channel and error, and how many were dropped since the previous
// line.
type droppedMessages struct {
	log   *slog.Logger
	what  string // the log message (default: cannot decode)
	total atomic.Uint64

	throttle logthrottle.Throttle
	now      func() time.Time // nil: time.Now (tests move it)
}

// record counts one dropped message.
func (d *droppedMessages) record(channel string, err error) {
	d.total.Add(1)
	now := time.Now
	if d.now != nil {
		now = d.now
	}
	ok, unlogged := d.throttle.Allow(now(), dropLogInterval)
	if !ok {
		return
	}
	what := d.what
	if what == "" {
		what = "redisadapter: message dropped: cannot decode"
	}
	d.log.Warn(what, "channel", channel, "err", err,
		"droppedSinceLastLog", unlogged, "droppedTotal", d.total.Load())
}

// count returns how many messages were dropped so far.
func (d *droppedMessages) count() uint64 { return d.total.Load() }
