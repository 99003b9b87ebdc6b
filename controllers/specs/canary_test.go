package specs

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// TestGoldenCanaryDeployment renders the runtime Deployment and the canary Deployment of a fixture with
// spec.rollout.canary and compares them, with the ConfigMap they mount, with
// testdata/golden/rollout-canary-deployments.yaml.
func TestGoldenCanaryDeployment(t *testing.T) {
	rc := loadFixture(t, "rollout-canary")
	d, err := BuildDesired(rc, testOptions)
	if err != nil {
		t.Fatalf("BuildDesired: %v", err)
	}
	hash, err := TemplateHash(&d.Deployment.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	canary := BuildCanaryDeployment(rc, d.Deployment, hash, CanaryReplicas(rc))
	if got := *canary.Spec.Replicas; got != 3 {
		t.Errorf("canary replicas = %d, want 3 (25%% of 10 rounded up)", got)
	}
	if canary.Spec.Template.Labels[LabelRollout] != RolloutCanary || canary.Spec.Selector.MatchLabels[LabelRollout] != RolloutCanary {
		t.Errorf("canary pods and selector must carry %s=%s", LabelRollout, RolloutCanary)
	}
	if _, ok := d.Deployment.Spec.Template.Labels[LabelRollout]; ok {
		t.Errorf("BuildCanaryDeployment changed the runtime Deployment's pod labels")
	}
	// With the ConfigMap both Deployments mount: the runtime checks each golden pod against its config.
	compareGolden(t, "rollout-canary-deployments", renderYAML(t, []runtime.Object{d.ConfigMap, d.Deployment, canary}))
}

func TestCanaryReplicas(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	num := func(n int32) *intstr.IntOrString { v := intstr.FromInt32(n); return &v }
	tests := []struct {
		name     string
		replicas int32
		canary   *realtimev1alpha1.CanarySpec
		want     int32
	}{
		{"no canary", 4, nil, 0},
		{"default one pod", 4, &realtimev1alpha1.CanarySpec{}, 1},
		{"number", 4, &realtimev1alpha1.CanarySpec{Replicas: num(2)}, 2},
		{"number above replicas", 4, &realtimev1alpha1.CanarySpec{Replicas: num(9)}, 4},
		{"percentage rounds up", 10, &realtimev1alpha1.CanarySpec{Replicas: pct("25%")}, 3},
		{"small percentage is one pod", 3, &realtimev1alpha1.CanarySpec{Replicas: pct("1%")}, 1},
		{"no replicas", 0, &realtimev1alpha1.CanarySpec{Replicas: num(1)}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := &realtimev1alpha1.RealtimeCluster{}
			rc.Spec.Replicas = &tc.replicas
			rc.Spec.Rollout.Canary = tc.canary
			if got := CanaryReplicas(rc); got != tc.want {
				t.Errorf("CanaryReplicas = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestTemplateHashFollowsTemplate(t *testing.T) {
	rc := loadFixture(t, "minimal")
	a := BuildDeployment(rc, testOptions, "h1")
	b := BuildDeployment(rc, testOptions, "h1")
	c := BuildDeployment(rc, testOptions, "h2")
	ha, _ := TemplateHash(&a.Spec.Template)
	hb, _ := TemplateHash(&b.Spec.Template)
	hc, _ := TemplateHash(&c.Spec.Template)
	if ha != hb || len(ha) != 16 {
		t.Errorf("equal templates hash to %q and %q", ha, hb)
	}
	if ha == hc {
		t.Errorf("a changed config hash kept the template hash %q", ha)
	}
}
