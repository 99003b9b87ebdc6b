package rebalance

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func pods(counts ...int64) []Pod {
	out := make([]Pod, len(counts))
	for i, c := range counts {
		out[i] = Pod{Name: string(rune('a' + i)), Connections: c}
	}
	return out
}

func TestNext(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	base := Input{Now: now, ThresholdPercent: 20, MinSessions: 10, Cooldown: time.Minute}
	tests := []struct {
		name      string
		mutate    func(*Input)
		wantSheds []Shed
		wantSkip  string
		wantRetry time.Duration
	}{
		{"scale-up from 3 to 4: the three old pods shed down to the fair share",
			func(in *Input) { in.Pods = pods(1000, 1000, 1000, 0) }, []Shed{{"a", 250}, {"b", 250}, {"c", 250}}, "", 0},
		{"uneven: only pods above the fair share shed, most loaded first",
			func(in *Input) { in.Pods = pods(500, 900, 200, 100) }, []Shed{{"b", 475}, {"a", 75}}, "", 0},
		{"fair share rounds up so nobody goes below it",
			func(in *Input) { in.Pods = pods(101, 0) }, []Shed{{"a", 50}}, "", 0},
		{"within the threshold",
			func(in *Input) { in.Pods = pods(110, 100, 90) }, nil, "within the threshold", 0},
		{"a rollout is under way",
			func(in *Input) { in.Pods, in.Settling = pods(1000, 0), "rollout under way" }, nil, "rollout under way", 0},
		{"a single pod",
			func(in *Input) { in.Pods = pods(1000) }, nil, "fewer than two", 0},
		{"no clients",
			func(in *Input) { in.Pods = pods(0, 0) }, nil, "within the threshold", 0},
		{"the previous round is still shedding",
			func(in *Input) { in.Pods, in.ShedPending = pods(1000, 0), 3 }, nil, "still has 3 sessions", 0},
		{"cooling down",
			func(in *Input) { in.Pods, in.LastRound = pods(1000, 0), now.Add(-20*time.Second) }, nil, "cooling down", 40 * time.Second},
		{"cooldown over",
			func(in *Input) { in.Pods, in.LastRound = pods(1000, 0), now.Add(-time.Minute) }, []Shed{{"a", 500}}, "", 0},
		{"too few sessions to move",
			func(in *Input) { in.Pods = pods(5, 0) }, nil, "only 2 sessions", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			tc.mutate(&in)
			got := Next(in)
			if !reflect.DeepEqual(got.Sheds, tc.wantSheds) {
				t.Errorf("sheds = %v, want %v (skip %q)", got.Sheds, tc.wantSheds, got.Skip)
			}
			if tc.wantSkip == "" && got.Skip != "" || !strings.Contains(got.Skip, tc.wantSkip) {
				t.Errorf("skip = %q, want it to contain %q", got.Skip, tc.wantSkip)
			}
			if got.RetryAfter != tc.wantRetry {
				t.Errorf("retry after = %v, want %v", got.RetryAfter, tc.wantRetry)
			}
		})
	}
}

// TestRoundsConverge simulates the load balancer placing the shed clients' new handshakes, round after round,
// and checks that rounds bring the imbalance within the threshold without ever asking a pod to go below the
// fair share. With least-connections one round suffices; with round-robin the shedding pods win back 1/n of
// what they shed, so each round removes (n-1)/n of the remaining excess.
func TestRoundsConverge(t *testing.T) {
	leastConn := func(counts []int64, _ int) int { return slices.Index(counts, slices.Min(counts)) }
	roundRobin := func(counts []int64, k int) int { return k % len(counts) }
	tests := []struct {
		name      string
		place     func(counts []int64, k int) int
		maxRounds int
	}{
		{"least connections", leastConn, 1},
		{"round robin", roundRobin, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			counts := []int64{3000, 3000, 3000, 0}
			in := Input{ThresholdPercent: 10, MinSessions: 10}
			placed := 0
			for round := 0; ; round++ {
				in.Pods = pods(counts...)
				plan := Next(in)
				if len(plan.Sheds) == 0 {
					if plan.ImbalancePercent > in.ThresholdPercent {
						t.Fatalf("round %d: stopped at imbalance %d%%: %s", round, plan.ImbalancePercent, plan.Skip)
					}
					if round > tc.maxRounds {
						t.Fatalf("balanced after %d rounds, want at most %d: %v", round, tc.maxRounds, counts)
					}
					return
				}
				if round == tc.maxRounds {
					t.Fatalf("not balanced after %d rounds: %v (imbalance %d%%)", round, counts, plan.ImbalancePercent)
				}
				for _, s := range plan.Sheds {
					i := int(s.Pod[0] - 'a')
					if counts[i]-s.Sessions < plan.FairShare {
						t.Fatalf("round %d: %s asked below the fair share %d", round, s.Pod, plan.FairShare)
					}
					counts[i] -= s.Sessions
				}
				for range plan.Total() {
					counts[tc.place(counts, placed)]++
					placed++
				}
			}
		})
	}
}
