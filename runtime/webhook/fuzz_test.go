package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/runtime/socketio"
	"github.com/socketfleet/socketfleet/runtime/webhook"
)

// replyBackend answers every webhook call with the status and body it was
// last given.
type replyBackend struct {
	mu     sync.Mutex
	status int
	body   []byte
}

func (b *replyBackend) set(status int, body []byte) {
	b.mu.Lock()
	b.status, b.body = status, body
	b.mu.Unlock()
}

func (b *replyBackend) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	b.mu.Lock()
	status, body := b.status, b.body
	b.mu.Unlock()
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// FuzzWebhookReply feeds the event webhook's answer (status and body, the
// bytes the runtime turns into the client's acknowledgement) through the real
// forwarder, server and a client: every answer gives the client exactly one
// ack, a 2xx JSON answer is the ack's argument unchanged in value, and an
// answer over MaxResponseBytes is refused.
func FuzzWebhookReply(f *testing.F) {
	const maxBytes = 4096
	be := &replyBackend{}
	bs := httptest.NewServer(be)
	fw := webhook.New(webhook.Options{URL: bs.URL, Events: []string{"*"}, Timeout: 2 * time.Second,
		MaxResponseBytes: maxBytes, OnResult: func(string, time.Duration) {}})
	srv := socketio.NewServer(socketio.Options{})
	srv.Of("/").OnConnection(fw.Attach)
	hs := httptest.NewServer(srv)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c, err := sioclient.ConnectContext(ctx, hs.URL+"/socket.io/", sioclient.Options{})
	cancel()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		c.Close()
		fw.Close()
		_ = srv.Close(context.Background())
		hs.Close()
		bs.Close()
	})
	for _, seed := range []struct {
		status int
		body   string
	}{
		{200, `{"orderId":42,"echo":{"item":"tea"}}`},
		{200, `accepted`},
		{204, ``},
		{500, `{"reason":"db down"}`},
		{422, `not json`},
		{200, `[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]`},
		{200, "\"\xff\xfe\""},
		{200, `{"html":"<b>&</b>","n":1e400}`},
	} {
		f.Add(uint16(seed.status), []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, status uint16, body []byte) {
		code := 200 + int(status)%400 // 200..599: net/http refuses to send others
		be.set(code, body)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		args, err := c.EmitWithAck(ctx, "fuzz", 1)
		if err != nil {
			t.Fatalf("status %d, %d-byte answer: no ack: %v", code, len(body), err)
		}
		if len(args) > 1 {
			t.Fatalf("%d ack arguments", len(args))
		}
		if len(body) > maxBytes || code > 299 || len(args) == 0 {
			return
		}
		var want, got any
		if json.Unmarshal(body, &want) != nil || json.Unmarshal(args[0], &got) != nil {
			return
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("answer %q acknowledged as %s", body, args[0])
		}
	})
}
