package metrics

import (
	"context"
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/socketfleet/socketfleet/runtime/parser"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// CountBroadcasts wraps an adapter factory so that every broadcast started
// on this process is counted in socketfleet_broadcasts_total. Broadcasts
// received from other servers are delivered by the wrapped adapter itself
// and are not counted.
func (m *Metrics) CountBroadcasts(inner socketio.AdapterFactory) socketio.AdapterFactory {
	return func(nsp *socketio.Namespace) socketio.Adapter {
		return &countingAdapter{Adapter: inner(nsp), broadcasts: m.Broadcasts.WithLabelValues(nsp.Name())}
	}
}

type countingAdapter struct {
	socketio.Adapter
	broadcasts prometheus.Counter
}

// Unwrap returns the wrapped adapter.
func (a *countingAdapter) Unwrap() socketio.Adapter { return a.Adapter }

func (a *countingAdapter) Broadcast(packet *parser.Packet, opts socketio.BroadcastOptions) error {
	a.broadcasts.Inc()
	return a.Adapter.Broadcast(packet, opts)
}

func (a *countingAdapter) BroadcastWithAck(ctx context.Context, packet *parser.Packet, opts socketio.BroadcastOptions,
	clientCount func(n int), ack func(arg json.RawMessage)) error {
	a.broadcasts.Inc()
	return a.Adapter.BroadcastWithAck(ctx, packet, opts, clientCount, ack)
}

// AdapterHealth is what ReportAdapterHealth exports of the cluster
// adapter's link.
type AdapterHealth struct {
	// Name labels the series (adapter="redis").
	Name string
	// Up is true while Redis answers.
	Up bool
	// LastOK is when Redis last answered a ping or a publish (zero: never).
	LastOK time.Time
	// LastPublishOK is when a publish last succeeded (zero: never).
	LastPublishOK time.Time
	// PublishErrors counts the failed publishes.
	PublishErrors uint64
	// DownTransitions counts the outages.
	DownTransitions uint64
}

var (
	adapterUpDesc = prometheus.NewDesc("socketfleet_adapter_up",
		"1 while the cluster adapter's link (Redis) answers, 0 while it is down (the process keeps serving its own clients; broadcasts do not reach the other processes).",
		[]string{"adapter"}, nil)
	adapterLastOKDesc = prometheus.NewDesc("socketfleet_adapter_last_ok_timestamp_seconds",
		"When Redis last answered a ping or a publish of the cluster adapter, since the Unix epoch (absent until it first did).",
		[]string{"adapter"}, nil)
	adapterLastPublishDesc = prometheus.NewDesc("socketfleet_adapter_last_publish_ok_timestamp_seconds",
		"When the cluster adapter last published a broadcast to the other processes, since the Unix epoch (absent until it first did).",
		[]string{"adapter"}, nil)
	adapterPublishErrorsDesc = prometheus.NewDesc("socketfleet_adapter_publish_errors_total",
		"Publishes to Redis that failed: broadcasts (and requests) that did not reach the other processes.",
		[]string{"adapter"}, nil)
	adapterDownDesc = prometheus.NewDesc("socketfleet_adapter_down_transitions_total",
		"Times the cluster adapter's link went down.",
		[]string{"adapter"}, nil)
)

// ReportAdapterHealth exports the health of the cluster adapter's link,
// read at scrape time: socketfleet_adapter_up,
// socketfleet_adapter_last_ok_timestamp_seconds,
// socketfleet_adapter_last_publish_ok_timestamp_seconds,
// socketfleet_adapter_publish_errors_total and
// socketfleet_adapter_down_transitions_total.
func (m *Metrics) ReportAdapterHealth(health func() AdapterHealth) {
	m.Registry.MustRegister(adapterHealthCollector(health))
}

type adapterHealthCollector func() AdapterHealth

func (c adapterHealthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{adapterUpDesc, adapterLastOKDesc, adapterLastPublishDesc, adapterPublishErrorsDesc, adapterDownDesc} {
		ch <- d
	}
}

func (c adapterHealthCollector) Collect(ch chan<- prometheus.Metric) {
	h := c()
	up := 0.0
	if h.Up {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(adapterUpDesc, prometheus.GaugeValue, up, h.Name)
	if !h.LastOK.IsZero() {
		ch <- prometheus.MustNewConstMetric(adapterLastOKDesc, prometheus.GaugeValue, unixSeconds(h.LastOK), h.Name)
	}
	if !h.LastPublishOK.IsZero() {
		ch <- prometheus.MustNewConstMetric(adapterLastPublishDesc, prometheus.GaugeValue, unixSeconds(h.LastPublishOK), h.Name)
	}
	ch <- prometheus.MustNewConstMetric(adapterPublishErrorsDesc, prometheus.CounterValue, float64(h.PublishErrors), h.Name)
	ch <- prometheus.MustNewConstMetric(adapterDownDesc, prometheus.CounterValue, float64(h.DownTransitions), h.Name)
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
