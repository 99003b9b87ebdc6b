// Package runtime_test runs the socketfleet-runtime binary as a process and
// drives it with the official socket.io-client (Node) and headless Chromium:
// configuration errors, every admin endpoint, handshake limits, the drain
// contract with 200 real clients, the publish API and the chat demo page.
//
// Needs `npm ci` in test/runtime (hack/install-deps.sh does it) and
// /usr/bin/chromium. Run with test/runtime/run.sh or
// `go test -count=1 ./test/runtime/`.
package runtime_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/internal/redisserver"
)

var (
	// binary is the socketfleet-runtime built for this run.
	binary string
	// testDir is test/runtime (node scripts, node_modules).
	testDir string
	// clientBundle is socket.io-client's browser bundle from node_modules.
	clientBundle string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testDir = wd
	root := filepath.Join(wd, "..", "..")
	for _, dep := range []string{"node_modules/socket.io-client", "node_modules/playwright-core"} {
		if _, err := os.Stat(filepath.Join(wd, dep)); err != nil {
			fmt.Fprintf(os.Stderr, "test/runtime: %s missing: run hack/install-deps.sh (npm ci in test/runtime)\n", dep)
			return 1
		}
	}
	clientBundle = filepath.Join(wd, "node_modules/socket.io-client/dist/socket.io.min.js")
	tmp, err := os.MkdirTemp("", "socketfleet-runtime-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	binary = filepath.Join(tmp, "socketfleet-runtime")
	build := exec.Command("go", "build", "-o", binary, "./cmd/runtime")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "test/runtime: build socketfleet-runtime: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// proc is a running socketfleet-runtime.
type proc struct {
	cmd    *exec.Cmd
	public string // http://127.0.0.1:port
	admin  string
	exited chan struct{}
	err    error // the exit status, once exited is closed

	mu     sync.Mutex
	stderr bytes.Buffer
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// startRuntime starts the binary on free loopback ports with JSON logs and
// waits for its "listening" log line.
func startRuntime(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	all := append([]string{"--host", "127.0.0.1", "--port", "0", "--admin-port", "0", "--log-format", "json"}, args...)
	p := &proc{cmd: exec.Command(binary, all...), exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			p.mu.Unlock()
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "socketfleet-runtime listening" {
				listening <- rec
			}
		}
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("runtime logs:\n%s", p.logs())
		}
	})
	select {
	case rec := <-listening:
		p.public, p.admin = "http://"+rec["public"].(string), "http://"+rec["admin"].(string)
	case <-p.exited:
		t.Fatalf("runtime exited at start: %v\n%s", p.err, p.logs())
	case <-time.After(20 * time.Second):
		t.Fatalf("runtime did not log 'listening':\n%s", p.logs())
	}
	return p
}

// waitExit waits for the process to exit and returns the elapsed time.
func (p *proc) waitExit(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(limit):
		t.Fatalf("runtime still running after %v", limit)
	}
}

func httpDo(t *testing.T, method, url, auth, body string) (int, http.Header, string) {
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
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func httpGet(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	return httpDo(t, http.MethodGet, url, "", "")
}

// node runs a Node script of test/runtime and streams its JSON lines.
type node struct {
	cmd    *exec.Cmd
	lines  chan map[string]any
	exited chan struct{}
	err    error
	stderr bytes.Buffer
}

func startNode(t *testing.T, script string, args ...string) *node {
	t.Helper()
	n := &node{cmd: exec.Command("node", append([]string{script}, args...)...), lines: make(chan map[string]any, 1024),
		exited: make(chan struct{})}
	n.cmd.Dir = testDir
	n.cmd.Stderr = &n.stderr
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err == nil {
				n.lines <- rec
			}
		}
		n.err = n.cmd.Wait()
		close(n.lines)
		close(n.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
		if t.Failed() && n.stderr.Len() > 0 {
			t.Logf("%s stderr:\n%s", script, n.stderr.String())
		}
	})
	return n
}

// next returns the next JSON line of the given type.
func (n *node) next(t *testing.T, typ string, limit time.Duration) map[string]any {
	t.Helper()
	timeout := time.After(limit)
	for {
		select {
		case rec, ok := <-n.lines:
			if !ok {
				t.Fatalf("node exited (%v) before a %q line", n.err, typ)
			}
			if rec["type"] == typ || (typ == "" && rec != nil) {
				return rec
			}
			if rec["type"] == "summary" {
				t.Fatalf("node finished before a %q line: %v", typ, rec)
			}
		case <-timeout:
			t.Fatalf("no %q line from node within %v", typ, limit)
		}
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	badFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(badFile, []byte("port: 3000\nlimits:\n  maxConnection: 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"env duration", []string{"SOCKETFLEET_PING_INTERVAL=x"}, nil,
			`config: pingInterval (env SOCKETFLEET_PING_INTERVAL): invalid duration "x"`},
		{"file unknown key", []string{"SOCKETFLEET_CONFIG=" + badFile}, nil,
			`config: limits.maxConnection: unknown key`},
		{"flag value", nil, []string{"--transports", "polling,carrier-pigeon"},
			`config: transports: unknown transport "carrier-pigeon"`},
		{"missing file", nil, []string{"--config", filepath.Join(dir, "nope.yaml")}, "nope.yaml: no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(binary, tt.args...)
			cmd.Env = append(os.Environ(), tt.env...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit = %v, want status 1\n%s", err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("output %q lacks %q", out, tt.want)
			}
		})
	}
	out, err := exec.Command(binary, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SOCKETFLEET_ADMIN_PORT") {
		t.Errorf("--help: %v\n%s", err, out)
	}
}

func TestAdminEndpoints(t *testing.T) {
	p := startRuntime(t, []string{"POD_NAME=rt-0", "POD_NAMESPACE=demo"}, "--drain-window", "5s")
	if p.public == p.admin {
		t.Fatal("public and admin listeners are the same")
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _, body := httpGet(t, p.admin+path); code != 200 || strings.TrimSpace(body) != "ok" {
			t.Errorf("%s = %d %q", path, code, body)
		}
	}
	code, _, body := httpGet(t, p.admin+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, name := range []string{"socketfleet_connected_clients", "socketfleet_engine_sessions", "socketfleet_handshakes_total",
		"socketfleet_received_bytes_total", "socketfleet_sent_bytes_total", "socketfleet_broadcasts_total",
		"socketfleet_upgrade_failures_total", "socketfleet_draining", "socketfleet_drain_closed_sessions_total",
		"socketfleet_start_time_seconds", "process_resident_memory_bytes"} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	code, _, body = httpGet(t, p.admin+"/stats")
	var stats struct {
		StartTime        time.Time `json:"startTime"`
		Draining         bool      `json:"draining"`
		Pod              struct{ Name, Namespace string }
		ConnectedClients struct {
			Total       int            `json:"total"`
			ByTransport map[string]int `json:"byTransport"`
			ByNamespace map[string]int `json:"byNamespace"`
		} `json:"connectedClients"`
	}
	if err := json.Unmarshal([]byte(body), &stats); err != nil || code != 200 {
		t.Fatalf("/stats = %d %s (%v)", code, body, err)
	}
	if stats.StartTime.IsZero() || stats.Draining || stats.Pod.Name != "rt-0" || stats.Pod.Namespace != "demo" ||
		stats.ConnectedClients.ByNamespace["/"] != 0 || len(stats.ConnectedClients.ByTransport) != 2 {
		t.Errorf("/stats = %s", body)
	}
	if code, _, body := httpDo(t, "POST", p.admin+"/shed?count=3", "", ""); code != 202 || !strings.Contains(body, `"scheduled": 3`) {
		t.Errorf("POST /shed = %d %s", code, body)
	}
	if code, _, _ := httpDo(t, "POST", p.admin+"/shed?count=x", "", ""); code != 400 {
		t.Errorf("POST /shed?count=x = %d", code)
	}
	// The admin endpoints are not on the public port.
	if code, _, _ := httpGet(t, p.public+"/healthz"); code != 404 {
		t.Errorf("public /healthz = %d", code)
	}
	if code, _, body := httpDo(t, "POST", p.admin+"/drain", "", ""); code != 202 || !strings.Contains(body, `"draining": true`) {
		t.Errorf("POST /drain = %d %s", code, body)
	}
	if code, _, _ := httpGet(t, p.admin+"/readyz"); code != 503 {
		// The process may already be gone (no sessions to drain): then it
		// must have exited cleanly, which waitExit checks.
		select {
		case <-p.exited:
		default:
			t.Errorf("/readyz after POST /drain = %d", code)
		}
	}
	p.waitExit(t, 5*time.Second)
	if p.err != nil {
		t.Errorf("exit after drain: %v", p.err)
	}
}

func TestLimitsFromTheEnvironment(t *testing.T) {
	p := startRuntime(t, []string{"SOCKETFLEET_LIMITS_MAX_CONNECTIONS=1"}, "--drain-window", "1s")
	if code, _, body := httpGet(t, p.public+"/socket.io/?EIO=4&transport=polling"); code != 200 || !strings.HasPrefix(body, "0{") {
		t.Fatalf("first handshake = %d %s", code, body)
	}
	code, h, body := httpGet(t, p.public+"/socket.io/?EIO=4&transport=polling")
	if code != 503 || h.Get("Retry-After") == "" || !strings.Contains(body, "Too many connections") {
		t.Errorf("second handshake = %d Retry-After %q %s", code, h.Get("Retry-After"), body)
	}
}

func TestDrainWith200Clients(t *testing.T) {
	const clients = 200
	const window = 8 * time.Second
	p := startRuntime(t, nil, "--drain-window", window.String())
	n := startNode(t, "clients.mjs", fmt.Sprintf(`{"url":%q,"count":%d,"mode":"drain","timeoutMs":60000}`, p.public, clients))
	n.next(t, "ready", 60*time.Second)

	_, _, body := httpGet(t, p.admin+"/stats")
	if !strings.Contains(body, fmt.Sprintf(`"total": %d`, clients)) {
		t.Fatalf("/stats before the drain: %s", body)
	}
	sigterm := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Readiness fails and new handshakes are refused while the clients are
	// still being closed.
	var startedAt time.Time
	deadline := time.Now().Add(5 * time.Second)
	for startedAt.IsZero() {
		_, _, body := httpGet(t, p.admin+"/stats")
		var st struct {
			Draining bool `json:"draining"`
			Drain    struct {
				StartedAt *time.Time `json:"startedAt"`
			} `json:"drain"`
		}
		if json.Unmarshal([]byte(body), &st) == nil && st.Draining && st.Drain.StartedAt != nil {
			startedAt = *st.Drain.StartedAt
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/stats never showed the drain: %s", body)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code, _, body := httpGet(t, p.admin+"/readyz"); code != 503 || !strings.Contains(body, "draining") {
		t.Errorf("/readyz during the drain = %d %s", code, body)
	}
	if code, h, _ := httpGet(t, p.public+"/socket.io/?EIO=4&transport=polling"); code != 503 || h.Get("Retry-After") == "" {
		t.Errorf("handshake during the drain = %d Retry-After %q", code, h.Get("Retry-After"))
	}

	p.waitExit(t, window+5*time.Second)
	elapsed := time.Since(sigterm)
	if p.err != nil {
		t.Errorf("runtime exit: %v", p.err)
	}
	if elapsed >= window {
		t.Errorf("the runtime exited %v after SIGTERM, not before the %v deadline", elapsed, window)
	}

	sum := n.next(t, "summary", 30*time.Second)
	if sum["ok"] != true {
		t.Errorf("clients: %v", sum)
	}
	reasons, _ := sum["reasons"].(map[string]any)
	if reasons["io server disconnect"] != nil {
		t.Errorf("%v clients got io server disconnect (no reconnection)", reasons["io server disconnect"])
	}
	if got := sum["socketsWithReconnectAttempt"]; got != float64(clients) {
		t.Errorf("%v of %d clients made a reconnection attempt; disconnect reasons %v", got, clients, reasons)
	}
	first, _ := sum["firstDisconnectAt"].(float64)
	readyFlip := float64(startedAt.UnixNano()) / 1e6
	if first == 0 || first < readyFlip {
		t.Errorf("first client disconnect at %.3f ms, before readiness flipped at %.3f ms", first, readyFlip)
	}
	logs := p.logs()
	if !strings.Contains(logs, `"msg":"drain finished: no sessions left"`) {
		t.Errorf("the drain did not end with every session closed:\n%s", logs)
	}
	t.Logf("drain of %d clients: exit %v after SIGTERM (window %v); reasons %v", clients, elapsed.Round(time.Millisecond), window, reasons)
}

func TestPublishToARoomOfRealClients(t *testing.T) {
	p := startRuntime(t, []string{"SOCKETFLEET_PUBLISH_TOKEN=s3cret"}, "--publish-enabled", "--relay-enabled",
		"--relay-rooms", "order:*", "--drain-window", "1s")
	members := startNode(t, "clients.mjs", fmt.Sprintf(`{"url":%q,"count":6,"mode":"room","room":"order:42","event":"order:update","timeoutMs":30000}`, p.public))
	other := startNode(t, "clients.mjs", fmt.Sprintf(`{"url":%q,"count":2,"mode":"room","room":"order:7","event":"order:update","timeoutMs":30000}`, p.public))
	members.next(t, "ready", 30*time.Second)
	other.next(t, "ready", 30*time.Second)

	body := `{"rooms":["order:42"],"event":"order:update","args":[{"id":42,"status":"shipped"}]}`
	if code, h, resp := httpDo(t, "POST", p.public+"/v1/emit", "", body); code != 401 || h.Get("WWW-Authenticate") == "" {
		t.Errorf("publish without token = %d %s", code, resp)
	}
	if code, _, resp := httpDo(t, "POST", p.public+"/v1/emit", "Bearer wrong", body); code != 401 {
		t.Errorf("publish with a wrong token = %d %s", code, resp)
	}
	if code, _, resp := httpDo(t, "POST", p.public+"/v1/emit", "Bearer s3cret", body); code != 200 || strings.TrimSpace(resp) != `{"ok":true}` {
		t.Fatalf("publish = %d %s", code, resp)
	}
	got := map[float64]bool{}
	for len(got) < 6 {
		ev := members.next(t, "event", 15*time.Second)
		args, _ := json.Marshal(ev["args"])
		if string(args) != `[{"id":42,"status":"shipped"}]` {
			t.Errorf("event args %s", args)
		}
		got[ev["i"].(float64)] = true
	}
	if sum := members.next(t, "summary", 10*time.Second); sum["ok"] != true {
		t.Errorf("members: %v", sum)
	}
	// The clients of another room got nothing.
	select {
	case rec, ok := <-other.lines:
		if ok {
			t.Errorf("a client of another room got %v", rec)
		}
	case <-time.After(500 * time.Millisecond):
	}
	_, _, metrics := httpGet(t, p.admin+"/metrics")
	for _, want := range []string{`socketfleet_publish_requests_total{code="401"} 2`, `socketfleet_publish_requests_total{code="200"} 1`,
		`socketfleet_relay_requests_total{action="join",result="ok"} 8`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestDemoPageInChromium(t *testing.T) {
	p := startRuntime(t, nil, "--demo-enabled", "--demo-client-bundle", clientBundle, "--drain-window", "1s")
	if code, _, body := httpGet(t, p.public+"/"); code != 200 || !strings.Contains(body, `src="/socket.io/socket.io.min.js"`) {
		t.Fatalf("GET / = %d %.200s", code, body)
	}
	n := startNode(t, "browser.mjs", p.public+"/")
	select {
	case <-n.exited:
	case <-time.After(90 * time.Second):
		t.Fatal("browser test did not finish")
	}
	var res map[string]any
	for rec := range n.lines {
		res = rec
	}
	if n.err != nil || res == nil || res["ok"] != true {
		t.Fatalf("demo in Chromium failed: %v %v\n%s", n.err, res, n.stderr.String())
	}
	t.Logf("Chromium: %v", res)
	_, _, metrics := httpGet(t, p.admin+"/metrics")
	if !strings.Contains(metrics, `socketfleet_relay_requests_total{action="emit",result="ok"} 2`) {
		t.Errorf("relay emits not counted:\n%s", metrics)
	}
}

// TestPublishAcrossProcessesThroughRedis publishes on one runtime and
// delivers to real clients of another, through the Redis adapter.
func TestPublishAcrossProcessesThroughRedis(t *testing.T) {
	url := redisserver.Start(t, "").URL()
	env := []string{"SOCKETFLEET_REDIS_URL=" + url, "SOCKETFLEET_PUBLISH_TOKEN=s3cret"}
	args := []string{"--publish-enabled", "--relay-enabled", "--relay-rooms", "order:*", "--drain-window", "1s"}
	a := startRuntime(t, env, args...)
	b := startRuntime(t, env, args...)
	for _, p := range []*proc{a, b} {
		if code, _, body := httpGet(t, p.admin+"/readyz"); code != 200 {
			t.Fatalf("/readyz = %d %s", code, body)
		}
		if _, _, body := httpGet(t, p.admin+"/stats"); !strings.Contains(body, `"adapter": "redis"`) {
			t.Fatalf("/stats %s", body)
		}
	}
	clients := startNode(t, "clients.mjs", fmt.Sprintf(`{"url":%q,"count":3,"mode":"room","room":"order:9","event":"order:update","timeoutMs":30000}`, a.public))
	clients.next(t, "ready", 30*time.Second)
	code, _, resp := httpDo(t, "POST", b.public+"/v1/emit", "Bearer s3cret",
		`{"rooms":["order:9"],"event":"order:update","args":["from b"]}`)
	if code != 200 {
		t.Fatalf("publish on b = %d %s", code, resp)
	}
	if sum := clients.next(t, "summary", 15*time.Second); sum["ok"] != true || sum["received"] != float64(3) {
		t.Errorf("clients of a: %v", sum)
	}
}
