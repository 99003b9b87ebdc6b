// Package webhook forwards configured client events to a backend over HTTP:
// each matching event is POSTed as JSON and the backend's answer becomes the
// event's acknowledgement. Nothing hangs: a timeout, a connection failure, a
// non-2xx answer or too many calls in flight give the client an error ack.
//
// Request (Content-Type: application/json; Authorization: Bearer <token>
// when a token is configured):
//
//	{"namespace":"/","event":"order:create","args":[...],"socketId":"...",
//	 "auth":{...handshake auth...},"data":{...socket data, e.g. JWT claims...},
//	 "address":"10.0.0.7"}
//
// Binary parts of the arguments (a client's Buffer, ArrayBuffer or Blob) are
// written as {"$binary":"<base64>"}, and a JSON answer is read the same way,
// so the client receives binary as binary (docs/binary.md).
//
// Acknowledgement sent to the client when it asked for one:
//
//	2xx, empty body        ack()
//	2xx, JSON body         ack(body), {"$binary":...} as binary
//	2xx, bad $binary       ack({"error":"webhook answer: ..."})
//	2xx, other body        ack("body text")
//	non-2xx                ack({"error":"webhook answered 422","status":422,"response":<JSON body, if any>})
//	timeout                ack({"error":"webhook timed out"})
//	unreachable            ack({"error":"webhook unavailable"})
//	too many in flight     ack({"error":"webhook busy"})
//
// Events of one socket are forwarded concurrently: their calls may reach the
// backend out of order.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketfleet/socketfleet/runtime/parser"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// Results reported to Options.OnResult.
const (
	ResultOK          = "ok"
	ResultErrorStatus = "error_status"
	ResultTimeout     = "timeout"
	ResultFailed      = "failed"
	ResultBusy        = "busy"
)

// Options configure a Forwarder.
type Options struct {
	// URL receives the events.
	URL string
	// Events are the event name patterns to forward (path.Match syntax).
	Events []string
	// Timeout bounds one call (default 5s).
	Timeout time.Duration
	// MaxConcurrent bounds the calls in flight (default 256).
	MaxConcurrent int
	// Token, when set, is sent as a bearer token.
	Token string
	// MaxResponseBytes bounds the answer read (default 1 MB).
	MaxResponseBytes int64
	// Client is the HTTP client (default: a client with its own transport).
	Client *http.Client
	// OnResult observes each call's result and duration.
	OnResult func(result string, d time.Duration)
	// Logger receives failures at debug level (default: discarded).
	Logger *slog.Logger
}

// Payload is the JSON body POSTed for each event.
type Payload struct {
	Namespace string           `json:"namespace"`
	Event     string           `json:"event"`
	Args      socketio.ArgList `json:"args"`
	SocketID  string           `json:"socketId"`
	Auth      json.RawMessage  `json:"auth"`
	Data      any              `json:"data,omitempty"`
	Address   string           `json:"address,omitempty"`
}

// ErrorAck is the acknowledgement of a failed call.
type ErrorAck struct {
	Error    string          `json:"error"`
	Status   int             `json:"status,omitempty"`
	Response json.RawMessage `json:"response,omitempty"`
}

// Forwarder forwards the events of the sockets it is attached to.
type Forwarder struct {
	opts   Options
	sem    chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	calls  atomic.Uint64 // numbers the calls for their Idempotency-Key
}

// New returns a Forwarder; Close it to cancel the calls in flight.
func New(opts Options) *Forwarder {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 256
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = 1 << 20
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: opts.MaxConcurrent,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	if opts.OnResult == nil {
		opts.OnResult = func(string, time.Duration) {}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Forwarder{opts: opts, sem: make(chan struct{}, opts.MaxConcurrent)}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	return f
}

// Matches reports whether an event is forwarded.
func (f *Forwarder) Matches(event string) bool {
	for _, p := range f.opts.Events {
		if ok, _ := path.Match(p, event); ok {
			return true
		}
	}
	return false
}

// Attach forwards the matching events of a socket (a ConnectionHandler).
func (f *Forwarder) Attach(s *socketio.Socket) {
	s.OnAny(func(_ context.Context, ev *socketio.Event) {
		if f.Matches(ev.Name) {
			f.forward(s, ev)
		}
	})
}

// forward starts the call on its own goroutine: handlers run on the
// session's goroutine, which must not wait for the backend.
func (f *Forwarder) forward(s *socketio.Socket, ev *socketio.Event) {
	select {
	case f.sem <- struct{}{}:
	default:
		f.opts.OnResult(ResultBusy, 0)
		ackError(ev, ErrorAck{Error: "webhook busy"})
		return
	}
	hs := s.Handshake()
	p := Payload{
		Namespace: s.Namespace().Name(),
		Event:     ev.Name,
		Args:      ev.Args(),
		SocketID:  s.ID(),
		Auth:      hs.Auth,
		Data:      s.Data(),
		Address:   hs.Address,
	}
	if p.Args == nil {
		p.Args = socketio.ArgList{}
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer func() { <-f.sem }()
		f.call(p, ev)
	}()
}

func (f *Forwarder) call(p Payload, ev *socketio.Event) {
	begin := time.Now()
	body, err := json.Marshal(p)
	if err != nil {
		// Socket data that does not encode: forward without it.
		p.Data = nil
		body, _ = json.Marshal(p)
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.opts.URL, bytes.NewReader(body))
	if err != nil {
		f.done(ev, begin, ResultFailed, ErrorAck{Error: "webhook unavailable"}, err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "socketfleet-runtime")
	// An Idempotency-Key makes net/http resend the POST when a kept-alive connection turns out to be closed
	// by the backend as the request goes out (Node's http server closes idle connections after 5 s, a race
	// every busy webhook would otherwise lose now and then). The key lets the backend spot a duplicate.
	req.Header.Set("Idempotency-Key", fmt.Sprintf("%s-%d", p.SocketID, f.calls.Add(1)))
	if f.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+f.opts.Token)
	}
	resp, err := f.opts.Client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			f.done(ev, begin, ResultTimeout, ErrorAck{Error: "webhook timed out"}, err)
		} else {
			f.done(ev, begin, ResultFailed, ErrorAck{Error: "webhook unavailable"}, err)
		}
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, f.opts.MaxResponseBytes+1))
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		f.done(ev, begin, ResultTimeout, ErrorAck{Error: "webhook timed out"}, err)
		return
	case err != nil:
		f.done(ev, begin, ResultFailed, ErrorAck{Error: "webhook unavailable"}, err)
		return
	case int64(len(data)) > f.opts.MaxResponseBytes:
		f.done(ev, begin, ResultFailed, ErrorAck{Error: "webhook response too large"},
			fmt.Errorf("response over %d bytes", f.opts.MaxResponseBytes))
		return
	}
	data = bytes.TrimSpace(data)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := ErrorAck{Error: fmt.Sprintf("webhook answered %d", resp.StatusCode), Status: resp.StatusCode}
		if len(data) > 0 && json.Valid(data) {
			e.Response = data
		}
		f.done(ev, begin, ResultErrorStatus, e, fmt.Errorf("status %d", resp.StatusCode))
		return
	}
	var answer parser.Arg
	if len(data) > 0 && json.Valid(data) {
		if answer, err = parser.ParseBinaryJSON(data); err != nil {
			f.done(ev, begin, ResultFailed, ErrorAck{Error: "webhook answer: " + err.Error()}, err)
			return
		}
	}
	f.opts.OnResult(ResultOK, time.Since(begin))
	if !ev.WantsAck() {
		return
	}
	switch {
	case len(data) == 0:
		_ = ev.Ack()
	case json.Valid(data):
		_ = ev.Ack(answer)
	default:
		_ = ev.Ack(string(data))
	}
}

func (f *Forwarder) done(ev *socketio.Event, begin time.Time, result string, ack ErrorAck, err error) {
	f.opts.OnResult(result, time.Since(begin))
	f.opts.Logger.Debug("webhook call failed", "event", ev.Name, "result", result, "err", err)
	ackError(ev, ack)
}

func ackError(ev *socketio.Event, ack ErrorAck) {
	if ev.WantsAck() {
		_ = ev.Ack(ack)
	}
}

// Close cancels the calls in flight (their clients get an error ack) and
// waits for them.
func (f *Forwarder) Close() {
	f.cancel()
	f.wg.Wait()
	if t, ok := f.opts.Client.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}
