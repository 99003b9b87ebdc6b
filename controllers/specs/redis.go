package specs

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// redisUID is the uid of the redis user in the official Redis images.
const redisUID = int64(999)

// RedisAuthConf is the content of the managed Redis Secret's auth.conf key: the password as the Redis
// configuration directives that redis-server includes (requirepass for its clients, masterauth for a replica
// to authenticate to its primary). The password is hex (the operator's GenerateToken), so it needs no escaping.
func RedisAuthConf(password string) string {
	return fmt.Sprintf("requirepass %q\nmasterauth %q\n", password, password)
}

// BuildRedisSecret renders the Secret holding the managed Redis password (key password, read by the runtime
// pods and the Sentinels) and the same password as Redis configuration (key auth.conf, included by
// redis-server). The operator creates it once and never changes the password.
func BuildRedisSecret(rc *realtimev1alpha1.RealtimeCluster, password string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: childMeta(rc, NamesFor(rc).RedisSecret, ComponentRedis),
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			RedisPasswordKey: []byte(password),
			RedisAuthConfKey: []byte(RedisAuthConf(password)),
		},
	}
}

// RedisReplicas is the number of managed Redis pods of rc (spec.redis.managed.replicas, 1 when unset), 0 when
// Redis is external.
func RedisReplicas(rc *realtimev1alpha1.RealtimeCluster) int32 {
	m := rc.Spec.Redis.Managed
	switch {
	case m == nil:
		return 0
	case m.Replicas <= 0:
		return realtimev1alpha1.DefaultRedisReplicas
	default:
		return m.Replicas
	}
}

// RedisHA reports whether rc runs a managed Redis with replicas and Sentinels.
func RedisHA(rc *realtimev1alpha1.RealtimeCluster) bool { return RedisReplicas(rc) > 1 }

// BuildRedisService renders the Service of the managed Redis, or nil when Redis is external: a ClusterIP
// Service for a single instance (the runtime's redis.url), a headless one with replicas, which gives each
// Redis pod the DNS name the replicas, the Sentinels and the start script use (the runtime pods find the
// primary through the Sentinels instead). It is the StatefulSet's serviceName in both cases.
func BuildRedisService(rc *realtimev1alpha1.RealtimeCluster) *corev1.Service {
	if rc.Spec.Redis.Managed == nil {
		return nil
	}
	return redisService(rc, NamesFor(rc).Redis, ComponentRedis, "redis", RedisPort, RedisHA(rc))
}

// redisService is the Service of one component of a managed Redis, on one port named portName. A headless
// one publishes the DNS names of pods that are not ready yet: a replica that is still syncing, or a
// Sentinel that is starting, must be reachable by name.
func redisService(rc *realtimev1alpha1.RealtimeCluster, name, component, portName string, port int32, headless bool) *corev1.Service {
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: childMeta(rc, name, component),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: SelectorLabels(rc, component),
			Ports: []corev1.ServicePort{{
				Name: portName, Port: port, TargetPort: intstr.FromString(portName), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
	if headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
		svc.Spec.PublishNotReadyAddresses = true
	}
	return svc
}

// redisSecretVolume is the managed Redis Secret as a volume holding the files password and auth.conf,
// readable by the redis group only.
func redisSecretVolume(rc *realtimev1alpha1.RealtimeCluster) corev1.Volume {
	mode := int32(0o440)
	return corev1.Volume{Name: "redis-password", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: NamesFor(rc).RedisSecret,
		Items: []corev1.KeyToPath{
			{Key: RedisPasswordKey, Path: RedisPasswordKey},
			{Key: RedisAuthConfKey, Path: RedisAuthConfKey},
		},
		DefaultMode: &mode,
	}}}
}

// BuildRedisStatefulSet renders the managed Redis StatefulSet, or nil when Redis is external: a single
// instance, or with spec.redis.managed.replicas above 1 a primary and its replicas (BuildRedisHAStatefulSet).
// Without persistence (EffectivePersistence) Redis keeps its data in memory only (the pub/sub adapters need
// none).
func BuildRedisStatefulSet(rc *realtimev1alpha1.RealtimeCluster) *appsv1.StatefulSet {
	if rc.Spec.Redis.Managed == nil {
		return nil
	}
	if RedisHA(rc) {
		return buildRedisHAStatefulSet(rc)
	}
	args := []string{"--include", RedisPasswordDir + "/" + RedisAuthConfKey, "--dir", "/data", "--save", "",
		"--appendonly", appendOnly(rc)}
	args = append(args, redisTLSArgs(rc, RedisPort)...)
	container := redisContainer(rc)
	container.Command = []string{"redis-server"}
	container.Args = args
	container.ReadinessProbe = &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{
			"sh", "-c", redisCLI(rc) + ` ping | grep -q PONG`,
		}}},
		PeriodSeconds: 5, TimeoutSeconds: 3, FailureThreshold: 2,
	}
	return redisStatefulSet(rc, container, 1)
}

// appendOnly is redis-server's appendonly setting: yes with persistence.
func appendOnly(rc *realtimev1alpha1.RealtimeCluster) string {
	if rc.Spec.EffectivePersistence().Enabled {
		return "yes"
	}
	return "no"
}

// redisImage is spec.redis.managed.image, or the default.
func redisImage(rc *realtimev1alpha1.RealtimeCluster) string {
	if image := rc.Spec.Redis.Managed.Image; image != "" {
		return image
	}
	return realtimev1alpha1.DefaultRedisImage
}

// redisContainer is the Redis container without its command and readiness probe.
func redisContainer(rc *realtimev1alpha1.RealtimeCluster) corev1.Container {
	c := corev1.Container{
		Name:            "redis",
		Image:           redisImage(rc),
		ImagePullPolicy: corev1.PullIfNotPresent,
		Ports:           []corev1.ContainerPort{{Name: "redis", ContainerPort: RedisPort, Protocol: corev1.ProtocolTCP}},
		Resources:       rc.Spec.Redis.Managed.Resources,
		LivenessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("redis")}},
			PeriodSeconds: 10, TimeoutSeconds: 3, FailureThreshold: 3,
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "data", MountPath: "/data"},
			{Name: "redis-password", MountPath: RedisPasswordDir, ReadOnly: true},
		},
		SecurityContext:          containerSecurityContext(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if RedisTLS(rc) {
		c.VolumeMounts = append(c.VolumeMounts, redisTLSMount)
	}
	return c
}

// redisStatefulSet wraps the Redis container into the StatefulSet of replicas pods, with a data volume per
// pod: a PersistentVolumeClaim with persistence (EffectivePersistence), an emptyDir otherwise.
func redisStatefulSet(rc *realtimev1alpha1.RealtimeCluster, container corev1.Container, replicas int32, extraVolumes ...corev1.Volume) *appsv1.StatefulSet {
	volumes := []corev1.Volume{redisSecretVolume(rc)}
	if RedisTLS(rc) {
		volumes = append(volumes, redisTLSVolume(rc))
	}
	sts := managedStatefulSet(rc, NamesFor(rc).Redis, ComponentRedis, replicas, container, append(volumes, extraVolumes...))
	sts.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}
	if p := rc.Spec.EffectivePersistence(); p.Enabled {
		claim := corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: ObjectLabels(rc, ComponentRedis)},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: p.StorageClass,
				Resources: corev1.VolumeResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceStorage: p.Size},
				},
			},
		}
		sts.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{claim}
	} else {
		sts.Spec.Template.Spec.Volumes = append(sts.Spec.Template.Spec.Volumes,
			corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	return sts
}

// managedStatefulSet is the StatefulSet of one component of a managed Redis (the Redis pods or the
// Sentinels): replicas pods of one container started in parallel, with the headless or ClusterIP Service
// of the same name as serviceName, the redis user, and no service account token.
func managedStatefulSet(rc *realtimev1alpha1.RealtimeCluster, name, component string, replicas int32, container corev1.Container, volumes []corev1.Volume) *appsv1.StatefulSet {
	no := false
	grace := int64(30)
	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: childMeta(rc, name, component),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &replicas,
			ServiceName:         name,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			Selector:            &metav1.LabelSelector{MatchLabels: SelectorLabels(rc, component)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: ObjectLabels(rc, component)},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken:  &no,
					EnableServiceLinks:            &no,
					TerminationGracePeriodSeconds: &grace,
					ImagePullSecrets:              rc.Spec.ImagePullSecrets,
					SecurityContext:               podSecurityContext(redisUID),
					Containers:                    []corev1.Container{container},
					Volumes:                       volumes,
				},
			},
		},
	}
}
