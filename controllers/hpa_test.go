package controllers

import (
	"reflect"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/autoscale"
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

func TestAutoscaleBehavior(t *testing.T) {
	minSelect := autoscalingv2.MinChangePolicySelect
	tol := resource.MustParse("0.05")
	window := int32(600)
	got := AutoscaleBehavior(&autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: &window,
			SelectPolicy:               &minSelect,
			Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 120}},
			Tolerance:                  &tol,
		},
	})
	want := autoscale.DefaultBehavior()
	want.ScaleDown = autoscale.Rules{
		StabilizationWindow: 10 * time.Minute,
		Select:              autoscale.SelectMin,
		Policies:            []autoscale.Policy{{Type: autoscale.PolicyPods, Value: 1, Period: 2 * time.Minute}},
		Tolerance:           0.05,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AutoscaleBehavior =\n%+v\nwant\n%+v", got, want)
	}
	if d := AutoscaleBehavior(nil); !reflect.DeepEqual(d, autoscale.DefaultBehavior()) {
		t.Errorf("nil behavior = %+v, want the HPA defaults", d)
	}
}
