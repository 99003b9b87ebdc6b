package specs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// Canary rollouts (spec.rollout.canary): a second Deployment, "<name>-canary", runs the new pod template on a
// few pods while the runtime Deployment keeps the old one. Its pods carry the runtime selector labels, so the
// Services, the PodDisruptionBudget, the NetworkPolicy and the fleet view include them, plus LabelRollout,
// which the canary Deployment's own selector adds so it never claims the other pods.
const (
	// LabelRollout marks the pods of the canary Deployment (value RolloutCanary).
	LabelRollout = "realtime.socketfleet.io/rollout"
	// RolloutCanary is the LabelRollout value of canary pods.
	RolloutCanary = "canary"
	// AnnotationTemplateHash on the runtime Deployment and the canary Deployment carries TemplateHash of
	// the pod template the operator last gave them.
	AnnotationTemplateHash = "realtime.socketfleet.io/template-hash"
)

// CanaryDeploymentName is the name of rc's canary Deployment.
func CanaryDeploymentName(rc *realtimev1alpha1.RealtimeCluster) string {
	return NamesFor(rc).Deployment + "-canary"
}

// TemplateHash identifies a pod template built by the operator: the first 16 hex digits of the SHA-256 of its
// JSON form (maps are encoded with sorted keys, so equal templates hash alike).
func TemplateHash(t *corev1.PodTemplateSpec) (string, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("encode pod template: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:16], nil
}

// CanaryReplicas is the size of rc's canary batch: spec.rollout.canary.replicas as a number, or as a
// percentage of spec.replicas rounded up; at least 1 and at most spec.replicas. 0 when rc has no canary or no
// replicas.
func CanaryReplicas(rc *realtimev1alpha1.RealtimeCluster) int32 {
	c := rc.Spec.Rollout.Canary
	replicas := realtimev1alpha1.DefaultReplicas
	if rc.Spec.Replicas != nil {
		replicas = *rc.Spec.Replicas
	}
	if c == nil || replicas <= 0 {
		return 0
	}
	n := realtimev1alpha1.DefaultCanaryReplicas
	if c.Replicas != nil {
		v, err := intstr.GetScaledValueFromIntOrPercent(c.Replicas, int(replicas), true)
		if err == nil {
			n = int32(min(max(v, 0), int(replicas)))
		}
	}
	return min(max(n, 1), replicas)
}

// BuildCanaryDeployment renders rc's canary Deployment: the pod template of main (the runtime Deployment as
// BuildDeployment renders it, with the new template) with LabelRollout added, replicas pods, and the same
// rolling update settings.
func BuildCanaryDeployment(rc *realtimev1alpha1.RealtimeCluster, main *appsv1.Deployment, templateHash string, replicas int32) *appsv1.Deployment {
	selector := SelectorLabels(rc, ComponentRuntime)
	selector[LabelRollout] = RolloutCanary
	meta := childMeta(rc, CanaryDeploymentName(rc), ComponentRuntime)
	meta.Labels[LabelRollout] = RolloutCanary
	meta.Annotations = map[string]string{AnnotationTemplateHash: templateHash}

	template := *main.Spec.Template.DeepCopy()
	template.Labels = maps.Clone(template.Labels)
	if template.Labels == nil {
		template.Labels = map[string]string{}
	}
	template.Labels[LabelRollout] = RolloutCanary
	revisionHistory := int32(1)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas:             &replicas,
			Selector:             &metav1.LabelSelector{MatchLabels: selector},
			MinReadySeconds:      main.Spec.MinReadySeconds,
			RevisionHistoryLimit: &revisionHistory,
			Strategy:             *main.Spec.Strategy.DeepCopy(),
			Template:             template,
		},
	}
}
