package envtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
)

// conditionIs returns nil when rc has the condition with the status and reason, for the current generation.
func conditionIs(rc *realtimev1alpha1.RealtimeCluster, condType string, status metav1.ConditionStatus, reason string) error {
	c := meta.FindStatusCondition(rc.Status.Conditions, condType)
	switch {
	case c == nil:
		return fmt.Errorf("no %s condition", condType)
	case c.Status != status || (reason != "" && c.Reason != reason):
		return fmt.Errorf("%s = %s/%s (%s), want %s/%s", condType, c.Status, c.Reason, c.Message, status, reason)
	case c.ObservedGeneration != rc.Generation:
		return fmt.Errorf("%s observedGeneration %d, generation %d", condType, c.ObservedGeneration, rc.Generation)
	case rc.Status.ObservedGeneration != rc.Generation:
		return fmt.Errorf("status.observedGeneration %d, generation %d", rc.Status.ObservedGeneration, rc.Generation)
	}
	return nil
}

// simulateDeploymentStatus plays the Deployment controller: it writes status for the current generation.
func simulateDeploymentStatus(t *testing.T, ns, name string, replicas, updated, ready, available int32) {
	t.Helper()
	apiPoll().NoError(t, "write deployment status", func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, d); err != nil {
			return err
		}
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation,
			Replicas:           replicas,
			UpdatedReplicas:    updated,
			ReadyReplicas:      ready,
			AvailableReplicas:  available,
		}
		return k8s.Status().Update(context.Background(), d)
	})
}

func simulateRedisReady(t *testing.T, ns, name string) {
	t.Helper()
	apiPoll().NoError(t, "write redis statefulset status", func() error {
		s := &appsv1.StatefulSet{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
			return err
		}
		s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: 1, ReadyReplicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}
		return k8s.Status().Update(context.Background(), s)
	})
}

func waitCluster(t *testing.T, ns, name string, check func(*realtimev1alpha1.RealtimeCluster) error) *realtimev1alpha1.RealtimeCluster {
	t.Helper()
	return waitFor(t, &realtimev1alpha1.RealtimeCluster{}, ns, name, check)
}

// TestStatusTracksChildren walks a cluster through creation, readiness, a rollout and a stuck rollout,
// playing the Deployment and StatefulSet controllers by writing their status.
func TestStatusTracksChildren(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "replicas: 3\n")

	// Nothing is ready yet.
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if err := conditionIs(rc, realtimev1alpha1.ConditionReady, metav1.ConditionFalse, controllers.ReasonPodsNotReady); err != nil {
			return err
		}
		if err := conditionIs(rc, realtimev1alpha1.ConditionRedisReady, metav1.ConditionFalse, ""); err != nil {
			return err
		}
		if err := conditionIs(rc, realtimev1alpha1.ConditionProgressing, metav1.ConditionTrue, controllers.ReasonRollingOut); err != nil {
			return err
		}
		return conditionIs(rc, realtimev1alpha1.ConditionDegraded, metav1.ConditionFalse, controllers.ReasonAsExpected)
	})
	rc := getCluster(t, ns, "chat")
	wantSelector := "app.kubernetes.io/component=runtime,app.kubernetes.io/instance=chat,app.kubernetes.io/name=socketfleet"
	if rc.Status.Selector != wantSelector {
		t.Errorf("status.selector = %q, want %q", rc.Status.Selector, wantSelector)
	}
	if want := "http://chat." + ns + ".svc:3000/socket.io/"; rc.Status.Endpoint != want {
		t.Errorf("status.endpoint = %q, want %q", rc.Status.Endpoint, want)
	}

	// Pods become ready, Redis too.
	simulateDeploymentStatus(t, ns, "chat", 3, 3, 3, 3)
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if rc.Status.ReadyReplicas != 3 {
			return fmt.Errorf("readyReplicas %d", rc.Status.ReadyReplicas)
		}
		return conditionIs(rc, realtimev1alpha1.ConditionReady, metav1.ConditionFalse, controllers.ReasonRedisNotReady)
	})
	simulateRedisReady(t, ns, "chat-redis")
	ready := waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if err := conditionIs(rc, realtimev1alpha1.ConditionRedisReady, metav1.ConditionTrue, controllers.ReasonAvailable); err != nil {
			return err
		}
		if err := conditionIs(rc, realtimev1alpha1.ConditionProgressing, metav1.ConditionFalse, controllers.ReasonComplete); err != nil {
			return err
		}
		return conditionIs(rc, realtimev1alpha1.ConditionReady, metav1.ConditionTrue, controllers.ReasonAvailable)
	})
	if ready.Status.Replicas != 3 || ready.Status.UpdatedReplicas != 3 {
		t.Errorf("status replicas %d updated %d, want 3/3", ready.Status.Replicas, ready.Status.UpdatedReplicas)
	}
	readySince := meta.FindStatusCondition(ready.Status.Conditions, realtimev1alpha1.ConditionReady).LastTransitionTime

	// A spec change bumps the generation: observedGeneration follows, and the rollout is Progressing while
	// the old pods keep the fleet Ready (maxUnavailable 0).
	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Image = "registry.example.com/runtime:v2" })
	simulateDeploymentStatus(t, ns, "chat", 4, 1, 4, 4)
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if rc.Generation < 2 {
			return fmt.Errorf("generation %d", rc.Generation)
		}
		if err := conditionIs(rc, realtimev1alpha1.ConditionProgressing, metav1.ConditionTrue, controllers.ReasonRollingOut); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(rc.Status.Conditions, realtimev1alpha1.ConditionReady); !c.LastTransitionTime.Equal(&readySince) {
			return fmt.Errorf("Ready lastTransitionTime moved from %v to %v without a status change (now %s/%s: %s; conditions %+v)", readySince, c.LastTransitionTime, c.Status, c.Reason, c.Message, rc.Status.Conditions)
		}
		return conditionIs(rc, realtimev1alpha1.ConditionReady, metav1.ConditionTrue, controllers.ReasonAvailable)
	})

	// The rollout gets stuck: Degraded.
	apiPoll().NoError(t, "mark deployment progress deadline exceeded", func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "chat"}, d); err != nil {
			return err
		}
		d.Status.Conditions = []appsv1.DeploymentCondition{{
			Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
			Message: "ReplicaSet has timed out progressing", LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}}
		return k8s.Status().Update(context.Background(), d)
	})
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if err := conditionIs(rc, realtimev1alpha1.ConditionDegraded, metav1.ConditionTrue, controllers.ReasonDeadlineExceeded); err != nil {
			return err
		}
		return conditionIs(rc, realtimev1alpha1.ConditionProgressing, metav1.ConditionFalse, controllers.ReasonDeadlineExceeded)
	})

	// Scaled to zero: not Ready.
	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Replicas = ptr(int32(0)) })
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		return conditionIs(rc, realtimev1alpha1.ConditionReady, metav1.ConditionFalse, controllers.ReasonScaledToZero)
	})
}

// TestScaleSubresource drives replicas through /scale, as kubectl scale, HPA and KEDA do.
func TestScaleSubresource(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "replicas: 2\n")
	waitFor(t, &appsv1.Deployment{}, ns, "chat", nil)
	simulateDeploymentStatus(t, ns, "chat", 2, 2, 2, 2)
	rc := waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if rc.Status.Replicas != 2 {
			return fmt.Errorf("status.replicas %d", rc.Status.Replicas)
		}
		return nil
	})

	scale := &autoscalingv1.Scale{}
	if err := k8s.SubResource("scale").Get(context.Background(), rc, scale); err != nil {
		t.Fatalf("get /scale: %v", err)
	}
	if scale.Spec.Replicas != 2 || scale.Status.Replicas != 2 {
		t.Errorf("scale = spec %d status %d, want 2/2", scale.Spec.Replicas, scale.Status.Replicas)
	}
	if scale.Status.Selector != rc.Status.Selector || scale.Status.Selector == "" {
		t.Errorf("scale selector %q, want status.selector %q", scale.Status.Selector, rc.Status.Selector)
	}

	scale.Spec.Replicas = 5
	if err := k8s.SubResource("scale").Update(context.Background(), rc, client.WithSubResourceBody(scale)); err != nil {
		t.Fatalf("update /scale: %v", err)
	}
	if got := getCluster(t, ns, "chat"); got.Spec.Replicas == nil || *got.Spec.Replicas != 5 {
		t.Fatalf("spec.replicas after /scale = %v, want 5", got.Spec.Replicas)
	}
	waitFor(t, &appsv1.Deployment{}, ns, "chat", func(d *appsv1.Deployment) error {
		if *d.Spec.Replicas != 5 {
			return fmt.Errorf("deployment replicas %d", *d.Spec.Replicas)
		}
		return nil
	})
}

// TestIngressFlavoursAndRemoval enables each ingress flavour in turn with stickiness cookie, checks where its
// sticky settings land, turns stickiness off (the sticky settings go, forwarding is configured), then disables
// the ingress and expects the Ingress to be deleted and the Service annotations gone.
func TestIngressFlavoursAndRemoval(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", `
ingress:
  enabled: true
  stickiness: cookie
  controller: nginx
  hosts: [chat.example.com]
  tlsSecretName: chat-tls
`)
	waitFor(t, &networkingv1.Ingress{}, ns, "chat", func(i *networkingv1.Ingress) error {
		if i.Annotations["nginx.ingress.kubernetes.io/affinity"] != "cookie" ||
			i.Annotations["nginx.ingress.kubernetes.io/affinity-mode"] != "persistent" ||
			i.Annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] != "3600" {
			return fmt.Errorf("nginx annotations missing: %v", i.Annotations)
		}
		return nil
	})
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if rc.Status.Endpoint != "https://chat.example.com/socket.io/" {
			return fmt.Errorf("endpoint %q", rc.Status.Endpoint)
		}
		return nil
	})

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Ingress.Controller = realtimev1alpha1.IngressControllerTraefik
	})
	waitFor(t, &corev1.Service{}, ns, "chat", func(s *corev1.Service) error {
		if s.Annotations["traefik.ingress.kubernetes.io/service.sticky.cookie"] != "true" {
			return fmt.Errorf("traefik service annotations missing: %v", s.Annotations)
		}
		return nil
	})
	waitFor(t, &networkingv1.Ingress{}, ns, "chat", func(i *networkingv1.Ingress) error {
		if _, ok := i.Annotations["nginx.ingress.kubernetes.io/affinity"]; ok {
			return fmt.Errorf("nginx annotations left behind: %v", i.Annotations)
		}
		return nil
	})

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Ingress.Controller = realtimev1alpha1.IngressControllerHAProxy
	})
	waitFor(t, &corev1.Service{}, ns, "chat", func(s *corev1.Service) error {
		if s.Annotations["haproxy.org/cookie-persistence"] != "socketfleet-route" {
			return fmt.Errorf("haproxy service annotations missing: %v", s.Annotations)
		}
		if _, ok := s.Annotations["traefik.ingress.kubernetes.io/service.sticky.cookie"]; ok {
			return fmt.Errorf("traefik annotations left behind: %v", s.Annotations)
		}
		return nil
	})

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Ingress.Stickiness = realtimev1alpha1.IngressStickinessNone
	})
	waitFor(t, &corev1.Service{}, ns, "chat", func(s *corev1.Service) error {
		if _, ok := s.Annotations["haproxy.org/cookie-persistence"]; ok || s.Annotations["haproxy.org/timeout-tunnel"] == "" {
			return fmt.Errorf("haproxy annotations with stickiness none: %v", s.Annotations)
		}
		return nil
	})
	waitFor(t, &corev1.ConfigMap{}, ns, "chat-config", func(c *corev1.ConfigMap) error {
		if !strings.Contains(c.Data["config.yaml"], "forwarding:\n    enabled: true") ||
			strings.Contains(c.Data["config.yaml"], "stickyCookie") {
			return fmt.Errorf("runtime config with stickiness none:\n%s", c.Data["config.yaml"])
		}
		return nil
	})

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) { rc.Spec.Ingress.Enabled = false })
	apiPoll().NoError(t, "ingress deleted", func() error {
		err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "chat"}, &networkingv1.Ingress{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("ingress still present (err=%v)", err)
	})
	waitFor(t, &corev1.Service{}, ns, "chat", func(s *corev1.Service) error {
		if len(s.Annotations) != 0 {
			return fmt.Errorf("service annotations left behind: %v", s.Annotations)
		}
		return nil
	})
}

// TestSwitchToExternalRedis moves a cluster from managed to external Redis: the managed Redis objects are
// deleted and the pods are rewired.
func TestSwitchToExternalRedis(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "")
	waitFor(t, &appsv1.StatefulSet{}, ns, "chat-redis", nil)
	waitFor(t, &corev1.Secret{}, ns, "chat-redis", nil)

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Redis = realtimev1alpha1.RedisSpec{External: &realtimev1alpha1.ExternalRedisSpec{
			Addresses:            []string{"redis.data.svc:6379"},
			PasswordSecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "redis-auth"}, Key: "pw"},
		}}
	})
	for _, obj := range []client.Object{&appsv1.StatefulSet{}, &corev1.Service{}, &corev1.Secret{}} {
		apiPoll().NoError(t, fmt.Sprintf("%T chat-redis deleted", obj), func() error {
			err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "chat-redis"}, obj)
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("still present (err=%v)", err)
		})
	}
	waitFor(t, &appsv1.Deployment{}, ns, "chat", func(d *appsv1.Deployment) error {
		c := d.Spec.Template.Spec.Containers[0]
		for _, e := range c.Env {
			if e.Name == "SOCKETFLEET_REDIS_URL" && e.Value == "redis://redis.data.svc:6379/0" {
				for _, v := range d.Spec.Template.Spec.Volumes {
					if v.Secret != nil && v.Secret.SecretName == "redis-auth" {
						return nil
					}
				}
				return fmt.Errorf("password volume not rewired: %+v", d.Spec.Template.Spec.Volumes)
			}
		}
		return fmt.Errorf("env not rewired: %+v", c.Env)
	})
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		return conditionIs(rc, realtimev1alpha1.ConditionRedisReady, metav1.ConditionTrue, controllers.ReasonExternal)
	})
}
