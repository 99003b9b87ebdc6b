package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IngressController names the ingress controller implementation that serves an Ingress; each one reads its
// sticky-session and timeout settings from different annotations.
// +kubebuilder:validation:Enum=nginx;traefik;haproxy
type IngressController string

// The supported ingress controllers.
const (
	// IngressControllerNGINX is ingress-nginx (annotations nginx.ingress.kubernetes.io/* on the Ingress).
	IngressControllerNGINX IngressController = "nginx"
	// IngressControllerTraefik is Traefik v2/v3 (traefik.ingress.kubernetes.io/service.sticky.* on the Service).
	IngressControllerTraefik IngressController = "traefik"
	// IngressControllerHAProxy is the HAProxy Kubernetes Ingress Controller (haproxy.org/* on the Service).
	IngressControllerHAProxy IngressController = "haproxy"
)

// IngressStickiness says whether the load balancer keeps a client's requests on one pod.
// +kubebuilder:validation:Enum=none;cookie
type IngressStickiness string

// The stickiness modes.
const (
	// IngressStickinessNone balances every request freely: the runtime pods forward the requests of a session to
	// the pod that owns it (the runtime's cluster.forwarding), so long-polling needs no sticky sessions.
	IngressStickinessNone IngressStickiness = "none"
	// IngressStickinessCookie makes the ingress set a sticky cookie (spec.ingress.stickyCookie) that pins a client
	// to one pod; the pods still forward the requests the ingress sends elsewhere (a draining pod's polling
	// sessions, once it has left rotation).
	IngressStickinessCookie IngressStickiness = "cookie"
)

// IngressSpec exposes the fleet outside the cluster.
//
// +kubebuilder:validation:XValidation:rule="self.?stickiness.orValue('none') == 'cookie' || self.?gateway.?sessionPersistence.orValue('None') != 'Cookie'",message="spec.ingress.gateway.sessionPersistence: Cookie needs spec.ingress.stickiness: cookie; with stickiness none (the default) the pods forward sessions to each other and the HTTPRoute asks for no sticky cookie",fieldPath=.gateway.sessionPersistence
// +kubebuilder:validation:XValidation:rule="!self.?enabled.orValue(false) || (has(self.hosts) && size(self.hosts) > 0)",message="spec.ingress.hosts must list at least one host when spec.ingress.enabled is true",fieldPath=.hosts
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !has(self.className)",message="spec.ingress.className applies to an Ingress only; remove it when spec.ingress.gateway is set",fieldPath=.className
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !has(self.tlsSecretName)",message="spec.ingress.tlsSecretName applies to an Ingress only; with spec.ingress.gateway, TLS is terminated by the Gateway listener",fieldPath=.tlsSecretName
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !has(self.tls)",message="spec.ingress.tls applies to an Ingress only; with spec.ingress.gateway, TLS is terminated by the Gateway listener",fieldPath=.tls
// +kubebuilder:validation:XValidation:rule="!has(self.tls) || !has(self.tlsSecretName)",message="spec.ingress.tls and spec.ingress.tlsSecretName cannot both be set: tlsSecretName is the short form of one tls entry for every host",fieldPath=.tls
type IngressSpec struct {
	// Enabled turns on the Ingress (or HTTPRoute when gateway is set).
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// Controller is the ingress controller flavour the annotations are written for.
	// +kubebuilder:default=nginx
	// +optional
	Controller IngressController `json:"controller,omitempty"`

	// ClassName is the IngressClass to use; empty uses the cluster default class.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ClassName *string `json:"className,omitempty"`

	// Hosts are the DNS names clients connect to.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +listType=set
	// +optional
	Hosts []string `json:"hosts,omitempty"`

	// TLSSecretName is a Secret of type kubernetes.io/tls for the hosts; empty serves plain HTTP.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	TLSSecretName string `json:"tlsSecretName,omitempty"`

	// TLS lists the certificates of the Ingress, each for some hosts (the Ingress's spec.tls). With cert-manager,
	// add its annotation (cert-manager.io/cluster-issuer or cert-manager.io/issuer) to annotations and it issues
	// each secretName for its hosts.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	TLS []IngressTLSSpec `json:"tls,omitempty"`

	// Stickiness is none (the default: every request is balanced freely, and a pod that gets a request of another
	// pod's session forwards it to that pod over the admin port, so polling clients need no sticky sessions and
	// drains and rebalances move clients freely) or cookie (the ingress pins each client to a pod with a sticky
	// cookie, and the operator writes its controller's sticky annotations; the pods still forward what the
	// ingress sends elsewhere, such as a draining pod's polling requests once it has left rotation).
	// +kubebuilder:default=none
	// +optional
	Stickiness IngressStickiness `json:"stickiness,omitempty"`

	// StickyCookie configures the session-affinity cookie the proxy sets with stickiness cookie.
	// +kubebuilder:default={}
	// +optional
	StickyCookie StickyCookieSpec `json:"stickyCookie,omitzero"`

	// Timeout is the proxy's read/send/tunnel timeout for WebSocket and long-polling connections; it must be
	// greater than pingInterval + pingTimeout.
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(h|m|s|ms|us|ns))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('24h')",message="spec.ingress.timeout must be at most 24h"
	// +optional
	Timeout metav1.Duration `json:"timeout,omitzero"`

	// Annotations are added to the Ingress (or HTTPRoute) and win over the ones the operator sets.
	// +kubebuilder:validation:MaxProperties=64
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// Gateway renders a Gateway API HTTPRoute attached to these parents instead of an Ingress.
	// Requires the Gateway API CRDs; cookie session persistence needs the experimental channel.
	// +optional
	Gateway *GatewaySpec `json:"gateway,omitempty"`
}

// IngressTLSSpec is one certificate of the Ingress.
type IngressTLSSpec struct {
	// SecretName is the kubernetes.io/tls Secret holding the certificate (created by cert-manager when it is
	// asked to through the Ingress's annotations).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName"`

	// Hosts the certificate serves; empty means every host of spec.ingress.hosts.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=set
	// +optional
	Hosts []string `json:"hosts,omitempty"`
}

// ServiceSpec configures the runtime Service <name>: how it is exposed (ClusterIP behind an ingress by default,
// or a NodePort or a cloud load balancer of its own) and its annotations.
//
// +kubebuilder:validation:XValidation:rule="!has(self.externalTrafficPolicy) || self.?type.orValue('ClusterIP') in ['NodePort', 'LoadBalancer']",message="spec.service.externalTrafficPolicy applies only when spec.service.type is NodePort or LoadBalancer",fieldPath=.externalTrafficPolicy
// +kubebuilder:validation:XValidation:rule="!has(self.nodePort) || self.?type.orValue('ClusterIP') in ['NodePort', 'LoadBalancer']",message="spec.service.nodePort applies only when spec.service.type is NodePort or LoadBalancer",fieldPath=.nodePort
// +kubebuilder:validation:XValidation:rule="(!has(self.loadBalancerClass) && !has(self.loadBalancerSourceRanges)) || self.?type.orValue('ClusterIP') == 'LoadBalancer'",message="spec.service.loadBalancerClass and spec.service.loadBalancerSourceRanges apply only when spec.service.type is LoadBalancer"
// +kubebuilder:validation:XValidation:rule="!has(self.sessionAffinityTimeoutSeconds) || self.?sessionAffinity.orValue('None') == 'ClientIP'",message="spec.service.sessionAffinityTimeoutSeconds applies only when spec.service.sessionAffinity is ClientIP",fieldPath=.sessionAffinityTimeoutSeconds
type ServiceSpec struct {
	// Type of the Service: ClusterIP (default), NodePort or LoadBalancer.
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +optional
	Type corev1.ServiceType `json:"type,omitempty"`

	// Annotations added to the Service (cloud load balancer settings, external-dns, ...). They win over the
	// sticky-cookie annotations the operator writes there for the Traefik and HAProxy ingress controllers.
	// +kubebuilder:validation:MaxProperties=64
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// ExternalTrafficPolicy of a NodePort or LoadBalancer Service: Local keeps the client's source IP (and
	// sends traffic only to nodes running a runtime pod), Cluster (the Kubernetes default) spreads it over every
	// node.
	// +kubebuilder:validation:Enum=Cluster;Local
	// +optional
	ExternalTrafficPolicy corev1.ServiceExternalTrafficPolicy `json:"externalTrafficPolicy,omitempty"`

	// SessionAffinity ClientIP sends a client IP's connections to the same pod (L4 stickiness, for long-polling
	// clients reaching the Service without a sticky ingress); None (the default) balances each connection.
	// +kubebuilder:validation:Enum=None;ClientIP
	// +optional
	SessionAffinity corev1.ServiceAffinity `json:"sessionAffinity,omitempty"`

	// SessionAffinityTimeoutSeconds is how long a ClientIP affinity lasts (Kubernetes default 10800).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=86400
	// +optional
	SessionAffinityTimeoutSeconds *int32 `json:"sessionAffinityTimeoutSeconds,omitempty"`

	// NodePort pins the node port of the public port (NodePort or LoadBalancer); unset: allocated.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	NodePort int32 `json:"nodePort,omitempty"`

	// LoadBalancerClass selects the load balancer implementation (immutable once set on the Service).
	// +kubebuilder:validation:MaxLength=253
	// +optional
	LoadBalancerClass *string `json:"loadBalancerClass,omitempty"`

	// LoadBalancerSourceRanges restricts the client CIDRs a cloud load balancer admits.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	// +listType=set
	// +optional
	LoadBalancerSourceRanges []string `json:"loadBalancerSourceRanges,omitempty"`
}

// StickyCookieSpec configures the session-affinity cookie.
type StickyCookieSpec struct {
	// Name of the cookie.
	// +kubebuilder:default="socketfleet-route"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9!#$%&\\'*+.^_`|~-]+$')",message="spec.ingress.stickyCookie.name must be a valid cookie name: letters, digits and !#$%&'*+-.^_`|~ only (no spaces, '=', ';' or ',')"
	// +optional
	Name string `json:"name,omitempty"`

	// MaxAge is the cookie lifetime.
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(h|m|s|ms|us|ns))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="spec.ingress.stickyCookie.maxAge must be at least 1s"
	// +optional
	MaxAge metav1.Duration `json:"maxAge,omitzero"`
}

// GatewaySpec attaches an HTTPRoute to Gateways.
type GatewaySpec struct {
	// ParentRefs are the Gateways (or listeners) the HTTPRoute attaches to.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	ParentRefs []GatewayParentRef `json:"parentRefs"`

	// SessionPersistence, with spec.ingress.stickiness cookie, is Cookie (default: the HTTPRoute asks for a
	// sticky cookie, a field of the Gateway API experimental channel) or None (no sessionPersistence in the HTTPRoute, for Gateways whose CRDs or
	// implementation lack it: stickiness must then come from the Gateway implementation, or the clients must use
	// the websocket transport only).
	// +kubebuilder:validation:Enum=Cookie;None
	// +optional
	SessionPersistence string `json:"sessionPersistence,omitempty"`
}

// GatewayParentRef names a Gateway and optionally one of its listeners.
type GatewayParentRef struct {
	// Name of the Gateway.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Namespace of the Gateway; empty means the RealtimeCluster's namespace.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// SectionName is the listener name within the Gateway.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SectionName string `json:"sectionName,omitempty"`
}

// CookieStickiness reports whether the load balancer pins clients to pods with a sticky cookie
// (spec.ingress.stickiness cookie). The runtime pods forward the requests of each other's sessions either way.
func (s *RealtimeClusterSpec) CookieStickiness() bool {
	return s.Ingress.Stickiness == IngressStickinessCookie
}
