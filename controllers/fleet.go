package controllers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/autoscale"
	"github.com/socketfleet/socketfleet/controllers/fleetview"
	"github.com/socketfleet/socketfleet/controllers/runtimeadmin"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// Fleet view design: the poll runs inside Reconcile, bounded so it never holds a worker for long: at most
// FleetOptions.Concurrency requests in flight, each bounded by RequestTimeout, the whole poll bounded by
// PollDeadline (pods not reached by then are reported as not polled). The result is cached per
// RealtimeCluster and reused until PollInterval has passed or the set of ready pods changed, so the reconciles
// triggered by pod and status events do not poll again; a cluster with pods is requeued every PollInterval.

// Defaults of FleetOptions.
const (
	DefaultFleetPollInterval = 15 * time.Second
	DefaultFleetPollDeadline = 5 * time.Second
)

// Event reasons of the fleet operations.
const (
	EventStatsUnreachable = "StatsUnreachable"
	EventScaleDown        = "ScaleDown"
	EventAutoscaled       = "Autoscaled"
	EventRedisDegraded    = "RedisDegraded"
	EventRedisRecovered   = "RedisRecovered"
)

// Condition reasons of ConditionFleetObserved.
const (
	ReasonAllPodsReported   = "AllPodsReported"
	ReasonPodsUnreachable   = "PodsUnreachable"
	ReasonNoReadyPods       = "NoReadyPods"
	maxUnreachableInMessage = 10
)

// Condition reasons of ConditionRedisDegraded.
const (
	ReasonRedisLinkDown = "RedisLinkDown"
	ReasonRedisLinksUp  = "RedisLinksUp"
)

// FleetOptions configure how the operator reads the runtime pods' /stats. Zero values take the defaults.
type FleetOptions struct {
	// PollInterval is how often each fleet's pods are polled (default 15s).
	PollInterval time.Duration
	// RequestTimeout bounds one /stats request (default 2s).
	RequestTimeout time.Duration
	// PollDeadline bounds a whole poll of one fleet (default 5s).
	PollDeadline time.Duration
	// Concurrency is the most /stats requests in flight per poll (default 16).
	Concurrency int
	// HTTPClient sends the admin API requests (/stats, /shed; default: a client without its own timeout; the
	// deadlines above bound it).
	HTTPClient *http.Client
}

func (o FleetOptions) pollInterval() time.Duration {
	if o.PollInterval > 0 {
		return o.PollInterval
	}
	return DefaultFleetPollInterval
}

func (o FleetOptions) pollDeadline() time.Duration {
	if o.PollDeadline > 0 {
		return o.PollDeadline
	}
	return DefaultFleetPollDeadline
}

// fleetState is the in-memory state the fleet operations keep between reconciles: the last poll of each
// fleet and the autoscaler history (as the HPA controller does, it is not persisted; after an operator
// restart the stabilization windows start empty).
type fleetState struct {
	views fleetview.Cache

	mu        sync.Mutex
	histories map[string]*autoscale.History
	// scaleDowns remembers the step under way of each fleet, so a reconcile that still sees a cached
	// RealtimeCluster without the status written by the previous one does not start a second step.
	scaleDowns map[string]realtimev1alpha1.ScaleDownStatus
	// rebalances remembers the last rebalancing round of each fleet, for the same reason.
	rebalances map[string]realtimev1alpha1.RebalanceStatus
}

// rememberScaleDown records (or with nil, forgets) the scale-down step of key.
func (s *fleetState) rememberScaleDown(key string, sd *realtimev1alpha1.ScaleDownStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sd == nil {
		delete(s.scaleDowns, key)
		return
	}
	if s.scaleDowns == nil {
		s.scaleDowns = map[string]realtimev1alpha1.ScaleDownStatus{}
	}
	s.scaleDowns[key] = *sd.DeepCopy()
}

// latestScaleDown returns the newer of the step recorded in status and the one remembered in memory.
func (s *fleetState) latestScaleDown(key string, fromStatus *realtimev1alpha1.ScaleDownStatus) *realtimev1alpha1.ScaleDownStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	mem, ok := s.scaleDowns[key]
	switch {
	case !ok:
		return fromStatus.DeepCopy()
	case fromStatus == nil || mem.StartedAt.After(fromStatus.StartedAt.Time):
		return mem.DeepCopy()
	default:
		return fromStatus.DeepCopy()
	}
}

// rememberRebalance records the rebalancing round of key.
func (s *fleetState) rememberRebalance(key string, rb realtimev1alpha1.RebalanceStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rebalances == nil {
		s.rebalances = map[string]realtimev1alpha1.RebalanceStatus{}
	}
	s.rebalances[key] = *rb.DeepCopy()
}

// latestRebalance returns the newer of the round recorded in status and the one remembered in memory.
func (s *fleetState) latestRebalance(key string, fromStatus *realtimev1alpha1.RebalanceStatus) *realtimev1alpha1.RebalanceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	mem, ok := s.rebalances[key]
	if ok && (fromStatus == nil || mem.StartedAt.After(fromStatus.StartedAt.Time)) {
		return mem.DeepCopy()
	}
	return fromStatus.DeepCopy()
}

// history returns the autoscaler history of key, creating it.
func (s *fleetState) history(key string) *autoscale.History {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.histories == nil {
		s.histories = map[string]*autoscale.History{}
	}
	h, ok := s.histories[key]
	if !ok {
		h = &autoscale.History{}
		s.histories[key] = h
	}
	return h
}

// dropHistory forgets the autoscaler history of key (autoscaling off, or a decision could not be applied).
func (s *fleetState) dropHistory(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.histories, key)
}

// forget drops the state of a deleted fleet.
func (s *fleetState) forget(key string) {
	s.views.Delete(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.histories, key)
	delete(s.scaleDowns, key)
	delete(s.rebalances, key)
}

// FleetObservation is what the fleet steps saw during one reconcile (what they decided is a FleetDecision).
type FleetObservation struct {
	// Pods are the runtime pods that exist (terminating ones included), sorted by name.
	Pods []corev1.Pod
	// Polled is true when there were ready pods to poll; View is their latest poll; FreshPoll is true when
	// View was polled in this reconcile (not reused from the cache).
	Polled    bool
	View      fleetview.View
	FreshPoll bool
	// DeploymentReplicas is the stored runtime Deployment's spec.replicas (1 when it has none), or nil when
	// the Deployment does not exist yet.
	DeploymentReplicas *int32
	// RequeueAfter is when the fleet is to be polled again (0: no pod to poll).
	RequeueAfter time.Duration
	// AdminToken is the cluster's admin token, sent on every admin call (/stats, /shed).
	AdminToken string
}

// fleetKey identifies a RealtimeCluster in the in-memory fleet state.
func fleetKey(rc *realtimev1alpha1.RealtimeCluster) string {
	return rc.Namespace + "/" + rc.Name
}

// podReady reports whether pod's Ready condition is True.
func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// adminPort is the pod's container port named "admin" of the runtime container, or AdminPort.
func adminPort(pod *corev1.Pod) int32 {
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == "admin" && p.ContainerPort > 0 {
				return p.ContainerPort
			}
		}
	}
	return specs.AdminPort
}

// adminBaseURL is the base URL of the pod's admin port, e.g. http://10.0.0.7:8081.
func adminBaseURL(pod *corev1.Pod) string {
	return runtimeadmin.BaseURL(pod.Status.PodIP, adminPort(pod))
}

// admin is the client of the runtime pods' admin API, sending the cluster's admin token.
func (r *RealtimeClusterReconciler) admin(token string) *runtimeadmin.Client {
	return &runtimeadmin.Client{HTTP: r.Fleet.HTTPClient, Token: token}
}

// StatsTargets returns the /stats targets, sorted by name: the ready pods with an IP, and the terminating
// pods with an IP, ready or not (they are draining; polling them follows the drain's progress).
func StatsTargets(pods []corev1.Pod) []fleetview.Target {
	var out []fleetview.Target
	for i := range pods {
		p := &pods[i]
		terminating := p.DeletionTimestamp != nil
		if p.Status.PodIP == "" || (!terminating && !podReady(p)) {
			continue
		}
		out = append(out, fleetview.Target{Name: p.Name, StatsURL: runtimeadmin.StatsURL(adminBaseURL(p)), Terminating: terminating})
	}
	slices.SortFunc(out, func(a, b fleetview.Target) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// observeFleet lists the runtime pods, reads the stored Deployment's replicas and the ready pods' /stats (or
// reuses the cached poll).
func (r *RealtimeClusterReconciler) observeFleet(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, d specs.Desired, obs *Observed) error {
	fo := &FleetObservation{AdminToken: obs.AdminToken}
	obs.Fleet = fo
	if d.Deployment != nil {
		dep := &appsv1.Deployment{}
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: rc.Namespace, Name: d.Deployment.Name}, dep)
		switch {
		case err == nil && dep.Spec.Replicas != nil:
			fo.DeploymentReplicas = new(*dep.Spec.Replicas)
		case err == nil:
			fo.DeploymentReplicas = new(int32(1))
		case !apierrors.IsNotFound(err):
			return fmt.Errorf("get deployment: %w", err)
		}
	}
	list := &corev1.PodList{}
	if err := r.Client.List(ctx, list, client.InNamespace(rc.Namespace),
		client.MatchingLabels(specs.SelectorLabels(rc, specs.ComponentRuntime))); err != nil {
		return fmt.Errorf("list runtime pods: %w", err)
	}
	fo.Pods = list.Items
	slices.SortFunc(fo.Pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })

	targets := StatsTargets(fo.Pods)
	if len(targets) == 0 {
		return nil
	}
	fo.Polled = true
	interval := r.Fleet.pollInterval()
	fo.RequeueAfter = interval
	key, fp, now := fleetKey(rc), fleetview.Fingerprint(targets), r.now().Time
	// A rebalance request needs a fresh poll: a round starts only on one.
	if v, ok := r.fleet.views.Fresh(key, fp, now, interval); ok && !rebalanceRequested(rc) {
		fo.View = v
		return nil
	}
	pollCtx, cancel := context.WithTimeout(ctx, r.Fleet.pollDeadline())
	defer cancel()
	poller := &fleetview.Poller{Admin: r.admin(fo.AdminToken), Concurrency: r.Fleet.Concurrency, RequestTimeout: r.Fleet.RequestTimeout}
	pods := poller.Poll(pollCtx, targets)
	fo.View = fleetview.View{At: r.now().Time, Fingerprint: fp, Pods: pods}
	fo.FreshPoll = true
	r.fleet.views.Put(key, fo.View)
	return nil
}

// podToCluster maps a runtime pod to the RealtimeCluster it belongs to (by its instance label).
func podToCluster(_ context.Context, obj client.Object) []reconcile.Request {
	l := obj.GetLabels()
	if l[specs.LabelName] != specs.AppName || l[specs.LabelComponent] != specs.ComponentRuntime || l[specs.LabelInstance] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: l[specs.LabelInstance]}}}
}
