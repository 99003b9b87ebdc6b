// Package v1alpha1 contains the v1alpha1 API of the realtime.socketfleet.io group: the RealtimeCluster kind,
// which describes a fleet of socketfleet-runtime pods together with its Redis, Services and sticky ingress.
//
// +kubebuilder:object:generate=true
// +groupName=realtime.socketfleet.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "realtime.socketfleet.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
