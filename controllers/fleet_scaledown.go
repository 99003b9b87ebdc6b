package controllers

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/scaledown"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// Annotations of the connection-aware scale-down.
const (
	// AnnotationPodDeletionCost is the ReplicaSet controller's hint: pods with a lower cost are removed first.
	AnnotationPodDeletionCost = "controller.kubernetes.io/pod-deletion-cost"
	// AnnotationScaleDownSelected marks the pods the operator chose to go (value: when, RFC 3339), so a
	// later step can take the cost back from a pod that survived (the ReplicaSet removed another one).
	AnnotationScaleDownSelected = "realtime.socketfleet.io/scale-down-selected"
	// LowestDeletionCost is the lowest value the API server accepts for the deletion cost; victims get
	// LowestDeletionCost + their rank (least loaded first).
	LowestDeletionCost = -math.MaxInt32
)

// ScaleDownDecision is what the connection-aware scale-down decided in one reconcile.
type ScaleDownDecision struct {
	// Replicas is the runtime Deployment's spec.replicas.
	Replicas int32
	// DeletionCosts are the pod annotation changes to make before the Deployment's replicas are lowered.
	DeletionCosts []DeletionCost
	// Status is the scale-down step to record (nil: none under way).
	Status *realtimev1alpha1.ScaleDownStatus
	// Events are recorded once the deletion costs are set.
	Events []FleetEvent
	// RequeueAfter is when the step is to be looked at again (0: no need).
	RequeueAfter time.Duration
}

// DeletionCost is one change of a pod's scale-down annotations.
type DeletionCost struct {
	// Pod is the pod's name.
	Pod string
	// Cost is the AnnotationPodDeletionCost to set; "" takes the cost and the selection mark back.
	Cost string
	// SelectedAt is the AnnotationScaleDownSelected value (RFC 3339) set with Cost.
	SelectedAt string
}

// decideScaleDown decides the Deployment's replicas (see planScaleDown) for the replicas the autoscaler
// decided, or spec.replicas.
func (r *RealtimeClusterReconciler) decideScaleDown(_ context.Context, rc *realtimev1alpha1.RealtimeCluster, d specs.Desired, obs *Observed) error {
	if d.Deployment == nil || obs.Fleet == nil {
		return nil
	}
	desired := realtimev1alpha1.DefaultReplicas
	if rc.Spec.Replicas != nil {
		desired = *rc.Spec.Replicas
	}
	if a := obs.Decision.Autoscale; a != nil && a.ScaleTo != nil {
		desired = *a.ScaleTo
	}
	var fromStatus *realtimev1alpha1.ScaleDownStatus
	if rc.Status.Fleet != nil {
		fromStatus = rc.Status.Fleet.ScaleDown
	}
	prev := r.fleet.latestScaleDown(fleetKey(rc), fromStatus)
	decision := planScaleDown(rc, obs.Fleet, desired, prev, r.now())
	obs.Decision.ScaleDown = &decision
	return nil
}

// planScaleDown decides the Deployment's replicas for desired replicas: a scale-up applies at once; a
// scale-down goes in steps of at most spec.drain.maxConcurrent pods. Before a step lowers the replicas, the
// least-loaded pods get the lowest pod-deletion-cost (once) so the ReplicaSet removes them; the next step
// waits until the pods are gone or the grace period (preStop + drain window + margin) has passed. prev is the
// step under way, if any.
func planScaleDown(rc *realtimev1alpha1.RealtimeCluster, fo *FleetObservation, desired int32, prev *realtimev1alpha1.ScaleDownStatus, now metav1.Time) ScaleDownDecision {
	current := desired
	if fo.DeploymentReplicas != nil {
		current = *fo.DeploymentReplicas
	}
	var inFlight *scaledown.InFlight
	if prev != nil {
		inFlight = &scaledown.InFlight{StartedAt: prev.StartedAt.Time, ToReplicas: prev.ToReplicas}
	}
	window := time.Duration(specs.TerminationGracePeriodSeconds(rc)) * time.Second
	plan := scaledown.Next(scaledown.Input{
		Now: now.Time, Desired: desired, Current: current, MaxConcurrent: rc.Spec.Drain.MaxConcurrent,
		InFlight: inFlight, Pods: int32(len(fo.Pods)), Window: window,
	})
	out := ScaleDownDecision{Replicas: plan.Replicas}
	switch plan.Action {
	case scaledown.ActionScale:
	case scaledown.ActionWait:
		out.Status = prev
		out.RequeueAfter = plan.RetryAfter
	case scaledown.ActionStep:
		victims := scaledown.SelectVictims(plannerPods(fo), int(plan.Remove))
		out.DeletionCosts = deletionCosts(fo.Pods, victims, now)
		out.Status = &realtimev1alpha1.ScaleDownStatus{FromReplicas: current, ToReplicas: plan.Replicas, Pods: victims, StartedAt: now}
		out.RequeueAfter = window
		out.Events = []FleetEvent{{Type: corev1.EventTypeNormal, Reason: EventScaleDown, Action: "ScaleDown",
			Note: fmt.Sprintf("Lowering runtime replicas from %d to %d (target %d, at most %d draining at once); least loaded: %s",
				current, plan.Replicas, desired, max(rc.Spec.Drain.MaxConcurrent, 1), describeVictims(fo, victims))}}
	}
	return out
}

// plannerPods turns the observed pods and their polled counts into the planner's view.
func plannerPods(fo *FleetObservation) []scaledown.Pod {
	byName := map[string]int{}
	for i, p := range fo.View.Pods {
		byName[p.Name] = i
	}
	out := make([]scaledown.Pod, 0, len(fo.Pods))
	for i := range fo.Pods {
		p := &fo.Pods[i]
		sp := scaledown.Pod{Name: p.Name, Ready: podReady(p), Terminating: p.DeletionTimestamp != nil}
		if j, ok := byName[p.Name]; ok && fo.View.Pods[j].Err == nil {
			sp.Reported, sp.Connections = true, fo.View.Pods[j].Connections
		}
		out = append(out, sp)
	}
	return out
}

func describeVictims(fo *FleetObservation, victims []string) string {
	if len(victims) == 0 {
		return "no pod selected"
	}
	conns := map[string]string{}
	for _, p := range fo.View.Pods {
		if p.Err == nil {
			conns[p.Name] = strconv.FormatInt(p.Connections, 10)
		}
	}
	parts := make([]string, len(victims))
	for i, v := range victims {
		c, ok := conns[v]
		if !ok {
			c = "unknown"
		}
		parts[i] = fmt.Sprintf("%s (%s connections)", v, c)
	}
	return strings.Join(parts, ", ")
}

// deletionCosts gives the victims the lowest deletion costs (least loaded lowest) and takes the cost back
// from pods selected by an earlier step that are still there and not selected now. Pods already carrying the
// right value are left alone.
func deletionCosts(pods []corev1.Pod, victims []string, now metav1.Time) []DeletionCost {
	var out []DeletionCost
	for i := range pods {
		pod := &pods[i]
		if pod.DeletionTimestamp != nil {
			continue
		}
		rank := slices.Index(victims, pod.Name)
		_, selectedBefore := pod.Annotations[AnnotationScaleDownSelected]
		switch {
		case rank >= 0:
			cost := strconv.Itoa(LowestDeletionCost + rank)
			if selectedBefore && pod.Annotations[AnnotationPodDeletionCost] == cost {
				continue
			}
			out = append(out, DeletionCost{Pod: pod.Name, Cost: cost, SelectedAt: now.UTC().Format(time.RFC3339)})
		case selectedBefore:
			out = append(out, DeletionCost{Pod: pod.Name})
		}
	}
	return out
}

// setDeletionCosts patches the pods' scale-down annotations as changes say. A pod already gone is skipped.
func (r *RealtimeClusterReconciler) setDeletionCosts(ctx context.Context, pods []corev1.Pod, changes []DeletionCost) error {
	byName := map[string]*corev1.Pod{}
	for i := range pods {
		byName[pods[i].Name] = &pods[i]
	}
	for _, c := range changes {
		pod, ok := byName[c.Pod]
		if !ok {
			continue
		}
		base := client.MergeFrom(pod.DeepCopy())
		if c.Cost == "" {
			delete(pod.Annotations, AnnotationPodDeletionCost)
			delete(pod.Annotations, AnnotationScaleDownSelected)
		} else {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[AnnotationPodDeletionCost] = c.Cost
			pod.Annotations[AnnotationScaleDownSelected] = c.SelectedAt
		}
		if err := r.Client.Patch(ctx, pod, base); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("annotate pod %s for scale-down: %w", pod.Name, err)
		}
	}
	return nil
}
