package config

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
)

// normalize fills values implied by others.
func (c *Config) normalize() {
	c.Path = strings.TrimSpace(c.Path)
	if c.Path != "" && !strings.HasSuffix(c.Path, "/") {
		c.Path += "/"
	}
	if c.Redis.URL != "" && c.Redis.Mode == "" {
		c.Redis.Mode = "standalone"
	}
	if strings.HasPrefix(c.Redis.URL, "rediss://") {
		c.Redis.TLS.Enabled = true
	}
	if c.Demo.Enabled && !c.Relay.Enabled {
		c.Relay.Enabled = true
		if len(c.Relay.Rooms) == 0 {
			c.Relay.Rooms = []string{"*"}
		}
	}
}

// Validate checks every key and returns all problems, one per line, each
// naming its key ("config: limits.maxConnections: must not be negative").
func (c *Config) Validate() error {
	v := &validator{}
	v.port("port", c.Port)
	v.port("adminPort", c.AdminPort)
	if c.Port != 0 && c.Port == c.AdminPort {
		v.add("adminPort", "must differ from port (%d)", c.Port)
	}
	if !strings.HasPrefix(c.Path, "/") {
		v.add("path", "must start with / (got %q)", c.Path)
	}
	if len(c.Transports) == 0 {
		v.add("transports", "must list at least one of polling, websocket")
	}
	for _, t := range c.Transports {
		if t != "polling" && t != "websocket" {
			v.add("transports", "unknown transport %q (want polling or websocket)", t)
		}
	}
	v.positive("pingInterval", c.PingInterval)
	v.positive("pingTimeout", c.PingTimeout)
	v.positive("upgradeTimeout", c.UpgradeTimeout)
	if c.MaxParkedConnections < 0 {
		v.add("maxParkedConnections", "must not be negative (got %d; 0 never parks)", c.MaxParkedConnections)
	}
	if c.MaxHTTPBufferSize <= 0 {
		v.add("maxHttpBufferSize", "must be positive (got %d)", c.MaxHTTPBufferSize)
	}
	if c.Parser != "default" && c.Parser != "msgpack" {
		v.add("parser", "unknown parser %q (want default or msgpack)", c.Parser)
	}
	if len(c.Namespaces) == 0 {
		v.add("namespaces", "must list at least one namespace")
	}
	for _, n := range c.Namespaces {
		if !strings.HasPrefix(n, "/") {
			v.add("namespaces", "%q must start with /", n)
		}
		v.pattern("namespaces", n)
	}
	for _, o := range c.CORS.Origins {
		if o == "*" {
			if c.CORS.Credentials {
				v.add("cors.credentials", "cannot be true with origin * (list the origins)")
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			v.add("cors.origins", "%q is not an origin such as https://app.example.com", o)
		}
	}
	c.validateRecovery(v)
	if c.Limits.MaxConnections < 0 {
		v.add("limits.maxConnections", "must not be negative (got %d)", c.Limits.MaxConnections)
	}
	if c.Limits.HandshakeRate < 0 {
		v.add("limits.handshakeRate", "must not be negative (got %g)", c.Limits.HandshakeRate)
	}
	if c.Limits.HandshakeBurst < 0 {
		v.add("limits.handshakeBurst", "must not be negative (got %d)", c.Limits.HandshakeBurst)
	}
	v.positive("drain.window", c.Drain.Window)
	if c.Drain.RatePerSecond < 0 {
		v.add("drain.ratePerSecond", "must not be negative (got %d)", c.Drain.RatePerSecond)
	}
	if n := c.Drain.StickyCookie; n != "" {
		if err := (&http.Cookie{Name: n, Value: "x"}).Valid(); err != nil {
			v.add("drain.stickyCookie", "%q is not a valid cookie name", n)
		}
	}
	c.validateAdmin(v)
	c.validateRedis(v)
	if !slices.Contains([]string{"auto", "json", "text"}, c.Log.Format) {
		v.add("log.format", "unknown format %q (want auto, json or text)", c.Log.Format)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		v.add("log.level", "unknown level %q (want debug, info, warn or error)", c.Log.Level)
	}
	if c.Relay.Enabled && len(c.Relay.Rooms) == 0 {
		v.add("relay.rooms", "must list at least one room pattern when the relay is enabled")
	}
	for _, p := range c.Relay.Rooms {
		v.pattern("relay.rooms", p)
	}
	for _, p := range c.Relay.Events {
		v.pattern("relay.events", p)
	}
	if c.Publish.Listener != "public" && c.Publish.Listener != "admin" {
		v.add("publish.listener", "unknown listener %q (want public or admin)", c.Publish.Listener)
	}
	if c.Publish.Token != "" && c.Publish.TokenFile != "" {
		v.add("publish.token", "set either token or tokenFile, not both")
	}
	if c.Publish.Enabled && c.Publish.Listener == "public" && c.Publish.Token == "" && c.Publish.TokenFile == "" {
		v.add("publish.token", "required when the publish API is on the public listener (or set publish.listener: admin)")
	}
	if c.Webhook.URL != "" {
		v.httpURL("webhook.url", c.Webhook.URL)
		if len(c.Webhook.Events) == 0 {
			v.add("webhook.events", "must list at least one event pattern when webhook.url is set")
		}
		v.positive("webhook.timeout", c.Webhook.Timeout)
		if c.Webhook.MaxConcurrent <= 0 {
			v.add("webhook.maxConcurrent", "must be positive (got %d)", c.Webhook.MaxConcurrent)
		}
	}
	for _, p := range c.Webhook.Events {
		v.pattern("webhook.events", p)
	}
	c.validateJWT(v)
	c.validateAdminUI(v)
	c.validateForwarding(v)
	if c.Auth.Webhook.URL != "" {
		v.httpURL("auth.webhook.url", c.Auth.Webhook.URL)
		v.positive("auth.webhook.timeout", c.Auth.Webhook.Timeout)
	}
	return v.err()
}

// validateAdminUI checks the admin UI's namespace and credentials.
func (c *Config) validateAdminUI(v *validator) {
	a := c.AdminUI
	if !a.Enabled {
		return
	}
	if !strings.HasPrefix(a.Namespace, "/") {
		v.add("adminUI.namespace", "%q must start with /", a.Namespace)
	}
	for _, n := range c.Namespaces {
		if ok, _ := path.Match(n, a.Namespace); ok || n == a.Namespace {
			v.add("adminUI.namespace", "%q is also an application namespace (namespaces: %q)", a.Namespace, n)
		}
	}
	if a.Auth {
		if a.Username == "" {
			v.add("adminUI.username", "required when the admin UI is enabled (or set adminUI.auth: false explicitly)")
		}
		if a.PasswordHashFile == "" {
			v.add("adminUI.passwordHashFile", "required when the admin UI is enabled (or set adminUI.auth: false explicitly)")
		}
	}
}

// validateForwarding checks cluster.forwarding.
func (c *Config) validateForwarding(v *validator) {
	f := c.Cluster.Forwarding
	if !f.Enabled {
		return
	}
	if f.AdvertiseAddress == "" {
		v.add("cluster.forwarding.advertiseAddress", "required when cluster.forwarding.enabled is true (e.g. $(POD_IP):%d)", c.AdminPort)
	} else if _, err := netip.ParseAddr(f.AdvertiseAddress); err == nil {
		if c.AdminPort == 0 {
			v.add("cluster.forwarding.advertiseAddress", "%q has no port and adminPort is 0 (a free port the peers cannot know): give IP:port", f.AdvertiseAddress)
		}
	} else if ap, err := netip.ParseAddrPort(f.AdvertiseAddress); err != nil || ap.Port() == 0 {
		v.add("cluster.forwarding.advertiseAddress", "%q is not an IP or IP:port (the admin listener's address as the peers reach it)", f.AdvertiseAddress)
	}
	if f.MaxInFlight <= 0 {
		v.add("cluster.forwarding.maxInFlight", "must be positive (got %d)", f.MaxInFlight)
	}
	if f.MaxWebSockets <= 0 {
		v.add("cluster.forwarding.maxWebSockets", "must be positive (got %d)", f.MaxWebSockets)
	}
	if f.Timeout <= c.PingInterval {
		v.add("cluster.forwarding.timeout", "must exceed pingInterval (%s): a forwarded long poll is held that long (got %s)", c.PingInterval, f.Timeout)
	}
	if c.Admin.TokenFile == "" {
		v.add("cluster.forwarding.enabled", "needs admin.tokenFile: the admin token, shared by the pods, signs the owner in each session id and authenticates the forwarded requests")
	}
}

// validateAdmin checks the admin listener's security keys.
func (c *Config) validateAdmin(v *validator) {
	a := c.Admin
	if h := a.BindAddress; h != "" && net.ParseIP(h) == nil {
		if _, _, err := net.SplitHostPort(h); err == nil || strings.ContainsAny(h, ":/ ") {
			v.add("admin.bindAddress", "%q is not a host (an IP address or a name, without a port: adminPort sets the port)", h)
		}
	}
	if a.TokenFile != "" && a.AllowUnauthenticated {
		v.add("admin.allowUnauthenticated", "cannot be true with admin.tokenFile (the token would not be required)")
	}
	if a.ProtectReads && a.TokenFile == "" {
		v.add("admin.protectReads", "needs admin.tokenFile (the token that protects the reads)")
	}
	if a.TokenFile != "" && c.Publish.Enabled && c.Publish.Listener == "admin" && (c.Publish.Token != "" || c.Publish.TokenFile != "") {
		v.add("publish.token", "not used with publish.listener: admin when admin.tokenFile is set: the admin token guards the publish API there")
	}
}

func (c *Config) validateRedis(v *validator) {
	r := c.Redis
	switch r.Mode {
	case "":
		return
	case "standalone":
		if r.URL == "" && len(r.Addresses) == 0 {
			v.add("redis.url", "standalone mode needs redis.url or redis.addresses")
		}
	case "sentinel":
		if r.SentinelMaster == "" {
			v.add("redis.sentinelMaster", "required in sentinel mode")
		}
		if len(r.Addresses) == 0 {
			v.add("redis.addresses", "sentinel mode needs the Sentinel addresses")
		}
	case "cluster":
		if len(r.Addresses) == 0 {
			v.add("redis.addresses", "cluster mode needs seed addresses")
		}
		if r.Database != 0 {
			v.add("redis.database", "must be 0 in cluster mode (got %d)", r.Database)
		}
	default:
		v.add("redis.mode", "unknown mode %q (want standalone, sentinel or cluster)", r.Mode)
	}
	if r.URL != "" {
		u, err := url.Parse(r.URL)
		switch {
		case err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "":
			v.add("redis.url", "%q is not a redis:// or rediss:// URL", r.URL)
		case u.User != nil:
			if _, hasPassword := u.User.Password(); hasPassword {
				v.add("redis.url", "must not contain a password (use redis.passwordFile)")
			}
		}
	}
	switch {
	case !knownRedisAdapter(r.Adapter):
		v.add("redis.adapter", "unknown adapter %q (want classic, sharded or streams)", r.Adapter)
	case r.Adapter == "sharded" && r.Mode == "cluster":
		v.add("redis.adapter", "sharded is not supported with mode cluster (one subscriber connection cannot follow every shard)")
	case r.Adapter == "streams":
		c.validateStreams(v)
	}
	if r.Database < 0 {
		v.add("redis.database", "must not be negative (got %d)", r.Database)
	}
	if r.Outbox.MaxMessages < 0 {
		v.add("redis.outbox.maxMessages", "must not be negative (got %d; 0 disables the outbox)", r.Outbox.MaxMessages)
	}
	v.positive("redis.outbox.maxAge", r.Outbox.MaxAge)
	for _, a := range r.Addresses {
		if host, port, ok := strings.Cut(a, ":"); !ok || host == "" || port == "" {
			v.add("redis.addresses", "%q is not host:port", a)
		}
	}
}

// validateStreams checks the streams adapter's options.
func (c *Config) validateStreams(v *validator) {
	s := c.Redis.Streams
	if s.StreamName == "" {
		v.add("redis.streams.streamName", "must not be empty")
	}
	if s.SessionKeyPrefix == "" {
		v.add("redis.streams.sessionKeyPrefix", "must not be empty")
	}
	for _, f := range []struct {
		key string
		n   int
	}{{"streamCount", s.StreamCount}, {"maxLen", s.MaxLen}, {"readCount", s.ReadCount}} {
		if f.n <= 0 {
			v.add("redis.streams."+f.key, "must be positive (got %d)", f.n)
		}
	}
	v.positive("redis.streams.blockTime", s.BlockTime)
	if s.UseShardedPubSub && c.Redis.Mode == "cluster" {
		v.add("redis.streams.useShardedPubSub", "not supported with mode cluster (one subscriber connection cannot follow every shard)")
	}
}

// validateRecovery refuses connection state recovery where it cannot work.
// A session is recovered from the state the server kept when the client
// went away; with a Redis adapter the client's reconnect may land on any
// server. Neither classic nor sharded (Pub/Sub only, like Node's
// @socket.io/redis-adapter) shares that state, so the runtime builds them
// without recovery: accepting the key would silently give every client
// recovered: false. streams (like Node's @socket.io/redis-streams-adapter)
// keeps sessions and packets in Redis and recovers on any server.
func (c *Config) validateRecovery(v *validator) {
	r := c.ConnectionStateRecovery
	if !r.Enabled {
		return
	}
	v.positive("connectionStateRecovery.maxDisconnectionDuration", r.MaxDisconnectionDuration)
	// An unknown adapter has its own redis.adapter error.
	if c.Redis.Enabled() && knownRedisAdapter(c.Redis.Adapter) && c.Redis.Adapter != "streams" {
		v.add("connectionStateRecovery.enabled",
			"redis.adapter %q cannot recover sessions across servers (a reconnecting client would get recovered: false); "+
				"use redis.adapter: streams or set connectionStateRecovery.enabled: false",
			c.Redis.Adapter)
	}
}

// knownRedisAdapter reports whether adapter is an accepted redis.adapter
// value; an unknown one has its own error.
func knownRedisAdapter(adapter string) bool {
	return adapter == "classic" || adapter == "sharded" || adapter == "streams"
}

func (c *Config) validateJWT(v *validator) {
	j := c.Auth.JWT
	switch j.Algorithm {
	case "":
		if j.Secret != "" || j.SecretFile != "" || j.PublicKeyFile != "" {
			v.add("auth.jwt.algorithm", "required when a JWT key is set (HS256, RS256 or ES256)")
		}
	case "HS256":
		if (j.Secret == "") == (j.SecretFile == "") {
			v.add("auth.jwt.secret", "HS256 needs exactly one of secret or secretFile")
		}
		if j.PublicKeyFile != "" {
			v.add("auth.jwt.publicKeyFile", "not used with HS256")
		}
	case "RS256", "ES256":
		if j.PublicKeyFile == "" {
			v.add("auth.jwt.publicKeyFile", "%s needs a PEM public key file", j.Algorithm)
		}
		if j.Secret != "" || j.SecretFile != "" {
			v.add("auth.jwt.secret", "not used with %s", j.Algorithm)
		}
	default:
		v.add("auth.jwt.algorithm", "unknown algorithm %q (want HS256, RS256 or ES256)", j.Algorithm)
	}
}

// validator collects key errors.
type validator struct{ errs []error }

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("config: %w", &KeyError{Key: key, Err: fmt.Errorf(format, args...)}))
}

func (v *validator) port(key string, p int) {
	if p < 0 || p > 65535 {
		v.add(key, "must be between 0 and 65535 (got %d)", p)
	}
}

func (v *validator) positive(key string, d Duration) {
	if d <= 0 {
		v.add(key, "must be a positive duration (got %s)", d)
	}
}

func (v *validator) pattern(key, p string) {
	if _, err := path.Match(p, ""); err != nil {
		v.add(key, "invalid pattern %q: %v", p, err)
	}
}

func (v *validator) httpURL(key, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(key, "%q is not an http(s) URL", s)
	}
}

func (v *validator) err() error { return errors.Join(v.errs...) }
