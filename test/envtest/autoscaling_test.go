package envtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

func specReplicas(rc *realtimev1alpha1.RealtimeCluster) int32 {
	if rc.Spec.Replicas == nil {
		return -1
	}
	return *rc.Spec.Replicas
}

// TestNativeAutoscaling serves connection counts from real HTTP servers and expects the native autoscaler to
// raise spec.replicas through /scale (bounded by the rate policy and maxReplicas), report its decision and
// an event, then bring it back down to minReplicas when the load drops, with the Deployment following
// through the scale-down path.
func TestNativeAutoscaling(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", `
replicas: 2
drain:
  maxConcurrent: 2
autoscaling:
  enabled: true
  minReplicas: 2
  maxReplicas: 6
  targetConnectionsPerPod: 100
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 0
`)
	waitFor(t, &appsv1.Deployment{}, ns, "chat", nil)
	a, b := startFakeRuntime(t, 300), startFakeRuntime(t, 300)
	createRuntimePod(t, ns, "chat", "chat-a", a.port(t))
	createRuntimePod(t, ns, "chat", "chat-b", b.port(t))

	// 600 connections at 100 per pod: 6 replicas (the default scale-up policy allows +4 from 2).
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if specReplicas(rc) != 6 {
			return fmt.Errorf("spec.replicas %d, want 6 (pods %s)", specReplicas(rc), fleetPods(rc))
		}
		if rc.Status.Fleet == nil || rc.Status.Fleet.Autoscaler == nil || rc.Status.Fleet.Autoscaler.DesiredReplicas != 6 ||
			rc.Status.Fleet.Autoscaler.LastScaleTime == nil {
			return fmt.Errorf("autoscaler status %+v", rc.Status.Fleet)
		}
		return nil
	})
	waitFor(t, &appsv1.Deployment{}, ns, "chat", func(d *appsv1.Deployment) error {
		if *d.Spec.Replicas != 6 {
			return fmt.Errorf("deployment replicas %d, want 6", *d.Spec.Replicas)
		}
		return nil
	})
	apiPoll().NoError(t, "Autoscaled event", func() error {
		list := &eventsv1.EventList{}
		if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			return err
		}
		var notes []string
		for _, e := range list.Items {
			// One step, or two when a poll saw only the first pod (a slow machine): the last ends at 6.
			if e.Reason == controllers.EventAutoscaled && strings.Contains(e.Note, " to 6 replicas") {
				return nil
			}
			notes = append(notes, e.Reason+": "+e.Note)
		}
		return fmt.Errorf("no Autoscaled event to 6 replicas among %q", notes)
	})

	// The load drops: back to minReplicas, and the Deployment follows in steps.
	a.clients.Store(20)
	b.clients.Store(20)
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if specReplicas(rc) != 2 {
			return fmt.Errorf("spec.replicas %d, want 2", specReplicas(rc))
		}
		return nil
	})
	waitFor(t, &appsv1.Deployment{}, ns, "chat", func(d *appsv1.Deployment) error {
		if *d.Spec.Replicas != 2 {
			return fmt.Errorf("deployment replicas %d, want 2", *d.Spec.Replicas)
		}
		return nil
	})
}

// TestHPAMode expects mode hpa to create an autoscaling/v2 HPA on the RealtimeCluster's /scale with the
// socketfleet_connected_clients Pods metric, to leave spec.replicas to it (a /scale write sticks), and the
// HPA to be removed when autoscaling switches to native.
func TestHPAMode(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", `
replicas: 3
autoscaling:
  enabled: true
  mode: hpa
  minReplicas: 2
  maxReplicas: 20
  targetConnectionsPerPod: 4000
`)
	rc := getCluster(t, ns, "chat")
	hpa := waitFor(t, &autoscalingv2.HorizontalPodAutoscaler{}, ns, "chat", nil)
	assertOwned(t, hpa, rc)
	ref := hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "realtime.socketfleet.io/v1alpha1" || ref.Kind != "RealtimeCluster" || ref.Name != "chat" {
		t.Errorf("scaleTargetRef %+v", ref)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 2 || hpa.Spec.MaxReplicas != 20 {
		t.Errorf("bounds %v..%d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Type != autoscalingv2.PodsMetricSourceType ||
		hpa.Spec.Metrics[0].Pods.Metric.Name != specs.ConnectedClientsMetric ||
		hpa.Spec.Metrics[0].Pods.Target.AverageValue.Value() != 4000 {
		t.Errorf("metrics %+v", hpa.Spec.Metrics)
	}

	// Pods report a load that native mode would act on; in hpa mode the operator leaves spec.replicas alone.
	p := startFakeRuntime(t, 50000)
	createRuntimePod(t, ns, "chat", "chat-a", p.port(t))
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if rc.Status.ConnectedClients != 50000 {
			return fmt.Errorf("connected %d", rc.Status.ConnectedClients)
		}
		return nil
	})
	// The HPA (played by the test) writes /scale; the operator keeps that value.
	scale := &autoscalingv1.Scale{}
	if err := k8s.SubResource("scale").Get(context.Background(), rc, scale); err != nil {
		t.Fatalf("get /scale: %v", err)
	}
	scale.Spec.Replicas = 5
	if err := k8s.SubResource("scale").Update(context.Background(), rc, client.WithSubResourceBody(scale)); err != nil {
		t.Fatalf("update /scale: %v", err)
	}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "chat"}}
	for range 3 {
		if _, err := reconciler.Reconcile(context.Background(), req); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
	}
	if got := specReplicas(getCluster(t, ns, "chat")); got != 5 {
		t.Errorf("spec.replicas %d after the HPA wrote 5", got)
	}
	waitFor(t, &appsv1.Deployment{}, ns, "chat", func(d *appsv1.Deployment) error {
		if *d.Spec.Replicas != 5 {
			return fmt.Errorf("deployment replicas %d, want 5", *d.Spec.Replicas)
		}
		return nil
	})

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Autoscaling.Mode = realtimev1alpha1.AutoscalingModeNative
	})
	apiPoll().NoError(t, "HPA removed", func() error {
		err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "chat"}, &autoscalingv2.HorizontalPodAutoscaler{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("HPA still there (err %v)", err)
	})
}
