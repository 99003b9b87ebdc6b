// Package config is the configuration schema of socketfleet-runtime and its
// loader.
//
// One schema (Config) is read from four sources, each overriding the
// previous one: built-in defaults, an optional YAML file (--config or
// SOCKETFLEET_CONFIG), SOCKETFLEET_* environment variables, command-line
// flags. The YAML keys are the `json` tags of the schema (camelCase, the
// format the operator writes with sigs.k8s.io/yaml). Every leaf key also has
// an environment variable and a flag derived from its path:
//
//	limits.maxConnections  ->  SOCKETFLEET_LIMITS_MAX_CONNECTIONS  ->  --limits-max-connections
//
// Durations are Go duration strings ("25s", "1m30s"), sizes are integers in
// bytes, lists are YAML sequences (comma-separated in the environment and in
// flags). Decoding is strict: an unknown key, a value of the wrong type or an
// invalid value is an error that names the key, for example
//
//	config: pingInterval: invalid duration "x"
package config

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Config is the whole configuration of socketfleet-runtime. The `doc` tags
// are the reference documentation printed by --help.
type Config struct {
	// Host is the listen host of both listeners ("" = every interface).
	Host string `json:"host" doc:"listen host of both listeners (empty: every interface)"`
	// Port is the public port (Socket.IO, publish API, demo page).
	Port int `json:"port" doc:"public listen port (Socket.IO, publish API, demo page); 0 picks a free port"`
	// AdminPort is the admin port (health, metrics, stats, drain, shed).
	AdminPort int `json:"adminPort" doc:"admin listen port (/healthz /readyz /metrics /stats POST /drain POST /shed); 0 picks a free port"`
	// Path is the Engine.IO/Socket.IO request path.
	Path string `json:"path" doc:"Socket.IO request path (starts and ends with /)"`
	// Transports are the allowed transports.
	Transports []string `json:"transports" doc:"allowed transports: polling, websocket"`
	// PingInterval is the Engine.IO heartbeat interval.
	PingInterval Duration `json:"pingInterval" doc:"Engine.IO heartbeat interval"`
	// PingTimeout is the Engine.IO heartbeat timeout.
	PingTimeout Duration `json:"pingTimeout" doc:"Engine.IO heartbeat timeout"`
	// UpgradeTimeout bounds a polling to WebSocket upgrade.
	UpgradeTimeout Duration `json:"upgradeTimeout" doc:"time allowed for a polling to WebSocket upgrade"`
	// ConnectTimeout closes a session that joined no namespace in time.
	ConnectTimeout Duration `json:"connectTimeout" doc:"close an Engine.IO session that has not joined a namespace after this long"`
	// MaxHTTPBufferSize is the largest message or polling payload (bytes).
	MaxHTTPBufferSize int64 `json:"maxHttpBufferSize" doc:"largest message / polling payload in bytes (advertised as maxPayload)"`
	// MaxParkedConnections bounds the long-polling connections parked with
	// no goroutine (engineio.Options.MaxParkedConns); 0 never parks.
	MaxParkedConnections int `json:"maxParkedConnections" doc:"long-polling connections parked in the epoll poller with no goroutine and no buffer while a GET waits or between requests (Linux); beyond it requests are served on HTTP server goroutines (about 12 KiB more per waiting connection); 0: never park"`
	// Parser is the Socket.IO parser every client must use: default or
	// msgpack (socket.io-msgpack-parser).
	Parser string `json:"parser" doc:"Socket.IO parser the clients use: default or msgpack (socket.io-msgpack-parser 3.x); a client of the other parser is logged, counted in socketfleet_parser_mismatch_total and disconnected"`
	// Namespaces are the namespaces clients may connect to.
	Namespaces []string `json:"namespaces" doc:"namespaces clients may connect to; an entry with * is a pattern (path.Match syntax) creating namespaces on demand"`
	// CORS configures cross-origin requests.
	CORS CORS `json:"cors"`
	// ConnectionStateRecovery configures Socket.IO connection state recovery.
	ConnectionStateRecovery Recovery `json:"connectionStateRecovery"`
	// Limits are the admission limits of new handshakes.
	Limits Limits `json:"limits"`
	// Drain configures graceful shutdown and shedding.
	Drain Drain `json:"drain"`
	// Admin secures the admin listener.
	Admin Admin `json:"admin"`
	// Redis configures the Redis adapter; empty means the in-memory adapter.
	Redis Redis `json:"redis"`
	// Log configures logging.
	Log Log `json:"log"`
	// Relay configures the room relay.
	Relay Relay `json:"relay"`
	// Publish configures the HTTP publish API.
	Publish Publish `json:"publish"`
	// Webhook configures the event webhook.
	Webhook Webhook `json:"webhook"`
	// Auth configures connect authentication.
	Auth Auth `json:"auth"`
	// Demo configures the chat demo page.
	Demo Demo `json:"demo"`
	// AdminUI serves the official Socket.IO admin UI's namespace.
	AdminUI AdminUI `json:"adminUI"`
	// Cluster configures how the pods of a fleet cooperate.
	Cluster Cluster `json:"cluster"`
}

// Cluster configures how the pods of a fleet cooperate beyond the adapter.
type Cluster struct {
	// Forwarding lets any pod serve any session (no sticky sessions).
	Forwarding Forwarding `json:"forwarding"`
}

// Forwarding configures session forwarding between pods (runtime/forward):
// a request of a session another pod owns is forwarded to that pod over its
// admin listener, with the admin token, so the load balancer needs no
// stickiness. Every pod of a fleet must share the admin token.
type Forwarding struct {
	// Enabled turns session forwarding on.
	Enabled bool `json:"enabled" doc:"forward the requests of sessions another pod owns to that pod over its admin listener, so the load balancer needs no sticky sessions (off by default)"`
	// AdvertiseAddress is the IP (with adminPort) or IP:port the peers
	// reach this pod's admin listener at; the session ids carry it, masked
	// and signed with the admin token.
	AdvertiseAddress string `json:"advertiseAddress" doc:"IP (the port is adminPort) or IP:port of this pod's admin listener as its peers reach it, e.g. the pod IP; the session ids carry it, masked and signed with the admin token (no peer list needed); required with forwarding"`
	// MaxInFlight bounds the forwarded polling requests in flight.
	MaxInFlight int `json:"maxInFlight" doc:"forwarded polling requests in flight from this pod at most; beyond: 503 + Retry-After"`
	// MaxWebSockets bounds the WebSockets proxied to their owner.
	MaxWebSockets int `json:"maxWebSockets" doc:"WebSockets this pod proxies to the pods owning their session at most; beyond: 503 + Retry-After"`
	// Timeout bounds the owner's answer to a forwarded polling request.
	Timeout Duration `json:"timeout" doc:"time allowed for the owner's answer to a forwarded polling request; must exceed pingInterval (a long poll is held that long); a stopping pod also waits this long for its forwarded requests"`
}

// AdminUI configures the server side of the official Socket.IO admin UI
// (@socket.io/admin-ui 0.5): its namespace, its login and what it may do.
type AdminUI struct {
	// Enabled creates the admin namespace.
	Enabled bool `json:"enabled" doc:"serve the namespace of the official Socket.IO admin UI (@socket.io/admin-ui 0.5); off by default"`
	// Namespace is the admin namespace.
	Namespace string `json:"namespace" doc:"the admin UI's namespace; must not be one of namespaces"`
	// Auth requires the username and password; false accepts anyone.
	Auth bool `json:"auth" doc:"require username and password (false accepts every admin connection: only behind another guard)"`
	// Username is the login name.
	Username string `json:"username" doc:"the admin UI's username (required when auth is true)"`
	// PasswordHashFile holds the bcrypt hash of the password.
	PasswordHashFile string `json:"passwordHashFile" doc:"file holding the bcrypt hash of the admin UI's password (required when auth is true)"`
	// ReadOnly refuses the UI's operations (emit, join, leave, disconnect).
	ReadOnly bool `json:"readOnly" doc:"advertise and accept no operation (emit, join, leave, disconnect): the UI only observes"`
	// Events forwards every client event to the UI (its Events page).
	Events bool `json:"events" doc:"forward every event received from and sent to the sockets to the admin UI (one admin broadcast per event, across pods)"`
}

// CORS configures cross-origin resource sharing of the polling transport
// (and the allowed origins of WebSocket handshakes).
type CORS struct {
	// Origins are the allowed Origin values; "*" allows any.
	Origins []string `json:"origins" doc:"allowed Origin values; * allows any origin; empty: no CORS headers"`
	// Credentials sends Access-Control-Allow-Credentials: true.
	Credentials bool `json:"credentials" doc:"send Access-Control-Allow-Credentials: true (needs explicit origins)"`
}

// Recovery configures connection state recovery.
type Recovery struct {
	// Enabled turns connection state recovery on.
	Enabled bool `json:"enabled" doc:"restore id, rooms and missed packets after a reconnect, on any server with redis.adapter streams; refused with the classic and sharded redis adapters, which cannot recover sessions across servers"`
	// MaxDisconnectionDuration is how long a disconnected session is kept.
	MaxDisconnectionDuration Duration `json:"maxDisconnectionDuration" doc:"how long the state of a disconnected session is kept"`
	// SkipMiddlewares skips connect middlewares (auth) on recovery.
	SkipMiddlewares bool `json:"skipMiddlewares" doc:"skip connect middlewares (auth) when a session is recovered"`
}

// Limits bound the admission of new Engine.IO sessions. A refused handshake
// gets HTTP 503 with Retry-After.
type Limits struct {
	// MaxConnections caps concurrent Engine.IO sessions (0 = unlimited).
	MaxConnections int `json:"maxConnections" doc:"cap on concurrent Engine.IO sessions of this process (0: unlimited)"`
	// HandshakeRate caps new handshakes per second (0 = unlimited).
	HandshakeRate float64 `json:"handshakeRate" doc:"cap on new handshakes per second (0: unlimited)"`
	// HandshakeBurst is the token bucket size of HandshakeRate.
	HandshakeBurst int `json:"handshakeBurst" doc:"handshakes allowed in a burst above handshakeRate (0: one second's worth)"`
}

// Drain configures the graceful drain (SIGTERM, POST /drain) and shedding
// (POST /shed).
type Drain struct {
	// Window is the time over which sessions are closed before exiting.
	Window Duration `json:"window" doc:"on SIGTERM or POST /drain, close every session in jittered batches over this window, then exit"`
	// RatePerSecond bounds the transport closes per second (0 = derived).
	RatePerSecond int `json:"ratePerSecond" doc:"upper bound on transport closes per second for drain and shed (0: sessions / window for drain, 100/s for shed)"`
	// StickyCookie is the load balancer's sticky-session cookie name.
	StickyCookie string `json:"stickyCookie" doc:"name of the load balancer's sticky-session cookie: handshakes refused while draining, shedding or over a limit expire it, so the client's retry is balanced to another pod"`
}

// Admin secures the admin listener (see runtime/admin): a bearer token for
// the endpoints that act on the process, optionally for the reads too.
type Admin struct {
	// TokenFile holds the accepted bearer tokens, one per line; re-read when
	// it changes.
	TokenFile string `json:"tokenFile" doc:"file holding the admin bearer token (one per line: any line is accepted, so a token can be rotated without a restart; re-read when the file changes); required by POST /drain, POST /shed and the publish API on the admin listener"`
	// BindAddress is the admin listener's host.
	BindAddress string `json:"bindAddress" doc:"listen host of the admin listener (empty: host); bound to loopback, the mutating endpoints need no token when tokenFile is empty"`
	// ProtectReads requires the token on /metrics and /stats too.
	ProtectReads bool `json:"protectReads" doc:"require the token on GET /metrics and GET /stats too (/healthz and /readyz always stay open); needs tokenFile"`
	// AllowUnauthenticated serves the mutating endpoints without a token.
	AllowUnauthenticated bool `json:"allowUnauthenticated" doc:"serve POST /drain, POST /shed and the admin publish API without a token on a non-loopback admin listener (not with tokenFile); otherwise they answer 403 until tokenFile is set"`
}

// Redis configures the Redis adapter (the operator's contract).
type Redis struct {
	// Mode is standalone, sentinel or cluster; empty means no Redis.
	Mode string `json:"mode" doc:"standalone, sentinel or cluster; empty (and no url): in-memory adapter"`
	// URL is the standalone server URL (redis:// or rediss://).
	URL string `json:"url" doc:"standalone server URL redis://host:port/db or rediss://; implies mode standalone"`
	// Addresses are the seed host:port addresses.
	Addresses []string `json:"addresses" doc:"seed host:port addresses (server, Sentinels or cluster nodes)"`
	// SentinelMaster is the master name (sentinel mode).
	SentinelMaster string `json:"sentinelMaster" doc:"sentinel mode: master name"`
	// Database is the DB index.
	Database int `json:"database" doc:"database index (0 in cluster mode)"`
	// Username is the ACL user.
	Username string `json:"username" doc:"ACL user (empty: default user)"`
	// PasswordFile holds the password (trailing newline trimmed).
	PasswordFile string `json:"passwordFile" doc:"file holding the password (trailing newline trimmed); empty: no AUTH"`
	// KeyPrefix is the channel prefix (@socket.io/redis-adapter's key).
	KeyPrefix string `json:"keyPrefix" doc:"channel prefix, like the key option of @socket.io/redis-adapter"`
	// Adapter is the wire protocol: classic, sharded or streams.
	Adapter string `json:"adapter" doc:"classic (PUBLISH/PSUBSCRIBE, @socket.io/redis-adapter createAdapter), sharded (SPUBLISH/SSUBSCRIBE, Redis >= 7, createShardedAdapter; not with mode cluster) or streams (Redis Streams + Pub/Sub, @socket.io/redis-streams-adapter 0.3; supports connectionStateRecovery across servers); every server of a cluster must use the same"`
	// Streams configures the streams adapter.
	Streams RedisStreams `json:"streams"`
	// Outbox bounds the broadcasts kept while Redis is away.
	Outbox RedisOutbox `json:"outbox"`
	// TLS configures TLS to Redis.
	TLS RedisTLS `json:"tls"`
}

// RedisStreams configures the streams adapter (redis.adapter: streams); the
// keys and defaults are those of @socket.io/redis-streams-adapter, and
// redis.keyPrefix is its channelPrefix.
type RedisStreams struct {
	// StreamName is the Redis stream.
	StreamName string `json:"streamName" doc:"streams adapter: the Redis stream (streamName)"`
	// StreamCount spreads namespaces over streams.
	StreamCount int `json:"streamCount" doc:"streams adapter: number of streams the namespaces are spread over (streamCount); keep 1 with Node servers, whose naming loses some namespaces with more"`
	// MaxLen trims the stream (MAXLEN ~).
	MaxLen int `json:"maxLen" doc:"streams adapter: approximate stream length kept (XADD MAXLEN ~); a client recovers only while its offset is in the stream"`
	// ReadCount is the COUNT of each XREAD.
	ReadCount int `json:"readCount" doc:"streams adapter: entries per XREAD (COUNT)"`
	// BlockTime is the BLOCK of each XREAD.
	BlockTime Duration `json:"blockTime" doc:"streams adapter: how long one XREAD blocks (blockTimeInMs)"`
	// SessionKeyPrefix prefixes the keys of persisted sessions.
	SessionKeyPrefix string `json:"sessionKeyPrefix" doc:"streams adapter: key prefix of the sessions kept for connection state recovery"`
	// UseShardedPubSub sends requests and responses with SPUBLISH.
	UseShardedPubSub bool `json:"useShardedPubSub" doc:"streams adapter: requests and responses over sharded Pub/Sub (Redis >= 7; not with mode cluster)"`
	// OnlyPlaintext writes binary as JSON.
	OnlyPlaintext bool `json:"onlyPlaintext" doc:"streams adapter: write stream data as JSON even with binary, which then arrives as Node's Buffer JSON"`
}

// RedisOutbox bounds the broadcasts a process keeps, in order, while Redis
// is away, to forward them to the other processes when it answers again.
type RedisOutbox struct {
	// MaxMessages is how many broadcasts wait at most; 0 disables.
	MaxMessages int `json:"maxMessages" doc:"broadcasts kept in order while Redis is away and forwarded to the other processes when it answers again (their clients get them late, not never); beyond it they are dropped and counted; 0 disables"`
	// MaxAge is how long a broadcast may wait.
	MaxAge Duration `json:"maxAge" doc:"how long a broadcast may wait for Redis; older ones are dropped and counted rather than delivered that late"`
}

// Enabled reports whether a Redis adapter is configured.
func (r Redis) Enabled() bool { return r.Mode != "" || r.URL != "" }

// RedisTLS configures TLS connections to Redis.
type RedisTLS struct {
	// Enabled turns TLS on (implied by a rediss:// URL).
	Enabled bool `json:"enabled" doc:"connect with TLS (implied by rediss://)"`
	// CAFile is a PEM CA bundle.
	CAFile string `json:"caFile" doc:"PEM CA bundle (empty: system roots)"`
	// ServerName overrides SNI and verification.
	ServerName string `json:"serverName" doc:"SNI / verification name override"`
	// InsecureSkipVerify skips certificate verification.
	InsecureSkipVerify bool `json:"insecureSkipVerify" doc:"skip certificate verification (testing only)"`
}

// Log configures the structured logs (log/slog on stderr).
type Log struct {
	// Format is json, text or auto.
	Format string `json:"format" doc:"json, text, or auto (text on a terminal, json otherwise)"`
	// Level is debug, info, warn or error.
	Level string `json:"level" doc:"debug, info, warn or error"`
}

// Relay configures the room relay: clients join rooms whose names match
// Rooms and emit to the rooms they are in.
type Relay struct {
	// Enabled turns the relay on.
	Enabled bool `json:"enabled" doc:"let clients join rooms (relay:join / relay:leave) and emit to rooms they are in (relay:emit)"`
	// Rooms are the room name patterns clients may join.
	Rooms []string `json:"rooms" doc:"room name patterns clients may join (path.Match syntax: * ? [a-z])"`
	// Events are the event name patterns clients may relay (empty = any).
	Events []string `json:"events" doc:"event name patterns clients may relay (empty: any)"`
}

// Publish configures the HTTP publish API (POST /v1/emit).
type Publish struct {
	// Enabled turns the publish API on.
	Enabled bool `json:"enabled" doc:"serve POST /v1/emit"`
	// Listener is public or admin.
	Listener string `json:"listener" doc:"where POST /v1/emit is served: public (token required) or admin"`
	// Token is the bearer token.
	Token string `json:"token" doc:"bearer token required by POST /v1/emit (prefer tokenFile or SOCKETFLEET_PUBLISH_TOKEN)"`
	// TokenFile holds the bearer token.
	TokenFile string `json:"tokenFile" doc:"file holding the bearer token (trailing newline trimmed)"`
}

// Webhook configures the event webhook: matching client events are POSTed
// to URL and the response body becomes the acknowledgement.
type Webhook struct {
	// URL receives the events.
	URL string `json:"url" doc:"http(s) URL receiving client events as JSON POSTs; empty: off"`
	// Events are the event name patterns forwarded.
	Events []string `json:"events" doc:"event name patterns forwarded to the webhook (path.Match syntax)"`
	// Timeout bounds one webhook call.
	Timeout Duration `json:"timeout" doc:"time allowed for one webhook call; past it the client gets an error ack"`
	// MaxConcurrent bounds concurrent webhook calls.
	MaxConcurrent int `json:"maxConcurrent" doc:"concurrent webhook calls; beyond it events get an error ack at once"`
	// TokenFile holds a bearer token sent to the webhook.
	TokenFile string `json:"tokenFile" doc:"file holding a bearer token sent in the Authorization header of webhook calls"`
}

// Auth configures connect authentication, applied to every namespace.
type Auth struct {
	// JWT verifies a JWT from the handshake auth.token.
	JWT JWT `json:"jwt"`
	// Webhook asks a backend to accept or refuse each connection.
	Webhook AuthWebhook `json:"webhook"`
}

// JWT configures JWT verification of the CONNECT auth.token.
type JWT struct {
	// Algorithm is HS256, RS256 or ES256; empty means off.
	Algorithm string `json:"algorithm" doc:"HS256, RS256 or ES256; empty: no JWT check"`
	// Secret is the HS256 secret.
	Secret string `json:"secret" doc:"HS256 secret (prefer secretFile or SOCKETFLEET_AUTH_JWT_SECRET)"`
	// SecretFile holds the HS256 secret.
	SecretFile string `json:"secretFile" doc:"file holding the HS256 secret (trailing newline trimmed)"`
	// PublicKeyFile is the PEM public key (RS256, ES256).
	PublicKeyFile string `json:"publicKeyFile" doc:"PEM public key for RS256 / ES256"`
	// Issuer, when set, must equal the iss claim.
	Issuer string `json:"issuer" doc:"required iss claim (empty: not checked)"`
	// Audience, when set, must be in the aud claim.
	Audience string `json:"audience" doc:"required aud claim (empty: not checked)"`
	// Leeway tolerates clock skew on exp/nbf/iat.
	Leeway Duration `json:"leeway" doc:"clock skew tolerated on exp, nbf and iat"`
}

// AuthWebhook configures the connect auth webhook.
type AuthWebhook struct {
	// URL receives one POST per connection attempt.
	URL string `json:"url" doc:"http(s) URL asked to accept each connection (2xx accepts); empty: off"`
	// Timeout bounds one call.
	Timeout Duration `json:"timeout" doc:"time allowed for one auth webhook call"`
}

// Demo configures the chat demo page served at / on the public port.
type Demo struct {
	// Enabled serves the demo page and turns the relay on (rooms "*").
	Enabled bool `json:"enabled" doc:"serve the chat demo at / (turns the relay on with rooms * unless relay is configured)"`
	// ClientBundle is the socket.io-client browser bundle served at
	// {path}socket.io.min.js and {path}socket.io.js.
	ClientBundle string `json:"clientBundle" doc:"path of socket.io-client's dist/socket.io.min.js, served at {path}socket.io.min.js like Node's serveClient (empty: the copy built into socketfleet-runtime)"`
}

// Default returns the built-in defaults: the main namespace on :3000, admin
// on :8081, the reference server's Engine.IO settings, in-memory adapter.
func Default() Config {
	return Config{
		Port:                 3000,
		AdminPort:            8081,
		Path:                 "/socket.io/",
		Transports:           []string{"polling", "websocket"},
		PingInterval:         Duration(25 * time.Second),
		PingTimeout:          Duration(20 * time.Second),
		UpgradeTimeout:       Duration(10 * time.Second),
		ConnectTimeout:       Duration(45 * time.Second),
		MaxHTTPBufferSize:    1_000_000,
		MaxParkedConnections: 1 << 16,
		Parser:               "default",
		Namespaces:           []string{"/"},
		ConnectionStateRecovery: Recovery{
			MaxDisconnectionDuration: Duration(2 * time.Minute),
			SkipMiddlewares:          true,
		},
		Drain: Drain{Window: Duration(30 * time.Second)},
		Redis: Redis{KeyPrefix: "socket.io", Adapter: "classic", Streams: RedisStreams{
			StreamName: "socket.io", StreamCount: 1, MaxLen: 10000, ReadCount: 100,
			BlockTime: Duration(5 * time.Second), SessionKeyPrefix: "sio:session:"},
			Outbox: RedisOutbox{MaxMessages: 10000, MaxAge: Duration(30 * time.Second)}},
		Log:     Log{Format: "auto", Level: "info"},
		Publish: Publish{Listener: "public"},
		Webhook: Webhook{Timeout: Duration(5 * time.Second), MaxConcurrent: 256},
		Auth:    Auth{Webhook: AuthWebhook{Timeout: Duration(5 * time.Second)}},
		AdminUI: AdminUI{Namespace: "/admin", Auth: true},
		Cluster: Cluster{Forwarding: Forwarding{MaxInFlight: 1000, MaxWebSockets: 10000, Timeout: Duration(60 * time.Second)}},
	}
}

// Duration is a time.Duration written as a Go duration string ("25s") in
// YAML, JSON, environment variables and flags.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string. A bare number is refused: "30"
// could mean seconds or nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("invalid duration %s (want a string such as \"25s\")", b)
	}
	return d.parse(s)
}

func (d *Duration) parse(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %s", strconv.Quote(s))
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %s: negative", strconv.Quote(s))
	}
	*d = Duration(v)
	return nil
}
