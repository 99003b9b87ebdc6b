package specs

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// The keys of a kubernetes.io/tls Secret that a managed Redis with TLS reads: the server certificate and key,
// and the CA that signs it (the runtime pods get ca.crt only).
const (
	RedisTLSCertKey = corev1.TLSCertKey
	RedisTLSKeyKey  = corev1.TLSPrivateKeyKey
	RedisTLSCAKey   = "ca.crt"
)

// RedisTLS reports whether rc runs a managed Redis with TLS (spec.redis.managed.tls.enabled).
func RedisTLS(rc *realtimev1alpha1.RealtimeCluster) bool {
	m := rc.Spec.Redis.Managed
	return m != nil && m.TLS != nil && m.TLS.Enabled
}

// RedisTLSSecretName is the Secret holding the certificate of a managed Redis with TLS: the user's
// certificateSecretRef, else the one the operator generates; "" without TLS.
func RedisTLSSecretName(rc *realtimev1alpha1.RealtimeCluster) string {
	if !RedisTLS(rc) {
		return ""
	}
	if ref := rc.Spec.Redis.Managed.TLS.CertificateSecretRef; ref != nil {
		return ref.Name
	}
	return NamesFor(rc).RedisTLSSecret
}

// RedisTLSGenerated reports whether the operator generates the certificate of rc's managed Redis.
func RedisTLSGenerated(rc *realtimev1alpha1.RealtimeCluster) bool {
	return RedisTLS(rc) && rc.Spec.Redis.Managed.TLS.CertificateSecretRef == nil
}

// RedisTLSHosts are the DNS names the server certificate of rc's managed Redis must be valid for: the Service,
// every Redis pod and every Sentinel (the runtime pods verify the name they dial: the Service for a single
// instance, the Sentinels and the primary they announce with replicas), with and without the cluster domain.
func RedisTLSHosts(rc *realtimev1alpha1.RealtimeCluster) []string {
	names := NamesFor(rc)
	var out []string
	for _, suffix := range []string{".svc", ".svc.cluster.local"} {
		out = append(out,
			names.Redis+"."+rc.Namespace+suffix,
			"*."+names.Redis+"."+rc.Namespace+suffix,
			"*."+names.Sentinel+"."+rc.Namespace+suffix)
	}
	return append(out, names.Redis, "localhost")
}

// BuildRedisTLSSecret renders the kubernetes.io/tls Secret of the certificate the operator generated for rc's
// managed Redis (PEM: the CA, the server certificate and its key). The operator creates it once and never
// rewrites it.
func BuildRedisTLSSecret(rc *realtimev1alpha1.RealtimeCluster, caPEM, certPEM, keyPEM []byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: childMeta(rc, NamesFor(rc).RedisTLSSecret, ComponentRedis),
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{RedisTLSCAKey: caPEM, RedisTLSCertKey: certPEM, RedisTLSKeyKey: keyPEM},
	}
}

// redisTLSVolume is the certificate Secret of a managed Redis with TLS as a volume for its pods (the CA, the
// certificate and the key), readable by the redis group only.
func redisTLSVolume(rc *realtimev1alpha1.RealtimeCluster) corev1.Volume {
	mode := int32(0o440)
	return corev1.Volume{Name: "redis-tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: RedisTLSSecretName(rc),
		Items: []corev1.KeyToPath{
			{Key: RedisTLSCAKey, Path: RedisTLSCAKey},
			{Key: RedisTLSCertKey, Path: RedisTLSCertKey},
			{Key: RedisTLSKeyKey, Path: RedisTLSKeyKey},
		},
		DefaultMode: &mode,
	}}}
}

// redisTLSMount mounts redisTLSVolume.
var redisTLSMount = corev1.VolumeMount{Name: "redis-tls", MountPath: RedisTLSDir, ReadOnly: true}

// redisTLSDirectives are the redis-server directives (file form, one a line) of a managed Redis with TLS: the TLS
// port in place of the plaintext one, the certificate, TLS between replicas and primary (and from the
// Sentinels, tls-replication is what they use to reach the Redis pods), and no client certificates (the
// clients authenticate with the password). Without TLS, only the plaintext port.
func redisTLSDirectives(rc *realtimev1alpha1.RealtimeCluster, port int32) []string {
	if !RedisTLS(rc) {
		return []string{fmt.Sprintf("port %d", port)}
	}
	return []string{
		"port 0",
		fmt.Sprintf("tls-port %d", port),
		"tls-cert-file " + RedisTLSDir + "/" + RedisTLSCertKey,
		"tls-key-file " + RedisTLSDir + "/" + RedisTLSKeyKey,
		"tls-ca-cert-file " + RedisTLSDir + "/" + RedisTLSCAKey,
		"tls-auth-clients no",
		"tls-replication yes",
	}
}

// redisTLSArgs are redisTLSDirectives as redis-server command-line arguments.
func redisTLSArgs(rc *realtimev1alpha1.RealtimeCluster, port int32) []string {
	var out []string
	for _, d := range redisTLSDirectives(rc, port) {
		name, value, _ := strings.Cut(d, " ")
		out = append(out, "--"+name, value)
	}
	return out
}

// redisCLI is the redis-cli command of the probes and scripts: the password read from the mounted file into
// REDISCLI_AUTH (never -a, which would put it on a command line) and, with TLS, the CA to verify the server
// with.
func redisCLI(rc *realtimev1alpha1.RealtimeCluster) string {
	cmd := `REDISCLI_AUTH="$(cat ` + RedisPasswordDir + "/" + RedisPasswordKey + `)" redis-cli`
	if RedisTLS(rc) {
		cmd += " --tls --cacert " + RedisTLSDir + "/" + RedisTLSCAKey
	}
	return cmd
}
