// Package engineio implements the server side of the Engine.IO protocol,
// revision 4: the transport layer under Socket.IO. It speaks HTTP
// long-polling and WebSocket (github.com/gorilla/websocket), upgrades from the
// first to the second, runs the server-driven heartbeat and enforces the
// reference server's limits and error answers.
//
// A Server is an http.Handler: mount it on the Socket.IO path of any mux.
// Every new session is handed to the function given to NewServer, which
// returns the SessionHandler that receives the session's messages.
package engineio

// API CONTRACT (written before the implementation; the implementation must
// keep these exported names and signatures; it may add to them).
//
//	type Transport string
//	const Polling Transport = "polling"; WebSocket Transport = "websocket"
//
//	type Options struct {
//	    PingInterval   time.Duration   // default 25s
//	    PingTimeout    time.Duration   // default 20s
//	    UpgradeTimeout time.Duration   // default 10s
//	    MaxBufferSize  int64           // maxHttpBufferSize, default 1e6; advertised as maxPayload
//	    Transports     []Transport     // allowed transports, default {Polling, WebSocket}
//	    DisableUpgrades bool           // allowUpgrades=false
//	    Cookie         *CookieOptions  // nil: no sticky cookie (default)
//	    CORS           *CORSOptions    // nil: no CORS headers (default)
//	    AllowRequest   func(r *http.Request) error // handshakes only; see RequestError
//	    Compression    bool            // WebSocket permessage-deflate, off by default
//	    Logger         *slog.Logger
//	}
//	type CookieOptions struct { Name string /* "io" */; Path string /* "/" */; HTTPOnly bool; SameSite http.SameSite; MaxAge time.Duration }
//	type CORSOptions struct { Origins []string /* exact origins, or "*" */; Credentials bool; Headers []string; MaxAge time.Duration }
//
//	// RequestError is an HTTP refusal: AllowRequest may return one to choose the
//	// status (e.g. 503 + Retry-After while draining). Any other error from
//	// AllowRequest becomes 403 {"code":4,"message":err.Error()}.
//	type RequestError struct { Status int; Code int; Message string; RetryAfter time.Duration; Header http.Header }
//
//	func NewServer(opts Options, onSession func(*Session, *http.Request) SessionHandler) *Server // r: the handshake request
//	func (*Server) ServeHTTP(http.ResponseWriter, *http.Request)
//	func (*Server) Stats() Stats                // open sessions by transport
//	func (*Server) Sessions() []*Session        // snapshot of open sessions
//	func (*Server) Close(ctx context.Context) error // close every session ("server shutting down"), wait for goroutines
//
//	type Stats struct { Polling, WebSocket int }
//
//	// SessionHandler receives one session's events. Calls are serialized per session.
//	type SessionHandler interface {
//	    OnMessage(data []byte, binary bool) // a message packet; data may be retained
//	    OnClose(reason string)              // exactly once; reason is one of the Reason* constants
//	}
//
//	const ReasonTransportClose = "transport close"; ReasonTransportError = "transport error";
//	      ReasonPingTimeout = "ping timeout"; ReasonParseError = "parse error";
//	      ReasonForcedClose = "forced close"; ReasonServerShutdown = "server shutting down"
//
//	// Message is an immutable, pre-encoded message packet that may be sent to
//	// many sessions (a broadcast is encoded once); the WebSocket frame is built
//	// once per message (websocket.PreparedMessage), lazily.
//	type Message struct { /* unexported */ }
//	func TextMessage(data []byte) *Message
//	func BinaryMessage(data []byte) *Message
//
//	type Session struct { /* unexported */ }
//	func (*Session) ID() string
//	func (*Session) Transport() Transport
//	func (*Session) LongPolling() bool           // on long-polling (the drain closes those sessions first)
//	func (*Session) Send(msgs ...*Message) error // queued in order, atomically; ErrSessionClosed after close; bounded queue
//	func (*Session) Writable() bool              // false when a send would wait (volatile packets are dropped then)
//	func (*Session) Close()                      // flush what is queued, then close at the transport level ("forced close")
//	var ErrSessionClosed
