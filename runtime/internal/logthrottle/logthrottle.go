// Package logthrottle bounds how often a recurring event is logged: a flood
// of bad messages or refused requests must not become a flood of logs.
package logthrottle

import (
	"sync"
	"time"
)

// Throttle lets one log line through per interval and counts the events it
// held back. The zero value is ready to use; it is safe for concurrent use.
type Throttle struct {
	mu       sync.Mutex
	loggedAt time.Time
	unlogged uint64
}

// Allow reports whether a line may be written for an event at now, at least
// interval after the previous line, and, when it may, how many events were
// held back since that line.
func (t *Throttle) Allow(now time.Time, interval time.Duration) (ok bool, heldBack uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.loggedAt.IsZero() && now.Sub(t.loggedAt) < interval {
		t.unlogged++
		return false, 0
	}
	heldBack = t.unlogged
	t.loggedAt, t.unlogged = now, 0
	return true, heldBack
}
