package specs

import (
	"reflect"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

func cluster(mutate func(*realtimev1alpha1.RealtimeCluster)) *realtimev1alpha1.RealtimeCluster {
	rc := &realtimev1alpha1.RealtimeCluster{ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: "apps"}}
	if mutate != nil {
		mutate(rc)
	}
	rc.SetDefaults()
	return rc
}

func dur(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }

func TestTerminationGracePeriodSeconds(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*realtimev1alpha1.RealtimeCluster)
		want   int64
	}{
		{"defaults: 5s preStop + 60s window + 10s", nil, 75},
		{"custom window and delay", func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Drain.Window = dur(2 * time.Minute)
			d := dur(15 * time.Second)
			rc.Spec.Drain.PreStopDelay = &d
		}, 145},
		{"no preStop", func(rc *realtimev1alpha1.RealtimeCluster) {
			d := dur(0)
			rc.Spec.Drain.PreStopDelay = &d
		}, 70},
		{"fractional seconds round up", func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Drain.Window = dur(1500 * time.Millisecond)
		}, 5 + 2 + 10},
		{"explicit override", func(rc *realtimev1alpha1.RealtimeCluster) {
			g := dur(5 * time.Minute)
			rc.Spec.Drain.TerminationGracePeriod = &g
		}, 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := TerminationGracePeriodSeconds(cluster(tc.mutate)); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestRedisURLAndEndpoint(t *testing.T) {
	cases := []struct {
		name         string
		mutate       func(*realtimev1alpha1.RealtimeCluster)
		wantURL      string
		wantEndpoint string
	}{
		{"managed", nil, "redis://chat-redis.apps.svc:6379/0", "http://chat.apps.svc:3000/socket.io/"},
		{"external standalone with TLS", func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Redis.External = &realtimev1alpha1.ExternalRedisSpec{Addresses: []string{"r:6380"}, Database: 3,
				TLS: &realtimev1alpha1.RedisTLSSpec{}}
		}, "rediss://r:6380/3", "http://chat.apps.svc:3000/socket.io/"},
		{"external sentinel has no URL", func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Redis.External = &realtimev1alpha1.ExternalRedisSpec{Mode: realtimev1alpha1.RedisModeSentinel,
				Addresses: []string{"s:26379"}, SentinelMasterName: "m"}
		}, "", "http://chat.apps.svc:3000/socket.io/"},
		{"ingress with TLS and custom path", func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Runtime.Path = "/rt/"
			rc.Spec.Ingress = realtimev1alpha1.IngressSpec{Enabled: true, Hosts: []string{"a.example.com"}, TLSSecretName: "tls"}
		}, "redis://chat-redis.apps.svc:6379/0", "https://a.example.com/rt/"},
		{"ingress disabled ignores hosts", func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Ingress = realtimev1alpha1.IngressSpec{Hosts: []string{"a.example.com"}}
		}, "redis://chat-redis.apps.svc:6379/0", "http://chat.apps.svc:3000/socket.io/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := cluster(tc.mutate)
			if got := RedisURL(rc); got != tc.wantURL {
				t.Errorf("RedisURL = %q, want %q", got, tc.wantURL)
			}
			if got := Endpoint(rc); got != tc.wantEndpoint {
				t.Errorf("Endpoint = %q, want %q", got, tc.wantEndpoint)
			}
		})
	}
}

// TestRuntimeRedisAdapter checks redis.adapter and redis.streams of the runtime config: the adapter is always
// written, the streams block only with the streams adapter, complete even when spec.redis.streams is absent or
// was not defaulted by an API server.
func TestRuntimeRedisAdapter(t *testing.T) {
	defaultStreams := &RuntimeRedisStreamsConfig{StreamName: "socket.io", StreamCount: 1, MaxLen: 10000,
		SessionKeyPrefix: "sio:session:"}
	cases := []struct {
		name        string
		rc          *realtimev1alpha1.RealtimeCluster
		wantAdapter string
		wantStreams *RuntimeRedisStreamsConfig
	}{
		{"default is streams", cluster(nil), "streams", defaultStreams},
		{"classic", cluster(func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Redis.Managed = &realtimev1alpha1.ManagedRedisSpec{}
			rc.Spec.Redis.Adapter = realtimev1alpha1.RedisAdapterClassic
		}), "classic", nil},
		{"sharded", cluster(func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Redis.Managed = &realtimev1alpha1.ManagedRedisSpec{}
			rc.Spec.Redis.Adapter = realtimev1alpha1.RedisAdapterSharded
		}), "sharded", nil},
		{"streams without a streams block", cluster(func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Redis.Managed = &realtimev1alpha1.ManagedRedisSpec{}
			rc.Spec.Redis.Adapter = realtimev1alpha1.RedisAdapterStreams
		}), "streams", defaultStreams},
		{"streams with an empty block", cluster(func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Redis.Managed = &realtimev1alpha1.ManagedRedisSpec{}
			rc.Spec.Redis.Adapter = realtimev1alpha1.RedisAdapterStreams
			rc.Spec.Redis.Streams = &realtimev1alpha1.RedisStreamsSpec{}
		}), "streams", defaultStreams},
		{"streams block not defaulted by an API server", &realtimev1alpha1.RealtimeCluster{
			Spec: realtimev1alpha1.RealtimeClusterSpec{Redis: realtimev1alpha1.RedisSpec{
				Managed: &realtimev1alpha1.ManagedRedisSpec{},
				Adapter: realtimev1alpha1.RedisAdapterStreams,
				Streams: &realtimev1alpha1.RedisStreamsSpec{MaxLen: 500},
			}},
		}, "streams", &RuntimeRedisStreamsConfig{StreamName: "socket.io", StreamCount: 1, MaxLen: 500,
			SessionKeyPrefix: "sio:session:"}},
		{"streams on external redis, every field set", cluster(func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Redis.External = &realtimev1alpha1.ExternalRedisSpec{Addresses: []string{"r:6379"}}
			rc.Spec.Redis.Adapter = realtimev1alpha1.RedisAdapterStreams
			rc.Spec.Redis.Streams = &realtimev1alpha1.RedisStreamsSpec{StreamName: "chat", StreamCount: 4,
				MaxLen: 50000, SessionKeyPrefix: "chat:session:", UseShardedPubSub: true}
		}), "streams", &RuntimeRedisStreamsConfig{StreamName: "chat", StreamCount: 4, MaxLen: 50000,
			SessionKeyPrefix: "chat:session:", UseShardedPubSub: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := BuildRuntimeConfig(tc.rc).Redis
			if got == nil {
				t.Fatal("no redis block")
			}
			if got.Adapter != tc.wantAdapter {
				t.Errorf("adapter = %q, want %q", got.Adapter, tc.wantAdapter)
			}
			if !reflect.DeepEqual(got.Streams, tc.wantStreams) {
				t.Errorf("streams = %+v, want %+v", got.Streams, tc.wantStreams)
			}
		})
	}
}

// TestRuntimeRecovery checks the connectionStateRecovery block of the runtime config where the spec leaves it
// unset: on with the streams adapter (the default), off with classic and sharded, and maxDisconnectionDuration
// derived as max(2m, preStopDelay + drain window + 30s).
func TestRuntimeRecovery(t *testing.T) {
	adapter := func(a realtimev1alpha1.RedisAdapter) func(*realtimev1alpha1.RealtimeCluster) {
		return func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Redis = realtimev1alpha1.RedisSpec{Managed: &realtimev1alpha1.ManagedRedisSpec{}, Adapter: a}
		}
	}
	drain := func(preStop, window time.Duration) func(*realtimev1alpha1.RealtimeCluster) {
		return func(rc *realtimev1alpha1.RealtimeCluster) {
			p := dur(preStop)
			rc.Spec.Drain.PreStopDelay, rc.Spec.Drain.Window = &p, dur(window)
		}
	}
	no, yes := false, true
	cases := []struct {
		name        string
		rc          *realtimev1alpha1.RealtimeCluster
		wantEnabled bool
		wantMax     string
		wantDerived bool
	}{
		{"defaults: streams, on, 5s + 60s + 30s below the 2m floor", cluster(nil), true, "2m0s", true},
		{"classic alone: off", cluster(adapter(realtimev1alpha1.RedisAdapterClassic)), false, "2m0s", true},
		{"sharded alone: off", cluster(adapter(realtimev1alpha1.RedisAdapterSharded)), false, "2m0s", true},
		{"streams, explicitly off", cluster(func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Runtime.ConnectionStateRecovery.Enabled = &no
		}), false, "2m0s", true},
		{"streams, explicitly on", cluster(func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Runtime.ConnectionStateRecovery.Enabled = &yes
		}), true, "2m0s", true},
		{"long drain: 10s + 5m + 30s", cluster(drain(10*time.Second, 5*time.Minute)), true, "5m40s", true},
		{"no preStop: 0s + 100s + 30s", cluster(drain(0, 100*time.Second)), true, "2m10s", true},
		{"explicit duration", cluster(func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Runtime.ConnectionStateRecovery.MaxDisconnectionDuration = &metav1.Duration{Duration: 10 * time.Minute}
		}), true, "10m0s", false},
		{"spec not defaulted by an API server: 5s preStop + 2m + 30s", &realtimev1alpha1.RealtimeCluster{
			Spec: realtimev1alpha1.RealtimeClusterSpec{
				Redis: realtimev1alpha1.RedisSpec{Managed: &realtimev1alpha1.ManagedRedisSpec{}},
				Drain: realtimev1alpha1.DrainSpec{Window: dur(2 * time.Minute)},
			},
		}, true, "2m35s", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := BuildRuntimeConfig(tc.rc).ConnectionStateRecovery
			if got.Enabled != tc.wantEnabled || got.MaxDisconnectionDuration != tc.wantMax {
				t.Errorf("connectionStateRecovery = %+v, want enabled %v, maxDisconnectionDuration %s", got, tc.wantEnabled, tc.wantMax)
			}
			if eff := tc.rc.Spec.EffectiveRecovery(); eff.Derived != tc.wantDerived {
				t.Errorf("derived = %v, want %v", eff.Derived, tc.wantDerived)
			}
		})
	}
}

func TestConfigHashFollowsConfiguration(t *testing.T) {
	hash := func(mutate func(*realtimev1alpha1.RealtimeCluster)) string {
		_, h, err := BuildConfigMap(cluster(mutate))
		if err != nil {
			t.Fatalf("BuildConfigMap: %v", err)
		}
		return h
	}
	base := hash(nil)
	if base != hash(nil) {
		t.Fatal("config hash is not deterministic")
	}
	changes := map[string]func(*realtimev1alpha1.RealtimeCluster){
		"ping interval": func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Runtime.PingInterval = dur(10 * time.Second) },
		"cors origins":  func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Runtime.CORS.Origins = []string{"https://x"} },
		"drain window":  func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Drain.Window = dur(time.Minute + time.Second) },
		// spec.redis changes keep a managed Redis: a spec.redis without managed or external has no Redis at all
		"key prefix": func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Redis = realtimev1alpha1.RedisSpec{Managed: &realtimev1alpha1.ManagedRedisSpec{}, KeyPrefix: "other"}
		},
		"adapter": func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Redis = realtimev1alpha1.RedisSpec{Managed: &realtimev1alpha1.ManagedRedisSpec{},
				Adapter: realtimev1alpha1.RedisAdapterSharded}
		},
	}
	for name, mutate := range changes {
		if hash(mutate) == base {
			t.Errorf("changing %s does not change the config hash", name)
		}
	}
	streams := func(s *realtimev1alpha1.RedisStreamsSpec) func(*realtimev1alpha1.RealtimeCluster) {
		return func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Redis = realtimev1alpha1.RedisSpec{Managed: &realtimev1alpha1.ManagedRedisSpec{},
				Adapter: realtimev1alpha1.RedisAdapterStreams, Streams: s}
		}
	}
	if hash(streams(&realtimev1alpha1.RedisStreamsSpec{MaxLen: 500})) == hash(streams(nil)) {
		t.Error("changing spec.redis.streams.maxLen does not change the config hash")
	}
	// Fields that are not runtime configuration leave the hash alone (no needless rollouts).
	if hash(func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Replicas = new(int32(7)) }) != base {
		t.Error("changing replicas changes the config hash")
	}
}

func TestObjectsSkipAbsentChildren(t *testing.T) {
	rc := cluster(func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Redis.External = &realtimev1alpha1.ExternalRedisSpec{Addresses: []string{"r:6379"}}
	})
	d, err := BuildDesired(rc, BuildOptions{DefaultImage: "img"})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range d.Objects() {
		kinds[o.GetObjectKind().GroupVersionKind().Kind]++
	}
	want := map[string]int{"ConfigMap": 1, "ServiceAccount": 1, "Deployment": 1, "Service": 2, "PodDisruptionBudget": 1,
		"NetworkPolicy": 1}
	if len(kinds) != len(want) {
		t.Errorf("kinds = %v, want %v", kinds, want)
	}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s objects, want %d", kinds[k], k, n)
		}
	}
}

func TestNetworkPolicies(t *testing.T) {
	monitoring := networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{LabelNamespaceName: "monitoring"}}}
	cases := []struct {
		name        string
		mutate      func(*realtimev1alpha1.RealtimeCluster)
		opts        BuildOptions
		wantRuntime bool
		wantAdmin   int // peers admitted to the admin port (0: no admin rule at all)
		wantRedis   bool
	}{
		{"defaults: on, operator namespace and the forwarding pods admitted", nil, testOptions, true, 2, true},
		{"adminFrom adds peers", func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.NetworkPolicy.AdminFrom = []networkingv1.NetworkPolicyPeer{monitoring}
		}, testOptions, true, 3, true},
		{"stickiness cookie: the pods still forward, pod peer admitted", func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Ingress.Stickiness = realtimev1alpha1.IngressStickinessCookie
		}, testOptions, true, 2, true},
		{"operator outside the cluster, no adminFrom: the forwarding pods only", nil, BuildOptions{}, true, 1, true},
		{"external Redis: no Redis policy", func(rc *realtimev1alpha1.RealtimeCluster) {
			rc.Spec.Redis = realtimev1alpha1.RedisSpec{External: &realtimev1alpha1.ExternalRedisSpec{Addresses: []string{"r:6379"}}}
		}, testOptions, true, 2, false},
		{"disabled", func(rc *realtimev1alpha1.RealtimeCluster) {
			no := false
			rc.Spec.NetworkPolicy.Enabled = &no
		}, testOptions, false, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := cluster(tc.mutate)
			rt, redis := BuildRuntimeNetworkPolicy(rc, tc.opts), BuildRedisNetworkPolicy(rc)
			if (rt != nil) != tc.wantRuntime || (redis != nil) != tc.wantRedis {
				t.Fatalf("runtime policy %v, Redis policy %v; want %v, %v", rt != nil, redis != nil, tc.wantRuntime, tc.wantRedis)
			}
			if rt == nil {
				return
			}
			public := rt.Spec.Ingress[0]
			if len(public.From) != 0 || public.Ports[0].Port.IntVal != PublicPort {
				t.Errorf("public rule %+v, want port %d from anywhere", public, PublicPort)
			}
			admin := 0
			if len(rt.Spec.Ingress) > 1 {
				rule := rt.Spec.Ingress[1]
				if rule.Ports[0].Port.IntVal != AdminPort || len(rule.From) == 0 {
					t.Errorf("admin rule %+v", rule)
				}
				admin = len(rule.From)
			}
			if admin != tc.wantAdmin {
				t.Errorf("admin port admits %d peers, want %d", admin, tc.wantAdmin)
			}
		})
	}
}
