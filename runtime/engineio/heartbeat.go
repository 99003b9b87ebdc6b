package engineio

import (
	"sync"
	"time"
)

// heartbeatWheel runs the heartbeats of every session of a server from one
// goroutine: a timing wheel of buckets, one per tick, holding the sessions
// due at that tick. A session costs no runtime timer, and the pings of the
// sessions due at one tick are queued in one pass, so that an idle server's
// heartbeat work is a loop over the due sessions instead of one timer and
// one goroutine per session.
//
// A session's deadline is its hbDue field (a tick number, under the
// session's mu; 0: none). Rescheduling sets hbDue and adds the session to
// its new bucket; the entry left in the old bucket is recognised as stale
// (its hbDue names another tick) and dropped when that bucket is run.
// Deadlines are rounded up to the next tick, so a ping is never sent early
// and at most one tick late.
type heartbeatWheel struct {
	tick  time.Duration
	start time.Time
	wg    *sync.WaitGroup

	mu      sync.Mutex
	buckets [][]*Session // bucket of tick t: buckets[t % len(buckets)]
	spare   []*Session   // the array of the last bucket run, emptied, for the next one
	ran     int64        // the last tick whose bucket was run
	started bool
	stopped bool
	done    chan struct{}
}

// maxSpareBucket is the largest bucket array kept for reuse (a burst of
// connections leaves larger ones to the garbage collector).
const maxSpareBucket = 4096

// heartbeatTick returns the wheel's resolution for the given delays: a
// fortieth of the shorter, between 1 ms and 500 ms (500 ms at the default
// 25 s interval and 20 s timeout: a ping is at most 2% of the interval
// late, a missing pong noticed at most 2.5% of the timeout late, and the
// client allows interval + timeout). Each tick wakes the process, and the
// pongs to its pings wake it again: coarser ticks let one wake-up serve
// more sessions (at 18,000 idle clients, 500 ms ticks took the server's
// heartbeat CPU from 0.10 to 0.075–0.085 core per 100,000 clients).
func heartbeatTick(interval, timeout time.Duration) time.Duration {
	return min(max(min(interval, timeout)/40, time.Millisecond), 500*time.Millisecond)
}

func newHeartbeatWheel(interval, timeout time.Duration, wg *sync.WaitGroup) *heartbeatWheel {
	tick := heartbeatTick(interval, timeout)
	span := int64(max(interval, timeout)/tick) + 2
	// Twice the longest delay: a late run of the wheel never finds in a
	// bucket a session due one lap later (such entries are kept anyway).
	return &heartbeatWheel{
		tick:    tick,
		start:   time.Now(),
		wg:      wg,
		buckets: make([][]*Session, 2*span+16),
		done:    make(chan struct{}),
	}
}

// now returns the current tick number (at least 1: 0 means "no deadline").
func (w *heartbeatWheel) now() int64 { return int64(time.Since(w.start)/w.tick) + 1 }

// schedule makes s due after d (never before) and sets its hbDue. s.mu is
// held.
func (w *heartbeatWheel) schedule(s *Session, d time.Duration) {
	// Bucket t runs once now() reaches t, i.e. (t-1) ticks after start:
	// the first bucket whose run is not before now+d.
	due := int64((time.Since(w.start)+d+w.tick-1)/w.tick) + 1
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		s.hbDue = 0
		return
	}
	if !w.started {
		w.started = true
		w.wg.Add(1)
		go w.run()
	}
	due = max(due, w.ran+1)
	if due != s.hbDue {
		i := due % int64(len(w.buckets))
		w.buckets[i] = append(w.buckets[i], s)
	}
	w.mu.Unlock()
	s.hbDue = due
}

// run advances the wheel every tick until stop.
func (w *heartbeatWheel) run() {
	defer w.wg.Done()
	t := time.NewTicker(w.tick)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
			w.advance(w.now())
		}
	}
}

// advance runs every bucket up to tick now.
func (w *heartbeatWheel) advance(now int64) {
	for {
		w.mu.Lock()
		if w.ran >= now || w.stopped {
			w.mu.Unlock()
			return
		}
		w.ran++
		tick := w.ran
		i := tick % int64(len(w.buckets))
		due := w.buckets[i]
		// The bucket gets the array of the one run before: a wheel at a
		// steady rate reuses its arrays instead of growing new ones.
		w.buckets[i], w.spare = w.spare, nil
		w.mu.Unlock()
		var keep []*Session
		for _, s := range due {
			if s.heartbeatDue(tick) {
				keep = append(keep, s)
			}
		}
		clear(due)
		w.mu.Lock()
		w.buckets[i] = append(w.buckets[i], keep...)
		if cap(due) <= maxSpareBucket && !w.stopped {
			w.spare = due[:0]
		}
		w.mu.Unlock()
	}
}

// stop ends the wheel's goroutine; later schedules do nothing (the server
// is closing and finishes every session itself).
func (w *heartbeatWheel) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.stopped = true
	clear(w.buckets)
	w.spare = nil
	close(w.done)
}

// heartbeatDue runs s's heartbeat if it is due at tick: send a ping, or
// close the session when the previous ping went unanswered or a graceful
// close is overdue. It reports true when s is due one lap of the wheel
// later (its entry stays in the bucket).
func (s *Session) heartbeatDue(tick int64) (keep bool) {
	s.mu.Lock()
	w := s.srv.heartbeats
	switch {
	case s.hbDue != tick:
		keep = s.hbDue > tick && s.hbDue%int64(len(w.buckets)) == tick%int64(len(w.buckets))
		s.mu.Unlock()
		return keep
	case s.state == stateClosed:
		s.hbDue = 0
		s.mu.Unlock()
		return false
	case s.state == stateClosing:
		reason := s.closeReason
		s.hbDue = 0
		s.mu.Unlock()
		s.finishAsync(reason)
		return false
	case s.awaitingPong:
		s.hbDue = 0
		s.mu.Unlock()
		s.finishAsync(ReasonPingTimeout)
		return false
	}
	s.awaitingPong = true
	w.schedule(s, s.srv.opts.PingTimeout)
	if c := s.ws; c != nil && c.directWrite && !s.flushing && len(s.queue) == 0 {
		// Nothing else to write: the wheel writes the ping itself,
		// holding the writer's role (flushing) as a pool worker would.
		s.flushing = true
		s.mu.Unlock()
		s.writePing(c)
		return false
	}
	s.queue = append(s.queue, pingMessage)
	s.notifyLocked()
	s.mu.Unlock()
	return false
}

// pingFrame is the WebSocket frame of a ping packet.
var pingFrame = pingMessage.appendFrame(nil)

// writePing writes a ping frame to c for the wheel, which holds s's writer
// role (s.flushing), without waiting: what the socket does not take at once
// is left to a writer goroutine of the session's own, as a pool worker does
// with a slow client.
func (s *Session) writePing(c *wsConn) {
	if !c.writeMu.TryLock() { // a shutdown is writing the close frame
		s.mu.Lock()
		s.queue = append(s.queue, pingMessage)
		s.srv.flushers.schedule(s)
		s.mu.Unlock()
		return
	}
	err := c.write(pingFrame, 0)
	c.unlockWrite()
	s.afterFlushWrite(err)
}

// finishAsync closes the session on a goroutine of its own, so that the
// wheel never waits for a client's close frame to be written.
func (s *Session) finishAsync(reason string) {
	s.srv.wg.Add(1)
	go func() {
		defer s.srv.wg.Done()
		s.finish(reason)
	}()
}
