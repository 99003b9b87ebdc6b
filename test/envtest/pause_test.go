package envtest

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
)

// waitCondition waits until the cluster's condition condType has status, computed for the cluster's current
// generation (so the reconcile that set it saw the latest spec).
func waitCondition(t *testing.T, ns, name, condType string, status metav1.ConditionStatus) *realtimev1alpha1.RealtimeCluster {
	t.Helper()
	return waitFor(t, &realtimev1alpha1.RealtimeCluster{}, ns, name, func(rc *realtimev1alpha1.RealtimeCluster) error {
		c := meta.FindStatusCondition(rc.Status.Conditions, condType)
		if c == nil || c.Status != status || c.ObservedGeneration != rc.Generation {
			return fmt.Errorf("condition %s = %+v at generation %d, want %s", condType, c, rc.Generation, status)
		}
		return nil
	})
}

// waitEvent waits for an event of reason on the cluster.
func waitEvent(t *testing.T, ns, reason string) {
	t.Helper()
	apiPoll().NoError(t, reason+" event", func() error {
		list := &eventsv1.EventList{}
		if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Regarding.Kind == "RealtimeCluster" && e.Reason == reason {
				return nil
			}
		}
		return fmt.Errorf("no %s event among %d", reason, len(list.Items))
	})
}

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
	rc := waitCondition(t, ns, "chat", realtimev1alpha1.ConditionPaused, metav1.ConditionTrue)
	waitEvent(t, ns, controllers.EventPaused)
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
	waitCondition(t, ns, "chat", realtimev1alpha1.ConditionPaused, metav1.ConditionFalse)
	waitEvent(t, ns, controllers.EventResumed)
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
