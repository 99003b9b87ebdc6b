package envtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/yaml"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// TestAdminTokenSecret: the operator generates the admin token Secret once (owned by the cluster, kept across
// reconciles), mounts it into the runtime pods, points admin.tokenFile at it, and sends it on every admin call;
// an edited Secret (rotation) is what it sends next.
func TestAdminTokenSecret(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "replicas: 1\n")

	secret := waitFor(t, &corev1.Secret{}, ns, "chat-admin-token", func(s *corev1.Secret) error {
		if len(s.Data[specs.AdminTokenKey]) != 64 {
			return fmt.Errorf("token of %d bytes, want 64 hex digits", len(s.Data[specs.AdminTokenKey]))
		}
		return nil
	})
	assertOwned(t, secret, getCluster(t, ns, "chat"))
	token := string(secret.Data[specs.AdminTokenKey])

	waitFor(t, &corev1.ConfigMap{}, ns, "chat-config", func(cm *corev1.ConfigMap) error {
		var cfg struct {
			Admin struct {
				TokenFile string `json:"tokenFile"`
			} `json:"admin"`
		}
		if err := yaml.Unmarshal([]byte(cm.Data[specs.ConfigFileName]), &cfg); err != nil {
			return err
		}
		if cfg.Admin.TokenFile != specs.AdminTokenDir+"/"+specs.AdminTokenKey {
			return fmt.Errorf("admin.tokenFile %q", cfg.Admin.TokenFile)
		}
		return nil
	})
	waitFor(t, &appsv1.Deployment{}, ns, "chat", func(d *appsv1.Deployment) error {
		pod := d.Spec.Template.Spec
		mounted := false
		for _, m := range pod.Containers[0].VolumeMounts {
			mounted = mounted || (m.Name == "admin-token" && m.MountPath == specs.AdminTokenDir && m.ReadOnly && m.SubPath == "")
		}
		for _, v := range pod.Volumes {
			if v.Name == "admin-token" && v.Secret != nil && v.Secret.SecretName == "chat-admin-token" && mounted {
				return nil
			}
		}
		return fmt.Errorf("no admin-token Secret volume mounted at %s: %+v", specs.AdminTokenDir, pod.Volumes)
	})

	// A pod that requires the token: the fleet view reads its /stats, so the operator sent it.
	f := startFakeRuntime(t, 42)
	f.token.Store(&token)
	createRuntimePod(t, ns, "chat", "chat-a", f.port(t))
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if rc.Status.ConnectedClients != 42 || rc.Status.Fleet == nil || rc.Status.Fleet.ReportingPods != 1 {
			return fmt.Errorf("connected %d, pods %s", rc.Status.ConnectedClients, fleetPods(rc))
		}
		return nil
	})
	if n := f.unauthorized.Load(); n != 0 {
		t.Errorf("the pod refused %d requests of the operator", n)
	}

	// Reconciles keep the Secret as it is.
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "chat"}}
	for range 2 {
		if _, err := reconciler.Reconcile(context.Background(), req); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
	}
	kept := waitFor(t, &corev1.Secret{}, ns, "chat-admin-token", nil)
	if string(kept.Data[specs.AdminTokenKey]) != token || kept.ResourceVersion != secret.ResourceVersion {
		t.Errorf("the Secret was rewritten by a reconcile")
	}

	// Rotation: the Secret lists the new token first; the operator sends it from then on.
	kept.Data[specs.AdminTokenKey] = []byte("n3w-token\n" + token + "\n")
	if err := k8s.Update(context.Background(), kept); err != nil {
		t.Fatalf("update secret: %v", err)
	}
	rotated := "n3w-token"
	f.token.Store(&rotated)
	f.clients.Store(7)
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if rc.Status.ConnectedClients != 7 {
			return fmt.Errorf("connected %d, pods %s", rc.Status.ConnectedClients, fleetPods(rc))
		}
		return nil
	})

	// A Secret without a token stops the reconcile with an error naming it.
	kept = waitFor(t, &corev1.Secret{}, ns, "chat-admin-token", nil)
	kept.Data[specs.AdminTokenKey] = []byte("\n")
	if err := k8s.Update(context.Background(), kept); err != nil {
		t.Fatalf("update secret: %v", err)
	}
	apiPoll().NoError(t, "reconcile error naming the Secret", func() error {
		_, err := reconciler.Reconcile(context.Background(), req)
		if err == nil || !strings.Contains(err.Error(), "chat-admin-token") {
			return fmt.Errorf("reconcile error %v", err)
		}
		return nil
	})
}
