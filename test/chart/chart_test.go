// Package chart renders the Helm chart (with helm v3 as a Go library) and the kustomize installation
// (config/default, with the kustomize Go API) and checks that every object they produce is accepted by a real
// kube-apiserver (envtest) in a server-side dry run. It is its own Go module so that helm's large dependency
// tree stays out of the main module.
package chart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

var k8s client.Client

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "FAIL: KUBEBUILDER_ASSETS is not set. Run `make test-envtest`, or "+
			"KUBEBUILDER_ASSETS=$(../../hack/envtest-binaries.sh) go test ./... in test/chart")
		return 1
	}
	env := &crenvtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start envtest control plane:", err)
		return 1
	}
	scheme := k8sruntime.NewScheme()
	err = clientgoscheme.AddToScheme(scheme)
	if err == nil {
		err = apiextensionsv1.AddToScheme(scheme)
	}
	if err == nil {
		k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	}
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: create client:", err)
	} else {
		code = m.Run()
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop envtest control plane:", err)
	}
	if code == 0 {
		if err := goleak.Find(
			goleak.IgnoreTopFunction("k8s.io/klog/v2.(*loggingT).flushDaemon"),
			goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
			goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: leaked goroutines:", err)
			code = 1
		}
	}
	return code
}

// renderChart renders charts/socketfleet like `helm template --include-crds` for Kubernetes v1.37.
func renderChart(t *testing.T, namespace string, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	manifest, err := renderChartManifest(namespace, values)
	if err != nil {
		t.Fatalf("render chart: %v", err)
	}
	return decodeObjects(t, manifest)
}

// renderChartManifest renders the chart with values; helm validates them against values.schema.json first.
func renderChartManifest(namespace string, values map[string]any) (string, error) {
	chrt, err := loader.Load(filepath.Join(repoRoot(), "charts", "socketfleet"))
	if err != nil {
		return "", fmt.Errorf("load chart: %w", err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.ClientOnly = true
	install.DryRun = true
	install.Replace = true
	install.IncludeCRDs = true
	install.ReleaseName = "socketfleet"
	install.Namespace = namespace
	install.KubeVersion = &chartutil.KubeVersion{Version: "v1.37.2", Major: "1", Minor: "37"}
	rel, err := install.Run(chrt, values)
	if err != nil {
		return "", err
	}
	return rel.Manifest, nil
}

// renderKustomize builds config/<dir> like `kustomize build config/<dir>`.
func renderKustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot(), "config", dir))
	if err != nil {
		t.Fatalf("kustomize build config/%s: %v", dir, err)
	}
	out, err := resMap.AsYaml()
	if err != nil {
		t.Fatalf("kustomize output: %v", err)
	}
	return decodeObjects(t, string(out))
}

func decodeObjects(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decode rendered manifest: %v", err)
		}
		if len(u.Object) == 0 {
			continue
		}
		objs = append(objs, u)
	}
	return objs
}

func find(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// installCRD creates the CRD for real (once), so custom resources and the chart's objects can be checked.
func installCRD(t *testing.T, crd *unstructured.Unstructured) {
	t.Helper()
	err := k8s.Create(context.Background(), crd.DeepCopy())
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create CRD %s: %v", crd.GetName(), err)
	}
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// dryRunApply server-side applies every object with dryRun=All: the API server validates and admits them
// without storing anything.
func dryRunApply(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		err := k8s.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
			client.FieldOwner("chart-test"), client.ForceOwnership, client.DryRunAll)
		if err != nil {
			t.Errorf("server-side dry run of %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

// generatedCRD is config/crd/bases, the single source of truth for the CRD.
func generatedCRD(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "config", "crd", "bases", "realtime.socketfleet.io_realtimeclusters.yaml"))
	if err != nil {
		t.Fatalf("read generated CRD: %v", err)
	}
	objs := decodeObjects(t, string(data))
	if len(objs) != 1 {
		t.Fatalf("generated CRD file holds %d objects", len(objs))
	}
	return objs[0]
}

// generatedRoleRules are the operator's RBAC rules generated from the controller's markers.
func generatedRoleRules(t *testing.T) []any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatalf("read generated role: %v", err)
	}
	role := map[string]any{}
	if err := yaml.Unmarshal(data, &role); err != nil {
		t.Fatalf("decode generated role: %v", err)
	}
	rules, _ := role["rules"].([]any)
	if len(rules) == 0 {
		t.Fatal("generated role has no rules")
	}
	return rules
}

func operatorRoleRules(t *testing.T, objs []*unstructured.Unstructured) []any {
	t.Helper()
	for _, cr := range find(objs, "ClusterRole") {
		if strings.HasSuffix(cr.GetName(), "-editor") || strings.HasSuffix(cr.GetName(), "-viewer") ||
			strings.HasSuffix(cr.GetName(), "-metrics-reader") {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(cr.Object, "rules")
		return rules
	}
	t.Fatal("no operator ClusterRole rendered")
	return nil
}

func containerArgs(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	deps := find(objs, "Deployment")
	if len(deps) != 1 {
		t.Fatalf("want one operator Deployment, got %d", len(deps))
	}
	containers, _, _ := unstructured.NestedSlice(deps[0].Object, "spec", "template", "spec", "containers")
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	return args
}

// TestHelmChart renders the chart with its defaults and with every option changed, checks the CRD and RBAC
// are the generated ones, and dry-runs every object against the API server.
func TestHelmChart(t *testing.T) {
	cases := []struct {
		name      string
		values    map[string]any
		wantArgs  []string
		wantKinds []string
	}{
		{
			name:   "defaults",
			values: nil,
			wantArgs: []string{"--leader-elect=true", "--metrics-bind-address=:8443", "--metrics-secure=true",
				"--health-probe-bind-address=:8081", "--runtime-image=ghcr.io/socketfleet/socketfleet-runtime:v0.1.0",
				"--max-concurrent-reconciles=2", "--operator-namespace=socketfleet-system"},
			wantKinds: []string{"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
				"RoleBinding", "Deployment", "Service", "PodDisruptionBudget"},
		},
		{
			name: "custom",
			values: map[string]any{
				"replicaCount":            2,
				"runtimeImage":            "registry.example.com/runtime:v9",
				"watchNamespaces":         []any{"team-a", "team-b"},
				"leaderElection":          map[string]any{"enabled": true},
				"metrics":                 map[string]any{"enabled": false},
				"rbac":                    map[string]any{"aggregateToDefaultRoles": false},
				"serviceAccount":          map[string]any{"annotations": map[string]any{"example.com/role": "operator"}},
				"nodeSelector":            map[string]any{"kubernetes.io/os": "linux"},
				"tolerations":             []any{map[string]any{"key": "ops", "operator": "Exists", "effect": "NoSchedule"}},
				"podAnnotations":          map[string]any{"example.com/scrape": "false"},
				"imagePullSecrets":        []any{map[string]any{"name": "regcred"}},
				"maxConcurrentReconciles": 4,
				"logLevel":                "debug",
			},
			wantArgs: []string{"--metrics-bind-address=0", "--runtime-image=registry.example.com/runtime:v9",
				"--watch-namespaces=team-a,team-b", "--max-concurrent-reconciles=4", "--zap-log-level=debug"},
			wantKinds: []string{"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment"},
		},
		{
			name: "namespaced",
			values: map[string]any{"rbac": map[string]any{"namespaced": true},
				"watchNamespaces": []any{"team-a", "team-b"}},
			wantArgs:  []string{"--watch-namespaces=team-a,team-b"},
			wantKinds: []string{"Role", "RoleBinding", "Deployment"},
		},
		{
			name:      "metrics certificate",
			values:    map[string]any{"metrics": map[string]any{"certSecretName": "operator-metrics-tls"}},
			wantArgs:  []string{"--metrics-secure=true", "--metrics-cert-path=/var/run/socketfleet/metrics-certs"},
			wantKinds: []string{"Deployment", "Service", "ClusterRole"},
		},
	}
	const namespace = "socketfleet-system"
	ensureNamespace(t, namespace)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := renderChart(t, namespace, tc.values)
			if tc.name == "defaults" {
				checkHighAvailability(t, objs)
			}
			for _, kind := range tc.wantKinds {
				if len(find(objs, kind)) == 0 {
					t.Errorf("chart rendered no %s", kind)
				}
			}
			if tc.name == "custom" && len(find(objs, "Service")) != 0 {
				t.Error("metrics Service rendered although metrics are disabled")
			}
			hasReader := false
			for _, cr := range find(objs, "ClusterRole") {
				hasReader = hasReader || strings.HasSuffix(cr.GetName(), "-metrics-reader")
			}
			if hasReader != (tc.name != "custom") {
				t.Errorf("metrics-reader ClusterRole rendered: %v, want it exactly when secure metrics are on", hasReader)
			}

			crds := find(objs, "CustomResourceDefinition")
			if len(crds) != 1 {
				t.Fatalf("chart holds %d CRDs, want 1", len(crds))
			}
			if !reflect.DeepEqual(crds[0].Object, generatedCRD(t).Object) {
				t.Error("charts/socketfleet/crds differs from config/crd/bases: run `make manifests`")
			}
			if tc.name == "namespaced" {
				checkNamespacedRBAC(t, objs, "socketfleet-operator", "team-a", "team-b")
			} else if !reflect.DeepEqual(operatorRoleRules(t, objs), generatedRoleRules(t)) {
				t.Error("chart ClusterRole rules differ from config/rbac/role.yaml: run `make manifests`")
			}
			args := containerArgs(t, objs)
			for _, want := range tc.wantArgs {
				if !slices.Contains(args, want) {
					t.Errorf("operator args %v lack %q", args, want)
				}
			}

			installCRD(t, crds[0])
			var rest []*unstructured.Unstructured
			for _, o := range objs {
				if o.GetKind() != "CustomResourceDefinition" {
					rest = append(rest, o)
				}
			}
			dryRunApply(t, rest)
		})
	}
}

// checkHighAvailability checks the chart's default operator: two replicas with leader election, spread across
// nodes, and a PodDisruptionBudget selecting exactly its pods that lets a node drain evict one at a time.
func checkHighAvailability(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	deps := find(objs, "Deployment")
	if len(deps) != 1 {
		t.Fatalf("chart rendered %d Deployments, want 1", len(deps))
	}
	replicas, _, _ := unstructured.NestedFieldNoCopy(deps[0].Object, "spec", "replicas")
	if fmt.Sprint(replicas) != "2" {
		t.Errorf("operator replicas = %v, want 2", replicas)
	}
	if args := containerArgs(t, objs); !slices.Contains(args, "--leader-elect=true") {
		t.Errorf("operator args %v lack --leader-elect=true", args)
	}
	spread, _, _ := unstructured.NestedSlice(deps[0].Object, "spec", "template", "spec", "topologySpreadConstraints")
	if len(spread) != 1 || spread[0].(map[string]any)["topologyKey"] != "kubernetes.io/hostname" {
		t.Errorf("operator topology spread = %v, want one constraint on kubernetes.io/hostname", spread)
	}
	pdbs := find(objs, "PodDisruptionBudget")
	if len(pdbs) != 1 {
		t.Fatalf("chart rendered %d PodDisruptionBudgets, want 1", len(pdbs))
	}
	maxUnavailable, _, _ := unstructured.NestedFieldNoCopy(pdbs[0].Object, "spec", "maxUnavailable")
	if fmt.Sprint(maxUnavailable) != "1" {
		t.Errorf("PDB maxUnavailable = %v, want 1", maxUnavailable)
	}
	selector, _, _ := unstructured.NestedStringMap(pdbs[0].Object, "spec", "selector", "matchLabels")
	podLabels, _, _ := unstructured.NestedStringMap(deps[0].Object, "spec", "template", "metadata", "labels")
	for k, v := range selector {
		if podLabels[k] != v {
			t.Errorf("PDB selects %s=%s, which the operator pods (%v) do not carry", k, v, podLabels)
		}
	}
	if len(selector) == 0 {
		t.Error("PDB selects every pod of the namespace")
	}
}

// TestHelmValuesSchema checks that values.schema.json refuses values that would install a broken or unsafe
// operator, with an error naming the value, and accepts the documented ones.
func TestHelmValuesSchema(t *testing.T) {
	refused := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"unknown top-level key (typo)", map[string]any{"replicas": 3}, "replicas"},
		{"unknown nested key", map[string]any{"metrics": map[string]any{"bindAddress": ":9090"}}, "bindAddress"},
		{"replica count as a string", map[string]any{"replicaCount": "2"}, "replicaCount"},
		{"negative replica count", map[string]any{"replicaCount": -1}, "replicaCount"},
		{"two replicas without leader election", map[string]any{"replicaCount": 2, "leaderElection": map[string]any{"enabled": false}}, "leaderElection"},
		{"unknown log level", map[string]any{"logLevel": "verbose"}, "logLevel"},
		{"unknown pull policy", map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}}, "pullPolicy"},
		{"port out of range", map[string]any{"metrics": map[string]any{"port": 70000}}, "port"},
		{"invalid namespace name", map[string]any{"watchNamespaces": []any{"Team_A"}}, "watchNamespaces"},
		{"namespaced rbac without namespaces", map[string]any{"rbac": map[string]any{"namespaced": true}}, "watchNamespaces"},
		{"empty runtime image", map[string]any{"runtimeImage": ""}, "runtimeImage"},
		{"zero pdb max unavailable", map[string]any{"podDisruptionBudget": map[string]any{"maxUnavailable": 0}}, "maxUnavailable"},
		{"zero concurrent reconciles", map[string]any{"maxConcurrentReconciles": 0}, "maxConcurrentReconciles"},
		{"unknown monitoring key", map[string]any{"monitoring": map[string]any{"alerts": map[string]any{"enabled": true}}}, "alerts"},
		{"protected cluster without a name", map[string]any{"monitoring": map[string]any{"podMonitor": map[string]any{"protectedClusters": []any{map[string]any{"namespace": "chat"}}}}}, "name"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderChartManifest("socketfleet-system", tc.values)
			if err == nil {
				t.Fatalf("chart accepted values %v", tc.values)
			}
			if !strings.Contains(err.Error(), "values don't meet the specifications of the schema") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not come from the schema or does not name %q:\n%v", tc.want, err)
			}
		})
	}
	accepted := []map[string]any{
		{"replicaCount": 1, "leaderElection": map[string]any{"enabled": false}},
		{"replicaCount": 3, "podDisruptionBudget": map[string]any{"maxUnavailable": "50%"}},
		{"podDisruptionBudget": map[string]any{"enabled": false}},
		{"monitoring": map[string]any{"podMonitor": map[string]any{"enabled": true, "interval": "15s", "protectedClusters": []any{map[string]any{"namespace": "chat", "name": "chat"}}},
			"serviceMonitor": map[string]any{"enabled": true}, "rules": map[string]any{"enabled": true}, "dashboard": map[string]any{"enabled": true, "namespace": "grafana"}}},
		{"resources": map[string]any{"requests": map[string]any{"cpu": 0.1, "memory": "64Mi"}}},
		{"topologySpreadConstraints": []any{map[string]any{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}}},
	}
	for _, values := range accepted {
		if _, err := renderChartManifest("socketfleet-system", values); err != nil {
			t.Errorf("chart refused valid values %v: %v", values, err)
		}
	}
}

// checkNamespacedRBAC checks that the operator's rules are granted by a Role named name in each of namespaces (bound
// to its ServiceAccount) and by no ClusterRole, and creates the namespaces for the dry run.
func checkNamespacedRBAC(t *testing.T, objs []*unstructured.Unstructured, name string, namespaces ...string) {
	t.Helper()
	for _, cr := range find(objs, "ClusterRole") {
		if cr.GetName() == name {
			t.Errorf("namespaced RBAC still renders ClusterRole %s", name)
		}
	}
	for _, ns := range namespaces {
		ensureNamespace(t, ns)
		found := false
		for _, r := range find(objs, "Role") {
			if r.GetName() == name && r.GetNamespace() == ns {
				found = true
				rules, _, _ := unstructured.NestedSlice(r.Object, "rules")
				if !reflect.DeepEqual(rules, generatedRoleRules(t)) {
					t.Errorf("Role %s/%s rules differ from config/rbac/role.yaml", ns, name)
				}
			}
		}
		bound := false
		for _, b := range find(objs, "RoleBinding") {
			kind, _, _ := unstructured.NestedString(b.Object, "roleRef", "kind")
			bound = bound || (b.GetName() == name && b.GetNamespace() == ns && kind == "Role")
		}
		if !found || !bound {
			t.Errorf("namespace %s: Role %v, RoleBinding to it %v", ns, found, bound)
		}
	}
}

// TestKustomizeNamespaced builds config/namespaced (the operator confined to namespace apps) and dry-runs it.
func TestKustomizeNamespaced(t *testing.T) {
	objs := renderKustomize(t, "namespaced")
	checkNamespacedRBAC(t, objs, "socketfleet-operator", "apps")
	deps := find(objs, "Deployment")
	if len(deps) != 1 {
		t.Fatalf("%d Deployments", len(deps))
	}
	containers, _, _ := unstructured.NestedSlice(deps[0].Object, "spec", "template", "spec", "containers")
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	if !slices.Contains(args, "--watch-namespaces=apps") {
		t.Errorf("operator args %v lack --watch-namespaces=apps", args)
	}
	for _, ns := range find(objs, "Namespace") {
		ensureNamespace(t, ns.GetName())
	}
	for _, crd := range find(objs, "CustomResourceDefinition") {
		installCRD(t, crd)
	}
	dryRunApply(t, objs)
}

// TestKustomizeDefault builds config/default and dry-runs every object against the API server.
func TestKustomizeDefault(t *testing.T) {
	objs := renderKustomize(t, "default")
	for _, kind := range []string{"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole",
		"ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Service"} {
		if len(find(objs, kind)) == 0 {
			t.Errorf("config/default produced no %s", kind)
		}
	}
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && ns != "socketfleet-system" {
			t.Errorf("%s %s is in namespace %q, want socketfleet-system", o.GetKind(), o.GetName(), ns)
		}
	}
	var buf bytes.Buffer
	for _, o := range find(objs, "Deployment") {
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		image, _, _ := unstructured.NestedString(containers[0].(map[string]any), "image")
		buf.WriteString(image)
	}
	if buf.String() != "ghcr.io/socketfleet/socketfleet-operator:v0.1.0" {
		t.Errorf("operator image = %q", buf.String())
	}
	for _, ns := range find(objs, "Namespace") {
		ensureNamespace(t, ns.GetName())
	}
	for _, crd := range find(objs, "CustomResourceDefinition") {
		installCRD(t, crd)
	}
	dryRunApply(t, objs)
}
