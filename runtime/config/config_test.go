package config

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"
)

// operatorExample is the full example of the operator contract, keys sorted
// as the operator writes them. Recovery is off: the operator always
// configures Redis, and no Redis adapter can recover sessions.
const operatorExample = `
adminPort: 8081
connectionStateRecovery:
  enabled: false
  maxDisconnectionDuration: 2m0s
  skipMiddlewares: true
cors:
  credentials: true
  origins:
  - https://app.example.com
drain:
  ratePerSecond: 0
  window: 1m0s
limits:
  maxConnections: 10000
maxHttpBufferSize: 1000000
path: /socket.io/
pingInterval: 25s
pingTimeout: 20s
port: 3000
redis:
  addresses:
  - chat-redis.default.svc:6379
  database: 0
  keyPrefix: socket.io
  mode: standalone
  passwordFile: /var/run/socketfleet/redis/password
  tls:
    enabled: false
    insecureSkipVerify: false
  url: redis://chat-redis.default.svc:6379/0
transports:
- polling
- websocket
`

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func files(m map[string]string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		s, ok := m[p]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		return []byte(s), nil
	}
}

func TestDefaults(t *testing.T) {
	got, err := Load(Sources{})
	if err != nil {
		t.Fatal(err)
	}
	c := got.Config
	if c.Port != 3000 || c.AdminPort != 8081 || c.Path != "/socket.io/" {
		t.Errorf("ports/path = %d %d %q", c.Port, c.AdminPort, c.Path)
	}
	if c.PingInterval.D() != 25*time.Second || c.PingTimeout.D() != 20*time.Second || c.MaxHTTPBufferSize != 1e6 || c.MaxParkedConnections != 65536 {
		t.Errorf("engine defaults = %v %v %d %d", c.PingInterval, c.PingTimeout, c.MaxHTTPBufferSize, c.MaxParkedConnections)
	}
	if !reflect.DeepEqual(c.Transports, []string{"polling", "websocket"}) || !reflect.DeepEqual(c.Namespaces, []string{"/"}) {
		t.Errorf("transports %v namespaces %v", c.Transports, c.Namespaces)
	}
	if c.Redis.Enabled() || c.Relay.Enabled || c.Publish.Enabled || c.Webhook.URL != "" || c.Auth.JWT.Algorithm != "" {
		t.Errorf("optional features on by default: %+v", c)
	}
	if c.Drain.Window.D() != 30*time.Second {
		t.Errorf("drain window = %v", c.Drain.Window)
	}
	// The streams adapter's defaults are @socket.io/redis-streams-adapter's.
	want := RedisStreams{StreamName: "socket.io", StreamCount: 1, MaxLen: 10000, ReadCount: 100,
		BlockTime: Duration(5 * time.Second), SessionKeyPrefix: "sio:session:"}
	if c.Redis.Streams != want {
		t.Errorf("streams defaults = %+v", c.Redis.Streams)
	}
}

func TestOperatorExample(t *testing.T) {
	got, err := Load(Sources{
		LookupEnv: env(map[string]string{"SOCKETFLEET_CONFIG": "/etc/socketfleet/config.yaml", "POD_NAME": "chat-0"}),
		ReadFile:  files(map[string]string{"/etc/socketfleet/config.yaml": operatorExample}),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := got.Config
	if got.File != "/etc/socketfleet/config.yaml" || got.PodName != "chat-0" {
		t.Errorf("file %q pod %q", got.File, got.PodName)
	}
	if c.ConnectionStateRecovery.Enabled || c.ConnectionStateRecovery.MaxDisconnectionDuration.D() != 2*time.Minute {
		t.Errorf("recovery = %+v", c.ConnectionStateRecovery)
	}
	if !reflect.DeepEqual(c.CORS, CORS{Origins: []string{"https://app.example.com"}, Credentials: true}) {
		t.Errorf("cors = %+v", c.CORS)
	}
	if c.Limits.MaxConnections != 10000 || c.Drain.Window.D() != time.Minute {
		t.Errorf("limits %+v drain %+v", c.Limits, c.Drain)
	}
	if c.Redis.Mode != "standalone" || c.Redis.URL != "redis://chat-redis.default.svc:6379/0" ||
		c.Redis.PasswordFile != "/var/run/socketfleet/redis/password" || c.Redis.KeyPrefix != "socket.io" {
		t.Errorf("redis = %+v", c.Redis)
	}
}

func TestPrecedence(t *testing.T) {
	file := "port: 4000\nadminPort: 4001\npingInterval: 10s\ncors:\n  origins: [https://a.example]\n"
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(t *testing.T, c Config)
	}{
		{
			name: "file over default",
			env:  map[string]string{"SOCKETFLEET_CONFIG": "f.yaml"},
			check: func(t *testing.T, c Config) {
				if c.Port != 4000 || c.PingInterval.D() != 10*time.Second || c.PingTimeout.D() != 20*time.Second {
					t.Errorf("got %d %v %v", c.Port, c.PingInterval, c.PingTimeout)
				}
			},
		},
		{
			name: "env over file",
			env: map[string]string{"SOCKETFLEET_CONFIG": "f.yaml", "SOCKETFLEET_PORT": "5000",
				"SOCKETFLEET_CORS_ORIGINS": "https://b.example, https://c.example"},
			check: func(t *testing.T, c Config) {
				if c.Port != 5000 || c.AdminPort != 4001 {
					t.Errorf("ports %d %d", c.Port, c.AdminPort)
				}
				if !reflect.DeepEqual(c.CORS.Origins, []string{"https://b.example", "https://c.example"}) {
					t.Errorf("origins %v", c.CORS.Origins)
				}
			},
		},
		{
			name: "flag over env",
			env:  map[string]string{"SOCKETFLEET_CONFIG": "f.yaml", "SOCKETFLEET_PORT": "5000"},
			args: []string{"--port=6000", "--ping-interval", "3s", "--demo-enabled"},
			check: func(t *testing.T, c Config) {
				if c.Port != 6000 || c.PingInterval.D() != 3*time.Second {
					t.Errorf("got %d %v", c.Port, c.PingInterval)
				}
				if !c.Demo.Enabled || !c.Relay.Enabled || !reflect.DeepEqual(c.Relay.Rooms, []string{"*"}) {
					t.Errorf("demo %+v relay %+v", c.Demo, c.Relay)
				}
			},
		},
		{
			name: "config flag chooses the file",
			env:  map[string]string{"SOCKETFLEET_CONFIG": "missing.yaml"},
			args: []string{"--config", "f.yaml"},
			check: func(t *testing.T, c Config) {
				if c.Port != 4000 {
					t.Errorf("port %d", c.Port)
				}
			},
		},
		{
			name: "admin keys",
			env:  map[string]string{"SOCKETFLEET_ADMIN_TOKEN_FILE": "/var/run/socketfleet/admin/token", "SOCKETFLEET_ADMIN_BIND_ADDRESS": "::1"},
			args: []string{"--admin-protect-reads"},
			check: func(t *testing.T, c Config) {
				want := Admin{TokenFile: "/var/run/socketfleet/admin/token", BindAddress: "::1", ProtectReads: true}
				if c.Admin != want {
					t.Errorf("admin %+v, want %+v", c.Admin, want)
				}
			},
		},
		{
			name: "redis url env implies standalone",
			env:  map[string]string{"SOCKETFLEET_REDIS_URL": "rediss://r.example:6380/1"},
			check: func(t *testing.T, c Config) {
				if c.Redis.Mode != "standalone" || !c.Redis.TLS.Enabled || !c.Redis.Enabled() {
					t.Errorf("redis %+v", c.Redis)
				}
			},
		},
		{
			name: "nested env names",
			env: map[string]string{"SOCKETFLEET_LIMITS_MAX_CONNECTIONS": "7", "SOCKETFLEET_MAX_HTTP_BUFFER_SIZE": "2048",
				"SOCKETFLEET_CONNECTION_STATE_RECOVERY_ENABLED": "true", "SOCKETFLEET_LIMITS_HANDSHAKE_RATE": "2.5"},
			check: func(t *testing.T, c Config) {
				if c.Limits.MaxConnections != 7 || c.MaxHTTPBufferSize != 2048 || !c.ConnectionStateRecovery.Enabled ||
					c.Limits.HandshakeRate != 2.5 {
					t.Errorf("got %+v %d %+v", c.Limits, c.MaxHTTPBufferSize, c.ConnectionStateRecovery)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(Sources{Args: tt.args, LookupEnv: env(tt.env), ReadFile: files(map[string]string{"f.yaml": file})})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, got.Config)
		})
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		args []string
		want string
	}{
		{name: "bad duration", yaml: "pingInterval: x", want: `config: pingInterval: invalid duration "x"`},
		{name: "number duration", yaml: "pingTimeout: 30", want: `config: pingTimeout: invalid duration 30`},
		{name: "negative duration", yaml: "drain:\n  window: -1s", want: `config: drain.window: invalid duration "-1s": negative`},
		{name: "unknown top key", yaml: "prot: 3000", want: `config: prot: unknown key`},
		{name: "unknown nested key", yaml: "limits:\n  maxConnection: 3", want: `config: limits.maxConnection: unknown key`},
		{name: "case suggestion", yaml: "maxHTTPBufferSize: 5", want: `config: maxHTTPBufferSize: unknown key (did you mean "maxHttpBufferSize"?)`},
		{name: "wrong type", yaml: "port: abc", want: `config: port: expected an integer, got a string "abc"`},
		{name: "section not a mapping", yaml: "cors: yes", want: `config: cors: expected a mapping, got a boolean true`},
		{name: "list of strings", yaml: "transports: [1]", want: `config: transports: expected a list of strings, got a list`},
		{name: "invalid yaml", yaml: "port: [", want: `config: invalid YAML: yaml: line 1`},
		{name: "duplicate key", yaml: "port: 1\nport: 2", want: `invalid YAML`},
		{name: "unknown transport", yaml: "transports: [polling, sse]", want: `config: transports: unknown transport "sse"`},
		{name: "unknown parser", yaml: "parser: json", want: `config: parser: unknown parser "json" (want default or msgpack)`},
		{name: "negative parked connections", yaml: "maxParkedConnections: -1", want: `config: maxParkedConnections: must not be negative (got -1; 0 never parks)`},
		{name: "unknown parser (env)", env: map[string]string{"SOCKETFLEET_PARSER": "msgpack-lite"}, want: `config: parser: unknown parser "msgpack-lite"`},
		{name: "port range", yaml: "port: 70000", want: `config: port: must be between 0 and 65535`},
		{name: "same ports", yaml: "port: 9000\nadminPort: 9000", want: `config: adminPort: must differ from port`},
		{name: "negative limit", yaml: "limits:\n  maxConnections: -1", want: `config: limits.maxConnections: must not be negative`},
		{name: "bad sticky cookie name", yaml: "drain:\n  stickyCookie: \"a b\"", want: `config: drain.stickyCookie: "a b" is not a valid cookie name`},
		{name: "bad origin", yaml: "cors:\n  origins: [app.example.com]", want: `config: cors.origins: "app.example.com" is not an origin`},
		{name: "credentials with star", yaml: "cors:\n  origins: ['*']\n  credentials: true", want: `config: cors.credentials: cannot be true with origin *`},
		{name: "redis mode", yaml: "redis:\n  mode: replica", want: `config: redis.mode: unknown mode "replica"`},
		{name: "redis adapter", yaml: "redis:\n  url: redis://r:6379\n  adapter: stream", want: `config: redis.adapter: unknown adapter "stream" (want classic, sharded or streams)`},
		{name: "streams count", yaml: "redis:\n  url: redis://r:6379\n  adapter: streams\n  streams:\n    streamCount: 0", want: `config: redis.streams.streamCount: must be positive (got 0)`},
		{name: "streams maxLen", env: map[string]string{"SOCKETFLEET_REDIS_URL": "redis://r:6379", "SOCKETFLEET_REDIS_ADAPTER": "streams", "SOCKETFLEET_REDIS_STREAMS_MAX_LEN": "-5"}, want: `config: redis.streams.maxLen: must be positive (got -5)`},
		{name: "streams block time", args: []string{"--redis-url=redis://r:6379", "--redis-adapter=streams", "--redis-streams-block-time=0s"}, want: `config: redis.streams.blockTime: must be a positive duration`},
		{name: "streams empty name", yaml: "redis:\n  url: redis://r:6379\n  adapter: streams\n  streams:\n    streamName: ''", want: `config: redis.streams.streamName: must not be empty`},
		{name: "streams sharded pub/sub with cluster", yaml: "redis:\n  mode: cluster\n  addresses: [a:1]\n  adapter: streams\n  streams:\n    useShardedPubSub: true", want: `config: redis.streams.useShardedPubSub: not supported with mode cluster`},
		{name: "sharded with cluster", yaml: "redis:\n  mode: cluster\n  addresses: [a:1]\n  adapter: sharded", want: `config: redis.adapter: sharded is not supported with mode cluster`},
		{name: "redis password in url", yaml: "redis:\n  url: redis://u:p@h:6379/0", want: `config: redis.url: must not contain a password`},
		{name: "sentinel master", yaml: "redis:\n  mode: sentinel\n  addresses: [s:26379]", want: `config: redis.sentinelMaster: required in sentinel mode`},
		{name: "cluster db", yaml: "redis:\n  mode: cluster\n  addresses: [c:6379]\n  database: 2", want: `config: redis.database: must be 0 in cluster mode`},
		{name: "relay pattern", yaml: "relay:\n  enabled: true\n  rooms: ['[a-']", want: `config: relay.rooms: invalid pattern "[a-"`},
		{name: "relay without rooms", yaml: "relay:\n  enabled: true", want: `config: relay.rooms: must list at least one room pattern`},
		{name: "public publish without token", yaml: "publish:\n  enabled: true", want: `config: publish.token: required when the publish API is on the public listener`},
		{name: "webhook url", yaml: "webhook:\n  url: ftp://x\n  events: [a]", want: `config: webhook.url: "ftp://x" is not an http(s) URL`},
		{name: "webhook events", yaml: "webhook:\n  url: http://x", want: `config: webhook.events: must list at least one event pattern`},
		{name: "admin ui without username", yaml: "adminUI:\n  enabled: true\n  passwordHashFile: /h", want: `config: adminUI.username: required when the admin UI is enabled (or set adminUI.auth: false explicitly)`},
		{name: "admin ui without hash", yaml: "adminUI:\n  enabled: true\n  username: admin", want: `config: adminUI.passwordHashFile: required when the admin UI is enabled`},
		{name: "admin ui namespace", yaml: "adminUI:\n  enabled: true\n  auth: false\n  namespace: admin", want: `config: adminUI.namespace: "admin" must start with /`},
		{name: "admin ui namespace taken", yaml: "namespaces: [/, /adm*]\nadminUI:\n  enabled: true\n  auth: false", want: `config: adminUI.namespace: "/admin" is also an application namespace`},
		{name: "jwt algorithm", yaml: "auth:\n  jwt:\n    algorithm: none", want: `config: auth.jwt.algorithm: unknown algorithm "none"`},
		{name: "jwt hs256 secret", yaml: "auth:\n  jwt:\n    algorithm: HS256", want: `config: auth.jwt.secret: HS256 needs exactly one of secret or secretFile`},
		{name: "jwt rs256 key", yaml: "auth:\n  jwt:\n    algorithm: RS256", want: `config: auth.jwt.publicKeyFile: RS256 needs a PEM public key file`},
		{name: "log level", yaml: "log:\n  level: loud", want: `config: log.level: unknown level "loud"`},
		{name: "admin bind address with port", yaml: "admin:\n  bindAddress: 127.0.0.1:8081", want: `config: admin.bindAddress: "127.0.0.1:8081" is not a host`},
		{name: "admin bind address url", args: []string{"--admin-bind-address=http://x"}, want: `config: admin.bindAddress: "http://x" is not a host`},
		{name: "admin token and unauthenticated", yaml: "admin:\n  tokenFile: /t\n  allowUnauthenticated: true", want: `config: admin.allowUnauthenticated: cannot be true with admin.tokenFile`},
		{name: "admin protect reads without token", env: map[string]string{"SOCKETFLEET_ADMIN_PROTECT_READS": "true"}, want: `config: admin.protectReads: needs admin.tokenFile`},
		{name: "admin unknown key", yaml: "admin:\n  token: x", want: `config: admin.token: unknown key`},
		{name: "publish token with admin token", yaml: "admin:\n  tokenFile: /t\npublish:\n  enabled: true\n  listener: admin\n  token: p", want: `config: publish.token: not used with publish.listener: admin when admin.tokenFile is set`},
		{name: "forwarding without address", yaml: "admin: {tokenFile: /t}\ncluster:\n  forwarding: {enabled: true}", want: `config: cluster.forwarding.advertiseAddress: required when cluster.forwarding.enabled is true`},
		{name: "forwarding address without port", yaml: "adminPort: 0\nadmin: {tokenFile: /t}\ncluster:\n  forwarding: {enabled: true, advertiseAddress: 10.0.0.1}", want: `config: cluster.forwarding.advertiseAddress: "10.0.0.1" has no port and adminPort is 0`},
		{name: "forwarding address a name", yaml: "admin: {tokenFile: /t}\ncluster:\n  forwarding: {enabled: true, advertiseAddress: \"pod-a:8081\"}", want: `config: cluster.forwarding.advertiseAddress: "pod-a:8081" is not an IP or IP:port`},
		{name: "forwarding timeout below ping interval", env: map[string]string{"SOCKETFLEET_ADMIN_TOKEN_FILE": "/t", "SOCKETFLEET_CLUSTER_FORWARDING_ENABLED": "true", "SOCKETFLEET_CLUSTER_FORWARDING_ADVERTISE_ADDRESS": "10.0.0.1:8081", "SOCKETFLEET_CLUSTER_FORWARDING_TIMEOUT": "20s"}, want: `config: cluster.forwarding.timeout: must exceed pingInterval (25s)`},
		{name: "forwarding max in flight", yaml: "admin: {tokenFile: /t}\ncluster:\n  forwarding: {enabled: true, advertiseAddress: \"10.0.0.1:8081\", maxInFlight: 0}", want: `config: cluster.forwarding.maxInFlight: must be positive (got 0)`},
		{name: "forwarding without admin token", yaml: "cluster:\n  forwarding: {enabled: true, advertiseAddress: \"10.0.0.1:8081\"}", want: `config: cluster.forwarding.enabled: needs admin.tokenFile`},
		{name: "env duration", env: map[string]string{"SOCKETFLEET_PING_INTERVAL": "soon"}, want: `config: pingInterval (env SOCKETFLEET_PING_INTERVAL): invalid duration "soon"`},
		{name: "env int", env: map[string]string{"SOCKETFLEET_ADMIN_PORT": "x"}, want: `config: adminPort (env SOCKETFLEET_ADMIN_PORT): invalid integer "x"`},
		{name: "env bool", env: map[string]string{"SOCKETFLEET_RELAY_ENABLED": "maybe"}, want: `config: relay.enabled (env SOCKETFLEET_RELAY_ENABLED): invalid boolean "maybe"`},
		{name: "flag duration", args: []string{"--drain-window=1y"}, want: `config: drain.window (flag --drain-window): invalid duration "1y"`},
		{name: "unknown flag", args: []string{"--nope"}, want: `config: flag provided but not defined: -nope`},
		{name: "positional argument", args: []string{"serve"}, want: `config: unexpected argument "serve"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range tt.env {
				e[k] = v
			}
			if tt.yaml != "" {
				e["SOCKETFLEET_CONFIG"] = "c.yaml"
			}
			_, err := Load(Sources{Args: tt.args, LookupEnv: env(e), ReadFile: files(map[string]string{"c.yaml": tt.yaml})})
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(Sources{Args: []string{"--config", "nope.yaml"}, ReadFile: files(nil)})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("err = %v", err)
	}
}

func TestHelp(t *testing.T) {
	var b strings.Builder
	_, err := Load(Sources{Args: []string{"--help"}, Usage: &b})
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"-admin-port", "SOCKETFLEET_LIMITS_MAX_CONNECTIONS", "-config", "key relay.rooms"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

func TestParseValidYAML(t *testing.T) {
	c, err := Parse([]byte("path: /io\nrelay:\n  enabled: true\n  rooms: ['chat:*']\nnamespaces: [/, /tenant-*]\nlimits:\n  handshakeRate: 50\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != "/io/" || c.Relay.Rooms[0] != "chat:*" || c.Limits.HandshakeRate != 50 || len(c.Namespaces) != 2 {
		t.Errorf("got %+v", c)
	}
	if _, err := Parse(nil); err != nil {
		t.Errorf("empty document: %v", err)
	}
}

func TestReferenceListsEveryKey(t *testing.T) {
	ref := Reference()
	for _, l := range schemaLeaves() {
		if l.doc == "" {
			t.Errorf("key %s has no doc tag", l.key)
		}
		if !strings.Contains(ref, "`"+l.key+"`") {
			t.Errorf("reference lacks %s", l.key)
		}
	}
	for _, want := range []string{"SOCKETFLEET_REDIS_URL", "SOCKETFLEET_ADMIN_PORT", "--admin-port", "SOCKETFLEET_PORT"} {
		if !strings.Contains(ref, want) {
			t.Errorf("reference lacks %s", want)
		}
	}
}

// TestRecoveryNeedsAnAdapterThatRecovers checks that connection state
// recovery is accepted only where it can work (the in-memory adapter, one
// process, and the streams adapter, any server) and that the classic and
// sharded adapters, however Redis is reached, are refused with both keys and
// the fix named.
func TestRecoveryNeedsAnAdapterThatRecovers(t *testing.T) {
	const recoveryOn = "connectionStateRecovery:\n  enabled: true\n"
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		args []string
		want []string // substrings of the error; none: accepted
		not  string   // a substring the error must not contain
	}{
		{name: "recovery on, in-memory adapter", yaml: recoveryOn},
		{name: "recovery off, redis", yaml: "redis:\n  url: redis://r:6379/0\n"},
		{name: "recovery on, redis url, default adapter", yaml: recoveryOn + "redis:\n  url: redis://r:6379/0\n",
			want: []string{`config: connectionStateRecovery.enabled: redis.adapter "classic" cannot recover sessions across servers`,
				"use redis.adapter: streams or set connectionStateRecovery.enabled: false"},
			not: "planned"},
		{name: "recovery on, sharded adapter", yaml: recoveryOn + "redis:\n  url: redis://r:6379/0\n  adapter: sharded\n",
			want: []string{`config: connectionStateRecovery.enabled: redis.adapter "sharded" cannot recover sessions across servers`}},
		{name: "recovery on, sentinel", yaml: recoveryOn + "redis:\n  mode: sentinel\n  addresses: [s:26379]\n  sentinelMaster: m\n",
			want: []string{`config: connectionStateRecovery.enabled: redis.adapter "classic"`}},
		{name: "recovery on, cluster", yaml: recoveryOn + "redis:\n  mode: cluster\n  addresses: [c:7000]\n",
			want: []string{`config: connectionStateRecovery.enabled: redis.adapter "classic"`}},
		{name: "recovery from env, redis url from env",
			env:  map[string]string{"SOCKETFLEET_CONNECTION_STATE_RECOVERY_ENABLED": "true", "SOCKETFLEET_REDIS_URL": "redis://r:6379/0"},
			want: []string{`config: connectionStateRecovery.enabled: redis.adapter "classic"`}},
		{name: "recovery from flag, file with redis", yaml: "redis:\n  url: redis://r:6379/0\n  adapter: sharded\n",
			args: []string{"--connection-state-recovery-enabled"},
			want: []string{`config: connectionStateRecovery.enabled: redis.adapter "sharded"`}},
		{name: "file recovery turned off by flag", yaml: recoveryOn + "redis:\n  url: redis://r:6379/0\n",
			args: []string{"--connection-state-recovery-enabled=false"}},
		{name: "recovery on, streams adapter", yaml: recoveryOn + "redis:\n  url: redis://r:6379/0\n  adapter: streams\n"},
		{name: "recovery on, streams adapter from env, sentinel",
			env: map[string]string{"SOCKETFLEET_CONNECTION_STATE_RECOVERY_ENABLED": "true", "SOCKETFLEET_REDIS_MODE": "sentinel",
				"SOCKETFLEET_REDIS_ADDRESSES": "s:26379", "SOCKETFLEET_REDIS_SENTINEL_MASTER": "m", "SOCKETFLEET_REDIS_ADAPTER": "streams"}},
		{name: "unknown adapter: its own error, not the recovery one", yaml: recoveryOn + "redis:\n  url: redis://r:6379/0\n  adapter: stream\n",
			want: []string{`config: redis.adapter: unknown adapter "stream" (want classic, sharded or streams)`},
			not:  "connectionStateRecovery"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range tt.env {
				e[k] = v
			}
			if tt.yaml != "" {
				e["SOCKETFLEET_CONFIG"] = "c.yaml"
			}
			got, err := Load(Sources{Args: tt.args, LookupEnv: env(e), ReadFile: files(map[string]string{"c.yaml": tt.yaml})})
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted recovery %+v with redis %+v", got.ConnectionStateRecovery, got.Redis)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error = %q\nwant it to contain %q", err, w)
				}
			}
			if tt.not != "" && strings.Contains(err.Error(), tt.not) {
				t.Errorf("error = %q\nwant it not to contain %q", err, tt.not)
			}
		})
	}
}
