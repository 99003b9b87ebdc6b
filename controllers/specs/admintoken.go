package specs

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// BuildAdminTokenSecret renders the Secret holding the bearer token of the runtime pods' admin port (key
// AdminTokenKey). The operator creates it once with a random token and never rewrites it: the runtime pods read
// it as a file (admin.tokenFile) and the operator sends it on every admin call. Rotating it is editing the
// Secret (README, Security).
func BuildAdminTokenSecret(rc *realtimev1alpha1.RealtimeCluster, token string) *corev1.Secret {
	return opaqueSecret(rc, NamesFor(rc).AdminTokenSecret, ComponentRuntime, AdminTokenKey, token)
}

// opaqueSecret is a child Secret of rc holding one generated value under key.
func opaqueSecret(rc *realtimev1alpha1.RealtimeCluster, name, component, key, value string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: childMeta(rc, name, component),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{key: []byte(value)},
	}
}

// adminTokenVolume is the runtime pod's volume of the admin token Secret and its read-only mount at
// AdminTokenDir. Whole-directory mounts (no subPath) follow Secret updates, which is what makes rotation work
// without a restart.
func adminTokenVolume(rc *realtimev1alpha1.RealtimeCluster, mode *int32) (corev1.Volume, corev1.VolumeMount) {
	return corev1.Volume{Name: "admin-token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  NamesFor(rc).AdminTokenSecret,
			Items:       []corev1.KeyToPath{{Key: AdminTokenKey, Path: AdminTokenKey}},
			DefaultMode: mode,
		}}},
		corev1.VolumeMount{Name: "admin-token", MountPath: AdminTokenDir, ReadOnly: true}
}
