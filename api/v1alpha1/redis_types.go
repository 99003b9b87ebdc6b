package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// RedisSpec configures the Redis the runtime pods use as their Socket.IO adapter backend.
//
// +kubebuilder:validation:XValidation:rule="has(self.managed) != has(self.external)",message="spec.redis must set exactly one of spec.redis.managed or spec.redis.external"
// +kubebuilder:validation:XValidation:rule="self.?adapter.orValue('streams') != 'sharded' || self.?external.?mode.orValue('standalone') != 'cluster'",message="spec.redis.adapter cannot be sharded when spec.redis.external.mode is cluster: one subscriber connection cannot follow every shard; use classic or streams",fieldPath=.adapter
// +kubebuilder:validation:XValidation:rule="!has(self.streams) || self.?adapter.orValue('streams') == 'streams'",message="spec.redis.streams is only allowed when spec.redis.adapter is streams",fieldPath=.streams
// +kubebuilder:validation:XValidation:rule="!self.?streams.?useShardedPubSub.orValue(false) || self.?external.?mode.orValue('standalone') != 'cluster'",message="spec.redis.streams.useShardedPubSub cannot be true when spec.redis.external.mode is cluster: one subscriber connection cannot follow every shard",fieldPath=.streams.useShardedPubSub
type RedisSpec struct {
	// Managed makes the operator run a single Redis instance next to the fleet, with a generated password.
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

// ManagedRedisSpec describes the Redis instance the operator runs.
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

	// Storage gives Redis a PersistentVolumeClaim and turns on its append-only file. Without it Redis keeps its
	// data in memory only, which is enough for the classic and sharded adapters (they keep nothing in Redis);
	// with the streams adapter a restart of the Redis pod then loses the stream and the sessions kept for
	// connection state recovery.
	// +optional
	Storage *RedisStorageSpec `json:"storage,omitempty"`
}

// RedisStorageSpec describes the PersistentVolumeClaim of a managed Redis.
type RedisStorageSpec struct {
	// Size of the volume.
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).isGreaterThan(quantity('0'))",message="spec.redis.managed.storage.size must be greater than zero"
	Size resource.Quantity `json:"size"`

	// StorageClassName of the claim; empty uses the cluster default.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
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
