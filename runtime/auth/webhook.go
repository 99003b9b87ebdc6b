package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// WebhookOptions configure the auth webhook.
type WebhookOptions struct {
	// URL receives one POST per connection attempt.
	URL string
	// Timeout bounds one call (default 5s).
	Timeout time.Duration
	// Client is the HTTP client (default: a client with its own transport).
	Client *http.Client
	// OnResult observes every decision.
	OnResult func(result string)
	// Logger receives failures at debug level (default: discarded).
	Logger *slog.Logger
}

// WebhookRequest is the JSON body POSTed for each connection attempt.
type WebhookRequest struct {
	Namespace string              `json:"namespace"`
	Auth      json.RawMessage     `json:"auth"`
	Data      any                 `json:"data,omitempty"`
	Address   string              `json:"address"`
	Headers   map[string]string   `json:"headers"`
	Query     map[string][]string `json:"query"`
}

// WebhookResponse is the optional JSON answer: on 2xx, Data becomes the
// socket's data; on 401/403, Message is the connect_error message.
type WebhookResponse struct {
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"`
}

// Webhook asks a backend to accept each connection: 2xx accepts, 401 and
// 403 refuse (with the answer's message), anything else — another status, a
// timeout, no answer — refuses with "unauthorized: auth service unavailable".
type Webhook struct {
	opts WebhookOptions
}

// forwardedHeaders are the handshake headers sent to the auth webhook.
var forwardedHeaders = []string{"Origin", "User-Agent", "Cookie", "Authorization", "X-Forwarded-For"}

// NewWebhook returns an auth webhook client.
func NewWebhook(opts WebhookOptions) *Webhook {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 64}}
	}
	if opts.OnResult == nil {
		opts.OnResult = func(string) {}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Webhook{opts: opts}
}

// Middleware calls the webhook for every connection. It runs on the
// session's goroutine, which waits for the answer (at most Timeout).
func (w *Webhook) Middleware() socketio.ConnectMiddleware {
	return func(ctx context.Context, s *socketio.Socket) error {
		data, err := w.check(ctx, s)
		if err != nil {
			return err
		}
		if len(data) > 0 && !bytes.Equal(data, []byte("null")) {
			var v any
			if json.Unmarshal(data, &v) == nil {
				s.SetData(v)
			}
		}
		return nil
	}
}

func (w *Webhook) check(ctx context.Context, s *socketio.Socket) (json.RawMessage, error) {
	hs := s.Handshake()
	req := WebhookRequest{
		Namespace: s.Namespace().Name(),
		Auth:      hs.Auth,
		Data:      s.Data(),
		Address:   hs.Address,
		Headers:   map[string]string{},
		Query:     hs.Query,
	}
	for _, h := range forwardedHeaders {
		if v := hs.Headers.Get(h); v != "" {
			req.Headers[h] = v
		}
	}
	body, err := json.Marshal(req)
	if err != nil {
		req.Data = nil
		body, _ = json.Marshal(req)
	}
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, w.opts.URL, bytes.NewReader(body))
	if err != nil {
		return nil, w.unavailable(err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("User-Agent", "socketfleet-runtime")
	resp, err := w.opts.Client.Do(hreq)
	if err != nil {
		return nil, w.unavailable(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, w.unavailable(err)
	}
	var answer WebhookResponse
	if len(bytes.TrimSpace(raw)) > 0 {
		_ = json.Unmarshal(raw, &answer) // a non-JSON body is allowed: status decides
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		w.opts.OnResult(ResultAccepted)
		return answer.Data, nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		w.opts.OnResult(ResultRefused)
		msg := "unauthorized"
		if answer.Message != "" {
			msg = "unauthorized: " + answer.Message
		}
		return nil, &socketio.ConnectError{Message: msg, Data: map[string]string{"code": "refused"}}
	default:
		return nil, w.unavailable(fmt.Errorf("status %d", resp.StatusCode))
	}
}

func (w *Webhook) unavailable(err error) error {
	w.opts.OnResult(ResultUnavailable)
	w.opts.Logger.Warn("auth webhook unavailable", "err", err)
	return unauthorized("auth_unavailable", "auth service unavailable")
}

// Close releases idle connections.
func (w *Webhook) Close() {
	if t, ok := w.opts.Client.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}
