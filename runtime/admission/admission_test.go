package admission

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/runtime/engineio"
)

type decision struct {
	accepted bool
	reason   string
}

func TestGate(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	tests := []struct {
		name string
		opts Options
		// steps: advance the clock by the duration, then call Allow.
		steps []time.Duration
		want  []decision
	}{
		{
			name:  "no limits",
			opts:  Options{},
			steps: []time.Duration{0, 0, 0},
			want:  []decision{{true, ""}, {true, ""}, {true, ""}},
		},
		{
			name:  "draining refuses",
			opts:  Options{Draining: func() bool { return true }},
			steps: []time.Duration{0},
			want:  []decision{{false, ReasonDraining}},
		},
		{
			name:  "shedding refuses",
			opts:  Options{Shedding: func() bool { return true }},
			steps: []time.Duration{0},
			want:  []decision{{false, ReasonShedding}},
		},
		{
			name:  "max connections",
			opts:  Options{MaxConnections: 2, Sessions: func() int { return 2 }},
			steps: []time.Duration{0},
			want:  []decision{{false, ReasonMaxConnections}},
		},
		{
			name:  "below max connections",
			opts:  Options{MaxConnections: 3, Sessions: func() int { return 2 }},
			steps: []time.Duration{0},
			want:  []decision{{true, ""}},
		},
		{
			name:  "rate with burst then refill",
			opts:  Options{Rate: 2, Burst: 2},
			steps: []time.Duration{0, 0, 0, 500 * time.Millisecond, 0, time.Second, 0, 0},
			want: []decision{{true, ""}, {true, ""}, {false, ReasonRateLimited}, {true, ""}, {false, ReasonRateLimited},
				{true, ""}, {true, ""}, {false, ReasonRateLimited}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = time.Unix(1000, 0)
			var got []decision
			tt.opts.Now = clock
			tt.opts.OnDecision = func(a bool, r string) { got = append(got, decision{a, r}) }
			g := New(tt.opts)
			for i, step := range tt.steps {
				now = now.Add(step)
				err := g.Allow(httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling", nil))
				if (err == nil) != tt.want[i].accepted {
					t.Fatalf("step %d: err = %v, want accepted=%v", i, err, tt.want[i].accepted)
				}
				if err != nil {
					var re *engineio.RequestError
					if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable || re.RetryAfter < time.Second {
						t.Fatalf("step %d: refusal %#v, want 503 with Retry-After >= 1s", i, err)
					}
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("decisions %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("decision %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestRefusalOverHTTP checks the answer a client gets from a real engine.
func TestRefusalOverHTTP(t *testing.T) {
	g := New(Options{Draining: func() bool { return true }, DrainRetryAfter: 3 * time.Second})
	srv := engineio.NewServer(engineio.Options{AllowRequest: g.Allow}, nil)
	defer srv.Close(t.Context())
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "3" {
		t.Errorf("status %d Retry-After %q body %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if c := rec.Header().Get("Set-Cookie"); c != "" {
		t.Errorf("Set-Cookie %q without a sticky cookie configured", c)
	}
}

// TestRefusalExpiresStickyCookie checks that a refusal tells the browser to drop the load balancer's sticky
// cookie, so its retry is balanced to another pod instead of pinned to this one.
func TestRefusalExpiresStickyCookie(t *testing.T) {
	g := New(Options{Shedding: func() bool { return true }, StickyCookie: "socketfleet-route"})
	srv := engineio.NewServer(engineio.Options{AllowRequest: g.Allow}, nil)
	defer srv.Close(t.Context())
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling", nil)
	req.AddCookie(&http.Cookie{Name: "socketfleet-route", Value: "pod-a"})
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("status %d Retry-After %q body %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != "socketfleet-route" || cookies[0].MaxAge >= 0 || cookies[0].Path != "/" {
		t.Errorf("Set-Cookie %q, want socketfleet-route expired on path /", rec.Header().Values("Set-Cookie"))
	}
}
