package envtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// runtimeRedisConfig reads the redis block of the runtime config file the operator wrote.
func runtimeRedisConfig(cm *corev1.ConfigMap) (*specs.RuntimeRedisConfig, error) {
	cfg := specs.RuntimeConfig{}
	if err := yaml.UnmarshalStrict([]byte(cm.Data[specs.ConfigFileName]), &cfg); err != nil {
		return nil, err
	}
	if cfg.Redis == nil {
		return nil, errors.New("no redis block")
	}
	return cfg.Redis, nil
}

// gone waits until the object named name of obj's kind no longer exists.
func gone(t *testing.T, obj client.Object, ns, name string) {
	t.Helper()
	apiPoll().NoError(t, fmt.Sprintf("%T %s deleted", obj, name), func() error {
		err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still present (err=%v)", err)
	})
}

// simulateStatefulSetReady writes a StatefulSet status with ready pods on the current revision.
func simulateStatefulSetReady(t *testing.T, ns, name string, ready int32) {
	t.Helper()
	apiPoll().NoError(t, "write statefulset status "+name, func() error {
		s := &appsv1.StatefulSet{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
			return err
		}
		s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: *s.Spec.Replicas,
			ReadyReplicas: ready, UpdatedReplicas: *s.Spec.Replicas, AvailableReplicas: ready}
		return k8s.Status().Update(context.Background(), s)
	})
}

// noPasswordInTemplate checks that no container of a pod template receives the managed Redis password
// through an environment variable or on its command line: it comes only as a mounted file.
func noPasswordInTemplate(tpl corev1.PodTemplateSpec, secret, password string) error {
	for _, c := range tpl.Spec.Containers {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == secret {
				return fmt.Errorf("container %s: env %s from Secret %s", c.Name, e.Name, secret)
			}
			if strings.Contains(e.Value, password) {
				return fmt.Errorf("container %s: env %s holds the password", c.Name, e.Name)
			}
		}
		for _, a := range slices.Concat(c.Command, c.Args) {
			if strings.Contains(a, password) {
				return fmt.Errorf("container %s: command line %q", c.Name, a)
			}
		}
		if p := c.ReadinessProbe; p != nil && p.Exec != nil && slices.Contains(p.Exec.Command, "-a") {
			return fmt.Errorf("container %s: probe passes the password with -a", c.Name)
		}
	}
	return nil
}

// TestManagedRedisHA turns a cluster's single managed Redis into a primary with two replicas and three
// Sentinels and back: the Sentinel objects and PodDisruptionBudgets come and go, the Redis Service is
// recreated headless and ClusterIP again (its clusterIP cannot change in place), the runtime config switches
// between sentinel and standalone mode, the password reaches every pod as a file only, and RedisReady needs a
// ready Redis pod and a quorum of ready Sentinels.
func TestManagedRedisHA(t *testing.T) {
	ns := newNamespace(t)
	// A Secret left by an operator version that did not write auth.conf: the password is kept and
	// auth.conf added.
	legacy := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "chat-redis", Namespace: ns,
		Labels: map[string]string{specs.LabelManagedBy: specs.ManagerName}},
		Data: map[string][]byte{specs.RedisPasswordKey: []byte("0123abcd")}}
	if err := k8s.Create(context.Background(), legacy); err != nil {
		t.Fatal(err)
	}
	createCluster(t, ns, "chat", "redis: {adapter: streams, managed: {}}")
	waitFor(t, &corev1.Secret{}, ns, "chat-redis", func(s *corev1.Secret) error {
		if string(s.Data[specs.RedisPasswordKey]) != "0123abcd" || string(s.Data[specs.RedisAuthConfKey]) != specs.RedisAuthConf("0123abcd") {
			return fmt.Errorf("secret data %q", s.Data)
		}
		return nil
	})
	waitFor(t, &corev1.Service{}, ns, "chat-redis", func(s *corev1.Service) error {
		if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone {
			return fmt.Errorf("single-instance Redis Service clusterIP %q, want an address", s.Spec.ClusterIP)
		}
		return nil
	})
	waitFor(t, &appsv1.StatefulSet{}, ns, "chat-redis", func(s *appsv1.StatefulSet) error {
		return noPasswordInTemplate(s.Spec.Template, "chat-redis", "0123abcd")
	})

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Redis.Managed.Replicas = 3
		rc.Spec.Redis.Managed.Sentinel = &realtimev1alpha1.ManagedSentinelSpec{}
	})
	rc := getCluster(t, ns, "chat")
	if s := rc.Spec.Redis.Managed.Sentinel; s.DownAfter.Duration != realtimev1alpha1.DefaultSentinelDownAfter ||
		s.FailoverTimeout.Duration != realtimev1alpha1.DefaultSentinelFailoverTimeout {
		t.Errorf("sentinel defaults %+v", s)
	}
	redisSts := waitFor(t, &appsv1.StatefulSet{}, ns, "chat-redis", func(s *appsv1.StatefulSet) error {
		switch {
		case *s.Spec.Replicas != 3:
			return fmt.Errorf("replicas %d", *s.Spec.Replicas)
		case s.Spec.Template.Spec.Affinity == nil || s.Spec.Template.Spec.Affinity.PodAntiAffinity == nil:
			return errors.New("no pod anti-affinity")
		}
		return noPasswordInTemplate(s.Spec.Template, "chat-redis", "0123abcd")
	})
	assertOwned(t, redisSts, rc)
	waitFor(t, &corev1.Service{}, ns, "chat-redis", func(s *corev1.Service) error {
		if s.Spec.ClusterIP != corev1.ClusterIPNone || !s.Spec.PublishNotReadyAddresses {
			return fmt.Errorf("Redis Service clusterIP %q publishNotReadyAddresses %v, want headless publishing every pod",
				s.Spec.ClusterIP, s.Spec.PublishNotReadyAddresses)
		}
		return nil
	})
	sentinel := waitFor(t, &appsv1.StatefulSet{}, ns, "chat-redis-sentinel", func(s *appsv1.StatefulSet) error {
		if *s.Spec.Replicas != 3 || s.Spec.ServiceName != "chat-redis-sentinel" {
			return fmt.Errorf("replicas %d serviceName %s", *s.Spec.Replicas, s.Spec.ServiceName)
		}
		return noPasswordInTemplate(s.Spec.Template, "chat-redis", "0123abcd")
	})
	assertOwned(t, sentinel, rc)
	waitFor(t, &corev1.Service{}, ns, "chat-redis-sentinel", func(s *corev1.Service) error {
		if s.Spec.ClusterIP != corev1.ClusterIPNone {
			return fmt.Errorf("Sentinel Service clusterIP %q", s.Spec.ClusterIP)
		}
		return nil
	})
	for _, name := range []string{"chat-redis", "chat-redis-sentinel"} {
		pdb := waitFor(t, &policyv1.PodDisruptionBudget{}, ns, name, func(p *policyv1.PodDisruptionBudget) error {
			if p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.IntValue() != 1 {
				return fmt.Errorf("maxUnavailable %v", p.Spec.MaxUnavailable)
			}
			return nil
		})
		assertOwned(t, pdb, rc)
	}
	waitFor(t, &corev1.ConfigMap{}, ns, "chat-config", func(cm *corev1.ConfigMap) error {
		r, err := runtimeRedisConfig(cm)
		if err != nil {
			return err
		}
		want := []string{"chat-redis-sentinel-0.chat-redis-sentinel." + ns + ".svc:26379",
			"chat-redis-sentinel-1.chat-redis-sentinel." + ns + ".svc:26379", "chat-redis-sentinel-2.chat-redis-sentinel." + ns + ".svc:26379"}
		if r.Mode != "sentinel" || r.URL != "" || r.SentinelMaster != "chat-redis" || !slices.Equal(r.Addresses, want) ||
			r.PasswordFile != specs.RedisPasswordDir+"/"+specs.RedisPasswordKey {
			return fmt.Errorf("runtime redis config %+v", r)
		}
		return nil
	})
	waitFor(t, &appsv1.Deployment{}, ns, "chat", func(d *appsv1.Deployment) error {
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "SOCKETFLEET_REDIS_URL" {
				return fmt.Errorf("SOCKETFLEET_REDIS_URL %q in sentinel mode", e.Value)
			}
		}
		return noPasswordInTemplate(d.Spec.Template, "chat-redis", "0123abcd")
	})

	// RedisReady: a ready Redis pod is not enough without a quorum of Sentinels.
	simulateStatefulSetReady(t, ns, "chat-redis", 3)
	simulateStatefulSetReady(t, ns, "chat-redis-sentinel", 1)
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		return conditionIs(rc, realtimev1alpha1.ConditionRedisReady, metav1.ConditionFalse, controllers.ReasonRedisNotReady)
	})
	simulateStatefulSetReady(t, ns, "chat-redis-sentinel", 2)
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		return conditionIs(rc, realtimev1alpha1.ConditionRedisReady, metav1.ConditionTrue, controllers.ReasonAvailable)
	})

	// Back to a single instance.
	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Redis.Managed.Replicas = 1
		rc.Spec.Redis.Managed.Sentinel = nil
	})
	gone(t, &appsv1.StatefulSet{}, ns, "chat-redis-sentinel")
	gone(t, &corev1.Service{}, ns, "chat-redis-sentinel")
	gone(t, &policyv1.PodDisruptionBudget{}, ns, "chat-redis-sentinel")
	gone(t, &policyv1.PodDisruptionBudget{}, ns, "chat-redis")
	waitFor(t, &corev1.Service{}, ns, "chat-redis", func(s *corev1.Service) error {
		if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone {
			return fmt.Errorf("clusterIP %q, want an address again", s.Spec.ClusterIP)
		}
		return nil
	})
	waitFor(t, &corev1.ConfigMap{}, ns, "chat-config", func(cm *corev1.ConfigMap) error {
		r, err := runtimeRedisConfig(cm)
		if err != nil {
			return err
		}
		if r.Mode != "standalone" || r.URL != "redis://chat-redis."+ns+".svc:6379/0" {
			return fmt.Errorf("runtime redis config %+v", r)
		}
		return nil
	})
	waitFor(t, &appsv1.StatefulSet{}, ns, "chat-redis", func(s *appsv1.StatefulSet) error {
		if *s.Spec.Replicas != 1 {
			return fmt.Errorf("replicas %d", *s.Spec.Replicas)
		}
		return nil
	})
	apiPoll().NoError(t, "event of the headless Service replaced", func() error {
		return hasEvent(ns, controllers.EventDeleted, "Service chat-redis", "headless")
	})
}
