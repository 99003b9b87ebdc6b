package envtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// createFixture creates the RealtimeCluster of a builders' fixture (controllers/specs/testdata/fixtures) in ns.
func createFixture(t *testing.T, ns, fixture string) *realtimev1alpha1.RealtimeCluster {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "controllers", "specs", "testdata", "fixtures", fixture+".yaml"))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	rc := &realtimev1alpha1.RealtimeCluster{}
	if err := yaml.UnmarshalStrict(data, rc); err != nil {
		t.Fatalf("decode fixture %s: %v", fixture, err)
	}
	rc.Namespace = ns
	if err := k8s.Create(context.Background(), rc); err != nil {
		t.Fatalf("create RealtimeCluster %s: %v", fixture, err)
	}
	return rc
}

// TestPodOverridesReachTheDeployment creates the clusters of the pod override fixtures and checks that the API
// server stored the Deployment the operator rendered from them: the sidecar as a native sidecar after the init
// container, the extra container after the runtime, the extra volumes and mounts, the ServiceAccount choice and
// the security context overrides on top of the secure defaults.
func TestPodOverridesReachTheDeployment(t *testing.T) {
	ns := newNamespace(t)
	createFixture(t, ns, "pod-sidecars")
	dep := waitFor(t, &appsv1.Deployment{}, ns, "chat", nil)
	pod := dep.Spec.Template.Spec
	var initNames []string
	for _, c := range pod.InitContainers {
		initNames = append(initNames, c.Name)
	}
	if fmt.Sprint(initNames) != "[wait-for-backend mesh-proxy]" {
		t.Fatalf("init containers = %v, want [wait-for-backend mesh-proxy]", initNames)
	}
	if rp := pod.InitContainers[0].RestartPolicy; rp != nil {
		t.Errorf("init container has restartPolicy %v, want none (runs to completion)", *rp)
	}
	if rp := pod.InitContainers[1].RestartPolicy; rp == nil || *rp != corev1.ContainerRestartPolicyAlways {
		t.Errorf("sidecar restartPolicy = %v, want Always (native sidecar)", rp)
	}
	if len(pod.Containers) != 2 || pod.Containers[0].Name != "runtime" || pod.Containers[1].Name != "log-shipper" {
		t.Fatalf("containers = %+v, want runtime then log-shipper", pod.Containers)
	}
	runtime := pod.Containers[0]
	if len(runtime.EnvFrom) != 2 || runtime.EnvFrom[1].Prefix != "APP_" {
		t.Errorf("runtime envFrom = %+v, want the ConfigMap and the Secret with prefix APP_", runtime.EnvFrom)
	}
	if !hasMount(runtime.VolumeMounts, "certs", "/etc/ssl/chat") || !hasMount(runtime.VolumeMounts, "config", "/etc/socketfleet") {
		t.Errorf("runtime mounts = %+v, want the operator's config mount and certs at /etc/ssl/chat", runtime.VolumeMounts)
	}
	if !hasVolume(pod.Volumes, "logs") || !hasVolume(pod.Volumes, "config") {
		t.Errorf("volumes = %+v, want the operator's and logs", pod.Volumes)
	}
	if pod.ServiceAccountName != "chat" || pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
		t.Errorf("serviceAccountName %q automount %v, want the operator's chat with the token mounted", pod.ServiceAccountName, pod.AutomountServiceAccountToken)
	}
	sa := waitFor(t, &corev1.ServiceAccount{}, ns, "chat", nil)
	if got := sa.Annotations["eks.amazonaws.com/role-arn"]; got != "arn:aws:iam::123456789012:role/chat" {
		t.Errorf("ServiceAccount role-arn annotation = %q", got)
	}

	ns2 := newNamespace(t)
	createFixture(t, ns2, "pod-security")
	dep2 := waitFor(t, &appsv1.Deployment{}, ns2, "chat", nil)
	pod2 := dep2.Spec.Template.Spec
	if pod2.ServiceAccountName != "chat-identity" {
		t.Errorf("serviceAccountName = %q, want chat-identity", pod2.ServiceAccountName)
	}
	psc := pod2.SecurityContext
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 10001 || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext = %+v, want runAsUser 10001 with runAsNonRoot and RuntimeDefault seccomp kept", psc)
	}
	csc := pod2.Containers[0].SecurityContext
	if csc == nil || csc.ReadOnlyRootFilesystem == nil || *csc.ReadOnlyRootFilesystem ||
		csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Errorf("container securityContext = %+v, want a writable root filesystem and no privilege escalation kept", csc)
	}
	if pod2.DNSPolicy != corev1.DNSNone || pod2.DNSConfig == nil || len(pod2.HostAliases) != 1 {
		t.Errorf("dnsPolicy %q dnsConfig %+v hostAliases %+v", pod2.DNSPolicy, pod2.DNSConfig, pod2.HostAliases)
	}
	if a := pod2.Affinity; a == nil || a.NodeAffinity == nil || a.PodAntiAffinity == nil ||
		a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey != corev1.LabelTopologyZone {
		t.Errorf("affinity = %+v, want the node affinity and the default zone preference", a)
	}
}

func hasMount(mounts []corev1.VolumeMount, name, path string) bool {
	for _, m := range mounts {
		if m.Name == name && m.MountPath == path {
			return true
		}
	}
	return false
}

func hasVolume(volumes []corev1.Volume, name string) bool {
	for _, v := range volumes {
		if v.Name == name {
			return true
		}
	}
	return false
}
