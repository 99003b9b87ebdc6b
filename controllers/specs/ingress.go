package specs

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// HTTPRouteGVK is the Gateway API kind rendered when spec.ingress.gateway is set.
var HTTPRouteGVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}

func stickyCookieName(rc *realtimev1alpha1.RealtimeCluster) string {
	if n := rc.Spec.Ingress.StickyCookie.Name; n != "" {
		return n
	}
	return realtimev1alpha1.DefaultStickyCookieName
}

func stickyMaxAgeSeconds(rc *realtimev1alpha1.RealtimeCluster) int64 {
	d := rc.Spec.Ingress.StickyCookie.MaxAge.Duration
	if d <= 0 {
		d = realtimev1alpha1.DefaultStickyCookieMaxAge
	}
	return ceilSeconds(d.Seconds())
}

func ingressTimeout(rc *realtimev1alpha1.RealtimeCluster) time.Duration {
	if d := rc.Spec.Ingress.Timeout.Duration; d > 0 {
		return d
	}
	return realtimev1alpha1.DefaultIngressTimeout
}

// ingressSticky reports whether the load balancer pins clients with a sticky cookie (spec.ingress.stickiness
// cookie); with none no sticky setting is written anywhere.
func ingressSticky(rc *realtimev1alpha1.RealtimeCluster) bool {
	return rc.Spec.CookieStickiness()
}

// routePath is the path prefix routed to the fleet: the Socket.IO path without its trailing slash.
func routePath(rc *realtimev1alpha1.RealtimeCluster) string {
	p := rc.Spec.Runtime.Path
	if p == "" {
		p = realtimev1alpha1.DefaultPath
	}
	if trimmed := strings.TrimSuffix(p, "/"); trimmed != "" {
		return trimmed
	}
	return "/"
}

// nginxAnnotations are the ingress-nginx annotations: persistent cookie affinity (no rebalancing of live
// sessions on scale-up), a new upstream when the cookie's pod is gone, WebSocket-safe timeouts and a body
// limit matching maxHttpBufferSize.
func nginxAnnotations(rc *realtimev1alpha1.RealtimeCluster) map[string]string {
	timeout := strconv.FormatInt(ceilSeconds(ingressTimeout(rc).Seconds()), 10)
	buffer := rc.Spec.Runtime.MaxHTTPBufferSize
	if buffer == 0 {
		buffer = realtimev1alpha1.DefaultMaxHTTPBufferSize
	}
	a := map[string]string{
		"nginx.ingress.kubernetes.io/proxy-read-timeout": timeout,
		"nginx.ingress.kubernetes.io/proxy-send-timeout": timeout,
		"nginx.ingress.kubernetes.io/proxy-body-size":    strconv.FormatInt(buffer, 10),
	}
	if !ingressSticky(rc) {
		return a
	}
	maps.Copy(a, map[string]string{
		"nginx.ingress.kubernetes.io/affinity":                         "cookie",
		"nginx.ingress.kubernetes.io/affinity-mode":                    "persistent",
		"nginx.ingress.kubernetes.io/session-cookie-name":              stickyCookieName(rc),
		"nginx.ingress.kubernetes.io/session-cookie-max-age":           strconv.FormatInt(stickyMaxAgeSeconds(rc), 10),
		"nginx.ingress.kubernetes.io/session-cookie-path":              routePath(rc),
		"nginx.ingress.kubernetes.io/session-cookie-samesite":          "Lax",
		"nginx.ingress.kubernetes.io/session-cookie-change-on-failure": "true",
	})
	if ingressHasTLS(rc) {
		a["nginx.ingress.kubernetes.io/session-cookie-secure"] = "true"
	}
	return a
}

// ingressTLS is the spec.tls of the Ingress: spec.ingress.tls, each entry without hosts covering every host, or
// one entry for every host from spec.ingress.tlsSecretName; nil for plain HTTP.
func ingressTLS(rc *realtimev1alpha1.RealtimeCluster) []networkingv1.IngressTLS {
	ing := rc.Spec.Ingress
	if ing.TLSSecretName != "" {
		return []networkingv1.IngressTLS{{Hosts: append([]string{}, ing.Hosts...), SecretName: ing.TLSSecretName}}
	}
	var out []networkingv1.IngressTLS
	for _, t := range ing.TLS {
		hosts := t.Hosts
		if len(hosts) == 0 {
			hosts = ing.Hosts
		}
		out = append(out, networkingv1.IngressTLS{Hosts: append([]string{}, hosts...), SecretName: t.SecretName})
	}
	return out
}

// ingressHasTLS reports whether the Ingress terminates TLS (the sticky cookie is then marked Secure).
func ingressHasTLS(rc *realtimev1alpha1.RealtimeCluster) bool {
	return rc.Spec.Ingress.TLSSecretName != "" || len(rc.Spec.Ingress.TLS) > 0
}

// BuildIngress renders the Ingress of rc, or nil when rc has no Ingress (disabled, or an HTTPRoute instead).
// Sticky settings for nginx live here; for Traefik and HAProxy they live on the Service (BuildService).
func BuildIngress(rc *realtimev1alpha1.RealtimeCluster) *networkingv1.Ingress {
	ing := rc.Spec.Ingress
	if !ing.Enabled || ing.Gateway != nil {
		return nil
	}
	annotations := map[string]string{}
	if ing.Controller == "" || ing.Controller == realtimev1alpha1.IngressControllerNGINX {
		annotations = nginxAnnotations(rc)
	}
	maps.Copy(annotations, ing.Annotations)

	prefix := networkingv1.PathTypePrefix
	path := networkingv1.HTTPIngressPath{
		Path:     routePath(rc),
		PathType: &prefix,
		Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
			Name: NamesFor(rc).Service,
			Port: networkingv1.ServiceBackendPort{Name: "http"},
		}},
	}
	rules := make([]networkingv1.IngressRule, 0, len(ing.Hosts))
	for _, h := range ing.Hosts {
		rules = append(rules, networkingv1.IngressRule{
			Host:             h,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{path}}},
		})
	}
	obj := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: childMeta(rc, NamesFor(rc).Ingress, ComponentRuntime),
		Spec: networkingv1.IngressSpec{
			IngressClassName: ing.ClassName,
			Rules:            rules,
		},
	}
	if len(annotations) > 0 {
		obj.Annotations = annotations
	}
	obj.Spec.TLS = ingressTLS(rc)
	return obj
}

// BuildHTTPRoute renders the Gateway API HTTPRoute of rc, or nil when rc does not use one. It is unstructured
// so the operator does not depend on a Gateway API module version; sessionPersistence follows the
// experimental-channel shape of Gateway API v1.1 to v1.5 (standard-channel CRDs drop it and stickiness must
// come from the Gateway implementation).
func BuildHTTPRoute(rc *realtimev1alpha1.RealtimeCluster) *unstructured.Unstructured {
	ing := rc.Spec.Ingress
	if !ing.Enabled || ing.Gateway == nil {
		return nil
	}
	parents := make([]any, 0, len(ing.Gateway.ParentRefs))
	for _, p := range ing.Gateway.ParentRefs {
		ref := map[string]any{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": p.Name}
		if p.Namespace != "" {
			ref["namespace"] = p.Namespace
		}
		if p.SectionName != "" {
			ref["sectionName"] = p.SectionName
		}
		parents = append(parents, ref)
	}
	hostnames := make([]any, 0, len(ing.Hosts))
	for _, h := range ing.Hosts {
		hostnames = append(hostnames, h)
	}
	rule := map[string]any{
		"matches": []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": routePath(rc)}}},
		"backendRefs": []any{map[string]any{
			"group": "", "kind": "Service", "name": NamesFor(rc).Service, "port": int64(PublicPort), "weight": int64(1),
		}},
	}
	if ingressSticky(rc) && ing.Gateway.SessionPersistence != "None" {
		rule["sessionPersistence"] = map[string]any{
			"sessionName":     stickyCookieName(rc),
			"type":            "Cookie",
			"absoluteTimeout": fmt.Sprintf("%ds", stickyMaxAgeSeconds(rc)),
			"cookieConfig":    map[string]any{"lifetimeType": "Permanent"},
		}
	}
	meta := childMeta(rc, NamesFor(rc).HTTPRoute, ComponentRuntime)
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"parentRefs": parents,
			"hostnames":  hostnames,
			"rules":      []any{rule},
		},
	}}
	u.SetGroupVersionKind(HTTPRouteGVK)
	u.SetName(meta.Name)
	u.SetNamespace(meta.Namespace)
	u.SetLabels(meta.Labels)
	u.SetOwnerReferences(meta.OwnerReferences)
	if len(ing.Annotations) > 0 {
		u.SetAnnotations(maps.Clone(ing.Annotations))
	}
	return u
}

// Endpoint is the URL clients use to reach rc: the first ingress host when exposed, the in-cluster Service
// otherwise.
func Endpoint(rc *realtimev1alpha1.RealtimeCluster) string {
	path := rc.Spec.Runtime.Path
	if path == "" {
		path = realtimev1alpha1.DefaultPath
	}
	ing := rc.Spec.Ingress
	if ing.Enabled && len(ing.Hosts) > 0 {
		scheme := "http"
		if ingressHasTLS(rc) || ing.Gateway != nil {
			scheme = "https"
		}
		return fmt.Sprintf("%s://%s%s", scheme, ing.Hosts[0], path)
	}
	return fmt.Sprintf("http://%s.%s.svc:%d%s", NamesFor(rc).Service, rc.Namespace, PublicPort, path)
}
