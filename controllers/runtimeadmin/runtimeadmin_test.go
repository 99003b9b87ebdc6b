package runtimeadmin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/runtime/admin"
	"github.com/socketfleet/socketfleet/runtime/app"
	"github.com/socketfleet/socketfleet/runtime/drain"
)

// fakeRuntime is the state behind the runtime's real admin handler.
type fakeRuntime struct {
	mu       sync.Mutex
	draining bool
	shed     []int
	clients  int
}

// serve starts the runtime's admin handler (runtime/admin) over rt on a loopback port and returns its base URL.
func serve(t *testing.T, rt *fakeRuntime) string {
	t.Helper()
	h := admin.Handler(admin.Options{
		Ready:   func() error { return nil },
		Metrics: http.NotFoundHandler(),
		Stats: func() any {
			rt.mu.Lock()
			defer rt.mu.Unlock()
			pending := 0
			for _, n := range rt.shed {
				pending += n
			}
			return app.Stats{Draining: rt.draining, ConnectedClients: app.ClientStats{Total: rt.clients},
				Drain: app.DrainStats{Stats: drain.Stats{ShedPending: pending}}}
		},
		Drain: func() bool {
			rt.mu.Lock()
			defer rt.mu.Unlock()
			was := rt.draining
			rt.draining = true
			return !was
		},
		Deadline: func() time.Time { return time.Unix(100, 0).UTC() },
		Draining: func() bool {
			rt.mu.Lock()
			defer rt.mu.Unlock()
			return rt.draining
		},
		Shed: func(n int) int {
			rt.mu.Lock()
			defer rt.mu.Unlock()
			rt.shed = append(rt.shed, n)
			return n
		},
		MaxShed: 50,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestURLs(t *testing.T) {
	base := BaseURL("10.0.0.7", 8081)
	got := []string{base, StatsURL(base), ShedURL(base), DrainURL(base), BaseURL("fd00::1", 8081)}
	want := []string{"http://10.0.0.7:8081", "http://10.0.0.7:8081/stats", "http://10.0.0.7:8081/shed",
		"http://10.0.0.7:8081/drain", "http://[fd00::1]:8081"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("url %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// TestAgainstRuntimeHandler drives the runtime's own admin handler: stats, shed, drain, and the errors the
// runtime answers with.
func TestAgainstRuntimeHandler(t *testing.T) {
	rt := &fakeRuntime{clients: 42}
	base := serve(t, rt)
	c := &Client{}
	ctx := context.Background()

	st, err := c.Stats(ctx, StatsURL(base))
	if err != nil || st != (Stats{Connections: 42}) {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	if err := c.Shed(ctx, ShedURL(base), 5); err != nil {
		t.Fatalf("Shed: %v", err)
	}
	if err := c.Shed(ctx, ShedURL(base), 51); err == nil || !strings.Contains(err.Error(), "status 400") ||
		!strings.Contains(err.Error(), "between 1 and 50") {
		t.Errorf("Shed over the bound: err = %v, want the runtime's 400 quoted", err)
	}
	if st, err := c.Stats(ctx, StatsURL(base)); err != nil || st.ShedPending != 5 {
		t.Errorf("Stats after shed = %+v, %v, want 5 pending", st, err)
	}
	for i := range 2 { // the second drain answers 200 "already draining": not an error
		if err := c.Drain(ctx, DrainURL(base)); err != nil {
			t.Fatalf("Drain %d: %v", i, err)
		}
	}
	if st, err := c.Stats(ctx, StatsURL(base)); err != nil || !st.Draining {
		t.Errorf("Stats after drain = %+v, %v, want draining", st, err)
	}
	if err := c.Shed(ctx, ShedURL(base), 1); err == nil || !strings.Contains(err.Error(), "status 409") {
		t.Errorf("Shed while draining: err = %v, want status 409", err)
	}
	if len(rt.shed) != 1 || rt.shed[0] != 5 {
		t.Errorf("runtime shed %v, want [5]", rt.shed)
	}
}

func TestStatsErrors(t *testing.T) {
	server := func(code int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(code)
			fmt.Fprint(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	tests := []struct {
		name, url, want string
	}{
		{"status", server(503, `{"error":"nope"}`), "status 503"},
		{"not json", server(200, `not json`), "decode"},
		{"no connectedClients", server(200, `{"draining":false}`), "no connectedClients"},
		{"negative", server(200, `{"connectedClients":{"total":-1}}`), "negative"},
		{"too large", server(200, `{"connectedClients":{"total":1},"pad":"`+strings.Repeat("x", MaxStatsBody)+`"}`), "larger than"},
		{"refused", closedURL, "connect"},
		{"bad url", "http://[::1", "build request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&Client{}).Stats(context.Background(), tc.url)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestContextBoundsRequests(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer func() { close(release); srv.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c := &Client{HTTP: &http.Client{}}
	if _, err := c.Stats(ctx, StatsURL(srv.URL)); err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("Stats: err = %v, want deadline exceeded", err)
	}
	if err := c.Drain(ctx, DrainURL(srv.URL)); err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("Drain: err = %v, want deadline exceeded", err)
	}
}
