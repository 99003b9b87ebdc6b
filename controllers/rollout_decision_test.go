package controllers

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/fleetview"
)

func TestDecideCanary(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	spec := &realtimev1alpha1.CanarySpec{PauseSeconds: new(int32(60)),
		Analysis: realtimev1alpha1.CanaryAnalysis{ReadyTimeoutSeconds: 300, MaxRestarts: 1, MinConnectedClients: 2}}
	status := func(phase realtimev1alpha1.CanaryPhase, hash string, healthySince *time.Time) *realtimev1alpha1.CanaryStatus {
		st := &realtimev1alpha1.CanaryStatus{TemplateHash: hash, Phase: phase, Replicas: 1, StartedAt: metav1.NewTime(t0)}
		if healthySince != nil {
			st.HealthySince = new(metav1.NewTime(*healthySince))
		}
		return st
	}
	healthy := func(conns int64) []CanaryPod {
		return []CanaryPod{{Name: "c1", Ready: true, Stats: &fleetview.PodStats{Name: "c1", Connections: conns}}}
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tests := []struct {
		name string
		in   CanaryInput
		// want
		hold            bool
		canary          int32 // -1: no canary apply
		deleteCanary    bool
		phase           realtimev1alpha1.CanaryPhase // "": no status
		reason          string                       // Canary condition reason, "" for none
		event           string                       // first event reason, "" for none
		messageHas      string
		requeuePositive bool
	}{
		{name: "no canary spec: direct, leftover removed",
			in:     CanaryInput{DesiredHash: "new", MainHash: "old", CanaryExists: true},
			canary: -1, deleteCanary: true},
		{name: "first deployment: direct",
			in:     CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "new"},
			canary: -1},
		{name: "unchanged template: nothing",
			in:     CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "same", MainHash: "same", MainRolledOut: true},
			canary: -1},
		{name: "new template starts the canary",
			in:   CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "new", MainHash: "old", Now: t0},
			hold: true, canary: 1, phase: realtimev1alpha1.CanaryAnalyzing, reason: ReasonCanaryAnalyzing, event: EventCanaryStarted, requeuePositive: true},
		{name: "canary pods not ready yet: wait",
			in: CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "new", MainHash: "old", CanaryExists: true, Now: at(time.Minute),
				Pods: []CanaryPod{{Name: "c1"}}, Previous: status(realtimev1alpha1.CanaryAnalyzing, "new", nil)},
			hold: true, canary: 1, phase: realtimev1alpha1.CanaryAnalyzing, reason: ReasonCanaryAnalyzing, messageHas: "pod c1 is not ready", requeuePositive: true},
		{name: "not ready past the timeout: halt",
			in: CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "new", MainHash: "old", CanaryExists: true, Now: at(301 * time.Second),
				Pods: []CanaryPod{{Name: "c1"}}, Previous: status(realtimev1alpha1.CanaryAnalyzing, "new", nil)},
			hold: true, canary: 0, phase: realtimev1alpha1.CanaryHalted, reason: ReasonCanaryHalted, event: EventCanaryHalted, messageHas: "readyTimeoutSeconds (300s)"},
		{name: "crash loop: halt at once",
			in: CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "new", MainHash: "old", CanaryExists: true, Now: at(10 * time.Second),
				Pods: []CanaryPod{{Name: "c1", Failure: "container runtime: CrashLoopBackOff: back-off"}}, Previous: status(realtimev1alpha1.CanaryAnalyzing, "new", nil)},
			hold: true, canary: 0, phase: realtimev1alpha1.CanaryHalted, reason: ReasonCanaryHalted, event: EventCanaryHalted, messageHas: "pod c1: container runtime: CrashLoopBackOff"},
		{name: "too many restarts: halt",
			in: CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "new", MainHash: "old", CanaryExists: true, Now: at(10 * time.Second),
				Pods: []CanaryPod{{Name: "c1", Ready: true, Restarts: 2}}, Previous: status(realtimev1alpha1.CanaryAnalyzing, "new", nil)},
			hold: true, canary: 0, phase: realtimev1alpha1.CanaryHalted, event: EventCanaryHalted, reason: ReasonCanaryHalted, messageHas: "maxRestarts allows 1"},
		{name: "stats unreachable counts as not healthy",
			in: CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "new", MainHash: "old", CanaryExists: true, Now: at(10 * time.Second),
				Pods:     []CanaryPod{{Name: "c1", Ready: true, Stats: &fleetview.PodStats{Name: "c1", Err: errors.New("connection refused")}}},
				Previous: status(realtimev1alpha1.CanaryAnalyzing, "new", nil)},
			hold: true, canary: 1, phase: realtimev1alpha1.CanaryAnalyzing, reason: ReasonCanaryAnalyzing, messageHas: "does not answer /stats", requeuePositive: true},
		{name: "a failed poll after the pods were healthy delays, does not reset",
			in: CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "new", MainHash: "old", CanaryExists: true, Now: at(400 * time.Second),
				Pods:     []CanaryPod{{Name: "c1", Ready: true, Stats: &fleetview.PodStats{Name: "c1", Err: errors.New("timeout")}}},
				Previous: status(realtimev1alpha1.CanaryAnalyzing, "new", new(at(60*time.Second)))},
			hold: true, canary: 1, phase: realtimev1alpha1.CanaryAnalyzing, reason: ReasonCanaryAnalyzing, messageHas: "does not answer /stats", requeuePositive: true},
		{name: "healthy, pause running",
			in: CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "new", MainHash: "old", CanaryExists: true, Now: at(90 * time.Second),
				Pods: healthy(5), Previous: status(realtimev1alpha1.CanaryAnalyzing, "new", new(at(60*time.Second)))},
			hold: true, canary: 1, phase: realtimev1alpha1.CanaryAnalyzing, reason: ReasonCanaryAnalyzing, messageHas: "healthy for 30s of 60s", requeuePositive: true},
		{name: "healthy for the pause: promote",
			in: CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "new", MainHash: "old", CanaryExists: true, Now: at(121 * time.Second),
				Pods: healthy(5), Previous: status(realtimev1alpha1.CanaryAnalyzing, "new", new(at(60*time.Second)))},
			hold: false, canary: 1, phase: realtimev1alpha1.CanaryPromoted, reason: ReasonCanaryPromoted, event: EventCanaryPromoted},
		{name: "healthy but without clients: halt",
			in: CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "new", MainHash: "old", CanaryExists: true, Now: at(121 * time.Second),
				Pods: healthy(1), Previous: status(realtimev1alpha1.CanaryAnalyzing, "new", new(at(60*time.Second)))},
			hold: true, canary: 0, phase: realtimev1alpha1.CanaryHalted, reason: ReasonCanaryHalted, event: EventCanaryHalted, messageHas: "minConnectedClients asks for 2"},
		{name: "halted stays halted",
			in: CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "new", MainHash: "old", CanaryExists: true, Now: at(time.Hour),
				Pods: healthy(5), Previous: status(realtimev1alpha1.CanaryHalted, "new", nil)},
			hold: true, canary: 0, phase: realtimev1alpha1.CanaryHalted},
		{name: "newer template restarts a halted canary",
			in: CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "newer", MainHash: "old", CanaryExists: true, Now: at(time.Hour),
				Previous: status(realtimev1alpha1.CanaryHalted, "new", nil)},
			hold: true, canary: 1, phase: realtimev1alpha1.CanaryAnalyzing, reason: ReasonCanaryAnalyzing, event: EventCanaryStarted, messageHas: "changed during the canary of new", requeuePositive: true},
		{name: "reverted template aborts",
			in: CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "old", MainHash: "old", MainRolledOut: true, CanaryExists: true, Now: at(time.Hour),
				Previous: status(realtimev1alpha1.CanaryHalted, "new", nil)},
			canary: -1, deleteCanary: true, reason: ReasonCanaryAborted, event: EventCanaryAborted},
		{name: "promoted, main still rolling: keep canary",
			in: CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "new", MainHash: "new", CanaryExists: true, Now: at(time.Hour),
				Previous: status(realtimev1alpha1.CanaryPromoted, "new", nil)},
			canary: 1, phase: realtimev1alpha1.CanaryPromoted},
		{name: "promoted, stale main: promote again",
			in: CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "new", MainHash: "old", CanaryExists: true, Now: at(time.Hour),
				Previous: status(realtimev1alpha1.CanaryPromoted, "new", nil)},
			canary: 1, phase: realtimev1alpha1.CanaryPromoted},
		{name: "promoted, main rolled out: complete",
			in: CanaryInput{Spec: spec, Replicas: 1, DesiredHash: "new", MainHash: "new", MainRolledOut: true, CanaryExists: true, Now: at(time.Hour),
				Previous: status(realtimev1alpha1.CanaryPromoted, "new", nil)},
			canary: -1, deleteCanary: true, reason: ReasonCanaryCompleted, event: EventCanaryCompleted},
		{name: "canary spec removed while halted: aborted, template rolled",
			in:     CanaryInput{DesiredHash: "new", MainHash: "old", CanaryExists: true, Previous: status(realtimev1alpha1.CanaryHalted, "new", nil)},
			canary: -1, deleteCanary: true, reason: ReasonCanaryAborted, event: EventCanaryAborted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := DecideCanary(tc.in)
			if d.HoldMain != tc.hold {
				t.Errorf("HoldMain = %t, want %t", d.HoldMain, tc.hold)
			}
			switch {
			case tc.canary < 0 && d.CanaryReplicas != nil:
				t.Errorf("CanaryReplicas = %d, want no canary apply", *d.CanaryReplicas)
			case tc.canary >= 0 && (d.CanaryReplicas == nil || *d.CanaryReplicas != tc.canary):
				t.Errorf("CanaryReplicas = %v, want %d", d.CanaryReplicas, tc.canary)
			}
			if d.DeleteCanary != tc.deleteCanary {
				t.Errorf("DeleteCanary = %t, want %t", d.DeleteCanary, tc.deleteCanary)
			}
			switch {
			case tc.phase == "" && d.Status != nil:
				t.Errorf("Status = %+v, want none", d.Status)
			case tc.phase != "" && (d.Status == nil || d.Status.Phase != tc.phase):
				t.Errorf("Status = %+v, want phase %s", d.Status, tc.phase)
			}
			gotReason := ""
			if d.Condition != nil {
				gotReason = d.Condition.Reason
			}
			if gotReason != tc.reason {
				t.Errorf("condition reason = %q, want %q", gotReason, tc.reason)
			}
			gotEvent := ""
			if len(d.Events) > 0 {
				gotEvent = d.Events[0].Reason
			}
			if gotEvent != tc.event {
				t.Errorf("event = %q, want %q", gotEvent, tc.event)
			}
			if tc.messageHas != "" && (d.Condition == nil || !strings.Contains(d.Condition.Message, tc.messageHas)) {
				t.Errorf("condition %+v does not mention %q", d.Condition, tc.messageHas)
			}
			if tc.requeuePositive != (d.RequeueAfter > 0) {
				t.Errorf("RequeueAfter = %v, want positive: %t", d.RequeueAfter, tc.requeuePositive)
			}
			if tc.event == EventCanaryHalted && d.Events[0].Type != "Warning" {
				t.Errorf("halt event type = %s, want Warning", d.Events[0].Type)
			}
		})
	}
}
