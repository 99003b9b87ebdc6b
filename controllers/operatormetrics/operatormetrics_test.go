package operatormetrics_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/operatormetrics"
)

func newRegistered(t *testing.T) (*operatormetrics.Metrics, *prometheus.Registry) {
	t.Helper()
	m := operatormetrics.New()
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func TestStepOutcomes(t *testing.T) {
	m, _ := newRegistered(t)
	m.Step("observe fleet", nil)
	m.Step("observe fleet", nil)
	m.Step("apply children", errors.New("boom"))
	for _, tc := range []struct {
		step, result string
		want         float64
	}{
		{"observe fleet", operatormetrics.ResultOK, 2},
		{"observe fleet", operatormetrics.ResultError, 0},
		{"apply children", operatormetrics.ResultError, 1},
	} {
		if got := testutil.ToFloat64(m.ReconcileSteps.WithLabelValues(tc.step, tc.result)); got != tc.want {
			t.Errorf("%s %s = %v, want %v", tc.step, tc.result, got, tc.want)
		}
	}
}

func TestStatusGauges(t *testing.T) {
	m, reg := newRegistered(t)
	st := realtimev1alpha1.RealtimeClusterStatus{
		ConnectedClients: 1200,
		Conditions: []metav1.Condition{
			{Type: realtimev1alpha1.ConditionReady, Status: metav1.ConditionFalse},
			{Type: realtimev1alpha1.ConditionDegraded, Status: metav1.ConditionTrue},
			{Type: realtimev1alpha1.ConditionRedisDegraded, Status: metav1.ConditionTrue},
		},
		Fleet: &realtimev1alpha1.FleetStatus{
			ReportingPods: 3, UnreachablePods: 1, DrainingPods: 1, DrainingClients: 40, ImbalancePercent: 38,
			AdapterDown: []string{"a", "b"},
		},
	}
	m.Status("apps", "chat", st)
	m.Status("apps", "other", realtimev1alpha1.RealtimeClusterStatus{})
	want := `
# HELP socketfleet_operator_fleet_clients Clients (Engine.IO sessions) the fleet view counted on the runtime pods of a RealtimeCluster.
# TYPE socketfleet_operator_fleet_clients gauge
socketfleet_operator_fleet_clients{namespace="apps",realtimecluster="chat"} 1200
socketfleet_operator_fleet_clients{namespace="apps",realtimecluster="other"} 0
# HELP socketfleet_operator_fleet_unreachable_pods Ready runtime pods whose /stats the fleet view could not read in its last poll.
# TYPE socketfleet_operator_fleet_unreachable_pods gauge
socketfleet_operator_fleet_unreachable_pods{namespace="apps",realtimecluster="chat"} 1
socketfleet_operator_fleet_unreachable_pods{namespace="apps",realtimecluster="other"} 0
# HELP socketfleet_operator_redis_links_down Runtime pods that reported their Redis link down in the fleet view's last poll.
# TYPE socketfleet_operator_redis_links_down gauge
socketfleet_operator_redis_links_down{namespace="apps",realtimecluster="chat"} 2
socketfleet_operator_redis_links_down{namespace="apps",realtimecluster="other"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "socketfleet_operator_fleet_clients",
		"socketfleet_operator_fleet_unreachable_pods", "socketfleet_operator_redis_links_down"); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct {
		g    *prometheus.GaugeVec
		lv   []string
		want float64
	}{
		{m.ReportingPods, []string{"apps", "chat"}, 3},
		{m.DrainsInProgress, []string{"apps", "chat"}, 1},
		{m.DrainingClients, []string{"apps", "chat"}, 40},
		{m.ImbalancePercent, []string{"apps", "chat"}, 38},
		{m.Condition, []string{"apps", "chat", realtimev1alpha1.ConditionReady}, 0},
		{m.Condition, []string{"apps", "chat", realtimev1alpha1.ConditionDegraded}, 1},
		{m.Condition, []string{"apps", "chat", realtimev1alpha1.ConditionRedisDegraded}, 1},
		{m.Condition, []string{"apps", "chat", realtimev1alpha1.ConditionFleetObserved}, 0},
	} {
		if got := testutil.ToFloat64(tc.g.WithLabelValues(tc.lv...)); got != tc.want {
			t.Errorf("%v = %v, want %v", tc.lv, got, tc.want)
		}
	}

	m.Forget("apps", "chat")
	if n := testutil.CollectAndCount(m.FleetClients); n != 1 {
		t.Errorf("after Forget: %d fleet_clients series, want 1 (the other cluster's)", n)
	}
	if n := testutil.CollectAndCount(m.Condition); n != len(operatormetrics.Conditions) {
		t.Errorf("after Forget: %d condition series, want %d", n, len(operatormetrics.Conditions))
	}
}

func TestDecisions(t *testing.T) {
	for _, tc := range []struct {
		name             string
		current, desired int32
		direction        string
	}{
		{"up", 2, 5, operatormetrics.DirectionUp},
		{"down", 5, 3, operatormetrics.DirectionDown},
		{"none", 3, 3, operatormetrics.DirectionNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newRegistered(t)
			m.Autoscale("apps", "chat", tc.current, tc.desired)
			if got := testutil.ToFloat64(m.AutoscalerRecommendations.WithLabelValues("apps", "chat", tc.direction)); got != 1 {
				t.Errorf("recommendations{direction=%s} = %v, want 1", tc.direction, got)
			}
			if got := testutil.ToFloat64(m.AutoscalerDesiredReplicas.WithLabelValues("apps", "chat")); got != float64(tc.desired) {
				t.Errorf("desired replicas = %v, want %d", got, tc.desired)
			}
		})
	}
	m, _ := newRegistered(t)
	m.Rebalance("apps", "chat", 120)
	m.Rebalance("apps", "chat", 30)
	if got := testutil.ToFloat64(m.RebalanceRounds.WithLabelValues("apps", "chat")); got != 2 {
		t.Errorf("rebalance rounds = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.RebalanceShedSessions.WithLabelValues("apps", "chat")); got != 150 {
		t.Errorf("shed sessions = %v, want 150", got)
	}
}

func TestRegisterTwiceFails(t *testing.T) {
	m, reg := newRegistered(t)
	if err := m.Register(reg); err == nil {
		t.Fatal("second registration on the same registry succeeded")
	}
}
