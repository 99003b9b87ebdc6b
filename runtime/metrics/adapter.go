package metrics

import (
	"context"
	"encoding/json"

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
