package controllers

import (
	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/operatormetrics"
)

// recordDecisionMetrics records what the fleet steps decided for rc in the operator's metrics, before
// applyFleetDecision carries it out: the native autoscaler's recommendation when it evaluated the fleet (a
// fresh poll or a spec.replicas out of bounds: it asks to scale, or the poll was fresh), and the rebalancing
// round that starts.
func recordDecisionMetrics(rc *realtimev1alpha1.RealtimeCluster, fo *FleetObservation, fd *FleetDecision) {
	m := operatormetrics.Default
	if a := fd.Autoscale; a != nil && a.Status != nil && (a.ScaleTo != nil || (fo != nil && fo.FreshPoll)) {
		current := realtimev1alpha1.DefaultReplicas
		if rc.Spec.Replicas != nil {
			current = *rc.Spec.Replicas
		}
		m.Autoscale(rc.Namespace, rc.Name, current, a.Status.DesiredReplicas)
	}
	if b := fd.Rebalance; b != nil && b.Round != nil {
		var sessions int64
		for _, s := range b.Sheds {
			sessions += s.Sessions
		}
		m.Rebalance(rc.Namespace, rc.Name, sessions)
	}
}
