package envtest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// TestNetworkPoliciesFollowTheSpec: on by default, the runtime and managed Redis NetworkPolicies exist and are
// owned by the cluster, the runtime pods reach each other's admin port (session forwarding); adminFrom updates
// the runtime one; stickiness cookie keeps the pods' admin rule (they forward with the cookie too); an external Redis removes the Redis one; disabling
// removes both. (envtest, like the local cluster, has no network plugin: this checks the objects, not their
// enforcement.)
func TestNetworkPoliciesFollowTheSpec(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "replicas: 1\n")
	rc := getCluster(t, ns, "chat")

	runtimePolicy := waitFor(t, &networkingv1.NetworkPolicy{}, ns, "chat", func(np *networkingv1.NetworkPolicy) error {
		if len(np.Spec.Ingress) != 2 || np.Spec.Ingress[0].Ports[0].Port.IntVal != specs.PublicPort || len(np.Spec.Ingress[0].From) != 0 ||
			np.Spec.Ingress[1].Ports[0].Port.IntVal != specs.AdminPort || len(np.Spec.Ingress[1].From) != 1 ||
			np.Spec.Ingress[1].From[0].PodSelector == nil ||
			np.Spec.Ingress[1].From[0].PodSelector.MatchLabels[specs.LabelComponent] != specs.ComponentRuntime {
			return fmt.Errorf("ingress %+v, want the public port from anywhere and the admin port from the runtime pods "+
				"(session forwarding; no operator namespace in this test)", np.Spec.Ingress)
		}
		return nil
	})
	assertOwned(t, runtimePolicy, rc)
	redisPolicy := waitFor(t, &networkingv1.NetworkPolicy{}, ns, "chat-redis", func(np *networkingv1.NetworkPolicy) error {
		// The managed Redis pods and their Sentinels, from the runtime pods (and each other).
		sel := np.Spec.PodSelector
		if len(sel.MatchExpressions) != 1 || sel.MatchExpressions[0].Key != specs.LabelComponent ||
			!slices.Equal(sel.MatchExpressions[0].Values, []string{specs.ComponentRedis, specs.ComponentSentinel}) ||
			len(np.Spec.Ingress) != 1 ||
			np.Spec.Ingress[0].From[0].PodSelector.MatchLabels[specs.LabelComponent] != specs.ComponentRuntime {
			return fmt.Errorf("spec %+v", np.Spec)
		}
		return nil
	})
	assertOwned(t, redisPolicy, rc)

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.NetworkPolicy.AdminFrom = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{specs.LabelNamespaceName: "monitoring"}}}}
	})
	waitFor(t, &networkingv1.NetworkPolicy{}, ns, "chat", func(np *networkingv1.NetworkPolicy) error {
		if len(np.Spec.Ingress) != 2 || np.Spec.Ingress[1].Ports[0].Port.IntVal != specs.AdminPort ||
			np.Spec.Ingress[1].From[0].NamespaceSelector == nil ||
			np.Spec.Ingress[1].From[0].NamespaceSelector.MatchLabels[specs.LabelNamespaceName] != "monitoring" {
			return fmt.Errorf("ingress %+v, want an admin rule from monitoring", np.Spec.Ingress)
		}
		return nil
	})

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Ingress.Stickiness = realtimev1alpha1.IngressStickinessCookie
	})
	waitFor(t, &networkingv1.NetworkPolicy{}, ns, "chat", func(np *networkingv1.NetworkPolicy) error {
		if len(np.Spec.Ingress) != 2 || len(np.Spec.Ingress[1].From) != 2 || np.Spec.Ingress[1].From[1].PodSelector == nil {
			return fmt.Errorf("ingress %+v, want the admin port from monitoring and the runtime pods (they forward with stickiness cookie too)", np.Spec.Ingress)
		}
		return nil
	})

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		rc.Spec.Redis = realtimev1alpha1.RedisSpec{External: &realtimev1alpha1.ExternalRedisSpec{Addresses: []string{"redis.example:6379"}}}
	})
	waitGone(t, ns, "chat-redis")

	updateSpec(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) {
		no := false
		rc.Spec.NetworkPolicy.Enabled = &no
	})
	waitGone(t, ns, "chat")
}

// waitGone waits until the NetworkPolicy name no longer exists in ns.
func waitGone(t *testing.T, ns, name string) {
	t.Helper()
	apiPoll().NoError(t, "NetworkPolicy "+name+" deleted", func() error {
		err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &networkingv1.NetworkPolicy{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (err %v)", err)
	})
}
