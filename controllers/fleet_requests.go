package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/runtimeadmin"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// Operator requests (see realtimev1alpha1.AnnotationDrainRequested and the others): a user annotates a runtime
// pod or the RealtimeCluster through the API server; the operator, which holds the admin token, removes the
// annotation first (so a request is carried out at most once, even when the admin call fails or the operator
// restarts), then calls the pod's admin port and reports the outcome as events on the RealtimeCluster and
// the pod.

// Event reasons of the operator requests.
const (
	EventDrainRequested     = "DrainRequested"
	EventShedRequested      = "ShedRequested"
	EventRequestRefused     = "RequestRefused"
	EventRequestFailed      = "RequestFailed"
	EventRebalanceRequested = "RebalanceRequested"
)

// requestExpiry is how old a pod request may be when the operator sees it: an older one (the operator was
// down, or the pod was not ready) is refused rather than carried out long after the incident.
const requestExpiry = 10 * time.Minute

// adminRequestTimeout bounds one POST /drain or /shed of a request.
const adminRequestTimeout = 2 * time.Second

// Kinds of PodRequest.
const (
	requestDrain = "drain"
	requestShed  = "shed"
)

// PodRequest is a drain or shed request found on a runtime pod, and what to do with it.
type PodRequest struct {
	// Pod is the pod's name.
	Pod string
	// Kind is "drain" or "shed".
	Kind string
	// Annotation is the request's annotation and Value its value as read (the removal is conditional on it).
	Annotation, Value string
	// Sessions is the number of sessions to shed (shed requests).
	Sessions int64
	// Refused, when not empty, says why the request is not carried out.
	Refused string
}

// planPodRequests lists the requests on pods, sorted by pod then kind, with the refusals: a value that does
// not parse, a request older than requestExpiry (or dated in the future by more than it), a pod that is
// terminating (it is draining already) or not ready with an IP.
func planPodRequests(pods []corev1.Pod, now time.Time) []PodRequest {
	var out []PodRequest
	for i := range pods {
		p := &pods[i]
		for _, kind := range []string{requestDrain, requestShed} {
			ann := realtimev1alpha1.AnnotationDrainRequested
			if kind == requestShed {
				ann = realtimev1alpha1.AnnotationShedRequested
			}
			v, ok := p.Annotations[ann]
			if !ok {
				continue
			}
			req := PodRequest{Pod: p.Name, Kind: kind, Annotation: ann, Value: v}
			var at time.Time
			var err error
			if kind == requestShed {
				req.Sessions, at, err = realtimev1alpha1.ParseShedRequest(v)
			} else {
				at, err = realtimev1alpha1.ParseRequestTime(v)
			}
			switch age := now.Sub(at); {
			case err != nil:
				req.Refused = err.Error()
			case age > requestExpiry:
				req.Refused = fmt.Sprintf("requested at %s, more than %s ago", realtimev1alpha1.FormatRequestTime(at), requestExpiry)
			case age < -requestExpiry:
				req.Refused = fmt.Sprintf("requested at %s, more than %s in the future", realtimev1alpha1.FormatRequestTime(at), requestExpiry)
			case p.DeletionTimestamp != nil:
				req.Refused = "the pod is terminating (it drains on its own)"
			case !podReady(p) || p.Status.PodIP == "":
				req.Refused = "the pod is not ready"
			}
			out = append(out, req)
		}
	}
	return out
}

// handlePodRequests carries out the drain and shed requests on the cluster's runtime pods (also while the
// cluster is paused: they are a person's explicit actions).
func (r *RealtimeClusterReconciler) handlePodRequests(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, _ specs.Desired, obs *Observed) error {
	if obs.Fleet == nil {
		return nil
	}
	byName := map[string]*corev1.Pod{}
	for i := range obs.Fleet.Pods {
		byName[obs.Fleet.Pods[i].Name] = &obs.Fleet.Pods[i]
	}
	for _, req := range planPodRequests(obs.Fleet.Pods, r.now().Time) {
		pod := byName[req.Pod]
		removed, err := r.removeAnnotation(ctx, pod, req.Annotation, req.Value)
		if err != nil {
			return err
		}
		if !removed {
			// Changed or removed since the cache saw it: the next reconcile sees the new value.
			continue
		}
		what := "drain"
		if req.Kind == requestShed {
			what = fmt.Sprintf("shed of %d sessions", req.Sessions)
		}
		if req.Refused != "" {
			r.requestEvent(rc, pod, corev1.EventTypeWarning, EventRequestRefused,
				fmt.Sprintf("Refused the %s requested on pod %s: %s", what, pod.Name, req.Refused))
			continue
		}
		if err := r.sendPodRequest(ctx, rc, obs.Fleet, pod, req); err != nil {
			r.requestEvent(rc, pod, corev1.EventTypeWarning, EventRequestFailed,
				fmt.Sprintf("The %s requested on pod %s failed: %v", what, pod.Name, err))
			continue
		}
		reason, note := EventDrainRequested, fmt.Sprintf("Pod %s is draining, as requested", pod.Name)
		if req.Kind == requestShed {
			reason, note = EventShedRequested, fmt.Sprintf("Pod %s is shedding %d sessions, as requested", pod.Name, req.Sessions)
		}
		r.requestEvent(rc, pod, corev1.EventTypeNormal, reason, note)
	}
	return nil
}

// sendPodRequest calls the pod's admin port for req; a shed names the pods below the fair share as its
// hand-over peers without stickiness (handOverPeers).
func (r *RealtimeClusterReconciler) sendPodRequest(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, fo *FleetObservation, pod *corev1.Pod, req PodRequest) error {
	ctx, cancel := context.WithTimeout(ctx, adminRequestTimeout)
	defer cancel()
	base := adminBaseURL(pod)
	if req.Kind == requestShed {
		_, to := handOverPeers(rc, fo)
		return r.admin(fo.AdminToken).Shed(ctx, runtimeadmin.ShedURL(base), req.Sessions, to)
	}
	return r.admin(fo.AdminToken).Drain(ctx, runtimeadmin.DrainURL(base))
}

// requestEvent reports the outcome of a request on the RealtimeCluster (regarding it, related to the pod)
// and on the pod (so `kubectl describe pod` shows it).
func (r *RealtimeClusterReconciler) requestEvent(rc *realtimev1alpha1.RealtimeCluster, pod *corev1.Pod, eventType, reason, note string) {
	r.event(rc, pod, eventType, reason, "Request", note)
	if r.Recorder != nil {
		r.Recorder.Eventf(pod, rc, eventType, reason, "Request", "%s", note)
	}
}

// removeAnnotation removes annotation key from obj if it still has value (a JSON patch test then remove, so a
// newer request written meanwhile is kept). It reports whether it removed it.
func (r *RealtimeClusterReconciler) removeAnnotation(ctx context.Context, obj client.Object, key, value string) (bool, error) {
	path := "/metadata/annotations/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
	patch, err := json.Marshal([]map[string]string{
		{"op": "test", "path": path, "value": value},
		{"op": "remove", "path": path},
	})
	if err != nil {
		return false, fmt.Errorf("build patch removing %s: %w", key, err)
	}
	err = r.Client.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, patch))
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err), apierrors.IsInvalid(err), apierrors.IsConflict(err), apierrors.IsBadRequest(err):
		// Gone, or the test failed: the annotation changed meanwhile.
		return false, nil
	default:
		return false, fmt.Errorf("remove annotation %s from %s: %w", key, obj.GetName(), err)
	}
}

// rebalanceRequested reports whether rc carries a rebalance request.
func rebalanceRequested(rc *realtimev1alpha1.RealtimeCluster) bool {
	_, ok := rc.Annotations[realtimev1alpha1.AnnotationRebalanceRequested]
	return ok
}

// recordRebalanceRequest removes the rebalance request decideRebalance honoured and reports its outcome: the
// round it started, or why none started.
func (r *RealtimeClusterReconciler) recordRebalanceRequest(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, _ specs.Desired, obs *Observed) error {
	value, ok := rc.Annotations[realtimev1alpha1.AnnotationRebalanceRequested]
	if !ok {
		return nil
	}
	removed, err := r.removeAnnotation(ctx, rc, realtimev1alpha1.AnnotationRebalanceRequested, value)
	if err != nil || !removed {
		return err
	}
	r.event(rc, nil, corev1.EventTypeNormal, EventRebalanceRequested, "Rebalance", rebalanceOutcome(obs.Decision.Rebalance))
	return nil
}

// rebalanceOutcome describes what a requested rebalancing round did.
func rebalanceOutcome(d *RebalanceDecision) string {
	switch {
	case d == nil:
		return "Rebalance requested: no round, no ready runtime pod reported its connections"
	case d.Round != nil:
		var pods []string
		for _, p := range d.Round.Pods {
			s := fmt.Sprintf("%s %d", p.Name, p.Sessions)
			if p.Error != "" {
				s += " (failed: " + p.Error + ")"
			}
			pods = append(pods, s)
		}
		return fmt.Sprintf("Rebalance requested: round started at imbalance %d%% (fair share %d): %s",
			d.Round.ImbalancePercent, d.Round.FairShare, strings.Join(pods, ", "))
	case d.Skip != "":
		return "Rebalance requested: no round, " + d.Skip
	default:
		return "Rebalance requested: no round, the fleet view was not polled afresh"
	}
}
