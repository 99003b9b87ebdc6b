package specs

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// TestGoldenHPA renders the HorizontalPodAutoscaler of mode hpa and compares it with
// testdata/golden/autoscaling-hpa.yaml.
func TestGoldenHPA(t *testing.T) {
	rc := loadFixture(t, "autoscaling-hpa")
	d, err := BuildDesired(rc, testOptions)
	if err != nil {
		t.Fatalf("BuildDesired: %v", err)
	}
	if d.HPA == nil {
		t.Fatal("mode hpa built no HorizontalPodAutoscaler")
	}
	compareGolden(t, "autoscaling-hpa", renderYAML(t, []runtime.Object{d.HPA}))
}

func TestNoHPAOutsideModeHPA(t *testing.T) {
	tests := []struct {
		name string
		as   *realtimev1alpha1.AutoscalingSpec
	}{
		{"no autoscaling", nil},
		{"disabled", &realtimev1alpha1.AutoscalingSpec{Enabled: false, Mode: realtimev1alpha1.AutoscalingModeHPA}},
		{"native", &realtimev1alpha1.AutoscalingSpec{Enabled: true, Mode: realtimev1alpha1.AutoscalingModeNative}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := loadFixture(t, "minimal")
			rc.Spec.Autoscaling = tc.as
			if rc.Spec.Autoscaling != nil {
				rc.SetDefaults()
			}
			if hpa := BuildHorizontalPodAutoscaler(rc); hpa != nil {
				t.Errorf("built an HPA: %+v", hpa.Spec)
			}
		})
	}
}
