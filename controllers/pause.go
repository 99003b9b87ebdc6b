package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// pauseFieldManager owns the runtime Deployment's spec.paused, apart from the operator's main apply (which never
// sets it): applying spec.paused: true under this manager pauses the rollout, applying nothing under it releases
// the field, which then goes back to its default (false).
const pauseFieldManager = specs.ManagerName + "-pause"

// pauseDeployment makes the runtime Deployment's spec.paused follow rc's spec.paused. Without a Deployment there
// is nothing to pause; a Deployment this manager never paused is left alone on resume.
func (r *RealtimeClusterReconciler) pauseDeployment(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, _ specs.Desired, _ *Observed) error {
	key := types.NamespacedName{Namespace: rc.Namespace, Name: specs.NamesFor(rc).Deployment}
	dep := &appsv1.Deployment{}
	if err := r.Client.Get(ctx, key, dep); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("get deployment %s: %w", key, err)
	}
	if !metav1.IsControlledBy(dep, rc) {
		return nil
	}
	paused := rc.Spec.Paused
	if !paused && !managedBy(dep, pauseFieldManager) {
		return nil
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("Deployment"))
	u.SetNamespace(key.Namespace)
	u.SetName(key.Name)
	if paused {
		if err := unstructured.SetNestedField(u.Object, true, "spec", "paused"); err != nil {
			return fmt.Errorf("build pause of deployment %s: %w", key, err)
		}
	}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(pauseFieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("set spec.paused=%t on deployment %s: %w", paused, key, err)
	}
	return nil
}

// managedBy reports whether manager has a server-side apply entry on obj.
func managedBy(obj client.Object, manager string) bool {
	for _, e := range obj.GetManagedFields() {
		if e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}

// readAdminToken reads the admin token the fleet view of a paused cluster sends, without creating its Secret
// (ensureAdminToken would): nothing is to be written while paused, and without the Secret there is no pod to ask.
func (r *RealtimeClusterReconciler) readAdminToken(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, _ specs.Desired, obs *Observed) error {
	key := types.NamespacedName{Namespace: rc.Namespace, Name: specs.NamesFor(rc).AdminTokenSecret}
	secret := &corev1.Secret{}
	if err := r.Client.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("get admin token secret %s: %w", key, err)
	}
	token, err := AdminTokenOf(secret)
	if err != nil {
		return err
	}
	obs.AdminToken = token
	return nil
}
