package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// EventFileMissing is the event reason of a referenced Secret or ConfigMap key that cannot be read.
const EventFileMissing = "ReferencedFileMissing"

// userObjects is the one reader of the Secrets and ConfigMaps a RealtimeCluster references (the user's, not the
// operator's): the API reader when set, because the manager's cache holds only the operator's own labelled
// Secrets and ConfigMaps; the client otherwise (tests without a restricted cache).
func (r *RealtimeClusterReconciler) userObjects() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// readFile returns the content of one referenced key; found is false when the object or the key is absent.
func (r *RealtimeClusterReconciler) readFile(ctx context.Context, ns string, ref specs.FileRef) (data []byte, found bool, err error) {
	key := types.NamespacedName{Namespace: ns, Name: ref.Name}
	switch ref.Kind {
	case specs.FileFromSecret:
		s := &corev1.Secret{}
		if err := r.userObjects().Get(ctx, key, s); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("get secret %s: %w", key, err)
		}
		data, found = s.Data[ref.Key]
		return data, found, nil
	case specs.FileFromConfigMap:
		cm := &corev1.ConfigMap{}
		if err := r.userObjects().Get(ctx, key, cm); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("get configmap %s: %w", key, err)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return []byte(v), true, nil
		}
		data, found = cm.BinaryData[ref.Key]
		return data, found, nil
	default:
		return nil, false, fmt.Errorf("referenced file %s/%s: unknown kind %q", ref.Name, ref.Key, ref.Kind)
	}
}

// stampFilesHash reads every Secret and ConfigMap key the pods of rc read as a file and stamps the hash of their
// content on the desired pod template (specs.AnnotationFilesHash), so a change of one of them rolls the pods. A
// key that cannot be found is hashed as missing and reported with a warning event: its pods cannot start
// until it exists, and its creation rolls them again. It returns whether rc references any file.
func (r *RealtimeClusterReconciler) stampFilesHash(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, d *specs.Desired) (bool, error) {
	refs := specs.ReferencedFiles(rc)
	if len(refs) == 0 {
		return false, nil
	}
	h := sha256.New()
	for _, ref := range refs {
		data, found, err := r.readFile(ctx, rc.Namespace, ref)
		if err != nil {
			return true, err
		}
		fmt.Fprintf(h, "%s/%s/%s\x00", ref.Kind, ref.Name, ref.Key)
		if !found {
			h.Write([]byte("missing\x00"))
			r.event(rc, nil, corev1.EventTypeWarning, EventFileMissing, "Read",
				fmt.Sprintf("%s %s has no key %q (or does not exist): the runtime pods that mount it cannot start", ref.Kind, ref.Name, ref.Key))
			continue
		}
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(data)))
		h.Write(n[:])
		h.Write(data)
	}
	specs.StampFilesHash(d.Deployment, hex.EncodeToString(h.Sum(nil))[:16])
	return true, nil
}
