package app

import (
	"time"

	"github.com/socketfleet/socketfleet/runtime/drain"
	"github.com/socketfleet/socketfleet/runtime/metrics"
)

// Stats is the /stats document (the operator/runtime contract of
// docs/contract.md).
type Stats struct {
	// StartTime is when the runtime started.
	StartTime time.Time `json:"startTime"`
	// UptimeSeconds is the time since StartTime.
	UptimeSeconds float64 `json:"uptimeSeconds"`
	// Pod names the pod (POD_NAME, POD_NAMESPACE), empty outside Kubernetes.
	Pod PodInfo `json:"pod"`
	// Draining is true once the drain started.
	Draining bool `json:"draining"`
	// Drain details the drain and shed progress.
	Drain DrainStats `json:"drain"`
	// ConnectedClients counts the clients.
	ConnectedClients ClientStats `json:"connectedClients"`
	// Sockets counts the connected sockets of each namespace by transport.
	Sockets map[string]map[string]int `json:"sockets"`
	// Handshakes counts admission decisions since the start.
	Handshakes HandshakeStats `json:"handshakes"`
	// Limits are the configured admission limits.
	Limits LimitStats `json:"limits"`
	// Engine describes the Engine.IO server's connections.
	Engine EngineStats `json:"engine"`
	// Adapter is "memory" or the cluster adapter's name.
	Adapter string `json:"adapter"`
	// Parser is the Socket.IO parser the clients must use ("default",
	// "msgpack").
	Parser string `json:"parser"`
	// Recovery is true when connection state recovery is on (configuration
	// validation allows it with the in-memory adapter only).
	Recovery bool `json:"recovery"`
	// AdapterHealth is the state of the cluster adapter's link to Redis;
	// absent with the in-memory adapter.
	AdapterHealth *AdapterHealth `json:"adapterHealth,omitempty"`
	// Outbox describes the broadcasts kept while Redis is away; absent with
	// the in-memory adapter.
	Outbox *OutboxStats `json:"outbox,omitempty"`
}

// PodInfo identifies the pod.
type PodInfo struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

// DrainStats is the drain state.
type DrainStats struct {
	Window    string     `json:"window"`
	StartedAt *time.Time `json:"startedAt"`
	Deadline  *time.Time `json:"deadline"`
	drain.Stats
}

// ClientStats counts clients: Total and ByTransport count Engine.IO
// sessions (one per browser tab or client), ByNamespace the sockets
// connected to each namespace.
type ClientStats struct {
	Total       int            `json:"total"`
	ByTransport map[string]int `json:"byTransport"`
	ByNamespace map[string]int `json:"byNamespace"`
}

// HandshakeStats counts admission decisions.
type HandshakeStats struct {
	Accepted int64 `json:"accepted"`
	Refused  int64 `json:"refused"`
}

// EngineStats describes the Engine.IO server's long-polling connections.
type EngineStats struct {
	// ParkedConnections counts the long-polling connections parked with no
	// goroutine: GETs waiting for packets and keep-alive connections
	// between requests.
	ParkedConnections int `json:"parkedConnections"`
	// MaxParkedConnections is the configured bound (0: never park).
	MaxParkedConnections int `json:"maxParkedConnections"`
}

// LimitStats are the admission limits (0: unlimited).
type LimitStats struct {
	MaxConnections int     `json:"maxConnections"`
	HandshakeRate  float64 `json:"handshakeRate"`
}

// Stats returns the current statistics.
func (a *App) Stats() Stats {
	cl := metrics.CountClients(a.srv)
	st := Stats{
		StartTime:     a.start,
		UptimeSeconds: time.Since(a.start).Seconds(),
		Pod:           PodInfo{Name: a.info.PodName, Namespace: a.info.PodNamespace},
		Draining:      a.drainer.Draining(),
		Drain:         DrainStats{Window: a.cfg.Drain.Window.String(), Stats: a.drainer.Stats()},
		ConnectedClients: ClientStats{
			Total:       cl.TotalSessions(),
			ByTransport: cl.Sessions,
			ByNamespace: map[string]int{},
		},
		Sockets:    cl.ByNamespace,
		Handshakes: HandshakeStats{Accepted: a.accepted.Load(), Refused: a.refused.Load()},
		Limits:     LimitStats{MaxConnections: a.cfg.Limits.MaxConnections, HandshakeRate: a.cfg.Limits.HandshakeRate},
		Engine:     EngineStats{ParkedConnections: cl.ParkedConnections, MaxParkedConnections: a.cfg.MaxParkedConnections},
		Adapter:    "memory",
		Parser:     a.srv.Parser().Name(),
		Recovery:   a.cfg.ConnectionStateRecovery.Enabled,
	}
	for ns, byTransport := range cl.ByNamespace {
		n := 0
		for _, v := range byTransport {
			n += v
		}
		st.ConnectedClients.ByNamespace[ns] = n
	}
	if started := a.drainer.StartedAt(); !started.IsZero() {
		deadline := a.drainer.Deadline()
		st.Drain.StartedAt, st.Drain.Deadline = &started, &deadline
	}
	if a.cluster != nil {
		st.Adapter = a.cluster.Name
		if a.cluster.Outbox != nil {
			o := a.cluster.Outbox()
			st.Outbox = &o
		}
	}
	if a.health != nil {
		h := a.health.Health()
		st.AdapterHealth = &h
	}
	return st
}
