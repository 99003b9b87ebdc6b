// Package rebalance plans how a runtime fleet evens out its connections after a scale-up (or any drift): the
// pods above the fair share are asked to shed their excess sessions (POST /shed), the shed clients reconnect
// through the load balancer, and fresh handshakes land on the emptier pods. It is pure; the reconciler
// gathers the input, sends the shed requests and records the round.
//
// A round starts only on a settled fleet (no rollout, scale-down or pod start-up under way, every pod
// reporting), when the imbalance exceeds the threshold, the previous round's sheds are done and the cooldown
// since it has passed. Each overloaded pod sheds exactly its excess over the fair share. Under a round-robin
// balancer the shedding pods win back a share of their own clients, so a round leaves a smaller imbalance and
// the next round (after the cooldown) removes most of the rest; under least-connections one round suffices.
// Shedding never overshoots the fair share, so rounds cannot oscillate.
package rebalance

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/socketfleet/socketfleet/controllers/fleetview"
)

// Pod is one serving runtime pod: ready, reporting, not draining or terminating.
type Pod struct {
	// Name of the pod.
	Name string
	// Connections is the pod's connected clients.
	Connections int64
}

// Input is what the planner needs to decide a round.
type Input struct {
	// Now is the current time.
	Now time.Time
	// Settling, when not empty, says why the fleet is not in a steady state (a rollout or scale-down under
	// way, pods starting, pods not reporting); no round starts then.
	Settling string
	// Pods are the serving pods.
	Pods []Pod
	// ShedPending is the number of sessions the pods still have to shed from earlier requests.
	ShedPending int64
	// LastRound is when the previous round started (zero: never).
	LastRound time.Time
	// Cooldown is the least time between two rounds.
	Cooldown time.Duration
	// ThresholdPercent: a round starts when the most unevenly loaded pod is further than this from the fair
	// share, in percent of the fair share.
	ThresholdPercent int32
	// MinSessions: a round starts only when it would move at least this many sessions in all.
	MinSessions int64
}

// Shed asks one pod to close Sessions sessions.
type Shed struct {
	// Pod is the pod's name.
	Pod string
	// Sessions is how many sessions it closes.
	Sessions int64
}

// Plan is the planner's decision.
type Plan struct {
	// Sheds are the requests to send, most loaded pod first; empty when no round starts.
	Sheds []Shed
	// FairShare is the mean connection count of the serving pods (rounded down).
	FairShare int64
	// ImbalancePercent is the largest distance of a pod from the fair share in percent of it (as
	// fleetview.Imbalance and status.fleet.imbalancePercent define it).
	ImbalancePercent int32
	// Skip says why no round starts (empty when Sheds is not).
	Skip string
	// RetryAfter, when positive, is when a round could start at the earliest (the cooldown's end).
	RetryAfter time.Duration
}

// Total is the number of sessions the plan sheds.
func (p Plan) Total() int64 {
	var n int64
	for _, s := range p.Sheds {
		n += s.Sessions
	}
	return n
}

// Next decides whether a round starts now and what it sheds.
func Next(in Input) Plan {
	var plan Plan
	var total int64
	counts := make([]int64, len(in.Pods))
	for i, p := range in.Pods {
		total += p.Connections
		counts[i] = p.Connections
	}
	if len(in.Pods) > 0 {
		plan.FairShare = total / int64(len(in.Pods))
	}
	plan.ImbalancePercent = fleetview.Imbalance(counts)
	switch {
	case in.Settling != "":
		plan.Skip = in.Settling
		return plan
	case len(in.Pods) < 2:
		plan.Skip = "fewer than two serving pods"
		return plan
	case plan.ImbalancePercent <= in.ThresholdPercent:
		plan.Skip = fmt.Sprintf("imbalance %d%% is within the threshold of %d%%", plan.ImbalancePercent, in.ThresholdPercent)
		return plan
	case in.ShedPending > 0:
		plan.Skip = fmt.Sprintf("the previous round still has %d sessions to shed", in.ShedPending)
		return plan
	}
	if !in.LastRound.IsZero() {
		if wait := in.LastRound.Add(in.Cooldown).Sub(in.Now); wait > 0 {
			plan.Skip = fmt.Sprintf("cooling down for %s after the previous round", wait.Round(time.Second))
			plan.RetryAfter = wait
			return plan
		}
	}
	// The fair share rounded up, so no pod is asked to go below it.
	ceilFair := (total + int64(len(in.Pods)) - 1) / int64(len(in.Pods))
	for _, p := range in.Pods {
		if excess := p.Connections - ceilFair; excess > 0 {
			plan.Sheds = append(plan.Sheds, Shed{Pod: p.Name, Sessions: excess})
		}
	}
	if n := plan.Total(); n == 0 || n < in.MinSessions {
		plan.Skip = fmt.Sprintf("only %d sessions above the fair share (minimum %d)", n, in.MinSessions)
		plan.Sheds = nil
		return plan
	}
	slices.SortFunc(plan.Sheds, func(a, b Shed) int {
		return cmp.Or(cmp.Compare(b.Sessions, a.Sessions), cmp.Compare(a.Pod, b.Pod))
	})
	return plan
}
