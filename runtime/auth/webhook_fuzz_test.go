package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/runtime/auth"
)

// answerBackend is an auth webhook that answers with the status and body it
// was last given and keeps the request it was sent.
type answerBackend struct {
	mu     sync.Mutex
	status int
	body   []byte
	got    auth.WebhookRequest
	err    error
}

func (b *answerBackend) set(status int, body []byte) {
	b.mu.Lock()
	b.status, b.body, b.got, b.err = status, body, auth.WebhookRequest{}, nil
	b.mu.Unlock()
}

func (b *answerBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	status, body := b.status, b.body
	b.err = json.NewDecoder(r.Body).Decode(&b.got)
	b.mu.Unlock()
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// FuzzHandshakeAuthWebhook feeds a connection's handshake (a query parameter
// and the CONNECT auth payload, as any client may send them) and the auth
// webhook's answer (status and body) through a real server and client: the
// connection is accepted (2xx) or refused with a connect error, never left
// hanging, and the webhook receives the query and auth the client sent.
func FuzzHandshakeAuthWebhook(f *testing.F) {
	be := &answerBackend{}
	bs := httptest.NewServer(be)
	wh := auth.NewWebhook(auth.WebhookOptions{URL: bs.URL, Timeout: 2 * time.Second})
	f.Cleanup(func() {
		wh.Close()
		bs.Close()
	})
	base := serve(f, wh.Middleware())
	for _, seed := range []struct {
		query, auth string
		status      int
		body        string
	}{
		{"room=lobby", `{"token":"t1"}`, 200, `{"data":{"user":"ada","role":"admin"}}`},
		{"", ``, 204, ``},
		{"x=\xff\xfe", `{"user":"banned"}`, 403, `{"message":"account suspended"}`},
		{"EIO=3", `[1,2]`, 401, `{"message":1}`},
		{"sid=abc", `"text"`, 500, `<html>`},
		{"a=1&a=2", `{"deep":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}`, 200, `{"data":[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}`},
		{"q=%00", `{"s":"\ud800"}`, 200, `{"data":"\ud800","message":{}}`},
	} {
		f.Add(seed.query, []byte(seed.auth), uint16(seed.status), []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, query string, authPayload []byte, status uint16, body []byte) {
		code := 200 + int(status)%400 // 200..599: net/http refuses to send others
		be.set(code, body)
		u := base + "?" + url.Values{"q": {query}}.Encode()
		var payload any = json.RawMessage(authPayload)
		if !json.Valid(authPayload) {
			payload = string(authPayload)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := sioclient.ConnectContext(ctx, u, sioclient.Options{Auth: payload})
		if err == nil {
			defer c.Close()
			if code > 299 {
				t.Fatalf("status %d accepted the connection", code)
			}
			if _, err := c.EmitWithAck(ctx, "whoami"); err != nil {
				t.Fatalf("accepted socket does not answer: %v", err)
			}
		} else {
			var ce *sioclient.ConnectError
			if !errors.As(err, &ce) {
				// A non-object auth payload is refused by the server's parser
				// (socket.io-parser's rule), which closes the connection.
				var obj map[string]json.RawMessage
				if json.Unmarshal(authPayload, &obj) == nil && obj != nil {
					t.Fatalf("status %d: %v, want a connect error", code, err)
				}
				return
			}
			if code <= 299 {
				t.Fatalf("status %d refused the connection: %v", code, err)
			}
		}
		be.mu.Lock()
		defer be.mu.Unlock()
		if be.err != nil {
			t.Fatalf("webhook request does not decode: %v", be.err)
		}
		if got := be.got.Query["q"]; len(got) != 1 || got[0] != throughJSON(t, query) {
			t.Fatalf("webhook saw query q=%q, client sent %q", got, query)
		}
	})
}

// throughJSON is s as JSON carries it: invalid UTF-8 becomes U+FFFD.
func throughJSON(t *testing.T, s string) string {
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
