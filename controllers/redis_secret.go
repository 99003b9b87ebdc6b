package controllers

import (
	"context"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// ensureRedisSecret creates the managed Redis password Secret once. An existing Secret is never rewritten, so
// the password is stable across reconciles and operator restarts.
func (r *RealtimeClusterReconciler) ensureRedisSecret(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, _ specs.Desired, _ *Observed) error {
	if rc.Spec.Redis.Managed == nil {
		return nil
	}
	// A Secret created concurrently, or present without the operator's labels (outside the cache), is kept.
	_, err := r.ensureGeneratedSecret(ctx, rc, specs.NamesFor(rc).RedisSecret, specs.BuildRedisSecret, "a generated Redis password")
	return err
}

// GenerateRedisPassword returns a new random password for a managed Redis (32 random bytes, hex encoded).
func GenerateRedisPassword() (string, error) { return GenerateToken() }
