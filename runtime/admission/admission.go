// Package admission decides whether a new Engine.IO handshake is accepted:
// it refuses handshakes while the process drains or sheds, beyond a cap on
// concurrent sessions and beyond a handshake rate, always with HTTP 503 and a
// Retry-After header (never a hang). Gate.Allow plugs into
// engineio.Options.AllowRequest.
//
// A refusal can also expire the load balancer's sticky-session cookie: a
// client pinned to this pod by the cookie would otherwise be sent back to it
// on every retry; without the cookie its retry is balanced to another pod.
package admission

import (
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/socketfleet/socketfleet/runtime/engineio"
)

// Reasons a handshake is refused (the "reason" label of the metrics).
const (
	ReasonDraining       = "draining"
	ReasonShedding       = "shedding"
	ReasonMaxConnections = "max_connections"
	ReasonRateLimited    = "rate_limited"
)

// Options configure a Gate.
type Options struct {
	// MaxConnections caps the open sessions (0: unlimited).
	MaxConnections int
	// Sessions returns the number of open sessions (needed with
	// MaxConnections).
	Sessions func() int
	// Rate caps handshakes per second (0: unlimited).
	Rate float64
	// Burst is the token bucket size (default: one second's worth, at least 1).
	Burst int
	// Draining reports whether the process is draining.
	Draining func() bool
	// DrainRetryAfter is the Retry-After of handshakes refused while draining
	// (default 5s).
	DrainRetryAfter time.Duration
	// Shedding reports whether the process is shedding sessions (POST /shed):
	// it is above its fair share, so new handshakes go elsewhere meanwhile.
	Shedding func() bool
	// StickyCookie is the name of the load balancer's sticky-session cookie;
	// when set, every refusal expires it (Set-Cookie with Max-Age=0, Path /).
	StickyCookie string
	// OnDecision observes every decision: accepted with reason "", or refused
	// with one of the Reason* constants.
	OnDecision func(accepted bool, reason string)
	// Now defaults to time.Now.
	Now func() time.Time
}

// Gate admits or refuses handshakes.
type Gate struct {
	opts Options

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// New returns a Gate.
func New(opts Options) *Gate {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Burst <= 0 {
		opts.Burst = max(1, int(math.Ceil(opts.Rate)))
	}
	if opts.DrainRetryAfter <= 0 {
		opts.DrainRetryAfter = 5 * time.Second
	}
	if opts.OnDecision == nil {
		opts.OnDecision = func(bool, string) {}
	}
	return &Gate{opts: opts, tokens: float64(opts.Burst), last: opts.Now()}
}

// Allow is an engineio.Options.AllowRequest: nil admits the handshake, a
// *engineio.RequestError with status 503 and RetryAfter refuses it.
func (g *Gate) Allow(*http.Request) error {
	o := &g.opts
	if o.Draining != nil && o.Draining() {
		return g.refuse(ReasonDraining, "Server is draining", o.DrainRetryAfter)
	}
	if o.Shedding != nil && o.Shedding() {
		return g.refuse(ReasonShedding, "Server is shedding load", time.Second)
	}
	if o.MaxConnections > 0 && o.Sessions != nil && o.Sessions() >= o.MaxConnections {
		return g.refuse(ReasonMaxConnections, "Too many connections", time.Second)
	}
	if o.Rate > 0 {
		if wait := g.take(); wait > 0 {
			return g.refuse(ReasonRateLimited, "Too many handshakes", wait)
		}
	}
	o.OnDecision(true, "")
	return nil
}

// take removes a token, or returns how long until one is available.
func (g *Gate) take() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.opts.Now()
	if elapsed := now.Sub(g.last).Seconds(); elapsed > 0 {
		g.tokens = math.Min(float64(g.opts.Burst), g.tokens+elapsed*g.opts.Rate)
	}
	g.last = now
	if g.tokens >= 1 {
		g.tokens--
		return 0
	}
	return time.Duration((1 - g.tokens) / g.opts.Rate * float64(time.Second))
}

func (g *Gate) refuse(reason, message string, retryAfter time.Duration) error {
	g.opts.OnDecision(false, reason)
	// Retry-After is sent in whole seconds (rounded up): at least 1.
	retryAfter = max(time.Second, retryAfter)
	refusal := &engineio.RequestError{
		Status:     http.StatusServiceUnavailable,
		Code:       engineio.CodeForbidden,
		Message:    message,
		RetryAfter: retryAfter,
	}
	if g.opts.StickyCookie != "" {
		expire := &http.Cookie{Name: g.opts.StickyCookie, Value: "", Path: "/", MaxAge: -1}
		refusal.Header = http.Header{"Set-Cookie": {expire.String()}}
	}
	return refusal
}
