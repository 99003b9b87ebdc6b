package specs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// RuntimeConfig is the file the runtime reads from SOCKETFLEET_CONFIG. Its keys are the contract with the
// runtime binary, documented in the operator README ("Runtime configuration file").
type RuntimeConfig struct {
	Port              int32    `json:"port"`
	AdminPort         int32    `json:"adminPort"`
	Path              string   `json:"path"`
	Transports        []string `json:"transports"`
	PingInterval      string   `json:"pingInterval"`
	PingTimeout       string   `json:"pingTimeout"`
	MaxHTTPBufferSize int64    `json:"maxHttpBufferSize"`
	// Parser is written only when it is not the runtime's default, so that clusters that leave it unset keep
	// their config file (and pods) unchanged.
	Parser                  string                `json:"parser,omitempty"`
	CORS                    RuntimeCORSConfig     `json:"cors"`
	ConnectionStateRecovery RuntimeRecoveryConfig `json:"connectionStateRecovery"`
	Limits                  RuntimeLimitsConfig   `json:"limits"`
	Drain                   RuntimeDrainConfig    `json:"drain"`
	Admin                   RuntimeAdminConfig    `json:"admin"`
	Redis                   *RuntimeRedisConfig   `json:"redis,omitempty"`
	Auth                    *RuntimeAuthConfig    `json:"auth,omitempty"`
	Publish                 *RuntimePublishConfig `json:"publish,omitempty"`
	Webhook                 *RuntimeWebhookConfig `json:"webhook,omitempty"`
	AdminUI                 *RuntimeAdminUIConfig `json:"adminUI,omitempty"`
	Cluster                 *RuntimeClusterConfig `json:"cluster,omitempty"`
}

// RuntimeAdminUIConfig is the adminUI block of the runtime config file (spec.adminUI): the password hash is a
// file mounted from the referenced Secret.
type RuntimeAdminUIConfig struct {
	Enabled          bool   `json:"enabled"`
	Namespace        string `json:"namespace"`
	Username         string `json:"username"`
	PasswordHashFile string `json:"passwordHashFile"`
	ReadOnly         bool   `json:"readOnly,omitempty"`
}

// buildRuntimeAdminUI returns the adminUI block of the runtime config, or nil unless spec.adminUI.enabled.
func buildRuntimeAdminUI(rc *realtimev1alpha1.RealtimeCluster) *RuntimeAdminUIConfig {
	ui := rc.Spec.AdminUI
	if ui == nil || !ui.Enabled {
		return nil
	}
	namespace := ui.Namespace
	if namespace == "" {
		namespace = realtimev1alpha1.DefaultAdminUINamespace
	}
	return &RuntimeAdminUIConfig{Enabled: true, Namespace: namespace, Username: ui.Username,
		PasswordHashFile: AdminUIDir + "/" + AdminUIPasswordHashFile, ReadOnly: ui.ReadOnly}
}

// RuntimeAuthConfig is the auth block of the runtime config file (spec.runtime.auth).
type RuntimeAuthConfig struct {
	JWT     *RuntimeJWTConfig         `json:"jwt,omitempty"`
	Webhook *RuntimeAuthWebhookConfig `json:"webhook,omitempty"`
}

// RuntimeJWTConfig is the auth.jwt block: the key is a file mounted from the referenced Secret or ConfigMap,
// secretFile for HS256, publicKeyFile otherwise.
type RuntimeJWTConfig struct {
	Algorithm     string `json:"algorithm"`
	SecretFile    string `json:"secretFile,omitempty"`
	PublicKeyFile string `json:"publicKeyFile,omitempty"`
	Issuer        string `json:"issuer,omitempty"`
	Audience      string `json:"audience,omitempty"`
	Leeway        string `json:"leeway,omitempty"`
}

// RuntimeAuthWebhookConfig is the auth.webhook block.
type RuntimeAuthWebhookConfig struct {
	URL     string `json:"url"`
	Timeout string `json:"timeout,omitempty"`
}

// RuntimePublishConfig is the publish block: the API on the public listener, its token file mounted from the
// referenced Secret.
type RuntimePublishConfig struct {
	Enabled   bool   `json:"enabled"`
	Listener  string `json:"listener"`
	TokenFile string `json:"tokenFile"`
}

// RuntimeWebhookConfig is the webhook block (spec.runtime.webhook).
type RuntimeWebhookConfig struct {
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Timeout   string   `json:"timeout,omitempty"`
	TokenFile string   `json:"tokenFile,omitempty"`
}

// optionalDuration formats d, or "" when unset (the runtime's default applies).
func optionalDuration(d *metav1.Duration) string {
	if d == nil {
		return ""
	}
	return d.Duration.String()
}

// buildRuntimeAuth returns the auth block of the runtime config, or nil without spec.runtime.auth.
func buildRuntimeAuth(rt realtimev1alpha1.RuntimeSpec) *RuntimeAuthConfig {
	a := rt.Auth
	if a == nil || (a.JWT == nil && a.Webhook == nil) {
		return nil
	}
	cfg := &RuntimeAuthConfig{}
	if j := a.JWT; j != nil {
		cfg.JWT = &RuntimeJWTConfig{
			Algorithm: string(j.Algorithm),
			Issuer:    j.Issuer,
			Audience:  j.Audience,
			Leeway:    optionalDuration(j.Leeway),
		}
		if j.Algorithm == "HS256" {
			cfg.JWT.SecretFile = JWTKeyDir + "/" + JWTKeyFile
		} else {
			cfg.JWT.PublicKeyFile = JWTKeyDir + "/" + JWTKeyFile
		}
	}
	if w := a.Webhook; w != nil {
		cfg.Webhook = &RuntimeAuthWebhookConfig{URL: w.URL, Timeout: optionalDuration(w.Timeout)}
	}
	return cfg
}

// buildRuntimePublish returns the publish block of the runtime config, or nil without spec.runtime.publish.
func buildRuntimePublish(rt realtimev1alpha1.RuntimeSpec) *RuntimePublishConfig {
	if rt.Publish == nil {
		return nil
	}
	return &RuntimePublishConfig{Enabled: true, Listener: "public", TokenFile: PublishTokenDir + "/" + TokenFile}
}

// buildRuntimeWebhook returns the webhook block of the runtime config, or nil without spec.runtime.webhook.
func buildRuntimeWebhook(rt realtimev1alpha1.RuntimeSpec) *RuntimeWebhookConfig {
	w := rt.Webhook
	if w == nil {
		return nil
	}
	cfg := &RuntimeWebhookConfig{URL: w.URL, Events: append([]string{}, w.Events...), Timeout: optionalDuration(w.Timeout)}
	if w.TokenSecretKeyRef != nil {
		cfg.TokenFile = WebhookTokenDir + "/" + TokenFile
	}
	return cfg
}

// RuntimeCORSConfig is the cors block of the runtime config file.
type RuntimeCORSConfig struct {
	Origins     []string `json:"origins"`
	Credentials bool     `json:"credentials"`
}

// RuntimeRecoveryConfig is the connectionStateRecovery block of the runtime config file.
type RuntimeRecoveryConfig struct {
	Enabled                  bool   `json:"enabled"`
	MaxDisconnectionDuration string `json:"maxDisconnectionDuration"`
	SkipMiddlewares          bool   `json:"skipMiddlewares"`
}

// RuntimeLimitsConfig is the limits block of the runtime config file.
type RuntimeLimitsConfig struct {
	MaxConnections int32 `json:"maxConnections"`
}

// RuntimeDrainConfig is the drain block of the runtime config file.
type RuntimeDrainConfig struct {
	Window        string `json:"window"`
	RatePerSecond int32  `json:"ratePerSecond"`
	// StickyCookie is the Ingress's sticky cookie name: refused handshakes expire it so retries rebalance.
	StickyCookie string `json:"stickyCookie,omitempty"`
}

// RuntimeClusterConfig is the cluster block of the runtime config file.
type RuntimeClusterConfig struct {
	Forwarding RuntimeForwardingConfig `json:"forwarding"`
}

// RuntimeForwardingConfig is the cluster.forwarding block: on with spec.ingress.stickiness none. The pod's own
// address comes from the environment (SOCKETFLEET_CLUSTER_FORWARDING_ADVERTISE_ADDRESS, its pod IP).
type RuntimeForwardingConfig struct {
	Enabled bool `json:"enabled"`
}

// RuntimeAdminConfig is the admin block of the runtime config file: the token file mounted from the admin token
// Secret, which POST /drain and POST /shed require (the fleet view sends it on GET /stats too).
type RuntimeAdminConfig struct {
	TokenFile string `json:"tokenFile"`
}

// RuntimeRedisConfig is the redis block of the runtime config file. Adapter (spec.redis.adapter) is always
// written; Streams only with the streams adapter.
type RuntimeRedisConfig struct {
	Mode           string                     `json:"mode"`
	URL            string                     `json:"url,omitempty"`
	Addresses      []string                   `json:"addresses"`
	SentinelMaster string                     `json:"sentinelMaster,omitempty"`
	Database       int32                      `json:"database"`
	Username       string                     `json:"username,omitempty"`
	PasswordFile   string                     `json:"passwordFile,omitempty"`
	KeyPrefix      string                     `json:"keyPrefix"`
	Adapter        string                     `json:"adapter"`
	Streams        *RuntimeRedisStreamsConfig `json:"streams,omitempty"`
	TLS            RuntimeRedisTLSConfig      `json:"tls"`
}

// RuntimeRedisStreamsConfig is the redis.streams block of the runtime config file (spec.redis.streams). The
// runtime's own defaults apply to the keys it leaves out (readCount, blockTime, onlyPlaintext).
type RuntimeRedisStreamsConfig struct {
	StreamName       string `json:"streamName"`
	StreamCount      int32  `json:"streamCount"`
	MaxLen           int32  `json:"maxLen"`
	SessionKeyPrefix string `json:"sessionKeyPrefix"`
	UseShardedPubSub bool   `json:"useShardedPubSub"`
}

// RuntimeRedisTLSConfig is the redis.tls block of the runtime config file.
type RuntimeRedisTLSConfig struct {
	Enabled            bool   `json:"enabled"`
	CAFile             string `json:"caFile,omitempty"`
	ServerName         string `json:"serverName,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify"`
}

// durationOr formats d, or def when d is zero (a field the API server would have defaulted).
func durationOr(d metav1.Duration, def string) string {
	if d.Duration <= 0 {
		return def
	}
	return d.Duration.String()
}

// runtimeParser is the parser key of the runtime config file: empty for the default parser.
func runtimeParser(p string) string {
	if p == "default" {
		return ""
	}
	return p
}

// BuildRuntimeConfig derives the runtime config file content from rc.
func BuildRuntimeConfig(rc *realtimev1alpha1.RealtimeCluster) RuntimeConfig {
	rt := rc.Spec.Runtime
	transports := make([]string, 0, len(rt.Transports))
	for _, t := range rt.Transports {
		transports = append(transports, string(t))
	}
	if len(transports) == 0 {
		transports = []string{string(realtimev1alpha1.TransportPolling), string(realtimev1alpha1.TransportWebSocket)}
	}
	origins := append([]string{}, rt.CORS.Origins...)
	buffer := rt.MaxHTTPBufferSize
	if buffer == 0 {
		buffer = realtimev1alpha1.DefaultMaxHTTPBufferSize
	}
	path := rt.Path
	if path == "" {
		path = realtimev1alpha1.DefaultPath
	}
	// Recovery follows the adapter and the drain settings where the spec leaves it unset (see
	// RealtimeClusterSpec.EffectiveRecovery); the runtime gets the resolved values, status.recovery shows them.
	recovery := rc.Spec.EffectiveRecovery()
	return RuntimeConfig{
		Port:              PublicPort,
		AdminPort:         AdminPort,
		Path:              path,
		Transports:        transports,
		PingInterval:      durationOr(rt.PingInterval, realtimev1alpha1.DefaultPingInterval.String()),
		PingTimeout:       durationOr(rt.PingTimeout, realtimev1alpha1.DefaultPingTimeout.String()),
		MaxHTTPBufferSize: buffer,
		Parser:            runtimeParser(rt.Parser),
		CORS:              RuntimeCORSConfig{Origins: origins, Credentials: rt.CORS.Credentials},
		ConnectionStateRecovery: RuntimeRecoveryConfig{
			Enabled:                  recovery.Enabled,
			MaxDisconnectionDuration: recovery.MaxDisconnectionDuration.String(),
			SkipMiddlewares:          rt.ConnectionStateRecovery.SkipMiddlewares == nil || *rt.ConnectionStateRecovery.SkipMiddlewares,
		},
		Limits: RuntimeLimitsConfig{MaxConnections: rt.MaxConnectionsPerPod},
		Drain: RuntimeDrainConfig{
			Window:        durationOr(rc.Spec.Drain.Window, realtimev1alpha1.DefaultDrainWindow.String()),
			RatePerSecond: rc.Spec.Drain.RatePerSecond,
			StickyCookie:  runtimeStickyCookie(rc),
		},
		Admin:   RuntimeAdminConfig{TokenFile: AdminTokenDir + "/" + AdminTokenKey},
		Redis:   buildRuntimeRedisConfig(rc),
		Auth:    buildRuntimeAuth(rt),
		Publish: buildRuntimePublish(rt),
		Webhook: buildRuntimeWebhook(rt),
		AdminUI: buildRuntimeAdminUI(rc),
		Cluster: buildRuntimeCluster(),
	}
}

// buildRuntimeCluster is the cluster block: session forwarding on, with either stickiness (with the cookie it
// carries a draining pod's polling requests that the load balancer sends elsewhere once the pod left rotation).
func buildRuntimeCluster() *RuntimeClusterConfig {
	return &RuntimeClusterConfig{Forwarding: RuntimeForwardingConfig{Enabled: true}}
}

// runtimeStickyCookie is the sticky cookie the operator's Ingress (or HTTPRoute) makes the load balancer set,
// or "" without one.
func runtimeStickyCookie(rc *realtimev1alpha1.RealtimeCluster) string {
	ing := rc.Spec.Ingress
	if !ing.Enabled || !ingressSticky(rc) || (ing.Gateway != nil && ing.Gateway.SessionPersistence == "None") {
		return ""
	}
	return stickyCookieName(rc)
}

// redisServiceHost is the in-cluster DNS name of the managed Redis Service.
func redisServiceHost(rc *realtimev1alpha1.RealtimeCluster) string {
	return fmt.Sprintf("%s.%s.svc", NamesFor(rc).Redis, rc.Namespace)
}

// RedisURL is the SOCKETFLEET_REDIS_URL of rc: set in standalone mode only (managed single instance or
// external), never carrying the password. It returns "" for Sentinel (a managed Redis with replicas
// included) and Cluster modes.
func RedisURL(rc *realtimev1alpha1.RealtimeCluster) string {
	r := rc.Spec.Redis
	switch {
	case r.External != nil:
		ext := r.External
		if ext.Mode != "" && ext.Mode != realtimev1alpha1.RedisModeStandalone || len(ext.Addresses) == 0 {
			return ""
		}
		scheme := "redis"
		if ext.TLS != nil {
			scheme = "rediss"
		}
		return fmt.Sprintf("%s://%s/%d", scheme, ext.Addresses[0], ext.Database)
	case r.Managed != nil && !RedisHA(rc):
		scheme := "redis"
		if RedisTLS(rc) {
			scheme = "rediss"
		}
		return fmt.Sprintf("%s://%s/0", scheme, net.JoinHostPort(redisServiceHost(rc), strconv.Itoa(int(RedisPort))))
	default:
		return ""
	}
}

// buildRuntimeAdapter returns the redis.adapter and redis.streams keys of the runtime config, with the API defaults
// for unset fields (a spec the API server did not default).
func buildRuntimeAdapter(r realtimev1alpha1.RedisSpec) (string, *RuntimeRedisStreamsConfig) {
	adapter := r.Adapter
	if adapter == "" {
		adapter = realtimev1alpha1.DefaultRedisAdapter
	}
	if adapter != realtimev1alpha1.RedisAdapterStreams {
		return string(adapter), nil
	}
	s := realtimev1alpha1.RedisStreamsSpec{}
	if r.Streams != nil {
		s = *r.Streams
	}
	cfg := &RuntimeRedisStreamsConfig{
		StreamName:       s.StreamName,
		StreamCount:      s.StreamCount,
		MaxLen:           s.MaxLen,
		SessionKeyPrefix: s.SessionKeyPrefix,
		UseShardedPubSub: s.UseShardedPubSub,
	}
	if cfg.StreamName == "" {
		cfg.StreamName = realtimev1alpha1.DefaultRedisStreamName
	}
	if cfg.StreamCount == 0 {
		cfg.StreamCount = realtimev1alpha1.DefaultRedisStreamCount
	}
	if cfg.MaxLen == 0 {
		cfg.MaxLen = realtimev1alpha1.DefaultRedisStreamMaxLen
	}
	if cfg.SessionKeyPrefix == "" {
		cfg.SessionKeyPrefix = realtimev1alpha1.DefaultRedisSessionKeyPrefix
	}
	return string(adapter), cfg
}

func buildRuntimeRedisConfig(rc *realtimev1alpha1.RealtimeCluster) *RuntimeRedisConfig {
	r := rc.Spec.Redis
	prefix := r.KeyPrefix
	if prefix == "" {
		prefix = realtimev1alpha1.DefaultRedisKeyPrefix
	}
	adapter, streams := buildRuntimeAdapter(r)
	switch {
	case r.External != nil:
		ext := r.External
		mode := ext.Mode
		if mode == "" {
			mode = realtimev1alpha1.RedisModeStandalone
		}
		cfg := &RuntimeRedisConfig{
			Mode:           string(mode),
			URL:            RedisURL(rc),
			Addresses:      append([]string{}, ext.Addresses...),
			SentinelMaster: ext.SentinelMasterName,
			Database:       ext.Database,
			Username:       ext.Username,
			KeyPrefix:      prefix,
			Adapter:        adapter,
			Streams:        streams,
		}
		if ext.PasswordSecretKeyRef != nil {
			cfg.PasswordFile = RedisPasswordDir + "/" + RedisPasswordKey
		}
		if ext.TLS != nil {
			cfg.TLS = RuntimeRedisTLSConfig{
				Enabled:            true,
				ServerName:         ext.TLS.ServerName,
				InsecureSkipVerify: ext.TLS.InsecureSkipVerify,
			}
			if ext.TLS.CASecretKeyRef != nil {
				cfg.TLS.CAFile = RedisTLSDir + "/ca.crt"
			}
		}
		return cfg
	case r.Managed != nil && RedisHA(rc):
		return &RuntimeRedisConfig{
			Mode:           string(realtimev1alpha1.RedisModeSentinel),
			Addresses:      SentinelAddresses(rc),
			SentinelMaster: NamesFor(rc).SentinelMaster,
			PasswordFile:   RedisPasswordDir + "/" + RedisPasswordKey,
			KeyPrefix:      prefix,
			Adapter:        adapter,
			Streams:        streams,
			TLS:            managedRedisTLSConfig(rc),
		}
	case r.Managed != nil:
		return &RuntimeRedisConfig{
			Mode:         string(realtimev1alpha1.RedisModeStandalone),
			URL:          RedisURL(rc),
			Addresses:    []string{net.JoinHostPort(redisServiceHost(rc), strconv.Itoa(int(RedisPort)))},
			PasswordFile: RedisPasswordDir + "/" + RedisPasswordKey,
			KeyPrefix:    prefix,
			Adapter:      adapter,
			Streams:      streams,
			TLS:          managedRedisTLSConfig(rc),
		}
	default:
		return nil
	}
}

// BuildConfigMap renders the runtime ConfigMap of rc and returns it with the hash of its content.
func BuildConfigMap(rc *realtimev1alpha1.RealtimeCluster) (*corev1.ConfigMap, string, error) {
	data, err := yaml.Marshal(BuildRuntimeConfig(rc))
	if err != nil {
		return nil, "", fmt.Errorf("marshal runtime config: %w", err)
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])[:16]
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: childMeta(rc, NamesFor(rc).ConfigMap, ComponentRuntime),
		Data:       map[string]string{ConfigFileName: string(data)},
	}
	return cm, hash, nil
}

// managedRedisTLSConfig is the redis.tls block for a managed Redis: with TLS, the CA of its certificate Secret
// (mounted at RedisTLSDir) verifies the name the runtime dials (the Service, or the Sentinels and the primary
// they announce, all in the certificate).
func managedRedisTLSConfig(rc *realtimev1alpha1.RealtimeCluster) RuntimeRedisTLSConfig {
	if !RedisTLS(rc) {
		return RuntimeRedisTLSConfig{}
	}
	return RuntimeRedisTLSConfig{Enabled: true, CAFile: RedisTLSDir + "/" + RedisTLSCAKey}
}
