package specs

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// Where the runtime pods find the files of spec.runtime taken from the user's Secrets and ConfigMaps. Each is a
// whole-directory read-only mount of one key (no subPath), so the kubelet keeps it up to date.
const (
	// JWTKeyDir holds the JWT key file (JWTKeyFile): the HS256 secret or the PEM public key.
	JWTKeyDir  = "/var/run/socketfleet/jwt"
	JWTKeyFile = "key"
	// PublishTokenDir holds the publish API token file (TokenFile).
	PublishTokenDir = "/var/run/socketfleet/publish"
	// WebhookTokenDir holds the event webhook token file (TokenFile).
	WebhookTokenDir = "/var/run/socketfleet/webhook"
	// TokenFile is the file name of a token under PublishTokenDir or WebhookTokenDir.
	TokenFile = "token"
	// AdminUIDir holds the bcrypt hash of the admin UI's password (AdminUIPasswordHashFile).
	AdminUIDir              = "/var/run/socketfleet/admin-ui"
	AdminUIPasswordHashFile = "password-hash"

	// AnnotationFilesHash on the pod template carries the hash of the content of every Secret and ConfigMap key
	// the pods read as a file (ReferencedFiles), so a change of one of them rolls the pods.
	AnnotationFilesHash = "realtime.socketfleet.io/files-hash"
)

// FileKind is the kind of object a referenced file comes from.
type FileKind string

// The kinds a referenced file comes from.
const (
	FileFromSecret    FileKind = "Secret"
	FileFromConfigMap FileKind = "ConfigMap"
)

// FileRef is one key of a Secret or ConfigMap, in the RealtimeCluster's namespace, that the runtime pods read
// as a file.
type FileRef struct {
	Kind FileKind
	Name string
	Key  string
}

// fileRefOf converts an API FileSource; ok is false when it selects nothing.
func fileRefOf(src realtimev1alpha1.FileSource) (FileRef, bool) {
	switch {
	case src.SecretKeyRef != nil:
		return FileRef{Kind: FileFromSecret, Name: src.SecretKeyRef.Name, Key: src.SecretKeyRef.Key}, true
	case src.ConfigMapKeyRef != nil:
		return FileRef{Kind: FileFromConfigMap, Name: src.ConfigMapKeyRef.Name, Key: src.ConfigMapKeyRef.Key}, true
	default:
		return FileRef{}, false
	}
}

func secretFileRef(sel *corev1.SecretKeySelector) (FileRef, bool) {
	if sel == nil || sel.Name == "" {
		return FileRef{}, false
	}
	return FileRef{Kind: FileFromSecret, Name: sel.Name, Key: sel.Key}, true
}

// runtimeFile is one file of spec.runtime: where it comes from and where it is mounted.
type runtimeFile struct {
	volume string
	dir    string
	file   string
	ref    FileRef
}

// runtimeFiles lists the files spec.runtime and spec.adminUI ask for (JWT key, publish token, webhook token,
// admin UI password hash), in a fixed order.
func runtimeFiles(rc *realtimev1alpha1.RealtimeCluster) []runtimeFile {
	rt := rc.Spec.Runtime
	var out []runtimeFile
	if rt.Auth != nil && rt.Auth.JWT != nil {
		if ref, ok := fileRefOf(rt.Auth.JWT.Key); ok {
			out = append(out, runtimeFile{volume: "socketfleet-jwt", dir: JWTKeyDir, file: JWTKeyFile, ref: ref})
		}
	}
	if rt.Publish != nil {
		if ref, ok := secretFileRef(&rt.Publish.TokenSecretKeyRef); ok {
			out = append(out, runtimeFile{volume: "socketfleet-publish", dir: PublishTokenDir, file: TokenFile, ref: ref})
		}
	}
	if rt.Webhook != nil {
		if ref, ok := secretFileRef(rt.Webhook.TokenSecretKeyRef); ok {
			out = append(out, runtimeFile{volume: "socketfleet-webhook", dir: WebhookTokenDir, file: TokenFile, ref: ref})
		}
	}
	if ui := rc.Spec.AdminUI; ui != nil && ui.Enabled {
		if ref, ok := secretFileRef(ui.PasswordHashSecretKeyRef); ok {
			out = append(out, runtimeFile{volume: "socketfleet-admin-ui", dir: AdminUIDir, file: AdminUIPasswordHashFile, ref: ref})
		}
	}
	return out
}

// ReferencedFiles lists every key of the user's Secrets and ConfigMaps the runtime pods read as a file: those of
// spec.runtime and the external Redis's password and CA bundle. The reconciler hashes their content into
// AnnotationFilesHash (StampFilesHash).
func ReferencedFiles(rc *realtimev1alpha1.RealtimeCluster) []FileRef {
	var out []FileRef
	for _, f := range runtimeFiles(rc) {
		out = append(out, f.ref)
	}
	if ext := rc.Spec.Redis.External; ext != nil {
		if ref, ok := secretFileRef(ext.PasswordSecretKeyRef); ok {
			out = append(out, ref)
		}
		if ext.TLS != nil {
			if ref, ok := secretFileRef(ext.TLS.CASecretKeyRef); ok {
				out = append(out, ref)
			}
		}
	}
	return out
}

// runtimeFileVolumes returns the volumes and read-only mounts of the files of spec.runtime.
func runtimeFileVolumes(rc *realtimev1alpha1.RealtimeCluster, mode *int32) ([]corev1.Volume, []corev1.VolumeMount) {
	var volumes []corev1.Volume
	var mounts []corev1.VolumeMount
	for _, f := range runtimeFiles(rc) {
		items := []corev1.KeyToPath{{Key: f.ref.Key, Path: f.file}}
		var src corev1.VolumeSource
		if f.ref.Kind == FileFromSecret {
			src.Secret = &corev1.SecretVolumeSource{SecretName: f.ref.Name, Items: items, DefaultMode: mode}
		} else {
			src.ConfigMap = &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: f.ref.Name}, Items: items, DefaultMode: mode,
			}
		}
		volumes = append(volumes, corev1.Volume{Name: f.volume, VolumeSource: src})
		mounts = append(mounts, corev1.VolumeMount{Name: f.volume, MountPath: f.dir, ReadOnly: true})
	}
	return volumes, mounts
}

// StampFilesHash sets AnnotationFilesHash on the pod template of dep ("" leaves it without one: no file is
// referenced).
func StampFilesHash(dep *appsv1.Deployment, hash string) {
	if dep == nil || hash == "" {
		return
	}
	if dep.Spec.Template.Annotations == nil {
		dep.Spec.Template.Annotations = map[string]string{}
	}
	dep.Spec.Template.Annotations[AnnotationFilesHash] = hash
}
