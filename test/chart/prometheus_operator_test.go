package chart

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// prometheusOperatorAPI is the Go package whose types and kubebuilder markers define the Prometheus Operator's
// monitoring.coreos.com/v1 CRDs; go.mod pins the module's version (docs/monitoring-crds.md).
const prometheusOperatorAPI = "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"

// prometheusOperatorCRDs are the CRDs the monitoring bundle's objects are checked against.
var prometheusOperatorCRDs = []string{"podmonitors", "servicemonitors", "prometheusrules"}

var promCRDs struct {
	once sync.Once
	err  error
}

// installPrometheusOperatorCRDs generates the Prometheus Operator's CRDs with controller-gen (CONTROLLER_GEN)
// from the pinned module in the module cache and creates them on the test's kube-apiserver, once.
func installPrometheusOperatorCRDs(t *testing.T) {
	t.Helper()
	promCRDs.once.Do(func() { promCRDs.err = generatePrometheusOperatorCRDs(context.Background()) })
	if promCRDs.err != nil {
		t.Fatalf("install the Prometheus Operator's CRDs: %v", promCRDs.err)
	}
}

func generatePrometheusOperatorCRDs(ctx context.Context) error {
	gen := os.Getenv("CONTROLLER_GEN")
	if gen == "" {
		return errors.New("CONTROLLER_GEN is not set: run `make test-envtest`, or set it to bin/tools/controller-gen-*/controller-gen")
	}
	dir, err := os.MkdirTemp("", "prometheus-operator-crds")
	if err != nil {
		return fmt.Errorf("create CRD directory: %w", err)
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, gen, "crd:crdVersions=v1", "paths="+prometheusOperatorAPI, "output:crd:dir="+dir)
	cmd.Dir = filepath.Join(repoRoot(), "test", "chart") // the module that pins prometheusOperatorAPI
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("controller-gen crd paths=%s: %w: %s", prometheusOperatorAPI, err, out)
	}
	for _, plural := range prometheusOperatorCRDs {
		name := plural + "." + monitoringv1.SchemeGroupVersion.Group
		data, err := os.ReadFile(filepath.Join(dir, monitoringv1.SchemeGroupVersion.Group+"_"+plural+".yaml"))
		if err != nil {
			return fmt.Errorf("read generated CRD %s: %w", name, err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return fmt.Errorf("decode generated CRD %s: %w", name, err)
		}
		if err := k8s.Create(ctx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create CRD %s: %w", name, err)
		}
		if err := waitEstablished(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// waitEstablished waits until the API server serves the CRD name.
func waitEstablished(ctx context.Context, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		err := k8s.Get(ctx, client.ObjectKey{Name: name}, crd)
		if err == nil {
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("CRD %s not established after 30s (last error: %v)", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// strictDryRunCreate creates obj with dryRun=All and strict field validation: the API server checks it against
// its CRD's schema and refuses unknown or duplicate fields instead of pruning them.
func strictDryRunCreate(ctx context.Context, obj *unstructured.Unstructured) error {
	o := obj.DeepCopy()
	if o.GetNamespace() == "" {
		return fmt.Errorf("%s %s has no namespace", o.GetKind(), o.GetName())
	}
	if err := k8s.Create(ctx, o, client.DryRunAll, client.FieldValidation(metav1.FieldValidationStrict)); err != nil {
		return fmt.Errorf("%s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
	}
	return nil
}

// monitoringObjects returns the monitoring.coreos.com objects of objs, in namespace ns when they have none
// (kustomize and helm leave the release namespace to the client for some objects).
func monitoringObjects(objs []*unstructured.Unstructured, ns string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if strings.HasPrefix(o.GetAPIVersion(), monitoringv1.SchemeGroupVersion.Group+"/") {
			o = o.DeepCopy()
			if o.GetNamespace() == "" {
				o.SetNamespace(ns)
			}
			out = append(out, o)
		}
	}
	return out
}

// typed converts a rendered object into its Prometheus Operator type, refusing fields the type lacks.
func typed[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, out, true); err != nil {
		t.Fatalf("%s %s as %T: %v", o.GetKind(), o.GetName(), out, err)
	}
	return out
}

// podTemplate is the pod template of a workload the operator renders.
type podTemplate struct {
	workload string
	labels   labels.Set
	ports    map[string]bool // container port names
}

// operatorPodTemplates reads the pod templates of every Deployment and StatefulSet in the builders' golden files
// (controllers/specs/testdata/golden): the pods the operator creates for each kind of RealtimeCluster.
func operatorPodTemplates(t *testing.T) []podTemplate {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(), "controllers", "specs", "testdata", "golden", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("golden files: %v (%d found)", err, len(files))
	}
	var out []podTemplate
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read golden file: %v", err)
		}
		for _, o := range decodeObjects(t, string(data)) {
			if o.GetKind() != "Deployment" && o.GetKind() != "StatefulSet" {
				continue
			}
			pt := podTemplate{workload: filepath.Base(f) + ": " + o.GetKind() + " " + o.GetName(), ports: map[string]bool{}}
			l, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
			pt.labels = l
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			for _, c := range containers {
				ports, _, _ := unstructured.NestedSlice(c.(map[string]any), "ports")
				for _, p := range ports {
					if name, ok := p.(map[string]any)["name"].(string); ok {
						pt.ports[name] = true
					}
				}
			}
			out = append(out, pt)
		}
	}
	return out
}

// checkPodMonitorSelects checks a PodMonitor against the operator's pods: it selects every runtime pod, on a
// container port they all name, and no managed Redis pod. Limited to the cluster instance (when set), it selects
// the runtime pods of that RealtimeCluster only.
func checkPodMonitorSelects(t *testing.T, o *unstructured.Unstructured, pods []podTemplate, instance string) {
	t.Helper()
	pm := typed[monitoringv1.PodMonitor](t, o)
	sel, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
	if err != nil || sel.Empty() {
		t.Fatalf("PodMonitor %s selector %v: %v (empty: it would select every pod)", pm.Name, pm.Spec.Selector, err)
	}
	withInstance := func(l labels.Set, name string) labels.Set {
		out := labels.Set{}
		for k, v := range l {
			out[k] = v
		}
		out["app.kubernetes.io/instance"] = name
		return out
	}
	var runtimePods int
	for _, p := range pods {
		isRuntime := p.labels["app.kubernetes.io/component"] == "runtime" && p.labels["app.kubernetes.io/name"] == "socketfleet"
		candidates := map[string]labels.Set{"": p.labels}
		want := map[string]bool{"": isRuntime}
		if instance != "" { // the golden pod as if it belonged to the instance, and to another cluster
			candidates = map[string]labels.Set{instance: withInstance(p.labels, instance), "other": withInstance(p.labels, instance+"-other")}
			want = map[string]bool{instance: isRuntime, "other": false}
		}
		for as, l := range candidates {
			if got := sel.Matches(l); got != want[as] {
				t.Errorf("PodMonitor %s selects %s (instance %q): %v, want %v (labels %v)", pm.Name, p.workload, l["app.kubernetes.io/instance"], got, want[as], l)
			}
		}
		if !isRuntime {
			continue
		}
		runtimePods++
		for _, ep := range pm.Spec.PodMetricsEndpoints {
			if ep.Port == nil || !p.ports[*ep.Port] {
				t.Errorf("PodMonitor %s scrapes port %v, which %s does not name (ports %v)", pm.Name, ep.Port, p.workload, p.ports)
			}
		}
	}
	if runtimePods == 0 {
		t.Errorf("PodMonitor %s: no golden runtime pod to check it against", pm.Name)
	}
}

// checkServiceMonitorSelects checks that a ServiceMonitor selects a Service of its namespace (or of its
// namespaceSelector) that has the port every endpoint scrapes.
func checkServiceMonitorSelects(t *testing.T, o *unstructured.Unstructured, services []*unstructured.Unstructured) {
	t.Helper()
	sm := typed[monitoringv1.ServiceMonitor](t, o)
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil || sel.Empty() {
		t.Fatalf("ServiceMonitor %s selector %v: %v (empty: it would select every Service)", sm.Name, sm.Spec.Selector, err)
	}
	namespaces := map[string]bool{o.GetNamespace(): true}
	if len(sm.Spec.NamespaceSelector.MatchNames) > 0 {
		namespaces = map[string]bool{}
		for _, n := range sm.Spec.NamespaceSelector.MatchNames {
			namespaces[n] = true
		}
	}
	var matched int
	for _, svc := range services {
		inNamespace := sm.Spec.NamespaceSelector.Any || namespaces[svc.GetNamespace()]
		if !inNamespace || !sel.Matches(labels.Set(svc.GetLabels())) {
			continue
		}
		matched++
		ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
		names := map[string]bool{}
		for _, p := range ports {
			if n, ok := p.(map[string]any)["name"].(string); ok {
				names[n] = true
			}
		}
		for _, ep := range sm.Spec.Endpoints {
			if !names[ep.Port] {
				t.Errorf("ServiceMonitor %s scrapes port %q, Service %s/%s has %v", sm.Name, ep.Port, svc.GetNamespace(), svc.GetName(), names)
			}
		}
	}
	if matched != 1 {
		t.Errorf("ServiceMonitor %s selects %d Services, want the operator's metrics Service", sm.Name, matched)
	}
}

// TestMonitoringAgainstPrometheusOperatorCRDs applies the monitoring bundle, as the chart (every variant) and
// kustomize render it, to a real kube-apiserver serving the Prometheus Operator's own CRDs, with strict field
// validation, and checks what the monitors select against the pods the operator renders (golden files) and the
// Services the chart and kustomize render. Broken copies of the objects must be refused, so the schema is
// really applied.
func TestMonitoringAgainstPrometheusOperatorCRDs(t *testing.T) {
	installPrometheusOperatorCRDs(t)
	ctx := context.Background()
	pods := operatorPodTemplates(t)
	on := map[string]any{
		"podMonitor":     map[string]any{"enabled": true, "interval": "15s", "labels": map[string]any{"release": "prometheus"}},
		"serviceMonitor": map[string]any{"enabled": true},
		"rules":          map[string]any{"enabled": true},
		"dashboard":      map[string]any{"enabled": true},
	}
	protected := map[string]any{"podMonitor": map[string]any{"enabled": true, "protectedClusters": []any{
		map[string]any{"namespace": "apps", "name": "chat"}, map[string]any{"namespace": "news", "name": "feed"}}}}
	example := decodeObjects(t, readRepoFile(t, "config", "monitoring", "podmonitor-protected.example.yaml"))
	kustomized := renderKustomize(t, "monitoring")
	tests := []struct {
		name     string
		objs     []*unstructured.Unstructured
		services []*unstructured.Unstructured
		kinds    map[string]int
		instance map[string]string // PodMonitor name -> the instance it is limited to
	}{
		{name: "helm", objs: renderChart(t, "socketfleet-system", map[string]any{"monitoring": on}),
			kinds: map[string]int{"PodMonitor": 1, "ServiceMonitor": 1, "PrometheusRule": 1}},
		{name: "helm, plain-HTTP operator metrics", objs: renderChart(t, "socketfleet-system", map[string]any{"monitoring": on, "metrics": map[string]any{"secure": false}}),
			kinds: map[string]int{"PodMonitor": 1, "ServiceMonitor": 1, "PrometheusRule": 1}},
		{name: "helm, protected reads", objs: renderChart(t, "socketfleet-system", map[string]any{"monitoring": protected}),
			kinds: map[string]int{"PodMonitor": 2}, instance: map[string]string{"chat-runtime": "chat", "feed-runtime": "feed"}},
		{name: "kustomize", objs: kustomized, services: find(renderKustomize(t, "default"), "Service"),
			kinds: map[string]int{"PodMonitor": 1, "ServiceMonitor": 1, "PrometheusRule": 1}},
		{name: "protected example", objs: example, kinds: map[string]int{"PodMonitor": 1}, instance: map[string]string{"chat-runtime": "chat"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := monitoringObjects(tc.objs, "socketfleet-system")
			got := map[string]int{}
			for _, o := range objs {
				got[o.GetKind()]++
				ensureNamespace(t, o.GetNamespace())
				if err := strictDryRunCreate(ctx, o); err != nil {
					t.Errorf("the API server refused the rendered object: %v", err)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.kinds) {
				t.Fatalf("rendered %v, want %v", got, tc.kinds)
			}
			services := append(find(tc.objs, "Service"), tc.services...)
			for _, o := range objs {
				switch o.GetKind() {
				case "PodMonitor":
					checkPodMonitorSelects(t, o, pods, tc.instance[o.GetName()])
				case "ServiceMonitor":
					checkServiceMonitorSelects(t, o, services)
				case "PrometheusRule":
					pr := typed[monitoringv1.PrometheusRule](t, o)
					if len(pr.Spec.Groups) == 0 || len(pr.Spec.Groups[0].Rules) == 0 {
						t.Errorf("PrometheusRule %s has no rules", pr.Name)
					}
				}
			}
		})
	}

	// Broken copies are refused: an unknown field (strict validation), a duration, a scheme and a rule outside
	// the schema.
	base := monitoringObjects(kustomized, "socketfleet-system")
	broken := []struct {
		name, kind, want string
		edit             func(o map[string]any)
	}{
		{"unknown field", "PodMonitor", `unknown field "spec.podMetricEndpoints"`, func(o map[string]any) {
			spec := o["spec"].(map[string]any)
			spec["podMetricEndpoints"] = spec["podMetricsEndpoints"]
		}},
		{"bad interval", "PodMonitor", "spec.podMetricsEndpoints[0].interval", func(o map[string]any) {
			o["spec"].(map[string]any)["podMetricsEndpoints"].([]any)[0].(map[string]any)["interval"] = "30 seconds"
		}},
		{"bad scheme", "ServiceMonitor", "spec.endpoints[0].scheme", func(o map[string]any) {
			o["spec"].(map[string]any)["endpoints"].([]any)[0].(map[string]any)["scheme"] = "ftp"
		}},
		{"rule without expr", "PrometheusRule", "expr", func(o map[string]any) {
			rules := o["spec"].(map[string]any)["groups"].([]any)[0].(map[string]any)["rules"].([]any)
			delete(rules[0].(map[string]any), "expr")
		}},
	}
	for _, tc := range broken {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			objs := find(base, tc.kind)
			if len(objs) != 1 {
				t.Fatalf("%d %s in the kustomization", len(objs), tc.kind)
			}
			o := objs[0].DeepCopy()
			tc.edit(o.Object)
			err := strictDryRunCreate(ctx, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func readRepoFile(t *testing.T, parts ...string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(append([]string{repoRoot()}, parts...)...))
	if err != nil {
		t.Fatalf("read %s: %v", filepath.Join(parts...), err)
	}
	return string(data)
}
