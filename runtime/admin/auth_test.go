package admin_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/runtime/admin"
)

// recorder is a fake runtime that records the side effects of admin calls.
type recorder struct {
	drains, sheds, emits, statsReads, metricsReads int
	unauthorized                                   []string
}

func (r *recorder) options() admin.Options {
	return admin.Options{
		Ready:    func() error { return nil },
		Metrics:  http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { r.metricsReads++; _, _ = io.WriteString(w, "m 1\n") }),
		Stats:    func() any { r.statsReads++; return map[string]int{"connections": 1} },
		Drain:    func() bool { r.drains++; return r.drains == 1 },
		Deadline: func() time.Time { return time.Unix(100, 0).UTC() },
		Draining: func() bool { return false },
		Shed:     func(n int, _ []netip.AddrPort) (int, error) { r.sheds++; return n, nil },
		Extra: map[string]http.Handler{"POST /v1/emit": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			r.emits++
			_, _ = io.WriteString(w, `{"ok":true}`)
		})},
		OnUnauthorized: func(path string) { r.unauthorized = append(r.unauthorized, path) },
	}
}

// effects is the number of side effects (and reads) recorded.
func (r *recorder) effects() int {
	return r.drains + r.sheds + r.emits + r.statsReads + r.metricsReads
}

func TestAuthentication(t *testing.T) {
	endpoints := []struct {
		method, target string
		okCode         int
		read           bool // /metrics, /stats: guarded only with ProtectReads
		open           bool // /healthz, /readyz: never guarded
	}{
		{"GET", "/healthz", 200, false, true},
		{"GET", "/readyz", 200, false, true},
		{"GET", "/metrics", 200, true, false},
		{"GET", "/stats", 200, true, false},
		{"POST", "/drain", 202, false, false},
		{"POST", "/shed?count=3", 202, false, false},
		{"POST", "/v1/emit", 200, false, false},
	}
	credentials := []struct {
		name, header string
	}{
		{"no token", ""},
		{"wrong token", "Bearer nope"},
		{"wrong scheme", "Basic c2VjcmV0"},
		{"right token", "Bearer s3cret"},
		{"right token, lower-case scheme", "bearer s3cret"},
		{"old token still listed", "Bearer 0ld"},
	}
	modes := []struct {
		name          string
		tokens        admin.Tokens
		allow         bool
		protectReads  bool
		wantForbidden bool // no token configured, unauthenticated not allowed
	}{
		{name: "token", tokens: admin.StaticTokens("s3cret", "0ld")},
		{name: "token, protectReads", tokens: admin.StaticTokens("s3cret", "0ld"), protectReads: true},
		{name: "no token configured", wantForbidden: true},
		{name: "no token, allowUnauthenticated", allow: true},
	}
	for _, m := range modes {
		for _, e := range endpoints {
			for _, c := range credentials {
				t.Run(m.name+"/"+e.method+" "+e.target+"/"+c.name, func(t *testing.T) {
					rec := &recorder{}
					opts := rec.options()
					opts.Tokens, opts.AllowUnauthenticated, opts.ProtectReads = m.tokens, m.allow, m.protectReads
					h := admin.Handler(opts)
					req := httptest.NewRequest(e.method, e.target, strings.NewReader("{}"))
					if c.header != "" {
						req.Header.Set("Authorization", c.header)
					}
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)

					guarded := !e.open && (!e.read || m.protectReads)
					rightToken := strings.HasSuffix(c.header, "s3cret") && strings.HasPrefix(strings.ToLower(c.header), "bearer") ||
						c.header == "Bearer 0ld"
					wantCode := e.okCode
					switch {
					case !guarded || m.allow:
					case m.wantForbidden:
						wantCode = http.StatusForbidden
					case !rightToken:
						wantCode = http.StatusUnauthorized
					}
					if w.Code != wantCode {
						t.Fatalf("status %d %s, want %d", w.Code, w.Body, wantCode)
					}
					refused := wantCode == http.StatusUnauthorized || wantCode == http.StatusForbidden
					if refused {
						if rec.effects() != 0 {
							t.Errorf("refused request had side effects: %+v", rec)
						}
						path, _, _ := strings.Cut(e.target, "?")
						if len(rec.unauthorized) != 1 || rec.unauthorized[0] != path {
							t.Errorf("counted %v, want [%s]", rec.unauthorized, path)
						}
					} else if len(rec.unauthorized) != 0 {
						t.Errorf("accepted request counted as unauthorized: %v", rec.unauthorized)
					}
					if wantCode == http.StatusUnauthorized {
						if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
							t.Errorf("WWW-Authenticate = %q", got)
						}
					}
					if wantCode == http.StatusForbidden && !strings.Contains(w.Body.String(), "admin.tokenFile") {
						t.Errorf("403 body does not say what to configure: %s", w.Body)
					}
					if !refused && !e.open && rec.effects() != 1 {
						t.Errorf("accepted request: side effects %+v, want one", rec)
					}
				})
			}
		}
	}
}

func TestRefusalsAreLoggedRateLimited(t *testing.T) {
	var logs strings.Builder
	rec := &recorder{}
	opts := rec.options()
	opts.Tokens = admin.StaticTokens("s3cret")
	opts.Logger = slogTo(&logs)
	h := admin.Handler(opts)
	for range 50 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/drain", nil))
	}
	if n := strings.Count(logs.String(), "request refused"); n != 1 {
		t.Errorf("%d log lines for 50 refusals in a row, want 1:\n%s", n, logs.String())
	}
	if len(rec.unauthorized) != 50 || rec.drains != 0 {
		t.Errorf("counted %d refusals, %d drains", len(rec.unauthorized), rec.drains)
	}
}

func TestFileTokensRotation(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	write := func(content string) {
		t.Helper()
		// Like a Kubernetes Secret volume: a new file swapped in atomically.
		tmp := filepath.Join(dir, "token.new")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.NewFileTokens(file); err == nil {
		t.Fatal("NewFileTokens of a missing file succeeded")
	}
	write("\n  \n")
	if _, err := admin.NewFileTokens(file); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Fatalf("NewFileTokens of a blank file: %v", err)
	}
	write("first\n")
	ft, err := admin.NewFileTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	var reloadErrs []error
	ft.OnReloadError = func(err error) { reloadErrs = append(reloadErrs, err) }
	check := func(token string, want bool) {
		t.Helper()
		if got := ft.Match(token); got != want {
			t.Errorf("Match(%q) = %v, want %v", token, got, want)
		}
	}
	check("first", true)
	check("", false)
	check("firs", false)

	write("first\nsecond\n") // step 1 of a rotation: both accepted
	check("first", true)
	check("second", true)
	write("second") // step 2: only the new one
	check("first", false)
	check("second", true)

	write("") // a broken update keeps the previous tokens
	check("second", true)
	if len(reloadErrs) == 0 {
		t.Error("a changed file without a token was not reported")
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	check("second", true)
	if last := reloadErrs[len(reloadErrs)-1]; !errors.Is(last, os.ErrNotExist) {
		t.Errorf("last reload error %v, want not exist", last)
	}
}

func TestParseTokens(t *testing.T) {
	got := admin.ParseTokens(" a \r\n\nb\n")
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("ParseTokens = %q", got)
	}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
