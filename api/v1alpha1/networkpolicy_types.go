package v1alpha1

import (
	networkingv1 "k8s.io/api/networking/v1"
)

// NetworkPolicySpec configures the NetworkPolicies the operator renders (only enforced where the cluster's
// network plugin implements NetworkPolicy). With it on, the runtime pods accept the public port from publicFrom
// (any source when empty) and the admin port only from the operator's namespace and adminFrom; the managed Redis
// accepts connections only from this cluster's runtime pods (and its own pods) and redisFrom.
type NetworkPolicySpec struct {
	// Enabled renders the NetworkPolicies.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// PublicFrom lists who may reach the public port (Socket.IO): typically the ingress controller's
	// namespace. Empty: any source.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	PublicFrom []networkingv1.NetworkPolicyPeer `json:"publicFrom,omitempty"`

	// AdminFrom lists who may reach the admin port (/metrics, /stats, drain, shed) besides the operator's
	// namespace: typically the monitoring namespace whose Prometheus scrapes /metrics.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	AdminFrom []networkingv1.NetworkPolicyPeer `json:"adminFrom,omitempty"`

	// RedisFrom lists who may reach the managed Redis besides this cluster's runtime pods: for example Node
	// socket.io servers or @socket.io/redis-emitter publishers sharing it.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	RedisFrom []networkingv1.NetworkPolicyPeer `json:"redisFrom,omitempty"`
}

// NetworkPolicyEnabled reports whether spec.networkPolicy.enabled is on (the default).
func (s *RealtimeClusterSpec) NetworkPolicyEnabled() bool {
	return s.NetworkPolicy.Enabled == nil || *s.NetworkPolicy.Enabled
}
