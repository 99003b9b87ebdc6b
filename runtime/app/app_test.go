package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/internal/waitfor"
	"github.com/socketfleet/socketfleet/runtime/app"
	"github.com/socketfleet/socketfleet/runtime/config"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// running is an App served by Run on loopback ports.
type running struct {
	a      *app.App
	public string // http://127.0.0.1:port
	admin  string
	done   chan error
	cancel context.CancelFunc
}

// start runs the runtime configured by yaml (plus loopback ports).
func start(t *testing.T, yaml string, opts ...func(*app.Options)) *running {
	t.Helper()
	return startBase(t, "host: 127.0.0.1\nport: 0\nadminPort: 0\nlog: {level: error}\n", yaml, opts...)
}

// startBase is start with base in place of the loopback ports.
func startBase(t *testing.T, base, yaml string, opts ...func(*app.Options)) *running {
	t.Helper()
	cfg, err := config.Parse([]byte(base + yaml))
	if err != nil {
		t.Fatal(err)
	}
	o := app.Options{Config: config.Loaded{Config: cfg}, Logger: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &running{a: a, public: "http://" + a.PublicAddr().String(), admin: "http://" + a.AdminAddr().String(),
		done: make(chan error, 1), cancel: cancel}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return")
		}
	})
	return r
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	return do(t, "GET", url, "", "")
}

func do(t *testing.T, method, url, auth, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func connect(t *testing.T, base, nsp string, auth any) *sioclient.Client {
	t.Helper()
	c, err := tryConnect(base, nsp, auth)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func tryConnect(base, nsp string, auth any) (*sioclient.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return sioclient.ConnectContext(ctx, base+"/socket.io/", sioclient.Options{Namespace: nsp, Auth: auth})
}

func TestAdminEndpointsAndMetrics(t *testing.T) {
	r := start(t, "")
	c := connect(t, r.public, "/", nil)
	_ = c

	for _, tt := range []struct{ path, want string }{
		{"/healthz", "ok"},
		{"/readyz", "ok"},
	} {
		if code, _, body := get(t, r.admin+tt.path); code != 200 || strings.TrimSpace(body) != tt.want {
			t.Errorf("%s = %d %q", tt.path, code, body)
		}
	}
	code, _, body := get(t, r.admin+"/stats")
	for _, want := range []string{`"total": 1`, `"websocket": 1`, `"/": 1`, `"draining": false`, `"startTime"`, `"accepted": 1`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/stats lacks %s: %d %s", want, code, body)
		}
	}
	code, _, body = get(t, r.admin+"/metrics")
	for _, want := range []string{
		`socketfleet_connected_clients{namespace="/",transport="websocket"} 1`,
		`socketfleet_engine_sessions{transport="websocket"} 1`,
		`socketfleet_handshakes_total{reason="",result="accepted"} 1`,
		`socketfleet_connections_total{namespace="/"} 1`,
		`socketfleet_draining 0`,
		`go_goroutines`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `socketfleet_received_bytes_total{listener="public"} 0`) {
		t.Error("public bytes received not counted")
	}
	// The admin port is not the public one.
	if code, _, _ := get(t, r.public+"/metrics"); code != 404 {
		t.Errorf("public /metrics = %d", code)
	}
	if code, _, _ := get(t, r.admin+"/socket.io/?EIO=4&transport=polling"); code != 404 {
		t.Errorf("admin Socket.IO = %d", code)
	}
}

func TestLimitsRefuseWith503(t *testing.T) {
	tests := []struct {
		name, yaml, message string
	}{
		{"maxConnections", "limits: {maxConnections: 1}", "Too many connections"},
		{"handshakeRate", "limits: {handshakeRate: 0.01, handshakeBurst: 1}", "Too many handshakes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := start(t, tt.yaml)
			connect(t, r.public, "/", nil)
			code, h, body := get(t, r.public+"/socket.io/?EIO=4&transport=polling")
			if code != 503 || h.Get("Retry-After") == "" || !strings.Contains(body, tt.message) {
				t.Errorf("second handshake = %d Retry-After %q %s", code, h.Get("Retry-After"), body)
			}
			_, err := tryConnect(r.public, "/", nil)
			if err == nil || !strings.Contains(err.Error(), "503") {
				t.Errorf("WebSocket handshake err = %v, want status 503", err)
			}
			_, _, metrics := get(t, r.admin+"/metrics")
			if !strings.Contains(metrics, `socketfleet_handshakes_total{reason="`) || !strings.Contains(metrics, `result="refused"} 2`) {
				t.Errorf("refusals not counted:\n%s", grep(metrics, "handshakes"))
			}
		})
	}
}

func grep(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestDrainOverTheAdminPort(t *testing.T) {
	r := start(t, "drain: {window: 5s}")
	clients := make([]*sioclient.Client, 10)
	for i := range clients {
		clients[i] = connect(t, r.public, "/", nil)
	}
	begin := time.Now()
	code, _, body := do(t, "POST", r.admin+"/drain", "", "")
	if code != 202 || !strings.Contains(body, `"draining": true`) {
		t.Fatalf("POST /drain = %d %s", code, body)
	}
	// Readiness and admission flip at once.
	if code, _, body := get(t, r.admin+"/readyz"); code != 503 || !strings.Contains(body, "draining") {
		t.Errorf("/readyz = %d %s", code, body)
	}
	if code, h, _ := get(t, r.public+"/socket.io/?EIO=4&transport=polling"); code != 503 || h.Get("Retry-After") == "" {
		t.Errorf("handshake while draining = %d Retry-After %q", code, h.Get("Retry-After"))
	}
	if code, _, _ := get(t, r.admin+"/healthz"); code != 200 {
		t.Errorf("/healthz while draining = %d", code)
	}
	// Every client sees its transport closed (not a Socket.IO disconnect).
	for i, c := range clients {
		select {
		case <-c.Closed():
		case <-time.After(20 * time.Second):
			t.Fatalf("client %d not closed", i)
		}
		if c.ServerDisconnected() {
			t.Errorf("client %d got a Socket.IO DISCONNECT instead of a transport close", i)
		}
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
		r.done <- nil // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the drain")
	}
	if elapsed := time.Since(begin); elapsed >= 5*time.Second {
		t.Errorf("drain took %v, the whole window", elapsed)
	}
}

func TestShed(t *testing.T) {
	r := start(t, "drain: {ratePerSecond: 50}")
	clients := make([]*sioclient.Client, 6)
	for i := range clients {
		clients[i] = connect(t, r.public, "/", nil)
	}
	code, _, body := do(t, "POST", r.admin+"/shed?count=4", "", "")
	if code != 202 || !strings.Contains(body, `"scheduled": 4`) {
		t.Fatalf("POST /shed = %d %s", code, body)
	}
	closed := func() int {
		n := 0
		for _, c := range clients {
			select {
			case <-c.Closed():
				n++
			default:
			}
		}
		return n
	}
	waitfor.True(t, "4 closed clients", func() bool { return closed() == 4 })
	time.Sleep(200 * time.Millisecond)
	if n := closed(); n != 4 {
		t.Errorf("%d clients closed, want 4", n)
	}
	if code, _, _ := get(t, r.admin+"/readyz"); code != 200 {
		t.Errorf("shed made the pod unready: %d", code)
	}
	_, _, metrics := get(t, r.admin+"/metrics")
	if !strings.Contains(metrics, `socketfleet_drain_closed_sessions_total{cause="shed"} 4`) {
		t.Errorf("shed not counted:\n%s", grep(metrics, "drain_closed"))
	}
}

// TestShedRefusesHandshakes checks that while sessions remain to shed, new handshakes are refused with 503
// and the load balancer's sticky cookie expired (so the shed clients' reconnects land on other pods), and
// that handshakes are accepted again once the shed is done.
func TestShedRefusesHandshakes(t *testing.T) {
	r := start(t, "drain: {ratePerSecond: 1, stickyCookie: lb-route, window: 2s}")
	for range 3 {
		connect(t, r.public, "/", nil)
	}
	// Two sessions at one per second: sessions remain to shed for about a second after the request.
	if code, _, body := do(t, "POST", r.admin+"/shed?count=2", "", ""); code != 202 {
		t.Fatalf("POST /shed = %d %s", code, body)
	}
	resp, err := http.Get(r.public + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if resp.StatusCode != http.StatusServiceUnavailable || len(cookies) != 1 || cookies[0].Name != "lb-route" || cookies[0].MaxAge >= 0 {
		t.Errorf("handshake while shedding: %d, Set-Cookie %q; want 503 expiring lb-route", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
	waitfor.True(t, "handshakes accepted after the shed", func() bool {
		code, _, _ := get(t, r.public+"/socket.io/?EIO=4&transport=polling")
		return code == http.StatusOK
	})
}

func TestNamespacesAndPublish(t *testing.T) {
	r := start(t, `
namespaces: [/chat, /tenant-*]
publish: {enabled: true, token: s3cret}
relay: {enabled: true, rooms: ["*"]}
`)
	if _, err := tryConnect(r.public, "/", nil); err == nil || !strings.Contains(err.Error(), "Invalid namespace") {
		t.Errorf("main namespace not configured: err = %v", err)
	}
	if _, err := tryConnect(r.public, "/other", nil); err == nil || !strings.Contains(err.Error(), "Invalid namespace") {
		t.Errorf("unknown namespace: err = %v", err)
	}
	chat := connect(t, r.public, "/chat", nil)
	tenant := connect(t, r.public, "/tenant-a", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range []*sioclient.Client{chat, tenant} {
		if ack, err := c.EmitWithAck(ctx, "relay:join", "news"); err != nil || string(ack[0]) != `{"ok":true}` {
			t.Fatalf("join: %s %v", ack, err)
		}
	}
	if code, _, _ := do(t, "POST", r.public+"/v1/emit", "", `{"namespace":"/chat","event":"x"}`); code != 401 {
		t.Errorf("publish without token = %d", code)
	}
	code, _, body := do(t, "POST", r.public+"/v1/emit", "Bearer s3cret",
		`{"namespace":"/tenant-a","rooms":["news"],"event":"headline","args":["hello"]}`)
	if code != 200 {
		t.Fatalf("publish = %d %s", code, body)
	}
	ev, err := tenant.Next(ctx)
	if err != nil || ev.Name != "headline" || string(ev.Args[0]) != `"hello"` {
		t.Errorf("tenant got %+v %v", ev, err)
	}
	// The publish API is not on the admin port when it is public.
	if code, _, _ := do(t, "POST", r.admin+"/v1/emit", "Bearer s3cret", `{"event":"x"}`); code != 404 {
		t.Errorf("admin /v1/emit = %d", code)
	}
}

func TestPublishOnAdmin(t *testing.T) {
	r := start(t, "publish: {enabled: true, listener: admin}")
	if code, _, body := do(t, "POST", r.admin+"/v1/emit", "", `{"event":"x"}`); code != 200 {
		t.Errorf("admin publish = %d %s", code, body)
	}
	if code, _, _ := do(t, "POST", r.public+"/v1/emit", "", `{"event":"x"}`); code != 404 {
		t.Errorf("public publish = %d", code)
	}
}

// TestAdminTokenGuardsPublishAndReads: with admin.tokenFile the admin publish API needs the token, and with
// admin.protectReads /stats and /metrics do too; the probes never do. A missing token file stops New.
func TestAdminTokenGuardsPublishAndReads(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("adm1n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "publish: {enabled: true, listener: admin}\nadmin: {protectReads: true, tokenFile: "+file+"}")
	for _, tc := range []struct {
		method, path, auth, body string
		code                     int
	}{
		{"POST", "/v1/emit", "", `{"event":"x"}`, 401},
		{"POST", "/v1/emit", "Bearer adm1n", `{"event":"x"}`, 200},
		{"GET", "/stats", "", "", 401},
		{"GET", "/stats", "Bearer adm1n", "", 200},
		{"GET", "/metrics", "Bearer nope", "", 401},
		{"GET", "/metrics", "Bearer adm1n", "", 200},
		{"GET", "/healthz", "", "", 200},
		{"GET", "/readyz", "", "", 200},
	} {
		if code, _, body := do(t, tc.method, r.admin+tc.path, tc.auth, tc.body); code != tc.code {
			t.Errorf("%s %s with %q = %d %s, want %d", tc.method, tc.path, tc.auth, code, body, tc.code)
		}
	}
	_, _, metrics := do(t, "GET", r.admin+"/metrics", "Bearer adm1n", "")
	if !strings.Contains(metrics, `socketfleet_admin_unauthorized_total{path="/v1/emit"} 1`) {
		t.Errorf("/metrics lacks the refused publish:\n%s", grep(metrics, "admin_unauthorized"))
	}

	cfg, err := config.Parse([]byte("host: 127.0.0.1\nport: 0\nadminPort: 0\nadmin: {tokenFile: " + file + ".missing}"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.New(context.Background(), app.Options{Config: config.Loaded{Config: cfg}, Logger: slog.New(slog.DiscardHandler)}); err == nil ||
		!strings.Contains(err.Error(), "admin.tokenFile") {
		t.Errorf("New with a missing token file: %v, want an error naming admin.tokenFile", err)
	}
}

func TestDemoPageAndClientBundle(t *testing.T) {
	dir := t.TempDir()
	bundle := filepath.Join(dir, "socket.io.min.js")
	if err := os.WriteFile(bundle, []byte("/* bundle */ window.io = function () {};"), 0o600); err != nil {
		t.Fatal(err)
	}
	web := fstest.MapFS{
		"index.html": {Data: []byte(`<script src="{{.Path}}socket.io.min.js"></script><script src="/chat.js"></script>`)},
		"chat.js":    {Data: []byte("// chat")},
	}
	r := start(t, fmt.Sprintf("path: /rt/\ndrain: {window: 1s}\ndemo: {enabled: true, clientBundle: %q}", bundle),
		func(o *app.Options) { o.Web = web })
	tests := []struct{ path, want string }{
		{"/", `<script src="/rt/socket.io.min.js">`},
		{"/chat.js", "// chat"},
		{"/rt/socket.io.min.js", "/* bundle */"},
		{"/rt/socket.io.js", "/* bundle */"},
	}
	for _, tt := range tests {
		if code, _, body := get(t, r.public+tt.path); code != 200 || !strings.Contains(body, tt.want) {
			t.Errorf("%s = %d %q", tt.path, code, body)
		}
	}
	if code, _, body := get(t, r.public+"/rt/?EIO=4&transport=polling"); code != 200 || !strings.HasPrefix(body, "0{") {
		t.Errorf("handshake at /rt/ = %d %s", code, body)
	}
}

// TestDemoBuiltinClientBundle: without demo.clientBundle the socket.io.min.js of the demo files is served, so
// the demo needs no file outside the binary.
func TestDemoBuiltinClientBundle(t *testing.T) {
	web := fstest.MapFS{
		"index.html":       {Data: []byte(`<script src="{{.Path}}socket.io.min.js"></script>`)},
		"socket.io.min.js": {Data: []byte("/* built-in bundle */")},
	}
	r := start(t, "drain: {window: 1s}\ndemo: {enabled: true}", func(o *app.Options) { o.Web = web })
	for _, p := range []string{"/socket.io/socket.io.min.js", "/socket.io/socket.io.js"} {
		if code, _, body := get(t, r.public+p); code != 200 || !strings.Contains(body, "/* built-in bundle */") {
			t.Errorf("%s = %d %q", p, code, body)
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"redis without adapter", "redis: {url: 'redis://127.0.0.1:1/0'}", "this build has no Redis adapter"},
		{"missing bundle", "demo: {enabled: true, clientBundle: /nonexistent/x.js}", "demo.clientBundle"},
		{"missing jwt key", "auth: {jwt: {algorithm: RS256, publicKeyFile: /nonexistent.pem}}", "auth.jwt.publicKeyFile"},
		{"missing token file", "publish: {enabled: true, tokenFile: /nonexistent}", "publish.tokenFile"},
		{"missing admin ui hash", "adminUI: {enabled: true, username: a, passwordHashFile: /nonexistent}", "adminUI.passwordHashFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte("host: 127.0.0.1\nport: 0\nadminPort: 0\n" + tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			_, err = app.New(context.Background(), app.Options{Config: config.Loaded{Config: cfg},
				Logger: slog.New(slog.DiscardHandler), Web: fstest.MapFS{"index.html": {}}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestClusterAdapterDegraded: a cluster adapter whose link is down leaves
// the process ready and serving; /stats, /metrics and the publish API say it
// is degraded, a failed publish shows at once, and the periodic ping brings
// the link back up.
func TestClusterAdapterDegraded(t *testing.T) {
	var pingErr atomic.Pointer[error]
	down := errors.New("connection refused")
	pingErr.Store(&down)
	var recordPublish func(error)
	r := start(t, "redis: {url: 'redis://127.0.0.1:1/0'}\npublish: {enabled: true, listener: admin}", func(o *app.Options) {
		o.AdapterCheckInterval = 20 * time.Millisecond
		o.Adapter = func(_ context.Context, cfg config.Redis, _ *slog.Logger) (*app.ClusterAdapter, error) {
			if cfg.Mode != "standalone" {
				return nil, fmt.Errorf("mode %q", cfg.Mode)
			}
			return &app.ClusterAdapter{Name: "fake-redis", Factory: socketio.NewMemoryAdapter,
				Ping:             func(context.Context) error { return *pingErr.Load() },
				ObservePublishes: func(record func(error)) { recordPublish = record }}, nil
		}
	})
	stats := func() app.Stats {
		t.Helper()
		_, _, body := get(t, r.admin+"/stats")
		var st app.Stats
		if err := json.Unmarshal([]byte(body), &st); err != nil || st.AdapterHealth == nil {
			t.Fatalf("/stats %s: %v", body, err)
		}
		return st
	}
	publish := func() string {
		t.Helper()
		code, _, body := do(t, "POST", r.admin+"/v1/emit", "", `{"event":"m","args":[1]}`)
		if code != 200 {
			t.Fatalf("publish = %d %s", code, body)
		}
		return body
	}

	// Down from the start.
	for _, p := range []string{"/readyz", "/healthz"} {
		if code, _, body := get(t, r.admin+p); code != 200 {
			t.Errorf("%s = %d %s while the adapter is down", p, code, body)
		}
	}
	st := stats()
	if h := st.AdapterHealth; st.Adapter != "fake-redis" || h.Name != "fake-redis" || h.Up || h.DownSince == nil ||
		!strings.Contains(h.LastError, "connection refused") {
		t.Errorf("/stats adapter %q %+v", st.Adapter, *h)
	}
	if _, _, body := get(t, r.admin+"/metrics"); !strings.Contains(body, `socketfleet_adapter_up{adapter="fake-redis"} 0`) {
		t.Errorf("/metrics lacks socketfleet_adapter_up 0:\n%s", grepLines(body, "socketfleet_adapter"))
	}
	if body := publish(); !strings.Contains(body, `"partial":true`) || !strings.Contains(body, "fake-redis unavailable") {
		t.Errorf("publish while down = %s", body)
	}

	// The ping brings it back up.
	pingErr.Store(new(error))
	waitfor.True(t, "adapter up in /stats", func() bool { return stats().AdapterHealth.Up })
	if body := strings.TrimSpace(publish()); body != `{"ok":true}` {
		t.Errorf("publish while up = %s", body)
	}
	_, _, body := get(t, r.admin+"/metrics")
	for _, want := range []string{`socketfleet_adapter_up{adapter="fake-redis"} 1`, `socketfleet_adapter_last_ok_timestamp_seconds{adapter="fake-redis"}`,
		`socketfleet_adapter_down_transitions_total{adapter="fake-redis"} 1`, `socketfleet_publish_partial_total 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(body, "socketfleet_adapter", "socketfleet_publish"))
		}
	}

	// Failed publishes are counted (that a failure shows before the next
	// ping is TestAdapterMonitor's).
	pingErr.Store(&down)
	recordPublish(errors.New("i/o timeout"))
	if h := stats().AdapterHealth; h.Up || h.PublishErrors != 1 || h.DownTransitions != 2 {
		t.Errorf("after a failed publish: %+v", *h)
	}
	if body := publish(); !strings.Contains(body, `"partial":true`) {
		t.Errorf("publish after a failed publish = %s", body)
	}
	pingErr.Store(new(error))
	waitfor.True(t, "adapter up again", func() bool { return stats().AdapterHealth.Up })
}

// grepLines returns the lines of s that start with one of the prefixes.
func grepLines(s string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestWebSocketReadByThePoller: the public listener's wrappers (byte
// counting, request ordering) keep the socket reachable, so an idle
// WebSocket client has no reading goroutine (Linux), and the bytes the
// poller reads are still counted.
func TestWebSocketReadByThePoller(t *testing.T) {
	r := start(t, "")
	received := func() float64 {
		t.Helper()
		_, _, body := get(t, r.admin+"/metrics")
		line := grepLines(body, `socketfleet_received_bytes_total{listener="public"}`)
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("socketfleet_received_bytes_total: %q: %v", line, err)
		}
		return v
	}
	c := connect(t, r.public, "/", nil)
	want := 0
	if goruntime.GOOS == "linux" {
		want = 1
	}
	if got := r.a.Server().Engine().Stats().ReadByPoller; got != want {
		t.Errorf("WebSocket connections read by the poller = %d, want %d", got, want)
	}
	before := received()
	if err := c.Emit("note", strings.Repeat("x", 1000)); err != nil {
		t.Fatal(err)
	}
	waitfor.True(t, "the emitted frame counted as received", func() bool { return received() >= before+1000 })
}

// TestAdminUI: adminUI.* serves the admin UI's namespace with its own login
// (the application's connect auth does not apply to it) and refuses a hash
// that is not bcrypt at start.
func TestAdminUI(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("plain-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte("host: 127.0.0.1\nport: 0\nadminPort: 0\nadminUI: {enabled: true, username: admin, passwordHashFile: " + bad + "}"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.New(context.Background(), app.Options{Config: config.Loaded{Config: cfg}, Logger: slog.New(slog.DiscardHandler)}); err == nil ||
		!strings.Contains(err.Error(), "config: adminUI.passwordHashFile or adminUI.username: admin ui: the password must be a valid bcrypt hash") {
		t.Fatalf("New with a plain password: %v", err)
	}

	good := filepath.Join(dir, "good")
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, append(hash, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "auth: {jwt: {algorithm: HS256, secret: s3cret}}\nadminUI: {enabled: true, username: admin, passwordHashFile: "+good+"}")
	if _, err := tryConnect(r.public, "/admin", map[string]string{"username": "admin", "password": "nope"}); err == nil ||
		!strings.Contains(err.Error(), "invalid credentials") {
		t.Fatalf("wrong password: %v", err)
	}
	admin := connect(t, r.public, "/admin", map[string]string{"username": "admin", "password": "pw"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ev, err := admin.Next(ctx)
		if err != nil {
			t.Fatalf("no config event: %v", err)
		}
		if ev.Name == "config" {
			break
		}
	}
	// The application's namespace keeps its JWT check.
	if _, err := tryConnect(r.public, "/", nil); err == nil {
		t.Error("the main namespace accepted a client without a token")
	}
}

// TestParkedPollingConnectionsInStatsAndMetrics checks that a long-polling
// GET waiting for packets, parked with no goroutine, is counted in /stats
// (engine.parkedConnections, with the configured bound) and in
// socketfleet_engine_parked_connections, and no longer once it is answered.
func TestParkedPollingConnectionsInStatsAndMetrics(t *testing.T) {
	r := start(t, "maxParkedConnections: 100\n")
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.public, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	roundTrip := func(query string) string {
		t.Helper()
		if _, err := fmt.Fprintf(conn, "GET /socket.io/?EIO=4&transport=polling%s HTTP/1.1\r\nHost: x\r\n\r\n", query); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	body := roundTrip("")
	i := strings.Index(body, `"sid":"`)
	if i < 0 {
		t.Fatalf("handshake answered %q", body)
	}
	sid := body[i+7:]
	sid = sid[:strings.IndexByte(sid, '"')]
	engine := func() app.EngineStats {
		_, _, body := get(t, r.admin+"/stats")
		var st app.Stats
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("/stats %s: %v", body, err)
		}
		return st.Engine
	}
	// The handshake's connection waits parked idle for its next request.
	waitfor.True(t, "the idle connection counted", func() bool { return engine() == app.EngineStats{ParkedConnections: 1, MaxParkedConnections: 100} })

	answered := make(chan string, 1)
	go func() {
		_, _ = fmt.Fprintf(conn, "GET /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\n\r\n", sid)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			answered <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- string(b)
	}()
	eng := r.a.Server().Engine()
	waitfor.True(t, "the GET waits parked", func() bool {
		sessions := eng.Sessions()
		return len(sessions) == 1 && sessions[0].Writable() && eng.Stats().ParkedConns == 1
	})
	if _, _, body := get(t, r.admin+"/metrics"); !strings.Contains(body, "\nsocketfleet_engine_parked_connections 1\n") {
		t.Errorf("metrics lack socketfleet_engine_parked_connections 1:\n%s", body)
	}
	for _, sess := range eng.Sessions() {
		sess.Close()
	}
	select {
	case b := <-answered:
		if b != "1" {
			t.Fatalf("waiting GET answered %q, want the close packet", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting GET was not answered")
	}
}
