package controllers

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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

// planScaleDown decides the Deployment's replicas: a scale-up applies at once; a scale-down goes in steps of
// at most spec.drain.maxConcurrent pods. Before a step lowers the replicas, the least-loaded pods get the
// lowest pod-deletion-cost (once) so the ReplicaSet removes them; the next step waits until the pods are
// gone or the grace period (preStop + drain window + margin) has passed. It sets the desired Deployment's
// replicas, which the apply step then writes.
func (r *RealtimeClusterReconciler) planScaleDown(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, d specs.Desired, obs *Observed) error {
	fo := obs.Fleet
	if d.Deployment == nil || fo == nil {
		return nil
	}
	desired := realtimev1alpha1.DefaultReplicas
	if rc.Spec.Replicas != nil {
		desired = *rc.Spec.Replicas
	}
	current := desired
	dep := &appsv1.Deployment{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: rc.Namespace, Name: d.Deployment.Name}, dep)
	switch {
	case err == nil && dep.Spec.Replicas != nil:
		current = *dep.Spec.Replicas
	case err == nil:
		current = 1
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("get deployment: %w", err)
	}

	var inFlight *scaledown.InFlight
	var fromStatus *realtimev1alpha1.ScaleDownStatus
	if rc.Status.Fleet != nil {
		fromStatus = rc.Status.Fleet.ScaleDown
	}
	key := fleetKey(rc)
	prev := r.fleet.latestScaleDown(key, fromStatus)
	if prev != nil {
		inFlight = &scaledown.InFlight{StartedAt: prev.StartedAt.Time, ToReplicas: prev.ToReplicas}
	}
	defer func() { r.fleet.rememberScaleDown(key, fo.ScaleDown) }()
	now := r.now()
	window := time.Duration(specs.TerminationGracePeriodSeconds(rc)) * time.Second
	plan := scaledown.Next(scaledown.Input{
		Now: now.Time, Desired: desired, Current: current, MaxConcurrent: rc.Spec.Drain.MaxConcurrent,
		InFlight: inFlight, Pods: int32(len(fo.Pods)), Window: window,
	})
	replicas := plan.Replicas
	d.Deployment.Spec.Replicas = &replicas

	switch plan.Action {
	case scaledown.ActionScale:
		fo.ScaleDown = nil
	case scaledown.ActionWait:
		fo.ScaleDown = prev
		fo.requeue(plan.RetryAfter)
	case scaledown.ActionStep:
		victims := scaledown.SelectVictims(plannerPods(fo), int(plan.Remove))
		if err := r.markVictims(ctx, fo.Pods, victims, now); err != nil {
			return err
		}
		fo.ScaleDown = &realtimev1alpha1.ScaleDownStatus{FromReplicas: current, ToReplicas: replicas, Pods: victims, StartedAt: now}
		fo.requeue(window)
		r.event(rc, nil, corev1.EventTypeNormal, EventScaleDown, "ScaleDown",
			fmt.Sprintf("Lowering runtime replicas from %d to %d (target %d, at most %d draining at once); least loaded: %s",
				current, replicas, desired, max(rc.Spec.Drain.MaxConcurrent, 1), describeVictims(fo, victims)))
	}
	return nil
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

// markVictims gives the victims the lowest deletion costs (least loaded lowest) and takes the cost back from
// pods selected by an earlier step that are still there and not selected now. Pods already carrying the right
// value are not written again.
func (r *RealtimeClusterReconciler) markVictims(ctx context.Context, pods []corev1.Pod, victims []string, now metav1.Time) error {
	for i := range pods {
		pod := &pods[i]
		if pod.DeletionTimestamp != nil {
			continue
		}
		rank := slices.Index(victims, pod.Name)
		_, selectedBefore := pod.Annotations[AnnotationScaleDownSelected]
		base := client.MergeFrom(pod.DeepCopy())
		switch {
		case rank >= 0:
			cost := strconv.Itoa(LowestDeletionCost + rank)
			if selectedBefore && pod.Annotations[AnnotationPodDeletionCost] == cost {
				continue
			}
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[AnnotationPodDeletionCost] = cost
			pod.Annotations[AnnotationScaleDownSelected] = now.UTC().Format(time.RFC3339)
		case selectedBefore:
			delete(pod.Annotations, AnnotationPodDeletionCost)
			delete(pod.Annotations, AnnotationScaleDownSelected)
		default:
			continue
		}
		if err := r.Client.Patch(ctx, pod, base); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("annotate pod %s for scale-down: %w", pod.Name, err)
		}
	}
	return nil
}
