package controllers

import (
	"reflect"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/socketfleet/socketfleet/controllers/autoscale"
)

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
