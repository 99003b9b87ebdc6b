package controllers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/fleetview"
	"github.com/socketfleet/socketfleet/controllers/rebalance"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// Event reasons of rebalancing.
const (
	EventRebalance  = "Rebalance"
	EventShedFailed = "ShedFailed"
)

// shedRequestTimeout bounds one POST /shed (the pod only schedules the closes; it answers at once).
const shedRequestTimeout = 2 * time.Second

// rebalanceFleet runs after a fresh poll of a settled fleet: when the serving pods' connection counts are
// further apart than spec.rebalance.thresholdPercent, the pods above the fair share are asked to shed their
// excess (the pods close those sessions at the drain rate; the clients reconnect through the load balancer and
// land on the emptier pods). See package rebalance for when a round starts.
func (r *RealtimeClusterReconciler) rebalanceFleet(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, d specs.Desired, obs *Observed) error {
	fo := obs.Fleet
	if fo == nil {
		return nil
	}
	key := fleetKey(rc)
	var fromStatus *realtimev1alpha1.RebalanceStatus
	if rc.Status.Fleet != nil {
		fromStatus = rc.Status.Fleet.Rebalance
	}
	prev := r.fleet.latestRebalance(key, fromStatus)
	fo.Rebalance = prev
	spec := rc.Spec.Rebalance
	if spec.Enabled != nil && !*spec.Enabled || !fo.FreshPoll || d.Deployment == nil {
		return nil
	}

	in := rebalance.Input{
		Now: r.now().Time, Settling: settling(fo, d), Cooldown: spec.Cooldown.Duration,
		ThresholdPercent: spec.ThresholdPercent, MinSessions: int64(spec.MinSessions),
	}
	if prev != nil {
		in.LastRound = prev.StartedAt.Time
	}
	for _, p := range fo.View.Pods {
		in.ShedPending += p.ShedPending
		if p.Err == nil && !p.Leaving() {
			in.Pods = append(in.Pods, rebalance.Pod{Name: p.Name, Connections: p.Connections})
		}
	}
	plan := rebalance.Next(in)
	fo.requeue(plan.RetryAfter)
	if len(plan.Sheds) == 0 {
		return nil
	}

	round := realtimev1alpha1.RebalanceStatus{StartedAt: r.now(), ImbalancePercent: plan.ImbalancePercent, FairShare: plan.FairShare}
	pods := map[string]*corev1.Pod{}
	for i := range fo.Pods {
		pods[fo.Pods[i].Name] = &fo.Pods[i]
	}
	var asked, failed []string
	for _, s := range plan.Sheds {
		ps := realtimev1alpha1.PodShed{Name: s.Pod, Sessions: s.Sessions}
		if err := r.requestShed(ctx, pods[s.Pod], s.Sessions); err != nil {
			ps.Error = err.Error()
			failed = append(failed, fmt.Sprintf("%s: %v", s.Pod, err))
		} else {
			asked = append(asked, fmt.Sprintf("%s %d", s.Pod, s.Sessions))
		}
		round.Pods = append(round.Pods, ps)
	}
	// The round is recorded even when requests failed, so the cooldown applies before the next attempt.
	fo.Rebalance = &round
	r.fleet.rememberRebalance(key, round)
	fo.requeue(spec.Cooldown.Duration)
	if len(asked) > 0 {
		r.event(rc, nil, corev1.EventTypeNormal, EventRebalance, "Shed",
			fmt.Sprintf("Imbalance %d%% above %d%% (fair share %d clients per pod): asked pods to shed sessions: %s",
				plan.ImbalancePercent, spec.ThresholdPercent, plan.FairShare, strings.Join(asked, ", ")))
	}
	if len(failed) > 0 {
		r.event(rc, nil, corev1.EventTypeWarning, EventShedFailed, "Shed", "Shed requests failed: "+strings.Join(failed, "; "))
	}
	return nil
}

// settling says why the fleet is not in a steady state for rebalancing (empty when it is): a scale-down step
// under way, pods starting, terminating or unreported, a rollout (pods of two templates), or fewer pods than
// the Deployment asks for.
func settling(fo *FleetObservation, d specs.Desired) string {
	if fo.ScaleDown != nil {
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
	if d.Deployment.Spec.Replicas != nil && int32(serving) != *d.Deployment.Spec.Replicas {
		return fmt.Sprintf("%d of %d pods are ready", serving, *d.Deployment.Spec.Replicas)
	}
	if s := fleetview.Summarize(fo.View.Pods); s.Unreachable > 0 {
		return "not every pod reported its connections"
	}
	return ""
}

// requestShed sends POST /shed?count=n to pod's admin port.
func (r *RealtimeClusterReconciler) requestShed(ctx context.Context, pod *corev1.Pod, n int64) error {
	if pod == nil || pod.Status.PodIP == "" {
		return fmt.Errorf("pod has no IP")
	}
	ctx, cancel := context.WithTimeout(ctx, shedRequestTimeout)
	defer cancel()
	url := fmt.Sprintf("%s/shed?count=%d", adminBaseURL(pod), n)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return fmt.Errorf("build request %s: %w", url, err)
	}
	client := r.Fleet.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post %s: status %d: %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}
