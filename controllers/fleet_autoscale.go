package controllers

import (
	"context"
	"fmt"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/autoscale"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// Who owns spec.replicas: without autoscaling, the user (manifest, kubectl scale). With mode hpa, the
// HorizontalPodAutoscaler the operator creates (it writes through /scale). With mode native, the operator's
// own autoscaler, which writes through the same /scale subresource an HPA would use, so exactly one writer
// owns the field and the operator never fights an external autoscaler: it never writes spec.replicas in the
// other modes. In every mode the Deployment follows spec.replicas through the connection-aware scale-down.

// AutoscaleBehavior converts an autoscaling/v2 behavior (nil fields take the HPA defaults) into the
// autoscaler's rules.
func AutoscaleBehavior(b *autoscalingv2.HorizontalPodAutoscalerBehavior) autoscale.Behavior {
	out := autoscale.DefaultBehavior()
	if b == nil {
		return out
	}
	convert := func(r *autoscalingv2.HPAScalingRules, into *autoscale.Rules) {
		if r == nil {
			return
		}
		if r.StabilizationWindowSeconds != nil {
			into.StabilizationWindow = time.Duration(*r.StabilizationWindowSeconds) * time.Second
		}
		if r.SelectPolicy != nil {
			into.Select = autoscale.Select(*r.SelectPolicy)
		}
		if len(r.Policies) > 0 {
			into.Policies = nil
			for _, p := range r.Policies {
				into.Policies = append(into.Policies, autoscale.Policy{
					Type: autoscale.PolicyType(p.Type), Value: p.Value, Period: time.Duration(p.PeriodSeconds) * time.Second,
				})
			}
		}
		if r.Tolerance != nil {
			into.Tolerance = r.Tolerance.AsApproximateFloat64()
		}
	}
	convert(b.ScaleUp, &out.ScaleUp)
	convert(b.ScaleDown, &out.ScaleDown)
	return out
}

// AutoscaleDecision is what the native autoscaler decided in one reconcile.
type AutoscaleDecision struct {
	// Status is the autoscaler status block to record.
	Status *realtimev1alpha1.AutoscalerStatus
	// ScaleTo is the spec.replicas to write through /scale (nil: keep spec.replicas).
	ScaleTo *int32
	// Events are recorded once ScaleTo is written.
	Events []FleetEvent
}

// decideAutoscale runs the native autoscaler after a fresh poll (or at once when spec.replicas is outside
// the bounds). It only decides; applyFleetDecision writes a changed replica count through /scale.
func (r *RealtimeClusterReconciler) decideAutoscale(_ context.Context, rc *realtimev1alpha1.RealtimeCluster, _ specs.Desired, obs *Observed) error {
	key := fleetKey(rc)
	if obs.Fleet == nil || !specs.NativeAutoscaling(rc) {
		r.fleet.dropHistory(key)
		obs.Decision.Autoscale = &AutoscaleDecision{}
		return nil
	}
	decision, err := planAutoscale(rc, obs.Fleet, r.fleet.history(key), r.now().Time)
	if err != nil {
		return err
	}
	obs.Decision.Autoscale = &decision
	return nil
}

// planAutoscale is the native autoscaler's step for rc, a natively autoscaled RealtimeCluster: after a
// fresh poll of fo (or at once when spec.replicas is outside the bounds) it evaluates the pods' connection
// counts against h, the autoscaler's history (which it updates), and returns the replicas to set, if they
// change.
func planAutoscale(rc *realtimev1alpha1.RealtimeCluster, fo *FleetObservation, h *autoscale.History, now time.Time) (AutoscaleDecision, error) {
	a := rc.Spec.Autoscaling
	current := realtimev1alpha1.DefaultReplicas
	if rc.Spec.Replicas != nil {
		current = *rc.Spec.Replicas
	}
	var prev *realtimev1alpha1.AutoscalerStatus
	if rc.Status.Fleet != nil && rc.Status.Fleet.Autoscaler != nil {
		prev = rc.Status.Fleet.Autoscaler.DeepCopy()
	}
	outOfBounds := current != 0 && (current < a.MinReplicas || current > a.MaxReplicas)
	if !fo.FreshPoll && !outOfBounds {
		if prev == nil {
			prev = &realtimev1alpha1.AutoscalerStatus{DesiredReplicas: current}
		}
		return AutoscaleDecision{Status: prev}, nil
	}

	in := autoscale.Input{
		Now: now, CurrentReplicas: current, TargetPerPod: int64(a.TargetConnectionsPerPod),
		MinReplicas: a.MinReplicas, MaxReplicas: a.MaxReplicas, Behavior: AutoscaleBehavior(a.Behavior),
	}
	for _, p := range fo.View.Pods {
		switch {
		case p.Terminating: // leaving, reachable or not
		case p.Err != nil:
			in.MissingPods++
		case !p.Draining: // like a terminating pod for the HPA, a draining pod does not count
			in.PodConnections = append(in.PodConnections, p.Connections)
		}
	}
	decision, err := autoscale.Evaluate(in, h)
	if err != nil {
		return AutoscaleDecision{}, fmt.Errorf("autoscale: %w", err)
	}
	status := &realtimev1alpha1.AutoscalerStatus{DesiredReplicas: decision.Replicas}
	if prev != nil {
		status.LastScaleTime = prev.LastScaleTime
	}
	out := AutoscaleDecision{Status: status}
	if decision.Replicas == current {
		return out, nil
	}
	out.ScaleTo = new(decision.Replicas)
	out.Events = []FleetEvent{{Type: corev1.EventTypeNormal, Reason: EventAutoscaled, Action: "Scale",
		Note: fmt.Sprintf("Autoscaled from %d to %d replicas: %s", current, decision.Replicas, decision.Reason)}}
	return out, nil
}

// writeScale sets spec.replicas of rc through its /scale subresource (as an HPA does), with optimistic
// concurrency on the resourceVersion it read.
func (r *RealtimeClusterReconciler) writeScale(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, replicas int32) error {
	scale := &autoscalingv1.Scale{}
	if err := r.Client.SubResource("scale").Get(ctx, rc, scale); err != nil {
		return fmt.Errorf("get /scale of %s/%s: %w", rc.Namespace, rc.Name, err)
	}
	scale.Spec.Replicas = replicas
	if err := r.Client.SubResource("scale").Update(ctx, rc, client.WithSubResourceBody(scale)); err != nil {
		return fmt.Errorf("update /scale of %s/%s to %d replicas: %w", rc.Namespace, rc.Name, replicas, err)
	}
	return nil
}
