package specs

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// NativeAutoscaling reports whether rc is autoscaled by the operator itself.
func NativeAutoscaling(rc *realtimev1alpha1.RealtimeCluster) bool {
	a := rc.Spec.Autoscaling
	return a != nil && a.Enabled && (a.Mode == "" || a.Mode == realtimev1alpha1.AutoscalingModeNative)
}

// HPAAutoscaling reports whether rc is autoscaled by a HorizontalPodAutoscaler.
func HPAAutoscaling(rc *realtimev1alpha1.RealtimeCluster) bool {
	a := rc.Spec.Autoscaling
	return a != nil && a.Enabled && a.Mode == realtimev1alpha1.AutoscalingModeHPA
}

// ConnectedClientsMetric is the per-pod Prometheus gauge of connected clients the runtime exports; with
// prometheus-adapter it is served as a Pods metric of the custom metrics API.
const ConnectedClientsMetric = "socketfleet_connected_clients"

// HPAName is the name of the HorizontalPodAutoscaler of rc (mode hpa): the cluster's name.
func HPAName(rc *realtimev1alpha1.RealtimeCluster) string { return rc.Name }

// BuildHorizontalPodAutoscaler renders the autoscaling/v2 HPA of rc for spec.autoscaling.mode hpa (nil for
// other modes): it targets the RealtimeCluster's /scale subresource (so the HPA writes spec.replicas and the
// operator's connection-aware scale-down still decides which pods go) on the average of the Pods metric
// socketfleet_connected_clients against targetConnectionsPerPod. spec.autoscaling.behavior is copied as is;
// when unset, the HPA's own defaults apply.
func BuildHorizontalPodAutoscaler(rc *realtimev1alpha1.RealtimeCluster) *autoscalingv2.HorizontalPodAutoscaler {
	if !HPAAutoscaling(rc) {
		return nil
	}
	a := rc.Spec.Autoscaling
	minReplicas := a.MinReplicas
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: childMeta(rc, HPAName(rc), ComponentRuntime),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{
				APIVersion: realtimev1alpha1.GroupVersion.String(),
				Kind:       "RealtimeCluster",
				Name:       rc.Name,
			},
			MinReplicas: &minReplicas,
			MaxReplicas: a.MaxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.PodsMetricSourceType,
				Pods: &autoscalingv2.PodsMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: ConnectedClientsMetric},
					Target: autoscalingv2.MetricTarget{
						Type:         autoscalingv2.AverageValueMetricType,
						AverageValue: resource.NewQuantity(int64(a.TargetConnectionsPerPod), resource.DecimalSI),
					},
				},
			}},
		},
	}
	if a.Behavior != nil {
		hpa.Spec.Behavior = a.Behavior.DeepCopy()
	}
	return hpa
}
