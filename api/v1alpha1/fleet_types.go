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

	// WebSocketClients is how many of the clients of the reporting pods use the WebSocket transport.
	// +optional
	WebSocketClients int64 `json:"websocketClients,omitempty"`

	// PollingClients is how many of the clients of the reporting pods use HTTP long-polling: many of them
	// mean WebSocket is blocked on the way (a proxy, the ingress) and cost the pods far more per client.
	// +optional
	PollingClients int64 `json:"pollingClients,omitempty"`

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

	// Rebalance is the last rebalancing round (sessions shed by the most loaded pods).
	// +optional
	Rebalance *RebalanceStatus `json:"rebalance,omitempty"`

	// DrainingPods is the number of pods that are draining or terminating (scale-down, rollout, eviction)
	// and still answer /stats; DrainingClients is how many clients they still serve.
	// +optional
	DrainingPods int32 `json:"drainingPods,omitempty"`

	// DrainingClients is the number of clients the draining pods still serve: they reconnect to the
	// serving pods as the drain proceeds.
	// +optional
	DrainingClients int64 `json:"drainingClients,omitempty"`

	// AdapterDown lists the pods that reported, in the last poll, that their Redis link is down: they stay
	// ready and serve their own clients, but broadcasts between them and the other pods are cut off until
	// Redis answers again (see the RedisDegraded condition).
	// +listType=set
	// +kubebuilder:validation:MaxItems=2000
	// +kubebuilder:validation:items:MaxLength=253
	// +optional
	AdapterDown []string `json:"adapterDown,omitempty"`
}

// RebalanceSpec controls how the operator evens out connections after a scale-up (or any drift): it asks the
// pods above the fair share to shed their excess sessions (POST /shed, at spec.drain.ratePerSecond), and the
// clients reconnect through the load balancer to the emptier pods.
type RebalanceSpec struct {
	// Enabled turns rebalancing on.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// ThresholdPercent: a round starts when the most unevenly loaded serving pod is further than this from
	// the fair share (the mean), in percent of the fair share.
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	ThresholdPercent int32 `json:"thresholdPercent,omitempty"`

	// MinSessions: a round starts only when it would move at least this many sessions, so small fleets do
	// not churn clients for a handful of connections.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +optional
	MinSessions int32 `json:"minSessions,omitempty"`

	// Cooldown is the least time between two rounds; a round also waits until the previous one's sheds
	// finished.
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(h|m|s|ms|us|ns))+$`
	// +optional
	Cooldown metav1.Duration `json:"cooldown,omitzero"`
}

// RebalanceStatus is one rebalancing round.
type RebalanceStatus struct {
	// StartedAt is when the shed requests were sent.
	StartedAt metav1.Time `json:"startedAt"`

	// ImbalancePercent is the imbalance that started the round.
	ImbalancePercent int32 `json:"imbalancePercent"`

	// FairShare is the mean connection count of the serving pods when the round started.
	FairShare int64 `json:"fairShare"`

	// Pods are the pods asked to shed, with the number of sessions each.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=1000
	// +optional
	Pods []PodShed `json:"pods,omitempty"`
}

// PodShed is a shed request sent to one pod.
type PodShed struct {
	// Name of the pod.
	Name string `json:"name"`

	// Sessions is how many sessions the pod was asked to close.
	Sessions int64 `json:"sessions"`

	// Error is why the request failed; empty when the pod accepted it.
	// +optional
	Error string `json:"error,omitempty"`
}

// PodConnections is what one runtime pod reported.
type PodConnections struct {
	// Name of the pod.
	Name string `json:"name"`

	// ConnectedClients is the number of Engine.IO sessions the pod serves.
	// +optional
	ConnectedClients int64 `json:"connectedClients,omitempty"`

	// WebSocket is how many of the pod's sessions use the WebSocket transport.
	// +optional
	WebSocket int64 `json:"websocket,omitempty"`

	// Polling is how many of the pod's sessions use HTTP long-polling (not upgraded, or unable to upgrade).
	// +optional
	Polling int64 `json:"polling,omitempty"`

	// Draining is true when the pod is draining (it refuses new clients and closes its sessions).
	// +optional
	Draining bool `json:"draining,omitempty"`

	// Error is why the pod's /stats could not be read; empty when the pod reported.
	// +optional
	Error string `json:"error,omitempty"`

	// AdapterDownSince is when the pod's Redis link went down, while it is down: the pod serves its own
	// clients only.
	// +optional
	AdapterDownSince *metav1.Time `json:"adapterDownSince,omitempty"`
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
