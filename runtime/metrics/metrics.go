// Package metrics holds the Prometheus metrics of socketfleet-runtime (all
// named socketfleet_*) and the client counts shared by /metrics and /stats.
//
// Only what the runtime can observe honestly is exported:
//
//   - connected clients (sockets) by namespace and transport, and Engine.IO
//     sessions by transport, and the long-polling connections parked with
//     no goroutine, computed at scrape time;
//   - handshake admission decisions (accepted / refused by reason);
//   - namespace connections and connect refusals;
//   - client events received, by namespace;
//   - broadcasts started on this process (adapter Broadcast calls);
//   - bytes read from and written to the network by each listener (TCP
//     payload: HTTP headers, WebSocket frames and polling bodies included);
//   - WebSocket upgrade requests refused with an HTTP error;
//   - acknowledgement timeouts of the publish API;
//   - drain state and sessions closed by drain and shed;
//   - webhook, auth, relay and publish results.
//
// Per-packet outgoing counts and upgrade probes that fail after the
// WebSocket handshake have no hook in runtime/engineio and are not exported.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Source gives the metrics the live state they report at scrape time.
type Source struct {
	// Clients counts the connected clients.
	Clients func() Clients
	// Draining reports the drain state.
	Draining func() bool
	// DrainDeadline returns when the drain must be done (zero while not
	// draining); nil reports no deadline.
	DrainDeadline func() time.Time
	// StartTime is when the process started.
	StartTime time.Time
}

// Metrics are the runtime's metric vectors, registered on their own
// registry (with the Go and process collectors).
type Metrics struct {
	// Registry holds every metric.
	Registry *prometheus.Registry

	// Handshakes counts admission decisions: result accepted|refused, reason.
	Handshakes *prometheus.CounterVec
	// Connections counts namespace connections, by namespace.
	Connections *prometheus.CounterVec
	// ConnectErrors counts refused namespace connections, by namespace and reason.
	ConnectErrors *prometheus.CounterVec
	// EventsReceived counts client events, by namespace.
	EventsReceived *prometheus.CounterVec
	// Broadcasts counts adapter broadcasts started here, by namespace.
	Broadcasts *prometheus.CounterVec
	// BytesReceived counts bytes read by a listener.
	BytesReceived *prometheus.CounterVec
	// BytesSent counts bytes written by a listener.
	BytesSent *prometheus.CounterVec
	// UpgradeFailures counts WebSocket upgrade requests answered with an error.
	UpgradeFailures prometheus.Counter
	// AckTimeouts counts acknowledgement waits that timed out, by source.
	AckTimeouts *prometheus.CounterVec
	// DrainClosed counts sessions closed at the transport level, by cause drain|shed.
	DrainClosed *prometheus.CounterVec
	// Webhook counts event webhook calls, by result.
	Webhook *prometheus.CounterVec
	// WebhookDuration observes event webhook call durations.
	WebhookDuration prometheus.Histogram
	// Auth counts connect authentication decisions, by method and result.
	Auth *prometheus.CounterVec
	// Relay counts relay requests, by action and result.
	Relay *prometheus.CounterVec
	// Publish counts publish API requests, by HTTP status code.
	Publish *prometheus.CounterVec
	// PublishPartial counts publish API requests answered with a partial
	// delivery (the cluster adapter's link was down).
	PublishPartial prometheus.Counter
	// AdminUnauthorized counts admin requests refused for want of a valid
	// token, by endpoint path.
	AdminUnauthorized *prometheus.CounterVec
}

// New creates and registers the metrics.
func New(src Source) *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{
		Registry: reg,
		Handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socketfleet_handshakes_total",
			Help: "Engine.IO handshakes by admission decision (result accepted|refused; reason draining|max_connections|rate_limited for refusals).",
		}, []string{"result", "reason"}),
		Connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socketfleet_connections_total",
			Help: "Socket.IO namespace connections accepted.",
		}, []string{"namespace"}),
		ConnectErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socketfleet_connect_errors_total",
			Help: "Socket.IO namespace connections refused by connect auth (reason unauthorized|unavailable).",
		}, []string{"namespace", "reason"}),
		EventsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socketfleet_events_received_total",
			Help: "Socket.IO events received from clients (acknowledgements excluded).",
		}, []string{"namespace"}),
		Broadcasts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socketfleet_broadcasts_total",
			Help: "Broadcasts started on this process (adapter Broadcast and BroadcastWithAck calls; with connection state recovery a single-socket emit is one too).",
		}, []string{"namespace"}),
		BytesReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socketfleet_received_bytes_total",
			Help: "Bytes read from the network by a listener (HTTP, polling bodies and WebSocket frames).",
		}, []string{"listener"}),
		BytesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socketfleet_sent_bytes_total",
			Help: "Bytes written to the network by a listener (HTTP, polling bodies and WebSocket frames).",
		}, []string{"listener"}),
		UpgradeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "socketfleet_upgrade_failures_total",
			Help: "WebSocket upgrade requests of open polling sessions answered with an HTTP error (probes failing after the WebSocket handshake are not observed).",
		}),
		AckTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socketfleet_ack_timeouts_total",
			Help: "Acknowledgement waits that timed out, by source (publish).",
		}, []string{"source"}),
		DrainClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socketfleet_drain_closed_sessions_total",
			Help: "Engine.IO sessions closed at the transport level by the drain or by shedding (cause drain|shed).",
		}, []string{"cause"}),
		Webhook: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socketfleet_webhook_requests_total",
			Help: "Event webhook calls by result (ok|error_status|timeout|failed|busy).",
		}, []string{"result"}),
		WebhookDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "socketfleet_webhook_duration_seconds",
			Help:    "Duration of event webhook calls.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
		Auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socketfleet_auth_total",
			Help: "Connect authentication decisions by method (jwt|webhook) and result (accepted|refused|unavailable).",
		}, []string{"method", "result"}),
		Relay: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socketfleet_relay_requests_total",
			Help: "Room relay requests by action (join|leave|emit) and result (ok|denied|invalid).",
		}, []string{"action", "result"}),
		Publish: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socketfleet_publish_requests_total",
			Help: "HTTP publish API requests by status code.",
		}, []string{"code"}),
		PublishPartial: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "socketfleet_publish_partial_total",
			Help: "HTTP publish API requests delivered to this process's clients only because the cluster adapter's link (Redis) was down (answered with \"partial\": true).",
		}),
		AdminUnauthorized: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socketfleet_admin_unauthorized_total",
			Help: "Admin port requests refused without side effect: no bearer token, a wrong one, or none configured (by endpoint path).",
		}, []string{"path"}),
	}
	for _, c := range []prometheus.Collector{
		m.Handshakes, m.Connections, m.ConnectErrors, m.EventsReceived, m.Broadcasts, m.BytesReceived,
		m.BytesSent, m.UpgradeFailures, m.AckTimeouts, m.DrainClosed, m.Webhook, m.WebhookDuration, m.Auth,
		m.Relay, m.Publish, m.PublishPartial, m.AdminUnauthorized,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&stateCollector{src: src},
	} {
		f(c)
	}
	// Pre-create the series that should read 0 rather than be absent.
	m.Handshakes.WithLabelValues("accepted", "")
	for _, cause := range []string{"drain", "shed"} {
		m.DrainClosed.WithLabelValues(cause)
	}
	for _, l := range []string{"public", "admin"} {
		m.BytesReceived.WithLabelValues(l)
		m.BytesSent.WithLabelValues(l)
	}
	return m
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// CountAdapterDecodeErrors exports count, the number of messages from other
// servers that the cluster adapter dropped because it could not decode
// them, as socketfleet_adapter_decode_errors_total.
func (m *Metrics) CountAdapterDecodeErrors(count func() uint64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "socketfleet_adapter_decode_errors_total",
		Help: "Messages from other servers (Redis) dropped because they could not be decoded: malformed, truncated, or announcing more data than they hold.",
	}, func() float64 { return float64(count()) }))
}

// CountParserMismatches exports count, the number of sessions closed because
// their client spoke another Socket.IO parser than the server's, as
// socketfleet_parser_mismatch_total.
func (m *Metrics) CountParserMismatches(count func() uint64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "socketfleet_parser_mismatch_total",
		Help: "Sessions closed because the client spoke another Socket.IO parser than the configured one (parser: default or msgpack).",
	}, func() float64 { return float64(count()) }))
}

// ObserveAdapterOutbox exports the cluster adapter's outbox, the broadcasts
// kept while Redis is away: socketfleet_adapter_outbox_waiting,
// socketfleet_adapter_outbox_forwarded_total and
// socketfleet_adapter_outbox_dropped_total.
func (m *Metrics) ObserveAdapterOutbox(stats func() (waiting int, forwarded, dropped uint64)) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "socketfleet_adapter_outbox_waiting",
			Help: "Broadcasts waiting for Redis to be forwarded to the other servers (their local delivery is done).",
		}, func() float64 { w, _, _ := stats(); return float64(w) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "socketfleet_adapter_outbox_forwarded_total",
			Help: "Broadcasts that waited for Redis and were then forwarded to the other servers.",
		}, func() float64 { _, f, _ := stats(); return float64(f) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "socketfleet_adapter_outbox_dropped_total",
			Help: "Broadcasts never forwarded to the other servers: the outbox was full or off, they waited longer than redis.outbox.maxAge, or the process stopped first.",
		}, func() float64 { _, _, d := stats(); return float64(d) }),
	)
}

// Handshake records an admission decision (admission.Options.OnDecision).
func (m *Metrics) Handshake(accepted bool, reason string) {
	if accepted {
		m.Handshakes.WithLabelValues("accepted", "").Inc()
		return
	}
	m.Handshakes.WithLabelValues("refused", reason).Inc()
}

// SessionsClosed records transport closes by the drain (drain=true) or shed.
func (m *Metrics) SessionsClosed(n int, drain bool) {
	cause := "shed"
	if drain {
		cause = "drain"
	}
	m.DrainClosed.WithLabelValues(cause).Add(float64(n))
}

// stateCollector reports the live gauges at scrape time.
type stateCollector struct{ src Source }

var (
	connectedDesc = prometheus.NewDesc("socketfleet_connected_clients",
		"Connected Socket.IO clients (sockets) by namespace and transport.", []string{"namespace", "transport"}, nil)
	sessionsDesc = prometheus.NewDesc("socketfleet_engine_sessions",
		"Open Engine.IO sessions (connections) by transport.", []string{"transport"}, nil)
	parkedDesc = prometheus.NewDesc("socketfleet_engine_parked_connections",
		"Long-polling connections parked with no goroutine: a GET waiting for packets, or a keep-alive connection between requests.", nil, nil)
	drainingDesc = prometheus.NewDesc("socketfleet_draining",
		"1 while the process drains (readiness fails, handshakes are refused), else 0.", nil, nil)
	startDesc = prometheus.NewDesc("socketfleet_start_time_seconds",
		"Start time of the runtime since the Unix epoch.", nil, nil)
	drainDeadlineDesc = prometheus.NewDesc("socketfleet_drain_deadline_timestamp_seconds",
		"When the drain under way must be done (Unix seconds): the process exits by then; absent while not draining.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- connectedDesc
	ch <- sessionsDesc
	ch <- parkedDesc
	ch <- drainingDesc
	ch <- startDesc
	ch <- drainDeadlineDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.src.Clients != nil {
		cl := c.src.Clients()
		for ns, byTransport := range cl.ByNamespace {
			for _, t := range Transports {
				ch <- prometheus.MustNewConstMetric(connectedDesc, prometheus.GaugeValue, float64(byTransport[t]), ns, t)
			}
		}
		for _, t := range Transports {
			ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(cl.Sessions[t]), t)
		}
		ch <- prometheus.MustNewConstMetric(parkedDesc, prometheus.GaugeValue, float64(cl.ParkedConnections))
	}
	draining := 0.0
	if c.src.Draining != nil && c.src.Draining() {
		draining = 1
	}
	ch <- prometheus.MustNewConstMetric(drainingDesc, prometheus.GaugeValue, draining)
	if c.src.DrainDeadline != nil {
		if d := c.src.DrainDeadline(); !d.IsZero() {
			ch <- prometheus.MustNewConstMetric(drainDeadlineDesc, prometheus.GaugeValue, float64(d.UnixNano())/1e9)
		}
	}
	ch <- prometheus.MustNewConstMetric(startDesc, prometheus.GaugeValue, float64(c.src.StartTime.UnixNano())/1e9)
}
