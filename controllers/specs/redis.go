package specs

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// redisUID is the uid of the redis user in the official Redis images.
const redisUID = int64(999)

// BuildRedisSecret renders the Secret holding the managed Redis password. The operator creates it once and
// never rewrites it.
func BuildRedisSecret(rc *realtimev1alpha1.RealtimeCluster, password string) *corev1.Secret {
	return opaqueSecret(rc, NamesFor(rc).RedisSecret, ComponentRedis, RedisPasswordKey, password)
}

// BuildRedisService renders the ClusterIP Service of the managed Redis, or nil when Redis is external.
func BuildRedisService(rc *realtimev1alpha1.RealtimeCluster) *corev1.Service {
	if rc.Spec.Redis.Managed == nil {
		return nil
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: childMeta(rc, NamesFor(rc).Redis, ComponentRedis),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: SelectorLabels(rc, ComponentRedis),
			Ports: []corev1.ServicePort{{
				Name: "redis", Port: RedisPort, TargetPort: intstr.FromString("redis"), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

// BuildRedisStatefulSet renders the single-instance managed Redis, or nil when Redis is external. Without
// spec.redis.managed.storage it keeps data in memory only (the pub/sub adapter needs no persistence).
func BuildRedisStatefulSet(rc *realtimev1alpha1.RealtimeCluster) *appsv1.StatefulSet {
	managed := rc.Spec.Redis.Managed
	if managed == nil {
		return nil
	}
	names := NamesFor(rc)
	image := managed.Image
	if image == "" {
		image = realtimev1alpha1.DefaultRedisImage
	}
	one := int32(1)
	no := false
	grace := int64(30)
	persistent := managed.Storage != nil

	args := []string{"--requirepass", "$(REDIS_PASSWORD)", "--dir", "/data", "--save", ""}
	if persistent {
		args = append(args, "--appendonly", "yes")
	} else {
		args = append(args, "--appendonly", "no")
	}

	container := corev1.Container{
		Name:            "redis",
		Image:           image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{"redis-server"},
		Args:            args,
		Env: []corev1.EnvVar{{Name: "REDIS_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: names.RedisSecret},
			Key:                  RedisPasswordKey,
		}}}},
		Ports:     []corev1.ContainerPort{{Name: "redis", ContainerPort: RedisPort, Protocol: corev1.ProtocolTCP}},
		Resources: managed.Resources,
		ReadinessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{
				"sh", "-c", `redis-cli --no-auth-warning -a "$REDIS_PASSWORD" ping | grep -q PONG`,
			}}},
			PeriodSeconds: 5, TimeoutSeconds: 3, FailureThreshold: 2,
		},
		LivenessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("redis")}},
			PeriodSeconds: 10, TimeoutSeconds: 3, FailureThreshold: 3,
		},
		VolumeMounts:             []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
		SecurityContext:          containerSecurityContext(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}

	sts := &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: childMeta(rc, names.Redis, ComponentRedis),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &one,
			ServiceName:         names.Redis,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
			Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(rc, ComponentRedis)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: ObjectLabels(rc, ComponentRedis)},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken:  &no,
					EnableServiceLinks:            &no,
					TerminationGracePeriodSeconds: &grace,
					ImagePullSecrets:              rc.Spec.ImagePullSecrets,
					SecurityContext:               podSecurityContext(redisUID),
					Containers:                    []corev1.Container{container},
				},
			},
		},
	}
	if persistent {
		claim := corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: ObjectLabels(rc, ComponentRedis)},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: managed.Storage.StorageClassName,
				Resources: corev1.VolumeResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceStorage: managed.Storage.Size},
				},
			},
		}
		sts.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{claim}
	} else {
		sts.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	}
	return sts
}
