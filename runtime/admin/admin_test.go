package admin_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/runtime/admin"
)

func TestEndpoints(t *testing.T) {
	draining := false
	var shed []int
	var shedPeers []string
	h := admin.Handler(admin.Options{
		Ready: func() error {
			if draining {
				return errors.New("draining")
			}
			return nil
		},
		Metrics:  http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "m 1\n") }),
		Stats:    func() any { return map[string]bool{"draining": draining} },
		Drain:    func() bool { was := draining; draining = true; return !was },
		Deadline: func() time.Time { return time.Unix(100, 0).UTC() },
		Draining: func() bool { return draining },
		Shed: func(n int, peers []netip.AddrPort) (int, error) {
			if len(peers) > 0 && peers[0].Port() == 9 {
				return 0, errors.New("to: refused by the runtime")
			}
			shed = append(shed, n)
			shedPeers = append(shedPeers, fmt.Sprint(peers))
			return n, nil
		},
		MaxShed: 50,
		Extra:   map[string]http.Handler{"POST /v1/emit": http.NotFoundHandler()},
		// The behaviour of each endpoint; authentication is auth_test.go's.
		AllowUnauthenticated: true,
	})
	steps := []struct {
		method, target string
		code           int
		body           string
	}{
		{"GET", "/healthz", 200, "ok"},
		{"GET", "/readyz", 200, "ok"},
		{"GET", "/metrics", 200, "m 1"},
		{"GET", "/stats", 200, `"draining": false`},
		{"POST", "/shed?count=5", 202, `"scheduled": 5`},
		{"POST", "/shed?count=3&to=10.0.0.2:8081,%5B2001:db8::1%5D:8081", 202, `"scheduled": 3`},
		{"POST", "/shed?count=3&to=10.0.0.2", 400, `to: \"10.0.0.2\" is not IP:port`},
		{"POST", "/shed?count=3&to=10.0.0.2:8081,10.0.0.2:8081", 400, "listed twice"},
		{"POST", "/shed?count=3&to=10.0.0.2:0", 400, "is not IP:port"},
		{"POST", "/shed?count=3&to=10.0.0.2:9", 400, "refused by the runtime"},
		{"POST", "/shed?count=0", 400, "count must be an integer between 1 and 50"},
		{"POST", "/shed?count=51", 400, "between 1 and 50"},
		{"POST", "/shed", 400, "count must be"},
		{"GET", "/drain", 405, ""},
		{"GET", "/shed?count=1", 405, ""},
		{"POST", "/drain", 202, `"alreadyDraining": false`},
		{"GET", "/readyz", 503, "not ready: draining"},
		{"GET", "/healthz", 200, "ok"},
		{"POST", "/drain", 200, `"alreadyDraining": true`},
		{"POST", "/shed?count=1", 409, "draining"},
		{"GET", "/stats", 200, `"draining": true`},
		{"POST", "/v1/emit", 404, ""},
		{"GET", "/nope", 404, ""},
	}
	for _, s := range steps {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(s.method, s.target, nil))
		if rec.Code != s.code || !strings.Contains(rec.Body.String(), s.body) {
			t.Errorf("%s %s = %d %q, want %d containing %q", s.method, s.target, rec.Code, rec.Body, s.code, s.body)
		}
	}
	if len(shed) != 2 || shed[0] != 5 || shed[1] != 3 {
		t.Errorf("shed calls %v", shed)
	}
	if want := []string{"[]", "[10.0.0.2:8081 [2001:db8::1]:8081]"}; fmt.Sprint(shedPeers) != fmt.Sprint(want) {
		t.Errorf("shed peers %q, want %q", shedPeers, want)
	}
}
