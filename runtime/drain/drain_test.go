package drain

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/socketfleet/socketfleet/internal/waitfor"
)

// shedPoll waits for shed batches: checked every millisecond, 10 s failure guard.
func shedPoll() waitfor.Poll {
	return waitfor.Poll{Timeout: 10 * time.Second, Interval: time.Millisecond}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is virtual time: Sleep advances it at once.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}

// pool is a set of fake sessions; a closed session leaves the pool unless
// sticky (a client that never goes away).
type pool struct {
	clock  *fakeClock
	mu     sync.Mutex
	open   map[*fakeSession]struct{}
	closes []time.Time
	order  []*fakeSession // the sessions in the order they were closed
	sticky bool
}

type fakeSession struct {
	p       *pool
	closed  int
	polling bool
}

func (s *fakeSession) LongPolling() bool { return s.polling }

func (s *fakeSession) Close() {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	s.closed++
	p.closes = append(p.closes, p.clock.Now())
	p.order = append(p.order, s)
	if !p.sticky {
		delete(p.open, s)
	}
}

func newPool(clock *fakeClock, n int) *pool {
	p := &pool{clock: clock, open: map[*fakeSession]struct{}{}}
	for range n {
		p.open[&fakeSession{p: p}] = struct{}{}
	}
	return p
}

func (p *pool) list() []Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Session, 0, len(p.open))
	for s := range p.open {
		out = append(out, s)
	}
	return out
}

func (p *pool) closeTimes() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.closes...)
}

func newDrainer(t *testing.T, p *pool, opts Options) *Drainer {
	t.Helper()
	opts.Clock = p.clock
	r := rand.New(rand.NewPCG(1, 2))
	var rmu sync.Mutex
	opts.Rand = func() float64 { rmu.Lock(); defer rmu.Unlock(); return r.Float64() }
	d := New(p.list, opts)
	t.Cleanup(d.Stop)
	return d
}

func waitDone(t *testing.T, d *Drainer) {
	t.Helper()
	select {
	case <-d.Done():
	case <-time.After(10 * time.Second): // failure guard only
		t.Fatal("drain did not finish")
	}
}

func TestDrainSpreadsClosesOverTheWindow(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	p := newPool(clock, 1000)
	d := newDrainer(t, p, Options{Window: 10 * time.Second})
	start := clock.Now()
	if d.Draining() {
		t.Fatal("draining before Start")
	}
	if !d.Start() {
		t.Fatal("Start returned false")
	}
	if !d.Draining() {
		t.Fatal("Draining is not true right after Start")
	}
	if d.Start() {
		t.Error("second Start returned true")
	}
	waitDone(t, d)

	closes := p.closeTimes()
	if len(closes) != 1000 || len(p.list()) != 0 {
		t.Fatalf("closed %d, left %d; want 1000, 0", len(closes), len(p.list()))
	}
	perInstant := map[time.Time]int{}
	onSlotBoundary := 0
	slot := 100 * time.Millisecond
	for _, at := range closes {
		off := at.Sub(start)
		if off < 0 || off > 8*time.Second {
			t.Fatalf("close at +%v, outside the closing span [0, 8s]", off)
		}
		perInstant[at]++
		if off%slot == 0 {
			onSlotBoundary++
		}
	}
	// 80 batches of 12 or 13 sessions.
	if len(perInstant) < 70 {
		t.Errorf("closes happened at %d instants, want them spread over ~80 batches", len(perInstant))
	}
	for at, n := range perInstant {
		if n > 13 {
			t.Errorf("batch at +%v closed %d sessions, want at most 13", at.Sub(start), n)
		}
	}
	if onSlotBoundary > len(perInstant)/4 {
		t.Errorf("%d of %d batches fell exactly on slot boundaries: no jitter", onSlotBoundary, len(perInstant))
	}
	if st := d.Stats(); st.ClosedByDrain != 1000 {
		t.Errorf("stats = %+v", st)
	}
}

// TestDrainClosesLongPollingFirst: the long-polling sessions are closed before any WebSocket one, from the start
// of the drain (at once without a rate cap, at the rate with one).
func TestDrainClosesLongPollingFirst(t *testing.T) {
	cases := []struct {
		name string
		rate int
		last time.Duration // the latest a long-polling session may be closed
	}{
		{"no rate cap", 0, 0},
		// 20 sessions at 50/s: the 20th due at +380ms, in the batch of the next jittered slot (100ms each) at most
		{"rate cap", 50, 600 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Unix(1000, 0)}
			p := newPool(clock, 200)
			n := 0
			for s := range p.open {
				if n < 20 {
					s.polling = true
					n++
				}
			}
			d := newDrainer(t, p, Options{Window: 10 * time.Second, RatePerSecond: tc.rate})
			start := clock.Now()
			d.Start()
			waitDone(t, d)
			p.mu.Lock()
			defer p.mu.Unlock()
			if len(p.order) != 200 {
				t.Fatalf("closed %d sessions, want 200", len(p.order))
			}
			for i, s := range p.order {
				if s.polling != (i < 20) {
					t.Fatalf("close #%d: long-polling %v; want the 20 long-polling sessions closed first", i+1, s.polling)
				}
				if s.polling && p.closes[i].Sub(start) > tc.last {
					t.Errorf("long-polling session closed at +%v, want by +%v", p.closes[i].Sub(start), tc.last)
				}
			}
		})
	}
}

func TestDrainRateCapAndDeadline(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	p := newPool(clock, 1000)
	d := newDrainer(t, p, Options{Window: 10 * time.Second, RatePerSecond: 50})
	start := clock.Now()
	d.Start()
	waitDone(t, d)

	closes := p.closeTimes()
	for i, at := range closes {
		allowed := int(50*at.Sub(start).Seconds()) + 1
		if i+1 > allowed {
			t.Fatalf("close #%d at +%v exceeds 50/s", i+1, at.Sub(start))
		}
	}
	if len(closes) < 400 || len(closes) > 501 {
		t.Errorf("closed %d sessions in a 10s window at 50/s", len(closes))
	}
	if got := clock.Now().Sub(start); got != 10*time.Second {
		t.Errorf("finished at +%v, want the deadline +10s", got)
	}
}

func TestDrainEndsAtDeadlineWhenClientsStay(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	p := newPool(clock, 20)
	p.sticky = true
	d := newDrainer(t, p, Options{Window: 5 * time.Second})
	start := clock.Now()
	d.Start()
	waitDone(t, d)
	if got := clock.Now().Sub(start); got != 5*time.Second {
		t.Errorf("finished at +%v, want +5s", got)
	}
	for s := range p.open {
		if s.closed != 1 {
			t.Errorf("session closed %d times, want once", s.closed)
		}
	}
}

func TestDrainWithoutSessionsEndsAtOnce(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	p := newPool(clock, 0)
	d := newDrainer(t, p, Options{Window: time.Minute})
	start := clock.Now()
	d.Start()
	waitDone(t, d)
	if got := clock.Now().Sub(start); got > 100*time.Millisecond {
		t.Errorf("empty drain took %v of virtual time", got)
	}
}

func TestShedClosesNAtTheRate(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	p := newPool(clock, 100)
	d := newDrainer(t, p, Options{RatePerSecond: 10})
	start := clock.Now()
	if got := d.Shed(30); got != 30 {
		t.Errorf("Shed returned %d pending, want 30", got)
	}
	shedPoll().NoError(t, "the shed", func() error {
		if st := d.Stats(); st.ClosedByShed < 30 || st.ShedPending > 0 {
			return fmt.Errorf("shed stuck: %+v", st)
		}
		return nil
	})
	closes := p.closeTimes()
	if len(closes) != 30 || len(p.list()) != 70 {
		t.Fatalf("closed %d, left %d", len(closes), len(p.list()))
	}
	for i, at := range closes {
		if allowed := int(10*at.Sub(start).Seconds()) + 1; i+1 > allowed {
			t.Fatalf("close #%d at +%v exceeds 10/s", i+1, at.Sub(start))
		}
	}
	if d.Draining() {
		t.Error("shed started a drain")
	}
}

// lateClock is virtual time whose Sleep oversleeps by factor: a busy process
// whose timers fire late.
type lateClock struct {
	fakeClock
	factor time.Duration
}

func (c *lateClock) Sleep(ctx context.Context, d time.Duration) error {
	return c.fakeClock.Sleep(ctx, d*c.factor)
}

// TestShedKeepsItsRateWhenLate checks that a shed whose batches come late
// (its timers fire three times later than asked) still closes at its rate
// over the run, never above it, instead of falling behind by the delays.
func TestShedKeepsItsRateWhenLate(t *testing.T) {
	clock := &lateClock{fakeClock: fakeClock{now: time.Unix(1000, 0)}, factor: 3}
	p := newPool(&clock.fakeClock, 100)
	d := New(p.list, Options{RatePerSecond: 10, Clock: clock, Rand: rand.New(rand.NewPCG(1, 2)).Float64})
	t.Cleanup(d.Stop)
	start := clock.Now()
	d.Shed(30)
	shedPoll().NoError(t, "the shed", func() error {
		if st := d.Stats(); st.ClosedByShed < 30 || st.ShedPending > 0 {
			return fmt.Errorf("shed stuck: %+v", st)
		}
		return nil
	})
	closes := p.closeTimes()
	if len(closes) != 30 {
		t.Fatalf("closed %d, want 30", len(closes))
	}
	for i, at := range closes {
		if allowed := int(10*at.Sub(start).Seconds()) + 1; i+1 > allowed {
			t.Fatalf("close #%d at +%v exceeds 10/s", i+1, at.Sub(start))
		}
	}
	// 30 closes at 10/s: the last one is due at +2.9 s; batches come every
	// 300 ms instead of 100 ms, so it may come up to one late batch after.
	if last := closes[len(closes)-1].Sub(start); last > 3200*time.Millisecond {
		t.Errorf("the last close came at +%v of virtual time, want the rate kept (+2.9 s, one late batch more at most)", last)
	}
}

func TestShedMoreThanOpenStops(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	p := newPool(clock, 5)
	d := newDrainer(t, p, Options{})
	d.Shed(50)
	shedPoll().NoError(t, "the shed", func() error {
		if st := d.Stats(); st.ShedPending > 0 {
			return fmt.Errorf("shed stuck: %+v", st)
		}
		return nil
	})
	if len(p.list()) != 0 || d.Stats().ClosedByShed != 5 {
		t.Errorf("left %d, stats %+v", len(p.list()), d.Stats())
	}
	if d.Shed(0) != 0 {
		t.Error("Shed(0) scheduled something")
	}
}

func TestRealClockDrainFinishesBeforeDeadline(t *testing.T) {
	p := newPool(&fakeClock{}, 10)
	d := New(p.list, Options{Window: 300 * time.Millisecond, Tick: 10 * time.Millisecond})
	defer d.Stop()
	begin := time.Now()
	d.Start()
	select {
	case <-d.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("drain did not finish")
	}
	if len(p.list()) != 0 {
		t.Errorf("%d sessions left", len(p.list()))
	}
	if !d.Deadline().After(begin) {
		t.Errorf("deadline %v", d.Deadline())
	}
}

// TestShedHold checks Shedding: true while closes are pending; with ShedHold
// also until the session count is down to the shed's target (sessions that
// never leave, or new ones arriving, keep it true) but never past the hold,
// and never during a drain.
func TestShedHold(t *testing.T) {
	tests := []struct {
		name string
		hold time.Duration
		// arrive sessions join after the shed's closes (clients coming back).
		arrive int
		// after is the virtual time waited after the closes.
		after time.Duration
		drain bool
		want  bool
	}{
		{name: "no hold: done once the closes are", hold: 0, arrive: 3, want: false},
		{name: "hold: at the target", hold: time.Minute, want: false},
		{name: "hold: above the target", hold: time.Minute, arrive: 3, want: true},
		{name: "hold lapsed", hold: time.Minute, arrive: 3, after: 2 * time.Minute, want: false},
		{name: "draining", hold: time.Minute, arrive: 3, drain: true, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Unix(1000, 0)}
			p := newPool(clock, 10)
			d := newDrainer(t, p, Options{RatePerSecond: 1, ShedHold: tt.hold, Window: time.Hour})
			if d.Shedding() {
				t.Fatal("Shedding before any shed")
			}
			d.Shed(4)
			if !d.Shedding() {
				t.Fatal("not Shedding while closes are pending")
			}
			shedPoll().NoError(t, "the shed", func() error {
				if st := d.Stats(); st.ShedPending > 0 {
					return fmt.Errorf("shed stuck: %+v", st)
				}
				return nil
			})
			if n := len(p.list()); n != 6 {
				t.Fatalf("%d sessions left after shedding 4 of 10", n)
			}
			p.mu.Lock()
			for range tt.arrive {
				p.open[&fakeSession{p: p}] = struct{}{}
			}
			p.mu.Unlock()
			_ = clock.Sleep(context.Background(), tt.after)
			if tt.drain {
				d.Start()
			}
			if got := d.Shedding(); got != tt.want {
				t.Errorf("Shedding() = %v, want %v", got, tt.want)
			}
		})
	}
}
