// Package scaledown plans connection-aware scale-downs of a runtime Deployment: which pods go (the least
// loaded), and how far the Deployment's replicas may drop now (at most maxConcurrent pods draining at a time,
// the next step only once the previous drain finished or its window expired). It is pure; the reconciler
// applies the plan (pod-deletion-cost annotations, then the lower replica count).
package scaledown

import (
	"cmp"
	"slices"
	"time"
)

// Pod is one runtime pod as the planner sees it.
type Pod struct {
	// Name of the pod.
	Name string
	// Ready is the pod's Ready condition.
	Ready bool
	// Terminating is true once the pod has a deletionTimestamp.
	Terminating bool
	// Reported is true when the pod's connection count was read.
	Reported bool
	// Connections is the pod's connected clients (meaningful when Reported).
	Connections int64
}

// SelectVictims returns the names of up to n pods to remove, in removal order: pods that are not ready
// first (the ReplicaSet controller removes those first anyway), then ready pods with a known count, fewest
// connections first, then ready pods whose count is unknown (never assume an unknown pod is empty). Ties go
// by name. Terminating pods are already on their way out and are never selected.
func SelectVictims(pods []Pod, n int) []string {
	if n <= 0 {
		return nil
	}
	rank := func(p Pod) int {
		switch {
		case !p.Ready:
			return 0
		case p.Reported:
			return 1
		default:
			return 2
		}
	}
	candidates := make([]Pod, 0, len(pods))
	for _, p := range pods {
		if !p.Terminating {
			candidates = append(candidates, p)
		}
	}
	slices.SortFunc(candidates, func(a, b Pod) int {
		return cmp.Or(
			cmp.Compare(rank(a), rank(b)),
			cmp.Compare(a.Connections, b.Connections),
			cmp.Compare(a.Name, b.Name),
		)
	})
	out := make([]string, 0, min(n, len(candidates)))
	for _, p := range candidates[:min(n, len(candidates))] {
		out = append(out, p.Name)
	}
	return out
}

// InFlight is a scale-down step that was started: the Deployment was lowered to ToReplicas at StartedAt.
type InFlight struct {
	StartedAt  time.Time
	ToReplicas int32
}

// Input is what the planner needs to decide the next step.
type Input struct {
	// Now is the current time.
	Now time.Time
	// Desired is the replica count asked for (RealtimeCluster spec.replicas).
	Desired int32
	// Current is the Deployment's current spec.replicas.
	Current int32
	// MaxConcurrent is the most pods allowed to drain at once (values below 1 count as 1).
	MaxConcurrent int32
	// InFlight is the previous step, nil when none is under way.
	InFlight *InFlight
	// Pods counts the runtime pods that still exist, terminating ones included.
	Pods int32
	// Window is how long a step may take before the next one starts regardless (the pod grace period).
	Window time.Duration
}

// Action is what the planner decided.
type Action string

const (
	// ActionScale sets the Deployment's replicas to the desired count directly (scale-up or no change).
	ActionScale Action = "Scale"
	// ActionWait keeps the Deployment's replicas: the previous step is still draining.
	ActionWait Action = "Wait"
	// ActionStep removes Remove pods: annotate that many victims, then lower the Deployment.
	ActionStep Action = "Step"
)

// Plan is the planner's decision.
type Plan struct {
	Action Action
	// Replicas is the Deployment spec.replicas to apply.
	Replicas int32
	// Remove is the number of victims to annotate (ActionStep only).
	Remove int32
	// RetryAfter is when to look again (ActionWait: the remaining window, at most the poll bound).
	RetryAfter time.Duration
	// Finished is true when the in-flight step (if any) is over and its record can be cleared.
	Finished bool
}

// Next decides the next step. A scale-up (or a desired count at or above the current one) applies at once
// and ends any scale-down. Otherwise the previous step must be finished — its pods gone (no more pods exist
// than it lowered the Deployment to) or its window expired — before at most MaxConcurrent more pods go.
func Next(in Input) Plan {
	if in.Desired >= in.Current {
		return Plan{Action: ActionScale, Replicas: in.Desired, Finished: true}
	}
	if f := in.InFlight; f != nil {
		deadline := f.StartedAt.Add(in.Window)
		gone := in.Pods <= f.ToReplicas
		if !gone && in.Now.Before(deadline) {
			// Hold at the step's target (re-applied if lowering the Deployment failed last time).
			return Plan{Action: ActionWait, Replicas: max(min(in.Current, f.ToReplicas), in.Desired), RetryAfter: deadline.Sub(in.Now)}
		}
	}
	step := min(max(in.MaxConcurrent, 1), in.Current-in.Desired)
	return Plan{Action: ActionStep, Replicas: in.Current - step, Remove: step, Finished: true}
}
