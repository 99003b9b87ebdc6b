package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/fleetview"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// Fleet decisions: the fleet steps (report fleet view, autoscale, plan scale-down, rebalance) only decide:
// each reads the fleet observation, the spec and the in-memory history and returns a decision value, writing
// nothing to the cluster or the pods. applyFleetDecision carries every decision out in one place, and
// ComputeStatus, the one status writer, records their status blocks and conditions.

// FleetDecision is what the fleet steps decided in one reconcile. A nil field is a step that did not run
// (there was no fleet observation, or an earlier step failed): the status keeps what it had.
type FleetDecision struct {
	// View reports the poll of the pods' /stats.
	View *ViewDecision
	// Autoscale is the native autoscaler's decision.
	Autoscale *AutoscaleDecision
	// ScaleDown is the Deployment's replicas and the pods to go first.
	ScaleDown *ScaleDownDecision
	// Rebalance is the rebalancing round to start, if any.
	Rebalance *RebalanceDecision
}

// FleetEvent is an event to record on the RealtimeCluster.
type FleetEvent struct {
	// Type is corev1.EventTypeNormal or corev1.EventTypeWarning.
	Type string
	// Reason, Action and Note are the event's fields.
	Reason, Action, Note string
}

// ViewDecision is what the fleet view asks to record.
type ViewDecision struct {
	// Condition is the FleetObserved condition to set (nil: leave it as it is).
	Condition *metav1.Condition
	// RedisDegraded is the RedisDegraded condition to set (nil: leave it as it is).
	RedisDegraded *metav1.Condition
	// Events warn about pods that newly stopped answering /stats or lost their Redis link, and tell when
	// every pod reaches Redis again.
	Events []FleetEvent
}

// Conditions lists the conditions the decisions ask the status writer to set.
func (d FleetDecision) Conditions() []metav1.Condition {
	var out []metav1.Condition
	if d.View != nil && d.View.Condition != nil {
		out = append(out, *d.View.Condition)
	}
	if d.View != nil && d.View.RedisDegraded != nil {
		out = append(out, *d.View.RedisDegraded)
	}
	return out
}

// RequeueAfter is the soonest time any decision asks to be looked at again (0: none asks).
func (d FleetDecision) RequeueAfter() time.Duration {
	var after time.Duration
	if d.ScaleDown != nil {
		after = soonest(after, d.ScaleDown.RequeueAfter)
	}
	if d.Rebalance != nil {
		after = soonest(after, d.Rebalance.RequeueAfter)
	}
	return after
}

// soonest returns the smaller of the positive durations a and b (0 when neither is positive).
func soonest(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return max(b, 0)
	case b <= 0:
		return a
	default:
		return min(a, b)
	}
}

// reportFleetView decides what the fleet view reports (see planFleetView).
func (r *RealtimeClusterReconciler) reportFleetView(_ context.Context, rc *realtimev1alpha1.RealtimeCluster, _ specs.Desired, obs *Observed) error {
	if obs.Fleet != nil {
		v := planFleetView(rc, obs.Fleet)
		obs.Decision.View = &v
	}
	return nil
}

// planFleetView sets FleetObserved from the poll of fo (False with NoReadyPods when there was nothing to poll,
// only if the condition was set before) and warns once about each pod that newly stopped answering; it sets
// RedisDegraded (see planRedisDegraded).
func planFleetView(rc *realtimev1alpha1.RealtimeCluster, fo *FleetObservation) ViewDecision {
	out := planRedisDegraded(rc, fo)
	cond := func(status metav1.ConditionStatus, reason, message string) *metav1.Condition {
		return &metav1.Condition{Type: realtimev1alpha1.ConditionFleetObserved, Status: status, Reason: reason, Message: message}
	}
	if !fo.Polled {
		if meta.FindStatusCondition(rc.Status.Conditions, realtimev1alpha1.ConditionFleetObserved) != nil {
			out.Condition = cond(metav1.ConditionFalse, ReasonNoReadyPods, "no ready runtime pod to read /stats from")
		}
		return out
	}
	sum := fleetview.Summarize(fo.View.Pods)
	if sum.Unreachable == 0 {
		out.Condition = cond(metav1.ConditionTrue, ReasonAllPodsReported,
			fmt.Sprintf("%d ready runtime pods reported %d connected clients", sum.Reporting, sum.Total))
		return out
	}
	names := sum.UnreachableNames
	more := ""
	if len(names) > maxUnreachableInMessage {
		more = fmt.Sprintf(" and %d more", len(names)-maxUnreachableInMessage)
		names = names[:maxUnreachableInMessage]
	}
	out.Condition = cond(metav1.ConditionFalse, ReasonPodsUnreachable, fmt.Sprintf("%d of %d ready runtime pods did not answer /stats: %s%s",
		sum.Unreachable, sum.Unreachable+sum.Reporting, strings.Join(names, ", "), more))
	if newly := newlyUnreachable(rc.Status.Fleet, fo.View.Pods); len(newly) > 0 {
		out.Events = append(out.Events, FleetEvent{Type: corev1.EventTypeWarning, Reason: EventStatsUnreachable, Action: "PollStats",
			Note: fmt.Sprintf("cannot read /stats of %s", strings.Join(newly, "; "))})
	}
	return out
}

// planRedisDegraded sets RedisDegraded from the pods' reports of their Redis link: True naming the pods whose
// link is down (they keep serving their own clients; broadcasts between them and the other pods are cut off),
// False when every pod that reports a link has it up. Without a poll, or when no pod reports a link and the
// condition was never set, it is left alone. It warns once about each pod that newly lost its link and tells
// once when every pod reaches Redis again.
func planRedisDegraded(rc *realtimev1alpha1.RealtimeCluster, fo *FleetObservation) ViewDecision {
	var out ViewDecision
	if !fo.Polled {
		return out
	}
	prev := meta.FindStatusCondition(rc.Status.Conditions, realtimev1alpha1.ConditionRedisDegraded)
	cond := func(status metav1.ConditionStatus, reason, message string) *metav1.Condition {
		return &metav1.Condition{Type: realtimev1alpha1.ConditionRedisDegraded, Status: status, Reason: reason, Message: message}
	}
	sum := fleetview.Summarize(fo.View.Pods)
	down := sum.AdapterDownNames
	switch {
	case len(down) > 0:
		names, more := down, ""
		if len(names) > maxUnreachableInMessage {
			more = fmt.Sprintf(" and %d more", len(names)-maxUnreachableInMessage)
			names = names[:maxUnreachableInMessage]
		}
		out.RedisDegraded = cond(metav1.ConditionTrue, ReasonRedisLinkDown, fmt.Sprintf(
			"%d of %d runtime pods cannot reach Redis: %s%s; they stay ready and serve their own clients, but broadcasts between them and the other pods are cut off",
			len(down), sum.AdapterReporting, strings.Join(names, ", "), more))
		var before []string
		if rc.Status.Fleet != nil {
			before = rc.Status.Fleet.AdapterDown
		}
		var newly []string
		for _, name := range down {
			if !slices.Contains(before, name) {
				newly = append(newly, name)
			}
		}
		if len(newly) > 0 {
			out.Events = append(out.Events, FleetEvent{Type: corev1.EventTypeWarning, Reason: EventRedisDegraded, Action: "PollStats",
				Note: fmt.Sprintf("Redis link down on %s: cross-pod delivery cut off, local clients still served", strings.Join(newly, ", "))})
		}
	case sum.AdapterReporting > 0 || prev != nil:
		msg := fmt.Sprintf("all %d runtime pods that report a Redis link reach Redis", sum.AdapterReporting)
		if sum.AdapterReporting == 0 {
			msg = "no runtime pod reports a Redis link"
		}
		out.RedisDegraded = cond(metav1.ConditionFalse, ReasonRedisLinksUp, msg)
		if prev != nil && prev.Status == metav1.ConditionTrue {
			out.Events = append(out.Events, FleetEvent{Type: corev1.EventTypeNormal, Reason: EventRedisRecovered, Action: "PollStats",
				Note: "every runtime pod reaches Redis again: cross-pod delivery resumed"})
		}
	}
	return out
}

// newlyUnreachable lists "pod: error" for the pods that failed now but reported (or were absent) before,
// so the warning event fires once per outage rather than once per poll.
func newlyUnreachable(prev *realtimev1alpha1.FleetStatus, pods []fleetview.PodStats) []string {
	failedBefore := map[string]bool{}
	if prev != nil {
		for _, p := range prev.Pods {
			failedBefore[p.Name] = p.Error != ""
		}
	}
	var out []string
	for _, p := range pods {
		if p.Err != nil && !p.Terminating && !failedBefore[p.Name] {
			out = append(out, p.Name+": "+p.Err.Error())
		}
	}
	return out
}

// applyFleetDecision carries out what the fleet steps decided, in the order the fleet needs: spec.replicas
// through /scale (the Deployment follows it), the deletion costs of the pods that are to go, then the
// Deployment's replicas in the desired state (the apply step writes them, after the costs are set), then the
// sheds. The events of a change are recorded once it is made. The in-memory history follows what was done.
func (r *RealtimeClusterReconciler) applyFleetDecision(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, d specs.Desired, obs *Observed) error {
	fd, fo, key := &obs.Decision, obs.Fleet, fleetKey(rc)
	recordDecisionMetrics(rc, fo, fd)
	if v := fd.View; v != nil {
		r.record(rc, v.Events)
	}
	if a := fd.Autoscale; a != nil && a.ScaleTo != nil {
		if err := r.writeScale(ctx, rc, *a.ScaleTo); err != nil {
			r.fleet.dropHistory(key)
			return err
		}
		now := r.now()
		a.Status.LastScaleTime = &now
		rc.Spec.Replicas = new(*a.ScaleTo)
		r.record(rc, a.Events)
	}
	if s := fd.ScaleDown; s != nil {
		if err := r.setDeletionCosts(ctx, fo.Pods, s.DeletionCosts); err != nil {
			s.Status = nil
			r.fleet.rememberScaleDown(key, nil)
			return err
		}
		r.fleet.rememberScaleDown(key, s.Status)
		d.Deployment.Spec.Replicas = new(s.Replicas)
		r.record(rc, s.Events)
	}
	if b := fd.Rebalance; b != nil && b.Round != nil {
		r.sendSheds(ctx, rc, fo, b)
		r.fleet.rememberRebalance(key, *b.Round)
	}
	return nil
}

// record emits events on rc.
func (r *RealtimeClusterReconciler) record(rc *realtimev1alpha1.RealtimeCluster, events []FleetEvent) {
	for _, e := range events {
		r.event(rc, nil, e.Type, e.Reason, e.Action, e.Note)
	}
}
