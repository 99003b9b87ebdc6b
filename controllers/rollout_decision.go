package controllers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/fleetview"
)

// Event reasons of canary rollouts.
const (
	EventCanaryStarted   = "CanaryStarted"
	EventCanaryHalted    = "CanaryHalted"
	EventCanaryPromoted  = "CanaryPromoted"
	EventCanaryCompleted = "CanaryCompleted"
	EventCanaryAborted   = "CanaryAborted"
)

// Condition reasons of ConditionCanary.
const (
	ReasonCanaryAnalyzing = "Analyzing"
	ReasonCanaryHalted    = "Halted"
	ReasonCanaryPromoted  = "Promoted"
	ReasonCanaryCompleted = "Completed"
	ReasonCanaryAborted   = "Aborted"
)

// canaryFailureStates are the container waiting reasons that halt a canary at once: the new template cannot
// run (a crash loop, an image that cannot be pulled, a configuration the kubelet cannot build).
var canaryFailureStates = map[string]bool{
	"CrashLoopBackOff":           true,
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"InvalidImageName":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
}

// CanaryPod is what the canary analysis reads of one canary pod.
type CanaryPod struct {
	// Name of the pod.
	Name string
	// Ready is the pod's Ready condition; Terminating is true once it has a deletionTimestamp.
	Ready, Terminating bool
	// Restarts is the sum of its containers' restart counts.
	Restarts int32
	// Failure is "<container>: <reason>: <message>" of a container waiting in one of canaryFailureStates, or
	// of a container that last terminated with an error; "" when none.
	Failure string
	// Stats is the pod's latest /stats poll; nil when it was not polled (not ready yet).
	Stats *fleetview.PodStats
}

// CanaryInput is everything DecideCanary looks at.
type CanaryInput struct {
	// Spec is spec.rollout.canary (nil: no canary).
	Spec *realtimev1alpha1.CanarySpec
	// Replicas is the canary batch size (specs.CanaryReplicas; 0: nothing to roll).
	Replicas int32
	// DesiredHash is the template hash of the pod template the spec asks for now.
	DesiredHash string
	// MainHash is the template hash on the stored runtime Deployment ("" when it does not exist or predates
	// canary rollouts: nothing to compare with, the template is applied directly).
	MainHash string
	// MainRolledOut is true when the stored runtime Deployment has observed its spec and every pod of it runs
	// its current template and is available.
	MainRolledOut bool
	// CanaryExists is true when the canary Deployment exists.
	CanaryExists bool
	// Pods are the canary pods.
	Pods []CanaryPod
	// Previous is status.canary.
	Previous *realtimev1alpha1.CanaryStatus
	// Now is the current time.
	Now time.Time
}

// CanaryDecision is what DecideCanary asks the reconciler to do; applyCanary carries it out.
type CanaryDecision struct {
	// HoldMain keeps the runtime Deployment on the pod template it has (the new one waits for the canary).
	HoldMain bool
	// CanaryReplicas, when not nil, is applied as the canary Deployment with the desired pod template.
	CanaryReplicas *int32
	// DeleteCanary removes the canary Deployment (and so its pods).
	DeleteCanary bool
	// Status is the new status.canary (nil: none under way).
	Status *realtimev1alpha1.CanaryStatus
	// Condition is the Canary condition to set (nil: leave it as it is).
	Condition *metav1.Condition
	// Events are emitted on the RealtimeCluster.
	Events []FleetEvent
	// RequeueAfter is when the analysis is to look again (0: on the next event).
	RequeueAfter time.Duration
}

func canaryCondition(status metav1.ConditionStatus, reason, message string) *metav1.Condition {
	return &metav1.Condition{Type: realtimev1alpha1.ConditionCanary, Status: status, Reason: reason, Message: message}
}

// DecideCanary decides the canary step of a rollout. The runtime Deployment is held on its template while a
// canary for a newer template is analysed or halted; it gets the new template once the canary pods stayed
// healthy for pauseSeconds (Promoted), and the canary is removed once the runtime Deployment's rollout is
// complete. A spec whose template is back to the runtime Deployment's aborts the canary; a newer template
// restarts it. Without spec.rollout.canary nothing is held and a leftover canary is removed.
func DecideCanary(in CanaryInput) CanaryDecision {
	prev := in.Previous
	if in.Spec == nil || in.Replicas <= 0 || in.MainHash == "" {
		d := CanaryDecision{DeleteCanary: in.CanaryExists}
		if prev != nil {
			d.Condition = canaryCondition(metav1.ConditionFalse, ReasonCanaryAborted,
				"spec.rollout.canary was removed (or spec.replicas is 0): the pod template is rolled directly")
			d.Events = append(d.Events, FleetEvent{corev1.EventTypeNormal, EventCanaryAborted, "Abort", d.Condition.Message})
		}
		return d
	}
	if in.MainHash == in.DesiredHash {
		if prev != nil && prev.Phase == realtimev1alpha1.CanaryPromoted && prev.TemplateHash == in.DesiredHash {
			if !in.MainRolledOut {
				// The canary pods keep serving until the runtime Deployment's new pods replace their capacity.
				return CanaryDecision{CanaryReplicas: new(prev.Replicas), Status: prev}
			}
			msg := fmt.Sprintf("template %s rolled out to the runtime Deployment; canary pods removed", in.DesiredHash)
			return CanaryDecision{DeleteCanary: in.CanaryExists,
				Condition: canaryCondition(metav1.ConditionFalse, ReasonCanaryCompleted, msg),
				Events:    []FleetEvent{{corev1.EventTypeNormal, EventCanaryCompleted, "Promote", msg}}}
		}
		d := CanaryDecision{DeleteCanary: in.CanaryExists}
		if prev != nil {
			msg := fmt.Sprintf("the pod template is back to the one the runtime Deployment runs (%s): canary of template %s aborted and its pods removed", in.MainHash, prev.TemplateHash)
			d.Condition = canaryCondition(metav1.ConditionFalse, ReasonCanaryAborted, msg)
			d.Events = []FleetEvent{{corev1.EventTypeNormal, EventCanaryAborted, "Abort", msg}}
		}
		return d
	}

	// A new pod template waits for its canary.
	timeout := time.Duration(in.Spec.Analysis.ReadyTimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = time.Duration(realtimev1alpha1.DefaultCanaryReadyTimeoutSeconds) * time.Second
	}
	pause := time.Duration(realtimev1alpha1.DefaultCanaryPauseSeconds) * time.Second
	if in.Spec.PauseSeconds != nil {
		pause = time.Duration(*in.Spec.PauseSeconds) * time.Second
	}
	if prev == nil || prev.TemplateHash != in.DesiredHash {
		msg := fmt.Sprintf("rolling pod template %s to %d canary pod(s) first; the runtime Deployment keeps template %s", in.DesiredHash, in.Replicas, in.MainHash)
		if prev != nil && prev.Phase != realtimev1alpha1.CanaryPromoted {
			msg = fmt.Sprintf("pod template changed during the canary of %s: %s", prev.TemplateHash, msg)
		}
		st := &realtimev1alpha1.CanaryStatus{TemplateHash: in.DesiredHash, Phase: realtimev1alpha1.CanaryAnalyzing,
			Replicas: in.Replicas, StartedAt: metav1.NewTime(in.Now), Message: "waiting for the canary pods to be ready"}
		return CanaryDecision{HoldMain: true, CanaryReplicas: new(in.Replicas), Status: st,
			Condition:    canaryCondition(metav1.ConditionTrue, ReasonCanaryAnalyzing, msg),
			Events:       []FleetEvent{{corev1.EventTypeNormal, EventCanaryStarted, "Canary", msg}},
			RequeueAfter: timeout}
	}
	st := prev.DeepCopy()
	st.Replicas = in.Replicas
	d := CanaryDecision{HoldMain: true, CanaryReplicas: new(in.Replicas), Status: st}
	switch prev.Phase {
	case realtimev1alpha1.CanaryHalted:
		// Stays halted, with no canary pod taking clients, until the template or spec.rollout.canary changes.
		d.CanaryReplicas = new(int32(0))
		return d
	case realtimev1alpha1.CanaryPromoted:
		// The runtime Deployment was given the template but does not carry it (yet): promote again.
		d.HoldMain = false
		return d
	}

	halt := func(reason string) CanaryDecision {
		st.Phase, st.HealthySince = realtimev1alpha1.CanaryHalted, nil
		st.Message = reason
		msg := fmt.Sprintf("canary of pod template %s halted (canary pods scaled to 0), the runtime Deployment keeps template %s and no pod of it is replaced: %s", in.DesiredHash, in.MainHash, reason)
		d.Condition = canaryCondition(metav1.ConditionFalse, ReasonCanaryHalted, msg)
		d.Events = []FleetEvent{{corev1.EventTypeWarning, EventCanaryHalted, "Halt", msg}}
		d.RequeueAfter = 0
		// The failed pods are scaled away so that no client lands on them; the old pods keep serving.
		d.CanaryReplicas = new(int32(0))
		return d
	}
	if failure := canaryFailure(in.Pods, in.Spec.Analysis.MaxRestarts); failure != "" {
		return halt(failure)
	}
	healthy, ready, waiting := canaryHealth(in.Pods, in.Replicas, in.CanaryExists)
	elapsed := in.Now.Sub(prev.StartedAt.Time)
	if !healthy {
		// A pod that is not ready restarts the pause; a ready pod whose /stats poll failed once (a slow
		// answer) only delays the promotion, unless the pods never answered before the timeout.
		if !ready {
			st.HealthySince = nil
		}
		if st.HealthySince == nil && elapsed >= timeout {
			return halt(fmt.Sprintf("not ready within spec.rollout.canary.analysis.readyTimeoutSeconds (%ds): %s", int64(timeout/time.Second), waiting))
		}
		st.Message = "waiting: " + waiting
		d.RequeueAfter = canaryRecheck
		if st.HealthySince == nil {
			d.RequeueAfter = min(timeout-elapsed, canaryRecheck)
		}
		d.Condition = canaryCondition(metav1.ConditionTrue, ReasonCanaryAnalyzing, st.Message)
		return d
	}
	if st.HealthySince == nil {
		st.HealthySince = new(metav1.NewTime(in.Now))
	}
	healthyFor := in.Now.Sub(st.HealthySince.Time)
	clients := canaryClients(in.Pods)
	if healthyFor < pause {
		st.Message = fmt.Sprintf("%d canary pod(s) healthy for %ds of %ds (spec.rollout.canary.pauseSeconds), %d clients connected",
			in.Replicas, int64(healthyFor/time.Second), int64(pause/time.Second), clients)
		d.RequeueAfter = min(pause-healthyFor, canaryRecheck)
		d.Condition = canaryCondition(metav1.ConditionTrue, ReasonCanaryAnalyzing, st.Message)
		return d
	}
	if minClients := int64(in.Spec.Analysis.MinConnectedClients); clients < minClients {
		return halt(fmt.Sprintf("the canary pods hold %d clients after %ds, spec.rollout.canary.analysis.minConnectedClients asks for %d",
			clients, int64(pause/time.Second), minClients))
	}
	st.Phase = realtimev1alpha1.CanaryPromoted
	st.Message = fmt.Sprintf("canary pods healthy for %ds with %d clients: the runtime Deployment gets pod template %s", int64(healthyFor/time.Second), clients, in.DesiredHash)
	d.HoldMain = false
	d.Condition = canaryCondition(metav1.ConditionTrue, ReasonCanaryPromoted, st.Message)
	d.Events = []FleetEvent{{corev1.EventTypeNormal, EventCanaryPromoted, "Promote", st.Message}}
	return d
}

// canaryRecheck bounds how long an analysing canary waits for the next look when no event comes.
const canaryRecheck = 5 * time.Second

// canaryFailure names the first canary pod that failed outright (a failing container, too many restarts), or "".
func canaryFailure(pods []CanaryPod, maxRestarts int32) string {
	for _, p := range pods {
		if p.Terminating {
			continue
		}
		if p.Failure != "" {
			return fmt.Sprintf("pod %s: %s", p.Name, p.Failure)
		}
		if p.Restarts > maxRestarts {
			return fmt.Sprintf("pod %s restarted %d times, spec.rollout.canary.analysis.maxRestarts allows %d", p.Name, p.Restarts, maxRestarts)
		}
	}
	return ""
}

// canaryHealth reports whether want canary pods are ready, answer /stats and are not draining (healthy),
// whether want of them are at least ready and not draining (ready), and otherwise what is missing.
func canaryHealth(pods []CanaryPod, want int32, exists bool) (healthy, ready bool, missing string) {
	if !exists {
		return false, false, "the canary Deployment does not exist yet"
	}
	var nHealthy, nReady int32
	var why []string
	for _, p := range pods {
		switch {
		case p.Terminating:
			continue
		case !p.Ready:
			why = append(why, fmt.Sprintf("pod %s is not ready", p.Name))
			continue
		case p.Stats != nil && p.Stats.Err == nil && p.Stats.Draining:
			why = append(why, fmt.Sprintf("pod %s is draining", p.Name))
			continue
		}
		nReady++
		switch {
		case p.Stats == nil:
			why = append(why, fmt.Sprintf("pod %s was not polled yet", p.Name))
		case p.Stats.Err != nil:
			why = append(why, fmt.Sprintf("pod %s does not answer /stats: %v", p.Name, p.Stats.Err))
		default:
			nHealthy++
		}
	}
	if nHealthy >= want {
		return true, true, ""
	}
	msg := fmt.Sprintf("%d of %d canary pod(s) healthy", nHealthy, want)
	if len(why) > 0 {
		msg += "; " + strings.Join(why[:min(len(why), 5)], "; ")
	}
	return false, nReady >= want, msg
}

// canaryClients sums the connected clients the canary pods reported.
func canaryClients(pods []CanaryPod) int64 {
	var n int64
	for _, p := range pods {
		if p.Stats != nil && p.Stats.Err == nil && !p.Terminating {
			n += p.Stats.Connections
		}
	}
	return n
}
