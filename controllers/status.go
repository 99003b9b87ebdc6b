package controllers

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/fleetview"
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
	ReasonPaused            = "Paused"
	ReasonResumed           = "Resumed"
)

// Observed is what the reconciler saw of the children and the fleet, and what the fleet steps decided, when it
// computed the status.
type Observed struct {
	// Deployment is the runtime Deployment as stored (nil when it does not exist yet).
	Deployment *appsv1.Deployment
	// Redis is the managed Redis StatefulSet as stored (nil when missing or external).
	Redis *appsv1.StatefulSet
	// Sentinel is the Sentinel StatefulSet of a managed Redis with replicas as stored (nil when missing or
	// not needed).
	Sentinel *appsv1.StatefulSet
	// ConfigHash is the hash of the configuration the desired pod template carries.
	ConfigHash string
	// ReconcileError is the error of the last reconcile step, if any.
	ReconcileError error
	// GatewayAPIMissing is true when spec.ingress.gateway is set but the HTTPRoute kind is not served.
	GatewayAPIMissing bool
	// Fleet is what the fleet steps (pod stats, scale-down, autoscaling, rebalancing) saw; nil when they did
	// not run.
	Fleet *FleetObservation
	// Decision is what the fleet steps decided (and applyFleetDecision carried out).
	Decision FleetDecision
	// AdminToken is the token of the runtime pods' admin port, read from (or just written to) its Secret.
	AdminToken string
	// Paused is true when spec.paused kept the reconcile from changing anything.
	Paused bool
	// Canary is what the canary step decided (nil: it did not run).
	Canary *CanaryDecision
}

// ComputeStatus derives the status of rc from the observed children, the fleet observation and the fleet
// decisions: it is the only place the status is written. Conditions keep their lastTransitionTime while their
// status does not change; now stamps the ones that do.
func ComputeStatus(rc *realtimev1alpha1.RealtimeCluster, obs Observed, now metav1.Time) realtimev1alpha1.RealtimeClusterStatus {
	st := realtimev1alpha1.RealtimeClusterStatus{
		ObservedGeneration: rc.Generation,
		Conditions:         append([]metav1.Condition(nil), rc.Status.Conditions...),
		Selector:           specs.RuntimeSelector(rc),
		Endpoint:           specs.Endpoint(rc),
		ConfigHash:         obs.ConfigHash,
		Recovery:           recoveryStatus(rc),
	}
	desired := realtimev1alpha1.DefaultReplicas
	if rc.Spec.Replicas != nil {
		desired = *rc.Spec.Replicas
	}
	// Every condition is set here, through meta.SetStatusCondition: it keeps lastTransitionTime while the
	// status does not change and takes now when it does.
	setCondition := func(c metav1.Condition) {
		c.ObservedGeneration, c.LastTransitionTime = rc.Generation, now
		meta.SetStatusCondition(&st.Conditions, c)
	}
	set := func(condType string, status metav1.ConditionStatus, reason, message string) {
		setCondition(metav1.Condition{Type: condType, Status: status, Reason: reason, Message: message})
	}
	st.ConnectedClients, st.Fleet = fleetStatus(rc, obs)

	// RedisReady.
	redisReady := true
	switch {
	case rc.Spec.Redis.External != nil:
		set(realtimev1alpha1.ConditionRedisReady, metav1.ConditionTrue, ReasonExternal,
			fmt.Sprintf("external Redis (%s) at %s; each runtime pod's link to it is reported by the RedisDegraded condition",
				modeOrStandalone(rc.Spec.Redis.External.Mode), strings.Join(rc.Spec.Redis.External.Addresses, ",")))
	case obs.Redis == nil:
		redisReady = false
		set(realtimev1alpha1.ConditionRedisReady, metav1.ConditionFalse, ReasonCreating, "managed Redis StatefulSet does not exist yet")
	case specs.RedisHA(rc) && obs.Sentinel == nil:
		redisReady = false
		set(realtimev1alpha1.ConditionRedisReady, metav1.ConditionFalse, ReasonCreating, "managed Redis Sentinel StatefulSet does not exist yet")
	case specs.RedisHA(rc):
		// A Redis pod is ready when it is the primary or a replica linked to one, so one ready pod means a
		// working primary; failing over needs a quorum of Sentinels.
		ready := stsReady(obs.Redis, 1) && stsReady(obs.Sentinel, specs.SentinelQuorum)
		status, reason := metav1.ConditionTrue, ReasonAvailable
		if !ready {
			redisReady = false
			status, reason = metav1.ConditionFalse, ReasonRedisNotReady
		}
		set(realtimev1alpha1.ConditionRedisReady, status, reason,
			fmt.Sprintf("managed Redis: %d of %d Redis pods ready (the primary or a linked replica), %d of %d Sentinels ready (%d needed to fail over)",
				obs.Redis.Status.ReadyReplicas, specs.RedisReplicas(rc), obs.Sentinel.Status.ReadyReplicas, specs.SentinelCount, specs.SentinelQuorum))
	case stsReady(obs.Redis, 1):
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
		set(realtimev1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonRollingOut, rolloutMsg+drainProgress(st.Fleet))
	}

	// Degraded.
	switch {
	case obs.ReconcileError != nil:
		if msg, denied := missingPermission(obs.ReconcileError); denied {
			set(realtimev1alpha1.ConditionDegraded, metav1.ConditionTrue, EventPermissionDenied, msg)
		} else {
			set(realtimev1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonReconcileError, obs.ReconcileError.Error())
		}
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
	for _, c := range obs.Decision.Conditions() {
		setCondition(c)
	}
	st.Canary = canaryStatus(rc, obs)
	for _, c := range canaryConditions(obs, st.Canary) {
		setCondition(c)
	}
	switch {
	case obs.Paused:
		// The pod template still carries the configuration it had when the cluster was paused.
		st.ConfigHash = rc.Status.ConfigHash
		set(realtimev1alpha1.ConditionPaused, metav1.ConditionTrue, ReasonPaused,
			"spec.paused is true: no child is changed, the runtime Deployment's rollout is paused and no automatic fleet operation runs (kubectl socketfleet drain and shed requests still do)")
	case meta.FindStatusCondition(st.Conditions, realtimev1alpha1.ConditionPaused) != nil:
		set(realtimev1alpha1.ConditionPaused, metav1.ConditionFalse, ReasonResumed, "spec.paused is false: changes are applied")
	}
	return st
}

// recoveryStatus publishes the connection state recovery the runtime config asks for (status.recovery).
func recoveryStatus(rc *realtimev1alpha1.RealtimeCluster) *realtimev1alpha1.RecoveryStatus {
	eff := rc.Spec.EffectiveRecovery()
	st := &realtimev1alpha1.RecoveryStatus{Adapter: eff.Adapter, Enabled: eff.Enabled}
	if eff.Enabled {
		st.MaxDisconnectionDuration, st.Derived = eff.MaxDisconnectionDuration.String(), eff.Derived
	}
	return st
}

// stsReady reports whether sts has observed its current spec and has at least n ready pods on its current
// revision.
func stsReady(sts *appsv1.StatefulSet, n int32) bool {
	return sts.Status.ObservedGeneration >= sts.Generation && sts.Status.ReadyReplicas >= n && sts.Status.UpdatedReplicas >= n
}

func modeOrStandalone(m realtimev1alpha1.RedisMode) realtimev1alpha1.RedisMode {
	if m == "" {
		return realtimev1alpha1.RedisModeStandalone
	}
	return m
}

// fleetStatus derives the connected clients and the fleet block of the status from the fleet observation and
// decisions. Without an observation (an earlier step failed) the previous values are kept; so is the block of
// a step that did not decide.
func fleetStatus(rc *realtimev1alpha1.RealtimeCluster, obs Observed) (int64, *realtimev1alpha1.FleetStatus) {
	fo := obs.Fleet
	if fo == nil {
		return rc.Status.ConnectedClients, rc.Status.Fleet.DeepCopy()
	}
	fleet := &realtimev1alpha1.FleetStatus{}
	if prev := rc.Status.Fleet; prev != nil {
		fleet.Autoscaler, fleet.ScaleDown, fleet.Rebalance = prev.Autoscaler.DeepCopy(), prev.ScaleDown.DeepCopy(), prev.Rebalance.DeepCopy()
	}
	fd := obs.Decision
	if fd.Autoscale != nil {
		fleet.Autoscaler = fd.Autoscale.Status
	}
	if fd.ScaleDown != nil {
		fleet.ScaleDown = fd.ScaleDown.Status
	}
	if fd.Rebalance != nil {
		fleet.Rebalance = fd.Rebalance.Status()
	}
	var connected int64
	if fo.Polled {
		sum := fleetview.Summarize(fo.View.Pods)
		connected = sum.Total
		fleet.WebSocketClients, fleet.PollingClients = sum.WebSocket, sum.Polling
		fleet.ReportingPods, fleet.UnreachablePods = int32(sum.Reporting), int32(sum.Unreachable)
		fleet.ImbalancePercent = sum.ImbalancePercent
		fleet.AdapterDown = sum.AdapterDownNames
		for _, p := range fo.View.Pods {
			if p.Terminating && p.Err != nil {
				continue // exited
			}
			pc := realtimev1alpha1.PodConnections{Name: p.Name, ConnectedClients: p.Connections, WebSocket: p.WebSocket,
				Polling: p.Polling, Draining: p.Leaving()}
			if p.Err != nil {
				pc.Error = p.Err.Error()
			}
			if p.AdapterDown() && p.Adapter.DownSince != nil {
				// Whole seconds in UTC, as stored: an unchanged outage does not rewrite the status.
				since := metav1.NewTime(p.Adapter.DownSince.UTC().Truncate(time.Second))
				pc.AdapterDownSince = &since
			}
			if pc.Draining {
				fleet.DrainingPods++
				fleet.DrainingClients += p.Connections
			}
			fleet.Pods = append(fleet.Pods, pc)
		}
	}
	if fleet.ScaleDown == nil && fleet.Autoscaler == nil && fleet.Rebalance == nil && len(fleet.Pods) == 0 {
		fleet = nil
	}
	return connected, fleet
}

// drainProgress is added to the Progressing condition's message while a rollout or scale-down is under way,
// so `kubectl describe` shows how far the hand-over of the draining pods' clients got.
func drainProgress(fleet *realtimev1alpha1.FleetStatus) string {
	if fleet == nil || fleet.DrainingPods == 0 {
		return ""
	}
	return fmt.Sprintf("; %d pods draining, %d clients still to hand over", fleet.DrainingPods, fleet.DrainingClients)
}
