package controllers

import (
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// cluster is a defaulted RealtimeCluster "chat" in namespace "apps", changed by mutate first.
func cluster(mutate func(*realtimev1alpha1.RealtimeCluster)) *realtimev1alpha1.RealtimeCluster {
	rc := &realtimev1alpha1.RealtimeCluster{ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: "apps"}}
	if mutate != nil {
		mutate(rc)
	}
	rc.SetDefaults()
	return rc
}

func deployment(gen, observed int64, replicas, updated, ready, available int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Generation: gen},
		Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: replicas, UpdatedReplicas: updated,
			ReadyReplicas: ready, AvailableReplicas: available, Conditions: conds},
	}
}

func readyRedis() *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Generation: 1},
		Status:     appsv1.StatefulSetStatus{ObservedGeneration: 1, ReadyReplicas: 1, UpdatedReplicas: 1},
	}
}

func TestComputeStatusConditions(t *testing.T) {
	type want struct{ ready, progressing, degraded, redis string }
	cases := []struct {
		name   string
		mutate func(*realtimev1alpha1.RealtimeCluster)
		obs    Observed
		want   want
	}{
		{"nothing exists yet", nil, Observed{},
			want{ReasonPodsNotReady, ReasonRollingOut, ReasonAsExpected, ReasonCreating}},
		{"all ready", nil, Observed{Deployment: deployment(1, 1, 2, 2, 2, 2), Redis: readyRedis()},
			want{ReasonAvailable, ReasonComplete, ReasonAsExpected, ReasonAvailable}},
		{"pods ready, redis not", nil, Observed{Deployment: deployment(1, 1, 2, 2, 2, 2), Redis: &appsv1.StatefulSet{}},
			want{ReasonRedisNotReady, ReasonComplete, ReasonAsExpected, ReasonRedisNotReady}},
		{"rolling out keeps capacity", nil, Observed{Deployment: deployment(2, 2, 3, 1, 3, 3), Redis: readyRedis()},
			want{ReasonAvailable, ReasonRollingOut, ReasonAsExpected, ReasonAvailable}},
		{"new spec not yet observed by the deployment controller", nil, Observed{Deployment: deployment(3, 2, 2, 2, 2, 2), Redis: readyRedis()},
			want{ReasonAvailable, ReasonRollingOut, ReasonAsExpected, ReasonAvailable}},
		{"progress deadline exceeded", nil, Observed{Redis: readyRedis(), Deployment: deployment(2, 2, 3, 1, 2, 2,
			appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"})},
			want{ReasonAvailable, ReasonDeadlineExceeded, ReasonDeadlineExceeded, ReasonAvailable}},
		{"replica failure", nil, Observed{Redis: readyRedis(), Deployment: deployment(1, 1, 0, 0, 0, 0,
			appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Message: "quota exceeded"})},
			want{ReasonPodsNotReady, ReasonRollingOut, ReasonReplicaFailure, ReasonAvailable}},
		{"reconcile error wins", nil, Observed{Deployment: deployment(1, 1, 2, 2, 2, 2), Redis: readyRedis(), ReconcileError: errors.New("boom")},
			want{ReasonAvailable, ReasonComplete, ReasonReconcileError, ReasonAvailable}},
		{"gateway API missing", nil, Observed{Deployment: deployment(1, 1, 2, 2, 2, 2), Redis: readyRedis(), GatewayAPIMissing: true},
			want{ReasonAvailable, ReasonComplete, ReasonGatewayAPIMissing, ReasonAvailable}},
		{"scaled to zero", func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Replicas = new(int32(0)) },
			Observed{Deployment: deployment(1, 1, 0, 0, 0, 0), Redis: readyRedis()},
			want{ReasonScaledToZero, ReasonComplete, ReasonAsExpected, ReasonAvailable}},
		{"external redis", func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Redis.External = &realtimev1alpha1.ExternalRedisSpec{Addresses: []string{"r:6379"}}
		}, Observed{Deployment: deployment(1, 1, 2, 2, 2, 2)},
			want{ReasonAvailable, ReasonComplete, ReasonAsExpected, ReasonExternal}},
	}
	now := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := cluster(tc.mutate)
			rc.Generation = 4
			st := ComputeStatus(rc, tc.obs, now)
			for condType, reason := range map[string]string{
				realtimev1alpha1.ConditionReady:       tc.want.ready,
				realtimev1alpha1.ConditionProgressing: tc.want.progressing,
				realtimev1alpha1.ConditionDegraded:    tc.want.degraded,
				realtimev1alpha1.ConditionRedisReady:  tc.want.redis,
			} {
				c := meta.FindStatusCondition(st.Conditions, condType)
				if c == nil {
					t.Fatalf("no %s condition", condType)
				}
				if c.Reason != reason {
					t.Errorf("%s reason = %s (%s: %s), want %s", condType, c.Reason, c.Status, c.Message, reason)
				}
				if c.ObservedGeneration != 4 || !c.LastTransitionTime.Equal(&now) {
					t.Errorf("%s observedGeneration %d lastTransitionTime %v", condType, c.ObservedGeneration, c.LastTransitionTime)
				}
			}
			if st.ObservedGeneration != 4 {
				t.Errorf("observedGeneration = %d", st.ObservedGeneration)
			}
			if st.Selector != "app.kubernetes.io/component=runtime,app.kubernetes.io/instance=chat,app.kubernetes.io/name=socketfleet" {
				t.Errorf("selector = %q", st.Selector)
			}
		})
	}
}

func TestComputeStatusKeepsTransitionTimes(t *testing.T) {
	rc := cluster(nil)
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Hour))
	obs := Observed{Deployment: deployment(1, 1, 2, 2, 2, 2), Redis: readyRedis()}
	rc.Status = ComputeStatus(rc, obs, t0)
	rc.Status.ConnectedClients = 42
	again := ComputeStatus(rc, obs, t1)
	for _, c := range again.Conditions {
		if !c.LastTransitionTime.Equal(&t0) {
			t.Errorf("%s lastTransitionTime moved to %v without a status change", c.Type, c.LastTransitionTime)
		}
	}
	if again.ConnectedClients != 42 {
		t.Errorf("connectedClients = %d, want the previous value kept", again.ConnectedClients)
	}
	obs.Deployment.Status.AvailableReplicas = 1
	changed := ComputeStatus(rc, obs, t1)
	if c := meta.FindStatusCondition(changed.Conditions, realtimev1alpha1.ConditionReady); c.Status != metav1.ConditionFalse || !c.LastTransitionTime.Equal(&t1) {
		t.Errorf("Ready = %s at %v, want False at %v", c.Status, c.LastTransitionTime, t1)
	}
}
