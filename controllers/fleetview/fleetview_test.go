package fleetview

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/controllers/runtimeadmin"
)

// statsServer serves body with code on /stats.
func statsServer(t *testing.T, code int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stats" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPollResults(t *testing.T) {
	ok := statsServer(t, 200, `{"draining":false,"connectedClients":{"total":42,"byTransport":{"websocket":40,"polling":2}},"drain":{"shedPending":0}}`)
	draining := statsServer(t, 200, `{"draining":true,"connectedClients":{"total":7},"drain":{"shedPending":3}}`)
	failing := statsServer(t, 503, `{"error":"nope"}`)
	garbage := statsServer(t, 200, `not json`)
	missing := statsServer(t, 200, `{"draining":false}`)
	negative := statsServer(t, 200, `{"connectedClients":{"total":-1}}`)
	huge := statsServer(t, 200, `{"connectedClients":{"total":1},"pad":"`+strings.Repeat("x", runtimeadmin.MaxStatsBody)+`"}`)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })

	targets := []Target{
		{Name: "ok", StatsURL: ok.URL + "/stats"},
		{Name: "draining", StatsURL: draining.URL + "/stats"},
		{Name: "failing", StatsURL: failing.URL + "/stats"},
		{Name: "garbage", StatsURL: garbage.URL + "/stats"},
		{Name: "missing", StatsURL: missing.URL + "/stats"},
		{Name: "negative", StatsURL: negative.URL + "/stats"},
		{Name: "huge", StatsURL: huge.URL + "/stats"},
		{Name: "closed", StatsURL: closedURL + "/stats"},
		{Name: "slow", StatsURL: slow.URL + "/stats"},
		{Name: "bad-url", StatsURL: "http://[::1"},
	}
	// Long enough for every answering server on a loaded machine under
	// -race; only "slow" runs into it.
	p := &Poller{RequestTimeout: 2 * time.Second}
	got := p.Poll(context.Background(), targets)
	want := []struct {
		conns, ws, polling int64
		draining           bool
		shed               int64
		err                string
	}{
		{42, 40, 2, false, 0, ""},
		{7, 0, 0, true, 3, ""}, // a runtime that does not count by transport
		{0, 0, 0, false, 0, "status 503"},
		{0, 0, 0, false, 0, "decode"},
		{0, 0, 0, false, 0, "no connectedClients"},
		{0, 0, 0, false, 0, "negative"},
		{0, 0, 0, false, 0, "larger than"},
		{0, 0, 0, false, 0, "connect"},
		{0, 0, 0, false, 0, "deadline exceeded"},
		{0, 0, 0, false, 0, "build request"},
	}
	if len(got) != len(targets) {
		t.Fatalf("got %d results for %d targets", len(got), len(targets))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != targets[i].Name {
			t.Errorf("result %d is %q, want %q", i, g.Name, targets[i].Name)
		}
		if w.err == "" && g.Err != nil {
			t.Errorf("%s: unexpected error %v", g.Name, g.Err)
		}
		if w.err != "" && (g.Err == nil || !strings.Contains(g.Err.Error(), w.err)) {
			t.Errorf("%s: err = %v, want one containing %q", g.Name, g.Err, w.err)
		}
		if g.Connections != w.conns || g.Draining != w.draining || g.ShedPending != w.shed {
			t.Errorf("%s: got conns=%d draining=%v shed=%d, want %d %v %d", g.Name, g.Connections, g.Draining, g.ShedPending, w.conns, w.draining, w.shed)
		}
		if g.WebSocket != w.ws || g.Polling != w.polling {
			t.Errorf("%s: got websocket=%d polling=%d, want %d %d", g.Name, g.WebSocket, g.Polling, w.ws, w.polling)
		}
	}
}

func TestPollBoundsConcurrency(t *testing.T) {
	var inflight, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
		inflight.Add(-1)
		fmt.Fprint(w, `{"connectedClients":{"total":1}}`)
	}))
	defer srv.Close()
	targets := make([]Target, 12)
	for i := range targets {
		targets[i] = Target{Name: fmt.Sprintf("p%d", i), StatsURL: srv.URL + "/stats"}
	}
	got := (&Poller{Concurrency: 3}).Poll(context.Background(), targets)
	for _, g := range got {
		if g.Err != nil {
			t.Fatalf("%s: %v", g.Name, g.Err)
		}
	}
	if p := peak.Load(); p > 3 {
		t.Errorf("peak concurrency %d, want at most 3", p)
	}
}

func TestPollStopsAtContextDeadline(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer func() { once.Do(func() { close(release) }); srv.Close() }()
	targets := make([]Target, 4)
	for i := range targets {
		targets[i] = Target{Name: fmt.Sprintf("p%d", i), StatsURL: srv.URL + "/stats"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	got := (&Poller{Concurrency: 1, RequestTimeout: time.Minute}).Poll(ctx, targets)
	for _, g := range got {
		if g.Err == nil {
			t.Errorf("%s: polled although the deadline passed", g.Name)
		}
	}
	if !strings.Contains(got[3].Err.Error(), "not polled") {
		t.Errorf("last target: err = %v, want not polled", got[3].Err)
	}
}

func TestImbalance(t *testing.T) {
	tests := []struct {
		counts []int64
		want   int32
	}{
		{nil, 0},
		{[]int64{100}, 0},
		{[]int64{0, 0, 0}, 0},
		{[]int64{100, 100, 100}, 0},
		{[]int64{150, 50}, 50},
		{[]int64{300, 300, 0}, 100}, // mean 200, new pod at 0
		{[]int64{1000, 1000, 1000, 0}, 100},
		{[]int64{110, 100, 90}, 10},
	}
	for _, tc := range tests {
		if got := Imbalance(tc.counts); got != tc.want {
			t.Errorf("Imbalance(%v) = %d, want %d", tc.counts, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize([]PodStats{
		{Name: "b", Connections: 300, WebSocket: 290, Polling: 10},
		{Name: "a", Connections: 100, WebSocket: 100},
		{Name: "d", Err: fmt.Errorf("timeout"), WebSocket: 5},
		{Name: "c", Connections: 50, WebSocket: 40, Polling: 10, Draining: true},
		{Name: "aa", Err: fmt.Errorf("refused")},
		{Name: "e", Connections: 70, WebSocket: 69, Polling: 1, Terminating: true}, // in preStop: not yet draining, but leaving
		{Name: "f", Err: fmt.Errorf("refused"), Terminating: true},                 // exited: neither reporting nor unreachable
	})
	if s.Total != 520 || s.Reporting != 4 || s.Unreachable != 2 {
		t.Errorf("summary = %+v", s)
	}
	if s.WebSocket != 499 || s.Polling != 21 { // the reporting pods only, leaving ones included (they still serve)
		t.Errorf("transports: websocket %d, polling %d, want 499, 21", s.WebSocket, s.Polling)
	}
	if s.ImbalancePercent != 50 { // serving pods 300 and 100 (draining and terminating excluded): mean 200
		t.Errorf("imbalance = %d, want 50", s.ImbalancePercent)
	}
	if strings.Join(s.UnreachableNames, ",") != "aa,d" {
		t.Errorf("unreachable = %v", s.UnreachableNames)
	}
}

func TestSummarizeAdapterHealth(t *testing.T) {
	up, down := &runtimeadmin.AdapterHealth{Name: "redis", Up: true}, &runtimeadmin.AdapterHealth{Name: "redis"}
	tests := []struct {
		name      string
		pods      []PodStats
		reporting int
		down      string
	}{
		{"no pod reports a link", []PodStats{{Name: "a"}, {Name: "b"}}, 0, ""},
		{"all up", []PodStats{{Name: "a", Adapter: up}, {Name: "b", Adapter: up}}, 2, ""},
		{"some down, sorted", []PodStats{{Name: "c", Adapter: down}, {Name: "a", Adapter: up}, {Name: "b", Adapter: down}}, 3, "b,c"},
		{"an unreachable pod's last report does not count", []PodStats{{Name: "a", Adapter: down, Err: fmt.Errorf("timeout")},
			{Name: "b", Adapter: up}}, 1, ""},
		{"a draining pod counts", []PodStats{{Name: "a", Adapter: down, Draining: true}}, 1, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summarize(tt.pods)
			if s.AdapterReporting != tt.reporting || strings.Join(s.AdapterDownNames, ",") != tt.down {
				t.Errorf("reporting %d, down %v; want %d, %q", s.AdapterReporting, s.AdapterDownNames, tt.reporting, tt.down)
			}
		})
	}
}

func TestCache(t *testing.T) {
	var c Cache
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	targets := []Target{{Name: "b", StatsURL: "http://2/stats"}, {Name: "a", StatsURL: "http://1/stats"}}
	fp := Fingerprint(targets)
	if fp != Fingerprint([]Target{targets[1], targets[0]}) {
		t.Error("fingerprint depends on order")
	}
	if fp == Fingerprint([]Target{targets[0], {Name: "a", StatsURL: "http://1/stats", Terminating: true}}) {
		t.Error("fingerprint ignores a pod starting to terminate")
	}
	if _, ok := c.Fresh("ns/x", fp, now, time.Minute); ok {
		t.Error("empty cache returned a view")
	}
	c.Put("ns/x", View{At: now, Fingerprint: fp})
	tests := []struct {
		name string
		fp   string
		at   time.Time
		want bool
	}{
		{"same set, fresh", fp, now.Add(30 * time.Second), true},
		{"same set, too old", fp, now.Add(time.Minute), false},
		{"different set", Fingerprint(targets[:1]), now, false},
		{"clock went back", fp, now.Add(-time.Second), false},
	}
	for _, tc := range tests {
		if _, ok := c.Fresh("ns/x", tc.fp, tc.at, time.Minute); ok != tc.want {
			t.Errorf("%s: fresh = %v, want %v", tc.name, ok, tc.want)
		}
	}
	c.Delete("ns/x")
	if _, ok := c.Fresh("ns/x", fp, now, time.Minute); ok {
		t.Error("deleted view still returned")
	}
}
