package scaledown

import (
	"slices"
	"testing"
	"time"
)

func TestSelectVictims(t *testing.T) {
	ready := func(name string, c int64) Pod { return Pod{Name: name, Ready: true, Reported: true, Connections: c} }
	tests := []struct {
		name string
		pods []Pod
		n    int
		want []string
	}{
		{"least loaded first", []Pod{ready("a", 300), ready("b", 100), ready("c", 200)}, 2, []string{"b", "c"}},
		{"ties by name", []Pod{ready("c", 5), ready("a", 5), ready("b", 5)}, 2, []string{"a", "b"}},
		{"not ready before ready", []Pod{ready("a", 0), {Name: "z", Reported: true, Connections: 900}}, 1, []string{"z"}},
		{"unknown count after known", []Pod{{Name: "a", Ready: true}, ready("b", 5000)}, 1, []string{"b"}},
		{"terminating never selected", []Pod{{Name: "a", Ready: true, Reported: true, Terminating: true}, ready("b", 10)}, 2, []string{"b"}},
		{"n larger than pods", []Pod{ready("a", 1)}, 3, []string{"a"}},
		{"zero", []Pod{ready("a", 1)}, 0, nil},
		{"empty", nil, 2, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := SelectVictims(tc.pods, tc.n)
			if !slices.Equal(got, tc.want) {
				t.Errorf("SelectVictims = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNext(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	window := 75 * time.Second
	tests := []struct {
		name string
		in   Input
		want Plan
	}{
		{"scale-up applies at once",
			Input{Now: t0, Desired: 5, Current: 3, MaxConcurrent: 1, Pods: 3, Window: window},
			Plan{Action: ActionScale, Replicas: 5, Finished: true}},
		{"no change",
			Input{Now: t0, Desired: 3, Current: 3, MaxConcurrent: 1, Pods: 3, Window: window},
			Plan{Action: ActionScale, Replicas: 3, Finished: true}},
		{"scale-up cancels an in-flight scale-down",
			Input{Now: t0, Desired: 4, Current: 3, MaxConcurrent: 1, Pods: 4, Window: window,
				InFlight: &InFlight{StartedAt: t0, ToReplicas: 3}},
			Plan{Action: ActionScale, Replicas: 4, Finished: true}},
		{"first step bounded by maxConcurrent",
			Input{Now: t0, Desired: 2, Current: 6, MaxConcurrent: 2, Pods: 6, Window: window},
			Plan{Action: ActionStep, Replicas: 4, Remove: 2, Finished: true}},
		{"step never below desired",
			Input{Now: t0, Desired: 5, Current: 6, MaxConcurrent: 3, Pods: 6, Window: window},
			Plan{Action: ActionStep, Replicas: 5, Remove: 1, Finished: true}},
		{"maxConcurrent 0 counts as 1",
			Input{Now: t0, Desired: 1, Current: 3, MaxConcurrent: 0, Pods: 3, Window: window},
			Plan{Action: ActionStep, Replicas: 2, Remove: 1, Finished: true}},
		{"waits while the previous pods drain",
			Input{Now: t0.Add(20 * time.Second), Desired: 2, Current: 4, MaxConcurrent: 1, Pods: 5, Window: window,
				InFlight: &InFlight{StartedAt: t0, ToReplicas: 4}},
			Plan{Action: ActionWait, Replicas: 4, RetryAfter: 55 * time.Second}},
		{"re-applies the step target when lowering failed",
			Input{Now: t0.Add(20 * time.Second), Desired: 2, Current: 5, MaxConcurrent: 1, Pods: 5, Window: window,
				InFlight: &InFlight{StartedAt: t0, ToReplicas: 4}},
			Plan{Action: ActionWait, Replicas: 4, RetryAfter: 55 * time.Second}},
		{"next step once the pods are gone",
			Input{Now: t0.Add(20 * time.Second), Desired: 2, Current: 4, MaxConcurrent: 1, Pods: 4, Window: window,
				InFlight: &InFlight{StartedAt: t0, ToReplicas: 4}},
			Plan{Action: ActionStep, Replicas: 3, Remove: 1, Finished: true}},
		{"next step once the window expired",
			Input{Now: t0.Add(window), Desired: 2, Current: 4, MaxConcurrent: 1, Pods: 5, Window: window,
				InFlight: &InFlight{StartedAt: t0, ToReplicas: 4}},
			Plan{Action: ActionStep, Replicas: 3, Remove: 1, Finished: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Next(tc.in); got != tc.want {
				t.Errorf("Next = %+v, want %+v", got, tc.want)
			}
		})
	}
}
