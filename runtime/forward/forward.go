// Package forward lets any pod of a fleet serve any Engine.IO session, so a
// load balancer needs no sticky sessions: a request whose session another pod
// owns is forwarded to that pod over its admin listener.
//
// Every session id a pod creates starts with its owner tag (Tag), derived
// from the address its peers reach its admin listener at (Options.Self). A
// pod knows its peers' addresses (a static list, or a headless Service's DNS
// name resolved on an interval), so it maps a tag to an address without
// asking anyone, and it never forwards to an address outside that list.
//
// On the public listener, Handler passes requests of its own sessions (and
// handshakes) to the local Engine.IO server and forwards the others to the
// owner with httputil.ReverseProxy: bodies stream both ways, a long-polling
// GET stays open end to end, and a WebSocket upgrade is proxied (the socket
// lives on the owner; the receiving pod copies bytes both ways). On the admin
// listener, Receiver serves forwarded requests with the local Engine.IO
// server and never forwards them again.
//
// A request for an owner that is not a known peer, or that cannot be
// reached, is answered like an unknown session by the reference server (400
// {"code":1,"message":"Session ID unknown"}): the client reconnects and gets
// a new session (and recovers its state where recovery across pods is on).
// Forwarded requests are bounded per pod (MaxInFlight polling requests,
// MaxWebSockets proxied WebSockets; beyond them 503 with Retry-After) and in
// time (Timeout for the owner's answer, a fixed dial timeout).
package forward

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ReceiverPath is the admin listener's path prefix of forwarded requests: the
// original path and query follow it.
const ReceiverPath = "/forward"

// tagLen is the length of an owner tag (6 bytes of SHA-256, base64url).
const tagLen = 8

// tagSeparator ends the tag in a session id; it is not in the base64url
// alphabet, so a session id without a tag is never mistaken for one.
const tagSeparator = "."

// dialTimeout bounds the connection to an owner.
const dialTimeout = 2 * time.Second

// clientAuthHeader carries the client's own Authorization header across the
// hop, whose Authorization is the pod-to-pod credential.
const clientAuthHeader = "X-Socketfleet-Client-Authorization"

// forwardedHeader marks a forwarded request at the owner.
const forwardedHeader = "X-Socketfleet-Forwarded-By"

// Options configure a Forwarder.
type Options struct {
	// Self is the host:port this pod's peers reach its admin listener at;
	// its owner tag is derived from it.
	Self string
	// Peers are host:port addresses of the admin listeners of the pods
	// (Self may be among them).
	Peers []string
	// PeersDNS is a DNS name (a headless Service) whose addresses are the
	// pods; each one is reached at PeersPort. Resolved every
	// RefreshInterval, and at once (at most once a second) when a request
	// names an owner not yet known.
	PeersDNS string
	// PeersPort is the admin port of the pods found by PeersDNS.
	PeersPort int
	// RefreshInterval is the time between two resolutions of PeersDNS
	// (default 5s).
	RefreshInterval time.Duration
	// Path is the Engine.IO path ("/socket.io/"); only requests under it
	// are forwarded or received.
	Path string
	// Token returns the bearer token sent to the owner ("" sends none).
	Token func() (string, error)
	// MaxInFlight bounds the forwarded polling requests in flight from this
	// pod (default 1000).
	MaxInFlight int
	// MaxWebSockets bounds the WebSockets this pod proxies to owners
	// (default 10000).
	MaxWebSockets int
	// Timeout bounds the wait for the owner's answer to a forwarded polling
	// request; it must exceed the ping interval, which bounds a long poll
	// (default 60s).
	Timeout time.Duration
	// Registerer receives the forwarding metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Logger receives warnings (default: discarded).
	Logger *slog.Logger
	// Resolver resolves PeersDNS (default net.DefaultResolver).
	Resolver *net.Resolver
}

// Forwarder forwards the requests of other pods' sessions to their owner.
type Forwarder struct {
	opts  Options
	tag   string
	log   *slog.Logger
	proxy *httputil.ReverseProxy

	mu        sync.RWMutex
	peers     map[string]string // tag -> host:port
	lastRetry time.Time
	refreshMu sync.Mutex

	inFlight, webSockets atomic.Int64

	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration prometheus.Histogram
}

// Tag returns the owner tag of the pod reached at addr.
func Tag(addr string) string {
	sum := sha256.Sum256([]byte(addr))
	return base64.RawURLEncoding.EncodeToString(sum[:6])
}

// New returns a Forwarder; Run keeps its peer list fresh.
func New(opts Options) (*Forwarder, error) {
	if opts.Self == "" {
		return nil, errors.New("forward: Self (the address peers reach this pod at) is required")
	}
	if _, _, err := net.SplitHostPort(opts.Self); err != nil {
		return nil, fmt.Errorf("forward: Self %q: %w", opts.Self, err)
	}
	for _, p := range opts.Peers {
		if _, _, err := net.SplitHostPort(p); err != nil {
			return nil, fmt.Errorf("forward: peer %q: %w", p, err)
		}
	}
	if opts.PeersDNS != "" && (opts.PeersPort <= 0 || opts.PeersPort > 65535) {
		return nil, fmt.Errorf("forward: PeersPort %d: want the admin port of the pods", opts.PeersPort)
	}
	if opts.Path == "" || !strings.HasPrefix(opts.Path, "/") {
		return nil, fmt.Errorf("forward: Path %q must start with /", opts.Path)
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = 5 * time.Second
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 1000
	}
	if opts.MaxWebSockets <= 0 {
		opts.MaxWebSockets = 10000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Token == nil {
		opts.Token = func() (string, error) { return "", nil }
	}
	f := &Forwarder{opts: opts, tag: Tag(opts.Self), log: opts.Logger, peers: map[string]string{}}
	f.setPeers(opts.Peers)
	f.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "socketfleet_forwarded_requests_total",
		Help: "Requests of sessions owned by another pod, forwarded to the owner, by kind (polling, websocket) and result (ok, unknown_owner, owner_unreachable, busy, error).",
	}, []string{"kind", "result"})
	f.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "socketfleet_forwarded_bytes_total",
		Help: "Body bytes of forwarded requests, by direction (to_owner, from_owner).",
	}, []string{"direction"})
	f.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "socketfleet_forwarded_request_duration_seconds",
		Help:    "Time from receiving a forwarded polling request to the end of the owner's answer (long polls included).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 15, 30, 60},
	})
	if r := opts.Registerer; r != nil {
		inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "socketfleet_forwarded_in_flight",
			Help: "Forwarded polling requests waiting for their owner's answer.",
		}, func() float64 { return float64(f.inFlight.Load()) })
		ws := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "socketfleet_forwarded_websockets",
			Help: "WebSockets this pod proxies to the pod that owns their session.",
		}, func() float64 { return float64(f.webSockets.Load()) })
		for _, c := range []prometheus.Collector{f.requests, f.bytes, f.duration, inFlight, ws} {
			if err := r.Register(c); err != nil {
				return nil, fmt.Errorf("forward: register metrics: %w", err)
			}
		}
	}
	f.proxy = f.newProxy()
	return f, nil
}

// Prefix is the session id prefix of this pod's sessions (for
// engineio.Options.SessionIDPrefix).
func (f *Forwarder) Prefix() string { return f.tag + tagSeparator }

// Owner returns the tag of the pod that owns sid, or "" when sid carries no
// tag.
func Owner(sid string) string {
	if len(sid) <= tagLen || sid[tagLen:tagLen+1] != tagSeparator {
		return ""
	}
	return sid[:tagLen]
}

func (f *Forwarder) setPeers(addrs []string) {
	peers := make(map[string]string, len(addrs))
	for _, a := range addrs {
		if t := Tag(a); t != f.tag {
			peers[t] = a
		}
	}
	f.mu.Lock()
	f.peers = peers
	f.mu.Unlock()
}

// Peers returns the known peer addresses (this pod excluded), sorted.
func (f *Forwarder) Peers() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]string, 0, len(f.peers))
	for _, a := range f.peers {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Refresh resolves PeersDNS now (no-op without it).
func (f *Forwarder) Refresh(ctx context.Context) error {
	if f.opts.PeersDNS == "" {
		return nil
	}
	f.refreshMu.Lock()
	defer f.refreshMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	hosts, err := f.opts.Resolver.LookupHost(ctx, f.opts.PeersDNS)
	if err != nil {
		return fmt.Errorf("forward: resolve peers %s: %w", f.opts.PeersDNS, err)
	}
	addrs := slices.Clone(f.opts.Peers)
	for _, h := range hosts {
		addrs = append(addrs, net.JoinHostPort(h, strconv.Itoa(f.opts.PeersPort)))
	}
	f.setPeers(addrs)
	return nil
}

// Run resolves PeersDNS every RefreshInterval until ctx ends (returns at
// once without PeersDNS).
func (f *Forwarder) Run(ctx context.Context) {
	if f.opts.PeersDNS == "" {
		return
	}
	lastErr := ""
	t := time.NewTicker(f.opts.RefreshInterval)
	defer t.Stop()
	for {
		if err := f.Refresh(ctx); err != nil && err.Error() != lastErr && ctx.Err() == nil {
			f.log.Warn("session forwarding: peers not refreshed, keeping the previous list", "err", err)
			lastErr = err.Error()
		} else if err == nil {
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lookup returns the address of the owner tagged tag, resolving PeersDNS
// again (at most once a second) when it is not known.
func (f *Forwarder) lookup(ctx context.Context, tag string) (string, bool) {
	f.mu.RLock()
	addr, ok := f.peers[tag]
	f.mu.RUnlock()
	if ok || f.opts.PeersDNS == "" {
		return addr, ok
	}
	f.mu.Lock()
	retry := time.Since(f.lastRetry) >= time.Second
	if retry {
		f.lastRetry = time.Now()
	}
	f.mu.Unlock()
	if !retry {
		return "", false
	}
	if err := f.Refresh(ctx); err != nil {
		f.log.Debug("session forwarding: peers not refreshed", "err", err)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	addr, ok = f.peers[tag]
	return addr, ok
}

// Handler returns the public side: requests of sessions another pod owns
// are forwarded, every other request goes to local.
func (f *Forwarder) Handler(local http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		owner := ""
		if strings.HasPrefix(r.URL.Path, f.opts.Path) {
			owner = Owner(r.URL.Query().Get("sid"))
		}
		if owner == "" || owner == f.tag {
			local.ServeHTTP(w, r)
			return
		}
		f.forward(w, r, owner)
	})
}

type ctxKey struct{}

// target is what the proxy's Rewrite needs to know about one request.
type target struct {
	addr, token, kind string
	result            string
}

func (f *Forwarder) forward(w http.ResponseWriter, r *http.Request, owner string) {
	kind := "polling"
	limit, counter := int64(f.opts.MaxInFlight), &f.inFlight
	if isUpgrade(r) {
		kind, limit, counter = "websocket", int64(f.opts.MaxWebSockets), &f.webSockets
	}
	addr, ok := f.lookup(r.Context(), owner)
	if !ok {
		f.requests.WithLabelValues(kind, "unknown_owner").Inc()
		unknownSession(w)
		return
	}
	if counter.Add(1) > limit {
		counter.Add(-1)
		f.requests.WithLabelValues(kind, "busy").Inc()
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, 3, "Session forwarding busy")
		return
	}
	defer counter.Add(-1)
	token, err := f.opts.Token()
	if err != nil {
		f.requests.WithLabelValues(kind, "error").Inc()
		f.log.Warn("session forwarding: no token for the owner", "err", err)
		writeError(w, http.StatusServiceUnavailable, 3, "Session forwarding unavailable")
		return
	}
	start := time.Now()
	t := &target{addr: addr, token: token, kind: kind, result: "ok"}
	ctx := context.WithValue(r.Context(), ctxKey{}, t)
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &countingBody{ReadCloser: r.Body, c: f.bytes.WithLabelValues("to_owner")}
	}
	f.proxy.ServeHTTP(w, r.WithContext(ctx))
	f.requests.WithLabelValues(kind, t.result).Inc()
	if kind == "polling" {
		f.duration.Observe(time.Since(start).Seconds())
	}
}

func (f *Forwarder) newProxy() *httputil.ReverseProxy {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		ResponseHeaderTimeout: f.opts.Timeout,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
	}
	toOwner, fromOwner := f.bytes.WithLabelValues("to_owner"), f.bytes.WithLabelValues("from_owner")
	return &httputil.ReverseProxy{
		Transport:     tr,
		FlushInterval: -1,
		Rewrite: func(pr *httputil.ProxyRequest) {
			t, _ := pr.In.Context().Value(ctxKey{}).(*target)
			pr.Out.URL = &url.URL{Scheme: "http", Host: t.addr, Path: ReceiverPath + pr.In.URL.Path, RawQuery: pr.In.URL.RawQuery}
			pr.Out.Host = t.addr
			pr.SetXForwarded()
			pr.Out.Header.Del(clientAuthHeader)
			if a := pr.In.Header.Get("Authorization"); a != "" {
				pr.Out.Header.Set(clientAuthHeader, a)
			}
			pr.Out.Header.Del("Authorization")
			if t.token != "" {
				pr.Out.Header.Set("Authorization", "Bearer "+t.token)
			}
			pr.Out.Header.Set(forwardedHeader, f.tag)
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode == http.StatusSwitchingProtocols {
				if rwc, ok := resp.Body.(io.ReadWriteCloser); ok {
					resp.Body = &countingStream{ReadWriteCloser: rwc, in: fromOwner, out: toOwner}
				}
				return nil
			}
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
				// The pods disagree on the credential: not the client's
				// fault, and not worth a reconnect loop without a clue.
				t, _ := resp.Request.Context().Value(ctxKey{}).(*target)
				if t != nil {
					t.result = "error"
				}
				f.log.Warn("session forwarding: the owner refused this pod's credential (admin.tokenFile differs?)",
					"owner", resp.Request.URL.Host, "status", resp.StatusCode)
			}
			resp.Body = &countingBody{ReadCloser: resp.Body, c: fromOwner}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			t, _ := r.Context().Value(ctxKey{}).(*target)
			if r.Context().Err() != nil {
				// The client went away; nobody reads the answer.
				if t != nil {
					t.result = "client_gone"
				}
				return
			}
			if t != nil {
				t.result = "owner_unreachable"
			}
			f.log.Debug("session forwarding: owner unreachable", "err", err)
			unknownSession(w)
		},
	}
}

// InFlight returns the forwarded polling requests and proxied WebSockets in
// flight now.
func (f *Forwarder) InFlight() (polling, webSockets int64) {
	return f.inFlight.Load(), f.webSockets.Load()
}

// Receiver returns the admin side, mounted at ReceiverPath+"/" behind the
// admin credential: it serves forwarded requests with local (the Engine.IO
// server itself, never Handler: a request is forwarded at most once).
func (f *Forwarder) Receiver(local http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, ReceiverPath)
		if p == r.URL.Path || !strings.HasPrefix(p, f.opts.Path) {
			http.NotFound(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = p, ""
		r2.RequestURI = r2.URL.RequestURI()
		r2.Header.Del("Authorization")
		if a := r2.Header.Get(clientAuthHeader); a != "" {
			r2.Header.Set("Authorization", a)
			r2.Header.Del(clientAuthHeader)
		}
		// The admin listener's write timeout would cut a long poll or a
		// WebSocket: a forwarded request lives as long as a public one.
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Time{})
		_ = rc.SetReadDeadline(time.Time{})
		local.ServeHTTP(w, r2)
	})
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// unknownSession answers like the reference server for an unknown sid.
func unknownSession(w http.ResponseWriter) {
	writeError(w, http.StatusBadRequest, 1, "Session ID unknown")
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"code":%d,"message":%q}`, code, msg)
}

type countingBody struct {
	io.ReadCloser
	c prometheus.Counter
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.c.Add(float64(n))
	}
	return n, err
}

type countingStream struct {
	io.ReadWriteCloser
	in, out prometheus.Counter
}

func (s *countingStream) Read(p []byte) (int, error) {
	n, err := s.ReadWriteCloser.Read(p)
	if n > 0 {
		s.in.Add(float64(n))
	}
	return n, err
}

func (s *countingStream) Write(p []byte) (int, error) {
	n, err := s.ReadWriteCloser.Write(p)
	if n > 0 {
		s.out.Add(float64(n))
	}
	return n, err
}
