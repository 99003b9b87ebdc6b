package controllers

import (
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/fleetview"
)

// fleetPod is a runtime pod for the fleet tests: ready or not, terminating or not, with an IP or not.
func fleetPod(name, ip string, ready, terminating bool, template string) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pod-template-hash": template}}}
	p.Status.PodIP = ip
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	if terminating {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	}
	return p
}

func TestStatsTargets(t *testing.T) {
	pods := []corev1.Pod{
		fleetPod("c-ready", "10.0.0.3", true, false, "a"),
		fleetPod("a-starting", "10.0.0.1", false, false, "a"),
		fleetPod("b-draining", "10.0.0.2", false, true, "a"),
		fleetPod("d-no-ip", "", true, false, "a"),
		fleetPod("e-gone", "", false, true, "a"),
	}
	got := fmt.Sprint(StatsTargets(pods))
	want := "[{b-draining http://10.0.0.2:8081/stats true} {c-ready http://10.0.0.3:8081/stats false}]"
	if got != want {
		t.Errorf("targets = %s, want %s", got, want)
	}
}

func TestSettling(t *testing.T) {
	three := int32(3) // the Deployment's replicas
	steady := func() []corev1.Pod {
		return []corev1.Pod{fleetPod("a", "10.0.0.1", true, false, "v1"), fleetPod("b", "10.0.0.2", true, false, "v1"),
			fleetPod("c", "10.0.0.3", true, false, "v1")}
	}
	reported := fleetview.View{Pods: []fleetview.PodStats{{Name: "a"}, {Name: "b"}, {Name: "c"}}}
	tests := []struct {
		name   string
		mutate func(*FleetObservation, **realtimev1alpha1.ScaleDownStatus)
		want   string
	}{
		{"settled", func(*FleetObservation, **realtimev1alpha1.ScaleDownStatus) {}, ""},
		{"scale-down step", func(_ *FleetObservation, sd **realtimev1alpha1.ScaleDownStatus) {
			*sd = &realtimev1alpha1.ScaleDownStatus{}
		}, "a scale-down is under way"},
		{"terminating pod", func(f *FleetObservation, _ **realtimev1alpha1.ScaleDownStatus) {
			f.Pods[1] = fleetPod("b", "10.0.0.2", false, true, "v1")
		}, "pods are terminating"},
		{"starting pod", func(f *FleetObservation, _ **realtimev1alpha1.ScaleDownStatus) {
			f.Pods[2] = fleetPod("c", "10.0.0.3", false, false, "v1")
		}, "pods are starting"},
		{"rollout", func(f *FleetObservation, _ **realtimev1alpha1.ScaleDownStatus) {
			f.Pods[0] = fleetPod("a", "10.0.0.1", true, false, "v2")
		}, "a rollout is under way"},
		{"pods missing", func(f *FleetObservation, _ **realtimev1alpha1.ScaleDownStatus) { f.Pods = f.Pods[:2] }, "2 of 3 pods are ready"},
		{"unreported pod", func(f *FleetObservation, _ **realtimev1alpha1.ScaleDownStatus) {
			f.View.Pods[1].Err = errors.New("timeout")
		}, "not every pod reported its connections"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			view := reported
			view.Pods = append([]fleetview.PodStats(nil), reported.Pods...)
			fo := &FleetObservation{Pods: steady(), View: view}
			var scaleDown *realtimev1alpha1.ScaleDownStatus
			tc.mutate(fo, &scaleDown)
			if got := settling(fo, scaleDown, &three); got != tc.want {
				t.Errorf("settling = %q, want %q", got, tc.want)
			}
		})
	}
}
