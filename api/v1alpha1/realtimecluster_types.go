package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RealtimeClusterSpec is the desired state of a Socket.IO fleet.
//
// By default a fleet runs the streams adapter with connection state recovery on, and keeps a disconnected
// client's session for spec.drain.preStopDelay + spec.drain.window + 30s (at least 2m): a client moved by a drain,
// a scale-down, a rollout or rebalancing comes back on another pod with its id, rooms and the broadcasts it missed.
//
// Connection state recovery is accepted only with the streams adapter (spec.redis.adapter: streams): the classic
// and sharded adapters relay packets but keep no session state another pod could restore, so recovery would be
// a silent no-op (the runtime refuses the combination at start too). Left unset, recovery follows the adapter:
// adapter: classic alone is a valid fleet without recovery. With the exactly-one rule of spec.redis, every
// RealtimeCluster uses Redis.
//
// +kubebuilder:validation:XValidation:rule="!self.?runtime.?connectionStateRecovery.?enabled.orValue(false) || self.?redis.?adapter.orValue('streams') == 'streams'",message="spec.runtime.connectionStateRecovery.enabled can be true only with spec.redis.adapter: streams: the classic and sharded adapters cannot recover sessions across pods, so reconnecting clients would silently get recovered: false; set spec.redis.adapter to streams, or set spec.runtime.connectionStateRecovery.enabled to false (or leave it unset)",fieldPath=.runtime.connectionStateRecovery.enabled
// +kubebuilder:validation:XValidation:rule="!self.?runtime.?connectionStateRecovery.?maxDisconnectionDuration.hasValue() || !self.runtime.connectionStateRecovery.?enabled.orValue(self.?redis.?adapter.orValue('streams') == 'streams') || duration(self.runtime.connectionStateRecovery.maxDisconnectionDuration) >= duration(self.?drain.?preStopDelay.orValue('5s')) + duration(self.?drain.?window.orValue('60s')) + duration('30s')",message="spec.runtime.connectionStateRecovery.maxDisconnectionDuration must be at least spec.drain.preStopDelay + spec.drain.window + 30s, or a client moved by a drain may come back after its session expired and lose its id, rooms and missed broadcasts; raise it, or leave it unset to derive it from spec.drain",fieldPath=.runtime.connectionStateRecovery.maxDisconnectionDuration
// +kubebuilder:validation:XValidation:rule="!self.?ingress.?enabled.orValue(false) || duration(self.ingress.?timeout.orValue('1h')) > duration(self.?runtime.?pingInterval.orValue('25s')) + duration(self.?runtime.?pingTimeout.orValue('20s'))",message="spec.ingress.timeout must be greater than spec.runtime.pingInterval + spec.runtime.pingTimeout, or the proxy closes idle connections between heartbeats",fieldPath=.ingress.timeout
type RealtimeClusterSpec struct {
	// Replicas is the number of runtime pods. It is the field the /scale subresource (kubectl scale, HPA, KEDA)
	// reads and writes; leave it out of applied manifests when an autoscaler owns it.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Image is the socketfleet-runtime container image. Empty means the operator's --runtime-image default.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`

	// ImagePullPolicy of the runtime container. Empty means the Kubernetes default for the image tag.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	ImagePullPolicy string `json:"imagePullPolicy,omitempty"`

	// ImagePullSecrets are Secrets in the same namespace used to pull the runtime (and managed Redis) images.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// Runtime holds the Socket.IO server settings written to the runtime config file.
	// +kubebuilder:default={}
	// +optional
	Runtime RuntimeSpec `json:"runtime,omitzero"`

	// Resources of the runtime container. Default: requests cpu 500m and memory 512Mi, limit memory 1Gi,
	// sized from the runtime's measured memory per client (docs/capacity.md); set all of it to change it.
	// +kubebuilder:default={requests:{cpu:"500m",memory:"512Mi"},limits:{memory:"1Gi"}}
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`

	// Pod overrides parts of the runtime pod template.
	// +optional
	Pod PodOverrides `json:"pod,omitzero"`

	// Redis configures the adapter backend that links the pods: exactly one of managed or external.
	// Defaults to a managed Redis.
	// +kubebuilder:default={managed:{}}
	// +optional
	Redis RedisSpec `json:"redis,omitzero"`

	// Paused stops every change the operator makes to the fleet while true: no child is applied or deleted (a
	// new image or setting waits), the runtime Deployment is paused (a rollout under way stops where it is), and
	// no scale-down, rebalancing or autoscaling step runs. The status keeps being reported, with the Paused
	// condition. Setting it back to false resumes from the current spec.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// Service configures the runtime Service: its type (ClusterIP, NodePort, LoadBalancer), annotations, traffic
	// policy and session affinity.
	// +optional
	Service ServiceSpec `json:"service,omitzero"`

	// Ingress exposes the fleet with sticky sessions through an Ingress or a Gateway API HTTPRoute.
	// +kubebuilder:default={}
	// +optional
	Ingress IngressSpec `json:"ingress,omitzero"`

	// Drain controls how a terminating pod hands its clients over to the rest of the fleet.
	// +kubebuilder:default={}
	// +optional
	Drain DrainSpec `json:"drain,omitzero"`

	// Autoscaling describes connection-count based autoscaling bounds.
	// +optional
	Autoscaling *AutoscalingSpec `json:"autoscaling,omitempty"`

	// Rebalance controls how connections are evened out after a scale-up: the most loaded pods shed
	// sessions so their clients reconnect to the emptier pods. On by default.
	// +kubebuilder:default={}
	// +optional
	Rebalance RebalanceSpec `json:"rebalance,omitzero"`

	// Rollout tunes rolling updates of the runtime Deployment (maxUnavailable is always 0).
	// +kubebuilder:default={}
	// +optional
	Rollout RolloutSpec `json:"rollout,omitzero"`

	// NetworkPolicy restricts who reaches the runtime pods' admin port and the managed Redis. On by default.
	// +kubebuilder:default={}
	// +optional
	NetworkPolicy NetworkPolicySpec `json:"networkPolicy,omitzero"`

	// AdminUI serves the namespace of the official Socket.IO admin UI (@socket.io/admin-ui 0.5) on every runtime
	// pod: log in with username and the password whose bcrypt hash the Secret key holds, then list and act on the
	// sockets of every pod. Off by default. The UI itself is served elsewhere (admin.socket.io or its npm
	// package); list its origin in spec.runtime.cors.origins with credentials: true.
	// +optional
	AdminUI *AdminUISpec `json:"adminUI,omitempty"`
}

// AdminUISpec configures the server side of the official Socket.IO admin UI.
//
// +kubebuilder:validation:XValidation:rule="!self.enabled || (has(self.username) && has(self.passwordHashSecretKeyRef))",message="spec.adminUI.enabled needs username and passwordHashSecretKeyRef (the Secret key holding the bcrypt hash of the password)"
type AdminUISpec struct {
	// Enabled creates the admin namespace on every runtime pod.
	Enabled bool `json:"enabled"`

	// Namespace is the admin namespace; it must not be one of the application's namespaces.
	// +kubebuilder:default="/admin"
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^/[^*?\[]*$`
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// Username the UI logs in with.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Username string `json:"username,omitempty"`

	// PasswordHashSecretKeyRef is the Secret key holding the bcrypt hash of the password (e.g. the output of
	// htpasswd -nbBC 10 "" PASSWORD | tr -d ':\n').
	// +optional
	PasswordHashSecretKeyRef *corev1.SecretKeySelector `json:"passwordHashSecretKeyRef,omitempty"`

	// ReadOnly lets the UI observe only: no emit, join, leave or disconnect.
	// +optional
	ReadOnly bool `json:"readOnly,omitempty"`
}

// DurationPattern is the regular expression every duration field of this API must match: a Go duration string
// made of whole-number parts, e.g. "25s", "1m30s", "500ms".
const DurationPattern = `^([0-9]+(h|m|s|ms|us|ns))+$`

// RealtimeClusterStatus is the observed state of a Socket.IO fleet, computed from its child objects.
type RealtimeClusterStatus struct {
	// ObservedGeneration is the metadata.generation this status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Progressing, Degraded, RedisReady, FleetObserved, RedisDegraded, Paused and Canary.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Replicas is the number of non-terminated runtime pods (what the /scale subresource reports).
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// ReadyReplicas is the number of runtime pods passing their readiness probe.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// UpdatedReplicas is the number of runtime pods running the current pod template.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`

	// Selector is the serialized label selector of the runtime pods, used by the /scale subresource (HPA, KEDA).
	// +optional
	Selector string `json:"selector,omitempty"`

	// ConnectedClients is the total number of connected Socket.IO clients across the fleet.
	// +optional
	ConnectedClients int64 `json:"connectedClients,omitempty"`

	// Endpoint is the URL clients connect to (the ingress host when exposed, the in-cluster Service otherwise).
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// ConfigHash is the hash of the runtime configuration the current pod template was rendered from.
	// +optional
	ConfigHash string `json:"configHash,omitempty"`

	// Recovery is the connection state recovery the runtime config asks the pods for, once the unset fields of
	// spec.runtime.connectionStateRecovery are derived from spec.redis.adapter and spec.drain.
	// +optional
	Recovery *RecoveryStatus `json:"recovery,omitempty"`

	// Fleet is the connection view of the runtime pods the operator reads from their /stats endpoints, and
	// the fleet operations under way (scale-down step, autoscaling decision).
	// +optional
	Fleet *FleetStatus `json:"fleet,omitempty"`

	// Canary is the canary rollout under way (spec.rollout.canary); absent when none is.
	// +optional
	Canary *CanaryStatus `json:"canary,omitempty"`
}

// RecoveryStatus is the effective connection state recovery of a RealtimeCluster, as written into the runtime
// config.
type RecoveryStatus struct {
	// Adapter is the Redis adapter of the runtime pods (spec.redis.adapter).
	// +optional
	Adapter RedisAdapter `json:"adapter,omitempty"`

	// Enabled is true when the pods restore the sessions of reconnecting clients:
	// spec.runtime.connectionStateRecovery.enabled, or, unset, whether the adapter is streams.
	Enabled bool `json:"enabled"`

	// MaxDisconnectionDuration is how long a disconnected client's session is kept (a Go duration string, only
	// when Enabled): spec.runtime.connectionStateRecovery.maxDisconnectionDuration, or, unset,
	// spec.drain.preStopDelay + spec.drain.window + 30s, at least 2m.
	// +optional
	MaxDisconnectionDuration string `json:"maxDisconnectionDuration,omitempty"`

	// Derived is true when MaxDisconnectionDuration was derived from spec.drain (the spec leaves it unset).
	// +optional
	Derived bool `json:"derived,omitempty"`
}

// Condition types set on RealtimeCluster status.
const (
	// ConditionReady is True when every desired runtime pod is ready on the current template and Redis is ready.
	ConditionReady = "Ready"
	// ConditionProgressing is True while a rollout or scale operation is under way.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when the fleet cannot reach the desired state without intervention.
	ConditionDegraded = "Degraded"
	// ConditionRedisReady is True when the Redis adapter backend is available.
	ConditionRedisReady = "RedisReady"
	// ConditionFleetObserved is True when every ready runtime pod answered its /stats poll; False names the
	// pods that did not.
	ConditionFleetObserved = "FleetObserved"
	// ConditionRedisDegraded is True when some runtime pods report that their Redis link is down (the message
	// names them): they stay ready and serve their own clients, but broadcasts between them and the other
	// pods are cut off. It does not make the RealtimeCluster unready.
	ConditionRedisDegraded = "RedisDegraded"
	// ConditionPaused is True while spec.paused stops the operator's changes; False (reason Resumed) once it
	// resumed. Absent on a cluster that was never paused.
	ConditionPaused = "Paused"
)

// RealtimeCluster is a fleet of Socket.IO servers (socketfleet-runtime pods) with its Redis adapter backend,
// Services, sticky ingress and disruption budget.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=rtc,categories=socketfleet
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.replicas`
// +kubebuilder:printcolumn:name="Up-to-date",type=integer,JSONPath=`.status.updatedReplicas`,priority=1
// +kubebuilder:printcolumn:name="Connections",type=integer,JSONPath=`.status.connectedClients`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`,priority=1
// +kubebuilder:printcolumn:name="Recovery",type=string,JSONPath=`.status.recovery.maxDisconnectionDuration`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RealtimeCluster struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state.
	// +kubebuilder:default={}
	// +optional
	Spec RealtimeClusterSpec `json:"spec,omitzero"`

	// Status is the observed state, written by the operator.
	// +optional
	Status RealtimeClusterStatus `json:"status,omitzero"`
}

// RealtimeClusterList is a list of RealtimeCluster objects.
//
// +kubebuilder:object:root=true
type RealtimeClusterList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the RealtimeCluster objects.
	Items []RealtimeCluster `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RealtimeCluster{}, &RealtimeClusterList{})
}
