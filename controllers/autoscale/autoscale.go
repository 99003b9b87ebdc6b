// Package autoscale computes replica recommendations from connection counts with the algorithm of the
// Kubernetes HorizontalPodAutoscaler (autoscaling/v2): a usage ratio against a per-pod target with a
// tolerance, missing-metric dampening, scale-up and scale-down stabilization windows over a recommendation
// history, rate policies over a history of scale events, and min/max bounds.
//
// Everything here is pure: the caller owns a History per scaled object and passes the current time in.
package autoscale

import (
	"fmt"
	"math"
	"time"
)

// PolicyType is the unit of a rate policy.
type PolicyType string

const (
	// PolicyPods limits the change to a number of pods per period.
	PolicyPods PolicyType = "Pods"
	// PolicyPercent limits the change to a percentage of the replicas at the start of the period.
	PolicyPercent PolicyType = "Percent"
)

// Select chooses among the limits of several rate policies.
type Select string

const (
	// SelectMax picks the policy allowing the largest change (the HPA default).
	SelectMax Select = "Max"
	// SelectMin picks the policy allowing the smallest change.
	SelectMin Select = "Min"
	// SelectDisabled forbids changes in this direction.
	SelectDisabled Select = "Disabled"
)

// Policy is one rate limit: at most Value pods (or percent) of change per Period.
type Policy struct {
	Type   PolicyType
	Value  int32
	Period time.Duration
}

// Rules govern one scaling direction.
type Rules struct {
	// StabilizationWindow: scale-up uses the lowest, scale-down the highest recommendation seen within it.
	StabilizationWindow time.Duration
	// Policies limit the rate of change; none means unlimited.
	Policies []Policy
	// Select picks among the policies (empty means Max).
	Select Select
	// Tolerance is the relative distance from the target within which no change is made (HPA: 0.1).
	Tolerance float64
}

// Behavior holds the rules of both directions.
type Behavior struct {
	ScaleUp   Rules
	ScaleDown Rules
}

// DefaultTolerance is the HPA's cluster-wide default tolerance.
const DefaultTolerance = 0.1

// DefaultBehavior returns the HPA defaults: scale-up without stabilization, at most the larger of +100% or
// +4 pods per 15 s; scale-down with a 300 s stabilization window, at most -100% per 15 s; tolerance 0.1.
func DefaultBehavior() Behavior {
	return Behavior{
		ScaleUp: Rules{
			Policies: []Policy{
				{Type: PolicyPercent, Value: 100, Period: 15 * time.Second},
				{Type: PolicyPods, Value: 4, Period: 15 * time.Second},
			},
			Select:    SelectMax,
			Tolerance: DefaultTolerance,
		},
		ScaleDown: Rules{
			StabilizationWindow: 300 * time.Second,
			Policies:            []Policy{{Type: PolicyPercent, Value: 100, Period: 15 * time.Second}},
			Select:              SelectMax,
			Tolerance:           DefaultTolerance,
		},
	}
}

// Input is one observation of the scaled object.
type Input struct {
	// Now is the time of the observation.
	Now time.Time
	// CurrentReplicas is the replica count the object currently asks for (its /scale spec.replicas).
	CurrentReplicas int32
	// PodConnections holds the connected clients of each pod that reported its count.
	PodConnections []int64
	// MissingPods counts the ready pods whose count could not be read.
	MissingPods int
	// TargetPerPod is the average number of connections per pod to aim for (> 0).
	TargetPerPod int64
	// MinReplicas and MaxReplicas bound the result (1 <= Min <= Max).
	MinReplicas, MaxReplicas int32
	// Behavior holds the stabilization and rate rules.
	Behavior Behavior
}

// Decision is the outcome of one evaluation.
type Decision struct {
	// Replicas is the replica count to set.
	Replicas int32
	// Recommendation is the raw metric-based recommendation before stabilization and rate limits.
	Recommendation int32
	// Reason explains the result in a sentence for events and status.
	Reason string
}

// Recommendation is one raw recommendation kept for stabilization.
type Recommendation struct {
	Time     time.Time
	Replicas int32
}

// ScaleEvent is one applied change kept for rate policies (positive: scale-up).
type ScaleEvent struct {
	Time  time.Time
	Delta int32
}

// History is the memory of one scaled object between evaluations. The zero value is an empty history.
type History struct {
	Recommendations []Recommendation
	Events          []ScaleEvent
}

// Evaluate computes the replica count for in and records the recommendation and, when the count changes,
// the scale event in h. Callers apply Decision.Replicas; if applying fails they should drop h.
func Evaluate(in Input, h *History) (Decision, error) {
	if in.TargetPerPod <= 0 {
		return Decision{}, fmt.Errorf("target connections per pod must be positive, got %d", in.TargetPerPod)
	}
	if in.MinReplicas < 1 || in.MaxReplicas < in.MinReplicas {
		return Decision{}, fmt.Errorf("replica bounds must satisfy 1 <= min <= max, got min %d max %d", in.MinReplicas, in.MaxReplicas)
	}
	cur := in.CurrentReplicas
	switch {
	case cur == 0:
		// Like the HPA: a target scaled to zero by hand is in maintenance; leave it alone.
		return Decision{Replicas: 0, Recommendation: 0, Reason: "scaled to zero: autoscaling is inactive"}, nil
	case cur > in.MaxReplicas:
		h.record(in.Now, cur, in.MaxReplicas, in.Behavior)
		return Decision{Replicas: in.MaxReplicas, Recommendation: in.MaxReplicas,
			Reason: fmt.Sprintf("current replicas %d above maxReplicas %d", cur, in.MaxReplicas)}, nil
	case cur < in.MinReplicas:
		h.record(in.Now, cur, in.MinReplicas, in.Behavior)
		return Decision{Replicas: in.MinReplicas, Recommendation: in.MinReplicas,
			Reason: fmt.Sprintf("current replicas %d below minReplicas %d", cur, in.MinReplicas)}, nil
	}

	rec, why := recommend(in)
	stabilized := h.stabilize(in.Now, cur, rec, in.Behavior)
	final, limitWhy := h.limitRate(in.Now, cur, stabilized, in)
	switch {
	case limitWhy != "":
		why += "; " + limitWhy
	case stabilized != rec:
		why += fmt.Sprintf("; stabilized to %d", stabilized)
	}
	h.record(in.Now, cur, final, in.Behavior)
	return Decision{Replicas: final, Recommendation: rec, Reason: why}, nil
}

// recommend is the metric step of the HPA (replica_calculator.go, plain metrics): the ratio of the average
// per-pod value to the target, with pods missing a value assumed at the target on scale-down and at zero on
// scale-up; no change within the tolerance or when the missing pods reverse the direction.
func recommend(in Input) (int32, string) {
	cur := in.CurrentReplicas
	n := len(in.PodConnections)
	if n == 0 {
		return cur, "no pod reported its connections; keeping the current replicas"
	}
	var sum int64
	for _, c := range in.PodConnections {
		sum += c
	}
	target := float64(in.TargetPerPod)
	ratio := float64(sum) / float64(n) / target
	tolerance := in.Behavior.ScaleUp.Tolerance
	if ratio < 1 {
		tolerance = in.Behavior.ScaleDown.Tolerance
	}
	if in.MissingPods == 0 {
		if withinTolerance(ratio, tolerance) {
			return cur, fmt.Sprintf("%d connections on %d pods, %.0f%% of target: within tolerance", sum, n, ratio*100)
		}
		return int32(math.Ceil(ratio * float64(n))), fmt.Sprintf("%d connections on %d pods, %.0f%% of target", sum, n, ratio*100)
	}
	filled := float64(sum)
	if ratio < 1 {
		filled += float64(in.MissingPods) * target
	}
	total := n + in.MissingPods
	newRatio := filled / float64(total) / target
	if withinTolerance(newRatio, tolerance) || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1) {
		return cur, fmt.Sprintf("%d connections on %d pods (%d not reporting): within tolerance once the missing pods are counted", sum, n, in.MissingPods)
	}
	rec := int32(math.Ceil(newRatio * float64(total)))
	if (newRatio < 1 && rec > cur) || (newRatio > 1 && rec < cur) {
		return cur, fmt.Sprintf("%d connections on %d pods (%d not reporting): no safe change", sum, n, in.MissingPods)
	}
	return rec, fmt.Sprintf("%d connections on %d pods (%d not reporting), %.0f%% of target", sum, n, in.MissingPods, newRatio*100)
}

// withinTolerance reports whether ratio is within tolerance of 1. A tiny slack absorbs floating-point error,
// so that exactly 110% of the target with tolerance 0.1 counts as within tolerance.
func withinTolerance(ratio, tolerance float64) bool {
	return math.Abs(1-ratio) <= tolerance+1e-9
}

// stabilize bounds rec by the lowest recommendation of the scale-up window and the highest of the scale-down
// window (both including rec), starting from the current count as the HPA does.
func (h *History) stabilize(now time.Time, cur, rec int32, b Behavior) int32 {
	upCutoff := now.Add(-b.ScaleUp.StabilizationWindow)
	downCutoff := now.Add(-b.ScaleDown.StabilizationWindow)
	up, down := rec, rec
	for _, r := range h.Recommendations {
		if r.Time.After(upCutoff) {
			up = min(up, r.Replicas)
		}
		if r.Time.After(downCutoff) {
			down = max(down, r.Replicas)
		}
	}
	out := cur
	out = max(out, up)
	out = min(out, down)
	h.Recommendations = append(h.Recommendations, Recommendation{Time: now, Replicas: rec})
	return out
}

// limitRate applies the rate policies of the direction of change and the min/max bounds.
func (h *History) limitRate(now time.Time, cur, desired int32, in Input) (int32, string) {
	switch {
	case desired > cur:
		limit := h.scaleUpLimit(now, cur, in.Behavior.ScaleUp)
		limit = max(limit, cur)
		if in.MaxReplicas <= limit {
			if desired > in.MaxReplicas {
				return in.MaxReplicas, fmt.Sprintf("capped at maxReplicas %d", in.MaxReplicas)
			}
			return desired, ""
		}
		if desired > limit {
			return limit, fmt.Sprintf("scale-up rate limited to %d", limit)
		}
		return desired, ""
	case desired < cur:
		limit := h.scaleDownLimit(now, cur, in.Behavior.ScaleDown)
		limit = min(limit, cur)
		if in.MinReplicas >= limit {
			if desired < in.MinReplicas {
				return in.MinReplicas, fmt.Sprintf("held at minReplicas %d", in.MinReplicas)
			}
			return desired, ""
		}
		if desired < limit {
			return limit, fmt.Sprintf("scale-down rate limited to %d", limit)
		}
		return desired, ""
	}
	return min(max(desired, in.MinReplicas), in.MaxReplicas), ""
}

// changes returns the replicas added and removed within period before now.
func (h *History) changes(now time.Time, period time.Duration) (added, removed int32) {
	cutoff := now.Add(-period)
	for _, e := range h.Events {
		if !e.Time.After(cutoff) {
			continue
		}
		if e.Delta > 0 {
			added += e.Delta
		} else {
			removed -= e.Delta
		}
	}
	return added, removed
}

func (h *History) scaleUpLimit(now time.Time, cur int32, r Rules) int32 {
	if r.Select == SelectDisabled {
		return cur
	}
	if len(r.Policies) == 0 {
		return math.MaxInt32
	}
	pickMin := r.Select == SelectMin
	result := int32(math.MinInt32)
	if pickMin {
		result = math.MaxInt32
	}
	for _, p := range r.Policies {
		added, removed := h.changes(now, p.Period)
		start := cur - added + removed
		var proposed int32
		if p.Type == PolicyPercent {
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		} else {
			proposed = start + p.Value
		}
		if pickMin {
			result = min(result, proposed)
		} else {
			result = max(result, proposed)
		}
	}
	return result
}

func (h *History) scaleDownLimit(now time.Time, cur int32, r Rules) int32 {
	if r.Select == SelectDisabled {
		return cur
	}
	if len(r.Policies) == 0 {
		return 0
	}
	pickMin := r.Select == SelectMin // the smallest change: the highest floor
	result := int32(math.MaxInt32)
	if pickMin {
		result = math.MinInt32
	}
	for _, p := range r.Policies {
		added, removed := h.changes(now, p.Period)
		start := cur - added + removed
		var proposed int32
		if p.Type == PolicyPercent {
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		} else {
			proposed = start - p.Value
		}
		if pickMin {
			result = max(result, proposed)
		} else {
			result = min(result, proposed)
		}
	}
	return result
}

// record stores the scale event from cur to next and forgets entries older than every window and period.
func (h *History) record(now time.Time, cur, next int32, b Behavior) {
	if next != cur {
		h.Events = append(h.Events, ScaleEvent{Time: now, Delta: next - cur})
	}
	keep := max(b.ScaleUp.StabilizationWindow, b.ScaleDown.StabilizationWindow)
	for _, rules := range []Rules{b.ScaleUp, b.ScaleDown} {
		for _, p := range rules.Policies {
			keep = max(keep, p.Period)
		}
	}
	cutoff := now.Add(-keep)
	h.Recommendations = trim(h.Recommendations, func(r Recommendation) bool { return r.Time.After(cutoff) })
	h.Events = trim(h.Events, func(e ScaleEvent) bool { return e.Time.After(cutoff) })
}

func trim[T any](s []T, keep func(T) bool) []T {
	out := s[:0]
	for _, v := range s {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}
