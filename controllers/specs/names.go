package specs

import (
	"k8s.io/apimachinery/pkg/labels"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// Well-known label keys, annotation keys, ports and paths shared by the builders.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelPartOf    = "app.kubernetes.io/part-of"

	// AppName is the app.kubernetes.io/name of every object the operator creates.
	AppName = "socketfleet"
	// ManagerName is the app.kubernetes.io/managed-by value and the server-side apply field owner.
	ManagerName = "socketfleet-operator"

	// ComponentRuntime labels the runtime pods and their Services.
	ComponentRuntime = "runtime"
	// ComponentRedis labels the managed Redis objects.
	ComponentRedis = "redis"
	// ComponentSentinel labels the Sentinels of a managed Redis with replicas.
	ComponentSentinel = "redis-sentinel"

	// AnnotationConfigHash on the pod template carries the hash of the runtime configuration, so a change of
	// configuration rolls the pods.
	AnnotationConfigHash = "realtime.socketfleet.io/config-hash"

	// PublicPort serves Socket.IO; AdminPort serves health, metrics, stats, drain and shed (never exposed).
	PublicPort = int32(3000)
	AdminPort  = int32(8081)
	// RedisPort is the port of the managed Redis.
	RedisPort = int32(6379)
	// SentinelPort is the port of the Sentinels of a managed Redis with replicas.
	SentinelPort = int32(26379)
	// SentinelCount is the number of Sentinels of a managed Redis with replicas, SentinelQuorum the number
	// of them that must agree that the primary is down.
	SentinelCount  = int32(3)
	SentinelQuorum = 2

	// ConfigFileName is the key of the runtime ConfigMap and the file name the runtime reads.
	ConfigFileName = "config.yaml"
	// ConfigDir is where the runtime ConfigMap is mounted.
	ConfigDir = "/etc/socketfleet"
	// RedisPasswordDir holds the Redis password file ("password").
	RedisPasswordDir = "/var/run/socketfleet/redis"
	// RedisTLSDir holds the Redis CA bundle ("ca.crt"); in the pods of a managed Redis with TLS, also the server
	// certificate and key (tls.crt, tls.key).
	RedisTLSDir = "/var/run/socketfleet/redis-tls"
	// RedisPasswordKey is the key of the managed Redis Secret that holds the password.
	RedisPasswordKey = "password"
	// AdminTokenDir holds the admin token file ("token") the runtime reads (admin.tokenFile).
	AdminTokenDir = "/var/run/socketfleet/admin"
	// AdminTokenKey is the key of the admin token Secret, and the file name under AdminTokenDir.
	AdminTokenKey = "token"
	// RedisAuthConfKey is the key of the managed Redis Secret that holds the password as Redis configuration
	// (requirepass and masterauth), which redis-server includes: the password never appears in an environment
	// variable or on a command line.
	RedisAuthConfKey = "auth.conf"

	// GracePeriodMargin is added to preStopDelay + drain window to get the pod grace period.
	GracePeriodMarginSeconds = int64(10)
)

// Names are the names of the child objects of one RealtimeCluster.
type Names struct {
	Deployment      string
	ConfigMap       string
	Service         string
	HeadlessService string
	ServiceAccount  string
	PDB             string
	Ingress         string
	HTTPRoute       string
	Redis           string
	RedisSecret     string
	// RedisTLSSecret is the Secret of the CA and server certificate the operator generates for a managed Redis
	// with TLS and no certificateSecretRef.
	RedisTLSSecret string
	// AdminTokenSecret holds the bearer token of the runtime pods' admin port.
	AdminTokenSecret string
	// NetworkPolicy guards the runtime pods, RedisNetworkPolicy the managed Redis.
	NetworkPolicy, RedisNetworkPolicy string
	// RedisPDB is the PodDisruptionBudget of the Redis pods (replicas above 1 only).
	RedisPDB string
	// Sentinel names the Sentinel StatefulSet, its headless Service and its PodDisruptionBudget.
	Sentinel string
	// SentinelMaster is the name the Sentinels monitor the primary under (redis.sentinelMaster).
	SentinelMaster string
}

// NamesFor returns the child object names of rc.
func NamesFor(rc *realtimev1alpha1.RealtimeCluster) Names {
	n := rc.Name
	return Names{
		Deployment:         n,
		ConfigMap:          n + "-config",
		Service:            n,
		HeadlessService:    n + "-headless",
		ServiceAccount:     n,
		PDB:                n,
		Ingress:            n,
		HTTPRoute:          n,
		Redis:              n + "-redis",
		RedisSecret:        n + "-redis",
		RedisTLSSecret:     n + "-redis-tls",
		AdminTokenSecret:   n + "-admin-token",
		NetworkPolicy:      n,
		RedisNetworkPolicy: n + "-redis",
		RedisPDB:           n + "-redis",
		Sentinel:           n + "-redis-sentinel",
		SentinelMaster:     n + "-redis",
	}
}

// SelectorLabels are the labels that select the pods of one component of rc; they never change.
func SelectorLabels(rc *realtimev1alpha1.RealtimeCluster, component string) map[string]string {
	return map[string]string{
		LabelName:      AppName,
		LabelInstance:  rc.Name,
		LabelComponent: component,
	}
}

// ObjectLabels are the labels of every child object of one component of rc.
func ObjectLabels(rc *realtimev1alpha1.RealtimeCluster, component string) map[string]string {
	l := SelectorLabels(rc, component)
	l[LabelManagedBy] = ManagerName
	l[LabelPartOf] = AppName
	return l
}

// RuntimeSelector is the serialized label selector of the runtime pods (status.selector, for /scale).
func RuntimeSelector(rc *realtimev1alpha1.RealtimeCluster) string {
	return labels.SelectorFromSet(SelectorLabels(rc, ComponentRuntime)).String()
}
