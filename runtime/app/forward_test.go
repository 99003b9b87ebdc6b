package app_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/socketfleet/socketfleet/internal/loopback"
	"github.com/socketfleet/socketfleet/internal/waitfor"
	"github.com/socketfleet/socketfleet/runtime/forward"
)

// forwardingPair starts two runtimes that forward to each other, with the
// admin token in a file.
func forwardingPair(t *testing.T, extra string) (a, b *running, token string) {
	t.Helper()
	token = "pod-to-pod-secret"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The advertised addresses are configured before the pods start.
	pa, pb := loopback.FreePort(t), loopback.FreePort(t)
	conf := func(port int) string {
		return fmt.Sprintf("adminPort: %d\npingInterval: 400ms\npingTimeout: 2s\nadmin: {tokenFile: %s}\n"+
			"cluster:\n  forwarding: {enabled: true, advertiseAddress: \"127.0.0.1:%d\", timeout: 10s}\n%s",
			port, file, port, extra)
	}
	return startAt(t, conf(pa)), startAt(t, conf(pb)), token
}

// startAt is start with the adminPort the yaml sets.
func startAt(t *testing.T, yaml string) *running {
	t.Helper()
	return startBase(t, "host: 127.0.0.1\nport: 0\nlog: {level: error}\n", yaml)
}

var openSID = regexp.MustCompile(`"sid":"([^"]+)"`)

// polling does one Engine.IO polling request.
func polling(t *testing.T, method, base, sid, body string) (int, string) {
	t.Helper()
	url := base + "/socket.io/?EIO=4&transport=polling"
	if sid != "" {
		url += "&sid=" + sid
	}
	code, _, got := do(t, method, url, "", body)
	return code, got
}

func TestForwardingPollingAnyPod(t *testing.T) {
	a, b, token := forwardingPair(t, "")

	// Handshake on A: the sid carries A's tag.
	code, body := polling(t, "GET", a.public, "", "")
	m := openSID.FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("handshake: %d %q", code, body)
	}
	sid := m[1]
	adminA := netip.MustParseAddrPort(strings.TrimPrefix(a.admin, "http://"))
	if got, ok := forward.Owner(sid, []string{token}); !ok || got != adminA {
		t.Fatalf("sid %q: owner %v %v, want A's admin listener %v", sid, got, ok, adminA)
	}

	// Every later request alternates between the pods.
	if code, body := polling(t, "POST", b.public, sid, "40"); code != 200 || body != "ok" {
		t.Fatalf("connect through B: %d %q", code, body)
	}
	if code, body := polling(t, "GET", b.public, sid, ""); code != 200 || !strings.HasPrefix(body, `40{"sid":`) {
		t.Fatalf("connect answer through B: %d %q", code, body)
	}
	// A long poll through B is held until A has something: its ping.
	if code, body := polling(t, "GET", b.public, sid, ""); code != 200 || body != "2" {
		t.Fatalf("long poll through B: %d %q", code, body)
	}
	if code, body := polling(t, "POST", a.public, sid, "3"); code != 200 || body != "ok" {
		t.Fatalf("pong on A: %d %q", code, body)
	}
	// A broadcast on A reaches the poll held through B (answering pings
	// on the way).
	got := make(chan string, 1)
	go func() {
		_, body := polling(t, "GET", b.public, sid, "")
		got <- body
	}()
	time.Sleep(50 * time.Millisecond)
	if err := a.a.Server().Of("/").Emit("news", "hello"); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		var body string
		select {
		case body = <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("the poll through B never returned")
		}
		if strings.Contains(body, `42["news","hello"]`) {
			break
		}
		if body != "2" || i > 3 {
			t.Fatalf("poll through B: %q, want the broadcast", body)
		}
		polling(t, "POST", b.public, sid, "3")
		go func() {
			_, body := polling(t, "GET", b.public, sid, "")
			got <- body
		}()
	}
	if n := a.a.Server().Engine().Len(); n != 1 {
		t.Errorf("A has %d sessions, want 1", n)
	}
	if n := b.a.Server().Engine().Len(); n != 0 {
		t.Errorf("B has %d sessions, want 0 (every session lives on its owner)", n)
	}
	_, _, metrics := get(t, b.admin+"/metrics")
	for _, want := range []string{`socketfleet_forwarded_requests_total{kind="polling",result="ok"}`, `socketfleet_forwarded_bytes_total{direction="from_owner"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("B's /metrics has no %s", want)
		}
	}
	// Close through B.
	if code, body := polling(t, "POST", b.public, sid, "1"); code != 200 || body != "ok" {
		t.Fatalf("close through B: %d %q", code, body)
	}
}

func TestForwardingRefusals(t *testing.T) {
	a, b, token := forwardingPair(t, "")
	_, body := polling(t, "GET", a.public, "", "")
	sid := openSID.FindStringSubmatch(body)[1]
	unknown := `{"code":1,"message":"Session ID unknown"}`
	cases := []struct {
		name, method, url, auth string
		wantCode                int
		wantBody                string
	}{
		{"forged owner", "GET", b.public + "/socket.io/?EIO=4&transport=polling&sid=" + forward.Tag(netip.MustParseAddrPort("127.0.0.1:1"), "guess") + ".abcdef", "", 400, unknown},
		{"untagged unknown sid stays local", "GET", b.public + "/socket.io/?EIO=4&transport=polling&sid=abcdef", "", 400, unknown},
		{"receiver without the token", "GET", a.admin + forward.ReceiverPath + "/socket.io/?EIO=4&transport=polling&sid=" + sid, "", 401, ""},
		{"receiver with a wrong token", "GET", a.admin + forward.ReceiverPath + "/socket.io/?EIO=4&transport=polling&sid=" + sid, "Bearer nope", 401, ""},
		{"receiver outside the Socket.IO path", "GET", a.admin + forward.ReceiverPath + "/stats", "Bearer " + token, 404, ""},
		{"receiver never forwards again", "GET", a.admin + forward.ReceiverPath + "/socket.io/?EIO=4&transport=polling&sid=" + forward.Tag(netip.MustParseAddrPort(strings.TrimPrefix(b.admin, "http://")), token) + ".x", "Bearer " + token, 400, unknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, got := do(t, tc.method, tc.url, tc.auth, "")
			if code != tc.wantCode || (tc.wantBody != "" && strings.TrimSpace(got) != tc.wantBody) {
				t.Errorf("%d %q, want %d %q", code, got, tc.wantCode, tc.wantBody)
			}
		})
	}
}

func TestForwardingOwnerGone(t *testing.T) {
	a, b, _ := forwardingPair(t, "drain: {window: 100ms}\n")
	_, body := polling(t, "GET", a.public, "", "")
	sid := openSID.FindStringSubmatch(body)[1]
	a.cancel()
	select {
	case err := <-a.done:
		a.done <- err // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("A did not stop")
	}
	code, got := polling(t, "GET", b.public, sid, "")
	if code != 400 || strings.TrimSpace(got) != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("owner gone: %d %q, want 400 Session ID unknown (the client reconnects)", code, got)
	}
	_, _, metrics := get(t, b.admin+"/metrics")
	if !strings.Contains(metrics, `socketfleet_forwarded_requests_total{kind="polling",result="owner_unreachable"} 1`) {
		t.Errorf("B's /metrics does not count the unreachable owner")
	}
}

func TestForwardingWebSocketUpgrade(t *testing.T) {
	a, b, _ := forwardingPair(t, "")
	_, body := polling(t, "GET", a.public, "", "")
	sid := openSID.FindStringSubmatch(body)[1]
	if code, body := polling(t, "POST", a.public, sid, "40"); code != 200 || body != "ok" {
		t.Fatalf("connect: %d %q", code, body)
	}
	if _, body := polling(t, "GET", a.public, sid, ""); !strings.HasPrefix(body, "40") {
		t.Fatalf("connect answer: %q", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(b.public, "http") + "/socket.io/?EIO=4&transport=websocket&sid=" + sid
	c, resp, err := websocket.DefaultDialer.DialContext(ctx, wsURL, nil)
	if err != nil {
		t.Fatalf("upgrade through B: %v", err)
	}
	defer c.Close()
	_ = resp.Body.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := c.WriteMessage(websocket.TextMessage, []byte("2probe")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "3probe" {
		t.Fatalf("probe through B: %q %v", msg, err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("5")); err != nil {
		t.Fatal(err)
	}
	// The session is on WebSocket on A; a broadcast there arrives through B.
	if err := waitUpgraded(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := a.a.Server().Of("/").Emit("news", "ws"); err != nil {
		t.Fatal(err)
	}
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read through B: %v", err)
		}
		if string(msg) == `42["news","ws"]` {
			break
		}
		if string(msg) == "2" {
			_ = c.WriteMessage(websocket.TextMessage, []byte("3"))
		}
	}
	_, _, metrics := get(t, b.admin+"/metrics")
	if !strings.Contains(metrics, "socketfleet_forwarded_websockets 1") {
		t.Errorf("B's /metrics does not count the proxied WebSocket")
	}
	_ = c.WriteMessage(websocket.TextMessage, []byte("1"))
}

func waitUpgraded(ctx context.Context, r *running) error {
	for {
		if st := r.a.Server().Engine().Stats(); st.WebSocket == 1 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the session never moved to WebSocket on its owner: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestForwardingShedHoldsToTheTarget: with session forwarding a shed process
// refuses handshakes until it is down to the shed's target, not only while
// its closes are pending: behind a round robin a shed client's handshake may
// land on it again.
func TestForwardingShedHoldsToTheTarget(t *testing.T) {
	a, _, token := forwardingPair(t, "")
	for range 4 {
		if code, body := polling(t, "GET", a.public, "", ""); code != 200 {
			t.Fatalf("handshake: %d %q", code, body)
		}
	}
	if code, _, body := do(t, "POST", a.admin+"/shed?count=2", "Bearer "+token, ""); code != 202 {
		t.Fatalf("shed: %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.a.Server().Engine().Len() > 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions left after the shed of 2 of 4", a.a.Server().Engine().Len())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cases := []struct {
		name string
		want int
	}{
		{"down to the target: accepted", 200},
		{"above the target again: refused", 503},
	}
	for _, tc := range cases {
		// Not subtests: the second depends on the first.
		if code, body := polling(t, "GET", a.public, "", ""); code != tc.want {
			t.Fatalf("%s: %d %q, want %d", tc.name, code, body, tc.want)
		}
	}
}

// TestForwardingShedHandsHandshakesOver: a process shedding with peers
// (POST /shed?to=) hands the handshakes that reach it to a peer instead of
// refusing them: the session is created on the peer (its sid names the
// peer), the client's later requests through the shedding process are
// forwarded there, and a WebSocket-only handshake is proxied to it.
func TestForwardingShedHandsHandshakesOver(t *testing.T) {
	a, b, token := forwardingPair(t, "")
	for range 4 {
		if code, body := polling(t, "GET", a.public, "", ""); code != 200 {
			t.Fatalf("handshake: %d %q", code, body)
		}
	}
	adminA := netip.MustParseAddrPort(strings.TrimPrefix(a.admin, "http://"))
	adminB := netip.MustParseAddrPort(strings.TrimPrefix(b.admin, "http://"))
	if code, _, body := do(t, "POST", a.admin+"/shed?count=2&to="+adminB.String(), "Bearer "+token, ""); code != 202 {
		t.Fatalf("shed: %d %s", code, body)
	}
	waitfor.True(t, "A down to the shed's target", func() bool { return a.a.Server().Engine().Len() <= 2 })

	owner := func(method string) netip.AddrPort {
		t.Helper()
		code, body := polling(t, method, a.public, "", "")
		m := openSID.FindStringSubmatch(body)
		if code != 200 || m == nil {
			t.Fatalf("handshake through A: %d %q", code, body)
		}
		got, ok := forward.Owner(m[1], []string{token})
		if !ok {
			t.Fatalf("sid %q has no owner", m[1])
		}
		return got
	}
	// At the target A takes the handshake itself; above it again, it hands
	// the next one to B.
	if got := owner("GET"); got != adminA {
		t.Fatalf("at the target: session on %v, want A (%v)", got, adminA)
	}
	code, body := polling(t, "GET", a.public, "", "")
	m := openSID.FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("handshake through A above the target: %d %q, want 200 (handed over, not refused)", code, body)
	}
	sid := m[1]
	if got, _ := forward.Owner(sid, []string{token}); got != adminB {
		t.Fatalf("above the target: session on %v, want B (%v)", got, adminB)
	}
	if n := b.a.Server().Engine().Len(); n != 1 {
		t.Fatalf("B has %d sessions, want the handed-over one", n)
	}
	// The session works through A (forwarded to B).
	if code, body := polling(t, "POST", a.public, sid, "40"); code != 200 || body != "ok" {
		t.Fatalf("connect through A: %d %q", code, body)
	}
	if code, body := polling(t, "GET", a.public, sid, ""); code != 200 || !strings.HasPrefix(body, `40{"sid":`) {
		t.Fatalf("connect answer through A: %d %q", code, body)
	}
	// A WebSocket-only handshake is proxied to B.
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(a.public, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatalf("WebSocket handshake through A: %v", err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, open, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	m = openSID.FindStringSubmatch(string(open))
	if m == nil {
		t.Fatalf("WebSocket open packet %q", open)
	}
	if got, _ := forward.Owner(m[1], []string{token}); got != adminB {
		t.Fatalf("WebSocket session on %v, want B (%v)", got, adminB)
	}
	if st := b.a.Server().Engine().Stats(); st.WebSocket != 1 {
		t.Errorf("B has %d WebSocket sessions, want the handed-over one", st.WebSocket)
	}
	if n := a.a.Server().Engine().Len(); n != 3 {
		t.Errorf("A has %d sessions, want 3 (the handed-over ones live on B)", n)
	}
	_, _, metrics := get(t, a.admin+"/metrics")
	for _, want := range []string{`socketfleet_forwarded_requests_total{kind="handover",result="ok"} 1`, "socketfleet_forwarded_websockets 1"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("A's /metrics has no %s", want)
		}
	}
}

// TestShedToNeedsForwarding: naming peers on a runtime without session
// forwarding is a clear error, not a silent shed.
func TestShedToNeedsForwarding(t *testing.T) {
	r := start(t, "")
	code, _, body := do(t, "POST", r.admin+"/shed?count=1&to=127.0.0.1:9", "", "")
	if code != 400 || !strings.Contains(body, "needs cluster.forwarding") {
		t.Fatalf("POST /shed?to= without forwarding: %d %s, want 400 naming cluster.forwarding", code, body)
	}
}
