// Package admin serves the admin port of socketfleet-runtime, which is never
// exposed by a Service or Ingress:
//
//	GET  /healthz          200 "ok" while the process runs (liveness; no dependency checked)
//	GET  /readyz           200 "ok", or 503 with the reason (draining)
//	GET  /metrics          Prometheus exposition
//	GET  /stats            JSON: connected clients, drain state, start time, ...
//	POST /drain            start the graceful drain (the process exits when it is done)
//	POST /shed?count=N     close N sessions at the transport level, at a bounded rate
//	     [&to=IP:port,...]  with session forwarding: the admin listeners of the peers below their fair
//	                        share, which take this pod's new handshakes while it sheds
//
// /healthz and /readyz are always open (the kubelet probes them). POST
// /drain, POST /shed and the Extra handlers (the publish API) act on the
// process: they need a bearer token from Tokens (Authorization: Bearer
// <token>); without Tokens they answer 403 unless AllowUnauthenticated.
// /metrics and /stats need the token too with ProtectReads. A missing or
// wrong token gets 401 with WWW-Authenticate: Bearer and no side effect; it
// is counted (OnUnauthorized) and logged at most once per 10 seconds.
package admin

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options wire the endpoints to the runtime.
type Options struct {
	// Ready returns nil when the process should receive traffic, else why
	// not.
	Ready func() error
	// Metrics serves /metrics.
	Metrics http.Handler
	// Stats returns the /stats document (encoded with encoding/json).
	Stats func() any
	// Drain starts the drain; it reports false if it had already started.
	Drain func() bool
	// Deadline returns the drain deadline (zero before the drain).
	Deadline func() time.Time
	// Draining reports whether the drain started.
	Draining func() bool
	// Shed schedules n transport closes and returns how many are pending;
	// peers (the to parameter, possibly empty) take the pod's new
	// handshakes meanwhile. An error (peers it cannot use) answers 400.
	Shed func(n int, peers []netip.AddrPort) (int, error)
	// MaxShed bounds count (default 100000).
	MaxShed int
	// Extra handlers mounted on the admin mux (pattern → handler), e.g. the
	// publish API; they are guarded like POST /drain.
	Extra map[string]http.Handler

	// Tokens are the bearer tokens the guarded endpoints accept; nil: none
	// configured.
	Tokens Tokens
	// AllowUnauthenticated serves the mutating endpoints without a token
	// when Tokens is nil (a loopback listener, or an explicit choice).
	AllowUnauthenticated bool
	// ProtectReads requires the token on /metrics and /stats too.
	ProtectReads bool
	// OnUnauthorized is called with the endpoint's path for every refused
	// request (socketfleet_admin_unauthorized_total).
	OnUnauthorized func(path string)
	// Logger receives the rate-limited lines about refused requests; nil:
	// not logged.
	Logger *slog.Logger

	refusals *refusalLog
}

// Handler returns the admin mux.
func Handler(opts Options) http.Handler {
	if opts.MaxShed <= 0 {
		opts.MaxShed = 100000
	}
	opts.refusals = &refusalLog{}
	mux := http.NewServeMux()
	handle := func(pattern string, class access, h http.Handler) {
		path := pattern
		if _, p, ok := strings.Cut(pattern, " "); ok {
			path = p
		}
		mux.Handle(pattern, opts.guard(path, class, h))
	}
	handle("GET /healthz", open, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	}))
	handle("GET /readyz", open, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if err := opts.Ready(); err != nil {
			writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
		writeText(w, http.StatusOK, "ok")
	}))
	handle("GET /metrics", read, opts.Metrics)
	handle("GET /stats", read, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, opts.Stats())
	}))
	handle("POST /drain", mutating, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		started := opts.Drain()
		code := http.StatusAccepted
		if !started {
			code = http.StatusOK
		}
		writeJSON(w, code, map[string]any{"draining": true, "alreadyDraining": !started, "deadline": opts.Deadline()})
	}))
	handle("POST /shed", mutating, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("count"))
		if err != nil || n < 1 || n > opts.MaxShed {
			writeJSON(w, http.StatusBadRequest, map[string]string{
				"error": fmt.Sprintf("count must be an integer between 1 and %d", opts.MaxShed)})
			return
		}
		peers, err := ParsePeers(r.URL.Query().Get("to"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if opts.Draining() {
			writeJSON(w, http.StatusConflict, map[string]string{"error": "draining: every session is being closed"})
			return
		}
		pending, err := opts.Shed(n, peers)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]int{"scheduled": n, "pending": pending})
	}))
	for pattern, h := range opts.Extra {
		handle(pattern, mutating, h)
	}
	return mux
}

// MaxShedPeers bounds the peers of POST /shed's to parameter.
const MaxShedPeers = 256

// ParsePeers parses POST /shed's to parameter: comma-separated IP:port
// addresses (IPv6 in brackets), at most MaxShedPeers, no duplicates; ""
// is none.
func ParsePeers(to string) ([]netip.AddrPort, error) {
	if to == "" {
		return nil, nil
	}
	parts := strings.Split(to, ",")
	if len(parts) > MaxShedPeers {
		return nil, fmt.Errorf("to: %d peers, at most %d", len(parts), MaxShedPeers)
	}
	peers := make([]netip.AddrPort, 0, len(parts))
	for _, p := range parts {
		a, err := netip.ParseAddrPort(strings.TrimSpace(p))
		if err != nil || a.Port() == 0 {
			return nil, fmt.Errorf("to: %q is not IP:port (a peer's admin listener)", p)
		}
		if slices.Contains(peers, a) {
			return nil, fmt.Errorf("to: %s listed twice", a)
		}
		peers = append(peers, a)
	}
	return peers, nil
}

func writeText(w http.ResponseWriter, code int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(s + "\n"))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeText(w, http.StatusInternalServerError, "encode: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}
