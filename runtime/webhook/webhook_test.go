package webhook_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/internal/waitfor"
	"github.com/socketfleet/socketfleet/runtime/socketio"
	"github.com/socketfleet/socketfleet/runtime/webhook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// backend answers by event name; it records every payload.
type backend struct {
	mu       sync.Mutex
	payloads []webhook.Payload
	auth     []string
	release  chan struct{}
	once     sync.Once
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.payloads)
}

func (b *backend) unblock() { b.once.Do(func() { close(b.release) }) }

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p webhook.Payload
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	b.payloads = append(b.payloads, p)
	b.auth = append(b.auth, r.Header.Get("Authorization"))
	b.mu.Unlock()
	switch p.Event {
	case "order:create":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"orderId":42,"echo":`+argJSON(p.Args[0])+`}`)
	case "order:binary":
		// Answers with the argument as received and one more binary part.
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"echo":`+argJSON(p.Args[0])+`,"extra":{"$binary":"/wA="}}`)
	case "order:badbinary":
		_, _ = io.WriteString(w, `{"$binary":"%%%"}`)
	case "order:text":
		_, _ = io.WriteString(w, "accepted")
	case "order:empty":
		w.WriteHeader(http.StatusNoContent)
	case "order:fail":
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"reason":"db down"}`)
	case "order:reject":
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = io.WriteString(w, `not json`)
	case "order:slow":
		select {
		case <-r.Context().Done():
		case <-b.release:
		}
	}
}

// results records the OnResult calls.
type results struct {
	mu  sync.Mutex
	got []string
}

func (r *results) add(result string, _ time.Duration) {
	r.mu.Lock()
	r.got = append(r.got, result)
	r.mu.Unlock()
}

func (r *results) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.got, " ")
}

func start(t testing.TB, opts webhook.Options) (*sioclient.Client, *backend, *results) {
	t.Helper()
	be := &backend{release: make(chan struct{})}
	bs := httptest.NewServer(be)
	res := &results{}
	opts.URL = bs.URL + "/events"
	opts.OnResult = res.add
	fw := webhook.New(opts)

	srv := socketio.NewServer(socketio.Options{})
	srv.Of("/").Use(func(_ context.Context, s *socketio.Socket) error {
		s.SetData(map[string]string{"user": "ada"})
		return nil
	})
	srv.Of("/").OnConnection(fw.Attach)
	hs := httptest.NewServer(srv)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := sioclient.ConnectContext(ctx, hs.URL+"/socket.io/", sioclient.Options{Auth: map[string]string{"token": "t1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		be.unblock()
		fw.Close()
		_ = srv.Close(context.Background())
		hs.Close()
		bs.Close()
	})
	return c, be, res
}

func TestBinaryBothWays(t *testing.T) {
	c, be, res := start(t, webhook.Options{Events: []string{"order:*"}, Timeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := c.EmitWithAckPacket(ctx, "order:binary", map[string]any{"file": []byte{1, 2, 3}, "name": "f"}, map[string]any{"$binary": "data"})
	if err != nil {
		t.Fatal(err)
	}
	if string(ack.Data) != `[{"echo":{"file":{"_placeholder":true,"num":0},"name":"f"},"extra":{"_placeholder":true,"num":1}}]` ||
		len(ack.Attachments) != 2 || string(ack.Attachments[0]) != "\x01\x02\x03" || string(ack.Attachments[1]) != "\xff\x00" {
		t.Fatalf("ack %s %q", ack.Data, ack.Attachments)
	}
	be.mu.Lock()
	p := be.payloads[0]
	be.mu.Unlock()
	if len(p.Args) != 2 || argJSON(p.Args[0]) != `{"file":{"$binary":"AQID"},"name":"f"}` || argJSON(p.Args[1]) != `{"$literal":{"$binary":"data"}}` {
		t.Fatalf("webhook args %s", argsJSON(p.Args))
	}
	if v, _ := p.Args[1].Value(); v.(map[string]any)["$binary"] != "data" {
		t.Fatalf("the escaped object did not read back as data: %#v", v)
	}

	args, err := c.EmitWithAck(ctx, "order:badbinary")
	if err != nil || len(args) != 1 || !strings.Contains(string(args[0]), "webhook answer: binary JSON") {
		t.Fatalf("bad $binary answer: %s %v", args, err)
	}
	if got := res.String(); got != "ok failed" {
		t.Errorf("results %q", got)
	}
}

func argsJSON(l socketio.ArgList) string {
	b, err := json.Marshal(l)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func TestAckRoundTrip(t *testing.T) {
	c, be, res := start(t, webhook.Options{Events: []string{"order:*"}, Timeout: 300 * time.Millisecond, Token: "hook-token"})
	tests := []struct {
		event string
		want  string // the ack arguments, comma-joined
	}{
		{"order:create", `{"orderId":42,"echo":{"item":"tea"}}`},
		{"order:text", `"accepted"`},
		{"order:empty", ``},
		{"order:fail", `{"error":"webhook answered 500","status":500,"response":{"reason":"db down"}}`},
		{"order:reject", `{"error":"webhook answered 422","status":422}`},
		{"order:slow", `{"error":"webhook timed out"}`},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			args, err := c.EmitWithAck(ctx, tt.event, map[string]string{"item": "tea"})
			if err != nil {
				t.Fatal(err)
			}
			got := make([]string, len(args))
			for i, a := range args {
				got[i] = string(a)
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("ack = %s, want %s", strings.Join(got, ","), tt.want)
			}
		})
	}
	if got := res.String(); got != "ok ok ok error_status error_status timeout" {
		t.Errorf("results %q", got)
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	p := be.payloads[0]
	if p.Namespace != "/" || p.Event != "order:create" || p.SocketID != c.ID || string(p.Auth) != `{"token":"t1"}` ||
		len(p.Args) != 1 || argJSON(p.Args[0]) != `{"item":"tea"}` || p.Address == "" {
		t.Errorf("payload %+v", p)
	}
	if data, _ := json.Marshal(p.Data); string(data) != `{"user":"ada"}` {
		t.Errorf("payload data %s", data)
	}
	if be.auth[0] != "Bearer hook-token" {
		t.Errorf("Authorization %q", be.auth[0])
	}
}

func TestUnmatchedEventsAndNoAck(t *testing.T) {
	c, be, _ := start(t, webhook.Options{Events: []string{"order:create"}})
	if err := c.Emit("order:create", "fire and forget"); err != nil {
		t.Fatal(err)
	}
	if err := c.Emit("chat", "not forwarded"); err != nil {
		t.Fatal(err)
	}
	// A round trip after both; the calls run concurrently, so the
	// fire-and-forget one may reach the backend after it: wait for two.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.EmitWithAck(ctx, "order:create", "sync"); err != nil {
		t.Fatal(err)
	}
	waitfor.True(t, "two webhook calls", func() bool {
		be.mu.Lock()
		defer be.mu.Unlock()
		return len(be.payloads) >= 2
	})
	be.mu.Lock()
	defer be.mu.Unlock()
	if len(be.payloads) != 2 || be.payloads[0].Event != "order:create" || be.payloads[1].Event != "order:create" {
		t.Errorf("backend saw %+v", be.payloads)
	}
}

func TestBusy(t *testing.T) {
	c, be, res := start(t, webhook.Options{Events: []string{"order:*"}, MaxConcurrent: 1, Timeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The first call blocks in the backend; the second finds no slot.
	slow := make(chan error, 1)
	go func() {
		_, err := c.EmitWithAck(ctx, "order:slow")
		slow <- err
	}()
	for be.count() == 0 {
		select {
		case err := <-slow:
			t.Fatalf("slow call ended early: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	args, err := c.EmitWithAck(ctx, "order:create", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(args) != 1 || string(args[0]) != `{"error":"webhook busy"}` {
		t.Fatalf("ack %s, want webhook busy", args)
	}
	// Released, the slow call answers its client.
	be.unblock()
	if err := <-slow; err != nil {
		t.Errorf("slow call: %v", err)
	}
	if got := res.String(); got != "busy ok" {
		t.Errorf("results %q", got)
	}
}

func TestUnreachableBackend(t *testing.T) {
	fw := webhook.New(webhook.Options{URL: "http://127.0.0.1:1/events", Events: []string{"*"}, Timeout: 2 * time.Second})
	srv := socketio.NewServer(socketio.Options{})
	srv.Of("/").OnConnection(fw.Attach)
	hs := httptest.NewServer(srv)
	defer func() {
		fw.Close()
		_ = srv.Close(context.Background())
		hs.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := sioclient.ConnectContext(ctx, hs.URL+"/socket.io/", sioclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	args, err := c.EmitWithAck(ctx, "anything")
	if err != nil {
		t.Fatal(err)
	}
	if len(args) != 1 || string(args[0]) != `{"error":"webhook unavailable"}` {
		t.Errorf("ack %s", args)
	}
}

// TestResendsOnStaleKeepAlive plays a backend that closes a kept-alive connection when a second request
// arrives on it without answering (what a Node server's idle timeout does when it races a new request). The
// forwarder must resend the call on a new connection (its Idempotency-Key makes the POST replayable), so
// the client gets the backend's answer, not "webhook unavailable".
func TestResendsOnStaleKeepAlive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var keys sync.Map
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for n := 1; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if n == 2 {
						return // the stale keep-alive connection: closed under the request
					}
					keys.Store(req.Header.Get("Idempotency-Key"), true)
					_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}")
				}
			})
		}
	})

	fw := webhook.New(webhook.Options{URL: "http://" + ln.Addr().String() + "/events", Events: []string{"*"}, Timeout: 2 * time.Second})
	defer fw.Close()
	srv := socketio.NewServer(socketio.Options{})
	srv.Of("/").OnConnection(fw.Attach)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer func() { _ = srv.Close(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := sioclient.ConnectContext(ctx, hs.URL+"/socket.io/", sioclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		args, err := c.EmitWithAck(ctx, "work", i)
		if err != nil {
			t.Fatal(err)
		}
		if len(args) != 1 || string(args[0]) != `{"ok":true}` {
			t.Fatalf("call %d: ack %s, want the backend's answer", i, args)
		}
	}
	n := 0
	keys.Range(func(k, _ any) bool {
		if k.(string) == "" {
			t.Error("a call without Idempotency-Key")
		}
		n++
		return true
	})
	if n != 3 {
		t.Errorf("%d distinct Idempotency-Keys for 3 calls", n)
	}
}

// argJSON is an argument in the webhook's binary JSON encoding.
func argJSON(a socketio.Arg) string {
	b, err := json.Marshal(a)
	if err != nil {
		return "marshal error: " + err.Error()
	}
	return string(b)
}
