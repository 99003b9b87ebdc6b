package envtest

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
)

// TestPausedClusterChangesNothing pauses a cluster, changes its image and a runtime setting, and checks that the
// reconcile which saw that spec (the Paused condition at the new generation) left the Deployment's template and
// the ConfigMap as they were and paused the Deployment; resuming applies the spec and unpauses it.
func TestPausedClusterChangesNothing(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "image: registry.example.com/runtime:v1\n")
	dep := waitFor(t, &appsv1.Deployment{}, ns, "chat", nil)
	cm := waitFor(t, &corev1.ConfigMap{}, ns, "chat-config", nil)
	template := dep.Spec.Template.DeepCopy()
	config := cm.Data["config.yaml"]

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Paused = true
		rc.Spec.Image = "registry.example.com/runtime:broken"
		rc.Spec.Runtime.PingInterval = metav1.Duration{Duration: 11_000_000_000}
	})
	rc := waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		return conditionIs(rc, realtimev1alpha1.ConditionPaused, metav1.ConditionTrue, controllers.ReasonPaused)
	})
	apiPoll().NoError(t, "Paused event", func() error { return hasEvent(ns, controllers.EventPaused) })
	dep = waitFor(t, &appsv1.Deployment{}, ns, "chat", func(d *appsv1.Deployment) error {
		if !d.Spec.Paused {
			return fmt.Errorf("deployment not paused")
		}
		return nil
	})
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != template.Spec.Containers[0].Image {
		t.Errorf("paused cluster's Deployment image changed to %q", img)
	}
	cm = waitFor(t, &corev1.ConfigMap{}, ns, "chat-config", nil)
	if cm.Data["config.yaml"] != config {
		t.Errorf("paused cluster's runtime config changed:\n%s", cm.Data["config.yaml"])
	}
	if rc.Status.ConfigHash != template.Annotations["realtime.socketfleet.io/config-hash"] {
		t.Errorf("status.configHash %s, want the hash the pods still run (%s)", rc.Status.ConfigHash, template.Annotations["realtime.socketfleet.io/config-hash"])
	}

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Paused = false })
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		return conditionIs(rc, realtimev1alpha1.ConditionPaused, metav1.ConditionFalse, controllers.ReasonResumed)
	})
	apiPoll().NoError(t, "Resumed event", func() error { return hasEvent(ns, controllers.EventResumed) })
	waitFor(t, &appsv1.Deployment{}, ns, "chat", func(d *appsv1.Deployment) error {
		if d.Spec.Paused {
			return fmt.Errorf("deployment still paused")
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/runtime:broken" {
			return fmt.Errorf("image %q not applied after resume", img)
		}
		return nil
	})
}

// TestPausedClusterKeepsReportingFleet pauses a cluster whose pod's /stats requires the admin token and checks
// that the fleet view keeps following the pod's connection count while paused (the token is read, not created).
func TestPausedClusterKeepsReportingFleet(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "replicas: 1\n")
	secret := waitFor(t, &corev1.Secret{}, ns, "chat-admin-token", nil)
	token, err := controllers.AdminTokenOf(secret)
	if err != nil {
		t.Fatal(err)
	}
	fake := startFakeRuntime(t, 120)
	fake.token.Store(&token)
	createRuntimePod(t, ns, "chat", "chat-a", fake.port(t))
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if rc.Status.ConnectedClients != 120 {
			return fmt.Errorf("connected %d, pods %s", rc.Status.ConnectedClients, fleetPods(rc))
		}
		return nil
	})
	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Paused = true })
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		return conditionIs(rc, realtimev1alpha1.ConditionPaused, metav1.ConditionTrue, controllers.ReasonPaused)
	})
	fake.clients.Store(150)
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if rc.Status.ConnectedClients != 150 {
			return fmt.Errorf("connected %d while paused, pods %s", rc.Status.ConnectedClients, fleetPods(rc))
		}
		return conditionIs(rc, realtimev1alpha1.ConditionFleetObserved, metav1.ConditionTrue, "")
	})
	if n := fake.unauthorized.Load(); n != 0 {
		t.Errorf("%d /stats requests without the admin token", n)
	}
}
