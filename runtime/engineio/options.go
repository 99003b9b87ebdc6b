package engineio

import (
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// Transport names an Engine.IO transport, as in the `transport` query
// parameter.
type Transport string

// The transports of Engine.IO protocol 4 that this server speaks.
const (
	Polling   Transport = "polling"
	WebSocket Transport = "websocket"
)

// Options configures a Server. The zero value gives the reference server's
// defaults.
type Options struct {
	// PingInterval is the time between two server pings (default 25s).
	PingInterval time.Duration
	// PingTimeout is how long the server waits for a pong (default 20s).
	PingTimeout time.Duration
	// UpgradeTimeout bounds a polling→WebSocket upgrade (default 10s).
	UpgradeTimeout time.Duration
	// MaxBufferSize is maxHttpBufferSize: the largest polling request body and
	// WebSocket message accepted, advertised to clients as maxPayload
	// (default 1e6 bytes).
	MaxBufferSize int64
	// Transports are the allowed transports (default Polling and WebSocket).
	// {WebSocket} alone is WebSocket-only mode.
	Transports []Transport
	// DisableUpgrades turns off the polling→WebSocket upgrade
	// (allowUpgrades=false).
	DisableUpgrades bool
	// Cookie, when set, makes the handshake set a cookie holding the session
	// id (for cookie-based sticky load balancing). Nil: no cookie.
	Cookie *CookieOptions
	// CORS, when set, answers cross-origin requests from the listed origins.
	// It also restricts WebSocket handshakes to those origins. Nil: no CORS
	// headers, WebSocket from any origin.
	CORS *CORSOptions
	// AllowRequest, when set, is called for every handshake (not for requests
	// of an open session). A non-nil error refuses it: a *RequestError chooses
	// the answer, any other error becomes 403 {"code":4,"message":err}.
	AllowRequest func(r *http.Request) error
	// Compression enables WebSocket permessage-deflate (off by default, as in
	// the reference server).
	Compression bool
	// MaxQueuedMessages bounds the messages waiting to be written to one
	// session (default 4096). A session whose client does not keep up is
	// closed with ReasonTransportError rather than growing without bound.
	MaxQueuedMessages int
	// SessionIDPrefix, when set, returns what is put in front of the next
	// session id this server creates, e.g. the owner tag of session
	// forwarding between pods (runtime/forward), so that any pod can tell
	// which one owns a session. It must be URL-safe (the sid travels in
	// query strings unescaped).
	SessionIDPrefix func() string
	// MaxParkedConns bounds the long-polling connections taken out of the
	// HTTP server and parked with no goroutine while they wait (a GET) or
	// sit idle between requests (default 65536; negative: never park). Past
	// it, requests are served on net/http's goroutines. Parking needs a
	// listener made by OrderRequests and Linux.
	MaxParkedConns int
	// Logger receives debug and warning logs (default: discarded).
	Logger *slog.Logger
}

// CookieOptions configures the sticky-session cookie.
type CookieOptions struct {
	// Name of the cookie (default "io").
	Name string
	// Path of the cookie (default "/").
	Path string
	// HTTPOnly sets the HttpOnly attribute.
	HTTPOnly bool
	// SameSite sets the SameSite attribute (default Lax).
	SameSite http.SameSite
	// MaxAge makes the cookie persistent; 0 means a session cookie.
	MaxAge time.Duration
}

// CORSOptions configures cross-origin resource sharing for the polling
// transport.
type CORSOptions struct {
	// Origins are the allowed origins, e.g. "https://app.example.com", or "*"
	// for any origin.
	Origins []string
	// Credentials allows cookies and credentials (Access-Control-Allow-Credentials).
	Credentials bool
	// Headers are the request headers allowed in preflights; empty reflects
	// the headers the browser asks for.
	Headers []string
	// MaxAge lets browsers cache preflight answers.
	MaxAge time.Duration
}

// withDefaults returns opts with every zero field set to its default.
func (o Options) withDefaults() Options {
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 20 * time.Second
	}
	if o.UpgradeTimeout <= 0 {
		o.UpgradeTimeout = 10 * time.Second
	}
	if o.MaxBufferSize <= 0 {
		o.MaxBufferSize = 1_000_000
	}
	if len(o.Transports) == 0 {
		o.Transports = []Transport{Polling, WebSocket}
	}
	if o.MaxQueuedMessages <= 0 {
		o.MaxQueuedMessages = 4096
	}
	if o.MaxParkedConns == 0 {
		o.MaxParkedConns = 1 << 16
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Cookie != nil {
		c := *o.Cookie
		if c.Name == "" {
			c.Name = "io"
		}
		if c.Path == "" {
			c.Path = "/"
		}
		if c.SameSite == 0 {
			c.SameSite = http.SameSiteLaxMode
		}
		o.Cookie = &c
	}
	return o
}

func (o *Options) allows(t Transport) bool { return slices.Contains(o.Transports, t) }

// upgrades lists the transports a session on transport t may upgrade to.
func (o *Options) upgrades(t Transport) []Transport {
	if t == Polling && !o.DisableUpgrades && o.allows(WebSocket) {
		return []Transport{WebSocket}
	}
	return []Transport{}
}
