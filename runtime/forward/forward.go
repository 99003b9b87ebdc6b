// Package forward lets any pod of a fleet serve any Engine.IO session, so a
// load balancer needs no sticky sessions: a request whose session another pod
// owns is forwarded to that pod over its admin listener.
//
// Every session id a pod creates starts with its owner tag (Prefix): the
// address its peers reach its admin listener at (Options.Self), masked and
// authenticated with the fleet's shared secret (the admin token). Any pod
// holding the secret reads the owner's address from the sid without asking
// anyone and without a peer list; a client cannot forge a tag, so a pod never
// forwards (with its credential) to an address a client chose. The tag
// reveals nothing about the address to clients, only which sessions share a
// pod.
//
// On the public listener, Handler passes requests of its own sessions (and
// handshakes) to the local Engine.IO server and forwards the others to the
// owner with httputil.ReverseProxy: bodies stream both ways, a long-polling
// GET stays open end to end, and a WebSocket upgrade is proxied (the socket
// lives on the owner; the receiving pod copies bytes both ways). On the admin
// listener, Receiver serves forwarded requests with the local Engine.IO
// server and never forwards them again.
//
// While the pod sheds (Options.HandOver) and has peers to hand to
// (SetHandOverPeers), Handler also forwards new handshakes: a random peer's
// Receiver creates the session, whose sid names that peer, so every later
// request of the session is forwarded there like any other. The client sees
// an ordinary handshake answer: no refusal, no reconnection back-off. A
// WebSocket handshake handed over is proxied for the socket's life, like a
// forwarded upgrade.
//
// A request whose tag does not verify, or whose owner cannot be reached, is
// answered like an unknown session by the reference server (400
// {"code":1,"message":"Session ID unknown"}): the client reconnects and gets
// a new session (and recovers its state where recovery across pods is on).
// Forwarded requests are bounded per pod (MaxInFlight polling requests,
// MaxWebSockets proxied WebSockets; beyond them 503 with Retry-After) and in
// time (Timeout for the owner's answer, a fixed dial timeout).
package forward

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ReceiverPath is the admin listener's path prefix of forwarded requests: the
// original path and query follow it.
const ReceiverPath = "/forward"

// macLen is the length of a tag's authenticator.
const macLen = 9

// tagSeparator ends the tag in a session id; it is not in the base64url
// alphabet, so a session id without a tag is never mistaken for one.
const tagSeparator = "."

// dialTimeout bounds the connection to an owner.
const dialTimeout = 2 * time.Second

// clientAuthHeader carries the client's own Authorization header across the
// hop, whose Authorization is the pod-to-pod credential.
const clientAuthHeader = "X-Socketfleet-Client-Authorization"

// Options configure a Forwarder.
type Options struct {
	// Self is the IP:port this pod's peers reach its admin listener at; the
	// tags of its session ids carry it.
	Self string
	// Secrets returns the fleet's shared secrets (the admin tokens): the
	// first one signs this pod's tags and authenticates its forwarded
	// requests, any of them verifies a tag (so a secret can be rotated).
	Secrets func() ([]string, error)
	// Path is the Engine.IO path ("/socket.io/"); only requests under it
	// are forwarded or received.
	Path string
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
	// HandOver reports whether new handshakes should go to a peer
	// (SetHandOverPeers) instead of the local server: the pod is shedding.
	// Nil: never.
	HandOver func() bool
}

// MaxHandOverPeers bounds the peers SetHandOverPeers takes.
const MaxHandOverPeers = 256

// Forwarder forwards the requests of other pods' sessions to their owner.
type Forwarder struct {
	opts  Options
	self  netip.AddrPort
	log   *slog.Logger
	proxy *httputil.ReverseProxy

	mu         sync.Mutex
	prefixKey  string // the secret prefix was signed with
	prefix     string
	lastSecret error

	inFlight, webSockets atomic.Int64

	peersMu sync.Mutex
	peers   []netip.AddrPort // handshakes are handed to these while HandOver

	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration prometheus.Histogram
}

// New returns a Forwarder.
func New(opts Options) (*Forwarder, error) {
	self, err := netip.ParseAddrPort(opts.Self)
	if err != nil {
		return nil, fmt.Errorf("forward: Self %q: want IP:port (the admin listener as the peers reach it): %w", opts.Self, err)
	}
	if opts.Secrets == nil {
		return nil, errors.New("forward: Secrets (the fleet's shared secret) is required")
	}
	if secrets, err := opts.Secrets(); err != nil || len(secrets) == 0 {
		return nil, fmt.Errorf("forward: no shared secret: %w", errors.Join(err, errors.New("the admin token signs the session ids")))
	}
	if opts.Path == "" || !strings.HasPrefix(opts.Path, "/") {
		return nil, fmt.Errorf("forward: Path %q must start with /", opts.Path)
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
	f := &Forwarder{opts: opts, self: netip.AddrPortFrom(self.Addr().Unmap(), self.Port()), log: opts.Logger}
	f.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "socketfleet_forwarded_requests_total",
		Help: "Requests of sessions owned by another pod, forwarded to the owner, and handshakes handed to a peer while shedding, by kind (polling, websocket, handover) and result (ok, unknown_owner, owner_unreachable, busy, client_gone, error).",
	}, []string{"kind", "result"})
	f.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "socketfleet_forwarded_bytes_total",
		Help: "Body bytes of forwarded requests (WebSocket streams included), by direction (to_owner, from_owner).",
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

// Tag returns the owner tag of the pod reached at addr, signed with secret.
func Tag(addr netip.AddrPort, secret string) string {
	ip := addr.Addr().Unmap().AsSlice()
	plain := binary.BigEndian.AppendUint16(ip, addr.Port())
	mask := keyed(secret, "socketfleet forward mask", nil)
	out := make([]byte, 0, len(plain)+macLen)
	for i, b := range plain {
		out = append(out, b^mask[i])
	}
	out = append(out, keyed(secret, "socketfleet forward tag", plain)[:macLen]...)
	return base64.RawURLEncoding.EncodeToString(out)
}

// keyed is HMAC-SHA256(secret, label || data).
func keyed(secret, label string, data []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(label))
	m.Write(data)
	return m.Sum(nil)
}

// Owner returns the owner's address in sid's tag, verified with one of
// secrets; ok is false when sid has no tag or the tag does not verify.
func Owner(sid string, secrets []string) (owner netip.AddrPort, ok bool) {
	tag, _, found := strings.Cut(sid, tagSeparator)
	if !found || len(tag) > 48 {
		return netip.AddrPort{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(tag)
	if err != nil || (len(raw) != 4+2+macLen && len(raw) != 16+2+macLen) {
		return netip.AddrPort{}, false
	}
	n := len(raw) - macLen
	for _, secret := range secrets {
		mask := keyed(secret, "socketfleet forward mask", nil)
		plain := make([]byte, n)
		for i := range plain {
			plain[i] = raw[i] ^ mask[i]
		}
		if !hmac.Equal(raw[n:], keyed(secret, "socketfleet forward tag", plain)[:macLen]) {
			continue
		}
		ip, _ := netip.AddrFromSlice(plain[:n-2])
		return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(plain[n-2:])), true
	}
	return netip.AddrPort{}, false
}

// secrets returns the shared secrets, or the last error (logged once).
func (f *Forwarder) secrets() ([]string, error) {
	s, err := f.opts.Secrets()
	if err == nil && len(s) == 0 {
		err = errors.New("no shared secret")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil && (f.lastSecret == nil || f.lastSecret.Error() != err.Error()) {
		f.log.Warn("session forwarding: shared secret unavailable", "err", err)
	}
	f.lastSecret = err
	return s, err
}

// Prefix is the session id prefix of this pod's new sessions (for
// engineio.Options.SessionIDPrefix): its tag, signed with the current first
// secret. It is "" (sessions other pods cannot reach) while no secret can be
// read.
func (f *Forwarder) Prefix() string {
	s, err := f.secrets()
	if err != nil {
		return ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.prefixKey != s[0] || f.prefix == "" {
		f.prefixKey, f.prefix = s[0], Tag(f.self, s[0])+tagSeparator
	}
	return f.prefix
}

// Handler returns the public side: requests of sessions another pod owns
// are forwarded, every other request goes to local.
func (f *Forwarder) Handler(local http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sid := ""
		if strings.HasPrefix(r.URL.Path, f.opts.Path) {
			sid = r.URL.Query().Get("sid")
		}
		if sid == "" && strings.HasPrefix(r.URL.Path, f.opts.Path) && r.Method == http.MethodGet &&
			f.opts.HandOver != nil && f.opts.HandOver() {
			if peer, ok := f.handOverPeer(); ok {
				f.handOver(w, r, peer)
				return
			}
		}
		if !strings.Contains(sid, tagSeparator) {
			local.ServeHTTP(w, r) // a handshake, or a sid without a tag
			return
		}
		f.forward(w, r, local, sid)
	})
}

// SetHandOverPeers sets the peers (their admin listeners, as in the tags)
// that take this pod's new handshakes while Options.HandOver reports true;
// nil or empty: none, the handshakes go to the local server (which refuses
// them while shedding). This pod's own address is left out; a peer found
// unreachable is dropped until the next call. At most MaxHandOverPeers.
func (f *Forwarder) SetHandOverPeers(peers []netip.AddrPort) {
	list := make([]netip.AddrPort, 0, min(len(peers), MaxHandOverPeers))
	for _, p := range peers {
		p = netip.AddrPortFrom(p.Addr().Unmap(), p.Port())
		if p != f.self && !slices.Contains(list, p) && len(list) < MaxHandOverPeers {
			list = append(list, p)
		}
	}
	f.peersMu.Lock()
	f.peers = list
	f.peersMu.Unlock()
}

// HandOverPeers returns the peers that take handshakes while HandOver.
func (f *Forwarder) HandOverPeers() []netip.AddrPort {
	f.peersMu.Lock()
	defer f.peersMu.Unlock()
	return slices.Clone(f.peers)
}

// handOverPeer picks a random hand-over peer.
func (f *Forwarder) handOverPeer() (netip.AddrPort, bool) {
	f.peersMu.Lock()
	defer f.peersMu.Unlock()
	if len(f.peers) == 0 {
		return netip.AddrPort{}, false
	}
	return f.peers[rand.IntN(len(f.peers))], true
}

// dropHandOverPeer removes a peer that could not be reached.
func (f *Forwarder) dropHandOverPeer(peer string) {
	f.peersMu.Lock()
	defer f.peersMu.Unlock()
	f.peers = slices.DeleteFunc(f.peers, func(p netip.AddrPort) bool { return p.String() == peer })
}

// handOver forwards a handshake to peer, whose Receiver creates the session.
func (f *Forwarder) handOver(w http.ResponseWriter, r *http.Request, peer netip.AddrPort) {
	secrets, err := f.secrets()
	if err != nil {
		f.requests.WithLabelValues("handover", "error").Inc()
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, 3, "Server is shedding load")
		return
	}
	f.proxyTo(w, r, peer, secrets[0], "handover")
}

type ctxKey struct{}

// target is what the proxy's Rewrite needs to know about one request.
type target struct {
	addr, token, kind string
	result            string
}

func (f *Forwarder) forward(w http.ResponseWriter, r *http.Request, local http.Handler, sid string) {
	kind := "polling"
	if isUpgrade(r) {
		kind = "websocket"
	}
	secrets, err := f.secrets()
	if err != nil {
		f.requests.WithLabelValues(kind, "error").Inc()
		writeError(w, http.StatusServiceUnavailable, 3, "Session forwarding unavailable")
		return
	}
	owner, ok := Owner(sid, secrets)
	if !ok {
		f.requests.WithLabelValues(kind, "unknown_owner").Inc()
		unknownSession(w)
		return
	}
	if owner == f.self {
		local.ServeHTTP(w, r)
		return
	}
	f.proxyTo(w, r, owner, secrets[0], kind)
}

// proxyTo forwards r to the admin listener of the pod at to with the
// credential token, within the in-flight bounds (a WebSocket counts against
// MaxWebSockets, any other request against MaxInFlight); kind labels the
// metrics.
func (f *Forwarder) proxyTo(w http.ResponseWriter, r *http.Request, to netip.AddrPort, token, kind string) {
	limit, counter := int64(f.opts.MaxInFlight), &f.inFlight
	if isUpgrade(r) {
		limit, counter = int64(f.opts.MaxWebSockets), &f.webSockets
	}
	if counter.Add(1) > limit {
		counter.Add(-1)
		f.requests.WithLabelValues(kind, "busy").Inc()
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, 3, "Session forwarding busy")
		return
	}
	defer counter.Add(-1)
	start := time.Now()
	t := &target{addr: to.String(), token: token, kind: kind, result: "ok"}
	ctx := context.WithValue(r.Context(), ctxKey{}, t)
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &countingBody{ReadCloser: r.Body, c: f.bytes.WithLabelValues("to_owner")}
	}
	f.proxy.ServeHTTP(w, r.WithContext(ctx))
	f.requests.WithLabelValues(kind, t.result).Inc()
	if kind == "polling" {
		f.duration.Observe(time.Since(start).Seconds())
	}
	if kind == "handover" && t.result == "owner_unreachable" {
		f.dropHandOverPeer(t.addr)
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
			if t != nil && t.kind == "handover" {
				// No session yet: the client retries its handshake,
				// as after a shedding pod's refusal.
				f.log.Warn("session forwarding: hand-over peer unreachable, dropped until the next shed", "peer", t.addr, "err", err)
				w.Header().Set("Retry-After", "1")
				writeError(w, http.StatusServiceUnavailable, 3, "Server is shedding load")
				return
			}
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
