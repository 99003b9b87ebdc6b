package engineio

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/socketfleet/socketfleet/internal/waitfor"
)

// guard bounds every wait of these tests; it is a failure guard, never a
// speed assertion.
const guard = 10 * time.Second

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a SessionHandler that records what it receives.
type recorder struct {
	sess     *Session
	messages chan string // "t:<text>" or "b:<bytes>"
	closed   chan string
}

func (r *recorder) OnMessage(data []byte, binary bool) {
	if binary {
		r.messages <- "b:" + string(data)
		return
	}
	r.messages <- "t:" + string(data)
}

func (r *recorder) OnClose(reason string) { r.closed <- reason }

func (r *recorder) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-r.messages:
		return m
	case <-time.After(guard):
		t.Fatal("no message")
		return ""
	}
}

func (r *recorder) closeReason(t *testing.T) string {
	t.Helper()
	select {
	case reason := <-r.closed:
		return reason
	case <-time.After(guard):
		t.Fatal("session not closed")
		return ""
	}
}

// harness is an engineio server on an httptest server.
type harness struct {
	srv      *Server
	http     *httptest.Server
	sessions chan *recorder
}

// newHarness starts a server whose requests are ordered as in the runtime
// (OrderRequests); configure runs before it serves.
func newHarness(t *testing.T, opts Options, configure ...func(*Server)) *harness {
	t.Helper()
	return newHarnessHTTP(t, opts, nil, configure...)
}

// newHarnessHTTP is newHarness with setHTTP (when not nil) called on the
// http.Server before its listener is made by OrderRequests.
func newHarnessHTTP(t *testing.T, opts Options, setHTTP func(*http.Server), configure ...func(*Server)) *harness {
	t.Helper()
	h := &harness{sessions: make(chan *recorder, 16)}
	h.srv = NewServer(opts, func(s *Session, _ *http.Request) SessionHandler {
		r := &recorder{sess: s, messages: make(chan string, 64), closed: make(chan string, 1)}
		h.sessions <- r
		return r
	})
	for _, f := range configure {
		f(h.srv)
	}
	h.http = httptest.NewUnstartedServer(h.srv)
	if setHTTP != nil {
		setHTTP(h.http.Config)
	}
	h.http.Listener = h.srv.OrderRequests(h.http.Config, h.http.Listener)
	h.http.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		if err := h.srv.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		h.http.Close()
	})
	return h
}

func (h *harness) session(t *testing.T) *recorder {
	t.Helper()
	select {
	case r := <-h.sessions:
		return r
	case <-time.After(guard):
		t.Fatal("no session")
		return nil
	}
}

func (h *harness) url(query string) string { return h.http.URL + "/?" + query }

func (h *harness) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(h.http.URL, "http") + "/?" + query
}

func do(t *testing.T, method, url, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

type openPacket struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

// pollingHandshake opens a polling session and returns its sid.
func pollingHandshake(t *testing.T, h *harness) (string, *recorder) {
	t.Helper()
	resp, body := do(t, "GET", h.url("EIO=4&transport=polling"), "", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake: %d %q", resp.StatusCode, body)
	}
	var open openPacket
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		t.Fatal(err)
	}
	return open.SID, h.session(t)
}

func TestHandshakeOpenPacket(t *testing.T) {
	h := newHarness(t, Options{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond, MaxBufferSize: 5000})
	resp, body := do(t, "GET", h.url("EIO=4&transport=polling"), "", nil)
	if resp.StatusCode != 200 || body[0] != '0' {
		t.Fatalf("handshake: %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body[1:]), &keys); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"upgrades": `["websocket"]`, "pingInterval": "300", "pingTimeout": "200", "maxPayload": "5000"}
	if len(keys) != 5 {
		t.Errorf("open packet keys = %v, want exactly sid, upgrades, pingInterval, pingTimeout, maxPayload", keys)
	}
	for k, v := range want {
		if string(keys[k]) != v {
			t.Errorf("%s = %s, want %s", k, keys[k], v)
		}
	}
	var sid string
	_ = json.Unmarshal(keys["sid"], &sid)
	if len(sid) != 20 {
		t.Errorf("sid %q: want 20 characters", sid)
	}
	h.session(t)
}

func TestRequestErrors(t *testing.T) {
	refuse := errors.New("go away")
	h := newHarness(t, Options{AllowRequest: func(r *http.Request) error {
		switch r.URL.Query().Get("who") {
		case "intruder":
			return refuse
		case "late":
			return &RequestError{Status: 503, Code: CodeBadRequest, Message: "draining", RetryAfter: 1500 * time.Millisecond}
		}
		return nil
	}})
	tests := []struct {
		name, method, query string
		status              int
		body                string
	}{
		{"unknown transport", "GET", "EIO=4&transport=carrier-pigeon", 400, `{"code":0,"message":"Transport unknown"}`},
		{"missing transport", "GET", "EIO=4", 400, `{"code":0,"message":"Transport unknown"}`},
		{"unknown session", "GET", "EIO=4&transport=polling&sid=nope", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"handshake with POST", "POST", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"websocket without upgrade", "GET", "EIO=4&transport=websocket", 400, `{"code":3,"message":"Bad request"}`},
		{"protocol 3", "GET", "EIO=3&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"no protocol", "GET", "transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"refused", "GET", "EIO=4&transport=polling&who=intruder", 403, `{"code":4,"message":"go away"}`},
		{"refused with status", "GET", "EIO=4&transport=polling&who=late", 503, `{"code":3,"message":"draining"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, tt.method, h.url(tt.query), "", nil)
			if resp.StatusCode != tt.status || body != tt.body {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, tt.status, tt.body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if tt.status == 503 && resp.Header.Get("Retry-After") != "2" {
				t.Errorf("Retry-After = %q, want 2", resp.Header.Get("Retry-After"))
			}
		})
	}
}

func TestPollingMessages(t *testing.T) {
	h := newHarness(t, Options{})
	sid, rec := pollingHandshake(t, h)
	q := "EIO=4&transport=polling&sid=" + sid

	resp, body := do(t, "POST", h.url(q), "4hello\x1ebAQI=\x1e4é", nil)
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("POST: %d %q", resp.StatusCode, body)
	}
	for _, want := range []string{"t:hello", "b:\x01\x02", "t:é"} {
		if got := rec.next(t); got != want {
			t.Fatalf("message %q, want %q", got, want)
		}
	}

	if err := rec.sess.Send(TextMessage([]byte("2[\"x\"]")), BinaryMessage([]byte{0xff})); err != nil {
		t.Fatal(err)
	}
	_, body = do(t, "GET", h.url(q), "", nil)
	if body != "42[\"x\"]\x1eb/w==" {
		t.Fatalf("poll = %q", body)
	}
	if got := rec.sess.Transport(); got != Polling {
		t.Fatalf("Transport() = %s", got)
	}
}

func TestPollWaitsForMessages(t *testing.T) {
	h := newHarness(t, Options{})
	sid, rec := pollingHandshake(t, h)
	got := make(chan string, 1)
	go func() {
		_, body := do(t, "GET", h.url("EIO=4&transport=polling&sid="+sid), "", nil)
		got <- body
	}()
	waitfor.True(t, "poll pending", rec.sess.Writable)
	if err := rec.sess.Send(TextMessage([]byte("late"))); err != nil {
		t.Fatal(err)
	}
	if body := <-got; body != "4late" {
		t.Fatalf("poll = %q", body)
	}
}

func TestConcurrentPollKillsSession(t *testing.T) {
	h := newHarness(t, Options{})
	sid, rec := pollingHandshake(t, h)
	url := h.url("EIO=4&transport=polling&sid=" + sid)
	first := make(chan string, 1)
	go func() {
		_, body := do(t, "GET", url, "", nil)
		first <- body
	}()
	waitfor.True(t, "first poll pending", rec.sess.Writable)
	resp, _ := do(t, "GET", url, "", nil)
	if resp.StatusCode != 400 {
		t.Fatalf("second GET: %d, want 400", resp.StatusCode)
	}
	if r := rec.closeReason(t); r != ReasonTransportError {
		t.Fatalf("reason %q", r)
	}
	if body := <-first; body != "1" {
		t.Fatalf("first poll = %q, want a close packet", body)
	}
	if resp, _ := do(t, "GET", url, "", nil); resp.StatusCode != 400 {
		t.Fatalf("session still known: %d", resp.StatusCode)
	}
}

func TestAbortedPollClosesSession(t *testing.T) {
	h := newHarness(t, Options{})
	sid, rec := pollingHandshake(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", h.url("EIO=4&transport=polling&sid="+sid), nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	waitfor.True(t, "poll pending", rec.sess.Writable)
	cancel()
	<-done
	if r := rec.closeReason(t); r != ReasonTransportError {
		t.Fatalf("reason %q", r)
	}
}

func TestPayloadTooLarge(t *testing.T) {
	h := newHarness(t, Options{MaxBufferSize: 10})
	sid, rec := pollingHandshake(t, h)
	url := h.url("EIO=4&transport=polling&sid=" + sid)
	resp, _ := do(t, "POST", url, "4"+strings.Repeat("x", 20), nil)
	if resp.StatusCode != 413 {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
	// The payload is refused, the session goes on.
	if resp, body := do(t, "POST", url, "4ok", nil); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("POST after 413: %d %q", resp.StatusCode, body)
	}
	if m := rec.next(t); m != "t:ok" {
		t.Fatalf("message %q", m)
	}
}

func TestBinaryPostClosesSession(t *testing.T) {
	h := newHarness(t, Options{})
	sid, rec := pollingHandshake(t, h)
	resp, _ := do(t, "POST", h.url("EIO=4&transport=polling&sid="+sid), "4x", http.Header{"Content-Type": {"application/octet-stream"}})
	if resp.StatusCode != 400 {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	if r := rec.closeReason(t); r != ReasonTransportError {
		t.Fatalf("reason %q", r)
	}
}

func TestClientClosePacket(t *testing.T) {
	h := newHarness(t, Options{})
	sid, rec := pollingHandshake(t, h)
	url := h.url("EIO=4&transport=polling&sid=" + sid)
	poll := make(chan string, 1)
	go func() {
		_, body := do(t, "GET", url, "", nil)
		poll <- body
	}()
	waitfor.True(t, "poll pending", rec.sess.Writable)
	do(t, "POST", url, "1", nil)
	if body := <-poll; body != "6" {
		t.Fatalf("pending poll = %q, want a noop", body)
	}
	if r := rec.closeReason(t); r != ReasonTransportClose {
		t.Fatalf("reason %q", r)
	}
}

func TestPollingParseError(t *testing.T) {
	h := newHarness(t, Options{})
	sid, rec := pollingHandshake(t, h)
	do(t, "POST", h.url("EIO=4&transport=polling&sid="+sid), "9what", nil)
	if r := rec.closeReason(t); r != ReasonParseError {
		t.Fatalf("reason %q", r)
	}
}

func TestHeartbeat(t *testing.T) {
	// The timeout leaves a loaded machine time to carry each pong over the
	// POST's parked connection (a poller event, then the HTTP server).
	h := newHarness(t, Options{PingInterval: 20 * time.Millisecond, PingTimeout: 500 * time.Millisecond})
	sid, rec := pollingHandshake(t, h)
	url := h.url("EIO=4&transport=polling&sid=" + sid)
	// Answered pings keep the session open.
	for range 3 {
		if _, body := do(t, "GET", url, "", nil); body != "2" {
			t.Fatalf("poll = %q, want a ping", body)
		}
		do(t, "POST", url, "3", nil)
	}
	select {
	case r := <-rec.closed:
		t.Fatalf("closed (%s) although every ping was answered", r)
	default:
	}
	// An unanswered ping closes it.
	if r := rec.closeReason(t); r != ReasonPingTimeout {
		t.Fatalf("reason %q", r)
	}
}

func dialWS(t *testing.T, url string, header http.Header) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (%d)", url, err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func readWS(t *testing.T, conn *websocket.Conn) (int, string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(guard))
	typ, data, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, string(data)
}

func TestWebSocketSession(t *testing.T) {
	h := newHarness(t, Options{})
	conn := dialWS(t, h.wsURL("EIO=4&transport=websocket"), nil)
	_, open := readWS(t, conn)
	var op openPacket
	if err := json.Unmarshal([]byte(open[1:]), &op); err != nil || open[0] != '0' || len(op.Upgrades) != 0 {
		t.Fatalf("open = %q (%v)", open, err)
	}
	rec := h.session(t)
	_ = conn.WriteMessage(websocket.TextMessage, []byte("4hi"))
	_ = conn.WriteMessage(websocket.BinaryMessage, []byte{7, 8})
	if m := rec.next(t); m != "t:hi" {
		t.Fatalf("message %q", m)
	}
	if m := rec.next(t); m != "b:\x07\x08" {
		t.Fatalf("message %q", m)
	}
	// One message goes to two sessions; frame lengths of every size class.
	conn2 := dialWS(t, h.wsURL("EIO=4&transport=websocket"), nil)
	readWS(t, conn2)
	rec2 := h.session(t)
	text, bin := TextMessage([]byte("shared")), BinaryMessage([]byte{1})
	for _, r := range []*recorder{rec, rec2} {
		if err := r.sess.Send(text, bin); err != nil {
			t.Fatal(err)
		}
	}
	medium, large := strings.Repeat("m", 200), strings.Repeat("L", 70000)
	_ = rec2.sess.Send(TextMessage([]byte(medium)), BinaryMessage([]byte(large)))
	for _, c := range []*websocket.Conn{conn, conn2} {
		if typ, m := readWS(t, c); typ != websocket.TextMessage || m != "4shared" {
			t.Fatalf("got %d %q", typ, m)
		}
		if typ, m := readWS(t, c); typ != websocket.BinaryMessage || m != "\x01" {
			t.Fatalf("got %d %q", typ, m)
		}
	}
	if typ, m := readWS(t, conn2); typ != websocket.TextMessage || m != "4"+medium {
		t.Fatalf("medium frame: %d, %d bytes", typ, len(m))
	}
	if typ, m := readWS(t, conn2); typ != websocket.BinaryMessage || m != large {
		t.Fatalf("large frame: %d, %d bytes", typ, len(m))
	}
	// Client pings get pongs.
	pong := make(chan string, 1)
	conn2.SetPongHandler(func(data string) error { pong <- data; return nil })
	_ = conn2.WriteControl(websocket.PingMessage, []byte("hb"), time.Now().Add(guard))
	go func() { _, _, _ = conn2.ReadMessage() }()
	select {
	case d := <-pong:
		if d != "hb" {
			t.Fatalf("pong %q", d)
		}
	case <-time.After(guard):
		t.Fatal("no pong")
	}
	if st := h.srv.Stats(); st.WebSocket != 2 || st.Polling != 0 || h.srv.Len() != 2 {
		t.Fatalf("Stats = %+v", st)
	}
	conn.Close()
	if r := rec.closeReason(t); r != ReasonTransportClose {
		t.Fatalf("reason %q", r)
	}
}

func TestWebSocketLimits(t *testing.T) {
	h := newHarness(t, Options{MaxBufferSize: 8})
	conn := dialWS(t, h.wsURL("EIO=4&transport=websocket"), nil)
	readWS(t, conn)
	rec := h.session(t)
	_ = conn.WriteMessage(websocket.TextMessage, []byte("4"+strings.Repeat("x", 64)))
	if r := rec.closeReason(t); r != ReasonTransportError {
		t.Fatalf("reason %q", r)
	}

	conn = dialWS(t, h.wsURL("EIO=4&transport=websocket"), nil)
	readWS(t, conn)
	rec = h.session(t)
	_ = conn.WriteMessage(websocket.TextMessage, []byte("x"))
	if r := rec.closeReason(t); r != ReasonParseError {
		t.Fatalf("reason %q", r)
	}
}

func TestUpgrade(t *testing.T) {
	h := newHarness(t, Options{})
	sid, rec := pollingHandshake(t, h)
	pollURL := h.url("EIO=4&transport=polling&sid=" + sid)
	poll := make(chan string, 1)
	go func() {
		_, body := do(t, "GET", pollURL, "", nil)
		poll <- body
	}()
	waitfor.True(t, "poll pending", rec.sess.Writable)

	conn := dialWS(t, h.wsURL("EIO=4&transport=websocket&sid="+sid), nil)
	_ = conn.WriteMessage(websocket.TextMessage, []byte("2probe"))
	if _, m := readWS(t, conn); m != "3probe" {
		t.Fatalf("probe answer %q", m)
	}
	if body := <-poll; body != "6" {
		t.Fatalf("pending poll = %q, want noop", body)
	}
	// Sent while upgrading: delivered over WebSocket once upgraded.
	if err := rec.sess.Send(TextMessage([]byte("queued"))); err != nil {
		t.Fatal(err)
	}
	_ = conn.WriteMessage(websocket.TextMessage, []byte("5"))
	if _, m := readWS(t, conn); m != "4queued" {
		t.Fatalf("after upgrade %q", m)
	}
	if rec.sess.Transport() != WebSocket {
		t.Fatal("transport not switched")
	}
	_ = conn.WriteMessage(websocket.TextMessage, []byte("4over ws"))
	if m := rec.next(t); m != "t:over ws" {
		t.Fatalf("message %q", m)
	}
	// Polling is over for this session.
	if resp, _ := do(t, "GET", pollURL, "", nil); resp.StatusCode != 400 {
		t.Fatalf("poll after upgrade: %d", resp.StatusCode)
	}
	// A second upgrade is refused (TestUpgradeConflicts).
}

func TestUpgradeDisabled(t *testing.T) {
	h := newHarness(t, Options{DisableUpgrades: true})
	resp, body := do(t, "GET", h.url("EIO=4&transport=polling"), "", nil)
	var op openPacket
	_ = json.Unmarshal([]byte(body[1:]), &op)
	if resp.StatusCode != 200 || len(op.Upgrades) != 0 {
		t.Fatalf("handshake %d %q", resp.StatusCode, body)
	}
	h.session(t)
	if _, resp, err := websocket.DefaultDialer.Dial(h.wsURL("EIO=4&transport=websocket&sid="+op.SID), nil); err == nil || resp.StatusCode != 400 {
		t.Fatal("upgrade accepted although disabled")
	}
}

func TestWebSocketOnly(t *testing.T) {
	h := newHarness(t, Options{Transports: []Transport{WebSocket}})
	if resp, body := do(t, "GET", h.url("EIO=4&transport=polling"), "", nil); resp.StatusCode != 400 || !strings.Contains(body, `"code":0`) {
		t.Fatalf("polling handshake: %d %s", resp.StatusCode, body)
	}
	conn := dialWS(t, h.wsURL("EIO=4&transport=websocket"), nil)
	if _, m := readWS(t, conn); m[0] != '0' {
		t.Fatalf("open %q", m)
	}
	h.session(t)
}

func TestSessionClose(t *testing.T) {
	h := newHarness(t, Options{})
	// WebSocket: queued messages, then a close frame.
	conn := dialWS(t, h.wsURL("EIO=4&transport=websocket"), nil)
	readWS(t, conn)
	rec := h.session(t)
	_ = rec.sess.Send(TextMessage([]byte("bye")))
	rec.sess.Close()
	if err := rec.sess.Send(TextMessage([]byte("too late"))); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if _, m := readWS(t, conn); m != "4bye" {
		t.Fatalf("got %q", m)
	}
	_ = conn.SetReadDeadline(time.Now().Add(guard))
	if _, _, err := conn.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("want a close frame, got %v", err)
	}
	if r := rec.closeReason(t); r != ReasonForcedClose {
		t.Fatalf("reason %q", r)
	}

	// Polling: the next poll gets the queue, the one after a close packet.
	sid, rec := pollingHandshake(t, h)
	_ = rec.sess.Send(TextMessage([]byte("bye")))
	rec.sess.Close()
	for _, want := range []string{"4bye", "1"} {
		if _, body := do(t, "GET", h.url("EIO=4&transport=polling&sid="+sid), "", nil); body != want {
			t.Fatalf("poll = %q, want %q", body, want)
		}
	}
	if r := rec.closeReason(t); r != ReasonForcedClose {
		t.Fatalf("reason %q", r)
	}
}

func TestQueueBound(t *testing.T) {
	h := newHarness(t, Options{MaxQueuedMessages: 3})
	_, rec := pollingHandshake(t, h)
	msg := TextMessage([]byte("x"))
	if err := rec.sess.Send(msg, msg, msg); err != nil {
		t.Fatal(err)
	}
	if err := rec.sess.Send(msg); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Send over the bound: %v", err)
	}
	if r := rec.closeReason(t); r != ReasonTransportError {
		t.Fatalf("reason %q", r)
	}
}

func TestCORSAndCookie(t *testing.T) {
	h := newHarness(t, Options{
		CORS:   &CORSOptions{Origins: []string{"https://app.example"}, Credentials: true},
		Cookie: &CookieOptions{HTTPOnly: true},
	})
	resp, _ := do(t, "GET", h.url("EIO=4&transport=polling"), "", http.Header{"Origin": {"https://app.example"}})
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("allowed origin headers: %v", resp.Header)
	}
	cookie := resp.Header.Get("Set-Cookie")
	if !strings.HasPrefix(cookie, "io=") || !strings.Contains(cookie, "Path=/") || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Lax") {
		t.Fatalf("Set-Cookie = %q", cookie)
	}
	h.session(t)

	resp, _ = do(t, "GET", h.url("EIO=4&transport=polling"), "", http.Header{"Origin": {"https://evil.example"}})
	if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Fatalf("disallowed origin got Access-Control-Allow-Origin %q", v)
	}
	h.session(t)

	resp, _ = do(t, "OPTIONS", h.url("EIO=4&transport=polling"), "", http.Header{
		"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"content-type"}})
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Headers") != "content-type" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}

	if _, resp, err := websocket.DefaultDialer.Dial(h.wsURL("EIO=4&transport=websocket"), http.Header{"Origin": {"https://evil.example"}}); err == nil || resp.StatusCode != 403 {
		t.Fatal("WebSocket from a disallowed origin accepted")
	}
	conn := dialWS(t, h.wsURL("EIO=4&transport=websocket"), http.Header{"Origin": {"https://app.example"}})
	readWS(t, conn)
	h.session(t)
}

func TestServerClose(t *testing.T) {
	h := newHarness(t, Options{})
	conn := dialWS(t, h.wsURL("EIO=4&transport=websocket"), nil)
	readWS(t, conn)
	ws := h.session(t)
	_, polling := pollingHandshake(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*recorder{ws, polling} {
		if reason := r.closeReason(t); reason != ReasonServerShutdown {
			t.Fatalf("reason %q", reason)
		}
	}
	if len(h.srv.Sessions()) != 0 {
		t.Fatal("sessions left after Close")
	}
	if resp, _ := do(t, "GET", h.url("EIO=4&transport=polling"), "", nil); resp.StatusCode != 503 {
		t.Fatalf("handshake after Close: %d", resp.StatusCode)
	}
}

// A client that stops reading must not hold up the others, and what was
// queued for it arrives intact once it reads again.
func TestSlowClientDoesNotBlockOthers(t *testing.T) {
	h := newHarness(t, Options{MaxQueuedMessages: 1000})
	slow := dialWS(t, h.wsURL("EIO=4&transport=websocket"), nil)
	readWS(t, slow)
	slowRec := h.session(t)
	fast := dialWS(t, h.wsURL("EIO=4&transport=websocket"), nil)
	readWS(t, fast)
	fastRec := h.session(t)

	const count = 300
	chunk := strings.Repeat("z", 64<<10)
	for i := range count {
		if err := slowRec.sess.Send(TextMessage([]byte(chunk[:len(chunk)-i]))); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	// Far more than the socket buffers hold: the slow session is stuck.
	waitfor.True(t, "slow session stuck in a write", func() bool { return !slowRec.sess.Writable() })
	for i := range 50 {
		if err := fastRec.sess.Send(TextMessage([]byte("hi"))); err != nil {
			t.Fatal(err)
		}
		if _, m := readWS(t, fast); m != "4hi" {
			t.Fatalf("fast client message %d: %q", i, m)
		}
	}
	for i := range count {
		if _, m := readWS(t, slow); len(m) != len(chunk)-i+1 || m[0] != '4' {
			t.Fatalf("slow client message %d: %d bytes", i, len(m))
		}
	}
}

// TestWebSocketReading covers what a client can send over WebSocket on every reading path: the poller
// (Linux), a goroutine per connection (other systems), and compression (gorilla reads on a goroutine):
// many messages, fragmented messages, a close frame.
func TestWebSocketReading(t *testing.T) {
	for _, tt := range []struct {
		name                  string
		compression, noPoller bool
	}{{name: "poller"}, {name: "goroutine", noPoller: true}, {name: "compression", compression: true}} {
		t.Run(tt.name, func(t *testing.T) {
			compression := tt.compression
			h := newHarness(t, Options{Compression: compression})
			h.srv.pollerFailed = tt.noPoller
			dialer := websocket.Dialer{WriteBufferSize: 1024, EnableCompression: compression}
			conn, _, err := dialer.Dial(h.wsURL("EIO=4&transport=websocket"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			readWS(t, conn)
			rec := h.session(t)
			h.srv.mu.Lock()
			polled := h.srv.poller != nil
			h.srv.mu.Unlock()
			if runtime.GOOS == "linux" && polled != (tt.name == "poller") {
				t.Fatalf("read by the poller: %v", polled)
			}
			// Larger than the client's write buffer: gorilla sends it in fragments.
			big := strings.Repeat("f", 20000)
			for i := range 50 {
				_ = conn.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("4%d", i)))
			}
			_ = conn.WriteMessage(websocket.TextMessage, []byte("4"+big))
			_ = conn.WriteMessage(websocket.BinaryMessage, []byte(big))
			for i := range 50 {
				if m := rec.next(t); m != fmt.Sprintf("t:%d", i) {
					t.Fatalf("message %d: %q", i, m)
				}
			}
			if m := rec.next(t); m != "t:"+big {
				t.Fatalf("fragmented text: %d bytes", len(m))
			}
			if m := rec.next(t); m != "b:"+big {
				t.Fatalf("fragmented binary: %d bytes", len(m))
			}
			// A close frame ends the session; the server answers with a close frame.
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(guard))
			if r := rec.closeReason(t); r != ReasonTransportClose {
				t.Fatalf("reason %q", r)
			}
			_ = conn.SetReadDeadline(time.Now().Add(guard))
			if _, _, err := conn.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Fatalf("after the close frame: %v", err)
			}
			h.srv.mu.Lock()
			p := h.srv.poller
			h.srv.mu.Unlock()
			if p != nil {
				waitfor.True(t, "the poller forgets the closed connection", func() bool { return p.watching() == 0 })
			}
		})
	}
}

// TestWebSocketProtocolViolation: an unmasked frame is refused with close code 1002 and ends the session.
func TestWebSocketProtocolViolation(t *testing.T) {
	h := newHarness(t, Options{})
	conn := dialWS(t, h.wsURL("EIO=4&transport=websocket"), nil)
	readWS(t, conn)
	rec := h.session(t)
	_, _ = conn.NetConn().Write([]byte{0x81, 0x02, '4', 'x'}) // a text frame without a mask
	if r := rec.closeReason(t); r != ReasonTransportClose {
		t.Fatalf("reason %q", r)
	}
	_ = conn.SetReadDeadline(time.Now().Add(guard))
	if _, _, err := conn.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseProtocolError) {
		t.Fatalf("close: %v", err)
	}
}

// TestUpgradeFailures: a probe that breaks the protocol or never completes is dropped; the session goes on
// polling and can upgrade again.
func TestUpgradeFailures(t *testing.T) {
	h := newHarness(t, Options{UpgradeTimeout: 200 * time.Millisecond})
	sid, rec := pollingHandshake(t, h)
	probeURL := h.wsURL("EIO=4&transport=websocket&sid=" + sid)
	closed := func(conn *websocket.Conn) {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(guard))
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}

	binary := dialWS(t, probeURL, nil)
	_ = binary.WriteMessage(websocket.BinaryMessage, []byte("2probe"))
	closed(binary)

	silent := dialWS(t, probeURL, nil) // the previous probe is gone: a new one is accepted
	_ = silent.WriteMessage(websocket.TextMessage, []byte("2probe"))
	if _, m := readWS(t, silent); m != "3probe" {
		t.Fatalf("probe answer %q", m)
	}
	closed(silent) // no "5" within UpgradeTimeout

	if rec.sess.Transport() != Polling {
		t.Fatal("the session left polling")
	}
	if resp, body := do(t, "POST", h.url("EIO=4&transport=polling&sid="+sid), "4still polling", nil); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("POST after failed upgrades: %d %q", resp.StatusCode, body)
	}
	if m := rec.next(t); m != "t:still polling" {
		t.Fatalf("message %q", m)
	}
	ok := dialWS(t, probeURL, nil)
	_ = ok.WriteMessage(websocket.TextMessage, []byte("2probe"))
	readWS(t, ok)
	_ = ok.WriteMessage(websocket.TextMessage, []byte("5"))
	waitfor.True(t, "upgraded", func() bool { return rec.sess.Transport() == WebSocket })
}

// TestUpgradeConflicts: a WebSocket for a session that is already upgrading
// or upgraded completes its handshake (101) and is then closed, as the
// reference server does; the session goes on, and an unknown sid still gets
// 400.
func TestUpgradeConflicts(t *testing.T) {
	h := newHarness(t, Options{})
	sid, rec := pollingHandshake(t, h)
	probeURL := h.wsURL("EIO=4&transport=websocket&sid=" + sid)
	refused := func(what string) {
		t.Helper()
		conn := dialWS(t, probeURL, nil) // fails the test unless the handshake completes
		_ = conn.SetReadDeadline(time.Now().Add(guard))
		_, _, err := conn.ReadMessage()
		if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Fatalf("%s: second WebSocket read %v, want a close frame", what, err)
		}
	}

	probe := dialWS(t, probeURL, nil)
	_ = probe.WriteMessage(websocket.TextMessage, []byte("2probe"))
	if _, m := readWS(t, probe); m != "3probe" {
		t.Fatalf("probe answer %q", m)
	}
	refused("while upgrading")
	_ = probe.WriteMessage(websocket.TextMessage, []byte("5"))
	waitfor.True(t, "upgraded", func() bool { return rec.sess.Transport() == WebSocket })
	refused("after the upgrade")

	_ = probe.WriteMessage(websocket.TextMessage, []byte("4still here"))
	if m := rec.next(t); m != "t:still here" {
		t.Fatalf("message %q", m)
	}
	_, _, err := websocket.DefaultDialer.Dial(h.wsURL("EIO=4&transport=websocket&sid=unknown"), nil)
	if !errors.Is(err, websocket.ErrBadHandshake) {
		t.Fatalf("unknown sid: %v, want a refused handshake", err)
	}
}

// TestUpgradeNoopWaitsForTheCheck: as on the reference server, the probe's
// answer does not release the pending poll at once; the upgrade check does
// (every upgradeCheckEvery), or the upgrade itself.
func TestUpgradeNoopWaitsForTheCheck(t *testing.T) {
	for _, tt := range []struct {
		name     string
		every    time.Duration
		complete bool // send "5" while the poll is pending
	}{
		{"released by the check", time.Millisecond, false},
		{"released by the upgrade", time.Hour, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			h.srv.upgradeCheckEvery = tt.every
			sid, rec := pollingHandshake(t, h)
			pollURL := h.url("EIO=4&transport=polling&sid=" + sid)
			poll := make(chan string, 1)
			go func() {
				_, body := do(t, "GET", pollURL, "", nil)
				poll <- body
			}()
			waitfor.True(t, "poll pending", rec.sess.Writable)
			conn := dialWS(t, h.wsURL("EIO=4&transport=websocket&sid="+sid), nil)
			_ = conn.WriteMessage(websocket.TextMessage, []byte("2probe"))
			if _, m := readWS(t, conn); m != "3probe" {
				t.Fatalf("probe answer %q", m)
			}
			if tt.complete {
				// A POST round trip after the probe's answer: the poll is still pending.
				if resp, body := do(t, "POST", pollURL, "4x", nil); resp.StatusCode != 200 || body != "ok" {
					t.Fatalf("POST while upgrading: %d %q", resp.StatusCode, body)
				}
				select {
				case body := <-poll:
					t.Fatalf("poll answered %q before the upgrade check", body)
				default:
				}
				_ = conn.WriteMessage(websocket.TextMessage, []byte("5"))
			}
			if body := <-poll; body != "6" {
				t.Fatalf("pending poll = %q, want noop", body)
			}
		})
	}
}

// TestTrickledPollingBodyIsCut: a POST whose body stops arriving is cut
// after pingInterval + pingTimeout (the session could not have kept alive
// longer) with 408, instead of holding its goroutine until the client goes.
func TestTrickledPollingBodyIsCut(t *testing.T) {
	h := newHarness(t, Options{PingInterval: 200 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	sid, rec := pollingHandshake(t, h)
	conn, err := net.Dial("tcp", h.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n4", sid)
	_ = conn.SetReadDeadline(time.Now().Add(guard))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the stalled POST: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("stalled POST = %d, want 408", resp.StatusCode)
	}
	if r := rec.closeReason(t); r != ReasonTransportError && r != ReasonPingTimeout {
		t.Errorf("close reason %q", r)
	}
}
