package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RedisSpec configures the Redis the runtime pods use as their Socket.IO adapter backend.
//
// +kubebuilder:validation:XValidation:rule="has(self.managed) != has(self.external)",message="spec.redis must set exactly one of spec.redis.managed or spec.redis.external"
// +kubebuilder:validation:XValidation:rule="self.?adapter.orValue('streams') != 'sharded' || self.?external.?mode.orValue('standalone') != 'cluster'",message="spec.redis.adapter cannot be sharded when spec.redis.external.mode is cluster: one subscriber connection cannot follow every shard; use classic or streams",fieldPath=.adapter
// +kubebuilder:validation:XValidation:rule="!has(self.streams) || self.?adapter.orValue('streams') == 'streams'",message="spec.redis.streams is only allowed when spec.redis.adapter is streams",fieldPath=.streams
// +kubebuilder:validation:XValidation:rule="!self.?streams.?useShardedPubSub.orValue(false) || self.?external.?mode.orValue('standalone') != 'cluster'",message="spec.redis.streams.useShardedPubSub cannot be true when spec.redis.external.mode is cluster: one subscriber connection cannot follow every shard",fieldPath=.streams.useShardedPubSub
type RedisSpec struct {
	// Managed makes the operator run Redis next to the fleet, with a generated password: a single instance, or
	// a primary with replicas and Sentinels (managed.replicas).
	// +optional
	Managed *ManagedRedisSpec `json:"managed,omitempty"`

	// External points the fleet at a Redis you operate (standalone, Sentinel or Cluster).
	// +optional
	External *ExternalRedisSpec `json:"external,omitempty"`

	// KeyPrefix is the prefix of the adapter's Redis channels and keys (the Node adapter's "key" option).
	// +kubebuilder:default="socket.io"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +optional
	KeyPrefix string `json:"keyPrefix,omitempty"`

	// Adapter is the protocol the runtime pods speak over Redis (redis.adapter in the runtime config): streams (the
	// default: Redis Streams, @socket.io/redis-streams-adapter 0.3; the only one with which connection state
	// recovery works across pods, and with which it is on unless spec.runtime.connectionStateRecovery.enabled is
	// false), classic (Pub/Sub, Node's @socket.io/redis-adapter createAdapter; no recovery) or sharded (sharded
	// Pub/Sub, Redis 7 or newer, createShardedAdapter; no recovery; not with spec.redis.external.mode cluster).
	// Every pod, and every Node server sharing the Redis, must use the same adapter: pods on different adapters
	// do not see each other's broadcasts, which is the case during the rolling update that a change of this
	// field causes.
	// +kubebuilder:default=streams
	// +optional
	Adapter RedisAdapter `json:"adapter,omitempty"`

	// Streams tunes the streams adapter (redis.streams in the runtime config). Only allowed when Adapter is
	// streams; without it the streams adapter runs with the defaults of its fields.
	// +optional
	Streams *RedisStreamsSpec `json:"streams,omitempty"`
}

// RedisAdapter is the protocol of the runtime's Redis adapter.
// +kubebuilder:validation:Enum=classic;sharded;streams
type RedisAdapter string

// The Redis adapters of the runtime.
const (
	// RedisAdapterClassic is Pub/Sub (PUBLISH/PSUBSCRIBE), like Node's @socket.io/redis-adapter createAdapter.
	RedisAdapterClassic RedisAdapter = "classic"
	// RedisAdapterSharded is sharded Pub/Sub (SPUBLISH/SSUBSCRIBE, Redis 7 or newer), like Node's
	// createShardedAdapter. Not supported with Redis Cluster.
	RedisAdapterSharded RedisAdapter = "sharded"
	// RedisAdapterStreams is Redis Streams plus Pub/Sub, like Node's @socket.io/redis-streams-adapter. It keeps
	// sessions and packets in Redis, so connection state recovery works on any pod.
	RedisAdapterStreams RedisAdapter = "streams"
)

// RedisStreamsSpec configures the streams adapter. The names and defaults are those of the runtime's
// redis.streams block, which follow @socket.io/redis-streams-adapter; spec.redis.keyPrefix is its channel
// prefix. Two fleets (or Node deployments) sharing one Redis must use different StreamName and
// SessionKeyPrefix values, or they receive each other's broadcasts and sessions.
type RedisStreamsSpec struct {
	// StreamName is the Redis stream the broadcasts are added to (streamName). With StreamCount above 1 the
	// streams are named <streamName>-0, <streamName>-1, ...
	// +kubebuilder:default="socket.io"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +optional
	StreamName string `json:"streamName,omitempty"`

	// StreamCount is the number of streams the namespaces are spread over (streamCount), e.g. to spread the
	// load over the shards of a Redis Cluster. Each pod reads every stream on a connection of its own. Keep 1
	// when Node servers share the streams.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	// +optional
	StreamCount int32 `json:"streamCount,omitempty"`

	// MaxLen is the approximate number of entries each stream keeps (XADD MAXLEN ~). A client recovers its
	// session only while the last packet it received is still in the stream, so it bounds how many broadcasts
	// a disconnection may span.
	// +kubebuilder:default=10000
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxLen int32 `json:"maxLen,omitempty"`

	// SessionKeyPrefix prefixes the Redis keys of the sessions kept for connection state recovery
	// (sessionKeyPrefix); each key lives for spec.runtime.connectionStateRecovery.maxDisconnectionDuration.
	// +kubebuilder:default="sio:session:"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +optional
	SessionKeyPrefix string `json:"sessionKeyPrefix,omitempty"`

	// UseShardedPubSub sends the adapter's requests and responses over sharded Pub/Sub (Redis 7 or newer;
	// useShardedPubSub). Not supported when spec.redis.external.mode is cluster.
	// +kubebuilder:default=false
	// +optional
	UseShardedPubSub bool `json:"useShardedPubSub,omitempty"`
}

// ManagedRedisSpec describes the Redis the operator runs: a single instance (replicas 1, the default) or a
// primary with replicas watched by three Sentinels that fail over (replicas 2 to 5).
//
// Why a replica count rather than a mode: one number says both whether there is failover and how many copies
// of the data exist, and the Sentinels, which decide the failover, are always three (a majority of two
// survives the loss of any one), so their quorum never depends on the number of Redis pods. Two Redis pods
// are therefore a valid choice (one replica); three (the usual one) keep a replica while a failed primary
// comes back.
//
// +kubebuilder:validation:XValidation:rule="!has(self.sentinel) || self.?replicas.orValue(1) > 1",message="spec.redis.managed.sentinel is only allowed when spec.redis.managed.replicas is greater than 1: a single Redis instance has no replica to fail over to",fieldPath=.sentinel
type ManagedRedisSpec struct {
	// Image of the Redis container (Redis 7 or newer).
	// +kubebuilder:default="redis:7.4-alpine"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`

	// Resources of the Redis container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`

	// Persistence gives every Redis pod a PersistentVolumeClaim and turns on Redis's append-only file. It is on
	// by default when connection state recovery across pods needs what Redis keeps (spec.redis.adapter streams
	// with recovery on, the default): without it a restart of a Redis pod that no replica takes over from
	// loses the stream and the sessions, so the clients of a drain that spans it reconnect as new sockets. The
	// classic and sharded adapters keep nothing in Redis, and persistence is off by default with them.
	// +kubebuilder:default={}
	// +optional
	Persistence *RedisPersistenceSpec `json:"persistence,omitempty"`

	// TLS serves the managed Redis, and its Sentinels, over TLS only (no plaintext port); the runtime pods
	// verify the server certificate against the CA of the certificate Secret.
	// +optional
	TLS *ManagedRedisTLSSpec `json:"tls,omitempty"`

	// Replicas is the number of Redis pods. 1 runs a single instance: no failover, and a restart of its pod
	// pauses cross-pod delivery until it is back. 2 to 5 run one primary and replicas that replicate from
	// it, plus three Sentinels that promote a replica when the primary stops answering; the runtime pods find
	// the primary through the Sentinels. Changing between 1 and more than 1 restarts the Redis pods (the
	// first one keeps its data when storage is set).
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=5
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// Sentinel tunes the three Sentinels of a managed Redis with replicas above 1 (only allowed then);
	// without it they run with the defaults of its fields.
	// +optional
	Sentinel *ManagedSentinelSpec `json:"sentinel,omitempty"`
}

// ManagedSentinelSpec tunes the Sentinels of a managed Redis. There are always three of them, with a quorum of
// two: two Sentinels must agree that the primary is down before one of them, elected by a majority, promotes
// a replica.
type ManagedSentinelSpec struct {
	// DownAfter is how long the primary must fail to answer before a Sentinel considers it down
	// (down-after-milliseconds). It is most of the time a failover takes; shorter detects a dead primary
	// sooner, but a primary that stalls longer than this (a slow fork, a long command) is failed over.
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(h|m|s|ms|us|ns))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('10m')",message="spec.redis.managed.sentinel.downAfter must be between 1s and 10m"
	// +optional
	DownAfter metav1.Duration `json:"downAfter,omitzero"`

	// FailoverTimeout bounds one failover attempt (failover-timeout): a failover that has not completed in
	// this time is abandoned, and the same primary is not failed over again before twice this time.
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(h|m|s|ms|us|ns))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('1h')",message="spec.redis.managed.sentinel.failoverTimeout must be between 10s and 1h"
	// +optional
	FailoverTimeout metav1.Duration `json:"failoverTimeout,omitzero"`

	// Resources of each Sentinel container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`
}

// RedisPersistenceSpec describes the volumes of a managed Redis.
//
// +kubebuilder:validation:XValidation:rule="self.?enabled.orValue(true) || !has(self.storageClass)",message="spec.redis.managed.persistence.storageClass is only allowed when spec.redis.managed.persistence.enabled is not false",fieldPath=.storageClass
type RedisPersistenceSpec struct {
	// Enabled turns persistence on or off. Unset, the operator decides: on when spec.redis.adapter is streams
	// and connection state recovery is on (the defaults), off otherwise. Changing the outcome recreates the
	// Redis StatefulSet (its volume claims cannot change) and restarts its pods one at a time.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// Size of each Redis pod's volume.
	// +kubebuilder:default="1Gi"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).isGreaterThan(quantity('0'))",message="spec.redis.managed.persistence.size must be greater than zero"
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`

	// StorageClass of the claims; unset uses the cluster's default StorageClass.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	StorageClass *string `json:"storageClass,omitempty"`
}

// ManagedRedisTLSSpec configures TLS for a managed Redis.
//
// +kubebuilder:validation:XValidation:rule="self.enabled || !has(self.certificateSecretRef)",message="spec.redis.managed.tls.certificateSecretRef is only allowed when spec.redis.managed.tls.enabled is true",fieldPath=.certificateSecretRef
type ManagedRedisTLSSpec struct {
	// Enabled serves Redis and the Sentinels on TLS ports only (tls-port, port 0, tls-replication).
	Enabled bool `json:"enabled"`

	// CertificateSecretRef names a kubernetes.io/tls Secret in the same namespace with tls.crt, tls.key and
	// ca.crt (what cert-manager writes), whose certificate is valid for the Redis and Sentinel pod names
	// (*.<name>-redis.<namespace>.svc, *.<name>-redis-sentinel.<namespace>.svc) and the Service name
	// <name>-redis.<namespace>.svc. Unset, the operator generates a CA and a server certificate once, into a
	// Secret <name>-redis-tls it owns (valid 10 years, not rotated).
	// +optional
	CertificateSecretRef *corev1.LocalObjectReference `json:"certificateSecretRef,omitempty"`
}

// RedisMode is the topology of an external Redis.
// +kubebuilder:validation:Enum=standalone;sentinel;cluster
type RedisMode string

// The Redis topologies.
const (
	// RedisModeStandalone is a single Redis server (or a proxy in front of one).
	RedisModeStandalone RedisMode = "standalone"
	// RedisModeSentinel is a Redis primary discovered through Sentinels.
	RedisModeSentinel RedisMode = "sentinel"
	// RedisModeCluster is Redis Cluster.
	RedisModeCluster RedisMode = "cluster"
)

// ExternalRedisSpec points the fleet at a Redis the user operates.
//
// +kubebuilder:validation:XValidation:rule="self.?mode.orValue('standalone') != 'sentinel' || (has(self.sentinelMasterName) && size(self.sentinelMasterName) > 0)",message="spec.redis.external.sentinelMasterName is required when spec.redis.external.mode is sentinel",fieldPath=.sentinelMasterName
// +kubebuilder:validation:XValidation:rule="self.?mode.orValue('standalone') == 'sentinel' || !has(self.sentinelMasterName)",message="spec.redis.external.sentinelMasterName is only allowed when spec.redis.external.mode is sentinel",fieldPath=.sentinelMasterName
// +kubebuilder:validation:XValidation:rule="self.?mode.orValue('standalone') != 'standalone' || size(self.addresses) == 1",message="spec.redis.external.addresses must have exactly one entry when spec.redis.external.mode is standalone",fieldPath=.addresses
// +kubebuilder:validation:XValidation:rule="self.?mode.orValue('standalone') != 'cluster' || self.?database.orValue(0) == 0",message="spec.redis.external.database must be 0 when spec.redis.external.mode is cluster",fieldPath=.database
type ExternalRedisSpec struct {
	// Mode is the Redis topology.
	// +kubebuilder:default=standalone
	// +optional
	Mode RedisMode `json:"mode,omitempty"`

	// Addresses are host:port pairs: the server (standalone), the Sentinels (sentinel) or seed nodes (cluster).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=261
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9.:\[\]-]+:[0-9]{1,5}$`
	// +listType=atomic
	Addresses []string `json:"addresses"`

	// SentinelMasterName is the name of the primary the Sentinels monitor (sentinel mode only).
	// +kubebuilder:validation:MaxLength=128
	// +optional
	SentinelMasterName string `json:"sentinelMasterName,omitempty"`

	// Database is the Redis logical database index (must be 0 in cluster mode).
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=15
	// +optional
	Database int32 `json:"database,omitempty"`

	// Username for Redis ACL authentication; empty uses the default user.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Username string `json:"username,omitempty"`

	// PasswordSecretKeyRef selects the key of a Secret in the same namespace holding the Redis password.
	// +optional
	PasswordSecretKeyRef *corev1.SecretKeySelector `json:"passwordSecretKeyRef,omitempty"`

	// TLS configures encrypted connections to Redis.
	// +optional
	TLS *RedisTLSSpec `json:"tls,omitempty"`
}

// RedisTLSSpec configures TLS to an external Redis; its presence turns TLS on.
type RedisTLSSpec struct {
	// CASecretKeyRef selects a Secret key holding the PEM CA bundle that signs the server certificate.
	// Empty uses the system roots.
	// +optional
	CASecretKeyRef *corev1.SecretKeySelector `json:"caSecretKeyRef,omitempty"`

	// ServerName overrides the name verified in the server certificate.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServerName string `json:"serverName,omitempty"`

	// InsecureSkipVerify disables certificate verification. For testing only.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}
