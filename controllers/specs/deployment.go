package specs

import (
	"encoding/json"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// BuildOptions are the operator-wide settings the builders need besides the RealtimeCluster itself.
type BuildOptions struct {
	// DefaultImage is the runtime image used when spec.image is empty.
	DefaultImage string
	// OperatorNamespace is the operator's own namespace, admitted to the runtime pods' admin port by their
	// NetworkPolicy ("" when the operator runs outside the cluster).
	OperatorNamespace string
}

// Runtime pod security identity: the distroless "nonroot" user.
const runtimeUID = int64(65532)

// TerminationGracePeriodSeconds is the runtime pod grace period of rc: spec.drain.terminationGracePeriod when
// set, otherwise preStopDelay + window + a 10 s margin, so the drain finishes before the kubelet kills the pod.
func TerminationGracePeriodSeconds(rc *realtimev1alpha1.RealtimeCluster) int64 {
	d := rc.Spec.Drain
	if d.TerminationGracePeriod != nil && d.TerminationGracePeriod.Duration > 0 {
		return ceilSeconds(d.TerminationGracePeriod.Duration.Seconds())
	}
	window := d.Window.Duration
	if window <= 0 {
		window = realtimev1alpha1.DefaultDrainWindow
	}
	return preStopSeconds(rc) + ceilSeconds(window.Seconds()) + GracePeriodMarginSeconds
}

// preStopSeconds is the preStop sleep of the runtime container (0: no preStop hook).
func preStopSeconds(rc *realtimev1alpha1.RealtimeCluster) int64 {
	if d := rc.Spec.Drain.PreStopDelay; d != nil {
		return ceilSeconds(d.Duration.Seconds())
	}
	return ceilSeconds(realtimev1alpha1.DefaultPreStopDelay.Seconds())
}

func ceilSeconds(s float64) int64 {
	n := int64(s)
	if float64(n) < s {
		n++
	}
	return n
}

// BuildDeployment renders the runtime Deployment of rc. configHash is the hash returned by BuildConfigMap; it
// is stamped on the pod template so a configuration change rolls the pods.
func BuildDeployment(rc *realtimev1alpha1.RealtimeCluster, opts BuildOptions, configHash string) *appsv1.Deployment {
	names := NamesFor(rc)
	spec := rc.Spec
	selector := SelectorLabels(rc, ComponentRuntime)

	podLabels := maps.Clone(spec.Pod.Labels)
	if podLabels == nil {
		podLabels = map[string]string{}
	}
	maps.Copy(podLabels, ObjectLabels(rc, ComponentRuntime))

	podAnnotations := map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   "8081",
		"prometheus.io/path":   "/metrics",
	}
	maps.Copy(podAnnotations, spec.Pod.Annotations)
	podAnnotations[AnnotationConfigHash] = configHash

	maxSurge := intstr.FromString(realtimev1alpha1.DefaultMaxSurge)
	if spec.Rollout.MaxSurge != nil {
		maxSurge = *spec.Rollout.MaxSurge
	}
	maxUnavailable := intstr.FromInt32(0)

	replicas := realtimev1alpha1.DefaultReplicas
	if spec.Replicas != nil {
		replicas = *spec.Replicas
	}

	grace := TerminationGracePeriodSeconds(rc)
	no := false
	revisionHistory := int32(5)

	topology, affinity := podSpreading(spec.Pod, selector)

	volumes, mounts := runtimeVolumes(rc)
	volumes = append(volumes, spec.Pod.Volumes...)
	mounts = append(mounts, spec.Pod.VolumeMounts...)

	serviceAccount := names.ServiceAccount
	if spec.Pod.ServiceAccountName != "" {
		serviceAccount = spec.Pod.ServiceAccountName
	}
	automount := no
	if spec.Pod.AutomountServiceAccountToken != nil {
		automount = *spec.Pod.AutomountServiceAccountToken
	}
	initContainers := append([]corev1.Container{}, spec.Pod.InitContainers...)
	always := corev1.ContainerRestartPolicyAlways
	for _, c := range spec.Pod.Sidecars {
		c.RestartPolicy = &always
		initContainers = append(initContainers, c)
	}
	if len(initContainers) == 0 {
		initContainers = nil
	}
	containers := append([]corev1.Container{runtimeContainer(rc, opts, mounts)}, spec.Pod.Containers...)

	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: childMeta(rc, names.Deployment, ComponentRuntime),
		Spec: appsv1.DeploymentSpec{
			Replicas:             &replicas,
			Selector:             &metav1.LabelSelector{MatchLabels: selector},
			MinReadySeconds:      spec.Rollout.MinReadySeconds,
			RevisionHistoryLimit: &revisionHistory,
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: &maxUnavailable,
					MaxSurge:       &maxSurge,
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: podAnnotations},
				Spec: corev1.PodSpec{
					ServiceAccountName:            serviceAccount,
					AutomountServiceAccountToken:  &automount,
					EnableServiceLinks:            &no,
					TerminationGracePeriodSeconds: &grace,
					ImagePullSecrets:              spec.ImagePullSecrets,
					NodeSelector:                  spec.Pod.NodeSelector,
					Tolerations:                   spec.Pod.Tolerations,
					Affinity:                      affinity,
					TopologySpreadConstraints:     topology,
					PriorityClassName:             spec.Pod.PriorityClassName,
					SecurityContext:               overlay(podSecurityContext(runtimeUID), spec.Pod.SecurityContext),
					DNSPolicy:                     spec.Pod.DNSPolicy,
					DNSConfig:                     spec.Pod.DNSConfig,
					HostAliases:                   spec.Pod.HostAliases,
					InitContainers:                initContainers,
					Containers:                    containers,
					Volumes:                       volumes,
				},
			},
		},
	}
}

// podSpreading returns the topology spread constraints and the affinity of the runtime pods. spec.pod's own
// constraints replace the defaults. The defaults spread the pods across nodes (a topology spread constraint on
// kubernetes.io/hostname) and prefer zones holding fewer of them (a preferred pod anti-affinity on
// topology.kubernetes.io/zone, added unless spec.pod.affinity sets podAntiAffinity). Zones are a preference
// rather than a second spread constraint because the scheduler ignores, when scoring a pod's own constraints,
// every node that lacks one of their keys: on a cluster whose nodes carry no zone label a zone constraint would
// switch the spreading by node off too, while an anti-affinity term on a missing label simply counts nothing.
func podSpreading(pod realtimev1alpha1.PodOverrides, selector map[string]string) ([]corev1.TopologySpreadConstraint, *corev1.Affinity) {
	if len(pod.TopologySpreadConstraints) > 0 {
		return pod.TopologySpreadConstraints, pod.Affinity
	}
	topology := []corev1.TopologySpreadConstraint{{
		MaxSkew:           1,
		TopologyKey:       corev1.LabelHostname,
		WhenUnsatisfiable: corev1.ScheduleAnyway,
		LabelSelector:     &metav1.LabelSelector{MatchLabels: selector},
	}}
	affinity := &corev1.Affinity{}
	if pod.Affinity != nil {
		if pod.Affinity.PodAntiAffinity != nil {
			return topology, pod.Affinity
		}
		affinity = pod.Affinity.DeepCopy()
	}
	affinity.PodAntiAffinity = &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{
				TopologyKey:   corev1.LabelTopologyZone,
				LabelSelector: &metav1.LabelSelector{MatchLabels: selector},
			},
		}},
	}
	return topology, affinity
}

// overlay returns base with every field override sets replacing base's (top-level fields of the JSON form), so
// a security context override keeps the operator's secure defaults for what it leaves out. A nil override
// returns base.
func overlay[T any](base, override *T) *T {
	if override == nil {
		return base
	}
	merged, err := overlayJSON(base, override)
	if err != nil {
		// Both are API types that always marshal; keep the defaults rather than drop them.
		return base
	}
	return merged
}

func overlayJSON[T any](base, override *T) (*T, error) {
	var b, o map[string]json.RawMessage
	for _, step := range []struct {
		v   *T
		out *map[string]json.RawMessage
	}{{base, &b}, {override, &o}} {
		data, err := json.Marshal(step.v)
		if err != nil {
			return nil, fmt.Errorf("marshal %T: %w", step.v, err)
		}
		if err := json.Unmarshal(data, step.out); err != nil {
			return nil, fmt.Errorf("unmarshal %T: %w", step.v, err)
		}
	}
	maps.Copy(b, o)
	data, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("marshal merged %T: %w", base, err)
	}
	out := new(T)
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("unmarshal merged %T: %w", base, err)
	}
	return out, nil
}

func podSecurityContext(uid int64) *corev1.PodSecurityContext {
	yes := true
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   &yes,
		RunAsUser:      &uid,
		RunAsGroup:     &uid,
		FSGroup:        &uid,
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func containerSecurityContext() *corev1.SecurityContext {
	yes, no := true, false
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: &no,
		ReadOnlyRootFilesystem:   &yes,
		RunAsNonRoot:             &yes,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

func runtimeContainer(rc *realtimev1alpha1.RealtimeCluster, opts BuildOptions, mounts []corev1.VolumeMount) corev1.Container {
	spec := rc.Spec
	image := spec.Image
	if image == "" {
		image = opts.DefaultImage
	}
	env := []corev1.EnvVar{
		{Name: "SOCKETFLEET_PORT", Value: "3000"},
		{Name: "SOCKETFLEET_ADMIN_PORT", Value: "8081"},
		{Name: "SOCKETFLEET_CONFIG", Value: ConfigDir + "/" + ConfigFileName},
	}
	if url := RedisURL(rc); url != "" {
		env = append(env, corev1.EnvVar{Name: "SOCKETFLEET_REDIS_URL", Value: url})
	}
	env = append(env,
		corev1.EnvVar{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
		corev1.EnvVar{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}},
	)
	// The pod's IP is the address its peers forward to (on the admin port); the session ids carry it.
	env = append(env,
		corev1.EnvVar{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}}},
		corev1.EnvVar{Name: "SOCKETFLEET_CLUSTER_FORWARDING_ADVERTISE_ADDRESS", Value: "$(POD_IP)"},
	)
	env = append(env, spec.Pod.Env...)
	var envFrom []corev1.EnvFromSource
	if len(spec.Pod.EnvFrom) > 0 {
		envFrom = spec.Pod.EnvFrom
	}

	admin := intstr.FromString("admin")
	c := corev1.Container{
		Name:            "runtime",
		Image:           image,
		ImagePullPolicy: corev1.PullPolicy(spec.ImagePullPolicy),
		Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: PublicPort, Protocol: corev1.ProtocolTCP},
			{Name: "admin", ContainerPort: AdminPort, Protocol: corev1.ProtocolTCP},
		},
		Env:       env,
		EnvFrom:   envFrom,
		Resources: spec.Resources,
		StartupProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: admin}},
			PeriodSeconds:    2,
			FailureThreshold: 30,
			TimeoutSeconds:   2,
		},
		LivenessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: admin}},
			PeriodSeconds:    10,
			FailureThreshold: 3,
			TimeoutSeconds:   2,
		},
		// Readiness fails as soon as a drain starts; a short period takes the pod out of rotation quickly.
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: admin}},
			PeriodSeconds:    2,
			FailureThreshold: 2,
			SuccessThreshold: 1,
			TimeoutSeconds:   2,
		},
		VolumeMounts:             mounts,
		SecurityContext:          overlay(containerSecurityContext(), spec.Pod.ContainerSecurityContext),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if delay := preStopSeconds(rc); delay > 0 {
		c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: delay}}}
	}
	return c
}

// runtimeVolumes returns the volumes of the runtime pod and the matching mounts of the runtime container.
func runtimeVolumes(rc *realtimev1alpha1.RealtimeCluster) ([]corev1.Volume, []corev1.VolumeMount) {
	names := NamesFor(rc)
	readOnly := int32(0o444)
	tmpLimit := resource.MustParse("64Mi")
	volumes := []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: names.ConfigMap},
			Items:                []corev1.KeyToPath{{Key: ConfigFileName, Path: ConfigFileName}},
			DefaultMode:          &readOnly,
		}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &tmpLimit}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "config", MountPath: ConfigDir, ReadOnly: true},
		{Name: "tmp", MountPath: "/tmp"},
	}
	tokenVolume, tokenMount := adminTokenVolume(rc, &readOnly)
	volumes, mounts = append(volumes, tokenVolume), append(mounts, tokenMount)

	var password *corev1.SecretKeySelector
	switch r := rc.Spec.Redis; {
	case r.External != nil:
		password = r.External.PasswordSecretKeyRef
	case r.Managed != nil:
		password = &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: names.RedisSecret},
			Key:                  RedisPasswordKey,
		}
	}
	if password != nil {
		volumes = append(volumes, corev1.Volume{Name: "redis-password", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{
				SecretName:  password.Name,
				Items:       []corev1.KeyToPath{{Key: password.Key, Path: RedisPasswordKey}},
				DefaultMode: &readOnly,
			}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "redis-password", MountPath: RedisPasswordDir, ReadOnly: true})
	}
	var ca *corev1.SecretKeySelector
	if ext := rc.Spec.Redis.External; ext != nil && ext.TLS != nil && ext.TLS.CASecretKeyRef != nil {
		ca = ext.TLS.CASecretKeyRef
	}
	if RedisTLS(rc) {
		ca = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: RedisTLSSecretName(rc)}, Key: RedisTLSCAKey}
	}
	if ca != nil {
		volumes = append(volumes, corev1.Volume{Name: "redis-tls", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{
				SecretName:  ca.Name,
				Items:       []corev1.KeyToPath{{Key: ca.Key, Path: RedisTLSCAKey}},
				DefaultMode: &readOnly,
			}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "redis-tls", MountPath: RedisTLSDir, ReadOnly: true})
	}
	fileVolumes, fileMounts := runtimeFileVolumes(rc, &readOnly)
	return append(volumes, fileVolumes...), append(mounts, fileMounts...)
}
