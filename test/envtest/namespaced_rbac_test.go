package envtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// confinedNamespace is the one namespace of TestNamespacedRoles; the suite's shared manager leaves it alone.
const confinedNamespace = "operator-confined"

// operatorRules are the rules of the generated config/rbac/role.yaml, the ones config/namespaced and the
// chart's rbac.namespaced turn into a Role.
func operatorRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(data, &role); err != nil {
		t.Fatalf("config/rbac/role.yaml: %v", err)
	}
	if len(role.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml has no rules")
	}
	return role.Rules
}

// withoutVerb returns rules with verb removed from the rule that grants it on resource.
func withoutVerb(t *testing.T, rules []rbacv1.PolicyRule, group, resource, verb string) []rbacv1.PolicyRule {
	t.Helper()
	out := make([]rbacv1.PolicyRule, 0, len(rules)+1)
	removed := false
	for _, r := range rules {
		if !slices.Contains(r.APIGroups, group) || !slices.Contains(r.Resources, resource) || !slices.Contains(r.Verbs, verb) {
			out = append(out, r)
			continue
		}
		// Split the rule: the other resources keep every verb, this one loses verb.
		if others := slices.DeleteFunc(slices.Clone(r.Resources), func(s string) bool { return s == resource }); len(others) > 0 {
			o := *r.DeepCopy()
			o.Resources = others
			out = append(out, o)
		}
		c := *r.DeepCopy()
		c.Resources = []string{resource}
		c.Verbs = slices.DeleteFunc(slices.Clone(r.Verbs), func(s string) bool { return s == verb })
		out = append(out, c)
		removed = true
	}
	if !removed {
		t.Fatalf("no rule grants %s on %s.%s", verb, resource, group)
	}
	return out
}

// startConfinedOperator runs the operator's manager in ns as ServiceAccount sa (the API server sees the
// ServiceAccount's user name: impersonation) with the production cache (controllers.CacheOptions limited to ns).
func startConfinedOperator(t *testing.T, ns, sa string) {
	t.Helper()
	cfg := rest.CopyConfig(restConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + sa}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  controllers.CacheOptions(ns),
		// The suite's manager runs a controller of the same name in this process.
		Controller: config.Controller{SkipNameValidation: ptr(true)},
	})
	if err != nil {
		t.Fatalf("create manager: %v", err)
	}
	r := &controllers.RealtimeClusterReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder(specs.ManagerName),
		Options:  specs.BuildOptions{DefaultImage: testImage},
		Fleet:    controllers.FleetOptions{PollInterval: 300 * time.Millisecond, RequestTimeout: time.Second, PollDeadline: 2 * time.Second},
	}
	if err := r.SetupWithManager(mgr, 1); err != nil {
		t.Fatalf("set up reconciler: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("confined manager: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("confined manager did not stop within 30 s")
		}
	})
	syncCtx, syncCancel := context.WithTimeout(ctx, 30*time.Second)
	defer syncCancel()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		t.Fatal("confined manager's cache did not sync (a list or watch the Role does not allow?)")
	}
}

// TestNamespacedRoles runs the operator as a ServiceAccount bound only to a Role with the rules of
// config/rbac/role.yaml in its namespace (config/namespaced, the chart's rbac.namespaced): it reconciles a
// RealtimeCluster there. With `create` on networkpolicies taken out of the Role, a new RealtimeCluster gets
// Degraded=True, reason PermissionDenied, and a Warning event, both naming the verb, the resource and the
// namespace.
func TestNamespacedRoles(t *testing.T) {
	ctx := context.Background()
	ns := confinedNamespace
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = k8s.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	})
	const sa = "socketfleet-operator"
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns}, Rules: operatorRules(t)}
	for _, obj := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns}},
		role,
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: sa},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}}},
	} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatalf("create %T: %v", obj, err)
		}
	}
	startConfinedOperator(t, ns, sa)

	// Under the full Role: every child, the status written.
	createCluster(t, ns, "chat", "replicas: 1\n")
	waitFor(t, &appsv1.Deployment{}, ns, "chat", func(*appsv1.Deployment) error { return nil })
	waitFor(t, &networkingv1.NetworkPolicy{}, ns, "chat", func(*networkingv1.NetworkPolicy) error { return nil })
	waitFor(t, &realtimev1alpha1.RealtimeCluster{}, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		c := meta.FindStatusCondition(rc.Status.Conditions, realtimev1alpha1.ConditionDegraded)
		if c == nil || c.Status != metav1.ConditionFalse {
			return fmt.Errorf("Degraded = %+v, want False", c)
		}
		return nil
	})

	// Without create on networkpolicies: a new cluster says which permission is missing.
	role.Rules = withoutVerb(t, role.Rules, "networking.k8s.io", "networkpolicies", "create")
	if err := k8s.Update(ctx, role); err != nil {
		t.Fatalf("update role: %v", err)
	}
	const want = "missing permission: create networkpolicies.networking.k8s.io in namespace " + confinedNamespace
	createCluster(t, ns, "board", "replicas: 1\n")
	waitFor(t, &realtimev1alpha1.RealtimeCluster{}, ns, "board", func(rc *realtimev1alpha1.RealtimeCluster) error {
		c := meta.FindStatusCondition(rc.Status.Conditions, realtimev1alpha1.ConditionDegraded)
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != controllers.EventPermissionDenied || !strings.HasPrefix(c.Message, want) {
			return fmt.Errorf("Degraded = %+v, want True, %s, %q", c, controllers.EventPermissionDenied, want)
		}
		return nil
	})
	apiPoll().NoError(t, "the PermissionDenied event", func() error {
		var events eventsv1.EventList
		if err := k8s.List(ctx, &events, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, ev := range events.Items {
			if ev.Regarding.Name == "board" && ev.Type == corev1.EventTypeWarning && ev.Reason == controllers.EventPermissionDenied &&
				strings.HasPrefix(ev.Note, want) {
				return nil
			}
		}
		return fmt.Errorf("no Warning %s event on board naming %q among %d events", controllers.EventPermissionDenied, want, len(events.Items))
	})
}
