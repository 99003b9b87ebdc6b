package envtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// TestSamplesApply server-side applies every manifest in config/samples, then checks the operator built the
// children each sample asks for.
func TestSamplesApply(t *testing.T) {
	ns := newNamespace(t)
	paths, err := filepath.Glob(filepath.Join(repoRoot(), "config", "samples", "realtime_*.yaml"))
	if err != nil || len(paths) < 2 {
		t.Fatalf("want a minimal and a full sample in config/samples, found %v (err %v)", paths, err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &u.Object); err != nil {
			t.Fatalf("decode %s: %v", p, err)
		}
		u.SetNamespace(ns)
		if err := k8s.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("kubectl")); err != nil {
			t.Fatalf("server-side apply %s: %v", filepath.Base(p), err)
		}
		name := u.GetName()
		waitFor(t, &appsv1.Deployment{}, ns, name, nil)
		rc := getCluster(t, ns, name)
		if rc.Spec.Ingress.Enabled {
			waitFor(t, &networkingv1.Ingress{}, ns, name, nil)
		}
		if rc.Spec.Redis.Managed != nil {
			waitFor(t, &appsv1.StatefulSet{}, ns, name+"-redis", nil)
		}
		waitCluster(t, ns, name, func(rc *realtimev1alpha1.RealtimeCluster) error {
			if rc.Status.ObservedGeneration != rc.Generation {
				return fmt.Errorf("observedGeneration %d, generation %d", rc.Status.ObservedGeneration, rc.Generation)
			}
			return nil
		})
	}
}

// TestGatewayHTTPRoute asks for an HTTPRoute before the Gateway API is installed (Degraded with a clear
// reason), then installs the HTTPRoute kind and expects the route with cookie session persistence
// (stickiness cookie), and without it once stickiness is none.
func TestGatewayHTTPRoute(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", `
ingress:
  enabled: true
  stickiness: cookie
  hosts: [chat.example.com]
  gateway:
    parentRefs: [{name: public, namespace: gateways}]
`)
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		return conditionIs(rc, realtimev1alpha1.ConditionDegraded, "True", controllers.ReasonGatewayAPIMissing)
	})

	crdPath := filepath.Join(repoRoot(), "test", "envtest", "testdata", "httproute-crd.yaml")
	crds, err := crenvtest.InstallCRDs(restConfig, crenvtest.CRDInstallOptions{Paths: []string{crdPath}})
	if err != nil {
		t.Fatalf("install HTTPRoute CRD: %v", err)
	}
	t.Cleanup(func() {
		_ = crenvtest.UninstallCRDs(restConfig, crenvtest.CRDInstallOptions{CRDs: crds})
	})
	if len(crds) != 1 || crds[0].Name != "httproutes.gateway.networking.k8s.io" {
		t.Fatalf("installed %v", crdNames(crds))
	}
	// Any change of the RealtimeCluster triggers a reconcile (the operator also retries every minute).
	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		if rc.Annotations == nil {
			rc.Annotations = map[string]string{}
		}
		rc.Annotations["example.com/touch"] = "1"
	})
	route := &unstructured.Unstructured{}
	route.SetGroupVersionKind(specs.HTTPRouteGVK)
	apiPoll().NoError(t, "HTTPRoute created", func() error {
		return k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "chat"}, route)
	})
	rules, _, _ := unstructured.NestedSlice(route.Object, "spec", "rules")
	if len(rules) != 1 {
		t.Fatalf("rules = %v", rules)
	}
	persistence, _, _ := unstructured.NestedMap(rules[0].(map[string]any), "sessionPersistence")
	if persistence["sessionName"] != "socketfleet-route" || persistence["type"] != "Cookie" {
		t.Errorf("sessionPersistence = %v", persistence)
	}
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		return conditionIs(rc, realtimev1alpha1.ConditionDegraded, "False", controllers.ReasonAsExpected)
	})

	// No stickiness: the pods forward sessions, the route asks for no sticky cookie.
	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Ingress.Stickiness = realtimev1alpha1.IngressStickinessNone
	})
	apiPoll().NoError(t, "HTTPRoute without sessionPersistence", func() error {
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "chat"}, route); err != nil {
			return err
		}
		rules, _, _ := unstructured.NestedSlice(route.Object, "spec", "rules")
		if len(rules) != 1 {
			return fmt.Errorf("rules = %v", rules)
		}
		if p, ok := rules[0].(map[string]any)["sessionPersistence"]; ok {
			return fmt.Errorf("sessionPersistence still set: %v", p)
		}
		return nil
	})

	// Back to a plain Ingress: the HTTPRoute goes away.
	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Ingress.Gateway = nil })
	waitFor(t, &networkingv1.Ingress{}, ns, "chat", nil)
	apiPoll().NoError(t, "HTTPRoute deleted", func() error {
		err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "chat"}, route)
		if client.IgnoreNotFound(err) == nil && err != nil {
			return nil
		}
		return fmt.Errorf("still present (err=%v)", err)
	})
}

func crdNames(crds []*apiextensionsv1.CustomResourceDefinition) string {
	names := make([]string, 0, len(crds))
	for _, c := range crds {
		names = append(names, c.Name)
	}
	return strings.Join(names, ",")
}
