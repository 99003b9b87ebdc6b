package app_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/internal/waitfor"
	"github.com/socketfleet/socketfleet/runtime/app"
)

// step is one outcome fed to the monitor: a ping (Check) or a publish
// (RecordPublish), failing when err is set.
type step struct {
	publish bool
	err     error
}

func TestAdapterMonitor(t *testing.T) {
	refused := errors.New("connection refused")
	ping := func(err error) step { return step{err: err} }
	pub := func(err error) step { return step{publish: true, err: err} }
	tests := []struct {
		name  string
		steps []step
		// want after the last step
		up                   bool
		downSinceStep        int // index of the step that started the outage (-1: up)
		publishErrors, downs uint64
		lastPublishOK        bool
		// logs are the transition messages, in order
		logs []string
	}{
		{"healthy", []step{ping(nil), ping(nil), pub(nil)}, true, -1, 0, 0, true, nil},
		{"down at start", []step{ping(refused), ping(refused)}, false, 0, 0, 1, false, []string{"down"}},
		{"down then up", []step{ping(nil), ping(refused), ping(refused), ping(nil)}, true, -1, 0, 1, false,
			[]string{"down", "up again"}},
		{"failed publish shows before the next ping", []step{ping(nil), pub(refused)}, false, 1, 1, 1, false, []string{"down"}},
		{"a publish that succeeds ends the outage", []step{pub(refused), pub(refused), pub(nil)}, true, -1, 2, 1, true,
			[]string{"down", "up again"}},
		{"two outages", []step{ping(refused), ping(nil), pub(refused), ping(nil)}, true, -1, 1, 2, false,
			[]string{"down", "up again", "down", "up again"}},
		{"a publish does not end an outage a failed ping reported", []step{ping(refused), pub(nil)}, false, 0, 0, 1, true,
			[]string{"down"}},
		{"the next ping does", []step{ping(refused), pub(nil), ping(nil)}, true, -1, 0, 1, true,
			[]string{"down", "up again"}},
		{"outage starts at its first failure", []step{ping(nil), ping(refused), pub(refused), ping(refused)}, false, 1, 1, 1, false,
			[]string{"down"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			now := start
			var next error
			var logs bytes.Buffer
			m := app.NewAdapterMonitor(app.AdapterMonitorOptions{
				Name:   "redis",
				Ping:   func(context.Context) error { return next },
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				Now:    func() time.Time { return now },
			})
			for i, s := range tt.steps {
				now = start.Add(time.Duration(i) * time.Second)
				if s.publish {
					m.RecordPublish(s.err)
				} else {
					next = s.err
					if err := m.Check(context.Background()); !errors.Is(err, s.err) {
						t.Fatalf("Check = %v, want %v", err, s.err)
					}
				}
			}
			now = now.Add(time.Second)
			h := m.Health()
			if h.Up != tt.up || m.Up() != tt.up || h.Name != "redis" || h.PublishErrors != tt.publishErrors || h.DownTransitions != tt.downs {
				t.Errorf("health %+v, want up=%v publishErrors=%d downs=%d", h, tt.up, tt.publishErrors, tt.downs)
			}
			if (h.LastPublishOKAt != nil) != tt.lastPublishOK {
				t.Errorf("lastPublishOkAt = %v, want set=%v", h.LastPublishOKAt, tt.lastPublishOK)
			}
			switch {
			case tt.downSinceStep < 0 && (h.DownSince != nil || h.DownSeconds != 0):
				t.Errorf("up, yet downSince=%v downSeconds=%v", h.DownSince, h.DownSeconds)
			case tt.downSinceStep >= 0:
				want := start.Add(time.Duration(tt.downSinceStep) * time.Second)
				if h.DownSince == nil || !h.DownSince.Equal(want) || h.DownSeconds != now.Sub(want).Seconds() {
					t.Errorf("downSince=%v downSeconds=%v, want %v", h.DownSince, h.DownSeconds, want)
				}
				if !strings.Contains(h.LastError, "connection refused") {
					t.Errorf("lastError %q", h.LastError)
				}
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				switch {
				case strings.Contains(line, "cluster adapter down"):
					got = append(got, "down")
				case strings.Contains(line, "cluster adapter up again"):
					got = append(got, "up again")
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.logs, ",") {
				t.Errorf("transitions logged %v, want %v\n%s", got, tt.logs, logs.String())
			}
		})
	}
}

// TestAdapterMonitorRun: Run pings on its interval until its context ends.
func TestAdapterMonitorRun(t *testing.T) {
	pings := make(chan struct{}, 100)
	m := app.NewAdapterMonitor(app.AdapterMonitorOptions{
		Name:     "redis",
		Interval: time.Millisecond,
		Ping: func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("ping without a deadline")
			}
			select {
			case pings <- struct{}{}:
			default:
			}
			return errors.New("refused")
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	waitfor.True(t, "three pings", func() bool { return len(pings) >= 3 })
	cancel()
	<-done
	if h := m.Health(); h.Up || h.DownTransitions != 1 {
		t.Errorf("health %+v", h)
	}
}
