package envtest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
)

// deletionCosts returns the pod-deletion-cost annotation of every runtime pod of ns that has one.
func deletionCosts(t *testing.T, ns string) map[string]string {
	t.Helper()
	list := &corev1.PodList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatalf("list pods: %v", err)
	}
	out := map[string]string{}
	for _, p := range list.Items {
		if v, ok := p.Annotations[controllers.AnnotationPodDeletionCost]; ok {
			out[p.Name] = v
		}
	}
	return out
}

func deploymentReplicas(t *testing.T, ns, name string) int32 {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, d); err != nil {
		t.Fatalf("get deployment: %v", err)
	}
	return *d.Spec.Replicas
}

func deletePod(t *testing.T, ns, name string) {
	t.Helper()
	if err := k8s.Delete(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}); err != nil {
		t.Fatalf("delete pod %s: %v", name, err)
	}
}

// TestConnectionAwareScaleDown scales a 5-pod fleet to 2 with drain.maxConcurrent 2 and plays the
// ReplicaSet controller by deleting the pods the operator marked. It expects the least-loaded pods to get
// the lowest deletion cost before the Deployment's replicas drop, at most 2 pods per step, no next step while
// the marked pods still exist, and each pod annotated only once.
func TestConnectionAwareScaleDown(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "replicas: 5\ndrain:\n  maxConcurrent: 2\n")
	waitFor(t, &appsv1.Deployment{}, ns, "chat", nil)
	load := map[string]int64{"chat-a": 300, "chat-b": 100, "chat-c": 250, "chat-d": 400, "chat-e": 50}
	for _, name := range []string{"chat-a", "chat-b", "chat-c", "chat-d", "chat-e"} {
		createRuntimePod(t, ns, "chat", name, startFakeRuntime(t, load[name]).port(t))
	}
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if rc.Status.Fleet == nil || rc.Status.Fleet.ReportingPods != 5 {
			return fmt.Errorf("pods %s", fleetPods(rc))
		}
		return nil
	})

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Replicas = ptr(int32(2)) })

	// Step 1: the two least-loaded pods (e: 50, b: 100) are marked before the replicas drop to 3.
	apiPoll().NoError(t, "first scale-down step", func() error {
		costs := deletionCosts(t, ns) // read before the Deployment: marks must already be there
		if got := deploymentReplicas(t, ns, "chat"); got != 3 {
			return fmt.Errorf("deployment replicas %d, want 3", got)
		}
		want := map[string]string{
			"chat-e": strconv.Itoa(controllers.LowestDeletionCost),
			"chat-b": strconv.Itoa(controllers.LowestDeletionCost + 1),
		}
		if fmt.Sprint(costs) != fmt.Sprint(want) {
			return fmt.Errorf("deletion costs %v, want %v", costs, want)
		}
		return nil
	})
	rc := waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		sd := rc.Status.Fleet.ScaleDown
		if sd == nil || sd.FromReplicas != 5 || sd.ToReplicas != 3 || !slices.Equal(sd.Pods, []string{"chat-e", "chat-b"}) {
			return fmt.Errorf("scaleDown status %+v", sd)
		}
		return nil
	})
	if rc.Status.Fleet.ScaleDown.StartedAt.IsZero() {
		t.Error("scaleDown.startedAt not set")
	}

	// While the marked pods exist (their drain window is 75s), further reconciles neither lower the replicas
	// nor rewrite the marked pods.
	versions := map[string]string{}
	for _, name := range []string{"chat-b", "chat-e"} {
		p := &corev1.Pod{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, p); err != nil {
			t.Fatal(err)
		}
		versions[name] = p.ResourceVersion
	}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "chat"}}
	for range 3 {
		if _, err := reconciler.Reconcile(context.Background(), req); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
	}
	if got := deploymentReplicas(t, ns, "chat"); got != 3 {
		t.Fatalf("deployment replicas %d while the first step drains, want 3", got)
	}
	for name, rv := range versions {
		p := &corev1.Pod{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, p); err != nil {
			t.Fatal(err)
		}
		if p.ResourceVersion != rv {
			t.Errorf("pod %s was written again during the step (resourceVersion %s -> %s)", name, rv, p.ResourceVersion)
		}
	}

	// The ReplicaSet removes the marked pods; step 2 marks the next least-loaded pod (c: 250) and drops to 2.
	deletePod(t, ns, "chat-e")
	deletePod(t, ns, "chat-b")
	apiPoll().NoError(t, "second scale-down step", func() error {
		costs := deletionCosts(t, ns)
		if got := deploymentReplicas(t, ns, "chat"); got != 2 {
			return fmt.Errorf("deployment replicas %d, want 2", got)
		}
		want := map[string]string{"chat-c": strconv.Itoa(controllers.LowestDeletionCost)}
		if fmt.Sprint(costs) != fmt.Sprint(want) {
			return fmt.Errorf("deletion costs %v, want %v", costs, want)
		}
		return nil
	})

	// Scaling back up applies at once and ends the scale-down.
	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Replicas = ptr(int32(4)) })
	waitFor(t, &appsv1.Deployment{}, ns, "chat", func(d *appsv1.Deployment) error {
		if *d.Spec.Replicas != 4 {
			return fmt.Errorf("deployment replicas %d, want 4", *d.Spec.Replicas)
		}
		return nil
	})
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if rc.Status.Fleet != nil && rc.Status.Fleet.ScaleDown != nil {
			return fmt.Errorf("scaleDown still recorded: %+v", rc.Status.Fleet.ScaleDown)
		}
		return nil
	})
}
