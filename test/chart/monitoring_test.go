package chart

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Labels the operator puts on every runtime pod (controllers/specs SelectorLabels of component runtime); the
// PodMonitors select on them.
var runtimePodLabels = map[string]any{"app.kubernetes.io/name": "socketfleet", "app.kubernetes.io/component": "runtime"}

var monitoringKinds = []string{"PodMonitor", "ServiceMonitor", "PrometheusRule"}

// sourceRules is the spec of config/monitoring/prometheusrule.yaml, the source of the alerting rules.
func sourceRules(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "config", "monitoring", "prometheusrule.yaml"))
	if err != nil {
		t.Fatalf("read rules: %v", err)
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		t.Fatalf("decode rules: %v", err)
	}
	spec, _ := obj["spec"].(map[string]any)
	if groups, _ := spec["groups"].([]any); len(groups) == 0 {
		t.Fatal("config/monitoring/prometheusrule.yaml has no rule groups")
	}
	return spec
}

func sourceDashboard(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "config", "monitoring", "dashboards", "socketfleet-fleet.json"))
	if err != nil {
		t.Fatalf("read dashboard: %v", err)
	}
	return string(data)
}

// checkMonitoringObjects checks the bundle rendered by the chart or kustomize against its sources: the
// PodMonitor selects the runtime pods on their admin port and labels series with their RealtimeCluster, the
// ServiceMonitor scrapes port metricsPort over HTTPS of a Service it selects, the rules and the dashboard are
// the sources.
func checkMonitoringObjects(t *testing.T, objs []*unstructured.Unstructured, metricsPort string) {
	t.Helper()
	for _, kind := range monitoringKinds {
		if n := len(find(objs, kind)); n != 1 {
			t.Fatalf("%d %s rendered, want 1", n, kind)
		}
	}
	pm := find(objs, "PodMonitor")[0]
	if sel, _, _ := unstructured.NestedMap(pm.Object, "spec", "selector", "matchLabels"); !reflect.DeepEqual(sel, runtimePodLabels) {
		t.Errorf("PodMonitor selects %v, want %v", sel, runtimePodLabels)
	}
	eps, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	if len(eps) != 1 {
		t.Fatalf("PodMonitor has %d endpoints", len(eps))
	}
	ep := eps[0].(map[string]any)
	if ep["port"] != "admin" || ep["path"] != "/metrics" {
		t.Errorf("PodMonitor endpoint %v, want port admin path /metrics", ep)
	}
	relabel, _ := ep["relabelings"].([]any)
	if len(relabel) != 1 || relabel[0].(map[string]any)["targetLabel"] != "realtimecluster" {
		t.Errorf("PodMonitor relabelings %v, want the realtimecluster label", relabel)
	}

	sm := find(objs, "ServiceMonitor")[0]
	smEps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(smEps) != 1 || smEps[0].(map[string]any)["port"] != metricsPort || smEps[0].(map[string]any)["scheme"] != "https" {
		t.Errorf("ServiceMonitor endpoints %v, want https on port %s", smEps, metricsPort)
	}
	smSel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	var selected bool
	for _, svc := range find(objs, "Service") {
		ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
		labels := svc.GetLabels()
		matches := len(ports) > 0
		for k, v := range smSel {
			matches = matches && labels[k] == v
		}
		for _, p := range ports {
			if matches && p.(map[string]any)["name"] == metricsPort {
				selected = true
			}
		}
	}
	if !selected {
		t.Errorf("ServiceMonitor selector %v matches no Service with port %s", smSel, metricsPort)
	}

	rules := find(objs, "PrometheusRule")[0]
	if spec, _, _ := unstructured.NestedMap(rules.Object, "spec"); !reflect.DeepEqual(spec, sourceRules(t)) {
		t.Error("PrometheusRule spec differs from config/monitoring/prometheusrule.yaml (run make manifests)")
	}

	var dashboards []*unstructured.Unstructured
	for _, cm := range find(objs, "ConfigMap") {
		if cm.GetLabels()["grafana_dashboard"] == "1" {
			dashboards = append(dashboards, cm)
		}
	}
	if len(dashboards) != 1 {
		t.Fatalf("%d ConfigMaps labelled grafana_dashboard, want 1", len(dashboards))
	}
	if data, _, _ := unstructured.NestedString(dashboards[0].Object, "data", "socketfleet-fleet.json"); data+"\n" != sourceDashboard(t) && data != sourceDashboard(t) {
		t.Error("dashboard ConfigMap differs from config/monitoring/dashboards/socketfleet-fleet.json (run make manifests)")
	}
}

// TestHelmChartMonitoring renders the chart with the monitoring bundle off (the default), on, with protected
// reads and with plain-HTTP operator metrics.
func TestHelmChartMonitoring(t *testing.T) {
	on := map[string]any{
		"podMonitor":     map[string]any{"enabled": true},
		"serviceMonitor": map[string]any{"enabled": true},
		"rules":          map[string]any{"enabled": true},
		"dashboard":      map[string]any{"enabled": true},
	}
	t.Run("off by default", func(t *testing.T) {
		objs := renderChart(t, "socketfleet-system", nil)
		for _, kind := range monitoringKinds {
			if n := len(find(objs, kind)); n != 0 {
				t.Errorf("%d %s rendered with the defaults", n, kind)
			}
		}
		for _, cm := range find(objs, "ConfigMap") {
			if _, ok := cm.GetLabels()["grafana_dashboard"]; ok {
				t.Errorf("dashboard ConfigMap %s rendered with the defaults", cm.GetName())
			}
		}
	})
	t.Run("on", func(t *testing.T) {
		ensureNamespace(t, "socketfleet-system")
		objs := renderChart(t, "socketfleet-system", map[string]any{"monitoring": on})
		checkMonitoringObjects(t, objs, "https-metrics")
		pm := find(objs, "PodMonitor")[0]
		if anyNS, _, _ := unstructured.NestedBool(pm.Object, "spec", "namespaceSelector", "any"); !anyNS {
			t.Error("PodMonitor does not select every namespace by default")
		}
		// Objects of built-in kinds (the dashboard's ConfigMap) are admitted; the monitoring.coreos.com objects
		// are checked against the Prometheus Operator's CRDs by TestMonitoringAgainstPrometheusOperatorCRDs.
		var builtin []*unstructured.Unstructured
		for _, o := range objs {
			if o.GetAPIVersion() != "monitoring.coreos.com/v1" {
				builtin = append(builtin, o)
			}
		}
		for _, crd := range find(objs, "CustomResourceDefinition") {
			installCRD(t, crd)
		}
		dryRunApply(t, builtin)
	})
	t.Run("protected reads", func(t *testing.T) {
		values := map[string]any{"monitoring": map[string]any{"podMonitor": map[string]any{"enabled": true,
			"protectedClusters": []any{
				map[string]any{"namespace": "apps", "name": "chat"},
				map[string]any{"namespace": "news", "name": "feed"},
			}}}}
		pms := find(renderChart(t, "socketfleet-system", values), "PodMonitor")
		if len(pms) != 2 {
			t.Fatalf("%d PodMonitors, want one per protected cluster", len(pms))
		}
		for i, want := range []struct{ ns, name string }{{"apps", "chat"}, {"news", "feed"}} {
			pm := pms[i]
			if pm.GetNamespace() != want.ns {
				t.Errorf("PodMonitor %s in namespace %s, want %s", pm.GetName(), pm.GetNamespace(), want.ns)
			}
			if inst, _, _ := unstructured.NestedString(pm.Object, "spec", "selector", "matchLabels", "app.kubernetes.io/instance"); inst != want.name {
				t.Errorf("PodMonitor %s selects instance %q, want %q", pm.GetName(), inst, want.name)
			}
			eps, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
			secret, _, _ := unstructured.NestedString(eps[0].(map[string]any), "authorization", "credentials", "name")
			key, _, _ := unstructured.NestedString(eps[0].(map[string]any), "authorization", "credentials", "key")
			if secret != want.name+"-admin-token" || key != "token" {
				t.Errorf("PodMonitor %s sends the token of %s/%s, want %s-admin-token/token", pm.GetName(), secret, key, want.name)
			}
		}
	})
	t.Run("plain-HTTP operator metrics", func(t *testing.T) {
		values := map[string]any{"metrics": map[string]any{"secure": false}, "monitoring": on}
		sm := find(renderChart(t, "socketfleet-system", values), "ServiceMonitor")[0]
		eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		ep := eps[0].(map[string]any)
		if ep["port"] != "http-metrics" || ep["scheme"] != "http" || ep["bearerTokenFile"] != nil {
			t.Errorf("ServiceMonitor endpoint %v, want plain http on http-metrics without a token", ep)
		}
	})
}

// TestKustomizeMonitoring builds config/monitoring next to config/default (whose metrics Service it selects).
func TestKustomizeMonitoring(t *testing.T) {
	objs := append(renderKustomize(t, "monitoring"), find(renderKustomize(t, "default"), "Service")...)
	checkMonitoringObjects(t, objs, "https")
	for _, o := range renderKustomize(t, "monitoring") {
		if o.GetNamespace() != "socketfleet-system" {
			t.Errorf("%s %s in namespace %q, want socketfleet-system", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}
}
