package envtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// createCanaryPod plays the canary Deployment's ReplicaSet and the kubelet: a pod with the canary labels, ready
// and serving /stats on adminPort, or, with waiting set, its container stuck in that state.
func createCanaryPod(t *testing.T, ns, cluster, name string, adminPort int32, waiting string) {
	t.Helper()
	rc := &realtimev1alpha1.RealtimeCluster{ObjectMeta: metav1.ObjectMeta{Name: cluster, Namespace: ns}}
	labels := specs.ObjectLabels(rc, specs.ComponentRuntime)
	labels[specs.LabelRollout] = specs.RolloutCanary
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "runtime", Image: testImage,
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 3000}, {Name: "admin", ContainerPort: adminPort}},
		}}},
	}
	if err := k8s.Create(context.Background(), pod); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1", PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}}}
	if waiting == "" {
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "runtime", Image: testImage, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}
	} else {
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.Now()}}
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "runtime", Image: testImage, RestartCount: 3,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting, Message: "back-off restarting failed container"}}}}
	}
	if err := k8s.Status().Update(context.Background(), pod); err != nil {
		t.Fatalf("set status of pod %s: %v", name, err)
	}
}

func deploymentImage(want string) func(*appsv1.Deployment) error {
	return func(d *appsv1.Deployment) error {
		if got := d.Spec.Template.Spec.Containers[0].Image; got != want {
			return fmt.Errorf("image %q, want %q", got, want)
		}
		return nil
	}
}

// TestCanaryRollout walks spec.rollout.canary through its whole life against a real API server, playing the
// Deployment controller and the kubelet (canary pods and Deployment status are written by the test, /stats is
// served by a fake runtime): a new image goes to a canary Deployment while the runtime Deployment keeps the old
// one; a crash-looping canary halts the rollout (Warning event, Canary and Degraded conditions, canary scaled to
// 0, runtime Deployment untouched); a newer image restarts the canary, whose healthy pod with clients gets it
// promoted; the canary is removed once the runtime Deployment rolled out; and reverting the image during a
// canary aborts it.
func TestCanaryRollout(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", `replicas: 2
image: registry.example.com/runtime:v1
rollout:
  canary:
    replicas: 1
    pauseSeconds: 1
    analysis:
      readyTimeoutSeconds: 30
      minConnectedClients: 1
`)
	main := waitFor(t, &appsv1.Deployment{}, ns, "chat", func(d *appsv1.Deployment) error {
		if d.Annotations[specs.AnnotationTemplateHash] == "" {
			return fmt.Errorf("no %s annotation", specs.AnnotationTemplateHash)
		}
		return deploymentImage("registry.example.com/runtime:v1")(d)
	})
	simulateDeploymentStatus(t, ns, "chat", 2, 2, 2, 2)
	v1Hash := main.Annotations[specs.AnnotationTemplateHash]

	// A broken image: canary first.
	oldConfigHash := main.Spec.Template.Annotations[specs.AnnotationConfigHash]
	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Image = "registry.example.com/runtime:broken"
		rc.Spec.Runtime.PingInterval = metav1.Duration{Duration: 11 * time.Second}
	})
	canary := waitFor(t, &appsv1.Deployment{}, ns, "chat-canary", deploymentImage("registry.example.com/runtime:broken"))
	if got := *canary.Spec.Replicas; got != 1 {
		t.Errorf("canary replicas %d, want 1", got)
	}
	if canary.Spec.Template.Labels[specs.LabelRollout] != specs.RolloutCanary {
		t.Errorf("canary pod template labels %v lack %s", canary.Spec.Template.Labels, specs.LabelRollout)
	}
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		return conditionIs(rc, realtimev1alpha1.ConditionCanary, metav1.ConditionTrue, controllers.ReasonCanaryAnalyzing)
	})
	apiPoll().NoError(t, "CanaryStarted event", func() error { return hasEvent(ns, controllers.EventCanaryStarted) })
	waitFor(t, &appsv1.Deployment{}, ns, "chat", deploymentImage("registry.example.com/runtime:v1"))

	createCanaryPod(t, ns, "chat", "chat-canary-a", closedPort(t), "CrashLoopBackOff")
	rc := waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		return conditionIs(rc, realtimev1alpha1.ConditionCanary, metav1.ConditionFalse, controllers.ReasonCanaryHalted)
	})
	if err := conditionIs(rc, realtimev1alpha1.ConditionDegraded, metav1.ConditionTrue, controllers.ReasonCanary); err != nil {
		t.Error(err)
	}
	if rc.Status.Canary == nil || rc.Status.Canary.Phase != realtimev1alpha1.CanaryHalted {
		t.Errorf("status.canary %+v, want phase Halted", rc.Status.Canary)
	}
	apiPoll().NoError(t, "CanaryHalted warning naming the pod and its state", func() error {
		return hasEvent(ns, controllers.EventCanaryHalted, "chat-canary-a", "CrashLoopBackOff")
	})
	waitFor(t, &appsv1.Deployment{}, ns, "chat-canary", func(d *appsv1.Deployment) error {
		if *d.Spec.Replicas != 0 {
			return fmt.Errorf("halted canary has %d replicas, want 0", *d.Spec.Replicas)
		}
		return nil
	})
	main = waitFor(t, &appsv1.Deployment{}, ns, "chat", deploymentImage("registry.example.com/runtime:v1"))
	if got := main.Spec.Template.Annotations[specs.AnnotationConfigHash]; got != oldConfigHash || rc.Status.ConfigHash != oldConfigHash {
		t.Errorf("halted canary: runtime Deployment config hash %s, status.configHash %s, want both the old %s", got, rc.Status.ConfigHash, oldConfigHash)
	}
	if canaryHash := canary.Spec.Template.Annotations[specs.AnnotationConfigHash]; canaryHash == oldConfigHash {
		t.Errorf("canary pods run the old config hash %s; the new runtime config must reach them", canaryHash)
	}
	if main.Annotations[specs.AnnotationTemplateHash] != v1Hash {
		t.Errorf("halted rollout changed the runtime Deployment's template hash to %s", main.Annotations[specs.AnnotationTemplateHash])
	}
	deletePod(t, ns, "chat-canary-a")

	// A fixed image restarts the canary; a healthy canary pod with clients gets it promoted.
	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Image = "registry.example.com/runtime:v2" })
	waitFor(t, &appsv1.Deployment{}, ns, "chat-canary", func(d *appsv1.Deployment) error {
		if *d.Spec.Replicas != 1 {
			return fmt.Errorf("restarted canary has %d replicas, want 1", *d.Spec.Replicas)
		}
		return deploymentImage("registry.example.com/runtime:v2")(d)
	})
	waitFor(t, &appsv1.Deployment{}, ns, "chat", deploymentImage("registry.example.com/runtime:v1"))
	fake := startFakeRuntime(t, 7)
	createCanaryPod(t, ns, "chat", "chat-canary-b", fake.port(t), "")
	waitFor(t, &appsv1.Deployment{}, ns, "chat", deploymentImage("registry.example.com/runtime:v2"))
	rc = waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		return conditionIs(rc, realtimev1alpha1.ConditionCanary, metav1.ConditionTrue, controllers.ReasonCanaryPromoted)
	})
	if rc.Status.Canary == nil || rc.Status.Canary.HealthySince == nil {
		t.Errorf("promoted canary's status %+v lacks healthySince", rc.Status.Canary)
	}
	apiPoll().NoError(t, "CanaryPromoted event", func() error { return hasEvent(ns, controllers.EventCanaryPromoted, "7 clients") })
	// The canary keeps serving until the runtime Deployment rolled out.
	waitFor(t, &appsv1.Deployment{}, ns, "chat-canary", nil)
	simulateDeploymentStatus(t, ns, "chat", 2, 2, 2, 2)
	gone(t, &appsv1.Deployment{}, ns, "chat-canary")
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if rc.Status.Canary != nil {
			return fmt.Errorf("status.canary %+v after completion", rc.Status.Canary)
		}
		return conditionIs(rc, realtimev1alpha1.ConditionCanary, metav1.ConditionFalse, controllers.ReasonCanaryCompleted)
	})
	deletePod(t, ns, "chat-canary-b")

	// Reverting the image during a canary aborts it.
	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Image = "registry.example.com/runtime:v3" })
	waitFor(t, &appsv1.Deployment{}, ns, "chat-canary", deploymentImage("registry.example.com/runtime:v3"))
	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Image = "registry.example.com/runtime:v2" })
	gone(t, &appsv1.Deployment{}, ns, "chat-canary")
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		return conditionIs(rc, realtimev1alpha1.ConditionCanary, metav1.ConditionFalse, controllers.ReasonCanaryAborted)
	})
	apiPoll().NoError(t, "CanaryAborted event", func() error { return hasEvent(ns, controllers.EventCanaryAborted) })
	waitFor(t, &appsv1.Deployment{}, ns, "chat", deploymentImage("registry.example.com/runtime:v2"))
}
