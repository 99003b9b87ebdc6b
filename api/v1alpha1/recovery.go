package v1alpha1

import "time"

// The derivation of connection state recovery when spec.runtime.connectionStateRecovery leaves it unset. The
// CEL rules of RealtimeClusterSpec repeat these numbers; an envtest test checks both at the boundary.
const (
	// RecoveryReconnectMargin is added to the drain time in the derived (and the least accepted)
	// maxDisconnectionDuration: the reconnection backoff of a client whose first attempts are refused.
	// socket.io-client's delay doubles from reconnectionDelay (1 s) up to reconnectionDelayMax (5 s) with ±50%
	// randomization, so 30 s spans at least four attempts.
	RecoveryReconnectMargin = 30 * time.Second
	// MinDerivedMaxDisconnectionDuration is the least derived maxDisconnectionDuration: the runtime's and Node's
	// default (2m), which was the schema default before it was derived.
	MinDerivedMaxDisconnectionDuration = 2 * time.Minute
)

// EffectiveRecovery is the connection state recovery the runtime pods of a RealtimeCluster with this spec run
// with: the adapter, whether recovery is on and how long a disconnected client's session is kept. It is not part
// of the API's schema (status.recovery is its published form).
//
// +kubebuilder:object:generate=false
type EffectiveRecovery struct {
	Adapter                  RedisAdapter
	Enabled                  bool
	MaxDisconnectionDuration time.Duration
	// Derived is true when MaxDisconnectionDuration comes from spec.drain, not from the spec's own field.
	Derived bool
}

// EffectiveRecovery resolves spec.runtime.connectionStateRecovery against spec.redis.adapter and spec.drain, with
// the API defaults for unset fields (a spec the API server did not default):
//
//   - enabled unset: on when the adapter is streams (the default adapter), off with classic and sharded;
//   - maxDisconnectionDuration unset: max(2m, preStopDelay + drain window + 30s).
//
// Why that duration: a drained pod keeps serving for preStopDelay, then closes its sessions over its window; the
// session of each closed client is stored when it is closed. A client normally reconnects within seconds, but its
// attempts can land on pods that refuse it for as long as they drain themselves (a rollout or a scale-down of
// several pods, an ingress that still routes to a draining pod): keeping the session for a whole drain
// (preStopDelay + window) plus the reconnection backoff (RecoveryReconnectMargin) lets such a client recover too.
func (s *RealtimeClusterSpec) EffectiveRecovery() EffectiveRecovery {
	adapter := s.Redis.Adapter
	if adapter == "" {
		adapter = DefaultRedisAdapter
	}
	csr := s.Runtime.ConnectionStateRecovery
	eff := EffectiveRecovery{Adapter: adapter, Enabled: adapter == RedisAdapterStreams}
	if csr.Enabled != nil {
		eff.Enabled = *csr.Enabled
	}
	if csr.MaxDisconnectionDuration != nil {
		eff.MaxDisconnectionDuration = csr.MaxDisconnectionDuration.Duration
		return eff
	}
	eff.Derived = true
	eff.MaxDisconnectionDuration = max(MinDerivedMaxDisconnectionDuration, s.Drain.DrainDuration()+RecoveryReconnectMargin)
	return eff
}

// DrainDuration is how long a terminating pod takes to hand its clients over at most: preStopDelay + window,
// with the API defaults for unset fields.
func (d DrainSpec) DrainDuration() time.Duration {
	preStop := DefaultPreStopDelay
	if d.PreStopDelay != nil {
		preStop = d.PreStopDelay.Duration
	}
	window := d.Window.Duration
	if window <= 0 {
		window = DefaultDrainWindow
	}
	return preStop + window
}
