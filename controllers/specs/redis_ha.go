package specs

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// A managed Redis with replicas (spec.redis.managed.replicas above 1) is:
//
//   - StatefulSet <name>-redis: Redis pods whose headless Service <name>-redis gives each a DNS name
//     (<name>-redis-<i>.<name>-redis.<namespace>.svc). Each pod announces that name (replica-announce-ip), so
//     the Sentinels know every Redis pod by a name that survives a restart, not by an IP that changes.
//   - StatefulSet <name>-redis-sentinel: three Sentinels (quorum 2) with the same kind of names, announcing
//     them (announce-ip, announce-hostnames, resolve-hostnames).
//   - a PodDisruptionBudget (maxUnavailable 1) for each, and a preferred anti-affinity by hostname.
//
// The runtime pods use go-redis's failover client on the three Sentinel names (redis.mode sentinel).
//
// Each Redis pod finds its role when it starts (redisStartScript): the primary the Sentinels name, and when
// no Sentinel answers, a Redis pod that reports role:master, else the first pod. A pod the Sentinels still
// name as primary while it is only starting (its process died before a failover) asks them for a failover
// first: coming back as an empty primary would make the replicas drop their data. A restarted old primary
// therefore always rejoins as a replica of the current one.

// sentinelDir is where a Sentinel keeps the configuration file it rewrites (an emptyDir: it survives a
// container restart, not the pod).
const sentinelDir = "/data"

// redisConfDir is where a Redis pod of a managed Redis with replicas writes its configuration at start.
const redisConfDir = "/etc/redis"

// sentinelDownAfter and sentinelFailoverTimeout are the Sentinel settings of rc, with the API defaults.
func sentinelDownAfter(rc *realtimev1alpha1.RealtimeCluster) time.Duration {
	if s := rc.Spec.Redis.Managed.Sentinel; s != nil && s.DownAfter.Duration > 0 {
		return s.DownAfter.Duration
	}
	return realtimev1alpha1.DefaultSentinelDownAfter
}

func sentinelFailoverTimeout(rc *realtimev1alpha1.RealtimeCluster) time.Duration {
	if s := rc.Spec.Redis.Managed.Sentinel; s != nil && s.FailoverTimeout.Duration > 0 {
		return s.FailoverTimeout.Duration
	}
	return realtimev1alpha1.DefaultSentinelFailoverTimeout
}

// podHost is the DNS name of pod i of the StatefulSet whose headless Service is svc.
func podHost(rc *realtimev1alpha1.RealtimeCluster, svc string, i int32) string {
	return fmt.Sprintf("%s-%d.%s.%s.svc", svc, i, svc, rc.Namespace)
}

// SentinelAddresses are the host:port addresses of the Sentinels of rc (redis.addresses of the runtime).
func SentinelAddresses(rc *realtimev1alpha1.RealtimeCluster) []string {
	names := NamesFor(rc)
	out := make([]string, 0, SentinelCount)
	for i := range SentinelCount {
		out = append(out, podHost(rc, names.Sentinel, i)+":"+strconv.Itoa(int(SentinelPort)))
	}
	return out
}

// shellHosts lists the DNS names of count pods of the headless Service svc, for a shell for loop.
func shellHosts(rc *realtimev1alpha1.RealtimeCluster, svc string, count int32) string {
	hosts := make([]string, 0, count)
	for i := range count {
		hosts = append(hosts, podHost(rc, svc, i))
	}
	return strings.Join(hosts, " ")
}

// redisScriptCommon are the shell functions of the start scripts and of the Redis pods' preStop hook. ask runs
// redis-cli with the password in REDISCLI_AUTH, read from the mounted file for that one command (never on a
// command line; with TLS, verifying the server with the mounted CA), bounded by timeout, and prints nothing when the server does not answer; ours accepts only the
// DNS name of a Redis pod of this cluster (an error reply is not an address); primary_of_redis prints the
// Redis pod other than self that reports role:master; master_from_sentinels the primary the first Sentinel
// that answers names; hand_over asks the Sentinels to promote a replica in place of self and waits up to $1
// seconds for them to name another primary, which it prints.
const redisScriptCommon = `set -eu
self="$(hostname).%[8]s.%[2]s.svc"
ask() { timeout 3 sh -c '%[9]s --raw "$@"' ask "$@" 2>/dev/null || true; }
ours() { case "$1" in *.%[1]s.%[2]s.svc) return 0;; esac; return 1; }
primary_of_redis() {
  for h in %[3]s; do
    [ "$h" = "$self" ] && continue
    case "$(ask -h "$h" -p %[4]d info replication)" in *role:master*) echo "$h"; return 0;; esac
  done
  return 1
}
master_from_sentinels() {
  for s in %[5]s; do
    a="$(ask -h "$s" -p %[6]d sentinel get-master-addr-by-name %[7]s | head -n 1)"
    if ours "$a"; then echo "$a"; return 0; fi
  done
  return 1
}
hand_over() {
  for s in %[5]s; do
    case "$(ask -h "$s" -p %[6]d sentinel failover %[7]s)" in OK|*INPROG*) break;; esac
  done
  i=0
  while [ "$i" -lt "$1" ]; do
    sleep 1
    i=$((i + 1))
    p="$(master_from_sentinels)" || continue
    if [ "$p" != "$self" ]; then echo "$p"; return 0; fi
  done
  return 1
}
`

// redisScript is redisScriptCommon for the pods of the headless Service selfService, followed by body.
func redisScript(rc *realtimev1alpha1.RealtimeCluster, selfService, body string) string {
	names := NamesFor(rc)
	return fmt.Sprintf(redisScriptCommon, names.Redis, rc.Namespace, shellHosts(rc, names.Redis, RedisReplicas(rc)),
		RedisPort, shellHosts(rc, names.Sentinel, SentinelCount), SentinelPort, names.SentinelMaster, selfService,
		redisCLI(rc)) + body
}

// redisStartScript writes the configuration of a Redis pod of a managed Redis with replicas and execs
// redis-server (see the comment at the top of this file).
func redisStartScript(rc *realtimev1alpha1.RealtimeCluster) string {
	names := NamesFor(rc)
	return redisScript(rc, names.Redis, fmt.Sprintf(`primary="$(master_from_sentinels)" || primary="$(primary_of_redis)" || primary=%[1]s
if [ "$primary" = "$self" ]; then
  # The Sentinels name this pod as the primary although it is only starting: its previous process is gone
  # and no failover happened yet. Coming back as an empty primary would make the replicas drop their data,
  # so when the Sentinels know a replica, ask them to promote it and become its replica.
  known=0
  for s in %[2]s; do
    n="$(ask -h "$s" -p %[3]d sentinel master %[4]s | awk 'p == "num-slaves" { print; exit } { p = $0 }')"
    case "$n" in ''|*[!0-9]*) continue;; esac
    known="$n"
    break
  done
  if [ "$known" -gt 0 ]; then
    echo "the Sentinels still name this pod as the primary: asking them for a failover to a replica"
    primary="$(hand_over 30)" || primary="$self"
  fi
fi
conf=%[5]s/redis.conf
cat > "$conf" <<EOF
include %[6]s
%[9]s
dir /data
save ""
appendonly %[8]s
replica-announce-ip $self
replica-announce-port %[7]d
EOF
if [ "$primary" = "$self" ]; then
  echo "starting as the primary"
else
  echo "starting as a replica of $primary"
  echo "replicaof $primary %[7]d" >> "$conf"
fi
exec redis-server "$conf"
`, podHost(rc, names.Redis, 0), shellHosts(rc, names.Sentinel, SentinelCount), SentinelPort, names.SentinelMaster,
		redisConfDir, RedisPasswordDir+"/"+RedisAuthConfKey, RedisPort, appendOnly(rc),
		strings.Join(redisTLSDirectives(rc, RedisPort), "\n")))
}

// redisPreStopScript hands the primary role over before the primary's pod stops (a rolling update, a node
// drain, a deletion): the Sentinels promote a replica at once, instead of after down-after of silence.
// Replicas, and a primary no replica can replace, stop at once.
func redisPreStopScript(rc *realtimev1alpha1.RealtimeCluster) string {
	return redisScript(rc, NamesFor(rc).Redis, `[ "$(master_from_sentinels)" = "$self" ] || exit 0
hand_over 20 >/dev/null || true
`)
}

// sentinelStartScript writes the configuration of a Sentinel, unless a previous run of the container left
// the one Sentinel rewrote with what it learnt, and execs redis-server --sentinel. The monitored primary is
// the one another Sentinel names, else a Redis pod that reports role:master, else the first Redis pod; the
// Sentinel then follows the failovers by itself.
func sentinelStartScript(rc *realtimev1alpha1.RealtimeCluster) string {
	names := NamesFor(rc)
	return redisScript(rc, names.Sentinel, fmt.Sprintf(`conf=%[1]s/sentinel.conf
if [ ! -s "$conf" ]; then
  primary="$(master_from_sentinels)" || primary="$(primary_of_redis)" || primary=%[2]s
  # Sentinel refuses a primary whose name does not resolve yet (its pod is not scheduled).
  i=0
  until getent hosts "$primary" >/dev/null 2>&1 || nslookup "$primary" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -ge 120 ]; then echo "$primary does not resolve"; exit 1; fi
    sleep 1
  done
  echo "monitoring $primary"
  pw="$(cat %[3]s)"
  cat > "$conf.tmp" <<EOF
%[10]s
dir %[1]s
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $self
sentinel announce-port %[4]d
requirepass "$pw"
sentinel monitor %[5]s $primary %[6]d %[7]d
sentinel auth-pass %[5]s "$pw"
sentinel down-after-milliseconds %[5]s %[8]d
sentinel failover-timeout %[5]s %[9]d
sentinel parallel-syncs %[5]s 1
EOF
  mv "$conf.tmp" "$conf"
fi
exec redis-server "$conf" --sentinel
`, sentinelDir, podHost(rc, names.Redis, 0), RedisPasswordDir+"/"+RedisPasswordKey, SentinelPort,
		names.SentinelMaster, RedisPort, SentinelQuorum, sentinelDownAfter(rc).Milliseconds(),
		sentinelFailoverTimeout(rc).Milliseconds(), strings.Join(redisTLSDirectives(rc, SentinelPort), "\n")))
}

// preferredAntiAffinity spreads the pods of component over nodes when the scheduler can.
func preferredAntiAffinity(rc *realtimev1alpha1.RealtimeCluster, component string) *corev1.Affinity {
	return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{
				TopologyKey:   "kubernetes.io/hostname",
				LabelSelector: &metav1.LabelSelector{MatchLabels: SelectorLabels(rc, component)},
			},
		}},
	}}
}

// buildRedisHAStatefulSet renders the Redis pods of a managed Redis with replicas.
func buildRedisHAStatefulSet(rc *realtimev1alpha1.RealtimeCluster) *appsv1.StatefulSet {
	container := redisContainer(rc)
	container.Command = []string{"sh", "-c", redisStartScript(rc)}
	container.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
		Command: []string{"sh", "-c", redisPreStopScript(rc)},
	}}}
	container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: "conf", MountPath: redisConfDir})
	// Ready: the primary, or a replica whose link to the primary is up (not while it syncs).
	container.ReadinessProbe = &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{
			"sh", "-c", `i="$(` + redisCLI(rc) + ` info replication)" && case "$i" in *role:master*|*master_link_status:up*) exit 0;; esac; exit 1`,
		}}},
		PeriodSeconds: 5, TimeoutSeconds: 3, FailureThreshold: 2,
	}
	confLimit := resource.MustParse("1Mi")
	sts := redisStatefulSet(rc, container, RedisReplicas(rc),
		corev1.Volume{Name: "conf", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &confLimit}}})
	sts.Spec.Template.Spec.Affinity = preferredAntiAffinity(rc, ComponentRedis)
	return sts
}

// BuildSentinelService renders the headless Service that names the Sentinel pods, or nil without a managed
// Redis with replicas.
func BuildSentinelService(rc *realtimev1alpha1.RealtimeCluster) *corev1.Service {
	if !RedisHA(rc) {
		return nil
	}
	return redisService(rc, NamesFor(rc).Sentinel, ComponentSentinel, "sentinel", SentinelPort, true)
}

// BuildSentinelStatefulSet renders the three Sentinels of a managed Redis with replicas, or nil without one.
func BuildSentinelStatefulSet(rc *realtimev1alpha1.RealtimeCluster) *appsv1.StatefulSet {
	if !RedisHA(rc) {
		return nil
	}
	names := NamesFor(rc)
	dataLimit := resource.MustParse("16Mi")
	var resources corev1.ResourceRequirements
	if s := rc.Spec.Redis.Managed.Sentinel; s != nil {
		resources = s.Resources
	}
	container := corev1.Container{
		Name:            "sentinel",
		Image:           redisImage(rc),
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{"sh", "-c", sentinelStartScript(rc)},
		Ports:           []corev1.ContainerPort{{Name: "sentinel", ContainerPort: SentinelPort, Protocol: corev1.ProtocolTCP}},
		Resources:       resources,
		ReadinessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{
				"sh", "-c", redisCLI(rc) + ` -p ` + strconv.Itoa(int(SentinelPort)) + ` ping | grep -q PONG`,
			}}},
			PeriodSeconds: 5, TimeoutSeconds: 3, FailureThreshold: 2,
		},
		LivenessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("sentinel")}},
			PeriodSeconds: 10, TimeoutSeconds: 3, FailureThreshold: 3,
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "data", MountPath: sentinelDir},
			{Name: "redis-password", MountPath: RedisPasswordDir, ReadOnly: true},
		},
		SecurityContext:          containerSecurityContext(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	volumes := []corev1.Volume{
		{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &dataLimit}}},
		redisSecretVolume(rc),
	}
	if RedisTLS(rc) {
		container.VolumeMounts = append(container.VolumeMounts, redisTLSMount)
		volumes = append(volumes, redisTLSVolume(rc))
	}
	sts := managedStatefulSet(rc, names.Sentinel, ComponentSentinel, SentinelCount, container, volumes)
	sts.Spec.Template.Spec.Affinity = preferredAntiAffinity(rc, ComponentSentinel)
	return sts
}

// BuildRedisPodDisruptionBudgets renders the PodDisruptionBudgets of the Redis pods and of the Sentinels of
// a managed Redis with replicas (node drains evict one pod of each at a time), or nils without one.
func BuildRedisPodDisruptionBudgets(rc *realtimev1alpha1.RealtimeCluster) (redis, sentinel *policyv1.PodDisruptionBudget) {
	if !RedisHA(rc) {
		return nil, nil
	}
	names := NamesFor(rc)
	pdb := func(name, component string) *policyv1.PodDisruptionBudget {
		one := intstr.FromInt32(1)
		alwaysAllow := policyv1.AlwaysAllow
		return &policyv1.PodDisruptionBudget{
			TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
			ObjectMeta: childMeta(rc, name, component),
			Spec: policyv1.PodDisruptionBudgetSpec{
				MaxUnavailable:             &one,
				Selector:                   &metav1.LabelSelector{MatchLabels: SelectorLabels(rc, component)},
				UnhealthyPodEvictionPolicy: &alwaysAllow,
			},
		}
	}
	return pdb(names.RedisPDB, ComponentRedis), pdb(names.Sentinel, ComponentSentinel)
}
