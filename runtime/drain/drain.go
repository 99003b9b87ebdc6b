// Package drain implements the graceful drain and shed contract of
// socketfleet-runtime (docs/contract.md, "Drain" and "Shed").
//
// Drain (SIGTERM or POST /drain): Draining reports true at once (readiness
// fails, new handshakes are refused by the caller), then the open sessions are
// closed at the Engine.IO transport level — never with a Socket.IO
// DISCONNECT, which would stop the client from reconnecting — in batches at
// jittered times spread over the first 80% of the window, random sessions in
// each batch, optionally capped at RatePerSecond closes per second. Long-polling
// sessions are closed first, from the start of the drain (see LongPolling). Done
// is closed when no session is left or at the deadline, whichever comes first.
//
// Shed (POST /shed?count=N) closes N random sessions the same way, at a
// bounded rate, so that their clients reconnect through the load balancer and
// spread onto newly added pods. Shedding reports when new handshakes should
// go elsewhere: while closes are pending and, with Options.ShedHold (session
// forwarding, no sticky cookie), until the session count is down to the
// shed's target.
package drain

import (
	"context"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Session is an open session that can be closed at the transport level
// (engineio.Session satisfies it: Close flushes its queue, then closes the
// transport; the client sees a transport close and reconnects).
type Session interface {
	Close()
}

// LongPolling is implemented by sessions that can tell whether their client is
// on HTTP long-polling (engineio.Session does). The drain closes those first, as
// early as the rate allows: a long-polling client sends a new request for every
// poll, and once the failing readiness takes the pod out of the load balancer,
// that request lands on another pod, which does not know the session; the
// client then reconnects before this pod has closed the session, so the session
// was never stored for connection state recovery. A WebSocket client stays on
// its connection until it is closed.
type LongPolling interface {
	LongPolling() bool
}

func isLongPolling(s Session) bool {
	p, ok := s.(LongPolling)
	return ok && p.LongPolling()
}

// Clock abstracts time so that tests run on virtual time.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d or until ctx ends (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits for d or ctx.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Options configure a Drainer.
type Options struct {
	// Window is the drain deadline after Start (default 30s).
	Window time.Duration
	// RatePerSecond caps transport closes per second for drain and shed;
	// 0 lets the drain spread the sessions over the window and the shed use
	// DefaultShedRate.
	RatePerSecond int
	// Tick is the batch granularity (default 100ms).
	Tick time.Duration
	// Clock defaults to RealClock.
	Clock Clock
	// Rand returns a number in [0,1) for jitter and session choice
	// (default math/rand/v2).
	Rand func() float64
	// OnClose is called with the number of sessions closed in each batch and
	// whether it was a drain (true) or a shed (false); for metrics.
	OnClose func(n int, drain bool)
	// Logger receives progress logs (default: discarded).
	Logger *slog.Logger
	// ShedHold, when positive, keeps Shedding true after a shed until the
	// session count is down to the shed's target (the count when Shed was
	// called minus n), for at most ShedHold after the last Shed. Behind a
	// balancer without stickiness a shed client's handshake lands on any
	// pod, the shedding one included: while Shedding, that handshake must go
	// elsewhere (refused, or handed to a peer) or the shed moves nobody.
	ShedHold time.Duration
	// Count returns the number of open sessions for ShedHold (default:
	// len of the list).
	Count func() int
}

// DefaultShedHold is the ShedHold of a runtime with session forwarding.
const DefaultShedHold = 30 * time.Second

// DefaultShedRate is the shed rate (closes per second) when
// Options.RatePerSecond is 0.
const DefaultShedRate = 100

// closingSpan is the part of the window over which closes are spread; the
// rest lets the last clients leave before the deadline.
const closingSpan = 0.8

// Drainer drains and sheds the sessions listed by a function.
type Drainer struct {
	list func() []Session
	opts Options

	draining atomic.Bool
	started  time.Time
	startMu  sync.Mutex

	done     chan struct{}
	doneOnce sync.Once

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	shedMu      sync.Mutex
	shedPending int
	shedRunning bool
	// shedTarget is the session count the last shed aims at and shedUntil
	// when that aim lapses (ShedHold after the shed).
	shedTarget int
	shedUntil  time.Time

	closedDrain atomic.Int64
	closedShed  atomic.Int64
}

// New returns a Drainer over the sessions that list returns. Call Stop to
// end its background work.
func New(list func() []Session, opts Options) *Drainer {
	if opts.Window <= 0 {
		opts.Window = 30 * time.Second
	}
	if opts.Tick <= 0 {
		opts.Tick = 100 * time.Millisecond
	}
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	if opts.OnClose == nil {
		opts.OnClose = func(int, bool) {}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Count == nil {
		opts.Count = func() int { return len(list()) }
	}
	d := &Drainer{list: list, opts: opts, done: make(chan struct{})}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d
}

// Draining reports whether Start was called.
func (d *Drainer) Draining() bool { return d.draining.Load() }

// StartedAt returns when the drain started (zero before Start).
func (d *Drainer) StartedAt() time.Time {
	d.startMu.Lock()
	defer d.startMu.Unlock()
	return d.started
}

// Deadline returns the drain deadline (zero before Start).
func (d *Drainer) Deadline() time.Time {
	s := d.StartedAt()
	if s.IsZero() {
		return s
	}
	return s.Add(d.opts.Window)
}

// Window returns the drain window.
func (d *Drainer) Window() time.Duration { return d.opts.Window }

// Stats are the counts of sessions closed so far.
type Stats struct {
	// ClosedByDrain counts transport closes issued by the drain.
	ClosedByDrain int64 `json:"closedByDrain"`
	// ClosedByShed counts transport closes issued by shedding.
	ClosedByShed int64 `json:"closedByShed"`
	// ShedPending counts sessions still to shed.
	ShedPending int `json:"shedPending"`
}

// Stats returns the close counters.
func (d *Drainer) Stats() Stats {
	d.shedMu.Lock()
	pending := d.shedPending
	d.shedMu.Unlock()
	return Stats{ClosedByDrain: d.closedDrain.Load(), ClosedByShed: d.closedShed.Load(), ShedPending: pending}
}

// Start begins the drain: Draining is true when it returns, and the sessions
// are closed in the background. It reports false if the drain had already
// started.
func (d *Drainer) Start() bool {
	if !d.draining.CompareAndSwap(false, true) {
		return false
	}
	now := d.opts.Clock.Now()
	d.startMu.Lock()
	d.started = now
	d.startMu.Unlock()
	d.opts.Logger.Info("drain started", "window", d.opts.Window.String(), "sessions", len(d.list()))
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.run(now)
	}()
	return true
}

// Done is closed when the drain has finished: no session left, or the
// deadline passed.
func (d *Drainer) Done() <-chan struct{} { return d.done }

// Stop ends the background work (drain and shed loops) and waits for it.
// Done is closed if it was not already.
func (d *Drainer) Stop() {
	d.cancel()
	d.wg.Wait()
	d.finish()
}

func (d *Drainer) finish() { d.doneOnce.Do(func() { close(d.done) }) }

// run closes the sessions: at each jittered tick of the closing span the
// cumulative target floor(total*(i+1)/batches) is reached (capped by the
// rate), then every remaining session is closed at the rate until the list is
// empty or the deadline passes.
func (d *Drainer) run(start time.Time) {
	defer d.finish()
	o := d.opts
	deadline := start.Add(o.Window)
	span := time.Duration(float64(o.Window) * closingSpan)
	batches := max(1, int(span/o.Tick))
	slot := span / time.Duration(batches)
	closed := make(map[Session]struct{})
	for i := 0; ; i++ {
		// Wait for this batch's jittered time within its slot.
		var at time.Time
		switch {
		case i == 0 && slices.ContainsFunc(d.list(), isLongPolling):
			at = start // long-polling sessions are closed from the start
		case i < batches:
			at = start.Add(time.Duration(i)*slot + time.Duration(o.Rand()*float64(slot)))
		default:
			at = o.Clock.Now().Add(o.Tick)
		}
		if at.After(deadline) {
			at = deadline
		}
		if wait := at.Sub(o.Clock.Now()); wait > 0 {
			if o.Clock.Sleep(d.ctx, wait) != nil {
				return
			}
		}
		now := o.Clock.Now()
		open := d.openSessions(closed)
		polling := longPollingFirst(open)
		if len(open) == 0 && d.allGone() {
			o.Logger.Info("drain finished: no sessions left", "closed", len(closed),
				"elapsed", now.Sub(start).String())
			return
		}
		if !now.Before(deadline) {
			o.Logger.Warn("drain deadline reached", "remaining", len(d.list()), "closed", len(closed))
			return
		}
		total := len(closed) + len(open)
		target := total
		if i < batches-1 {
			target = total * (i + 1) / batches
		}
		k := max(target-len(closed), polling)
		if o.RatePerSecond > 0 {
			budget := int(math.Floor(float64(o.RatePerSecond)*now.Sub(start).Seconds())) + 1 - len(closed)
			k = min(k, budget)
		}
		k = min(k, len(open))
		if k <= 0 {
			continue
		}
		for _, s := range pickFirst(open, polling, k, o.Rand) {
			closed[s] = struct{}{}
			s.Close()
		}
		d.closedDrain.Add(int64(k))
		o.OnClose(k, true)
	}
}

// allGone reports whether the session list is empty (closing sessions
// included: they leave the list once their transport is closed).
func (d *Drainer) allGone() bool { return len(d.list()) == 0 }

// openSessions lists the sessions not yet closed by the drain.
func (d *Drainer) openSessions(closed map[Session]struct{}) []Session {
	all := d.list()
	open := all[:0:0]
	for _, s := range all {
		if _, ok := closed[s]; !ok {
			open = append(open, s)
		}
	}
	return open
}

// longPollingFirst moves the long-polling sessions of list to its front and
// returns how many there are.
func longPollingFirst(list []Session) int {
	n := 0
	for i, s := range list {
		if isLongPolling(s) {
			list[n], list[i] = list[i], list[n]
			n++
		}
	}
	return n
}

// pickFirst returns k elements of list whose first `first` elements come
// first: k random ones of them if k <= first, else all of them and k - first
// random ones of the rest (list is reordered).
func pickFirst(list []Session, first, k int, rnd func() float64) []Session {
	if k <= first {
		return pick(list[:first], k, rnd)
	}
	pick(list[first:], k-first, rnd)
	return list[:k]
}

// pick returns k random elements of list (list is reordered).
func pick(list []Session, k int, rnd func() float64) []Session {
	for i := range k {
		j := i + int(rnd()*float64(len(list)-i))
		if j >= len(list) {
			j = len(list) - 1
		}
		list[i], list[j] = list[j], list[i]
	}
	return list[:k]
}

// Shed schedules n more sessions to be closed at the transport level at the
// shed rate, and returns at once with the number of sessions still to shed.
// Shedding stops when there are no sessions left or the drain starts.
func (d *Drainer) Shed(n int) int {
	if n <= 0 || d.Draining() {
		return 0
	}
	var target int
	if d.opts.ShedHold > 0 {
		target = max(0, d.opts.Count()-n)
	}
	d.shedMu.Lock()
	defer d.shedMu.Unlock()
	if d.opts.ShedHold > 0 {
		d.shedTarget, d.shedUntil = target, d.opts.Clock.Now().Add(d.opts.ShedHold)
	}
	d.shedPending += n
	if !d.shedRunning {
		d.shedRunning = true
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.shedLoop()
		}()
	}
	return d.shedPending
}

// Shedding reports whether new handshakes should go elsewhere for a shed:
// while closes are pending and, with ShedHold, until the session count is
// down to the last shed's target (at most ShedHold after it). It is false
// once the drain has started (the drain refuses handshakes itself).
func (d *Drainer) Shedding() bool {
	if d.Draining() {
		return false
	}
	d.shedMu.Lock()
	pending, target, until := d.shedPending, d.shedTarget, d.shedUntil
	d.shedMu.Unlock()
	if pending > 0 {
		return true
	}
	return d.opts.ShedHold > 0 && d.opts.Clock.Now().Before(until) && d.opts.Count() > target
}

func (d *Drainer) shedLoop() {
	o := d.opts
	rate := o.RatePerSecond
	if rate <= 0 {
		rate = DefaultShedRate
	}
	// Close a batch every interval: at least one session, at most rate*Tick.
	// The rate holds over the whole run rather than per batch: a batch that
	// comes late (a busy process wakes up late) closes what the rate allowed
	// meanwhile, at most one second's worth, so a loaded process sheds at its
	// rate instead of falling behind by its scheduling delays.
	interval := max(o.Tick, time.Second/time.Duration(rate))
	perBatch := max(1, int(float64(rate)*interval.Seconds()))
	start, closedRun := o.Clock.Now(), 0
	shed := make(map[Session]struct{})
	for {
		d.shedMu.Lock()
		if d.shedPending <= 0 || d.Draining() || d.ctx.Err() != nil {
			d.shedPending = 0
			d.shedRunning = false
			d.shedMu.Unlock()
			return
		}
		allowed := perBatch + int(float64(rate)*o.Clock.Now().Sub(start).Seconds()) - closedRun
		k := min(d.shedPending, max(0, min(allowed, max(rate, perBatch))))
		d.shedMu.Unlock()

		// Forget sessions that are gone, so the map stays small.
		open := d.openSessions(shed)
		live := make(map[Session]struct{}, len(shed))
		for _, s := range d.list() {
			if _, ok := shed[s]; ok {
				live[s] = struct{}{}
			}
		}
		shed = live
		k = min(k, len(open))
		if len(open) == 0 {
			d.shedMu.Lock()
			d.shedPending = 0
			d.shedRunning = false
			d.shedMu.Unlock()
			return
		}
		for _, s := range pick(open, k, o.Rand) {
			shed[s] = struct{}{}
			s.Close()
		}
		closedRun += k
		if k > 0 {
			d.closedShed.Add(int64(k))
			o.OnClose(k, false)
			d.shedMu.Lock()
			d.shedPending -= k
			d.shedMu.Unlock()
		}
		if o.Clock.Sleep(d.ctx, interval) != nil {
			d.shedMu.Lock()
			d.shedRunning = false
			d.shedMu.Unlock()
			return
		}
	}
}
