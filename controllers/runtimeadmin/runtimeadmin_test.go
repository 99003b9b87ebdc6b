package runtimeadmin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/runtime/admin"
	"github.com/socketfleet/socketfleet/runtime/app"
	"github.com/socketfleet/socketfleet/runtime/drain"
)

// testToken is the admin token of the fake runtime.
const testToken = "t0ken"

// fakeRuntime is the state behind the runtime's real admin handler.
type fakeRuntime struct {
	mu       sync.Mutex
	draining bool
	shed     []int
	to       []string // the peers of each shed, as the runtime parsed them
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
			return app.Stats{Draining: rt.draining, ConnectedClients: app.ClientStats{Total: rt.clients,
				ByTransport: map[string]int{"websocket": rt.clients - rt.clients/10, "polling": rt.clients / 10}},
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
		Shed: func(n int, peers []netip.AddrPort) (int, error) {
			rt.mu.Lock()
			defer rt.mu.Unlock()
			rt.shed = append(rt.shed, n)
			rt.to = append(rt.to, fmt.Sprint(peers))
			return n, nil
		},
		MaxShed: 50,
		// As the operator configures the pods: every admin call, reads included, needs the token.
		Tokens:       admin.StaticTokens(testToken),
		ProtectReads: true,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestFirstToken(t *testing.T) {
	for in, want := range map[string]string{"abc": "abc", "\n  new \r\nold\n": "new", " \n": "", "": ""} {
		if got := FirstToken([]byte(in)); got != want {
			t.Errorf("FirstToken(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestURLs(t *testing.T) {
	base := BaseURL("10.0.0.7", 8081)
	got := []string{base, StatsURL(base), ShedURL(base), DrainURL(base), BaseURL("fd00::1", 8081), Addr("fd00::1", 8081)}
	want := []string{"http://10.0.0.7:8081", "http://10.0.0.7:8081/stats", "http://10.0.0.7:8081/shed",
		"http://10.0.0.7:8081/drain", "http://[fd00::1]:8081", "[fd00::1]:8081"}
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
	c := &Client{Token: testToken}
	ctx := context.Background()

	// Without the token (or with another one) every call fails with the runtime's 401 and nothing happens.
	for _, bad := range []*Client{{}, {Token: "other"}} {
		if _, err := bad.Stats(ctx, StatsURL(base)); err == nil || !strings.Contains(err.Error(), "status 401") {
			t.Errorf("Stats with token %q: err = %v, want status 401", bad.Token, err)
		}
		if err := bad.Shed(ctx, ShedURL(base), 5, nil); err == nil || !strings.Contains(err.Error(), "status 401") {
			t.Errorf("Shed with token %q: err = %v, want status 401", bad.Token, err)
		}
		if err := bad.Drain(ctx, DrainURL(base)); err == nil || !strings.Contains(err.Error(), "status 401") {
			t.Errorf("Drain with token %q: err = %v, want status 401", bad.Token, err)
		}
	}
	if rt.draining || len(rt.shed) != 0 {
		t.Fatalf("refused calls acted: draining %v, shed %v", rt.draining, rt.shed)
	}

	st, err := c.Stats(ctx, StatsURL(base))
	if err != nil || st != (Stats{Connections: 42, WebSocket: 38, Polling: 4}) {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	if err := c.Shed(ctx, ShedURL(base), 5, nil); err != nil {
		t.Fatalf("Shed: %v", err)
	}
	if err := c.Shed(ctx, ShedURL(base), 2, []string{Addr("10.0.0.8", 8081), Addr("fd00::2", 8081)}); err != nil {
		t.Fatalf("Shed with peers: %v", err)
	}
	if err := c.Shed(ctx, ShedURL(base), 2, []string{"pod-b"}); err == nil || !strings.Contains(err.Error(), "status 400") ||
		!strings.Contains(err.Error(), "is not IP:port") {
		t.Errorf("Shed naming a peer by name: err = %v, want the runtime's 400 quoted", err)
	}
	if err := c.Shed(ctx, ShedURL(base), 51, nil); err == nil || !strings.Contains(err.Error(), "status 400") ||
		!strings.Contains(err.Error(), "between 1 and 50") {
		t.Errorf("Shed over the bound: err = %v, want the runtime's 400 quoted", err)
	}
	if st, err := c.Stats(ctx, StatsURL(base)); err != nil || st.ShedPending != 7 {
		t.Errorf("Stats after shed = %+v, %v, want 7 pending", st, err)
	}
	for i := range 2 { // the second drain answers 200 "already draining": not an error
		if err := c.Drain(ctx, DrainURL(base)); err != nil {
			t.Fatalf("Drain %d: %v", i, err)
		}
	}
	if st, err := c.Stats(ctx, StatsURL(base)); err != nil || !st.Draining {
		t.Errorf("Stats after drain = %+v, %v, want draining", st, err)
	}
	if err := c.Shed(ctx, ShedURL(base), 1, nil); err == nil || !strings.Contains(err.Error(), "status 409") {
		t.Errorf("Shed while draining: err = %v, want status 409", err)
	}
	if fmt.Sprint(rt.shed) != "[5 2]" || fmt.Sprint(rt.to) != "[[] [10.0.0.8:8081 [fd00::2]:8081]]" {
		t.Errorf("runtime shed %v to %q, want [5 2] to [[] [10.0.0.8:8081 [fd00::2]:8081]]", rt.shed, rt.to)
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
		{"negative transport", server(200, `{"connectedClients":{"total":1,"byTransport":{"polling":-1}}}`), "does not fit total"},
		{"transports over total", server(200, `{"connectedClients":{"total":3,"byTransport":{"websocket":3,"polling":1}}}`), "does not fit total"},
		{"transport not a number", server(200, `{"connectedClients":{"total":3,"byTransport":{"websocket":"3"}}}`), "decode"},
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

// TestStatsAdapterHealth reads the adapterHealth block of the runtime's own /stats document (app.Stats).
func TestStatsAdapterHealth(t *testing.T) {
	since := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		health *app.AdapterHealth
		want   *AdapterHealth
	}{
		{"in-memory adapter", nil, nil},
		{"up", &app.AdapterHealth{Name: "redis", Up: true, LastOKAt: &since}, &AdapterHealth{Name: "redis", Up: true}},
		{"down", &app.AdapterHealth{Name: "redis", DownSince: &since, LastError: "ping: refused"},
			&AdapterHealth{Name: "redis", DownSince: &since}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := admin.Handler(admin.Options{
				Ready:    func() error { return nil },
				Metrics:  http.NotFoundHandler(),
				Stats:    func() any { return app.Stats{ConnectedClients: app.ClientStats{Total: 3}, AdapterHealth: tt.health} },
				Drain:    func() bool { return false },
				Deadline: time.Now,
				Draining: func() bool { return false },
				Shed:     func(int, []netip.AddrPort) (int, error) { return 0, nil },
			})
			srv := httptest.NewServer(h)
			defer srv.Close()
			st, err := (&Client{}).Stats(context.Background(), StatsURL(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want == nil && st.Adapter != nil:
				t.Errorf("adapter %+v, want none", *st.Adapter)
			case tt.want != nil && (st.Adapter == nil || st.Adapter.Name != tt.want.Name || st.Adapter.Up != tt.want.Up ||
				(st.Adapter.DownSince == nil) != (tt.want.DownSince == nil) ||
				(tt.want.DownSince != nil && !st.Adapter.DownSince.Equal(*tt.want.DownSince))):
				t.Errorf("adapter %+v, want %+v", st.Adapter, *tt.want)
			}
		})
	}
}
