package specs

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// TestManagedRedisTopology: which children a managed Redis has with one pod and with replicas, and what the
// runtime is told to connect to.
func TestManagedRedisTopology(t *testing.T) {
	cases := []struct {
		name     string
		replicas int32
		ha       bool
		mode     string
	}{
		{"default: a single instance", 0, false, "standalone"},
		{"one replica is a single instance", 1, false, "standalone"},
		{"two: a primary, a replica and Sentinels", 2, true, "sentinel"},
		{"three", 3, true, "sentinel"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := cluster(func(rc *realtimev1alpha1.RealtimeCluster) {
				rc.Spec.Redis.Managed = &realtimev1alpha1.ManagedRedisSpec{Replicas: tc.replicas}
			})
			d, err := BuildDesired(rc, testOptions)
			if err != nil {
				t.Fatal(err)
			}
			want := max(tc.replicas, 1)
			if *d.RedisStatefulSet.Spec.Replicas != want || d.RedisStatefulSet.Spec.ServiceName != "chat-redis" {
				t.Errorf("redis statefulset replicas %d serviceName %s", *d.RedisStatefulSet.Spec.Replicas, d.RedisStatefulSet.Spec.ServiceName)
			}
			if got := d.SentinelStatefulSet != nil && d.SentinelService != nil && d.RedisPDB != nil && d.SentinelPDB != nil; got != tc.ha {
				t.Errorf("sentinel children present = %v, want %v", got, tc.ha)
			}
			if headless := d.RedisService.Spec.ClusterIP == corev1.ClusterIPNone; headless != tc.ha {
				t.Errorf("redis service headless = %v, want %v", headless, tc.ha)
			}
			cfg := BuildRuntimeConfig(rc).Redis
			if cfg.Mode != tc.mode || (RedisURL(rc) == "") != tc.ha || cfg.PasswordFile != RedisPasswordDir+"/"+RedisPasswordKey {
				t.Errorf("runtime redis config %+v, url %q", cfg, RedisURL(rc))
			}
			if hook := d.RedisStatefulSet.Spec.Template.Spec.Containers[0].Lifecycle; (hook != nil && hook.PreStop != nil) != tc.ha {
				t.Errorf("preStop hand-over present = %v, want %v", hook != nil, tc.ha)
			}
			if tc.ha && (cfg.SentinelMaster != "chat-redis" || len(cfg.Addresses) != 3 ||
				cfg.Addresses[2] != "chat-redis-sentinel-2.chat-redis-sentinel.apps.svc:26379") {
				t.Errorf("sentinel config %+v", cfg)
			}
		})
	}
}

// TestSentinelSettings: down-after and failover-timeout reach the Sentinel configuration, with the API
// defaults when unset.
func TestSentinelSettings(t *testing.T) {
	script := func(s *realtimev1alpha1.ManagedSentinelSpec) string {
		rc := cluster(func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Redis.Managed = &realtimev1alpha1.ManagedRedisSpec{Replicas: 3, Sentinel: s}
		})
		return sentinelStartScript(rc)
	}
	for _, tc := range []struct {
		spec *realtimev1alpha1.ManagedSentinelSpec
		want []string
	}{
		{nil, []string{"down-after-milliseconds chat-redis 5000\n", "failover-timeout chat-redis 60000\n"}},
		{&realtimev1alpha1.ManagedSentinelSpec{DownAfter: dur(2 * time.Second), FailoverTimeout: dur(time.Minute + 30*time.Second)},
			[]string{"down-after-milliseconds chat-redis 2000\n", "failover-timeout chat-redis 90000\n"}},
	} {
		s := script(tc.spec)
		for _, w := range append(tc.want, "sentinel monitor chat-redis $primary 6379 2\n", "sentinel resolve-hostnames yes\n",
			"sentinel announce-hostnames yes\n", "sentinel announce-ip $self\n") {
			if !strings.Contains(s, w) {
				t.Errorf("sentinel script lacks %q", w)
			}
		}
	}
}

// kubeletVar is a $(VAR) reference the kubelet expands from the environment into a command line.
var kubeletVar = regexp.MustCompile(`\$\([A-Z_][A-Z0-9_]*\)`)

// TestRedisPasswordOnlyAsAFile: no managed Redis container gets the password from the environment or on its
// command line, and redis-cli never gets -a; the password reaches the pods as the mounted Secret.
func TestRedisPasswordOnlyAsAFile(t *testing.T) {
	for _, replicas := range []int32{1, 3} {
		rc := cluster(func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Redis.Managed = &realtimev1alpha1.ManagedRedisSpec{Replicas: replicas}
		})
		d, err := BuildDesired(rc, testOptions)
		if err != nil {
			t.Fatal(err)
		}
		templates := []corev1.PodTemplateSpec{d.RedisStatefulSet.Spec.Template, d.Deployment.Spec.Template}
		if d.SentinelStatefulSet != nil {
			templates = append(templates, d.SentinelStatefulSet.Spec.Template)
		}
		for _, tpl := range templates {
			mounted := false
			for _, v := range tpl.Spec.Volumes {
				mounted = mounted || v.Secret != nil && v.Secret.SecretName == "chat-redis"
			}
			if !mounted {
				t.Errorf("replicas %d: a pod template does not mount the password Secret", replicas)
			}
			for _, c := range tpl.Spec.Containers {
				for _, e := range c.Env {
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
						t.Errorf("replicas %d: container %s: env %s from a Secret", replicas, c.Name, e.Name)
					}
				}
				args := slices.Concat(c.Command, c.Args)
				if p := c.ReadinessProbe; p != nil && p.Exec != nil {
					args = append(args, p.Exec.Command...)
				}
				for _, a := range args {
					if a == "-a" || strings.Contains(a, " -a ") || strings.Contains(a, "requirepass $") || kubeletVar.MatchString(a) {
						t.Errorf("replicas %d: container %s: password on a command line: %q", replicas, c.Name, a)
					}
				}
			}
		}
	}
	if got := RedisAuthConf("0a1b"); got != "requirepass \"0a1b\"\nmasterauth \"0a1b\"\n" {
		t.Errorf("auth.conf %q", got)
	}
}
