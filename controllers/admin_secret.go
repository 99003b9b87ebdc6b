package controllers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/runtimeadmin"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// ensureAdminToken creates the admin token Secret once (a random token) and reads the token the operator sends
// on every call to the runtime pods' admin port. An existing Secret is never rewritten: a user may rotate the
// token by editing it (the first line is the one sent; the runtime accepts every line of its file).
func (r *RealtimeClusterReconciler) ensureAdminToken(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, _ specs.Desired, obs *Observed) error {
	secret, err := r.ensureGeneratedSecret(ctx, rc, specs.NamesFor(rc).AdminTokenSecret, specs.BuildAdminTokenSecret, "an admin token")
	switch {
	case err != nil:
		return err
	case secret == nil:
		// Created by an earlier reconcile that the cache has not caught up with, or a Secret of that name
		// without the operator's labels (never cached): retry, the next read says which.
		return fmt.Errorf("secret %s/%s exists but is not in the operator's cache yet (or lacks the label %s=%s)",
			rc.Namespace, specs.NamesFor(rc).AdminTokenSecret, specs.LabelManagedBy, specs.ManagerName)
	case !metav1.IsControlledBy(secret, rc):
		return fmt.Errorf("secret %s/%s exists but is not owned by RealtimeCluster %s: delete it, the operator creates its own",
			secret.Namespace, secret.Name, rc.Name)
	}
	obs.AdminToken, err = AdminTokenOf(secret)
	return err
}

// ensureGeneratedSecret returns the Secret name of rc as stored, or creates it once with a freshly generated
// token (build renders it; what names the token in the event) and returns it. An existing Secret is never
// rewritten. It returns nil, nil when the create finds a Secret the cache does not hold.
func (r *RealtimeClusterReconciler) ensureGeneratedSecret(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, name string,
	build func(*realtimev1alpha1.RealtimeCluster, string) *corev1.Secret, what string) (*corev1.Secret, error) {
	key := types.NamespacedName{Namespace: rc.Namespace, Name: name}
	existing := &corev1.Secret{}
	err := r.Client.Get(ctx, key, existing)
	switch {
	case err == nil:
		return existing, nil
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("get secret %s: %w", key, err)
	}
	token, err := GenerateToken()
	if err != nil {
		return nil, err
	}
	secret := build(rc, token)
	if err := r.Client.Create(ctx, secret, client.FieldOwner(specs.ManagerName)); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("create secret %s: %w", key, err)
	}
	r.event(rc, secret, corev1.EventTypeNormal, EventCreated, "Create", "Created Secret "+secret.Name+" with "+what)
	return secret, nil
}

// AdminTokenOf returns the token the operator sends from the admin token Secret: the first line of its key
// (the runtime accepts every line, so a rotation lists the new token second, then alone).
func AdminTokenOf(s *corev1.Secret) (string, error) {
	token := runtimeadmin.FirstToken(s.Data[specs.AdminTokenKey])
	if token == "" {
		return "", fmt.Errorf("secret %s/%s: key %q holds no token", s.Namespace, s.Name, specs.AdminTokenKey)
	}
	return token, nil
}

// GenerateToken returns a new random secret (32 random bytes, hex encoded): managed Redis passwords and admin
// tokens.
func GenerateToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate random token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
