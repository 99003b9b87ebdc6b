package controllers

import (
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestMissingPermission(t *testing.T) {
	forbidden := func(gr schema.GroupResource, reason string) error {
		return apierrors.NewForbidden(gr, "web", errors.New(reason))
	}
	tests := []struct {
		name   string
		err    error
		want   string
		denied bool
	}{
		{"namespaced, wrapped by the step",
			fmt.Errorf("apply children: apply NetworkPolicy apps/web: %w", forbidden(schema.GroupResource{Group: "networking.k8s.io", Resource: "networkpolicies"},
				`User "system:serviceaccount:apps:socketfleet-operator" cannot create resource "networkpolicies" in API group "networking.k8s.io" in the namespace "apps"`)),
			"missing permission: create networkpolicies.networking.k8s.io in namespace apps (grant it to the operator's Role or ClusterRole)", true},
		{"core group, cluster-wide",
			forbidden(schema.GroupResource{Resource: "secrets"}, `User "u" cannot list resource "secrets" in API group "" at the cluster scope`),
			"missing permission: list secrets cluster-wide (grant it to the operator's Role or ClusterRole)", true},
		{"a message in another shape",
			forbidden(schema.GroupResource{Resource: "pods"}, "denied by a webhook"),
			`missing permission: pods "web" is forbidden: denied by a webhook`, true},
		{"not found", apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "web"), "", false},
		{"plain error", errors.New("boom"), "", false},
		{"nil", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, denied := missingPermission(tt.err)
			if got != tt.want || denied != tt.denied {
				t.Errorf("missingPermission = %q, %v; want %q, %v", got, denied, tt.want, tt.denied)
			}
		})
	}
}
