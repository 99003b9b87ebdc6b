package v1alpha1

import "k8s.io/apimachinery/pkg/api/resource"

// EffectivePersistence is the persistence of a managed Redis as the operator renders it. It is not part of the
// API's schema.
//
// +kubebuilder:object:generate=false
type EffectivePersistence struct {
	// Enabled is true when the Redis pods get volume claims and the append-only file.
	Enabled bool
	// Derived is true when Enabled comes from the adapter and recovery, not from persistence.enabled.
	Derived bool
	// Size is the size of each claim.
	Size resource.Quantity
	// StorageClass is the claims' storageClassName (nil: the cluster default).
	StorageClass *string
}

// EffectivePersistence resolves spec.redis.managed.persistence, with the API defaults for unset fields (a spec the
// API server did not default). Persistence is on when persistence.enabled says so; unset, it is on when the
// runtime pods recover sessions across pods (the streams adapter with connection state recovery on, see
// EffectiveRecovery), which needs the stream and the sessions kept in Redis to outlive a Redis pod. It returns
// the zero value (off) without a managed Redis.
func (s *RealtimeClusterSpec) EffectivePersistence() EffectivePersistence {
	m := s.Redis.Managed
	if m == nil {
		return EffectivePersistence{}
	}
	eff := EffectivePersistence{Size: resource.MustParse(DefaultRedisPersistenceSize)}
	p := m.Persistence
	if p == nil {
		p = &RedisPersistenceSpec{}
	}
	if p.Size != nil {
		eff.Size = *p.Size
	}
	eff.StorageClass = p.StorageClass
	if p.Enabled != nil {
		eff.Enabled = *p.Enabled
		return eff
	}
	rec := s.EffectiveRecovery()
	eff.Derived = true
	eff.Enabled = rec.Adapter == RedisAdapterStreams && rec.Enabled
	return eff
}
