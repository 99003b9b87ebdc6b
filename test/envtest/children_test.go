package envtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// createCluster creates a RealtimeCluster from a YAML spec (the part under "spec:") in namespace ns.
func createCluster(t *testing.T, ns, name, specYAML string) *realtimev1alpha1.RealtimeCluster {
	t.Helper()
	rc := &realtimev1alpha1.RealtimeCluster{}
	if specYAML != "" {
		if err := yaml.UnmarshalStrict([]byte(specYAML), &rc.Spec); err != nil {
			t.Fatalf("decode spec: %v", err)
		}
	}
	rc.Name, rc.Namespace = name, ns
	if err := k8s.Create(context.Background(), rc); err != nil {
		t.Fatalf("create RealtimeCluster: %v", err)
	}
	return rc
}

func getCluster(t *testing.T, ns, name string) *realtimev1alpha1.RealtimeCluster {
	t.Helper()
	rc := &realtimev1alpha1.RealtimeCluster{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, rc); err != nil {
		t.Fatalf("get RealtimeCluster: %v", err)
	}
	return rc
}

// waitFor polls until the object exists and check accepts it.
func waitFor[T client.Object](t *testing.T, obj T, ns, name string, check func(T) error) T {
	t.Helper()
	apiPoll().NoError(t, fmt.Sprintf("%T %s/%s", obj, ns, name), func() error {
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
			return err
		}
		if check != nil {
			return check(obj)
		}
		return nil
	})
	return obj
}

// updateSpec re-reads the cluster, applies mutate and updates it (retrying on conflicts with the operator's
// status writes).
func updateSpec(t *testing.T, ns, name string, mutate func(*realtimev1alpha1.RealtimeCluster)) {
	t.Helper()
	apiPoll().NoError(t, "update RealtimeCluster spec", func() error {
		rc := getCluster(t, ns, name)
		mutate(rc)
		return k8s.Update(context.Background(), rc)
	})
}

func assertOwned(t *testing.T, obj client.Object, rc *realtimev1alpha1.RealtimeCluster) {
	t.Helper()
	if !metav1.IsControlledBy(obj, rc) {
		t.Errorf("%T %s: not controlled by RealtimeCluster %s (ownerReferences %+v)", obj, obj.GetName(), rc.Name, obj.GetOwnerReferences())
	}
	for _, ref := range obj.GetOwnerReferences() {
		if ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("%T %s: owner reference without blockOwnerDeletion", obj, obj.GetName())
		}
	}
}

// TestCreateProducesAllChildren creates a minimal RealtimeCluster and checks every child object and its
// important content.
func TestCreateProducesAllChildren(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "")
	rc := getCluster(t, ns, "chat")

	// The server applied exactly the defaults the Go API documents.
	want := &realtimev1alpha1.RealtimeCluster{}
	want.SetDefaults()
	if !equality.Semantic.DeepEqual(rc.Spec, want.Spec) {
		got, _ := yaml.Marshal(rc.Spec)
		exp, _ := yaml.Marshal(want.Spec)
		t.Errorf("server defaults differ from SetDefaults:\nserver:\n%s\nGo:\n%s", got, exp)
	}

	cm := waitFor(t, &corev1.ConfigMap{}, ns, "chat-config", nil)
	assertOwned(t, cm, rc)
	cfg := specs.RuntimeConfig{}
	if err := yaml.UnmarshalStrict([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
		t.Fatalf("runtime config is not valid YAML for the contract: %v", err)
	}
	if cfg.Path != "/socket.io/" || cfg.PingInterval != "25s" || cfg.PingTimeout != "20s" || cfg.Redis == nil ||
		cfg.Redis.URL != "redis://chat-redis."+ns+".svc:6379/0" || cfg.Redis.PasswordFile == "" {
		t.Errorf("unexpected runtime config: %+v", cfg)
	}

	dep := waitFor(t, &appsv1.Deployment{}, ns, "chat", nil)
	assertOwned(t, dep, rc)
	if *dep.Spec.Replicas != 2 {
		t.Errorf("deployment replicas = %d, want 2", *dep.Spec.Replicas)
	}
	ru := dep.Spec.Strategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable.IntValue() != 0 || ru.MaxSurge.String() != "25%" {
		t.Errorf("rolling update = %+v, want maxUnavailable 0 and maxSurge 25%%", ru)
	}
	pod := dep.Spec.Template.Spec
	if got := *pod.TerminationGracePeriodSeconds; got != 5+60+10 {
		t.Errorf("terminationGracePeriodSeconds = %d, want 75 (preStop 5 + window 60 + margin 10)", got)
	}
	c := pod.Containers[0]
	if c.Image != testImage {
		t.Errorf("image = %q, want the operator default %q", c.Image, testImage)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds != 5 {
		t.Errorf("preStop = %+v, want sleep 5s", c.Lifecycle)
	}
	for name, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Port.String() != "admin" {
			t.Errorf("%s probe = %+v, want HTTP on the admin port", name, probe)
		}
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probe paths: readiness %s, liveness %s", c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
	}
	sc := c.SecurityContext
	if sc == nil || !*sc.ReadOnlyRootFilesystem || !*sc.RunAsNonRoot || *sc.AllowPrivilegeEscalation {
		t.Errorf("container security context = %+v, want non-root, read-only root fs, no privilege escalation", sc)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	for k, v := range map[string]string{
		"SOCKETFLEET_PORT": "3000", "SOCKETFLEET_ADMIN_PORT": "8081",
		"SOCKETFLEET_CONFIG": "/etc/socketfleet/config.yaml", "SOCKETFLEET_REDIS_URL": "redis://chat-redis." + ns + ".svc:6379/0",
	} {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	if dep.Spec.Template.Annotations[specs.AnnotationConfigHash] == "" {
		t.Error("pod template has no config hash annotation")
	}

	svc := waitFor(t, &corev1.Service{}, ns, "chat", nil)
	assertOwned(t, svc, rc)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 3000 {
		t.Errorf("service ports = %+v, want only the public port 3000", svc.Spec.Ports)
	}
	headless := waitFor(t, &corev1.Service{}, ns, "chat-headless", nil)
	assertOwned(t, headless, rc)
	if headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("headless service spec = %+v", headless.Spec)
	}
	for _, p := range headless.Spec.Ports {
		if p.Port == 8081 {
			t.Error("headless service exposes the admin port")
		}
	}
	sa := waitFor(t, &corev1.ServiceAccount{}, ns, "chat", nil)
	assertOwned(t, sa, rc)
	pdb := waitFor(t, &policyv1.PodDisruptionBudget{}, ns, "chat", nil)
	assertOwned(t, pdb, rc)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("pdb maxUnavailable = %v, want 1", pdb.Spec.MaxUnavailable)
	}

	secret := waitFor(t, &corev1.Secret{}, ns, "chat-redis", nil)
	assertOwned(t, secret, rc)
	if len(secret.Data["password"]) < 32 {
		t.Errorf("generated redis password is %d bytes, want at least 32", len(secret.Data["password"]))
	}
	sts := waitFor(t, &appsv1.StatefulSet{}, ns, "chat-redis", nil)
	assertOwned(t, sts, rc)
	redisSvc := waitFor(t, &corev1.Service{}, ns, "chat-redis", nil)
	assertOwned(t, redisSvc, rc)

	// No Ingress unless asked for.
	err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "chat"}, &networkingv1.Ingress{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("ingress exists without spec.ingress.enabled (err=%v)", err)
	}

	// User-visible actions are recorded as events on the RealtimeCluster.
	apiPoll().NoError(t, "creation events", func() error {
		list := &eventsv1.EventList{}
		if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, e := range list.Items {
			if e.Regarding.Kind == "RealtimeCluster" && e.Regarding.Name == "chat" && e.Reason == controllers.EventCreated {
				seen[e.Note] = true
			}
		}
		for _, note := range []string{"Created Deployment chat", "Created ConfigMap chat-config", "Created StatefulSet chat-redis"} {
			if !seen[note] {
				return fmt.Errorf("no %q event among %v", note, seen)
			}
		}
		return nil
	})

	// The password survives reconciles: it is generated once.
	before := string(secret.Data["password"])
	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Replicas = ptr(int32(3)) })
	waitFor(t, &appsv1.Deployment{}, ns, "chat", func(d *appsv1.Deployment) error {
		if *d.Spec.Replicas != 3 {
			return fmt.Errorf("replicas %d", *d.Spec.Replicas)
		}
		return nil
	})
	after := waitFor(t, &corev1.Secret{}, ns, "chat-redis", nil)
	if string(after.Data["password"]) != before {
		t.Error("redis password changed across reconciles")
	}
}

func ptr[T any](v T) *T { return &v }

// childVersions records the resourceVersion of every child of the cluster named chat in ns.
func childVersions(t *testing.T, ns string) map[string]string {
	t.Helper()
	objs := map[string]client.Object{
		"configmap":  &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "chat-config"}},
		"deployment": &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "chat"}},
		"service":    &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "chat"}},
		"headless":   &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "chat-headless"}},
		"sa":         &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "chat"}},
		"pdb":        &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "chat"}},
		"redis-sts":  &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "chat-redis"}},
		"redis-svc":  &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "chat-redis"}},
		"secret":     &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "chat-redis"}},
		"ingress":    &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "chat"}},
		"cluster":    &realtimev1alpha1.RealtimeCluster{ObjectMeta: metav1.ObjectMeta{Name: "chat"}},
	}
	out := map[string]string{}
	for k, o := range objs {
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: o.GetName()}, o); err != nil {
			t.Fatalf("get %s: %v", k, err)
		}
		out[k] = o.GetResourceVersion()
	}
	return out
}

// TestSecondReconcileWritesNothing checks idempotency: once the children exist and the status is current,
// another reconcile changes no resourceVersion (neither children nor the RealtimeCluster status).
func TestSecondReconcileWritesNothing(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", `
ingress:
  enabled: true
  hosts: [chat.example.com]
`)
	waitFor(t, &networkingv1.Ingress{}, ns, "chat", nil)
	waitFor(t, &realtimev1alpha1.RealtimeCluster{}, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if rc.Status.ObservedGeneration != rc.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", rc.Status.ObservedGeneration, rc.Generation)
		}
		return nil
	})
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "chat"}}
	// Let the manager's reconciles settle: reconcile directly until nothing changes.
	var before map[string]string
	apiPoll().NoError(t, "children settle", func() error {
		before = childVersions(t, ns)
		if _, err := reconciler.Reconcile(context.Background(), req); err != nil {
			return err
		}
		after := childVersions(t, ns)
		if !equality.Semantic.DeepEqual(before, after) {
			return fmt.Errorf("versions changed: %v -> %v", before, after)
		}
		return nil
	})
	for i := 0; i < 2; i++ {
		if _, err := reconciler.Reconcile(context.Background(), req); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
	}
	if after := childVersions(t, ns); !equality.Semantic.DeepEqual(before, after) {
		t.Errorf("a reconcile of an up-to-date cluster wrote objects:\nbefore %v\nafter  %v", before, after)
	}
}

// TestImageUpdateRollsDeployment changes spec.image and expects a new pod template.
func TestImageUpdateRollsDeployment(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "image: registry.example.com/runtime:v1\n")
	dep := waitFor(t, &appsv1.Deployment{}, ns, "chat", nil)
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/runtime:v1" {
		t.Fatalf("image = %q", img)
	}
	gen := dep.Generation
	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Image = "registry.example.com/runtime:v2" })
	waitFor(t, &appsv1.Deployment{}, ns, "chat", func(d *appsv1.Deployment) error {
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/runtime:v2" {
			return fmt.Errorf("image still %q", img)
		}
		if d.Generation <= gen {
			return fmt.Errorf("generation %d did not advance from %d", d.Generation, gen)
		}
		return nil
	})
}

// TestConfigChangeRollsPods changes a runtime setting and expects the ConfigMap and the pod template's
// config hash to change (which makes the Deployment roll the pods).
func TestConfigChangeRollsPods(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "")
	dep := waitFor(t, &appsv1.Deployment{}, ns, "chat", nil)
	oldHash := dep.Spec.Template.Annotations[specs.AnnotationConfigHash]
	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Runtime.PingInterval = metav1.Duration{Duration: 10_000_000_000}
	})
	waitFor(t, &corev1.ConfigMap{}, ns, "chat-config", func(cm *corev1.ConfigMap) error {
		if !strings.Contains(cm.Data["config.yaml"], "pingInterval: 10s") {
			return errors.New("config map does not carry pingInterval: 10s yet")
		}
		return nil
	})
	waitFor(t, &appsv1.Deployment{}, ns, "chat", func(d *appsv1.Deployment) error {
		if h := d.Spec.Template.Annotations[specs.AnnotationConfigHash]; h == oldHash {
			return fmt.Errorf("config hash still %s", h)
		}
		return nil
	})
	rc := getCluster(t, ns, "chat")
	apiPoll().NoError(t, "status.configHash follows", func() error {
		rc = getCluster(t, ns, "chat")
		d := &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "chat"}, d); err != nil {
			return err
		}
		if rc.Status.ConfigHash != d.Spec.Template.Annotations[specs.AnnotationConfigHash] {
			return fmt.Errorf("status.configHash %q", rc.Status.ConfigHash)
		}
		return nil
	})
}

// TestDeleteLeavesOwnerReferences deletes a RealtimeCluster: every child carries a controller owner reference
// to it, so the garbage collector (absent in envtest) removes them.
func TestDeleteLeavesOwnerReferences(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "")
	rc := getCluster(t, ns, "chat")
	children := []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "chat-config"}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "chat"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "chat"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "chat-headless"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "chat"}},
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "chat"}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "chat-redis"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "chat-redis"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "chat-redis"}},
	}
	// Every child exists before the owner goes: the reconcile applies them one after the other, so seeing one
	// (the Redis StatefulSet) does not mean the later ones (Deployment, Services, PDB) are there yet.
	for _, o := range children {
		waitFor(t, o, ns, o.GetName(), nil)
	}
	if err := k8s.Delete(context.Background(), rc); err != nil {
		t.Fatalf("delete: %v", err)
	}
	apiPoll().NoError(t, "RealtimeCluster gone", func() error {
		err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "chat"}, &realtimev1alpha1.RealtimeCluster{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still present (err=%v)", err)
	})
	for _, o := range children {
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: o.GetName()}, o); err != nil {
			t.Fatalf("get %T %s: %v", o, o.GetName(), err)
		}
		assertOwned(t, o, rc)
	}
}
