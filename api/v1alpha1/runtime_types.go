package v1alpha1

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Transport is an Engine.IO transport the runtime accepts.
// +kubebuilder:validation:Enum=polling;websocket
type Transport string

// The Engine.IO transports.
const (
	// TransportPolling is HTTP long-polling; it needs sticky sessions when there is more than one pod.
	TransportPolling Transport = "polling"
	// TransportWebSocket is WebSocket.
	TransportWebSocket Transport = "websocket"
)

// RuntimeSpec holds the Socket.IO server settings the operator writes into the runtime config file.
type RuntimeSpec struct {
	// Path is the HTTP path Socket.IO is served under; it starts and ends with "/".
	// +kubebuilder:default="/socket.io/"
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^/([A-Za-z0-9._~-]+/)*$')",message="spec.runtime.path must start and end with '/' and contain only letters, digits and . _ ~ - between slashes (e.g. /socket.io/)"
	// +optional
	Path string `json:"path,omitempty"`

	// Transports the runtime accepts. With only websocket, clients must also be configured with
	// transports: ["websocket"], and sticky sessions are no longer required.
	// +kubebuilder:default={polling,websocket}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +listType=set
	// +optional
	Transports []Transport `json:"transports,omitempty"`

	// PingInterval is the Engine.IO heartbeat interval.
	// +kubebuilder:default="25s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(h|m|s|ms|us|ns))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('10m')",message="spec.runtime.pingInterval must be between 1s and 10m"
	// +optional
	PingInterval metav1.Duration `json:"pingInterval,omitzero"`

	// PingTimeout is how long the server waits for a heartbeat reply before closing the session.
	// +kubebuilder:default="20s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(h|m|s|ms|us|ns))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('10m')",message="spec.runtime.pingTimeout must be between 1s and 10m"
	// +optional
	PingTimeout metav1.Duration `json:"pingTimeout,omitzero"`

	// MaxHTTPBufferSize is the largest message or long-polling payload, in bytes.
	// +kubebuilder:default=1000000
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=104857600
	// +optional
	MaxHTTPBufferSize int64 `json:"maxHttpBufferSize,omitempty"`

	// Parser is the Socket.IO parser every client must use: default (socket.io-parser, JSON text with binary
	// attachments) or msgpack (socket.io-msgpack-parser 3.x, configured on the clients with
	// parser: require("socket.io-msgpack-parser")). A client of the other parser is disconnected, logged and counted
	// in socketfleet_parser_mismatch_total. Empty means default.
	// +kubebuilder:validation:Enum=default;msgpack
	// +optional
	Parser string `json:"parser,omitempty"`

	// CORS configures cross-origin access for browser clients served from another origin.
	// +optional
	CORS CORSSpec `json:"cors,omitzero"`

	// ConnectionStateRecovery restores a client's id, rooms and missed packets after a short disconnection.
	// +kubebuilder:default={}
	// +optional
	ConnectionStateRecovery ConnectionStateRecoverySpec `json:"connectionStateRecovery,omitzero"`

	// MaxConnectionsPerPod caps concurrent sessions per pod; new handshakes beyond it get HTTP 503.
	// 0 means unlimited.
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxConnectionsPerPod int32 `json:"maxConnectionsPerPod,omitempty"`
}

// CORSSpec configures cross-origin resource sharing.
//
// +kubebuilder:validation:XValidation:rule="!has(self.credentials) || !self.credentials || !has(self.origins) || !self.origins.exists(o, o == '*')",message="spec.runtime.cors.credentials cannot be true when spec.runtime.cors.origins contains \"*\"; list the origins explicitly"
type CORSSpec struct {
	// Origins allowed to connect, e.g. https://app.example.com; "*" allows any origin. Empty disables CORS.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=set
	// +optional
	Origins []string `json:"origins,omitempty"`

	// Credentials sends Access-Control-Allow-Credentials so browsers include cookies (e.g. the sticky cookie).
	// +optional
	Credentials bool `json:"credentials,omitempty"`
}

// ConnectionStateRecoverySpec configures Socket.IO connection state recovery: a client that reconnects within
// MaxDisconnectionDuration, on any pod, gets its socket id, rooms and data back and the broadcasts it missed.
//
// Both Enabled and MaxDisconnectionDuration have no schema default on purpose: unset means "derived from the rest
// of the spec", so that a RealtimeCluster applied with defaults recovers its clients across drains, and changing
// spec.redis.adapter or spec.drain carries the recovery settings along. The operator writes the values it derived
// into the runtime config and into status.recovery.
type ConnectionStateRecoverySpec struct {
	// Enabled turns connection state recovery on or off. Unset: on when spec.redis.adapter is streams (the
	// default), off with classic or sharded. true is accepted only with spec.redis.adapter: streams, the one Redis
	// adapter that keeps sessions and packets where every pod can restore them.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// MaxDisconnectionDuration is how long the state of a disconnected client is kept. Unset: derived from the
	// drain settings, spec.drain.preStopDelay + spec.drain.window + 30s and never less than 2m, so a client closed
	// by a drain, even one whose reconnects land on other draining pods for as long as a drain lasts, finds its
	// session. With recovery on, an explicit value below spec.drain.preStopDelay + spec.drain.window + 30s is
	// refused.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(h|m|s|ms|us|ns))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('24h')",message="spec.runtime.connectionStateRecovery.maxDisconnectionDuration must be at most 24h"
	// +optional
	MaxDisconnectionDuration *metav1.Duration `json:"maxDisconnectionDuration,omitempty"`

	// SkipMiddlewares skips namespace middlewares when a session is recovered.
	// +kubebuilder:default=true
	// +optional
	SkipMiddlewares *bool `json:"skipMiddlewares,omitempty"`
}

// PodOverrides are additions to the runtime pod template.
//
// +kubebuilder:validation:XValidation:rule="!has(self.labels) || !self.labels.exists(k, k in ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/component'])",message="spec.pod.labels must not set app.kubernetes.io/name, app.kubernetes.io/instance or app.kubernetes.io/component: the operator uses them to select the pods",fieldPath=.labels
type PodOverrides struct {
	// Labels added to the runtime pods.
	// +kubebuilder:validation:MaxProperties=64
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// Annotations added to the runtime pods.
	// +kubebuilder:validation:MaxProperties=64
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// NodeSelector constrains the runtime pods to nodes with these labels.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations of the runtime pods.
	// +listType=atomic
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// Affinity of the runtime pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// TopologySpreadConstraints of the runtime pods. When empty, the operator spreads pods across nodes
	// (kubernetes.io/hostname, ScheduleAnyway).
	// +listType=atomic
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// PriorityClassName of the runtime pods.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// Env adds environment variables to the runtime container (after the ones the operator sets).
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
}

// DrainSpec controls how a terminating pod hands its clients over to the rest of the fleet.
//
// +kubebuilder:validation:XValidation:rule="duration(self.?preStopDelay.orValue('5s')) + duration(self.?window.orValue('60s')) <= duration('3590s')",message="spec.drain.preStopDelay + spec.drain.window must be at most 59m50s: the grace period (preStopDelay + window + 10s) is limited to 1h"
// +kubebuilder:validation:XValidation:rule="!has(self.terminationGracePeriod) || duration(self.terminationGracePeriod) > duration(self.?preStopDelay.orValue('5s')) + duration(self.?window.orValue('60s'))",message="spec.drain.terminationGracePeriod must be greater than spec.drain.preStopDelay + spec.drain.window, or pods are killed before the drain finishes",fieldPath=.terminationGracePeriod
type DrainSpec struct {
	// Window is the time a terminating pod spreads the closing of its sessions over, so clients reconnect to
	// other pods gradually instead of all at once.
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(h|m|s|ms|us|ns))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="spec.drain.window must be at least 1s"
	// +optional
	Window metav1.Duration `json:"window,omitzero"`

	// RatePerSecond caps how many sessions a pod closes per second while draining or shedding.
	// 0 derives the rate from the window (sessions / window).
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +optional
	RatePerSecond int32 `json:"ratePerSecond,omitempty"`

	// PreStopDelay is how long a terminating pod keeps serving before it starts draining, so that the
	// EndpointSlice and ingress updates removing it land first. 0 disables the preStop hook.
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(h|m|s|ms|us|ns))+$`
	// +optional
	PreStopDelay *metav1.Duration `json:"preStopDelay,omitempty"`

	// TerminationGracePeriod overrides the pod grace period, which defaults to preStopDelay + window + 10s.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(h|m|s|ms|us|ns))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('1h')",message="spec.drain.terminationGracePeriod must be at most 1h"
	// +optional
	TerminationGracePeriod *metav1.Duration `json:"terminationGracePeriod,omitempty"`

	// MaxConcurrent is how many pods may drain at the same time when the fleet scales down: the operator
	// lowers the Deployment's replicas by at most this many at once and waits until those pods are gone (or
	// their grace period expired) before the next step.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MaxConcurrent int32 `json:"maxConcurrent,omitempty"`
}

// AutoscalingSpec holds the connection-count autoscaling bounds.
//
// +kubebuilder:validation:XValidation:rule="self.?minReplicas.orValue(2) <= self.?maxReplicas.orValue(10)",message="spec.autoscaling.minReplicas must be less than or equal to spec.autoscaling.maxReplicas",fieldPath=.minReplicas
type AutoscalingSpec struct {
	// Enabled turns autoscaling on.
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// MinReplicas is the lower bound of the replica count.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +optional
	MinReplicas int32 `json:"minReplicas,omitempty"`

	// MaxReplicas is the upper bound of the replica count.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MaxReplicas int32 `json:"maxReplicas,omitempty"`

	// TargetConnectionsPerPod is the average number of connected clients per pod to aim for.
	// +kubebuilder:default=5000
	// +kubebuilder:validation:Minimum=1
	// +optional
	TargetConnectionsPerPod int32 `json:"targetConnectionsPerPod,omitempty"`

	// Mode selects who computes the replica count. native (default): the operator itself, from the
	// connection counts it reads from the pods, with the HPA algorithm; it writes spec.replicas through the
	// /scale subresource. hpa: the operator creates an autoscaling/v2 HorizontalPodAutoscaler on the
	// socketfleet_connected_clients Pods metric (needs a custom-metrics adapter such as prometheus-adapter).
	// In both modes scale-downs go through the connection-aware drain path.
	// +kubebuilder:default=native
	// +kubebuilder:validation:Enum=native;hpa
	// +optional
	Mode AutoscalingMode `json:"mode,omitempty"`

	// Behavior configures the scale-up and scale-down rules (stabilization windows, rate policies, select
	// policy, tolerance) with the fields and defaults of autoscaling/v2 HorizontalPodAutoscaler behavior.
	// It applies to both modes.
	// +optional
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
}

// AutoscalingMode selects who computes the replica count of an autoscaled RealtimeCluster.
type AutoscalingMode string

const (
	// AutoscalingModeNative means the operator computes the replicas itself and writes them through /scale.
	AutoscalingModeNative AutoscalingMode = "native"
	// AutoscalingModeHPA means the operator creates a HorizontalPodAutoscaler targeting the RealtimeCluster.
	AutoscalingModeHPA AutoscalingMode = "hpa"
)

// RolloutSpec tunes rolling updates of the runtime Deployment.
type RolloutSpec struct {
	// MaxSurge is how many extra pods a rollout may create at once (a number or a percentage).
	// maxUnavailable is always 0 so serving capacity never drops during a rollout.
	// +kubebuilder:default="25%"
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^[1-9][0-9]?%$|^100%$')",message="spec.rollout.maxSurge must be a positive number of pods or a percentage between 1% and 100%"
	// +optional
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`

	// MinReadySeconds is how long a new pod must be ready before it counts as available.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	// +optional
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
}
