package envtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/socketfleet/socketfleet/controllers"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// userSecret creates an unlabelled Secret, as a user would (the operator's cache does not hold such Secrets).
func userSecret(t *testing.T, ns, name string, data map[string]string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatalf("create secret %s: %v", name, err)
	}
	return s
}

// filesHash returns the referenced-files hash on the pod template of the Deployment chat, once it has one.
func filesHash(t *testing.T, ns string, differentFrom string) (*appsv1.Deployment, string) {
	t.Helper()
	dep := waitFor(t, &appsv1.Deployment{}, ns, "chat", func(d *appsv1.Deployment) error {
		h := d.Spec.Template.Annotations[specs.AnnotationFilesHash]
		if h == "" || h == differentFrom {
			return fmt.Errorf("files hash %q (want one, other than %q)", h, differentFrom)
		}
		return nil
	})
	return dep, dep.Spec.Template.Annotations[specs.AnnotationFilesHash]
}

// TestJWTKeyFromSecretMountedAndRolled follows a JWT public key from the user's Secret to the runtime pods: the
// Deployment mounts the key read-only where the runtime config says it is, and editing the Secret changes the
// pod template's hash (a rollout) without touching the config hash.
func TestJWTKeyFromSecretMountedAndRolled(t *testing.T) {
	ns := newNamespace(t)
	secret := userSecret(t, ns, "chat-jwt", map[string]string{"public.pem": "-----BEGIN PUBLIC KEY-----\nfirst\n"})
	createCluster(t, ns, "chat", `
runtime:
  auth:
    jwt:
      algorithm: RS256
      key: {secretKeyRef: {name: chat-jwt, key: public.pem}}
  publish:
    tokenSecretKeyRef: {name: chat-jwt, key: public.pem}
`)
	dep, first := filesHash(t, ns, "")
	pod := dep.Spec.Template.Spec
	var vol *corev1.Volume
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == "socketfleet-jwt" {
			vol = &pod.Volumes[i]
		}
	}
	if vol == nil || vol.Secret == nil || vol.Secret.SecretName != "chat-jwt" ||
		len(vol.Secret.Items) != 1 || vol.Secret.Items[0].Key != "public.pem" || vol.Secret.Items[0].Path != "key" {
		t.Fatalf("volume socketfleet-jwt = %+v, want Secret chat-jwt key public.pem as file key", vol)
	}
	mounted := false
	for _, m := range pod.Containers[0].VolumeMounts {
		if m.Name == "socketfleet-jwt" && m.MountPath == specs.JWTKeyDir && m.ReadOnly {
			mounted = true
		}
	}
	if !mounted {
		t.Fatalf("runtime mounts %+v, want socketfleet-jwt read-only at %s", pod.Containers[0].VolumeMounts, specs.JWTKeyDir)
	}
	cm := waitFor(t, &corev1.ConfigMap{}, ns, "chat-config", nil)
	for _, want := range []string{"publicKeyFile: " + specs.JWTKeyDir + "/key", "algorithm: RS256", "tokenFile: " + specs.PublishTokenDir + "/token"} {
		if !strings.Contains(cm.Data[specs.ConfigFileName], want) {
			t.Errorf("runtime config lacks %q:\n%s", want, cm.Data[specs.ConfigFileName])
		}
	}
	configHash := dep.Spec.Template.Annotations[specs.AnnotationConfigHash]

	// The user rotates the key: the pods roll, the config stays.
	secret.StringData = map[string]string{"public.pem": "-----BEGIN PUBLIC KEY-----\nsecond\n"}
	if err := k8s.Update(context.Background(), secret); err != nil {
		t.Fatalf("update secret: %v", err)
	}
	dep, second := filesHash(t, ns, first)
	if got := dep.Spec.Template.Annotations[specs.AnnotationConfigHash]; got != configHash {
		t.Errorf("config hash moved from %s to %s on a Secret change", configHash, got)
	}
	t.Logf("files hash %s -> %s after the Secret changed", first, second)
}

// TestAdminUIHashMounted follows spec.adminUI to the pods: the runtime config enables the admin UI with the
// username and the mounted hash file, the Deployment mounts the Secret key read-only there, and a new hash rolls
// the pods.
func TestAdminUIHashMounted(t *testing.T) {
	ns := newNamespace(t)
	secret := userSecret(t, ns, "chat-admin-ui", map[string]string{"hash": "$2a$10$first"})
	createCluster(t, ns, "chat", `
adminUI:
  enabled: true
  username: ops
  passwordHashSecretKeyRef: {name: chat-admin-ui, key: hash}
`)
	dep, first := filesHash(t, ns, "")
	pod := dep.Spec.Template.Spec
	var vol *corev1.Volume
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == "socketfleet-admin-ui" {
			vol = &pod.Volumes[i]
		}
	}
	if vol == nil || vol.Secret == nil || vol.Secret.SecretName != "chat-admin-ui" ||
		len(vol.Secret.Items) != 1 || vol.Secret.Items[0].Key != "hash" || vol.Secret.Items[0].Path != specs.AdminUIPasswordHashFile {
		t.Fatalf("volume socketfleet-admin-ui = %+v, want Secret chat-admin-ui key hash as file %s", vol, specs.AdminUIPasswordHashFile)
	}
	mounted := false
	for _, m := range pod.Containers[0].VolumeMounts {
		if m.Name == "socketfleet-admin-ui" && m.MountPath == specs.AdminUIDir && m.ReadOnly {
			mounted = true
		}
	}
	if !mounted {
		t.Fatalf("runtime mounts %+v, want socketfleet-admin-ui read-only at %s", pod.Containers[0].VolumeMounts, specs.AdminUIDir)
	}
	cm := waitFor(t, &corev1.ConfigMap{}, ns, "chat-config", nil)
	for _, want := range []string{"passwordHashFile: " + specs.AdminUIDir + "/" + specs.AdminUIPasswordHashFile,
		"username: ops", "namespace: /admin"} {
		if !strings.Contains(cm.Data[specs.ConfigFileName], want) {
			t.Errorf("runtime config lacks %q:\n%s", want, cm.Data[specs.ConfigFileName])
		}
	}
	secret.StringData = map[string]string{"hash": "$2a$10$second"}
	if err := k8s.Update(context.Background(), secret); err != nil {
		t.Fatalf("update secret: %v", err)
	}
	filesHash(t, ns, first)
}

// TestMissingReferencedSecretWarnsThenRolls references a Secret that does not exist yet: the operator says so
// with a warning event, and creating the Secret changes the pod template's hash.
func TestMissingReferencedSecretWarnsThenRolls(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", `
runtime:
  webhook:
    url: http://backend.apps.svc/events
    events: ["order:*"]
    tokenSecretKeyRef: {name: webhook-token, key: token}
`)
	_, missing := filesHash(t, ns, "")
	apiPoll().NoError(t, "missing file event", func() error {
		return hasEvent(ns, controllers.EventFileMissing, `Secret webhook-token has no key "token"`)
	})
	userSecret(t, ns, "webhook-token", map[string]string{"token": "s3cret"})
	filesHash(t, ns, missing)
}
