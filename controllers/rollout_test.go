package controllers

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// TestComputeStatusCanary checks what a canary decision puts in the status: status.canary, the Canary condition,
// Progressing while analysed and Degraded while halted; without a decision (paused, failed step) the previous
// status.canary stays.
func TestComputeStatusCanary(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	st := func(phase realtimev1alpha1.CanaryPhase) *realtimev1alpha1.CanaryStatus {
		return &realtimev1alpha1.CanaryStatus{TemplateHash: "h", Phase: phase, Replicas: 1, StartedAt: now, Message: "m"}
	}
	tests := []struct {
		name                         string
		previous                     *realtimev1alpha1.CanaryStatus
		dec                          *CanaryDecision
		wantPhase                    realtimev1alpha1.CanaryPhase // "" for no status.canary
		wantCanary                   string                       // Canary condition reason, "" for none
		wantProgressing, wantDegrade string                       // reasons
	}{
		{"analysing", nil, &CanaryDecision{Status: st(realtimev1alpha1.CanaryAnalyzing),
			Condition: canaryCondition(metav1.ConditionTrue, ReasonCanaryAnalyzing, "x")},
			realtimev1alpha1.CanaryAnalyzing, ReasonCanaryAnalyzing, ReasonCanary, ReasonAsExpected},
		{"halted", nil, &CanaryDecision{Status: st(realtimev1alpha1.CanaryHalted),
			Condition: canaryCondition(metav1.ConditionFalse, ReasonCanaryHalted, "x")},
			realtimev1alpha1.CanaryHalted, ReasonCanaryHalted, ReasonComplete, ReasonCanary},
		{"completed", st(realtimev1alpha1.CanaryPromoted), &CanaryDecision{
			Condition: canaryCondition(metav1.ConditionFalse, ReasonCanaryCompleted, "x")},
			"", ReasonCanaryCompleted, ReasonComplete, ReasonAsExpected},
		{"no decision keeps the previous status", st(realtimev1alpha1.CanaryHalted), nil,
			realtimev1alpha1.CanaryHalted, "", ReasonComplete, ReasonCanary},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := cluster(func(rc *realtimev1alpha1.RealtimeCluster) { rc.Status.Canary = tc.previous })
			dep := deployment(1, 1, 2, 2, 2, 2)
			s := ComputeStatus(rc, Observed{Deployment: dep, Canary: tc.dec}, now)
			switch {
			case tc.wantPhase == "" && s.Canary != nil:
				t.Errorf("status.canary = %+v, want none", s.Canary)
			case tc.wantPhase != "" && (s.Canary == nil || s.Canary.Phase != tc.wantPhase):
				t.Errorf("status.canary = %+v, want phase %s", s.Canary, tc.wantPhase)
			}
			reason := func(typ string) string {
				if c := meta.FindStatusCondition(s.Conditions, typ); c != nil {
					return c.Reason
				}
				return ""
			}
			if got := reason(realtimev1alpha1.ConditionCanary); got != tc.wantCanary {
				t.Errorf("Canary reason %q, want %q", got, tc.wantCanary)
			}
			if got := reason(realtimev1alpha1.ConditionProgressing); got != tc.wantProgressing {
				t.Errorf("Progressing reason %q, want %q", got, tc.wantProgressing)
			}
			if got := reason(realtimev1alpha1.ConditionDegraded); got != tc.wantDegrade {
				t.Errorf("Degraded reason %q, want %q", got, tc.wantDegrade)
			}
		})
	}
}

// TestCanaryStateCondition checks that the last decided Canary condition is handed back to reconciles that
// decide none, per cluster, and forgotten with the cluster.
func TestCanaryStateCondition(t *testing.T) {
	var s canaryState
	if c := s.condition("a", nil); c != nil {
		t.Fatalf("condition of an unknown cluster = %+v", c)
	}
	halted := canaryCondition(metav1.ConditionFalse, ReasonCanaryHalted, "pod x crashed")
	s.condition("a", halted)
	if c := s.condition("a", nil); c == nil || c.Reason != ReasonCanaryHalted || c.Message != "pod x crashed" {
		t.Errorf("remembered condition = %+v, want the halt", c)
	}
	if c := s.condition("b", nil); c != nil {
		t.Errorf("cluster b got a's condition %+v", c)
	}
	s.forget("a")
	if c := s.condition("a", nil); c != nil {
		t.Errorf("condition after forget = %+v", c)
	}
}
