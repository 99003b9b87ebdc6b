package runtime_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/internal/loopback"
	"github.com/socketfleet/socketfleet/internal/redisserver"
)

// roundRobin is a load balancer with no stickiness at all: every request
// (each poll, each POST, each WebSocket upgrade) goes to the next backend.
type roundRobin struct {
	backends []*httputil.ReverseProxy
	next     atomic.Uint64
	// withSID counts the requests of open sessions per backend.
	withSID []atomic.Int64
}

func newRoundRobin(t *testing.T, urls ...string) *roundRobin {
	t.Helper()
	rr := &roundRobin{withSID: make([]atomic.Int64, len(urls))}
	for _, u := range urls {
		target, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		p := httputil.NewSingleHostReverseProxy(target)
		p.FlushInterval = -1
		// Polls cut when the clients close at the end are not news.
		p.ErrorLog = log.New(io.Discard, "", 0)
		rr.backends = append(rr.backends, p)
	}
	return rr
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := int((rr.next.Add(1) - 1) % uint64(len(rr.backends)))
	if r.URL.Query().Get("sid") != "" {
		rr.withSID[i].Add(1)
	}
	rr.backends[i].ServeHTTP(w, r)
}

var forwardedOK = regexp.MustCompile(`socketfleet_forwarded_requests_total\{kind="(polling|websocket)",result="ok"\} (\d+)`)

// TestForwardingBehindRoundRobin runs two runtime processes that forward
// sessions to each other behind a per-request round-robin balancer: official
// clients, polling-only ones and upgrading ones, connect, join a room and
// receive every published message in order with no error, disconnect or
// reconnect, although their requests alternate between the processes.
func TestForwardingBehindRoundRobin(t *testing.T) {
	redisURL := redisserver.Start(t, "").URL()
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte("fleet-internal-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A forwarding pod's advertised address is configured before it starts.
	ports := []int{loopback.FreePort(t), loopback.FreePort(t)}
	var procs []*proc
	for _, port := range ports {
		env := []string{"SOCKETFLEET_REDIS_URL=" + redisURL, "SOCKETFLEET_PUBLISH_TOKEN=s3cret",
			"SOCKETFLEET_ADMIN_TOKEN_FILE=" + tokenFile,
			"SOCKETFLEET_CLUSTER_FORWARDING_ENABLED=true",
			"SOCKETFLEET_CLUSTER_FORWARDING_ADVERTISE_ADDRESS=127.0.0.1:" + strconv.Itoa(port)}
		procs = append(procs, startRuntime(t, env, "--admin-port", strconv.Itoa(port), "--publish-enabled",
			"--relay-enabled", "--relay-rooms", "chat:*", "--ping-interval", "1s", "--ping-timeout", "5s",
			"--drain-window", "1s"))
	}
	rr := newRoundRobin(t, procs[0].public, procs[1].public)
	lb := httptest.NewServer(rr)
	defer lb.Close()

	const count, pollingOnly, messages = 60, 40, 40
	clients := startNode(t, "clients.mjs", fmt.Sprintf(
		`{"url":%q,"mode":"ordered","count":%d,"pollingOnly":%d,"room":"chat:fwd","event":"n","messages":%d,"timeoutMs":90000}`,
		lb.URL, count, pollingOnly, messages))
	clients.next(t, "ready", 60*time.Second)
	// Let a few heartbeats (1 s) go through the balancer both ways.
	time.Sleep(2500 * time.Millisecond)
	for i := range messages {
		code, _, resp := httpDo(t, "POST", lb.URL+"/v1/emit", "Bearer s3cret",
			fmt.Sprintf(`{"rooms":["chat:fwd"],"event":"n","args":[%d]}`, i))
		if code != 200 {
			t.Fatalf("publish %d = %d %s", i, code, resp)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sum := clients.next(t, "summary", 60*time.Second)
	if sum["ok"] != true || sum["complete"] != float64(count) {
		t.Fatalf("clients: %v", sum)
	}
	if sum["upgraded"] != float64(count-pollingOnly) {
		t.Errorf("%v sockets on WebSocket, want the %d that may upgrade: %v", sum["upgraded"], count-pollingOnly, sum)
	}
	// Both processes received requests of open sessions, and both forwarded
	// some to the other: the sessions did not stick to a process.
	for i, p := range procs {
		if n := rr.withSID[i].Load(); n == 0 {
			t.Errorf("process %d got no request of an open session", i)
		}
		_, _, metrics := httpDo(t, "GET", p.admin+"/metrics", "", "")
		forwarded := map[string]int{}
		for _, m := range forwardedOK.FindAllStringSubmatch(metrics, -1) {
			forwarded[m[1]], _ = strconv.Atoi(m[2])
		}
		t.Logf("process %d: %d requests of open sessions, forwarded ok %v", i, rr.withSID[i].Load(), forwarded)
		if forwarded["polling"] == 0 {
			t.Errorf("process %d forwarded no polling request", i)
		}
		if strings.Contains(metrics, `result="owner_unreachable"`) || strings.Contains(metrics, `result="busy"`) {
			t.Errorf("process %d counted forwarding failures:\n%s", i, grepLines(metrics, "socketfleet_forwarded_requests_total"))
		}
	}
}
