package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FleetStatus is the connection view of the runtime pods and the fleet operations under way.
type FleetStatus struct {
	// Pods lists the connected clients of each ready runtime pod the operator polled.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=2000
	// +optional
	Pods []PodConnections `json:"pods,omitempty"`

	// ReportingPods is the number of pods that answered the last /stats poll.
	// +optional
	ReportingPods int32 `json:"reportingPods,omitempty"`

	// UnreachablePods is the number of ready pods whose /stats could not be read in the last poll.
	// +optional
	UnreachablePods int32 `json:"unreachablePods,omitempty"`

	// ImbalancePercent is how far the most unevenly loaded pod is from the fair share (the mean of the
	// pods that are not draining), in percent of the fair share: 0 is perfectly even.
	// +optional
	ImbalancePercent int32 `json:"imbalancePercent,omitempty"`

	// ScaleDown is the connection-aware scale-down step under way, if any.
	// +optional
	ScaleDown *ScaleDownStatus `json:"scaleDown,omitempty"`

	// Autoscaler is the last decision of the native autoscaler (spec.autoscaling.mode native).
	// +optional
	Autoscaler *AutoscalerStatus `json:"autoscaler,omitempty"`
}

// PodConnections is what one runtime pod reported.
type PodConnections struct {
	// Name of the pod.
	Name string `json:"name"`

	// ConnectedClients is the number of Engine.IO sessions the pod serves.
	// +optional
	ConnectedClients int64 `json:"connectedClients,omitempty"`

	// Draining is true when the pod is draining (it refuses new clients and closes its sessions).
	// +optional
	Draining bool `json:"draining,omitempty"`

	// Error is why the pod's /stats could not be read; empty when the pod reported.
	// +optional
	Error string `json:"error,omitempty"`
}

// ScaleDownStatus is one step of a connection-aware scale-down.
type ScaleDownStatus struct {
	// FromReplicas is the Deployment's replica count before the step.
	FromReplicas int32 `json:"fromReplicas"`

	// ToReplicas is the Deployment's replica count the step lowered it to.
	ToReplicas int32 `json:"toReplicas"`

	// Pods are the pods chosen to go (least loaded), annotated with the lowest pod-deletion-cost.
	// +listType=atomic
	// +optional
	Pods []string `json:"pods,omitempty"`

	// StartedAt is when the Deployment was lowered. The next step waits until the pods are gone or the
	// pod grace period has passed since then.
	StartedAt metav1.Time `json:"startedAt"`
}

// AutoscalerStatus is the last decision of the native autoscaler.
type AutoscalerStatus struct {
	// DesiredReplicas is the replica count the autoscaler asks for.
	DesiredReplicas int32 `json:"desiredReplicas"`

	// LastScaleTime is when the autoscaler last changed spec.replicas.
	// +optional
	LastScaleTime *metav1.Time `json:"lastScaleTime,omitempty"`
}
