package kubectlplugin

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

func TestPrintStatus(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }
	down := ago(90 * time.Second)
	tests := []struct {
		name   string
		paused bool
		status realtimev1alpha1.RealtimeClusterStatus
		want   []string
		absent []string
	}{
		{
			name:   "no fleet view",
			status: realtimev1alpha1.RealtimeClusterStatus{Replicas: 1},
			want:   []string{"RealtimeCluster:  ns/chat", "Replicas:         1 (0 ready, 0 updated)", "Paused:           no", "no fleet view yet"},
			absent: []string{"POD", "CONDITION"},
		},
		{
			name:   "busy fleet",
			paused: true,
			status: realtimev1alpha1.RealtimeClusterStatus{
				Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 3, ConnectedClients: 1234,
				Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "AllReady", Message: "3 of 3", LastTransitionTime: ago(2 * time.Hour)}},
				Fleet: &realtimev1alpha1.FleetStatus{
					Pods: []realtimev1alpha1.PodConnections{
						{Name: "chat-a", ConnectedClients: 1000, WebSocket: 990, Polling: 10},
						{Name: "chat-b", ConnectedClients: 234, WebSocket: 234, Draining: true},
						{Name: "chat-c", Error: "connection refused"},
						{Name: "chat-d", AdapterDownSince: &down},
					},
					WebSocketClients: 1224, PollingClients: 10,
					ReportingPods: 3, UnreachablePods: 1, ImbalancePercent: 42, DrainingPods: 1, DrainingClients: 234,
					Autoscaler:  &realtimev1alpha1.AutoscalerStatus{DesiredReplicas: 4, LastScaleTime: new(ago(5 * time.Minute))},
					Rebalance:   &realtimev1alpha1.RebalanceStatus{StartedAt: ago(30 * time.Second), ImbalancePercent: 60, FairShare: 400, Pods: []realtimev1alpha1.PodShed{{Name: "chat-a", Sessions: 300}, {Name: "chat-d", Sessions: 2, Error: "timeout"}}},
					ScaleDown:   &realtimev1alpha1.ScaleDownStatus{FromReplicas: 4, ToReplicas: 3, StartedAt: ago(3 * 24 * time.Hour), Pods: []string{"chat-b"}},
					AdapterDown: []string{"chat-d"},
				},
			},
			want: []string{
				"Clients:          1234", "Paused:           yes",
				"3 pods reporting, 1 unreachable, 1 draining (234 clients), imbalance 42%",
				"desired 4 replicas, last scaled 5m ago",
				"last round 30s ago at imbalance 60% (fair share 400): chat-a 300, chat-d 2 (failed: timeout)",
				"4 -> 3 replicas, started 3d ago, pods going first: chat-b",
				"Redis link down:  chat-d",
				"Transports:       1224 websocket, 10 polling",
				"POD     CLIENTS  WEBSOCKET  POLLING  STATE",
				"chat-a  1000     990        10       serving", "chat-b  234      234        0        draining",
				"chat-c  -        -          -        unreachable", "connection refused",
				"chat-d  0        0          0        serving, Redis link down 1m ago",
				"Ready      True    AllReady  2h ago  3 of 3",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := &realtimev1alpha1.RealtimeCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "chat"}, Status: tc.status}
			rc.Spec.Paused = tc.paused
			var buf bytes.Buffer
			if err := printStatus(&buf, rc, now); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("output has %q:\n%s", a, out)
				}
			}
		})
	}
}

// TestHelpNeedsNoCluster: help works without a kubeconfig; a command that needs the API server says what is
// missing.
func TestHelpNeedsNoCluster(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing"))
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	for _, args := range [][]string{{"help", "status"}, {"shed", "--help"}, {"--help"}} {
		var out, errOut bytes.Buffer
		if err := Run(context.Background(), args, &out, &errOut); err != nil {
			t.Errorf("%v: %v", args, err)
		}
		if !strings.Contains(out.String(), "Usage:") {
			t.Errorf("%v printed no usage:\n%s", args, out.String())
		}
	}
	var out, errOut bytes.Buffer
	err := Run(context.Background(), []string{"status"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "no configuration has been provided") {
		t.Errorf("status without a kubeconfig: error %v", err)
	}
}
