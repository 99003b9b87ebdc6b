// Package operatormetrics holds the operator's own Prometheus metrics (all named socketfleet_operator_*),
// registered on controller-runtime's metrics registry, so they are served by the manager's metrics endpoint
// next to controller-runtime's generic ones.
//
// The reconciler feeds them from three places only: the outcome of each reconcile step, the fleet decision
// once it is carried out (rebalance rounds, autoscaler recommendations), and the status it writes (the fleet
// view: clients, reporting, unreachable and draining pods, Redis links down, conditions). Per-cluster series
// carry the labels namespace and realtimecluster and are removed when the RealtimeCluster is deleted.
package operatormetrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// Results of a reconcile step (label result of socketfleet_operator_reconcile_steps_total).
const (
	ResultOK    = "ok"
	ResultError = "error"
)

// Directions of an autoscaler recommendation (label direction of
// socketfleet_operator_autoscaler_recommendations_total).
const (
	DirectionUp   = "up"
	DirectionDown = "down"
	DirectionNone = "none"
)

// Conditions exported by socketfleet_operator_condition: the ones an on-call engineer acts on.
var Conditions = []string{
	realtimev1alpha1.ConditionReady,
	realtimev1alpha1.ConditionDegraded,
	realtimev1alpha1.ConditionFleetObserved,
	realtimev1alpha1.ConditionRedisDegraded,
}

var clusterLabels = []string{"namespace", "realtimecluster"}

// Metrics are the operator's metric vectors.
type Metrics struct {
	// ReconcileSteps counts reconcile step outcomes by step and result (ok|error).
	ReconcileSteps *prometheus.CounterVec
	// FleetClients is the clients the fleet view counted on a cluster's pods.
	FleetClients *prometheus.GaugeVec
	// ReportingPods is the pods that answered the last /stats poll.
	ReportingPods *prometheus.GaugeVec
	// UnreachablePods is the ready pods whose /stats could not be read in the last poll.
	UnreachablePods *prometheus.GaugeVec
	// DrainsInProgress is the pods draining or terminating that still answer /stats.
	DrainsInProgress *prometheus.GaugeVec
	// DrainingClients is the clients the draining pods still serve.
	DrainingClients *prometheus.GaugeVec
	// ImbalancePercent is the largest distance of a serving pod from the fair share, in % of it.
	ImbalancePercent *prometheus.GaugeVec
	// RedisLinksDown is the pods that reported their Redis link down in the last poll.
	RedisLinksDown *prometheus.GaugeVec
	// Condition is 1 when the condition (label condition) is True, else 0.
	Condition *prometheus.GaugeVec
	// RebalanceRounds counts the rebalancing rounds started.
	RebalanceRounds *prometheus.CounterVec
	// RebalanceShedSessions counts the sessions the rebalancing rounds asked pods to shed.
	RebalanceShedSessions *prometheus.CounterVec
	// AutoscalerRecommendations counts the native autoscaler's decisions by direction (up|down|none).
	AutoscalerRecommendations *prometheus.CounterVec
	// AutoscalerDesiredReplicas is the native autoscaler's last recommended replica count.
	AutoscalerDesiredReplicas *prometheus.GaugeVec
}

// New creates the metric vectors without registering them (see Register).
func New() *Metrics {
	gauge := func(name, help string, extra ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, append(append([]string(nil), clusterLabels...), extra...))
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	return &Metrics{
		ReconcileSteps: counter("socketfleet_operator_reconcile_steps_total",
			"Reconcile step outcomes of RealtimeClusters, by step and result (ok|error).", "step", "result"),
		FleetClients: gauge("socketfleet_operator_fleet_clients",
			"Clients (Engine.IO sessions) the fleet view counted on the runtime pods of a RealtimeCluster."),
		ReportingPods: gauge("socketfleet_operator_fleet_reporting_pods",
			"Runtime pods that answered the fleet view's last /stats poll."),
		UnreachablePods: gauge("socketfleet_operator_fleet_unreachable_pods",
			"Ready runtime pods whose /stats the fleet view could not read in its last poll."),
		DrainsInProgress: gauge("socketfleet_operator_drains_in_progress",
			"Runtime pods draining or terminating (scale-down, rollout, eviction) that still answer /stats."),
		DrainingClients: gauge("socketfleet_operator_draining_clients",
			"Clients the draining runtime pods still serve (they reconnect to the serving pods as the drain proceeds)."),
		ImbalancePercent: gauge("socketfleet_operator_fleet_imbalance_percent",
			"Largest distance of a serving pod's clients from the fair share, in percent of it (0: even)."),
		RedisLinksDown: gauge("socketfleet_operator_redis_links_down",
			"Runtime pods that reported their Redis link down in the fleet view's last poll."),
		Condition: gauge("socketfleet_operator_condition",
			"1 when the RealtimeCluster's condition (Ready, Degraded, FleetObserved, RedisDegraded) is True, else 0.", "condition"),
		RebalanceRounds: counter("socketfleet_operator_rebalance_rounds_total",
			"Rebalancing rounds started (the most loaded pods asked to shed sessions).", clusterLabels...),
		RebalanceShedSessions: counter("socketfleet_operator_rebalance_shed_sessions_total",
			"Sessions the rebalancing rounds asked runtime pods to shed.", clusterLabels...),
		AutoscalerRecommendations: counter("socketfleet_operator_autoscaler_recommendations_total",
			"Decisions of the native autoscaler, by direction against the current spec.replicas (up|down|none).",
			append(append([]string(nil), clusterLabels...), "direction")...),
		AutoscalerDesiredReplicas: gauge("socketfleet_operator_autoscaler_desired_replicas",
			"Replica count the native autoscaler last recommended."),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.ReconcileSteps, m.FleetClients, m.ReportingPods, m.UnreachablePods, m.DrainsInProgress, m.DrainingClients,
		m.ImbalancePercent, m.RedisLinksDown, m.Condition, m.RebalanceRounds, m.RebalanceShedSessions,
		m.AutoscalerRecommendations, m.AutoscalerDesiredReplicas,
	}
}

// Register registers every metric on reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register operator metric: %w", err)
		}
	}
	return nil
}

// Default is the set the reconciler records to. RegisterDefault adds it to controller-runtime's metrics
// registry, which the manager serves.
var Default = New()

// RegisterDefault registers Default on controller-runtime's metrics registry (once per process).
func RegisterDefault() error {
	if err := Default.Register(ctrlmetrics.Registry); err != nil {
		return fmt.Errorf("register socketfleet_operator metrics: %w", err)
	}
	return nil
}

// Step records the outcome of one reconcile step.
func (m *Metrics) Step(step string, err error) {
	result := ResultOK
	if err != nil {
		result = ResultError
	}
	m.ReconcileSteps.WithLabelValues(step, result).Inc()
}

// Rebalance records a rebalancing round that started on namespace/name, asking pods to shed sessions.
func (m *Metrics) Rebalance(namespace, name string, sessions int64) {
	m.RebalanceRounds.WithLabelValues(namespace, name).Inc()
	m.RebalanceShedSessions.WithLabelValues(namespace, name).Add(float64(max(sessions, 0)))
}

// Autoscale records a native autoscaler decision: desired replicas against the current ones.
func (m *Metrics) Autoscale(namespace, name string, current, desired int32) {
	dir := DirectionNone
	switch {
	case desired > current:
		dir = DirectionUp
	case desired < current:
		dir = DirectionDown
	}
	m.AutoscalerRecommendations.WithLabelValues(namespace, name, dir).Inc()
	m.AutoscalerDesiredReplicas.WithLabelValues(namespace, name).Set(float64(desired))
}

// Status records the gauges of the status written for namespace/name: the fleet view (absent before the
// first poll: its gauges read 0) and the conditions; it creates the rebalancing counters at 0.
func (m *Metrics) Status(namespace, name string, st realtimev1alpha1.RealtimeClusterStatus) {
	f := st.Fleet
	if f == nil {
		f = &realtimev1alpha1.FleetStatus{}
	}
	m.FleetClients.WithLabelValues(namespace, name).Set(float64(st.ConnectedClients))
	m.ReportingPods.WithLabelValues(namespace, name).Set(float64(f.ReportingPods))
	m.UnreachablePods.WithLabelValues(namespace, name).Set(float64(f.UnreachablePods))
	m.DrainsInProgress.WithLabelValues(namespace, name).Set(float64(f.DrainingPods))
	m.DrainingClients.WithLabelValues(namespace, name).Set(float64(f.DrainingClients))
	m.ImbalancePercent.WithLabelValues(namespace, name).Set(float64(f.ImbalancePercent))
	m.RedisLinksDown.WithLabelValues(namespace, name).Set(float64(len(f.AdapterDown)))
	// The rebalancing counters read 0 rather than being absent until the first round.
	m.RebalanceRounds.WithLabelValues(namespace, name)
	m.RebalanceShedSessions.WithLabelValues(namespace, name)
	for _, c := range Conditions {
		v := 0.0
		if meta.IsStatusConditionPresentAndEqual(st.Conditions, c, metav1.ConditionTrue) {
			v = 1
		}
		m.Condition.WithLabelValues(namespace, name, c).Set(v)
	}
}

// Forget removes every series of namespace/name (the RealtimeCluster is gone).
func (m *Metrics) Forget(namespace, name string) {
	labels := map[string]string{"namespace": namespace, "realtimecluster": name}
	for _, g := range []*prometheus.GaugeVec{m.FleetClients, m.ReportingPods, m.UnreachablePods, m.DrainsInProgress,
		m.DrainingClients, m.ImbalancePercent, m.RedisLinksDown, m.Condition, m.AutoscalerDesiredReplicas} {
		g.DeletePartialMatch(labels)
	}
	for _, c := range []*prometheus.CounterVec{m.RebalanceRounds, m.RebalanceShedSessions, m.AutoscalerRecommendations} {
		c.DeletePartialMatch(labels)
	}
}
