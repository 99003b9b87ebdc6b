package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// ensureRedisSecret creates the managed Redis password Secret once (and, for TLS without a certificateSecretRef,
// the certificate Secret: ensureRedisTLSSecret). Its password is never changed, so it is
// stable across reconciles and operator restarts; the auth.conf key, the same password as Redis configuration,
// is added to a Secret that lacks it or does not match the password (one created by an operator version that
// did not write it).
func (r *RealtimeClusterReconciler) ensureRedisSecret(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, _ specs.Desired, _ *Observed) error {
	if rc.Spec.Redis.Managed == nil {
		return nil
	}
	if err := r.ensureRedisTLSSecret(ctx, rc); err != nil {
		return err
	}
	secret, err := r.ensureGeneratedSecret(ctx, rc, specs.NamesFor(rc).RedisSecret, specs.BuildRedisSecret, "a generated Redis password")
	if err != nil || secret == nil {
		return err // a nil Secret was created concurrently, or exists outside the cache: kept as it is
	}
	return r.completeRedisSecret(ctx, rc, secret)
}

// completeRedisSecret writes the auth.conf key of an existing managed Redis Secret when it is missing or does
// not match the password key, leaving the password as it is.
func (r *RealtimeClusterReconciler) completeRedisSecret(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, secret *corev1.Secret) error {
	password, ok := secret.Data[specs.RedisPasswordKey]
	want := specs.RedisAuthConf(string(password))
	if !ok || string(secret.Data[specs.RedisAuthConfKey]) == want {
		return nil
	}
	updated := secret.DeepCopy()
	updated.Data[specs.RedisAuthConfKey] = []byte(want)
	if err := r.Client.Update(ctx, updated, client.FieldOwner(specs.ManagerName)); err != nil {
		return fmt.Errorf("add %s to secret %s: %w", specs.RedisAuthConfKey, secret.Name, err)
	}
	r.event(rc, updated, corev1.EventTypeNormal, EventUpdated, "Update",
		"Added "+specs.RedisAuthConfKey+" (the password as Redis configuration) to Secret "+secret.Name)
	return nil
}
