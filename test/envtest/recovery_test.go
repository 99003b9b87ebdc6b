package envtest

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// recoveryIs checks the connection state recovery a cluster's runtime config asks for and the status.recovery
// that publishes it.
func recoveryIs(t *testing.T, ns, name string, want realtimev1alpha1.RecoveryStatus) {
	t.Helper()
	waitFor(t, &corev1.ConfigMap{}, ns, name+"-config", func(cm *corev1.ConfigMap) error {
		cfg := specs.RuntimeConfig{}
		if err := yaml.UnmarshalStrict([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
			return err
		}
		got := cfg.ConnectionStateRecovery
		if cfg.Redis == nil || cfg.Redis.Adapter != string(want.Adapter) || got.Enabled != want.Enabled ||
			want.Enabled && got.MaxDisconnectionDuration != want.MaxDisconnectionDuration {
			return fmt.Errorf("runtime config: redis %+v, connectionStateRecovery %+v; want %+v", cfg.Redis, got, want)
		}
		return nil
	})
	waitCluster(t, ns, name, func(rc *realtimev1alpha1.RealtimeCluster) error {
		if rc.Status.Recovery == nil || *rc.Status.Recovery != want {
			return fmt.Errorf("status.recovery = %+v, want %+v", rc.Status.Recovery, want)
		}
		return nil
	})
}

// TestRecoveryDefaults applies RealtimeClusters that leave connection state recovery (partly) unset and checks
// what the operator derives: a cluster applied with defaults runs the streams adapter with recovery on and a
// session lifetime derived from the drain settings; the classic adapter alone means no recovery.
func TestRecoveryDefaults(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name, spec string
		want       realtimev1alpha1.RecoveryStatus
	}{
		{"defaults", "",
			realtimev1alpha1.RecoveryStatus{Adapter: "streams", Enabled: true, MaxDisconnectionDuration: "2m0s", Derived: true}},
		{"classic", "redis: {managed: {}, adapter: classic}",
			realtimev1alpha1.RecoveryStatus{Adapter: "classic"}},
		{"sharded", "redis: {managed: {}, adapter: sharded}",
			realtimev1alpha1.RecoveryStatus{Adapter: "sharded"}},
		{"streams-off", "runtime: {connectionStateRecovery: {enabled: false}}",
			realtimev1alpha1.RecoveryStatus{Adapter: "streams"}},
		{"long-drain", "drain: {preStopDelay: 10s, window: 5m}",
			realtimev1alpha1.RecoveryStatus{Adapter: "streams", Enabled: true, MaxDisconnectionDuration: "5m40s", Derived: true}},
		{"explicit", "runtime: {connectionStateRecovery: {enabled: true, maxDisconnectionDuration: 10m}}\nredis: {managed: {}, adapter: streams}",
			realtimev1alpha1.RecoveryStatus{Adapter: "streams", Enabled: true, MaxDisconnectionDuration: "10m0s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			createCluster(t, ns, tc.name, tc.spec)
			// Nothing of the derivation is stored: the API server leaves both fields unset.
			csr := getCluster(t, ns, tc.name).Spec.Runtime.ConnectionStateRecovery
			if tc.spec == "" && (csr.Enabled != nil || csr.MaxDisconnectionDuration != nil) {
				t.Errorf("the API server stored enabled %v, maxDisconnectionDuration %v; want both unset", csr.Enabled, csr.MaxDisconnectionDuration)
			}
			recoveryIs(t, ns, tc.name, tc.want)
		})
	}

	// The derived duration follows the drain settings.
	updateSpec(t, ns, "defaults", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Drain.Window = metav1.Duration{Duration: 3 * time.Minute}
	})
	recoveryIs(t, ns, "defaults",
		realtimev1alpha1.RecoveryStatus{Adapter: "streams", Enabled: true, MaxDisconnectionDuration: "3m35s", Derived: true})
}
