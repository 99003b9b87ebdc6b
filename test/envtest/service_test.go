package envtest

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// TestServiceTypeChanges moves the runtime Service of a running cluster from a LoadBalancer (client IPs kept,
// ClientIP affinity, its own annotations) to a NodePort and back to ClusterIP, each time through the
// operator's server-side apply: the API server must accept every step, allocate and release the node port,
// and drop the type-dependent fields.
func TestServiceTypeChanges(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", `
service:
  type: LoadBalancer
  externalTrafficPolicy: Local
  sessionAffinity: ClientIP
  sessionAffinityTimeoutSeconds: 600
  annotations: {service.beta.kubernetes.io/aws-load-balancer-type: external}
ingress:
  enabled: true
  hosts: [chat.example.com]
  tls: [{secretName: chat-tls}]
  annotations: {cert-manager.io/cluster-issuer: letsencrypt}
`)
	svc := waitFor(t, &corev1.Service{}, ns, "chat", func(s *corev1.Service) error {
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer || s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
			return fmt.Errorf("type %s externalTrafficPolicy %s", s.Spec.Type, s.Spec.ExternalTrafficPolicy)
		}
		return nil
	})
	if svc.Spec.Ports[0].NodePort == 0 || svc.Spec.HealthCheckNodePort == 0 {
		t.Errorf("LoadBalancer with Local policy got nodePort %d healthCheckNodePort %d, want both allocated",
			svc.Spec.Ports[0].NodePort, svc.Spec.HealthCheckNodePort)
	}
	if svc.Spec.SessionAffinity != corev1.ServiceAffinityClientIP || svc.Spec.SessionAffinityConfig == nil ||
		*svc.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds != 600 {
		t.Errorf("session affinity %s %+v, want ClientIP for 600 s", svc.Spec.SessionAffinity, svc.Spec.SessionAffinityConfig)
	}
	if svc.Annotations["service.beta.kubernetes.io/aws-load-balancer-type"] != "external" {
		t.Errorf("annotations %v lack the user's", svc.Annotations)
	}
	ing := waitFor(t, &networkingv1.Ingress{}, ns, "chat", nil)
	if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "chat-tls" || len(ing.Spec.TLS[0].Hosts) != 1 ||
		ing.Annotations["cert-manager.io/cluster-issuer"] != "letsencrypt" {
		t.Errorf("ingress tls %+v annotations %v, want chat-tls for chat.example.com and the cert-manager issuer", ing.Spec.TLS, ing.Annotations)
	}

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Service = realtimev1alpha1.ServiceSpec{Type: corev1.ServiceTypeNodePort, NodePort: 30333}
	})
	waitFor(t, &corev1.Service{}, ns, "chat", func(s *corev1.Service) error {
		if s.Spec.Type != corev1.ServiceTypeNodePort || s.Spec.Ports[0].NodePort != 30333 {
			return fmt.Errorf("type %s nodePort %d", s.Spec.Type, s.Spec.Ports[0].NodePort)
		}
		if s.Spec.SessionAffinity != corev1.ServiceAffinityNone {
			return fmt.Errorf("session affinity %s left over", s.Spec.SessionAffinity)
		}
		return nil
	})

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Service = realtimev1alpha1.ServiceSpec{} })
	waitFor(t, &corev1.Service{}, ns, "chat", func(s *corev1.Service) error {
		if s.Spec.Type != corev1.ServiceTypeClusterIP || s.Spec.Ports[0].NodePort != 0 || s.Spec.ExternalTrafficPolicy != "" {
			return fmt.Errorf("type %s nodePort %d externalTrafficPolicy %q", s.Spec.Type, s.Spec.Ports[0].NodePort, s.Spec.ExternalTrafficPolicy)
		}
		if _, ok := s.Annotations["service.beta.kubernetes.io/aws-load-balancer-type"]; ok {
			return fmt.Errorf("annotation left over: %v", s.Annotations)
		}
		return nil
	})
}
