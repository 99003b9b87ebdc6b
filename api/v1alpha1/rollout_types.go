package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Defaults of spec.rollout.canary.
const (
	DefaultCanaryReplicas            = int32(1)
	DefaultCanaryPauseSeconds        = int32(60)
	DefaultCanaryReadyTimeoutSeconds = int32(300)
)

// CanarySpec makes a change of the runtime pod template (image, configuration, pod overrides: anything that
// rolls the pods) go first to a small batch of pods, watched before the rest of the fleet is rolled.
type CanarySpec struct {
	// Replicas is the size of the first batch: a number of pods, or a percentage of spec.replicas (rounded up,
	// at least one pod).
	// +kubebuilder:default=1
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^[1-9][0-9]?%$|^100%$')",message="spec.rollout.canary.replicas must be a positive number of pods or a percentage between 1% and 100%"
	// +optional
	Replicas *intstr.IntOrString `json:"replicas,omitempty"`

	// PauseSeconds is how long every canary pod must stay ready, answer its /stats poll and not restart before
	// the rest of the fleet gets the new pod template.
	// +kubebuilder:default=60
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	// +optional
	PauseSeconds *int32 `json:"pauseSeconds,omitempty"`

	// Analysis sets what halts the canary.
	// +kubebuilder:default={}
	// +optional
	Analysis CanaryAnalysis `json:"analysis,omitzero"`
}

// CanaryAnalysis is what the canary pods must show for the rollout to go on. Any container of a canary pod
// waiting in a failure state (CrashLoopBackOff, ImagePullBackOff, ErrImagePull, CreateContainerConfigError,
// CreateContainerError, InvalidImageName) halts the rollout at once.
type CanaryAnalysis struct {
	// ReadyTimeoutSeconds is how long the canary pods have, from the start of the canary, to be ready and
	// answer the operator's /stats poll; past it the rollout halts.
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=3600
	// +optional
	ReadyTimeoutSeconds int32 `json:"readyTimeoutSeconds,omitempty"`

	// MaxRestarts is how many container restarts a canary pod may have; one more halts the rollout.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxRestarts int32 `json:"maxRestarts,omitempty"`

	// MinConnectedClients is how many clients the canary pods together must hold at the end of pauseSeconds
	// (their /stats connectedClients.total); fewer halts the rollout. 0 (the default) checks nothing, for
	// fleets that may have no traffic during a rollout.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MinConnectedClients int32 `json:"minConnectedClients,omitempty"`
}

// CanaryPhase is the stage of a canary rollout.
// +kubebuilder:validation:Enum=Analyzing;Halted;Promoted
type CanaryPhase string

const (
	// CanaryAnalyzing means the canary pods run the new pod template and are being watched; the other pods keep
	// the old one.
	CanaryAnalyzing CanaryPhase = "Analyzing"
	// CanaryHalted means the canary pods failed the analysis: nothing else rolls until the pod template changes
	// (a new template restarts the canary, the old one aborts it) or spec.rollout.canary is removed.
	CanaryHalted CanaryPhase = "Halted"
	// CanaryPromoted means the runtime Deployment got the new pod template; the canary pods are removed once
	// its rollout is complete.
	CanaryPromoted CanaryPhase = "Promoted"
)

// CanaryStatus is the canary rollout under way (status.canary), absent when none is.
type CanaryStatus struct {
	// TemplateHash identifies the pod template the canary pods run.
	TemplateHash string `json:"templateHash"`
	// Phase is Analyzing, Halted or Promoted.
	Phase CanaryPhase `json:"phase"`
	// Replicas is the number of canary pods.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// StartedAt is when the canary pods were created.
	StartedAt metav1.Time `json:"startedAt"`
	// HealthySince is since when every canary pod has been ready and answering; unset while they are not.
	// +optional
	HealthySince *metav1.Time `json:"healthySince,omitempty"`
	// Message says what the canary is waiting for, or what failed.
	// +optional
	Message string `json:"message,omitempty"`
}

// ConditionCanary is True while a canary rollout is under way (reason Analyzing or Promoted), False once it
// halted (reason Halted, the message names what failed), was aborted or completed. Absent on a cluster that
// never ran a canary.
const ConditionCanary = "Canary"
