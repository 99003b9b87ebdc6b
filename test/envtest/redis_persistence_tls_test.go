package envtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// TestManagedRedisPersistenceAndTLS: a managed Redis with the defaults (streams with recovery) gets volume
// claims, the API server shows the persistence block it defaulted; turning persistence off recreates the
// StatefulSet (volumeClaimTemplates cannot change) with its pods orphaned, not deleted; TLS makes the operator
// generate a certificate Secret once, which the Redis pods mount and whose CA the runtime verifies with.
func TestManagedRedisPersistenceAndTLS(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "redis: {managed: {}}")
	rc := getCluster(t, ns, "chat")
	if p := rc.Spec.Redis.Managed.Persistence; p == nil || p.Size == nil || p.Size.String() != realtimev1alpha1.DefaultRedisPersistenceSize || p.Enabled != nil {
		t.Fatalf("defaulted persistence %+v", p)
	}
	first := waitFor(t, &appsv1.StatefulSet{}, ns, "chat-redis", func(s *appsv1.StatefulSet) error {
		if len(s.Spec.VolumeClaimTemplates) != 1 {
			return fmt.Errorf("%d volume claims, want 1 (streams with recovery)", len(s.Spec.VolumeClaimTemplates))
		}
		return nil
	})

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Redis.Managed.Persistence.Enabled = ptr(false)
		rc.Spec.Redis.Managed.TLS = &realtimev1alpha1.ManagedRedisTLSSpec{Enabled: true}
	})
	// The StatefulSet is deleted with its pods orphaned: the garbage collector (not running under envtest) removes
	// the orphan finalizer once it has released the pods; done here in its place.
	apiPoll().NoError(t, "the old StatefulSet deleted with orphan propagation", func() error {
		s := &appsv1.StatefulSet{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "chat-redis"}, s); err != nil {
			return err
		}
		if s.UID != first.UID {
			return nil // already replaced
		}
		if s.DeletionTimestamp == nil || !slices.Contains(s.Finalizers, metav1.FinalizerOrphanDependents) {
			return fmt.Errorf("deletionTimestamp %v finalizers %v", s.DeletionTimestamp, s.Finalizers)
		}
		s.Finalizers = nil
		return k8s.Update(context.Background(), s)
	})
	waitFor(t, &appsv1.StatefulSet{}, ns, "chat-redis", func(s *appsv1.StatefulSet) error {
		switch {
		case s.UID == first.UID:
			return errors.New("not recreated yet")
		case len(s.Spec.VolumeClaimTemplates) != 0:
			return fmt.Errorf("%d volume claims, want none", len(s.Spec.VolumeClaimTemplates))
		}
		for _, v := range s.Spec.Template.Spec.Volumes {
			if v.Secret != nil && v.Secret.SecretName == "chat-redis-tls" {
				return nil
			}
		}
		return errors.New("the certificate Secret is not mounted")
	})
	apiPoll().NoError(t, "event of the StatefulSet replaced", func() error {
		return hasEvent(ns, controllers.EventDeleted, "StatefulSet chat-redis", "pods kept")
	})
	secret := waitFor(t, &corev1.Secret{}, ns, "chat-redis-tls", func(s *corev1.Secret) error {
		if s.Type != corev1.SecretTypeTLS || len(s.Data[specs.RedisTLSCAKey]) == 0 {
			return fmt.Errorf("type %s keys %d", s.Type, len(s.Data))
		}
		_, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
		return err
	})
	assertOwned(t, secret, getCluster(t, ns, "chat"))
	waitFor(t, &corev1.ConfigMap{}, ns, "chat-config", func(cm *corev1.ConfigMap) error {
		r, err := runtimeRedisConfig(cm)
		if err != nil {
			return err
		}
		if r.URL != "rediss://chat-redis."+ns+".svc:6379/0" || !r.TLS.Enabled || r.TLS.CAFile != specs.RedisTLSDir+"/ca.crt" {
			return fmt.Errorf("runtime redis config %+v", r)
		}
		return nil
	})

	// The certificate is generated once: another reconcile keeps it.
	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Redis.KeyPrefix = "other" })
	waitFor(t, &corev1.ConfigMap{}, ns, "chat-config", func(cm *corev1.ConfigMap) error {
		r, err := runtimeRedisConfig(cm)
		if err != nil {
			return err
		}
		if r.KeyPrefix != "other" {
			return fmt.Errorf("keyPrefix %q", r.KeyPrefix)
		}
		return nil
	})
	again := &corev1.Secret{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "chat-redis-tls"}, again); err != nil {
		t.Fatal(err)
	}
	if string(again.Data[specs.RedisTLSCAKey]) != string(secret.Data[specs.RedisTLSCAKey]) {
		t.Error("the generated CA changed")
	}
}
