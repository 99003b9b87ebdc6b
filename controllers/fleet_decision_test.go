package controllers

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/fleetview"
)

func TestSoonest(t *testing.T) {
	tests := []struct {
		a, b, want time.Duration
	}{
		{0, 0, 0},
		{0, time.Second, time.Second},
		{time.Second, 0, time.Second},
		{time.Minute, time.Second, time.Second},
		{-time.Second, time.Minute, time.Minute},
		{time.Minute, -time.Second, time.Minute},
	}
	for _, tc := range tests {
		if got := soonest(tc.a, tc.b); got != tc.want {
			t.Errorf("soonest(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestPlanFleetView(t *testing.T) {
	observed := []metav1.Condition{{Type: realtimev1alpha1.ConditionFleetObserved, Status: metav1.ConditionTrue}}
	failedBefore := &realtimev1alpha1.FleetStatus{Pods: []realtimev1alpha1.PodConnections{{Name: "b", Error: "timeout"}}}
	view := func(errB error) fleetview.View {
		return fleetview.View{Pods: []fleetview.PodStats{{Name: "a", Connections: 4}, {Name: "b", Connections: 6, Err: errB}}}
	}
	tests := []struct {
		name       string
		conditions []metav1.Condition
		prevFleet  *realtimev1alpha1.FleetStatus
		fo         FleetObservation
		wantReason string // "" for no condition
		wantEvents int
	}{
		{"nothing polled, never observed", nil, nil, FleetObservation{}, "", 0},
		{"nothing polled, observed before", observed, nil, FleetObservation{}, ReasonNoReadyPods, 0},
		{"all reported", nil, nil, FleetObservation{Polled: true, View: view(nil)}, ReasonAllPodsReported, 0},
		{"newly unreachable", observed, nil, FleetObservation{Polled: true, View: view(errors.New("timeout"))}, ReasonPodsUnreachable, 1},
		{"still unreachable", observed, failedBefore, FleetObservation{Polled: true, View: view(errors.New("timeout"))}, ReasonPodsUnreachable, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := cluster(nil)
			rc.Status.Conditions, rc.Status.Fleet = tc.conditions, tc.prevFleet
			got := planFleetView(rc, &tc.fo)
			switch {
			case tc.wantReason == "" && got.Condition != nil:
				t.Errorf("condition %+v, want none", got.Condition)
			case tc.wantReason != "" && (got.Condition == nil || got.Condition.Reason != tc.wantReason):
				t.Errorf("condition %+v, want reason %s", got.Condition, tc.wantReason)
			}
			if len(got.Events) != tc.wantEvents {
				t.Errorf("events %+v, want %d", got.Events, tc.wantEvents)
			}
		})
	}
}

func TestDeletionCosts(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	pod := func(name string, annotations map[string]string, terminating bool) corev1.Pod {
		p := fleetPod(name, "10.0.0.1", true, terminating, "v1")
		p.Annotations = annotations
		return p
	}
	marked := func(cost string) map[string]string {
		return map[string]string{AnnotationPodDeletionCost: cost, AnnotationScaleDownSelected: "2026-01-01T00:00:00Z"}
	}
	lowest, second := "-2147483647", "-2147483646"
	tests := []struct {
		name    string
		pods    []corev1.Pod
		victims []string
		want    []DeletionCost
	}{
		{"victims ranked, least loaded first", []corev1.Pod{pod("a", nil, false), pod("b", nil, false), pod("c", nil, false)},
			[]string{"c", "a"}, []DeletionCost{
				{Pod: "a", Cost: second, SelectedAt: "2026-01-02T03:04:05Z"},
				{Pod: "c", Cost: lowest, SelectedAt: "2026-01-02T03:04:05Z"},
			}},
		{"already marked with the right cost", []corev1.Pod{pod("a", marked(lowest), false)}, []string{"a"}, nil},
		{"survivor of an earlier step gets its cost back", []corev1.Pod{pod("a", marked(lowest), false), pod("b", nil, false)},
			[]string{"b"}, []DeletionCost{{Pod: "a"}, {Pod: "b", Cost: lowest, SelectedAt: "2026-01-02T03:04:05Z"}}},
		{"terminating pods are left alone", []corev1.Pod{pod("a", marked(lowest), true)}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := deletionCosts(tc.pods, tc.victims, now); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("deletionCosts = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPlanScaleDown(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	pods := []corev1.Pod{fleetPod("a", "10.0.0.1", true, false, "v1"), fleetPod("b", "10.0.0.2", true, false, "v1"),
		fleetPod("c", "10.0.0.3", true, false, "v1")}
	view := fleetview.View{Pods: []fleetview.PodStats{{Name: "a", Connections: 9}, {Name: "b", Connections: 1}, {Name: "c", Connections: 5}}}
	tests := []struct {
		name         string
		current      *int32
		desired      int32
		wantReplicas int32
		wantVictims  []string
		wantEvent    bool
	}{
		{"no deployment yet: as desired", nil, 2, 2, nil, false},
		{"scale-up at once", new(int32(3)), 5, 5, nil, false},
		{"scale-down step picks the least loaded", new(int32(3)), 2, 2, []string{"b"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := cluster(nil)
			fo := &FleetObservation{Pods: pods, View: view, Polled: true, DeploymentReplicas: tc.current}
			got := planScaleDown(rc, fo, tc.desired, nil, now)
			if got.Replicas != tc.wantReplicas {
				t.Errorf("replicas = %d, want %d", got.Replicas, tc.wantReplicas)
			}
			var victims []string
			if got.Status != nil {
				victims = got.Status.Pods
			}
			if !reflect.DeepEqual(victims, tc.wantVictims) {
				t.Errorf("victims = %v, want %v", victims, tc.wantVictims)
			}
			if len(got.DeletionCosts) != len(tc.wantVictims) {
				t.Errorf("deletion costs = %+v, want one per victim", got.DeletionCosts)
			}
			if (len(got.Events) > 0) != tc.wantEvent || (tc.wantEvent && got.RequeueAfter <= 0) {
				t.Errorf("events = %+v, requeue after %v", got.Events, got.RequeueAfter)
			}
		})
	}
}

func TestComputeStatusRecordsFleetDecisions(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	rc := cluster(nil)
	rc.Generation = 7
	scaleDown := &realtimev1alpha1.ScaleDownStatus{FromReplicas: 3, ToReplicas: 2, Pods: []string{"b"}, StartedAt: now}
	obs := Observed{
		Deployment: deployment(7, 7, 3, 3, 3, 3), Redis: readyRedis(),
		Fleet: &FleetObservation{Polled: true, View: fleetview.View{Pods: []fleetview.PodStats{
			{Name: "a", Connections: 10}, {Name: "b", Connections: 4, Draining: true},
		}}},
		Decision: FleetDecision{
			View: &ViewDecision{Condition: &metav1.Condition{Type: realtimev1alpha1.ConditionFleetObserved,
				Status: metav1.ConditionTrue, Reason: ReasonAllPodsReported, Message: "2 reported"}},
			ScaleDown: &ScaleDownDecision{Replicas: 2, Status: scaleDown},
		},
	}
	st := ComputeStatus(rc, obs, now)
	c := meta.FindStatusCondition(st.Conditions, realtimev1alpha1.ConditionFleetObserved)
	if c == nil || c.Reason != ReasonAllPodsReported || c.ObservedGeneration != 7 || !c.LastTransitionTime.Equal(&now) {
		t.Errorf("FleetObserved = %+v", c)
	}
	if st.ConnectedClients != 14 || st.Fleet == nil || st.Fleet.DrainingPods != 1 || st.Fleet.DrainingClients != 4 {
		t.Fatalf("connected %d, fleet %+v", st.ConnectedClients, st.Fleet)
	}
	if !reflect.DeepEqual(st.Fleet.ScaleDown, scaleDown) {
		t.Errorf("scale-down = %+v, want %+v", st.Fleet.ScaleDown, scaleDown)
	}
	// spec.replicas is 2 by default and the Deployment has 3: rolling out, with the drain's progress.
	p := meta.FindStatusCondition(st.Conditions, realtimev1alpha1.ConditionProgressing)
	if p == nil || p.Status != metav1.ConditionTrue || !strings.HasSuffix(p.Message, "; 1 pods draining, 4 clients still to hand over") {
		t.Errorf("Progressing = %+v", p)
	}
}
