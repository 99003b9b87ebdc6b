package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/socketfleet/socketfleet/internal/waitfor"
	"github.com/socketfleet/socketfleet/runtime/app"
	"github.com/socketfleet/socketfleet/runtime/config"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// lockedBuffer is a bytes.Buffer safe for the logger's writes while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStartupReportsAdapterAndRecovery checks that the "listening" log line
// and /stats say which adapter serves and whether connection state recovery
// is on.
func TestStartupReportsAdapterAndRecovery(t *testing.T) {
	fakeRedis := func(o *app.Options) {
		o.Adapter = func(context.Context, config.Redis, *slog.Logger) (*app.ClusterAdapter, error) {
			return &app.ClusterAdapter{Name: "fake-redis", Factory: socketio.NewMemoryAdapter}, nil
		}
	}
	tests := []struct {
		name         string
		yaml         string
		opts         []func(*app.Options)
		wantAdapter  string
		wantRecovery bool
	}{
		{name: "defaults", wantAdapter: "memory"},
		{name: "recovery on", yaml: "connectionStateRecovery: {enabled: true}", wantAdapter: "memory", wantRecovery: true},
		{name: "redis", yaml: "redis: {url: 'redis://127.0.0.1:1/0'}", opts: []func(*app.Options){fakeRedis},
			wantAdapter: "fake-redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs lockedBuffer
			opts := append([]func(*app.Options){func(o *app.Options) {
				o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			}}, tt.opts...)
			r := start(t, tt.yaml, opts...)

			var stats struct {
				Adapter  string `json:"adapter"`
				Recovery *bool  `json:"recovery"`
			}
			code, _, body := get(t, r.admin+"/stats")
			if err := json.Unmarshal([]byte(body), &stats); code != 200 || err != nil {
				t.Fatalf("/stats = %d %v %s", code, err, body)
			}
			if stats.Adapter != tt.wantAdapter || stats.Recovery == nil || *stats.Recovery != tt.wantRecovery {
				t.Errorf("/stats adapter %q recovery %v, want %q %v: %s", stats.Adapter, stats.Recovery,
					tt.wantAdapter, tt.wantRecovery, body)
			}

			type record struct {
				Msg      string `json:"msg"`
				Adapter  string `json:"adapter"`
				Recovery *bool  `json:"recovery"`
			}
			var line record
			waitfor.True(t, "the listening log line", func() bool {
				for _, l := range strings.Split(logs.String(), "\n") {
					var rec record
					if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "socketfleet-runtime listening" {
						line = rec
						return true
					}
				}
				return false
			})
			if line.Adapter != tt.wantAdapter || line.Recovery == nil || *line.Recovery != tt.wantRecovery {
				t.Errorf("listening log adapter %q recovery %v, want %q %v", line.Adapter, line.Recovery,
					tt.wantAdapter, tt.wantRecovery)
			}
		})
	}
}
