package controllers

import (
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

func TestPlanPodRequests(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	fresh := realtimev1alpha1.FormatRequestTime(now.Add(-30 * time.Second))
	old := realtimev1alpha1.FormatRequestTime(now.Add(-requestExpiry - time.Second))
	future := realtimev1alpha1.FormatRequestTime(now.Add(requestExpiry + time.Minute))
	annotated := func(p corev1.Pod, kv ...string) corev1.Pod {
		p.Annotations = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Annotations[kv[i]] = kv[i+1]
		}
		return p
	}
	ready := fleetPod("p", "10.0.0.1", true, false, "a")
	drain, shed := realtimev1alpha1.AnnotationDrainRequested, realtimev1alpha1.AnnotationShedRequested
	tests := []struct {
		name string
		pod  corev1.Pod
		// want lists "kind sessions refused-substring" per request, in order.
		want []string
	}{
		{"no request", ready, nil},
		{"drain", annotated(ready, drain, fresh), []string{"drain 0 "}},
		{"shed", annotated(ready, shed, "5@"+fresh), []string{"shed 5 "}},
		{"drain and shed", annotated(ready, drain, fresh, shed, "7@"+fresh), []string{"drain 0 ", "shed 7 "}},
		{"malformed drain time", annotated(ready, drain, "now"), []string{"drain 0 not RFC 3339"}},
		{"shed without time", annotated(ready, shed, "5"), []string{"shed 0 not N@<time>"}},
		{"shed count zero", annotated(ready, shed, "0@"+fresh), []string{"shed 0 count must be an integer from 1"}},
		{"shed count negative", annotated(ready, shed, "-3@"+fresh), []string{"shed 0 count must be an integer from 1"}},
		{"shed count too large", annotated(ready, shed, "10000001@"+fresh), []string{"shed 0 count must be an integer from 1"}},
		{"shed count not a number", annotated(ready, shed, "many@"+fresh), []string{"shed 0 count must be an integer from 1"}},
		{"expired", annotated(ready, drain, old), []string{"drain 0 ago"}},
		{"from the future", annotated(ready, drain, future), []string{"drain 0 in the future"}},
		{"terminating pod", annotated(fleetPod("p", "10.0.0.1", true, true, "a"), drain, fresh), []string{"drain 0 terminating"}},
		{"pod not ready", annotated(fleetPod("p", "10.0.0.1", false, false, "a"), shed, "3@"+fresh), []string{"shed 3 not ready"}},
		{"pod without IP", annotated(fleetPod("p", "", true, false, "a"), drain, fresh), []string{"drain 0 not ready"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := planPodRequests([]corev1.Pod{tc.pod}, now)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d requests %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				parts := strings.SplitN(w, " ", 3)
				g := got[i]
				if g.Kind != parts[0] || g.Pod != "p" {
					t.Errorf("request %d = %+v, want kind %s on pod p", i, g, parts[0])
				}
				if parts[1] != "0" && g.Sessions != mustAtoi(t, parts[1]) {
					t.Errorf("request %d sessions = %d, want %s", i, g.Sessions, parts[1])
				}
				if wantRefused := parts[2]; wantRefused == "" && g.Refused != "" {
					t.Errorf("request %d refused: %s", i, g.Refused)
				} else if wantRefused != "" && !strings.Contains(g.Refused, wantRefused) {
					t.Errorf("request %d refusal %q, want it to contain %q", i, g.Refused, wantRefused)
				}
				if g.Value != tc.pod.Annotations[g.Annotation] {
					t.Errorf("request %d value %q, want the annotation's %q", i, g.Value, tc.pod.Annotations[g.Annotation])
				}
			}
		})
	}
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRebalanceOutcome(t *testing.T) {
	tests := []struct {
		name string
		d    *RebalanceDecision
		want string
	}{
		{"no poll", nil, "no round, no ready runtime pod"},
		{"skipped", &RebalanceDecision{Skip: "imbalance 5% is within the threshold of 20%"}, "no round, imbalance 5% is within"},
		{"round", &RebalanceDecision{Round: &realtimev1alpha1.RebalanceStatus{ImbalancePercent: 100, FairShare: 600,
			Pods: []realtimev1alpha1.PodShed{{Name: "a", Sessions: 300}, {Name: "b", Sessions: 2, Error: "timeout"}}}},
			"round started at imbalance 100% (fair share 600): a 300, b 2 (failed: timeout)"},
		{"stale poll", &RebalanceDecision{}, "not polled afresh"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rebalanceOutcome(tc.d); !strings.Contains(got, tc.want) {
				t.Errorf("rebalanceOutcome = %q, want it to contain %q", got, tc.want)
			}
		})
	}
}
