package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults of AdapterMonitorOptions.
const (
	DefaultAdapterCheckInterval = 2 * time.Second
	DefaultAdapterCheckTimeout  = time.Second
)

// AdapterHealth is the state of the cluster adapter's link to Redis, the
// "adapterHealth" block of /stats. Up means that Redis answered the last
// command sent on the link (a periodic ping or a publish); while it is down
// the process keeps serving its own clients, and broadcasts do not reach
// the clients of other processes.
type AdapterHealth struct {
	// Name is the adapter's name, e.g. "redis".
	Name string `json:"name"`
	// Up is true while Redis answers.
	Up bool `json:"up"`
	// DownSince is when the current outage was first seen; nil while up.
	DownSince *time.Time `json:"downSince,omitempty"`
	// DownSeconds is the time since DownSince; 0 while up.
	DownSeconds float64 `json:"downSeconds,omitempty"`
	// LastOKAt is when Redis last answered a ping or a publish.
	LastOKAt *time.Time `json:"lastOkAt,omitempty"`
	// LastPingOKAt is when Redis last answered a ping.
	LastPingOKAt *time.Time `json:"lastPingOkAt,omitempty"`
	// LastPublishOKAt is when a publish (a broadcast forwarded to the
	// other processes) last succeeded.
	LastPublishOKAt *time.Time `json:"lastPublishOkAt,omitempty"`
	// LastError is the last error of the link, kept after it recovered.
	LastError string `json:"lastError,omitempty"`
	// PublishErrors counts the publishes that failed since the start: the
	// broadcasts that did not reach the other processes.
	PublishErrors uint64 `json:"publishErrors"`
	// DownTransitions counts the outages since the start.
	DownTransitions uint64 `json:"downTransitions"`
}

// AdapterMonitorOptions configure NewAdapterMonitor.
type AdapterMonitorOptions struct {
	// Name is the adapter's name, e.g. "redis".
	Name string
	// Ping asks Redis whether it answers; required.
	Ping func(ctx context.Context) error
	// Interval is the time between two pings (default 2s).
	Interval time.Duration
	// Timeout bounds each ping (default 1s, at most Interval).
	Timeout time.Duration
	// Logger receives the up->down and down->up transitions, once each
	// (default: discarded).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// AdapterMonitor follows the health of a cluster adapter's link: one
// goroutine per process pings on an interval (Run), and the adapter reports
// the outcome of every publish (RecordPublish) so a failure shows at once.
// The link is up again when a ping succeeds, or a publish when no ping
// failed since (the ping also checks the subscription, which a publish
// does not). It only reports: readiness does not depend on it. It is safe
// for concurrent use.
type AdapterMonitor struct {
	opts AdapterMonitorOptions

	mu              sync.Mutex
	up              bool
	downSince       time.Time
	lastOK          time.Time
	lastPingOK      time.Time
	lastPublishOK   time.Time
	lastErr         string
	publishErrors   uint64
	downTransitions uint64
	// pingFailing is set while the last ping failed: a publish that
	// succeeds meanwhile does not end the outage (Redis may take commands
	// again before this process's subscription is back), the next ping
	// that succeeds does.
	pingFailing bool
}

// NewAdapterMonitor returns a monitor that considers the link up until a
// ping or a publish fails.
func NewAdapterMonitor(opts AdapterMonitorOptions) *AdapterMonitor {
	if opts.Interval <= 0 {
		opts.Interval = DefaultAdapterCheckInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultAdapterCheckTimeout
	}
	opts.Timeout = min(opts.Timeout, opts.Interval)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &AdapterMonitor{opts: opts, up: true}
}

// Run pings every Interval until ctx ends.
func (m *AdapterMonitor) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = m.Check(ctx)
		}
	}
}

// Check pings once, records the outcome and returns the ping's error.
func (m *AdapterMonitor) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	err := m.opts.Ping(ctx)
	if err != nil {
		err = fmt.Errorf("ping: %w", err)
	}
	m.record(err, false)
	return err
}

// RecordPublish records the outcome of one publish to Redis (nil: it
// succeeded).
func (m *AdapterMonitor) RecordPublish(err error) {
	if err != nil {
		err = fmt.Errorf("publish: %w", err)
	}
	m.record(err, true)
}

func (m *AdapterMonitor) record(err error, publish bool) {
	now := m.opts.Now()
	m.mu.Lock()
	wasUp := m.up
	var downFor time.Duration
	if !publish {
		m.pingFailing = err != nil
	}
	if err == nil {
		m.lastOK = now
		if publish {
			m.lastPublishOK = now
		} else {
			m.lastPingOK = now
		}
		if !m.up && !m.pingFailing {
			downFor = now.Sub(m.downSince)
			m.up, m.downSince = true, time.Time{}
		}
	} else {
		m.lastErr = err.Error()
		if publish {
			m.publishErrors++
		}
		if m.up {
			m.up, m.downSince = false, now
			m.downTransitions++
		}
	}
	up := m.up
	m.mu.Unlock()

	switch {
	case wasUp && !up:
		m.opts.Logger.Warn("cluster adapter down: serving this process's clients only, broadcasts do not reach the other processes until Redis answers again",
			"adapter", m.opts.Name, "err", err)
	case !wasUp && up:
		m.opts.Logger.Info("cluster adapter up again: cross-process delivery resumed",
			"adapter", m.opts.Name, "downFor", downFor.Round(time.Millisecond).String())
	}
}

// Up reports whether the link is up.
func (m *AdapterMonitor) Up() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.up
}

// Health returns the current state.
func (m *AdapterMonitor) Health() AdapterHealth {
	now := m.opts.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	h := AdapterHealth{
		Name:            m.opts.Name,
		Up:              m.up,
		DownSince:       timePtr(m.downSince),
		LastOKAt:        timePtr(m.lastOK),
		LastPingOKAt:    timePtr(m.lastPingOK),
		LastPublishOKAt: timePtr(m.lastPublishOK),
		LastError:       m.lastErr,
		PublishErrors:   m.publishErrors,
		DownTransitions: m.downTransitions,
	}
	if !m.up {
		h.DownSeconds = max(now.Sub(m.downSince).Seconds(), 0)
	}
	return h
}

// timePtr returns nil for the zero time.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
