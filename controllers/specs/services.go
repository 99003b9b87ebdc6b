package specs

import (
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// BuildService renders the Service of the runtime pods: ClusterIP unless spec.service asks for a NodePort or a
// LoadBalancer. It exposes the public port only; for the Traefik and HAProxy ingress controllers it carries
// their sticky-cookie and timeout annotations, because those controllers read backend settings from the
// Service, and spec.service.annotations on top of them.
func BuildService(rc *realtimev1alpha1.RealtimeCluster) *corev1.Service {
	opts := rc.Spec.Service
	svcType := opts.Type
	if svcType == "" {
		svcType = corev1.ServiceTypeClusterIP
	}
	port := publicServicePort()
	external := svcType == corev1.ServiceTypeNodePort || svcType == corev1.ServiceTypeLoadBalancer
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: childMeta(rc, NamesFor(rc).Service, ComponentRuntime),
		Spec: corev1.ServiceSpec{
			Type:            svcType,
			Selector:        SelectorLabels(rc, ComponentRuntime),
			SessionAffinity: opts.SessionAffinity,
		},
	}
	if external {
		port.NodePort = opts.NodePort
		svc.Spec.ExternalTrafficPolicy = opts.ExternalTrafficPolicy
	}
	if svcType == corev1.ServiceTypeLoadBalancer {
		svc.Spec.LoadBalancerClass = opts.LoadBalancerClass
		svc.Spec.LoadBalancerSourceRanges = opts.LoadBalancerSourceRanges
	}
	if opts.SessionAffinity == corev1.ServiceAffinityClientIP && opts.SessionAffinityTimeoutSeconds != nil {
		svc.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{
			ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: opts.SessionAffinityTimeoutSeconds},
		}
	}
	svc.Spec.Ports = []corev1.ServicePort{port}
	annotations := serviceIngressAnnotations(rc)
	if len(opts.Annotations) > 0 {
		if annotations == nil {
			annotations = map[string]string{}
		}
		maps.Copy(annotations, opts.Annotations)
	}
	if len(annotations) > 0 {
		svc.Annotations = annotations
	}
	return svc
}

// BuildHeadlessService renders the headless Service that gives every runtime pod (ready or draining) a DNS
// record, for discovery and per-pod scraping.
func BuildHeadlessService(rc *realtimev1alpha1.RealtimeCluster) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: childMeta(rc, NamesFor(rc).HeadlessService, ComponentRuntime),
		Spec: corev1.ServiceSpec{
			Type:                     corev1.ServiceTypeClusterIP,
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 SelectorLabels(rc, ComponentRuntime),
			Ports:                    []corev1.ServicePort{publicServicePort()},
		},
	}
}

func publicServicePort() corev1.ServicePort {
	return corev1.ServicePort{
		Name:        "http",
		Port:        PublicPort,
		TargetPort:  intstr.FromString("http"),
		Protocol:    corev1.ProtocolTCP,
		AppProtocol: ptrTo("http"),
	}
}

// serviceIngressAnnotations are the Service annotations of the Traefik and HAProxy flavours.
func serviceIngressAnnotations(rc *realtimev1alpha1.RealtimeCluster) map[string]string {
	ing := rc.Spec.Ingress
	if !ing.Enabled || ing.Gateway != nil {
		return nil
	}
	cookie := stickyCookieName(rc)
	timeout := strconv.FormatInt(ceilSeconds(ingressTimeout(rc).Seconds()), 10) + "s"
	switch ing.Controller {
	case realtimev1alpha1.IngressControllerTraefik:
		if !ingressSticky(rc) {
			return nil
		}
		a := map[string]string{
			"traefik.ingress.kubernetes.io/service.sticky.cookie":          "true",
			"traefik.ingress.kubernetes.io/service.sticky.cookie.name":     cookie,
			"traefik.ingress.kubernetes.io/service.sticky.cookie.maxage":   strconv.FormatInt(stickyMaxAgeSeconds(rc), 10),
			"traefik.ingress.kubernetes.io/service.sticky.cookie.httponly": "true",
			"traefik.ingress.kubernetes.io/service.sticky.cookie.samesite": "lax",
		}
		if ingressHasTLS(rc) {
			a["traefik.ingress.kubernetes.io/service.sticky.cookie.secure"] = "true"
		}
		return a
	case realtimev1alpha1.IngressControllerHAProxy:
		a := map[string]string{
			"haproxy.org/timeout-server": timeout,
			"haproxy.org/timeout-tunnel": timeout,
		}
		if ingressSticky(rc) {
			a["haproxy.org/cookie-persistence"] = cookie
		}
		return a
	default:
		return nil
	}
}

// BuildServiceAccount renders the runtime pods' ServiceAccount, with spec.pod.serviceAccountAnnotations
// (workload identity); the runtime never talks to the API server, so no token is mounted unless
// spec.pod.automountServiceAccountToken asks for it on the pods. It is rendered even when
// spec.pod.serviceAccountName points the pods at another ServiceAccount.
func BuildServiceAccount(rc *realtimev1alpha1.RealtimeCluster) *corev1.ServiceAccount {
	no := false
	meta := childMeta(rc, NamesFor(rc).ServiceAccount, ComponentRuntime)
	if a := rc.Spec.Pod.ServiceAccountAnnotations; len(a) > 0 {
		meta.Annotations = maps.Clone(a)
	}
	return &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta:                   meta,
		AutomountServiceAccountToken: &no,
	}
}

// BuildPodDisruptionBudget renders the runtime PDB: voluntary disruptions (node drains) take one pod at a
// time, so each drain spreads its clients before the next pod goes.
func BuildPodDisruptionBudget(rc *realtimev1alpha1.RealtimeCluster) *policyv1.PodDisruptionBudget {
	one := intstr.FromInt32(1)
	alwaysAllow := policyv1.AlwaysAllow
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: childMeta(rc, NamesFor(rc).PDB, ComponentRuntime),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable:             &one,
			Selector:                   &metav1.LabelSelector{MatchLabels: SelectorLabels(rc, ComponentRuntime)},
			UnhealthyPodEvictionPolicy: &alwaysAllow,
		},
	}
}

func ptrTo[T any](v T) *T { return &v }
