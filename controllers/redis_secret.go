package controllers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// ensureRedisSecret creates the managed Redis password Secret once. Its password is never changed, so it is
// stable across reconciles and operator restarts; the auth.conf key, the same password as Redis configuration,
// is added to a Secret that lacks it or does not match the password (one created by an operator version that
// did not write it).
func (r *RealtimeClusterReconciler) ensureRedisSecret(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, _ specs.Desired, _ *Observed) error {
	if rc.Spec.Redis.Managed == nil {
		return nil
	}
	key := types.NamespacedName{Namespace: rc.Namespace, Name: specs.NamesFor(rc).RedisSecret}
	existing := &corev1.Secret{}
	err := r.Client.Get(ctx, key, existing)
	if err == nil {
		return r.completeRedisSecret(ctx, rc, existing)
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get secret %s: %w", key, err)
	}
	password, err := GenerateRedisPassword()
	if err != nil {
		return err
	}
	secret := specs.BuildRedisSecret(rc, password)
	if err := r.Client.Create(ctx, secret, client.FieldOwner(specs.ManagerName)); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// Created concurrently, or present without the operator's labels (outside the cache): keep it.
			return nil
		}
		return fmt.Errorf("create secret %s: %w", key, err)
	}
	r.event(rc, secret, corev1.EventTypeNormal, EventCreated, "Create", "Created Secret "+secret.Name+" with a generated Redis password")
	return nil
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

// GenerateRedisPassword returns a new random password for a managed Redis (32 random bytes, hex encoded).
func GenerateRedisPassword() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate redis password: %w", err)
	}
	return hex.EncodeToString(b), nil
}
