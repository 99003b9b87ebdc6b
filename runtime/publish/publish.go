// Package publish is the HTTP publish API of socketfleet-runtime: a backend
// POSTs an event and the runtime emits it to a namespace or to rooms — how
// a backend pushes order updates to browsers without Socket.IO code.
//
//	POST /v1/emit
//	Authorization: Bearer <token>
//	Content-Type: application/json
//
//	{"namespace": "/", "rooms": ["order:42"], "except": [], "event": "order:update",
//	 "args": [{"status": "shipped"}], "volatile": false, "ackTimeout": "5s"}
//
// namespace defaults to "/"; no rooms means every socket of the namespace.
// Binary arguments are written {"$binary":"<standard base64>"} anywhere in
// args and reach the clients as binary (a Buffer in Node, an ArrayBuffer in
// the browser); an object whose only member is "$binary" or "$literal" is
// sent as data when wrapped as {"$literal":{...}} (docs/binary.md).
// The emit goes through the namespace's adapter, so with the Redis adapter it
// reaches the clients of every server. Answers:
//
//	200 {"ok":true}                                       emitted
//	200 {"ok":true,"acks":[...],"timedOut":false}          with ackTimeout: the clients' first ack arguments
//	200 {"ok":true,"partial":true,"reason":"..."}          emitted to this server's clients; the cluster
//	                                                      adapter's link (Redis) is down: the other servers'
//	                                                      clients get it when it is back (the adapter's
//	                                                      outbox), or never (reason says which)
//	400 {"error":"..."}                                   invalid request
//	401 {"error":"unauthorized"}                          missing or wrong bearer token
//	404 {"error":"unknown namespace \"/x\""}              no such namespace on this server
//	405, 413                                              wrong method, body over the size limit
package publish

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/socketfleet/socketfleet/runtime/parser"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// Path is where the API is served.
const Path = "/v1/emit"

// Options configure the handler.
type Options struct {
	// Server is the Socket.IO server to emit on.
	Server *socketio.Server
	// Token is the required bearer token; empty disables the check (only
	// for the admin listener).
	Token string
	// MaxBodyBytes bounds the request body (default 1 MB).
	MaxBodyBytes int64
	// MaxAckTimeout bounds ackTimeout (default 30s).
	MaxAckTimeout time.Duration
	// OnResult observes the status code of every request.
	OnResult func(code int)
	// OnAckTimeout is called when an ack wait times out.
	OnAckTimeout func()
	// Degraded returns why an emit reaches only this server's clients now
	// (the cluster adapter's link is down), or "" when it reaches every
	// server. The emit goes through the adapter either way (which keeps it
	// for the other servers or drops it); while degraded the answer says
	// "partial". Nil: never degraded.
	Degraded func() string
	// OnPartial is called for every answer with "partial": true.
	OnPartial func()
}

// Request is the body of POST /v1/emit.
type Request struct {
	// Namespace is the target namespace (default "/").
	Namespace string `json:"namespace"`
	// Rooms select the sockets in any of these rooms (empty: all).
	Rooms []string `json:"rooms"`
	// Except removes the sockets in any of these rooms.
	Except []string `json:"except"`
	// Event is the event name.
	Event string `json:"event"`
	// Args are the event arguments, sent as given but for the binary JSON
	// encoding: {"$binary":"<base64>"} is sent as a binary attachment.
	Args []json.RawMessage `json:"args"`
	// Volatile drops the event for clients that cannot take it now.
	Volatile bool `json:"volatile"`
	// AckTimeout, when set (Go duration such as "5s"), waits for the
	// clients' acknowledgements up to this long.
	AckTimeout string `json:"ackTimeout"`
}

// Response is the body of a successful answer.
type Response struct {
	// OK is true: the event was emitted.
	OK bool `json:"ok"`
	// Acks are the clients' first ack arguments (with ackTimeout).
	Acks []json.RawMessage `json:"acks,omitempty"`
	// TimedOut is true when some clients did not ack in time.
	TimedOut bool `json:"timedOut,omitempty"`
	// Partial is true when the event reached this server's clients only:
	// the cluster adapter's link was down. Reason says why.
	Partial bool `json:"partial,omitempty"`
	// Reason explains Partial.
	Reason string `json:"reason,omitempty"`
}

// Handler returns the http.Handler of POST /v1/emit.
func Handler(opts Options) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.MaxAckTimeout <= 0 {
		opts.MaxAckTimeout = 30 * time.Second
	}
	if opts.OnResult == nil {
		opts.OnResult = func(int) {}
	}
	if opts.OnAckTimeout == nil {
		opts.OnAckTimeout = func() {}
	}
	if opts.Degraded == nil {
		opts.Degraded = func() string { return "" }
	}
	if opts.OnPartial == nil {
		opts.OnPartial = func() {}
	}
	return &handler{opts: opts}
}

type handler struct{ opts Options }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	code, body := h.serve(r)
	h.opts.OnResult(code)
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="socketfleet"`)
	}
	if code == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	writeJSON(w, code, body)
}

func (h *handler) serve(r *http.Request) (int, any) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, errorBody("use POST")
	}
	if !h.authorized(r) {
		return http.StatusUnauthorized, errorBody("unauthorized")
	}
	req, code, err := h.decode(r)
	if err != nil {
		return code, errorBody(err.Error())
	}
	nsp := h.namespace(req.Namespace)
	if nsp == nil {
		return http.StatusNotFound, errorBody(fmt.Sprintf("unknown namespace %q", req.Namespace))
	}
	op := nsp.To(req.Rooms...).Except(req.Except...)
	if req.Volatile {
		op = op.Volatile()
	}
	list, err := parser.ParseBinaryJSONArgs(req.Args)
	if err != nil {
		return http.StatusBadRequest, errorBody(err.Error())
	}
	args := list.Any()
	var timeout time.Duration
	if req.AckTimeout != "" {
		var err error
		timeout, err = time.ParseDuration(req.AckTimeout)
		if err != nil || timeout <= 0 || timeout > h.opts.MaxAckTimeout {
			return http.StatusBadRequest, errorBody(fmt.Sprintf("ackTimeout %q must be a duration in (0, %s]", req.AckTimeout, h.opts.MaxAckTimeout))
		}
	}
	reason := h.opts.Degraded()
	resp, partial, err := h.emit(r.Context(), op, req.Event, args, timeout)
	if err != nil {
		return http.StatusBadRequest, errorBody(err.Error())
	}
	if reason == "" {
		// The link may have gone down since the check: a plain emit whose
		// publish failed delivered locally and reported the failure to the
		// health view; an acknowledged one says it was partial.
		reason = h.opts.Degraded()
		if reason == "" && partial {
			reason = "redis unavailable: delivered to this pod's clients only"
		}
	}
	if reason != "" {
		resp.Partial, resp.Reason = true, reason
		h.opts.OnPartial()
	}
	return http.StatusOK, resp
}

// emit sends the event, waiting up to timeout for acknowledgements when
// timeout is positive. partial reports an acknowledged emit that reached
// this server's clients only.
func (h *handler) emit(ctx context.Context, op socketio.BroadcastOperator, event string, args []any, timeout time.Duration) (resp Response, partial bool, err error) {
	if timeout <= 0 {
		if err := op.Emit(event, args...); err != nil {
			return Response{}, false, err
		}
		return Response{OK: true}, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout+time.Second)
	defer cancel()
	acks, err := op.Timeout(timeout).EmitWithAck(ctx, event, args...)
	resp = Response{OK: true, Acks: acks}
	partial = errors.Is(err, socketio.ErrPartialBroadcast)
	if errors.Is(err, socketio.ErrAckTimeout) {
		resp.TimedOut = true
		h.opts.OnAckTimeout()
	} else if err != nil && !partial {
		return Response{}, false, err
	}
	if resp.Acks == nil {
		resp.Acks = []json.RawMessage{}
	}
	return resp, partial, nil
}

func (h *handler) authorized(r *http.Request) bool {
	if h.opts.Token == "" {
		return true
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(h.opts.Token)) == 1
}

func (h *handler) decode(r *http.Request) (Request, int, error) {
	var req Request
	body := http.MaxBytesReader(nil, r.Body, h.opts.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return req, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", h.opts.MaxBodyBytes)
		}
		return req, http.StatusBadRequest, fmt.Errorf("invalid JSON body: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, http.StatusBadRequest, errors.New("invalid JSON body: trailing data after the object")
	}
	if req.Namespace == "" {
		req.Namespace = "/"
	}
	if req.Event == "" {
		return req, http.StatusBadRequest, errors.New(`"event" is required`)
	}
	for i, a := range req.Args {
		if len(a) == 0 {
			return req, http.StatusBadRequest, fmt.Errorf("args[%d] is empty", i)
		}
	}
	return req, 0, nil
}

// namespace finds an existing namespace; the API never creates one.
func (h *handler) namespace(name string) *socketio.Namespace {
	for _, n := range h.opts.Server.Namespaces() {
		if n.Name() == name {
			return n
		}
	}
	return nil
}

type errorResponse struct {
	Error string `json:"error"`
}

func errorBody(msg string) errorResponse { return errorResponse{Error: msg} }

func writeJSON(w http.ResponseWriter, code int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		code, data = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	data = append(data, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(code)
	_, _ = w.Write(data)
}
