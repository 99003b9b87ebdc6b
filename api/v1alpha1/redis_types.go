package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// RedisSpec configures the Redis the runtime pods use as their Socket.IO adapter backend.
//
// +kubebuilder:validation:XValidation:rule="has(self.managed) != has(self.external)",message="spec.redis must set exactly one of spec.redis.managed or spec.redis.external"
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

	// Storage gives Redis a PersistentVolumeClaim. Without it Redis keeps its data in memory only, which is
	// enough for the pub/sub adapter.
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
