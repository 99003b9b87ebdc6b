package envtest

import (
	"fmt"
	"testing"

	dto "github.com/prometheus/client_model/go"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// gatherOperator returns the value of the socketfleet_operator_* series name whose labels include want, from
// controller-runtime's registry (the one the operator's metrics endpoint serves); found is false when absent.
func gatherOperator(t *testing.T, name string, want map[string]string) (value float64, found bool) {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelsInclude(m, want) {
				if c := m.GetCounter(); c != nil {
					return c.GetValue(), true
				}
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func labelsInclude(m *dto.Metric, want map[string]string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// TestOperatorMetricsAfterReconcile: after the reconciles of a fleet with two reporting pods and one that
// does not answer, the operator's metrics carry that fleet's labels and figures, and the step outcomes.
func TestOperatorMetricsAfterReconcile(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "mon", "replicas: 3\n")
	a, b := startFakeRuntime(t, 100), startFakeRuntime(t, 200)
	createRuntimePod(t, ns, "mon", "mon-a", a.port(t))
	createRuntimePod(t, ns, "mon", "mon-b", b.port(t))
	createRuntimePod(t, ns, "mon", "mon-c", closedPort(t))
	waitCluster(t, ns, "mon", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if f := rc.Status.Fleet; f == nil || rc.Status.ConnectedClients != 300 || f.UnreachablePods != 1 {
			return fmt.Errorf("connected %d, pods %s", rc.Status.ConnectedClients, fleetPods(rc))
		}
		return nil
	})
	cluster := map[string]string{"namespace": ns, "realtimecluster": "mon"}
	withCond := func(c string) map[string]string {
		return map[string]string{"namespace": ns, "realtimecluster": "mon", "condition": c}
	}
	apiPoll().NoError(t, "operator metrics", func() error {
		for _, tc := range []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"socketfleet_operator_fleet_clients", cluster, 300},
			{"socketfleet_operator_fleet_reporting_pods", cluster, 2},
			{"socketfleet_operator_fleet_unreachable_pods", cluster, 1},
			{"socketfleet_operator_redis_links_down", cluster, 0},
			{"socketfleet_operator_drains_in_progress", cluster, 0},
			{"socketfleet_operator_condition", withCond(realtimev1alpha1.ConditionFleetObserved), 0},
		} {
			got, found := gatherOperator(t, tc.name, tc.labels)
			if !found || got != tc.want {
				return fmt.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, got, found, tc.want)
			}
		}
		return nil
	})
	for _, step := range []string{"observe fleet", "apply children", "observe children"} {
		if got, found := gatherOperator(t, "socketfleet_operator_reconcile_steps_total", map[string]string{"step": step, "result": "ok"}); !found || got < 1 {
			t.Errorf("reconcile_steps_total{step=%q,result=ok} = %v (found %v), want >= 1", step, got, found)
		}
	}
}
