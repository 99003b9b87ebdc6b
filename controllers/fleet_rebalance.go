package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/fleetview"
	"github.com/socketfleet/socketfleet/controllers/rebalance"
	"github.com/socketfleet/socketfleet/controllers/runtimeadmin"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// Event reasons of rebalancing.
const (
	EventRebalance  = "Rebalance"
	EventShedFailed = "ShedFailed"
)

// shedRequestTimeout bounds one POST /shed (the pod only schedules the closes; it answers at once).
const shedRequestTimeout = 2 * time.Second

// RebalanceDecision is what rebalancing decided in one reconcile.
type RebalanceDecision struct {
	// Last is the last round before this reconcile (nil: none yet); it stays in the status when no round starts.
	Last *realtimev1alpha1.RebalanceStatus
	// Round is the round that starts now (nil: none); applyFleetDecision completes it with each request's
	// outcome.
	Round *realtimev1alpha1.RebalanceStatus
	// Sheds are the POST /shed requests of Round.
	Sheds []ShedRequest
	// ThresholdPercent is the spec's threshold the imbalance exceeded (for the event).
	ThresholdPercent int32
	// RequeueAfter is when rebalancing is to be looked at again (0: no need).
	RequeueAfter time.Duration
	// Skip says why no round starts (empty when one does, or when rebalancing is off).
	Skip string
}

// ShedRequest asks one pod to close some of its sessions.
type ShedRequest struct {
	// Pod is the pod's name.
	Pod string
	// Sessions is how many sessions it is to close.
	Sessions int64
}

// Status is the rebalance status block to record: the round that starts, or the last one.
func (d *RebalanceDecision) Status() *realtimev1alpha1.RebalanceStatus {
	if d.Round != nil {
		return d.Round
	}
	return d.Last
}

// decideRebalance decides a rebalancing round (see planRebalance) against the replicas and the step the
// scale-down decided.
func (r *RealtimeClusterReconciler) decideRebalance(_ context.Context, rc *realtimev1alpha1.RealtimeCluster, d specs.Desired, obs *Observed) error {
	if obs.Fleet == nil {
		return nil
	}
	var fromStatus *realtimev1alpha1.RebalanceStatus
	if rc.Status.Fleet != nil {
		fromStatus = rc.Status.Fleet.Rebalance
	}
	prev := r.fleet.latestRebalance(fleetKey(rc), fromStatus)
	if d.Deployment == nil {
		obs.Decision.Rebalance = &RebalanceDecision{Last: prev}
		return nil
	}
	replicas := d.Deployment.Spec.Replicas
	var scaleDown *realtimev1alpha1.ScaleDownStatus
	if sd := obs.Decision.ScaleDown; sd != nil {
		replicas, scaleDown = &sd.Replicas, sd.Status
	}
	decision := planRebalance(rc, obs.Fleet, prev, settling(obs.Fleet, scaleDown, replicas), r.now(), rebalanceRequested(rc))
	obs.Decision.Rebalance = &decision
	return nil
}

// planRebalance runs after a fresh poll of a settled fleet: when the serving pods' connection counts are
// further apart than spec.rebalance.thresholdPercent, the pods above the fair share are to shed their excess
// (the pods close those sessions at the drain rate; the clients reconnect through the load balancer and land
// on the emptier pods). See package rebalance for when a round starts. prev is the last round; unsettled
// says why the fleet is not steady ("" when it is). requested (a rebalance request on rc) runs a round even
// with rebalancing disabled and without waiting for the cooldown.
func planRebalance(rc *realtimev1alpha1.RealtimeCluster, fo *FleetObservation, prev *realtimev1alpha1.RebalanceStatus, unsettled string, now metav1.Time, requested bool) RebalanceDecision {
	out := RebalanceDecision{Last: prev}
	spec := rc.Spec.Rebalance
	if spec.Enabled != nil && !*spec.Enabled && !requested || !fo.FreshPoll {
		return out
	}
	in := rebalance.Input{
		Now: now.Time, Settling: unsettled, Cooldown: spec.Cooldown.Duration,
		ThresholdPercent: spec.ThresholdPercent, MinSessions: int64(spec.MinSessions),
	}
	if prev != nil && !requested {
		in.LastRound = prev.StartedAt.Time
	}
	for _, p := range fo.View.Pods {
		in.ShedPending += p.ShedPending
		if p.Err == nil && !p.Leaving() {
			in.Pods = append(in.Pods, rebalance.Pod{Name: p.Name, Connections: p.Connections})
		}
	}
	plan := rebalance.Next(in)
	out.RequeueAfter, out.Skip = plan.RetryAfter, plan.Skip
	if len(plan.Sheds) == 0 {
		return out
	}
	out.Round = &realtimev1alpha1.RebalanceStatus{StartedAt: now, ImbalancePercent: plan.ImbalancePercent, FairShare: plan.FairShare}
	for _, sh := range plan.Sheds {
		out.Sheds = append(out.Sheds, ShedRequest{Pod: sh.Pod, Sessions: sh.Sessions})
	}
	out.ThresholdPercent = spec.ThresholdPercent
	// The round is recorded even when requests fail, so the cooldown applies before the next attempt.
	out.RequeueAfter = soonest(out.RequeueAfter, spec.Cooldown.Duration)
	return out
}

// sendSheds sends the round's requests, records each one's outcome in the round and the events that report
// them.
func (r *RealtimeClusterReconciler) sendSheds(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, fo *FleetObservation, d *RebalanceDecision) {
	pods := fo.Pods
	byName := map[string]*corev1.Pod{}
	for i := range pods {
		byName[pods[i].Name] = &pods[i]
	}
	var asked, failed []string
	receivers, to := handOverPeers(rc, fo)
	d.Round.Pods = nil
	for _, s := range d.Sheds {
		ps := realtimev1alpha1.PodShed{Name: s.Pod, Sessions: s.Sessions}
		if err := r.requestShed(ctx, fo.AdminToken, byName[s.Pod], s.Sessions, to); err != nil {
			ps.Error = err.Error()
			failed = append(failed, fmt.Sprintf("%s: %v", s.Pod, err))
		} else {
			asked = append(asked, fmt.Sprintf("%s %d", s.Pod, s.Sessions))
		}
		d.Round.Pods = append(d.Round.Pods, ps)
	}
	if len(asked) > 0 {
		handOver := ""
		if len(receivers) > 0 {
			handOver = "; their new handshakes go to " + strings.Join(receivers, ", ")
		}
		r.event(rc, nil, corev1.EventTypeNormal, EventRebalance, "Shed",
			fmt.Sprintf("Imbalance %d%% above %d%% (fair share %d clients per pod): asked pods to shed sessions: %s%s",
				d.Round.ImbalancePercent, d.ThresholdPercent, d.Round.FairShare, strings.Join(asked, ", "), handOver))
	}
	if len(failed) > 0 {
		r.event(rc, nil, corev1.EventTypeWarning, EventShedFailed, "Shed", "Shed requests failed: "+strings.Join(failed, "; "))
	}
}

// settling says why the fleet is not in a steady state for rebalancing (empty when it is): a scale-down step
// under way (scaleDown), pods starting, terminating or unreported, a rollout (pods of two templates), or fewer pods than
// the Deployment asks for (replicas).
func settling(fo *FleetObservation, scaleDown *realtimev1alpha1.ScaleDownStatus, replicas *int32) string {
	if scaleDown != nil {
		return "a scale-down is under way"
	}
	templates := map[string]bool{}
	serving := 0
	for i := range fo.Pods {
		p := &fo.Pods[i]
		switch {
		case p.DeletionTimestamp != nil:
			return "pods are terminating"
		case !podReady(p):
			return "pods are starting"
		}
		templates[p.Labels["pod-template-hash"]] = true
		serving++
	}
	if len(templates) > 1 {
		return "a rollout is under way"
	}
	if replicas != nil && int32(serving) != *replicas {
		return fmt.Sprintf("%d of %d pods are ready", serving, *replicas)
	}
	if s := fleetview.Summarize(fo.View.Pods); s.Unreachable > 0 {
		return "not every pod reported its connections"
	}
	return ""
}

// handOverPeers returns the serving pods below the fair share (the mean connections of the serving pods,
// rounded down) by name and admin address, when the pods forward sessions (spec.ingress.stickiness: none):
// a POST /shed names them (to) so that the shedding pod hands them the handshakes that reach it instead of
// refusing them; behind a balancer without stickiness a shed client's handshake may land on a shedding pod
// again (docs/forwarding.md). Nil with a sticky cookie: the refusal expires the cookie.
func handOverPeers(rc *realtimev1alpha1.RealtimeCluster, fo *FleetObservation) (names, addrs []string) {
	if rc.Spec.CookieStickiness() {
		return nil, nil
	}
	var total, serving int64
	for _, p := range fo.View.Pods {
		if p.Err == nil && !p.Leaving() {
			total += p.Connections
			serving++
		}
	}
	if serving == 0 {
		return nil, nil
	}
	fair := total / serving
	byName := map[string]*corev1.Pod{}
	for i := range fo.Pods {
		byName[fo.Pods[i].Name] = &fo.Pods[i]
	}
	for _, p := range fo.View.Pods {
		pod := byName[p.Name]
		if p.Err != nil || p.Leaving() || p.Connections >= fair || pod == nil || pod.Status.PodIP == "" ||
			pod.DeletionTimestamp != nil || !podReady(pod) {
			continue
		}
		names = append(names, p.Name)
		addrs = append(addrs, runtimeadmin.Addr(pod.Status.PodIP, adminPort(pod)))
	}
	return names, addrs
}

// requestShed asks pod to shed n sessions: POST /shed?count=n on its admin port, naming the admin addresses
// of the pods that take its handshakes meanwhile (to; none without session forwarding).
func (r *RealtimeClusterReconciler) requestShed(ctx context.Context, token string, pod *corev1.Pod, n int64, to []string) error {
	if pod == nil || pod.Status.PodIP == "" {
		return fmt.Errorf("pod has no IP")
	}
	ctx, cancel := context.WithTimeout(ctx, shedRequestTimeout)
	defer cancel()
	return r.admin(token).Shed(ctx, runtimeadmin.ShedURL(adminBaseURL(pod)), n, to)
}
