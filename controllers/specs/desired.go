package specs

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// Desired is every child object one RealtimeCluster should have, except the managed Redis Secret (created once
// with a random password, see BuildRedisSecret). Fields are nil for children rc does not need.
type Desired struct {
	ConfigMap        *corev1.ConfigMap
	ConfigHash       string
	ServiceAccount   *corev1.ServiceAccount
	Service          *corev1.Service
	HeadlessService  *corev1.Service
	Deployment       *appsv1.Deployment
	PDB              *policyv1.PodDisruptionBudget
	RedisService     *corev1.Service
	RedisStatefulSet *appsv1.StatefulSet
	// The Sentinels and the PodDisruptionBudgets of a managed Redis with replicas.
	SentinelService     *corev1.Service
	SentinelStatefulSet *appsv1.StatefulSet
	RedisPDB            *policyv1.PodDisruptionBudget
	SentinelPDB         *policyv1.PodDisruptionBudget
	Ingress             *networkingv1.Ingress
	HTTPRoute           *unstructured.Unstructured
	// HPA is the HorizontalPodAutoscaler of spec.autoscaling.mode hpa.
	HPA *autoscalingv2.HorizontalPodAutoscaler
	// NetworkPolicy and RedisNetworkPolicy guard the runtime pods and the managed Redis (spec.networkPolicy).
	NetworkPolicy, RedisNetworkPolicy *networkingv1.NetworkPolicy
}

// Object is a built child: object metadata plus a kind. It has the method set of controller-runtime's
// client.Object, so the reconciler applies it as one, while this package stays free of any client.
type Object interface {
	metav1.Object
	runtime.Object
}

// BuildDesired renders every child of rc.
func BuildDesired(rc *realtimev1alpha1.RealtimeCluster, opts BuildOptions) (Desired, error) {
	cm, hash, err := BuildConfigMap(rc)
	if err != nil {
		return Desired{}, fmt.Errorf("build runtime config map: %w", err)
	}
	redisPDB, sentinelPDB := BuildRedisPodDisruptionBudgets(rc)
	return Desired{
		ConfigMap:           cm,
		ConfigHash:          hash,
		ServiceAccount:      BuildServiceAccount(rc),
		Service:             BuildService(rc),
		HeadlessService:     BuildHeadlessService(rc),
		Deployment:          BuildDeployment(rc, opts, hash),
		PDB:                 BuildPodDisruptionBudget(rc),
		RedisService:        BuildRedisService(rc),
		RedisStatefulSet:    BuildRedisStatefulSet(rc),
		Ingress:             BuildIngress(rc),
		HTTPRoute:           BuildHTTPRoute(rc),
		HPA:                 BuildHorizontalPodAutoscaler(rc),
		NetworkPolicy:       BuildRuntimeNetworkPolicy(rc, opts),
		RedisNetworkPolicy:  BuildRedisNetworkPolicy(rc),
		SentinelService:     BuildSentinelService(rc),
		SentinelStatefulSet: BuildSentinelStatefulSet(rc),
		RedisPDB:            redisPDB,
		SentinelPDB:         sentinelPDB,
	}, nil
}

// Objects lists the non-nil desired children in apply order: configuration, identity and network policies
// first, then the Redis the pods connect to, then the pods, then what routes traffic to them.
func (d Desired) Objects() []Object {
	var out []Object
	add := func(o Object, present bool) {
		if present {
			out = append(out, o)
		}
	}
	add(d.ConfigMap, d.ConfigMap != nil)
	add(d.ServiceAccount, d.ServiceAccount != nil)
	add(d.NetworkPolicy, d.NetworkPolicy != nil)
	add(d.RedisNetworkPolicy, d.RedisNetworkPolicy != nil)
	add(d.RedisService, d.RedisService != nil)
	add(d.RedisStatefulSet, d.RedisStatefulSet != nil)
	add(d.SentinelService, d.SentinelService != nil)
	add(d.SentinelStatefulSet, d.SentinelStatefulSet != nil)
	add(d.RedisPDB, d.RedisPDB != nil)
	add(d.SentinelPDB, d.SentinelPDB != nil)
	add(d.Deployment, d.Deployment != nil)
	add(d.Service, d.Service != nil)
	add(d.HeadlessService, d.HeadlessService != nil)
	add(d.PDB, d.PDB != nil)
	add(d.Ingress, d.Ingress != nil)
	add(d.HTTPRoute, d.HTTPRoute != nil)
	add(d.HPA, d.HPA != nil)
	return out
}
