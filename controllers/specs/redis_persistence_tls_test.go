package specs

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// TestRedisPersistence: persistence is on by default exactly when recovery across pods needs the stream, an
// explicit enabled wins, and the StatefulSet has claims (and the append-only file) exactly then.
func TestRedisPersistence(t *testing.T) {
	cases := []struct {
		name     string
		adapter  realtimev1alpha1.RedisAdapter
		recovery *bool
		enabled  *bool
		replicas int32
		want     bool
		derived  bool
	}{
		{"default: streams with recovery", "", nil, nil, 1, true, true},
		{"streams with recovery, HA", realtimev1alpha1.RedisAdapterStreams, nil, nil, 3, true, true},
		{"streams without recovery", realtimev1alpha1.RedisAdapterStreams, ptr.To(false), nil, 1, false, true},
		{"classic", realtimev1alpha1.RedisAdapterClassic, nil, nil, 1, false, true},
		{"sharded", realtimev1alpha1.RedisAdapterSharded, nil, nil, 3, false, true},
		{"classic, asked for", realtimev1alpha1.RedisAdapterClassic, nil, ptr.To(true), 1, true, false},
		{"streams, turned off", realtimev1alpha1.RedisAdapterStreams, nil, ptr.To(false), 3, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := cluster(func(rc *realtimev1alpha1.RealtimeCluster) {
				rc.Spec.Redis.Adapter = tc.adapter
				rc.Spec.Runtime.ConnectionStateRecovery.Enabled = tc.recovery
				rc.Spec.Redis.Managed = &realtimev1alpha1.ManagedRedisSpec{Replicas: tc.replicas,
					Persistence: &realtimev1alpha1.RedisPersistenceSpec{Enabled: tc.enabled, StorageClass: ptr.To("fast")}}
			})
			eff := rc.Spec.EffectivePersistence()
			if eff.Enabled != tc.want || eff.Derived != tc.derived {
				t.Fatalf("EffectivePersistence = %+v, want enabled %v derived %v", eff, tc.want, tc.derived)
			}
			sts := BuildRedisStatefulSet(rc)
			claims := sts.Spec.VolumeClaimTemplates
			if (len(claims) == 1) != tc.want {
				t.Fatalf("%d volume claims, persistence %v", len(claims), tc.want)
			}
			if tc.want {
				size := claims[0].Spec.Resources.Requests["storage"]
				if size.Cmp(resource.MustParse(realtimev1alpha1.DefaultRedisPersistenceSize)) != 0 || ptr.Deref(claims[0].Spec.StorageClassName, "") != "fast" {
					t.Errorf("claim %s of class %v", size.String(), claims[0].Spec.StorageClassName)
				}
			}
			c := sts.Spec.Template.Spec.Containers[0]
			text := strings.Join(slices.Concat(c.Command, c.Args), " ")
			want := map[bool]string{true: "appendonly yes", false: "appendonly no"}[tc.want]
			if !strings.Contains(strings.ReplaceAll(text, "--appendonly ", "appendonly "), want) {
				t.Errorf("redis-server is not started with %q: %s", want, text)
			}
		})
	}
	if eff := cluster(func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Redis.Managed = nil
		rc.Spec.Redis.External = &realtimev1alpha1.ExternalRedisSpec{Addresses: []string{"r:6379"}}
	}).Spec.EffectivePersistence(); eff.Enabled {
		t.Errorf("external Redis: persistence %+v", eff)
	}
}

// TestManagedRedisTLS: with TLS every Redis and Sentinel process listens on its TLS port only, every redis-cli
// of the probes and scripts verifies the server with the mounted CA, and the runtime connects over TLS with
// that CA; without TLS none of it appears.
func TestManagedRedisTLS(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas int32
		secret   string // certificateSecretRef
		wantName string
	}{
		{"single, generated", 1, "", "chat-redis-tls"},
		{"HA, generated", 3, "", "chat-redis-tls"},
		{"HA, user certificate", 3, "redis-cert", "redis-cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := cluster(func(rc *realtimev1alpha1.RealtimeCluster) {
				rc.Spec.Redis.Managed = &realtimev1alpha1.ManagedRedisSpec{Replicas: tc.replicas,
					TLS: &realtimev1alpha1.ManagedRedisTLSSpec{Enabled: true}}
				if tc.secret != "" {
					rc.Spec.Redis.Managed.TLS.CertificateSecretRef = &corev1.LocalObjectReference{Name: tc.secret}
				}
			})
			if got := RedisTLSSecretName(rc); got != tc.wantName {
				t.Fatalf("certificate Secret %q, want %q", got, tc.wantName)
			}
			if RedisTLSGenerated(rc) != (tc.secret == "") {
				t.Errorf("generated = %v", RedisTLSGenerated(rc))
			}
			d, err := BuildDesired(rc, testOptions)
			if err != nil {
				t.Fatal(err)
			}
			sets := []*appsv1.StatefulSet{d.RedisStatefulSet}
			if d.SentinelStatefulSet != nil {
				sets = append(sets, d.SentinelStatefulSet)
			}
			for _, sts := range sets {
				c := sts.Spec.Template.Spec.Containers[0]
				text := strings.Join(slices.Concat(c.Command, c.Args), " ")
				for _, want := range []string{"port 0", "tls-port", "tls-replication yes", "tls-cert-file " + RedisTLSDir} {
					if !strings.Contains(strings.ReplaceAll(text, "--", ""), want) {
						t.Errorf("%s: the start does not set %q", sts.Name, want)
					}
				}
				probes := strings.Join(c.ReadinessProbe.Exec.Command, " ") + " " + text
				if n, m := strings.Count(probes, "redis-cli"), strings.Count(probes, "redis-cli --tls --cacert "+RedisTLSDir+"/ca.crt"); n != m {
					t.Errorf("%s: %d of %d redis-cli calls without --tls --cacert", sts.Name, n-m, n)
				}
				mounted := false
				for _, v := range sts.Spec.Template.Spec.Volumes {
					mounted = mounted || v.Secret != nil && v.Secret.SecretName == tc.wantName
				}
				if !mounted {
					t.Errorf("%s does not mount Secret %s", sts.Name, tc.wantName)
				}
			}
			cfg := BuildRuntimeConfig(rc)
			if !cfg.Redis.TLS.Enabled || cfg.Redis.TLS.CAFile != RedisTLSDir+"/ca.crt" || cfg.Redis.TLS.InsecureSkipVerify {
				t.Errorf("runtime redis.tls %+v", cfg.Redis.TLS)
			}
			if tc.replicas == 1 && !strings.HasPrefix(cfg.Redis.URL, "rediss://") {
				t.Errorf("runtime redis.url %q", cfg.Redis.URL)
			}
		})
	}
	rc := cluster(func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Redis.Managed = &realtimev1alpha1.ManagedRedisSpec{Replicas: 3}
	})
	d, err := BuildDesired(rc, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, sts := range []*appsv1.StatefulSet{d.RedisStatefulSet, d.SentinelStatefulSet} {
		if text := strings.Join(sts.Spec.Template.Spec.Containers[0].Command, " "); strings.Contains(text, "tls") {
			t.Errorf("%s mentions TLS without it", sts.Name)
		}
	}
	if cfg := BuildRuntimeConfig(rc); cfg.Redis.TLS.Enabled {
		t.Error("runtime redis.tls enabled without TLS")
	}
}
