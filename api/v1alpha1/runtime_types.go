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

	// Auth checks each connection before it joins a namespace: a JWT in the handshake's auth.token, and/or an
	// HTTP webhook. A refused client gets connect_error with the runtime's message.
	// +optional
	Auth *RuntimeAuthSpec `json:"auth,omitempty"`

	// Publish serves the HTTP publish API (POST /v1/emit) on the public port, behind a bearer token read from a
	// Secret.
	// +optional
	Publish *RuntimePublishSpec `json:"publish,omitempty"`

	// Webhook POSTs the client events matching events to an HTTP backend; its answer is the acknowledgement.
	// +optional
	Webhook *RuntimeWebhookSpec `json:"webhook,omitempty"`
}

// FileSource is one key of a Secret or a ConfigMap in the RealtimeCluster's namespace. The operator mounts it
// read-only into the runtime pods, writes its path into the runtime config, and rolls the pods when its content
// changes.
//
// +kubebuilder:validation:XValidation:rule="has(self.secretKeyRef) != has(self.configMapKeyRef)",message="set exactly one of secretKeyRef or configMapKeyRef"
// +kubebuilder:validation:XValidation:rule="!self.?secretKeyRef.optional.orValue(false) && !self.?configMapKeyRef.optional.orValue(false)",message="optional must not be true: the runtime cannot start without the file"
type FileSource struct {
	// SecretKeyRef selects a key of a Secret.
	// +optional
	SecretKeyRef *corev1.SecretKeySelector `json:"secretKeyRef,omitempty"`

	// ConfigMapKeyRef selects a key of a ConfigMap (for what is not secret, such as a public key).
	// +optional
	ConfigMapKeyRef *corev1.ConfigMapKeySelector `json:"configMapKeyRef,omitempty"`
}

// JWTAlgorithm is a JWT signature algorithm the runtime verifies.
// +kubebuilder:validation:Enum=HS256;RS256;ES256
type JWTAlgorithm string

// RuntimeAuthSpec configures connect authentication, applied to every namespace.
type RuntimeAuthSpec struct {
	// JWT verifies the JWT a client sends as auth.token in its CONNECT packet.
	// +optional
	JWT *JWTAuthSpec `json:"jwt,omitempty"`

	// Webhook asks a backend to accept each connection (a 2xx answer accepts it).
	// +optional
	Webhook *AuthWebhookSpec `json:"webhook,omitempty"`
}

// JWTAuthSpec configures the verification of the clients' JWTs.
//
// +kubebuilder:validation:XValidation:rule="self.algorithm != 'HS256' || has(self.key.secretKeyRef)",message="spec.runtime.auth.jwt.key must be a secretKeyRef with algorithm HS256: the shared secret can sign tokens",fieldPath=.key
type JWTAuthSpec struct {
	// Algorithm is the signature algorithm tokens must use.
	Algorithm JWTAlgorithm `json:"algorithm"`

	// Key is the HS256 shared secret, or the PEM public key for RS256 and ES256.
	Key FileSource `json:"key"`

	// Issuer, when set, must equal the tokens' iss claim.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Issuer string `json:"issuer,omitempty"`

	// Audience, when set, must be in the tokens' aud claim.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Audience string `json:"audience,omitempty"`

	// Leeway is the clock skew tolerated on exp, nbf and iat.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(h|m|s|ms|us|ns))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('10m')",message="spec.runtime.auth.jwt.leeway must be at most 10m"
	// +optional
	Leeway *metav1.Duration `json:"leeway,omitempty"`
}

// AuthWebhookSpec configures the connect auth webhook.
type AuthWebhookSpec struct {
	// URL receives one POST per connection attempt.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^https?://[^/?#]+')",message="spec.runtime.auth.webhook.url must be an http or https URL with a host"
	URL string `json:"url"`

	// Timeout bounds one call; unset: the runtime's 5s.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(h|m|s|ms|us|ns))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms') && duration(self) <= duration('1m')",message="spec.runtime.auth.webhook.timeout must be between 1ms and 1m"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// RuntimePublishSpec turns the HTTP publish API on.
type RuntimePublishSpec struct {
	// TokenSecretKeyRef is the Secret key holding the bearer token POST /v1/emit requires (a trailing newline
	// is trimmed).
	TokenSecretKeyRef corev1.SecretKeySelector `json:"tokenSecretKeyRef"`
}

// RuntimeWebhookSpec configures the event webhook.
type RuntimeWebhookSpec struct {
	// URL receives the matching client events as JSON POSTs.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^https?://[^/?#]+')",message="spec.runtime.webhook.url must be an http or https URL with a host"
	URL string `json:"url"`

	// Events are the event name patterns forwarded (path.Match syntax).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	// +listType=set
	Events []string `json:"events"`

	// Timeout bounds one call; past it the client gets an error acknowledgement. Unset: the runtime's 5s.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(h|m|s|ms|us|ns))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms') && duration(self) <= duration('5m')",message="spec.runtime.webhook.timeout must be between 1ms and 5m"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// TokenSecretKeyRef is the Secret key holding a bearer token sent in the Authorization header of each call.
	// +optional
	TokenSecretKeyRef *corev1.SecretKeySelector `json:"tokenSecretKeyRef,omitempty"`
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

// PodOverrides are additions to the runtime pod template, as typed fields with the Kubernetes types users know
// from a PodSpec. The rules below refuse what would break the operator's contract with the runtime container:
// its ports, its config and secret mounts, the environment variables the operator sets and its name.
//
// +kubebuilder:validation:XValidation:rule="!has(self.labels) || !self.labels.exists(k, k in ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/component'])",message="spec.pod.labels must not set app.kubernetes.io/name, app.kubernetes.io/instance or app.kubernetes.io/component: the operator uses them to select the pods",fieldPath=.labels
// +kubebuilder:validation:XValidation:rule="!has(self.env) || !self.env.exists(e, e.name in ['SOCKETFLEET_PORT', 'SOCKETFLEET_CONFIG', 'SOCKETFLEET_PATH', 'SOCKETFLEET_HOST', 'POD_NAME', 'POD_NAMESPACE', 'POD_IP', 'SOCKETFLEET_REDIS_URL', 'SOCKETFLEET_REDIS_MODE', 'SOCKETFLEET_REDIS_ADDRESSES', 'SOCKETFLEET_REDIS_SENTINEL_MASTER', 'SOCKETFLEET_REDIS_PASSWORD_FILE', 'SOCKETFLEET_REDIS_ADAPTER', 'SOCKETFLEET_ADMIN_PORT', 'SOCKETFLEET_ADMIN_TOKEN_FILE', 'SOCKETFLEET_ADMIN_BIND_ADDRESS', 'SOCKETFLEET_ADMIN_ALLOW_UNAUTHENTICATED'] || e.name.startsWith('SOCKETFLEET_DRAIN_') || e.name.startsWith('SOCKETFLEET_CLUSTER_'))",message="spec.pod.env must not set SOCKETFLEET_PORT, SOCKETFLEET_CONFIG, SOCKETFLEET_PATH, SOCKETFLEET_HOST, POD_NAME, POD_NAMESPACE, POD_IP, SOCKETFLEET_REDIS_URL, _MODE, _ADDRESSES, _SENTINEL_MASTER, _PASSWORD_FILE, _ADAPTER, SOCKETFLEET_ADMIN_PORT, _TOKEN_FILE, _BIND_ADDRESS, _ALLOW_UNAUTHENTICATED, SOCKETFLEET_DRAIN_* or SOCKETFLEET_CLUSTER_*: the operator sets them (use the matching spec fields; spec.ingress.stickiness for session forwarding)",fieldPath=.env
// +kubebuilder:validation:XValidation:rule="!has(self.volumes) || !self.volumes.exists(v, v.name in ['config', 'tmp', 'admin-token', 'redis-password', 'redis-tls'] || v.name.startsWith('socketfleet-'))",message="spec.pod.volumes must not be named config, tmp, admin-token, redis-password, redis-tls or socketfleet-*: the operator's volumes use these names",fieldPath=.volumes
// +kubebuilder:validation:XValidation:rule="!has(self.volumeMounts) || !self.volumeMounts.exists(m, m.mountPath in ['/etc/socketfleet', '/etc/socketfleet/', '/tmp', '/tmp/', '/var/run/socketfleet', '/var/run/socketfleet/'] || m.mountPath.startsWith('/etc/socketfleet/') || m.mountPath.startsWith('/var/run/socketfleet/'))",message="spec.pod.volumeMounts must not mount at /etc/socketfleet, /tmp or under /var/run/socketfleet: the operator mounts the runtime config and its secrets there",fieldPath=.volumeMounts
// +kubebuilder:validation:XValidation:rule="!has(self.initContainers) || self.initContainers.all(c, c.name != 'runtime')",message="spec.pod.initContainers must not use the name runtime: it is the operator's runtime container",fieldPath=.initContainers
// +kubebuilder:validation:XValidation:rule="!has(self.sidecars) || self.sidecars.all(c, c.name != 'runtime')",message="spec.pod.sidecars must not use the name runtime: it is the operator's runtime container",fieldPath=.sidecars
// +kubebuilder:validation:XValidation:rule="!has(self.containers) || self.containers.all(c, c.name != 'runtime')",message="spec.pod.containers must not use the name runtime: it is the operator's runtime container",fieldPath=.containers
// +kubebuilder:validation:XValidation:rule="!has(self.initContainers) || self.initContainers.all(c, !has(c.ports) || c.ports.all(p, p.containerPort != 3000 && p.containerPort != 8081))",message="spec.pod.initContainers must not declare port 3000 or 8081: the runtime container serves them (the containers of a pod share its network)",fieldPath=.initContainers
// +kubebuilder:validation:XValidation:rule="!has(self.sidecars) || self.sidecars.all(c, !has(c.ports) || c.ports.all(p, p.containerPort != 3000 && p.containerPort != 8081))",message="spec.pod.sidecars must not declare port 3000 or 8081: the runtime container serves them (the containers of a pod share its network)",fieldPath=.sidecars
// +kubebuilder:validation:XValidation:rule="!has(self.containers) || self.containers.all(c, !has(c.ports) || c.ports.all(p, p.containerPort != 3000 && p.containerPort != 8081))",message="spec.pod.containers must not declare port 3000 or 8081: the runtime container serves them (the containers of a pod share its network)",fieldPath=.containers
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

	// TopologySpreadConstraints of the runtime pods. When empty, the operator spreads the pods across nodes
	// (kubernetes.io/hostname, ScheduleAnyway) and, unless affinity sets podAntiAffinity, prefers zones with fewer
	// of them (a preferred pod anti-affinity on topology.kubernetes.io/zone), which still spreads by node on
	// clusters whose nodes carry no zone label.
	// +listType=atomic
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// PriorityClassName of the runtime pods.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// Env adds environment variables to the runtime container (after the ones the operator sets, which it must
	// not repeat).
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`

	// EnvFrom adds the keys of ConfigMaps or Secrets as environment variables of the runtime container. A
	// variable of env, or one the operator sets, wins over a key of the same name.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`

	// Volumes added to the runtime pod, for volumeMounts, initContainers, sidecars and containers.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	Volumes []corev1.Volume `json:"volumes,omitempty"`

	// VolumeMounts added to the runtime container.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`

	// InitContainers run to completion, in order, before the sidecars and the runtime start.
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	// +optional
	InitContainers []corev1.Container `json:"initContainers,omitempty"`

	// Sidecars run next to the runtime for the pod's whole life (service mesh proxy, log shipper). They are
	// rendered as native sidecars (init containers with restartPolicy Always, Kubernetes 1.29 or later): started
	// before the runtime, stopped after it, so a proxy keeps carrying the clients' connections until the
	// runtime's drain is over.
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	// +optional
	Sidecars []corev1.Container `json:"sidecars,omitempty"`

	// Containers are extra regular containers next to the runtime container. They get SIGTERM at the same time
	// as the runtime: put what carries client traffic in sidecars instead.
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	// +optional
	Containers []corev1.Container `json:"containers,omitempty"`

	// ServiceAccountName runs the pods as this existing ServiceAccount instead of the one the operator creates.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// ServiceAccountAnnotations are added to the ServiceAccount the operator creates (workload identity, e.g.
	// eks.amazonaws.com/role-arn or iam.gke.io/gcp-service-account).
	// +kubebuilder:validation:MaxProperties=32
	// +optional
	ServiceAccountAnnotations map[string]string `json:"serviceAccountAnnotations,omitempty"`

	// AutomountServiceAccountToken mounts the ServiceAccount token into the pods. Unset: false, the runtime never
	// calls the API server; set it to true for a sidecar that does.
	// +optional
	AutomountServiceAccountToken *bool `json:"automountServiceAccountToken,omitempty"`

	// SecurityContext overrides fields of the pod security context. The fields it leaves unset keep the
	// operator's defaults: runAsNonRoot, user, group and fsGroup 65532, seccomp profile RuntimeDefault.
	// +optional
	SecurityContext *corev1.PodSecurityContext `json:"securityContext,omitempty"`

	// ContainerSecurityContext overrides fields of the runtime container's security context. The fields it leaves
	// unset keep the operator's defaults: no privilege escalation, read-only root filesystem, runAsNonRoot, every
	// capability dropped.
	// +optional
	ContainerSecurityContext *corev1.SecurityContext `json:"containerSecurityContext,omitempty"`

	// DNSPolicy of the runtime pods; empty is the Kubernetes default (ClusterFirst).
	// +kubebuilder:validation:Enum=ClusterFirstWithHostNet;ClusterFirst;Default;None
	// +optional
	DNSPolicy corev1.DNSPolicy `json:"dnsPolicy,omitempty"`

	// DNSConfig adds nameservers, search domains and resolver options to the pods' DNS configuration.
	// +optional
	DNSConfig *corev1.PodDNSConfig `json:"dnsConfig,omitempty"`

	// HostAliases are entries added to the pods' /etc/hosts.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	HostAliases []corev1.HostAlias `json:"hostAliases,omitempty"`
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

	// TargetConnectionsPerPod is the average number of connected clients per pod to aim for. The default is
	// half of what a pod with the default resources holds (docs/capacity.md).
	// +kubebuilder:default=50000
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

	// Canary rolls a change of the pod template to a first batch of pods, watches them for pauseSeconds and
	// then rolls the rest, or halts with a Warning event and the Canary condition when the batch fails.
	// +optional
	Canary *CanarySpec `json:"canary,omitempty"`
}
