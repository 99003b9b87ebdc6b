//go:build linux

package engineio

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/socketfleet/socketfleet/internal/waitfor"
)

// rawClient is one keep-alive HTTP/1.1 connection to a harness, written and
// read by hand so that a test knows which connection carries which request.
type rawClient struct {
	t    *testing.T
	h    *harness
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, h *harness) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", h.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, h: h, conn: conn, br: bufio.NewReader(conn)}
}

// send writes a request with extra header lines ("Name: value\r\n").
func (c *rawClient) send(method, query, body, extra string) {
	c.t.Helper()
	req := fmt.Sprintf("%s /?%s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s", method, query, extra, len(body), body)
	if method == http.MethodGet {
		req = fmt.Sprintf("%s /?%s HTTP/1.1\r\nHost: x\r\n%s\r\n", method, query, extra)
	}
	if _, err := io.WriteString(c.conn, req); err != nil {
		c.t.Fatalf("write %s: %v", method, err)
	}
}

// read reads one response.
func (c *rawClient) read() (*http.Response, string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(guard))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

// handshake opens a polling session over c and returns its sid.
func (c *rawClient) handshake() (string, *recorder) {
	c.t.Helper()
	c.send(http.MethodGet, "EIO=4&transport=polling", "", "")
	resp, body := c.read()
	i := strings.Index(body, `"sid":"`)
	if resp.StatusCode != 200 || i < 0 {
		c.t.Fatalf("handshake: %d %q", resp.StatusCode, body)
	}
	sid := body[i+7:]
	return sid[:strings.IndexByte(sid, '"')], c.h.session(c.t)
}

func parked(h *harness, n int) func() bool {
	return func() bool { return h.srv.Stats().ParkedConns == n }
}

// pollParked reports whether the GET of rec waits and n connections are
// parked (the GET's among them: it is counted once it waits).
func pollParked(h *harness, rec *recorder, n int) func() bool {
	return func() bool { return rec.sess.Writable() && h.srv.Stats().ParkedConns == n }
}

func TestParkedPollsReuseKeepAliveConnections(t *testing.T) {
	h := newHarness(t, Options{CORS: &CORSOptions{Origins: []string{"https://app.example"}, Credentials: true}})
	get, post := dialRaw(t, h), dialRaw(t, h)
	sid, rec := get.handshake()
	q := "EIO=4&transport=polling&sid=" + sid
	origin := "Origin: https://app.example\r\n"

	for round := range 3 {
		get.send(http.MethodGet, q, "", origin)
		waitfor.True(t, "GET parked", pollParked(h, rec, 1+min(round, 1)))
		msg := fmt.Sprintf("hello %d", round)
		if err := rec.sess.Send(TextMessage([]byte(msg))); err != nil {
			t.Fatal(err)
		}
		resp, body := get.read()
		if resp.StatusCode != 200 || body != "4"+msg || resp.Close {
			t.Fatalf("round %d: %d %q close=%v", round, resp.StatusCode, body, resp.Close)
		}
		if got := resp.Header.Get("Content-Type"); got != "text/plain; charset=UTF-8" {
			t.Fatalf("Content-Type %q", got)
		}
		if resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) != 0 {
			t.Fatalf("framing: length %d, encoding %v", resp.ContentLength, resp.TransferEncoding)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
			t.Fatalf("Access-Control-Allow-Origin %q", got)
		}
		if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
			t.Fatalf("Access-Control-Allow-Credentials %q", got)
		}

		// The POST connection is answered, parked idle, and taken back by
		// the HTTP server at its next request.
		post.send(http.MethodPost, q, fmt.Sprintf("4up %d", round), origin+"Content-Type: text/plain;charset=UTF-8\r\n")
		resp, body = post.read()
		if resp.StatusCode != 200 || body != "ok" || resp.Close {
			t.Fatalf("POST round %d: %d %q close=%v", round, resp.StatusCode, body, resp.Close)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
			t.Fatalf("POST Access-Control-Allow-Origin %q", got)
		}
		if m := rec.next(t); m != fmt.Sprintf("t:up %d", round) {
			t.Fatalf("message %q", m)
		}
		// The GET's connection went back to the HTTP server at its answer,
		// which carried a message (the next GET follows at once); the
		// POST's waits parked idle since its "ok".
		waitfor.True(t, "the POST connection parked idle", parked(h, 1))
	}
}

func TestParkedPollAnswersPingNoopAndClose(t *testing.T) {
	h := newHarness(t, Options{PingInterval: 50 * time.Millisecond, PingTimeout: 5 * time.Second})
	get, post := dialRaw(t, h), dialRaw(t, h)
	sid, rec := get.handshake()
	q := "EIO=4&transport=polling&sid=" + sid
	for round := range 3 {
		get.send(http.MethodGet, q, "", "")
		if _, body := get.read(); body != "2" {
			t.Fatalf("poll = %q, want a ping", body)
		}
		// After a ping the GET's connection waits parked idle (the pong
		// comes first), next to the POST's once that has been answered.
		waitfor.True(t, "the GET connection parked idle", parked(h, 1+min(round, 1)))
		post.send(http.MethodPost, q, "3", "")
		if _, body := post.read(); body != "ok" {
			t.Fatalf("pong answered %q", body)
		}
	}
	// Close: the parked GET gets the close packet, the session ends.
	get.send(http.MethodGet, q, "", "")
	waitfor.True(t, "GET parked", pollParked(h, rec, 2))
	rec.sess.Close()
	if _, body := get.read(); body != "1" {
		t.Fatalf("poll = %q, want a close packet", body)
	}
	if r := rec.closeReason(t); r != ReasonForcedClose {
		t.Fatalf("reason %q", r)
	}
}

func TestClientClosingParkedPollEndsSession(t *testing.T) {
	h := newHarness(t, Options{})
	get := dialRaw(t, h)
	sid, rec := get.handshake()
	get.send(http.MethodGet, "EIO=4&transport=polling&sid="+sid, "", "")
	waitfor.True(t, "GET parked", pollParked(h, rec, 1))
	_ = get.conn.Close()
	if r := rec.closeReason(t); r != ReasonTransportError {
		t.Fatalf("reason %q", r)
	}
	waitfor.True(t, "connection released", parked(h, 0))
}

func TestUpgradeWhileParked(t *testing.T) {
	h := newHarness(t, Options{})
	get := dialRaw(t, h)
	sid, rec := get.handshake()
	get.send(http.MethodGet, "EIO=4&transport=polling&sid="+sid, "", "")
	waitfor.True(t, "GET parked", pollParked(h, rec, 1))

	conn := dialWS(t, h.wsURL("EIO=4&transport=websocket&sid="+sid), nil)
	defer conn.Close()
	_ = conn.WriteMessage(websocket.TextMessage, []byte("2probe"))
	if _, m := readWS(t, conn); m != "3probe" {
		t.Fatalf("probe answer %q", m)
	}
	if _, body := get.read(); body != "6" {
		t.Fatalf("parked poll = %q, want noop", body)
	}
	_ = conn.WriteMessage(websocket.TextMessage, []byte("5"))
	waitfor.True(t, "upgraded", func() bool { return rec.sess.Transport() == WebSocket })
	if err := rec.sess.Send(TextMessage([]byte("over ws"))); err != nil {
		t.Fatal(err)
	}
	if _, m := readWS(t, conn); m != "4over ws" {
		t.Fatalf("after upgrade %q", m)
	}
	// The polling connection is still a working keep-alive connection.
	get.send(http.MethodGet, "EIO=4&transport=polling&sid="+sid, "", "")
	if resp, _ := get.read(); resp.StatusCode != 400 {
		t.Fatalf("poll after upgrade: %d", resp.StatusCode)
	}
}

func TestParkedPollsHoldNoGoroutine(t *testing.T) {
	const n = 200
	h := newHarness(t, Options{})
	clients := make([]*rawClient, n)
	recs := make([]*recorder, n)
	sids := make([]string, n)
	for i := range clients {
		clients[i] = dialRaw(t, h)
		sids[i], recs[i] = clients[i].handshake()
	}
	runtime.GC()
	before := runtime.NumGoroutine()
	for i, c := range clients {
		c.send(http.MethodGet, "EIO=4&transport=polling&sid="+sids[i], "", "")
	}
	waitfor.True(t, "every GET parked", parked(h, n))
	// Every GET waits, none on a goroutine: once the poller's readers that
	// handed the connections over have returned, the count may move by a
	// few (timers, the poller), not by one per poll.
	waitfor.True(t, "goroutines back to a few", func() bool { return runtime.NumGoroutine()-before <= n/10 })
	for i, c := range clients {
		if err := recs[i].sess.Send(TextMessage([]byte("x"))); err != nil {
			t.Fatal(err)
		}
		if _, body := c.read(); body != "4x" {
			t.Fatalf("client %d: %q", i, body)
		}
	}
}

func TestRequestsThatAreNotParked(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		proto string
		extra string
		close bool
	}{
		{name: "Connection: close", proto: "HTTP/1.1", extra: "Connection: close\r\n", close: true},
		{name: "HTTP/1.0", proto: "HTTP/1.0", close: true},
		{name: "parking off", opts: Options{MaxParkedConns: -1}, proto: "HTTP/1.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.opts)
			c := dialRaw(t, h)
			sid, rec := c.handshake()
			fmt.Fprintf(c.conn, "GET /?EIO=4&transport=polling&sid=%s %s\r\nHost: x\r\n%s\r\n", sid, tc.proto, tc.extra)
			waitfor.True(t, "poll pending", rec.sess.Writable)
			if got := h.srv.Stats().ParkedConns; got != 0 {
				t.Fatalf("%d parked connections", got)
			}
			if err := rec.sess.Send(TextMessage([]byte("x"))); err != nil {
				t.Fatal(err)
			}
			resp, body := c.read()
			if body != "4x" || resp.Close != tc.close {
				t.Fatalf("poll = %q, close=%v", body, resp.Close)
			}
		})
	}
}

func TestParkedConnsAreBounded(t *testing.T) {
	h := newHarness(t, Options{MaxParkedConns: 1})
	a, b := dialRaw(t, h), dialRaw(t, h)
	sidA, recA := a.handshake()
	sidB, recB := b.handshake()
	a.send(http.MethodGet, "EIO=4&transport=polling&sid="+sidA, "", "")
	waitfor.True(t, "first GET parked", pollParked(h, recA, 1))
	b.send(http.MethodGet, "EIO=4&transport=polling&sid="+sidB, "", "")
	waitfor.True(t, "second GET waiting", recB.sess.Writable)
	if got := h.srv.Stats().ParkedConns; got != 1 {
		t.Fatalf("%d parked connections, want 1", got)
	}
	for _, x := range []struct {
		c   *rawClient
		rec *recorder
	}{{a, recA}, {b, recB}} {
		if err := x.rec.sess.Send(TextMessage([]byte("x"))); err != nil {
			t.Fatal(err)
		}
		if _, body := x.c.read(); body != "4x" {
			t.Fatalf("poll = %q", body)
		}
	}
}

func TestServerCloseAnswersParkedPolls(t *testing.T) {
	h := newHarness(t, Options{})
	get := dialRaw(t, h)
	sid, rec := get.handshake()
	get.send(http.MethodGet, "EIO=4&transport=polling&sid="+sid, "", "")
	waitfor.True(t, "GET parked", pollParked(h, rec, 1))
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, body := get.read(); body != "1" {
		t.Fatalf("poll = %q, want a close packet", body)
	}
	if r := rec.closeReason(t); r != ReasonServerShutdown {
		t.Fatalf("reason %q", r)
	}
}

func TestParkedIdleConnectionsCloseAfterIdleTimeout(t *testing.T) {
	// Long enough that the busy connection's requests, a tenth of it apart,
	// never leave it idle that long on a loaded machine.
	const idle = time.Second
	h := newHarnessHTTP(t, Options{}, func(hs *http.Server) { hs.IdleTimeout = idle })

	busy, quiet := dialRaw(t, h), dialRaw(t, h)
	sid, _ := busy.handshake()
	q := "EIO=4&transport=polling&sid=" + sid
	quiet.send(http.MethodPost, q, "4hello", "Content-Type: text/plain;charset=UTF-8\r\n")
	if _, body := quiet.read(); body != "ok" {
		t.Fatalf("POST answered %q", body)
	}
	waitfor.True(t, "both connections parked idle", parked(h, 2))
	// busy sends a request every tenth of the timeout: it stays open, quiet
	// does not.
	start := time.Now()
	for time.Since(start) < 2*idle {
		time.Sleep(idle / 10)
		busy.send(http.MethodPost, q, "4ping", "Content-Type: text/plain;charset=UTF-8\r\n")
		if resp, body := busy.read(); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("busy connection: %d %q", resp.StatusCode, body)
		}
	}
	_ = quiet.conn.SetReadDeadline(time.Now().Add(guard))
	if n, err := quiet.conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("quiet connection after its idle timeout: %d bytes, %v (want EOF)", n, err)
	}
	waitfor.True(t, "only the busy connection parked", parked(h, 1))
}
