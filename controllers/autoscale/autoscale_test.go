package autoscale

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// pods returns n pods with c connections each.
func pods(n int, c int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = c
	}
	return out
}

// unlimited has no stabilization and no rate policies, so only the metric step and the bounds act.
func unlimited() Behavior {
	return Behavior{ScaleUp: Rules{Tolerance: DefaultTolerance}, ScaleDown: Rules{Tolerance: DefaultTolerance}}
}

func TestEvaluateMetricStep(t *testing.T) {
	tests := []struct {
		name    string
		cur     int32
		conns   []int64
		missing int
		want    int32
		reason  string
	}{
		{"on target", 4, pods(4, 1000), 0, 4, "within tolerance"},
		{"within tolerance above", 4, pods(4, 1100), 0, 4, "within tolerance"},
		{"within tolerance below", 4, pods(4, 900), 0, 4, "within tolerance"},
		{"just above tolerance scales up", 4, pods(4, 1101), 0, 5, "110%"},
		{"double load doubles", 4, pods(4, 2000), 0, 8, "200%"},
		{"ceil of total over target", 3, []int64{2500, 2500, 2001}, 0, 8, ""},
		{"half load halves", 4, pods(4, 500), 0, 2, "50%"},
		{"empty fleet goes to min", 5, pods(5, 0), 0, 2, ""},
		{"no reports keeps current", 5, nil, 3, 5, "no pod reported"},
		// Missing pods count as the target on scale-down: 2 pods at 0 + 2 missing at 1000 = 50% -> 2.
		{"missing pods dampen scale-down", 4, pods(2, 0), 2, 2, "not reporting"},
		// 2 pods at 400 + 2 missing at 1000 = 70% -> ceil(0.7*4) = 3.
		{"missing pods dampen scale-down partially", 4, pods(2, 400), 2, 3, ""},
		// Missing pods count as zero on scale-up: 2 at 3000 + 2 at 0 = 150% -> 6.
		{"missing pods dampen scale-up", 4, pods(2, 3000), 2, 6, ""},
		// 2 at 1500 + 2 missing at 0 = 75%: the direction reverses, no change.
		{"missing pods reverse direction", 4, pods(2, 1500), 2, 4, "within tolerance once"},
		{"capped at max", 4, pods(4, 10000), 0, 10, "maxReplicas 10"},
		{"current above max", 12, pods(12, 1000), 0, 10, "above maxReplicas"},
		{"current below min", 1, pods(1, 1000), 0, 2, "below minReplicas"},
		{"scaled to zero stays", 0, nil, 0, 0, "scaled to zero"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h History
			d, err := Evaluate(Input{
				Now: t0, CurrentReplicas: tc.cur, PodConnections: tc.conns, MissingPods: tc.missing,
				TargetPerPod: 1000, MinReplicas: 2, MaxReplicas: 10, Behavior: unlimited(),
			}, &h)
			if err != nil {
				t.Fatal(err)
			}
			if d.Replicas != tc.want {
				t.Errorf("replicas = %d, want %d (reason %q)", d.Replicas, tc.want, d.Reason)
			}
			if tc.reason != "" && !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("reason %q does not mention %q", d.Reason, tc.reason)
			}
		})
	}
}

func TestEvaluateTolerancePerDirection(t *testing.T) {
	b := unlimited()
	b.ScaleUp.Tolerance = 0.5
	b.ScaleDown.Tolerance = 0.01
	tests := []struct {
		name string
		load int64
		want int32
	}{
		{"up within wide tolerance", 1400, 4},
		{"up beyond wide tolerance", 1600, 7},
		{"down beyond narrow tolerance", 950, 4}, // ceil(0.95*4) = 4
		{"down far", 700, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h History
			d, err := Evaluate(Input{Now: t0, CurrentReplicas: 4, PodConnections: pods(4, tc.load),
				TargetPerPod: 1000, MinReplicas: 1, MaxReplicas: 20, Behavior: b}, &h)
			if err != nil {
				t.Fatal(err)
			}
			if d.Replicas != tc.want {
				t.Errorf("replicas = %d, want %d (%s)", d.Replicas, tc.want, d.Reason)
			}
		})
	}
}

// step is one evaluation in a sequence: at offset, the fleet runs cur pods with load connections each.
type step struct {
	at   time.Duration
	load int64
	want int32
}

// runSteps feeds the steps through one History, applying each decision as the next current count.
func runSteps(t *testing.T, b Behavior, start int32, steps []step) {
	t.Helper()
	var h History
	cur := start
	for i, s := range steps {
		d, err := Evaluate(Input{Now: t0.Add(s.at), CurrentReplicas: cur, PodConnections: pods(int(cur), s.load),
			TargetPerPod: 1000, MinReplicas: 1, MaxReplicas: 100, Behavior: b}, &h)
		if err != nil {
			t.Fatal(err)
		}
		if d.Replicas != s.want {
			t.Fatalf("step %d at %s: replicas = %d, want %d (%s)", i, s.at, d.Replicas, s.want, d.Reason)
		}
		cur = d.Replicas
	}
}

func TestEvaluateStabilization(t *testing.T) {
	tests := []struct {
		name  string
		b     Behavior
		start int32
		steps []step
	}{
		{
			name: "scale-down waits for the window's highest recommendation to expire",
			b: Behavior{
				ScaleUp:   Rules{Tolerance: 0.1},
				ScaleDown: Rules{Tolerance: 0.1, StabilizationWindow: 60 * time.Second},
			},
			start: 4,
			steps: []step{
				{0, 1000, 4},               // recommendation 4
				{10 * time.Second, 250, 4}, // recommends 1, but 4 is in the window
				{30 * time.Second, 250, 4}, // still
				{61 * time.Second, 250, 1}, // the 4 expired; only 1s remain
			},
		},
		{
			name: "a brief dip inside the window does not scale down",
			b: Behavior{
				ScaleUp:   Rules{Tolerance: 0.1},
				ScaleDown: Rules{Tolerance: 0.1, StabilizationWindow: 60 * time.Second},
			},
			start: 4,
			steps: []step{
				{0, 1000, 4},
				{20 * time.Second, 500, 4},
				{40 * time.Second, 1000, 4},
				{70 * time.Second, 500, 4}, // 40s recommendation of 4 still in the window
			},
		},
		{
			name: "scale-up stabilization takes the lowest recommendation",
			b: Behavior{
				ScaleUp:   Rules{Tolerance: 0.1, StabilizationWindow: 30 * time.Second},
				ScaleDown: Rules{Tolerance: 0.1},
			},
			start: 2,
			steps: []step{
				{0, 1000, 2},
				{10 * time.Second, 3000, 2}, // recommends 6, but 2 is in the window
				{31 * time.Second, 3000, 6}, // the 2 expired
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runSteps(t, tc.b, tc.start, tc.steps) })
	}
}

func TestEvaluateRatePolicies(t *testing.T) {
	tests := []struct {
		name  string
		b     Behavior
		start int32
		steps []step
	}{
		{
			name:  "default scale-up: max of +100% and +4 pods per 15s",
			b:     DefaultBehavior(),
			start: 2,
			steps: []step{
				{0, 10000, 6},                 // 2 -> wants 20; +4 pods (6) beats +100% (4)
				{5 * time.Second, 10000, 6},   // period started at 2: still capped at 6
				{16 * time.Second, 10000, 12}, // new period from 6: +100% = 12 beats +4
			},
		},
		{
			name: "scale-down one pod per minute",
			b: Behavior{
				ScaleUp: Rules{Tolerance: 0.1},
				ScaleDown: Rules{Tolerance: 0.1, Select: SelectMin,
					Policies: []Policy{{Type: PolicyPods, Value: 1, Period: time.Minute}}},
			},
			start: 5,
			steps: []step{
				{0, 100, 4},
				{30 * time.Second, 100, 4},
				{61 * time.Second, 100, 3},
				{122 * time.Second, 100, 2},
			},
		},
		{
			name: "Min select takes the smaller change",
			b: Behavior{
				ScaleUp: Rules{Tolerance: 0.1, Select: SelectMin, Policies: []Policy{
					{Type: PolicyPercent, Value: 50, Period: time.Minute},
					{Type: PolicyPods, Value: 5, Period: time.Minute},
				}},
				ScaleDown: Rules{Tolerance: 0.1},
			},
			start: 4,
			steps: []step{{0, 10000, 6}}, // +50% = 6 < +5 = 9
		},
		{
			name: "percent scale-down rounds toward fewer removals",
			b: Behavior{
				ScaleUp:   Rules{Tolerance: 0.1},
				ScaleDown: Rules{Tolerance: 0.1, Policies: []Policy{{Type: PolicyPercent, Value: 10, Period: time.Minute}}},
			},
			start: 15,
			steps: []step{{0, 100, 13}}, // floor(15*0.9) = 13
		},
		{
			name: "disabled scale-down never removes pods",
			b: Behavior{
				ScaleUp:   Rules{Tolerance: 0.1},
				ScaleDown: Rules{Tolerance: 0.1, Select: SelectDisabled},
			},
			start: 5,
			steps: []step{{0, 0, 5}, {time.Hour, 0, 5}},
		},
		{
			name: "disabled scale-up never adds pods",
			b: Behavior{
				ScaleUp:   Rules{Tolerance: 0.1, Select: SelectDisabled},
				ScaleDown: Rules{Tolerance: 0.1},
			},
			start: 2,
			steps: []step{{0, 5000, 2}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runSteps(t, tc.b, tc.start, tc.steps) })
	}
}

func TestEvaluateRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want string
	}{
		{"zero target", Input{CurrentReplicas: 2, TargetPerPod: 0, MinReplicas: 1, MaxReplicas: 2}, "target"},
		{"min above max", Input{CurrentReplicas: 2, TargetPerPod: 1, MinReplicas: 3, MaxReplicas: 2}, "min"},
		{"zero min", Input{CurrentReplicas: 2, TargetPerPod: 1, MinReplicas: 0, MaxReplicas: 2}, "min"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h History
			if _, err := Evaluate(tc.in, &h); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestHistoryForgetsOldEntries(t *testing.T) {
	var h History
	b := DefaultBehavior()
	for i := range 100 {
		_, err := Evaluate(Input{Now: t0.Add(time.Duration(i) * time.Minute), CurrentReplicas: 3,
			PodConnections: pods(3, 1000), TargetPerPod: 1000, MinReplicas: 1, MaxReplicas: 10, Behavior: b}, &h)
		if err != nil {
			t.Fatal(err)
		}
	}
	// The longest window is 300s: at one evaluation per minute, at most 5 recommendations remain.
	if n := len(h.Recommendations); n > 6 {
		t.Errorf("history keeps %d recommendations, want at most 6", n)
	}
}
