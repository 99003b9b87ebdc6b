package specs

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// LabelNamespaceName is the label the API server sets on every namespace to its name.
const LabelNamespaceName = "kubernetes.io/metadata.name"

// BuildRuntimeNetworkPolicy renders the ingress NetworkPolicy of the runtime pods, or nil when
// spec.networkPolicy.enabled is false: the public port from spec.networkPolicy.publicFrom (any source when
// empty), the admin port from the operator's namespace (BuildOptions.OperatorNamespace), adminFrom and the
// runtime pods themselves (session forwarding, with either stickiness). Besides those, only the node (the
// kubelet's probes, which network plugins let through) reaches the admin port.
func BuildRuntimeNetworkPolicy(rc *realtimev1alpha1.RealtimeCluster, opts BuildOptions) *networkingv1.NetworkPolicy {
	np := rc.Spec.NetworkPolicy
	if !rc.Spec.NetworkPolicyEnabled() {
		return nil
	}
	rules := []networkingv1.NetworkPolicyIngressRule{{
		Ports: tcpPorts(PublicPort),
		From:  append([]networkingv1.NetworkPolicyPeer(nil), np.PublicFrom...),
	}}
	var admin []networkingv1.NetworkPolicyPeer
	if opts.OperatorNamespace != "" {
		admin = append(admin, networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{LabelNamespaceName: opts.OperatorNamespace}}})
	}
	admin = append(admin, np.AdminFrom...)
	// The pods forward the requests of each other's sessions over the admin port.
	admin = append(admin, networkingv1.NetworkPolicyPeer{
		PodSelector: &metav1.LabelSelector{MatchLabels: SelectorLabels(rc, ComponentRuntime)}})
	rules = append(rules, networkingv1.NetworkPolicyIngressRule{Ports: tcpPorts(AdminPort), From: admin})
	return networkPolicy(rc, NamesFor(rc).NetworkPolicy, ComponentRuntime, rules)
}

// BuildRedisNetworkPolicy renders the ingress NetworkPolicy of the managed Redis and its Sentinels, or nil
// when Redis is external or spec.networkPolicy.enabled is false: connections only from this cluster's runtime
// pods, its own Redis and Sentinel pods (replication, monitoring, failover) and spec.networkPolicy.redisFrom,
// on any of their ports.
func BuildRedisNetworkPolicy(rc *realtimev1alpha1.RealtimeCluster) *networkingv1.NetworkPolicy {
	if rc.Spec.Redis.Managed == nil || !rc.Spec.NetworkPolicyEnabled() {
		return nil
	}
	from := []networkingv1.NetworkPolicyPeer{
		{PodSelector: &metav1.LabelSelector{MatchLabels: SelectorLabels(rc, ComponentRuntime)}},
		{PodSelector: redisPods(rc)},
	}
	from = append(from, rc.Spec.NetworkPolicy.RedisFrom...)
	np := networkPolicy(rc, NamesFor(rc).RedisNetworkPolicy, ComponentRedis,
		[]networkingv1.NetworkPolicyIngressRule{{From: from}})
	np.Spec.PodSelector = *redisPods(rc)
	return np
}

// redisPods selects the managed Redis pods and, with replicas, its Sentinels: they talk to each other, and
// the runtime pods talk to both.
func redisPods(rc *realtimev1alpha1.RealtimeCluster) *metav1.LabelSelector {
	labels := SelectorLabels(rc, "")
	delete(labels, LabelComponent)
	return &metav1.LabelSelector{
		MatchLabels: labels,
		MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: LabelComponent, Operator: metav1.LabelSelectorOpIn, Values: []string{ComponentRedis, ComponentSentinel},
		}},
	}
}

func networkPolicy(rc *realtimev1alpha1.RealtimeCluster, name, component string, rules []networkingv1.NetworkPolicyIngressRule) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: childMeta(rc, name, component),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: SelectorLabels(rc, component)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     rules,
		},
	}
}

func tcpPorts(port int32) []networkingv1.NetworkPolicyPort {
	tcp := corev1.ProtocolTCP
	p := intstr.FromInt32(port)
	return []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &p}}
}
