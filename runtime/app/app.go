// Package app assembles socketfleet-runtime from its configuration: the
// Socket.IO server with admission limits, the application layer (connect
// auth, room relay, event webhook, publish API), the demo page, metrics, the
// admin endpoints and the drain, on a public and an admin listener.
//
//	a, err := app.New(ctx, app.Options{Config: loaded, Logger: log, Web: demoFS})
//	...
//	err = a.Run(ctx) // ctx cancelled (SIGTERM) or POST /drain: drain, then return
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketfleet/socketfleet/runtime/admin"
	"github.com/socketfleet/socketfleet/runtime/adminui"
	"github.com/socketfleet/socketfleet/runtime/admission"
	"github.com/socketfleet/socketfleet/runtime/auth"
	"github.com/socketfleet/socketfleet/runtime/config"
	"github.com/socketfleet/socketfleet/runtime/drain"
	"github.com/socketfleet/socketfleet/runtime/engineio"
	"github.com/socketfleet/socketfleet/runtime/forward"
	"github.com/socketfleet/socketfleet/runtime/metrics"
	"github.com/socketfleet/socketfleet/runtime/parser"
	"github.com/socketfleet/socketfleet/runtime/publish"
	"github.com/socketfleet/socketfleet/runtime/relay"
	"github.com/socketfleet/socketfleet/runtime/socketio"
	"github.com/socketfleet/socketfleet/runtime/webhook"
)

// ClusterAdapter is a cluster-wide Socket.IO adapter (Redis) ready to plug
// into the server.
type ClusterAdapter struct {
	// Name describes the adapter in /stats and logs, e.g. "redis".
	Name string
	// Factory creates each namespace's adapter.
	Factory socketio.AdapterFactory
	// Ping returns nil while Redis answers. The adapter health monitor calls
	// it on an interval for /stats and /metrics; readiness does not depend
	// on it (a pod whose link is down keeps serving its own clients).
	Ping func(ctx context.Context) error
	// ObservePublishes, when set, is called once with a function that the
	// adapter must call with the outcome of every publish to Redis (nil on
	// success), so that an outage shows at the first failed broadcast
	// rather than at the next ping.
	ObservePublishes func(record func(err error))
	// DecodeErrors counts the messages from other servers dropped because
	// they could not be decoded (socketfleet_adapter_decode_errors_total);
	// nil when the adapter does not count them.
	DecodeErrors func() uint64
	// Outbox reports the broadcasts waiting for Redis to be forwarded to
	// the other servers (/stats outbox, socketfleet_adapter_outbox_*); nil
	// when the adapter keeps none.
	Outbox func() OutboxStats
	// Close releases the link after the server closed.
	Close func(ctx context.Context) error
}

// OutboxStats describe the broadcasts a process keeps while Redis is away.
type OutboxStats struct {
	// Waiting is the number of broadcasts waiting for Redis now.
	Waiting int `json:"waiting"`
	// Forwarded counts the broadcasts that waited and then reached Redis.
	Forwarded uint64 `json:"forwarded"`
	// Dropped counts the broadcasts never forwarded to the other servers:
	// the outbox was full or off, they waited too long, or the process
	// stopped before Redis came back.
	Dropped uint64 `json:"dropped"`
}

// AdapterProvider builds the cluster adapter for a Redis configuration. It is
// the seam where the Redis adapter plugs in.
type AdapterProvider func(ctx context.Context, cfg config.Redis, logger *slog.Logger) (*ClusterAdapter, error)

// Options configure New.
type Options struct {
	// Config is the loaded configuration.
	Config config.Loaded
	// Logger receives the logs (default: NewLogger(Config.Log, os.Stderr)).
	Logger *slog.Logger
	// Web holds the demo page (index.html is a template); nil disables it.
	Web fs.FS
	// Adapter builds the Redis adapter; required when Redis is configured.
	Adapter AdapterProvider
	// AdapterCheckInterval is the time between two pings of the cluster
	// adapter's link (default DefaultAdapterCheckInterval).
	AdapterCheckInterval time.Duration
}

// App is a configured runtime with its listeners open.
type App struct {
	cfg   config.Config
	info  config.Loaded
	log   *slog.Logger
	start time.Time

	srv     *socketio.Server
	metrics *metrics.Metrics
	gate    *admission.Gate
	drainer *drain.Drainer
	cluster *ClusterAdapter
	// health follows the cluster adapter's link (nil without one);
	// stopHealth ends its goroutine and healthDone is closed when it did.
	health     *AdapterMonitor
	stopHealth context.CancelFunc
	healthDone chan struct{}

	webhook     *webhook.Forwarder
	authWebhook *auth.Webhook
	// adminUI serves the official Socket.IO admin UI's namespace (nil when
	// adminUI.enabled is false).
	adminUI *adminui.UI
	// forwarder forwards the requests of other pods' sessions (nil when
	// cluster.forwarding is off).
	forwarder *forward.Forwarder

	publicLn, adminLn net.Listener
	public, admin     *http.Server
	// adminAuth says how the admin port's mutating endpoints are guarded:
	// token, loopback (no token, loopback listener), none
	// (admin.allowUnauthenticated) or refused (no token configured).
	adminAuth string

	drainOnce    sync.Once
	drainStarted chan struct{}

	accepted, refused atomic.Int64
}

// New builds the runtime and opens both listeners (so that a port conflict
// fails here). Close it, or Run it.
func New(ctx context.Context, opts Options) (_ *App, err error) {
	cfg := opts.Config.Config
	logger := opts.Logger
	if logger == nil {
		logger = NewLogger(cfg.Log, os.Stderr)
	}
	if opts.Config.PodName != "" {
		logger = logger.With("pod", opts.Config.PodName)
	}
	a := &App{cfg: cfg, info: opts.Config, log: logger, start: time.Now(), drainStarted: make(chan struct{})}
	defer func() {
		if err != nil {
			a.closeParts(context.Background())
		}
	}()

	a.metrics = metrics.New(metrics.Source{
		Clients:       func() metrics.Clients { return metrics.CountClients(a.srv) },
		Draining:      func() bool { return a.drainer.Draining() },
		DrainDeadline: func() time.Time { return a.drainer.Deadline() },
		StartTime:     a.start,
	})

	adapter := socketio.AdapterFactory(socketio.NewMemoryAdapter)
	if cfg.Redis.Enabled() {
		if opts.Adapter == nil {
			return nil, fmt.Errorf("redis.mode is %q but this build has no Redis adapter", cfg.Redis.Mode)
		}
		a.cluster, err = opts.Adapter(ctx, cfg.Redis, logger)
		if err != nil {
			return nil, fmt.Errorf("redis adapter: %w", err)
		}
		if a.cluster == nil || a.cluster.Factory == nil {
			return nil, errors.New("redis adapter: the provider returned no adapter factory")
		}
		adapter = a.cluster.Factory
		if a.cluster.DecodeErrors != nil {
			a.metrics.CountAdapterDecodeErrors(a.cluster.DecodeErrors)
		}
		if outbox := a.cluster.Outbox; outbox != nil {
			a.metrics.ObserveAdapterOutbox(func() (int, uint64, uint64) {
				o := outbox()
				return o.Waiting, o.Forwarded, o.Dropped
			})
		}
		if a.cluster.Ping != nil {
			a.startAdapterMonitor(ctx, opts.AdapterCheckInterval)
		}
	}

	a.gate = admission.New(admission.Options{
		MaxConnections: cfg.Limits.MaxConnections,
		Sessions:       func() int { return a.srv.Engine().Len() },
		Rate:           cfg.Limits.HandshakeRate,
		Burst:          cfg.Limits.HandshakeBurst,
		Draining:       func() bool { return a.drainer.Draining() },
		Shedding:       func() bool { return a.drainer.Shedding() },
		StickyCookie:   cfg.Drain.StickyCookie,
		OnDecision: func(accepted bool, reason string) {
			if accepted {
				a.accepted.Add(1)
			} else {
				a.refused.Add(1)
				logger.Debug("handshake refused", "reason", reason)
			}
			a.metrics.Handshake(accepted, reason)
		},
	})

	transports := make([]engineio.Transport, len(cfg.Transports))
	for i, t := range cfg.Transports {
		transports[i] = engineio.Transport(t)
	}
	eng := engineio.Options{
		PingInterval:   cfg.PingInterval.D(),
		PingTimeout:    cfg.PingTimeout.D(),
		UpgradeTimeout: cfg.UpgradeTimeout.D(),
		MaxBufferSize:  cfg.MaxHTTPBufferSize,
		MaxParkedConns: parkedConns(cfg.MaxParkedConnections),
		Transports:     transports,
		AllowRequest:   a.gate.Allow,
		Logger:         logger.With("component", "engineio"),
	}
	if f := cfg.Cluster.Forwarding; f.Enabled {
		if err := a.newForwarder(); err != nil {
			return nil, err
		}
		eng.SessionIDPrefix = a.forwarder.Prefix
	}
	if len(cfg.CORS.Origins) > 0 {
		eng.CORS = &engineio.CORSOptions{Origins: cfg.CORS.Origins, Credentials: cfg.CORS.Credentials}
	}
	codec, err := parser.ByName(cfg.Parser)
	if err != nil {
		return nil, fmt.Errorf("parser: %w", err)
	}
	if cfg.AdminUI.Enabled {
		if a.adminUI, err = newAdminUI(cfg, opts.Config.PodName, logger); err != nil {
			return nil, err
		}
		adapter = a.adminUI.WrapAdapter(adapter)
	}
	sopts := socketio.Options{
		Parser:                      codec,
		Path:                        cfg.Path,
		Engine:                      eng,
		ConnectTimeout:              cfg.ConnectTimeout.D(),
		Adapter:                     a.metrics.CountBroadcasts(adapter),
		CleanupEmptyChildNamespaces: true,
		Logger:                      logger.With("component", "socketio"),
	}
	if r := cfg.ConnectionStateRecovery; r.Enabled {
		sopts.Recovery = &socketio.RecoveryOptions{
			MaxDisconnectionDuration: r.MaxDisconnectionDuration.D(),
			SkipMiddlewares:          r.SkipMiddlewares,
		}
	}
	a.srv = socketio.NewServer(sopts)
	a.metrics.CountParserMismatches(a.srv.ParserMismatches)
	if a.adminUI != nil {
		a.adminUI.Start(context.WithoutCancel(ctx), a.srv)
	}

	// With session forwarding no sticky cookie sends a shed client elsewhere:
	// the shed holds handshakes off until the process is down to its target.
	var shedHold time.Duration
	if a.forwarder != nil {
		shedHold = drain.DefaultShedHold
	}
	a.drainer = drain.New(func() []drain.Session {
		sessions := a.srv.Engine().Sessions()
		out := make([]drain.Session, len(sessions))
		for i, s := range sessions {
			out[i] = s
		}
		return out
	}, drain.Options{
		Window:        cfg.Drain.Window.D(),
		RatePerSecond: cfg.Drain.RatePerSecond,
		OnClose:       a.metrics.SessionsClosed,
		Logger:        logger.With("component", "drain"),
		ShedHold:      shedHold,
		Count:         func() int { return a.srv.Engine().Len() },
	})

	if err := a.setupNamespaces(); err != nil {
		return nil, err
	}
	public, err := a.publicHandler(opts.Web)
	if err != nil {
		return nil, err
	}
	if err := a.listen(public); err != nil {
		return nil, err
	}
	return a, nil
}

// namespaceSetup is what Namespace and ParentNamespace have in common.
type namespaceSetup interface {
	Use(socketio.ConnectMiddleware)
	OnConnection(socketio.ConnectionHandler)
}

// setupNamespaces creates the configured namespaces with the connect auth
// and the application layer.
func (a *App) setupNamespaces() error {
	cfg := a.cfg
	var mws []socketio.ConnectMiddleware
	if j := cfg.Auth.JWT; j.Algorithm != "" {
		jopts := auth.JWTOptions{Algorithm: j.Algorithm, Issuer: j.Issuer, Audience: j.Audience, Leeway: j.Leeway.D(),
			OnResult: func(r string) { a.metrics.Auth.WithLabelValues("jwt", r).Inc() }}
		switch {
		case j.Secret != "":
			jopts.Secret = []byte(j.Secret)
		case j.SecretFile != "":
			s, err := readSecret("auth.jwt.secretFile", j.SecretFile)
			if err != nil {
				return err
			}
			jopts.Secret = []byte(s)
		}
		if j.PublicKeyFile != "" {
			pemData, err := os.ReadFile(j.PublicKeyFile)
			if err != nil {
				return fmt.Errorf("config: auth.jwt.publicKeyFile: %w", err)
			}
			jopts.PublicKeyPEM = pemData
		}
		verifier, err := auth.NewJWT(jopts)
		if err != nil {
			return fmt.Errorf("config: auth.jwt: %w", err)
		}
		mws = append(mws, verifier.Middleware())
	}
	if w := cfg.Auth.Webhook; w.URL != "" {
		a.authWebhook = auth.NewWebhook(auth.WebhookOptions{URL: w.URL, Timeout: w.Timeout.D(),
			OnResult: func(r string) { a.metrics.Auth.WithLabelValues("webhook", r).Inc() },
			Logger:   a.log.With("component", "auth-webhook")})
		mws = append(mws, a.authWebhook.Middleware())
	}
	var rl *relay.Relay
	if cfg.Relay.Enabled {
		rl = relay.New(relay.Options{Rooms: cfg.Relay.Rooms, Events: cfg.Relay.Events,
			OnResult: func(action, result string) { a.metrics.Relay.WithLabelValues(action, result).Inc() }})
	}
	if w := cfg.Webhook; w.URL != "" {
		token := ""
		if w.TokenFile != "" {
			var err error
			if token, err = readSecret("webhook.tokenFile", w.TokenFile); err != nil {
				return err
			}
		}
		a.webhook = webhook.New(webhook.Options{URL: w.URL, Events: w.Events, Timeout: w.Timeout.D(),
			MaxConcurrent: w.MaxConcurrent, Token: token, MaxResponseBytes: cfg.MaxHTTPBufferSize,
			OnResult: func(result string, d time.Duration) {
				a.metrics.Webhook.WithLabelValues(result).Inc()
				if result != webhook.ResultBusy {
					a.metrics.WebhookDuration.Observe(d.Seconds())
				}
			},
			Logger: a.log.With("component", "webhook")})
	}

	setup := func(ns namespaceSetup) {
		for _, mw := range mws {
			ns.Use(a.countRefusals(mw))
		}
		if a.adminUI != nil {
			a.adminUI.Observe(ns)
		}
		ns.OnConnection(func(s *socketio.Socket) {
			name := s.Namespace().Name()
			a.metrics.Connections.WithLabelValues(name).Inc()
			events := a.metrics.EventsReceived.WithLabelValues(name)
			s.OnAny(func(context.Context, *socketio.Event) { events.Inc() })
			if rl != nil {
				rl.Attach(s)
			}
			if a.webhook != nil {
				a.webhook.Attach(s)
			}
		})
	}
	mainConfigured := false
	for _, name := range cfg.Namespaces {
		if name == "/" {
			mainConfigured = true
		}
		if strings.ContainsAny(name, "*?[") {
			pattern := name
			setup(a.srv.OfFunc(func(_ context.Context, n string, _ json.RawMessage) bool {
				ok, _ := path.Match(pattern, n)
				return ok
			}))
			continue
		}
		setup(a.srv.Of(name))
	}
	if !mainConfigured {
		// The main namespace always exists; refuse it as unknown when it is
		// not configured.
		a.srv.Of("/").Use(func(context.Context, *socketio.Socket) error {
			return &socketio.ConnectError{Message: "Invalid namespace"}
		})
	}
	return nil
}

// countRefusals records refused connections in socketfleet_connect_errors_total.
func (a *App) countRefusals(mw socketio.ConnectMiddleware) socketio.ConnectMiddleware {
	return func(ctx context.Context, s *socketio.Socket) error {
		err := mw(ctx, s)
		if err != nil {
			reason := "refused"
			var ce *socketio.ConnectError
			if errors.As(err, &ce) {
				if data, ok := ce.Data.(map[string]string); ok && data["code"] != "" {
					reason = data["code"]
				}
			}
			a.metrics.ConnectErrors.WithLabelValues(s.Namespace().Name(), reason).Inc()
		}
		return err
	}
}

// newAdminUI builds the admin UI's server side from adminUI.*.
func newAdminUI(cfg config.Config, podName string, logger *slog.Logger) (*adminui.UI, error) {
	c := cfg.AdminUI
	opts := adminui.Options{
		Namespace: c.Namespace, NoAuth: !c.Auth, ReadOnly: c.ReadOnly, Events: c.Events,
		ServerID: podName, Logger: logger.With("component", "admin-ui"),
	}
	if c.Auth {
		hash, err := readSecret("adminUI.passwordHashFile", c.PasswordHashFile)
		if err != nil {
			return nil, err
		}
		opts.Username, opts.PasswordHash = c.Username, []byte(hash)
	} else {
		logger.Warn("admin UI authentication is disabled (adminUI.auth: false)")
	}
	ui, err := adminui.New(opts)
	if err != nil {
		return nil, fmt.Errorf("config: adminUI.passwordHashFile or adminUI.username: %w", err)
	}
	return ui, nil
}

// readSecret reads a secret file, trimming the trailing newline.
func readSecret(key, file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("config: %s: %w", key, err)
	}
	s := strings.TrimRight(string(data), "\r\n")
	if s == "" {
		return "", fmt.Errorf("config: %s: %s is empty", key, file)
	}
	return s, nil
}

// publicHandler routes the public port: the client bundle, Socket.IO, the
// publish API, the demo page.
func (a *App) publicHandler(web fs.FS) (http.Handler, error) {
	cfg := a.cfg
	sio := a.metrics.ObserveUpgrades(a.srv)
	bundles := map[string]http.Handler{}
	if cfg.Demo.ClientBundle != "" {
		b, err := newClientBundle(cfg.Demo.ClientBundle)
		if err != nil {
			return nil, fmt.Errorf("config: demo.clientBundle: %w", err)
		}
		bundles[cfg.Path+"socket.io.min.js"] = b
		bundles[cfg.Path+"socket.io.js"] = b
		if b.sourceMap != nil {
			bundles[cfg.Path+"socket.io.min.js.map"] = b.sourceMap
		}
	}
	var pub http.Handler
	if cfg.Publish.Enabled {
		h, err := a.publishHandler()
		if err != nil {
			return nil, err
		}
		if cfg.Publish.Listener == "public" {
			pub = h
		}
	}
	var demo http.Handler
	if cfg.Demo.Enabled {
		if web == nil {
			return nil, errors.New("config: demo.enabled: this build has no demo page")
		}
		var err error
		if demo, err = newDemo(web, cfg.Path); err != nil {
			return nil, err
		}
		// Without demo.clientBundle, the bundle built into the demo files (if any) is served: the demo then
		// needs no file outside the binary (a container image, a pod whose /tmp is a volume).
		if _, ok := bundles[cfg.Path+"socket.io.min.js"]; !ok {
			if b, err := builtinClientBundle(web); err == nil {
				bundles[cfg.Path+"socket.io.min.js"] = b
				bundles[cfg.Path+"socket.io.js"] = b
			}
		}
	}
	if a.forwarder != nil {
		sio = a.forwarder.Handler(sio)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if b, ok := bundles[p]; ok {
			b.ServeHTTP(w, r)
			return
		}
		switch {
		case pub != nil && p == publish.Path:
			pub.ServeHTTP(w, r)
		case strings.HasPrefix(p, cfg.Path):
			sio.ServeHTTP(w, r)
		case demo != nil:
			demo.ServeHTTP(w, r)
		default:
			http.Error(w, "socketfleet-runtime: Socket.IO is served at "+cfg.Path, http.StatusNotFound)
		}
	}), nil
}

func (a *App) publishHandler() (http.Handler, error) {
	p := a.cfg.Publish
	token := p.Token
	if p.TokenFile != "" {
		var err error
		if token, err = readSecret("publish.tokenFile", p.TokenFile); err != nil {
			return nil, err
		}
	}
	if token == "" && p.Listener == "public" {
		return nil, errors.New("config: publish.token: required on the public listener")
	}
	return publish.Handler(publish.Options{
		Server:       a.srv,
		Token:        token,
		MaxBodyBytes: a.cfg.MaxHTTPBufferSize,
		OnResult:     func(code int) { a.metrics.Publish.WithLabelValues(fmt.Sprint(code)).Inc() },
		OnAckTimeout: func() { a.metrics.AckTimeouts.WithLabelValues("publish").Inc() },
		Degraded:     a.degraded,
		OnPartial:    func() { a.metrics.PublishPartial.Inc() },
	}), nil
}

// listen opens both listeners and builds their servers.
func (a *App) listen(public http.Handler) error {
	cfg := a.cfg
	var extra map[string]http.Handler
	if cfg.Publish.Enabled && cfg.Publish.Listener == "admin" {
		h, err := a.publishHandler()
		if err != nil {
			return err
		}
		extra = map[string]http.Handler{publish.Path: h}
	}
	if a.forwarder != nil {
		if extra == nil {
			extra = map[string]http.Handler{}
		}
		extra[forward.ReceiverPath+"/"] = a.forwarder.Receiver(a.metrics.ObserveUpgrades(a.srv))
	}
	var tokens admin.Tokens
	if cfg.Admin.TokenFile != "" {
		ft, err := admin.NewFileTokens(cfg.Admin.TokenFile)
		if err != nil {
			return fmt.Errorf("config: admin.tokenFile: %w", err)
		}
		var lastErr string
		ft.OnReloadError = func(err error) {
			// Called under the file's lock: one line per distinct failure.
			if err.Error() != lastErr {
				lastErr = err.Error()
				a.log.Warn("admin.tokenFile changed but cannot be used: keeping the previous tokens", "err", err)
			}
		}
		tokens = ft
	}
	adminHost := cfg.Host
	if cfg.Admin.BindAddress != "" {
		adminHost = cfg.Admin.BindAddress
	}
	var err error
	if a.publicLn, err = net.Listen("tcp", net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))); err != nil {
		return fmt.Errorf("listen on public port: %w", err)
	}
	if a.adminLn, err = net.Listen("tcp", net.JoinHostPort(adminHost, fmt.Sprint(cfg.AdminPort))); err != nil {
		return fmt.Errorf("listen on admin port: %w", err)
	}
	// A loopback admin listener is reachable from this host only: without a token its mutating endpoints stay
	// open, so the binary alone (and the process tests) keep working.
	loopback := false
	if addr, ok := a.adminLn.Addr().(*net.TCPAddr); ok {
		loopback = addr.IP.IsLoopback()
	}
	allowUnauthenticated := tokens == nil && (cfg.Admin.AllowUnauthenticated || loopback)
	switch {
	case tokens != nil:
		a.adminAuth = "token"
	case allowUnauthenticated && loopback:
		a.adminAuth = "loopback"
	case allowUnauthenticated:
		a.adminAuth = "none"
		a.log.Warn("admin: POST /drain, POST /shed and the admin publish API need no token (admin.allowUnauthenticated)")
	default:
		a.adminAuth = "refused"
	}

	adminHandler := admin.Handler(admin.Options{
		Ready:                a.ready,
		Metrics:              a.metrics.Handler(),
		Stats:                func() any { return a.Stats() },
		Drain:                a.startDrain,
		Deadline:             a.drainer.Deadline,
		Draining:             a.drainer.Draining,
		Shed:                 a.shed,
		Extra:                extra,
		Tokens:               tokens,
		AllowUnauthenticated: allowUnauthenticated,
		ProtectReads:         cfg.Admin.ProtectReads,
		OnUnauthorized:       func(path string) { a.metrics.AdminUnauthorized.WithLabelValues(path).Inc() },
		Logger:               a.log.With("component", "admin"),
	})
	a.publicLn = a.metrics.CountBytes(a.publicLn, "public")
	a.adminLn = a.metrics.CountBytes(a.adminLn, "admin")
	errLog := slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)
	// No write timeout: long-polling requests wait up to pingInterval.
	a.public = &http.Server{Handler: public, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: errLog}
	// The requests of a polling session are handled in arrival order, as the
	// reference server does (outermost wrapper: the order is the socket's).
	a.publicLn = a.srv.Engine().OrderRequests(a.public, a.publicLn)
	a.admin = &http.Server{Handler: adminHandler, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, ErrorLog: errLog}
	if a.forwarder != nil {
		// Forwarded requests of a session are ordered with its direct ones
		// (and their connections parked like the public ones).
		a.adminLn = a.srv.Engine().OrderRequests(a.admin, a.adminLn)
	}
	return nil
}

// PublicAddr is the public listener's address.
func (a *App) PublicAddr() net.Addr { return a.publicLn.Addr() }

// AdminAddr is the admin listener's address.
func (a *App) AdminAddr() net.Addr { return a.adminLn.Addr() }

// Server is the Socket.IO server (for embedding programs and tests).
func (a *App) Server() *socketio.Server { return a.srv }

// ready is /readyz: it fails only while the process cannot take clients,
// i.e. while draining. A cluster adapter whose Redis link is down does not
// make the process unready: it keeps serving its own clients (degraded, as
// /stats and /metrics report), and one Redis restart must not take every
// pod out of its Service at once.
func (a *App) ready() error {
	if a.drainer.Draining() {
		return errors.New("draining")
	}
	return nil
}

// newForwarder builds the session forwarder from cluster.forwarding.
func (a *App) newForwarder() error {
	f := a.cfg.Cluster.Forwarding
	self := f.AdvertiseAddress
	if ip, err := netip.ParseAddr(self); err == nil {
		self = netip.AddrPortFrom(ip, uint16(a.cfg.AdminPort)).String() //nolint:gosec // validated port range
	}
	fw, err := forward.New(forward.Options{
		Self: self, Secrets: adminTokenReader(a.cfg.Admin.TokenFile), Path: a.cfg.Path,
		MaxInFlight: f.MaxInFlight, MaxWebSockets: f.MaxWebSockets, Timeout: f.Timeout.D(),
		Registerer: a.metrics.Registry, Logger: a.log.With("component", "forward"),
		// While shedding, new handshakes go to the peers POST /shed named.
		HandOver: func() bool { return a.drainer.Shedding() },
	})
	if err != nil {
		return fmt.Errorf("config: cluster.forwarding: %w", err)
	}
	a.forwarder = fw
	return nil
}

// adminTokenReader returns the tokens of the admin token file, re-read at
// most once a second (a rotated token reaches the forwarder without a
// restart); while the file cannot be read, the last tokens read.
func adminTokenReader(file string) func() ([]string, error) {
	var mu sync.Mutex
	var tokens []string
	var read time.Time
	return func() ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		if len(tokens) > 0 && time.Since(read) < time.Second {
			return tokens, nil
		}
		data, err := os.ReadFile(file)
		if err == nil && len(admin.ParseTokens(string(data))) == 0 {
			err = fmt.Errorf("%s holds no token", file)
		}
		if err != nil {
			if len(tokens) > 0 {
				return tokens, nil
			}
			return nil, fmt.Errorf("admin.tokenFile: %w", err)
		}
		tokens, read = admin.ParseTokens(string(data)), time.Now()
		return tokens, nil
	}
}

// startAdapterMonitor checks the cluster adapter's link once (so /stats is
// right from the start), then starts the one goroutine that pings it on an
// interval until closeParts.
func (a *App) startAdapterMonitor(ctx context.Context, interval time.Duration) {
	a.health = NewAdapterMonitor(AdapterMonitorOptions{
		Name:     a.cluster.Name,
		Ping:     a.cluster.Ping,
		Interval: interval,
		Logger:   a.log.With("component", "adapter-health"),
	})
	if a.cluster.ObservePublishes != nil {
		a.cluster.ObservePublishes(a.health.RecordPublish)
	}
	_ = a.health.Check(ctx)
	a.metrics.ReportAdapterHealth(func() metrics.AdapterHealth {
		h := a.health.Health()
		out := metrics.AdapterHealth{Name: h.Name, Up: h.Up, PublishErrors: h.PublishErrors, DownTransitions: h.DownTransitions}
		if h.LastOKAt != nil {
			out.LastOK = *h.LastOKAt
		}
		if h.LastPublishOKAt != nil {
			out.LastPublishOK = *h.LastPublishOKAt
		}
		return out
	})
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.stopHealth, a.healthDone = cancel, make(chan struct{})
	go func() {
		defer close(a.healthDone)
		a.health.Run(runCtx)
	}()
}

// degraded is the reason why a broadcast started here reaches only this
// process's clients, or "" while the cluster link is up (or there is none).
func (a *App) degraded() string {
	if a.health == nil || a.health.Up() {
		return ""
	}
	if a.cluster.Outbox != nil && a.cfg.Redis.Outbox.MaxMessages > 0 {
		return a.cluster.Name + " unavailable: delivered to this pod's clients; the other pods' get it when Redis answers again (redis.outbox)"
	}
	return a.cluster.Name + " unavailable: delivered to this pod's clients only"
}

// shed schedules n transport closes (POST /shed). With session forwarding,
// peers (the admin addresses of pods below their fair share, from the
// operator) take the handshakes that reach this process while it sheds
// (forward.Options.HandOver); without peers they are refused.
func (a *App) shed(n int, peers []netip.AddrPort) (int, error) {
	if a.forwarder == nil {
		if len(peers) > 0 {
			return 0, errors.New("to: handing handshakes over needs cluster.forwarding")
		}
		return a.drainer.Shed(n), nil
	}
	a.forwarder.SetHandOverPeers(peers)
	return a.drainer.Shed(n), nil
}

// awaitForwarded stops the public listener and waits for the forwarded
// polling requests in flight (at most cluster.forwarding.timeout): a
// forwarded long poll cut here would end its session on the owner, and the
// owner answers it within a ping interval. It does not wait for the other
// connections: this process's own sessions are closed, and
// http.Server.Shutdown alone would also wait up to 5 s for every connection
// opened without a request yet. Proxied WebSockets end with the process.
func (a *App) awaitForwarded() {
	wctx, wcancel := context.WithTimeout(context.Background(), a.cfg.Cluster.Forwarding.Timeout.D())
	stopped := make(chan error, 1)
	go func() { stopped <- a.public.Shutdown(wctx) }()
	a.waitForwardedPolling(wctx)
	wcancel()
	// Shutdown returns at once once its context is done; its error then only
	// says that connections were still open, which closeParts closes.
	if err := <-stopped; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		a.log.Warn("public listener shutdown", "err", err)
	}
}

// waitForwardedPolling returns when no forwarded polling request is in
// flight, or when ctx ends (then they are logged as cut).
func (a *App) waitForwardedPolling(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		polling, _ := a.forwarder.InFlight()
		if polling == 0 {
			return
		}
		select {
		case <-ctx.Done():
			a.log.Warn("forwarded requests cut at exit", "forwardedPolling", polling, "err", ctx.Err())
			return
		case <-tick.C:
		}
	}
}

// startDrain starts the drain once; Run notices and exits when it is done.
func (a *App) startDrain() bool {
	started := a.drainer.Start()
	a.drainOnce.Do(func() { close(a.drainStarted) })
	return started
}

// Run serves until ctx ends (SIGTERM) or POST /drain, then drains per the
// drain contract and shuts down. It returns nil after a drain, or the error
// that stopped a listener.
func (a *App) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- serve(a.public, a.publicLn, "public") }()
	go func() { errc <- serve(a.admin, a.adminLn, "admin") }()
	adapterName := "memory"
	if a.cluster != nil {
		adapterName = a.cluster.Name
	}
	a.log.Info("socketfleet-runtime listening", "public", a.publicLn.Addr().String(), "admin", a.adminLn.Addr().String(),
		"path", a.cfg.Path, "namespaces", a.cfg.Namespaces, "adapter", adapterName, "parser", a.cfg.Parser,
		"recovery", a.cfg.ConnectionStateRecovery.Enabled, "config", a.info.File,
		"relay", a.cfg.Relay.Enabled, "publish", a.cfg.Publish.Enabled, "webhook", a.cfg.Webhook.URL != "",
		"demo", a.cfg.Demo.Enabled, "adminAuth", a.adminAuth)
	if a.adminAuth == "refused" {
		a.log.Info("admin: POST /drain and POST /shed answer 403 until admin.tokenFile is set " +
			"(or admin.bindAddress is a loopback address, or admin.allowUnauthenticated is true); SIGTERM still drains")
	}
	if a.cfg.Demo.Enabled {
		port := a.publicLn.Addr().(*net.TCPAddr).Port
		a.log.Info(fmt.Sprintf("chat demo: open http://localhost:%d/ in two browser tabs", port))
	}

	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info("shutdown signal received: draining", "window", a.cfg.Drain.Window.String())
		a.startDrain()
	case <-a.drainStarted:
		a.log.Info("drain requested on the admin port", "window", a.cfg.Drain.Window.String())
	case runErr = <-errc:
		a.log.Error("listener failed", "err", runErr)
		a.startDrain()
	}
	select {
	case <-a.drainer.Done():
	case err := <-errc:
		if runErr == nil {
			runErr = err
		}
	}
	a.shutdown()
	return runErr
}

func serve(s *http.Server, ln net.Listener, name string) error {
	if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s listener: %w", name, err)
	}
	return nil
}

// shutdown closes what the drain left at the transport level, then the
// server, the listeners and the application layer.
func (a *App) shutdown() {
	left := a.srv.Engine().Sessions()
	for _, s := range left {
		s.Close()
	}
	// Give the transport closes a moment to be written.
	for deadline := time.Now().Add(time.Second); len(left) > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		left = a.srv.Engine().Sessions()
	}
	if a.forwarder != nil {
		a.awaitForwarded()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.closeParts(ctx)
	st := a.drainer.Stats()
	a.log.Info("socketfleet-runtime stopped", "closedByDrain", st.ClosedByDrain, "closedByShed", st.ClosedByShed,
		"leftAtExit", len(left))
}

// Close stops everything at once (no drain); for embedding programs and
// tests. Run must not be running.
func (a *App) Close() { a.closeParts(context.Background()) }

func (a *App) closeParts(ctx context.Context) {
	if a.drainer != nil {
		a.drainer.Stop()
	}
	if a.srv != nil {
		if err := a.srv.Close(ctx); err != nil {
			a.log.Warn("close Socket.IO server", "err", err)
		}
	}
	if a.adminUI != nil {
		a.adminUI.Close()
	}
	for _, l := range []struct {
		s    *http.Server
		name string
	}{{a.public, "public"}, {a.admin, "admin"}} {
		if l.s != nil {
			// Shutdown leaves a connection that has not sent a request for
			// less than 5 s open (only connections just accepted: the
			// Engine.IO listener closes those it gave back) until ctx ends:
			// Close ends what is left.
			start := time.Now()
			if err := l.s.Shutdown(ctx); err != nil && ctx.Err() != nil {
				a.log.Warn("listener shutdown: connections still open when the wait ended, closed",
					"listener", l.name, "waited", time.Since(start).Round(time.Millisecond).String(), "err", err)
			}
			_ = l.s.Close()
		}
	}
	for _, ln := range []net.Listener{a.publicLn, a.adminLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
	if a.webhook != nil {
		a.webhook.Close()
	}
	if a.authWebhook != nil {
		a.authWebhook.Close()
	}
	if a.stopHealth != nil {
		a.stopHealth()
		<-a.healthDone
	}
	if a.cluster != nil && a.cluster.Close != nil {
		if err := a.cluster.Close(ctx); err != nil {
			a.log.Warn("close cluster adapter", "err", err)
		}
	}
}

// parkedConns maps the maxParkedConnections key to engineio's option, where
// 0 means the default and a negative value never parks.
func parkedConns(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
