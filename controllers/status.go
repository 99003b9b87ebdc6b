package controllers

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// Condition reasons set by the operator.
const (
	ReasonAvailable         = "Available"
	ReasonPodsNotReady      = "PodsNotReady"
	ReasonScaledToZero      = "ScaledToZero"
	ReasonRedisNotReady     = "RedisNotReady"
	ReasonRollingOut        = "RollingOut"
	ReasonComplete          = "Complete"
	ReasonDeadlineExceeded  = "ProgressDeadlineExceeded"
	ReasonReplicaFailure    = "ReplicaFailure"
	ReasonReconcileError    = "ReconcileError"
	ReasonGatewayAPIMissing = "GatewayAPIMissing"
	ReasonAsExpected        = "AsExpected"
	ReasonExternal          = "External"
	ReasonCreating          = "Creating"
)

// Observed is what the reconciler saw of the children when it computed the status.
type Observed struct {
	// Deployment is the runtime Deployment as stored (nil when it does not exist yet).
	Deployment *appsv1.Deployment
	// Redis is the managed Redis StatefulSet as stored (nil when missing or external).
	Redis *appsv1.StatefulSet
	// ConfigHash is the hash of the configuration the desired pod template carries.
	ConfigHash string
	// ReconcileError is the error of the last reconcile step, if any.
	ReconcileError error
	// GatewayAPIMissing is true when spec.ingress.gateway is set but the HTTPRoute kind is not served.
	GatewayAPIMissing bool
	// Fleet is what the fleet steps (pod stats, scale-down, autoscaling) saw and decided; nil when they did
	// not run.
	Fleet *FleetObservation
}

// ComputeStatus derives the status of rc from the observed children. Conditions keep their
// lastTransitionTime while their status does not change; now stamps the ones that do.
func ComputeStatus(rc *realtimev1alpha1.RealtimeCluster, obs Observed, now metav1.Time) realtimev1alpha1.RealtimeClusterStatus {
	st := realtimev1alpha1.RealtimeClusterStatus{
		ObservedGeneration: rc.Generation,
		Conditions:         append([]metav1.Condition(nil), rc.Status.Conditions...),
		Selector:           specs.RuntimeSelector(rc),
		ConnectedClients:   rc.Status.ConnectedClients,
		Endpoint:           specs.Endpoint(rc),
		ConfigHash:         obs.ConfigHash,
	}
	desired := realtimev1alpha1.DefaultReplicas
	if rc.Spec.Replicas != nil {
		desired = *rc.Spec.Replicas
	}
	set := func(condType string, status metav1.ConditionStatus, reason, message string) {
		c := metav1.Condition{Type: condType, Status: status, Reason: reason, Message: message, ObservedGeneration: rc.Generation}
		if existing := meta.FindStatusCondition(st.Conditions, condType); existing == nil || existing.Status != status {
			c.LastTransitionTime = now
		} else {
			c.LastTransitionTime = existing.LastTransitionTime
		}
		meta.SetStatusCondition(&st.Conditions, c)
	}

	// RedisReady.
	redisReady := true
	switch {
	case rc.Spec.Redis.External != nil:
		set(realtimev1alpha1.ConditionRedisReady, metav1.ConditionTrue, ReasonExternal,
			fmt.Sprintf("external Redis (%s) at %s; connectivity is reported by the runtime pods' readiness",
				modeOrStandalone(rc.Spec.Redis.External.Mode), strings.Join(rc.Spec.Redis.External.Addresses, ",")))
	case obs.Redis == nil:
		redisReady = false
		set(realtimev1alpha1.ConditionRedisReady, metav1.ConditionFalse, ReasonCreating, "managed Redis StatefulSet does not exist yet")
	case obs.Redis.Status.ObservedGeneration >= obs.Redis.Generation && obs.Redis.Status.ReadyReplicas >= 1 &&
		obs.Redis.Status.UpdatedReplicas >= 1:
		set(realtimev1alpha1.ConditionRedisReady, metav1.ConditionTrue, ReasonAvailable, "managed Redis is ready")
	default:
		redisReady = false
		set(realtimev1alpha1.ConditionRedisReady, metav1.ConditionFalse, ReasonRedisNotReady, "managed Redis pod is not ready")
	}

	// Runtime rollout.
	dep := obs.Deployment
	var rolloutDone, available, deadline, replicaFailure bool
	var rolloutMsg string
	if dep == nil {
		rolloutMsg = "runtime Deployment does not exist yet"
	} else {
		ds := dep.Status
		st.Replicas, st.ReadyReplicas, st.UpdatedReplicas = ds.Replicas, ds.ReadyReplicas, ds.UpdatedReplicas
		observed := ds.ObservedGeneration >= dep.Generation
		rolloutDone = observed && ds.UpdatedReplicas == desired && ds.Replicas == desired && ds.AvailableReplicas >= desired
		// Capacity does not depend on the Deployment controller having seen the newest spec: a spec change
		// must not flap Ready while the old pods keep serving.
		available = ds.AvailableReplicas >= desired
		for _, c := range ds.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
				deadline = true
			}
			if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
				replicaFailure = true
				rolloutMsg = c.Message
			}
		}
		if rolloutMsg == "" {
			rolloutMsg = fmt.Sprintf("%d of %d runtime pods updated, %d ready, %d available",
				ds.UpdatedReplicas, desired, ds.ReadyReplicas, ds.AvailableReplicas)
		}
	}

	// Progressing.
	switch {
	case deadline:
		set(realtimev1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonDeadlineExceeded, rolloutMsg)
	case rolloutDone:
		set(realtimev1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonComplete, rolloutMsg)
	default:
		set(realtimev1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonRollingOut, rolloutMsg)
	}

	// Degraded.
	switch {
	case obs.ReconcileError != nil:
		set(realtimev1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonReconcileError, obs.ReconcileError.Error())
	case obs.GatewayAPIMissing:
		set(realtimev1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonGatewayAPIMissing,
			"spec.ingress.gateway is set but the cluster does not serve gateway.networking.k8s.io/v1 HTTPRoute; install the Gateway API CRDs")
	case deadline:
		set(realtimev1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonDeadlineExceeded, "runtime rollout exceeded its progress deadline: "+rolloutMsg)
	case replicaFailure:
		set(realtimev1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonReplicaFailure, rolloutMsg)
	default:
		set(realtimev1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonAsExpected, "all children reconciled")
	}

	// Ready: the fleet serves the desired capacity (old pods count during a rollout, which never removes
	// capacity because maxUnavailable is 0) and Redis is ready.
	switch {
	case desired == 0:
		set(realtimev1alpha1.ConditionReady, metav1.ConditionFalse, ReasonScaledToZero, "spec.replicas is 0")
	case !available:
		set(realtimev1alpha1.ConditionReady, metav1.ConditionFalse, ReasonPodsNotReady, rolloutMsg)
	case !redisReady:
		set(realtimev1alpha1.ConditionReady, metav1.ConditionFalse, ReasonRedisNotReady, "runtime pods are available but Redis is not ready")
	default:
		set(realtimev1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAvailable,
			fmt.Sprintf("%d of %d runtime pods available", dep.Status.AvailableReplicas, desired))
	}
	return st
}

func modeOrStandalone(m realtimev1alpha1.RedisMode) realtimev1alpha1.RedisMode {
	if m == "" {
		return realtimev1alpha1.RedisModeStandalone
	}
	return m
}
