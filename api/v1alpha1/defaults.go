package v1alpha1

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Default values of the API. They mirror the +kubebuilder:default markers (the API server applies those);
// SetDefaults applies the same values in Go for objects that did not pass through an API server, such as
// test fixtures. An envtest test checks that both agree. Fields without a schema default whose value is derived
// from the rest of the spec (connection state recovery) are resolved by RealtimeClusterSpec.EffectiveRecovery.
const (
	DefaultReplicas                = int32(2)
	DefaultPath                    = "/socket.io/"
	DefaultPingInterval            = 25 * time.Second
	DefaultPingTimeout             = 20 * time.Second
	DefaultMaxHTTPBufferSize       = int64(1000000)
	DefaultDrainWindow             = 60 * time.Second
	DefaultPreStopDelay            = 5 * time.Second
	DefaultRedisImage              = "redis:7.4-alpine"
	DefaultRedisKeyPrefix          = "socket.io"
	DefaultRedisAdapter            = RedisAdapterStreams
	DefaultRedisStreamName         = "socket.io"
	DefaultRedisStreamCount        = int32(1)
	DefaultRedisStreamMaxLen       = int32(10000)
	DefaultRedisSessionKeyPrefix   = "sio:session:"
	DefaultRedisReplicas           = int32(1)
	DefaultRedisPersistenceSize    = "1Gi"
	DefaultSentinelDownAfter       = 5 * time.Second
	DefaultSentinelFailoverTimeout = 60 * time.Second
	DefaultStickyCookieName        = "socketfleet-route"
	DefaultStickyCookieMaxAge      = time.Hour
	DefaultIngressTimeout          = time.Hour
	DefaultMaxSurge                = "25%"
	DefaultAutoscalingMinReplicas  = int32(2)
	DefaultAutoscalingMaxReplicas  = int32(10)
	// DefaultTargetConnectionsPerPod is half of what a pod with the default resources holds (docs/capacity.md):
	// when one of two pods drains, the other takes its clients and stays within its memory limit.
	DefaultTargetConnectionsPerPod = int32(50000)
	DefaultDrainMaxConcurrent      = int32(1)
	DefaultRebalanceThreshold      = int32(20)
	DefaultRebalanceMinSessions    = int32(10)
	DefaultRebalanceCooldown       = 60 * time.Second
	DefaultAdminUINamespace        = "/admin"
	// The runtime container's default resources (docs/capacity.md): the memory limit holds about 100,000 idle
	// WebSocket clients, the request the default autoscaling target (50,000) with room for the GC; no CPU
	// limit (throttling a Socket.IO server delays every heartbeat and broadcast).
	DefaultRuntimeCPURequest    = "500m"
	DefaultRuntimeMemoryRequest = "512Mi"
	DefaultRuntimeMemoryLimit   = "1Gi"
)

// DefaultRuntimeResources returns the runtime container's default resources.
func DefaultRuntimeResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(DefaultRuntimeCPURequest),
			corev1.ResourceMemory: resource.MustParse(DefaultRuntimeMemoryRequest),
		},
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(DefaultRuntimeMemoryLimit)},
	}
}

// SetDefaults fills every unset field that has a default, as the API server does for a stored object. It is
// meant for objects that never went through an API server (fixtures, tests); the controller works on
// server-defaulted objects.
func (in *RealtimeCluster) SetDefaults() {
	s := &in.Spec
	if s.Replicas == nil {
		r := DefaultReplicas
		s.Replicas = &r
	}
	s.Runtime.setDefaults()
	if s.Resources.Requests == nil && s.Resources.Limits == nil && s.Resources.Claims == nil {
		s.Resources = DefaultRuntimeResources()
	}
	if s.Redis == (RedisSpec{}) {
		s.Redis.Managed = &ManagedRedisSpec{}
	}
	s.Redis.setDefaults()
	s.Ingress.setDefaults()
	s.Drain.setDefaults()
	if s.Autoscaling != nil {
		s.Autoscaling.setDefaults()
	}
	s.Rebalance.setDefaults()
	if s.AdminUI != nil && s.AdminUI.Namespace == "" {
		s.AdminUI.Namespace = DefaultAdminUINamespace
	}
	if s.NetworkPolicy.Enabled == nil {
		yes := true
		s.NetworkPolicy.Enabled = &yes
	}
	if s.Rollout.MaxSurge == nil {
		m := intstr.FromString(DefaultMaxSurge)
		s.Rollout.MaxSurge = &m
	}
	if c := s.Rollout.Canary; c != nil {
		c.setDefaults()
	}
}

func defaultDuration(d *metav1.Duration, v time.Duration) {
	if d.Duration == 0 {
		d.Duration = v
	}
}

func (r *RuntimeSpec) setDefaults() {
	if r.Path == "" {
		r.Path = DefaultPath
	}
	if len(r.Transports) == 0 {
		r.Transports = []Transport{TransportPolling, TransportWebSocket}
	}
	defaultDuration(&r.PingInterval, DefaultPingInterval)
	defaultDuration(&r.PingTimeout, DefaultPingTimeout)
	if r.MaxHTTPBufferSize == 0 {
		r.MaxHTTPBufferSize = DefaultMaxHTTPBufferSize
	}
	if r.ConnectionStateRecovery.SkipMiddlewares == nil {
		yes := true
		r.ConnectionStateRecovery.SkipMiddlewares = &yes
	}
}

func (r *RedisSpec) setDefaults() {
	if r.KeyPrefix == "" {
		r.KeyPrefix = DefaultRedisKeyPrefix
	}
	if r.Adapter == "" {
		r.Adapter = DefaultRedisAdapter
	}
	if r.Streams != nil {
		r.Streams.setDefaults()
	}
	if r.Managed != nil {
		if r.Managed.Image == "" {
			r.Managed.Image = DefaultRedisImage
		}
		if r.Managed.Replicas == 0 {
			r.Managed.Replicas = DefaultRedisReplicas
		}
		if r.Managed.Persistence == nil {
			r.Managed.Persistence = &RedisPersistenceSpec{}
		}
		if r.Managed.Persistence.Size == nil {
			size := resource.MustParse(DefaultRedisPersistenceSize)
			r.Managed.Persistence.Size = &size
		}
		if s := r.Managed.Sentinel; s != nil {
			defaultDuration(&s.DownAfter, DefaultSentinelDownAfter)
			defaultDuration(&s.FailoverTimeout, DefaultSentinelFailoverTimeout)
		}
	}
	if r.External != nil {
		if r.External.Mode == "" {
			r.External.Mode = RedisModeStandalone
		}
	}
}

func (s *RedisStreamsSpec) setDefaults() {
	if s.StreamName == "" {
		s.StreamName = DefaultRedisStreamName
	}
	if s.StreamCount == 0 {
		s.StreamCount = DefaultRedisStreamCount
	}
	if s.MaxLen == 0 {
		s.MaxLen = DefaultRedisStreamMaxLen
	}
	if s.SessionKeyPrefix == "" {
		s.SessionKeyPrefix = DefaultRedisSessionKeyPrefix
	}
}

func (i *IngressSpec) setDefaults() {
	if i.Controller == "" {
		i.Controller = IngressControllerNGINX
	}
	if i.Stickiness == "" {
		i.Stickiness = IngressStickinessNone
	}
	if i.StickyCookie.Name == "" {
		i.StickyCookie.Name = DefaultStickyCookieName
	}
	defaultDuration(&i.StickyCookie.MaxAge, DefaultStickyCookieMaxAge)
	defaultDuration(&i.Timeout, DefaultIngressTimeout)
}

func (d *DrainSpec) setDefaults() {
	if d.PreStopDelay == nil {
		d.PreStopDelay = &metav1.Duration{Duration: DefaultPreStopDelay}
	}
	defaultDuration(&d.Window, DefaultDrainWindow)
	if d.MaxConcurrent == 0 {
		d.MaxConcurrent = DefaultDrainMaxConcurrent
	}
}

func (a *AutoscalingSpec) setDefaults() {
	if a.MinReplicas == 0 {
		a.MinReplicas = DefaultAutoscalingMinReplicas
	}
	if a.MaxReplicas == 0 {
		a.MaxReplicas = DefaultAutoscalingMaxReplicas
	}
	if a.TargetConnectionsPerPod == 0 {
		a.TargetConnectionsPerPod = DefaultTargetConnectionsPerPod
	}
	if a.Mode == "" {
		a.Mode = AutoscalingModeNative
	}
}

func (r *RebalanceSpec) setDefaults() {
	if r.Enabled == nil {
		yes := true
		r.Enabled = &yes
	}
	if r.ThresholdPercent == 0 {
		r.ThresholdPercent = DefaultRebalanceThreshold
	}
	if r.MinSessions == 0 {
		r.MinSessions = DefaultRebalanceMinSessions
	}
	defaultDuration(&r.Cooldown, DefaultRebalanceCooldown)
}

func (c *CanarySpec) setDefaults() {
	if c.Replicas == nil {
		r := intstr.FromInt32(DefaultCanaryReplicas)
		c.Replicas = &r
	}
	if c.PauseSeconds == nil {
		p := DefaultCanaryPauseSeconds
		c.PauseSeconds = &p
	}
	if c.Analysis.ReadyTimeoutSeconds == 0 {
		c.Analysis.ReadyTimeoutSeconds = DefaultCanaryReadyTimeoutSeconds
	}
}
