package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// The local volume provisioner of the test harness: the local cluster has no storage driver, so process-node
// backs every PersistentVolumeClaim with a directory of its own. For each claim that is still Pending, it
// creates a hostPath PersistentVolume (a directory under <state-dir>/volumes) pre-bound to the claim; the
// kube-controller-manager's PersistentVolume controller then binds the two as it binds any pre-bound volume.
// Pods mount the directory of their claim's volume (podRunner.claimPath). When the claim is deleted (the
// volume is Released), the volume and its directory are removed. It serves every StorageClass: a test does not
// choose storage.

// localVolumeLabel marks the PersistentVolumes this provisioner created.
const localVolumeLabel = "process-node.socketfleet.io/local-volume"

// localVolumeName is the name of the PersistentVolume of a claim.
func localVolumeName(pvc *corev1.PersistentVolumeClaim) string {
	return "process-node-" + string(pvc.UID)
}

// watchLocalVolumes runs the provisioner on the shared informers until ctx ends.
func (a *Agent) watchLocalVolumes(ctx context.Context) error {
	claims := a.factory.Core().V1().PersistentVolumeClaims().Informer()
	if _, err := claims.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { a.provision(ctx, o.(*corev1.PersistentVolumeClaim)) },
		UpdateFunc: func(_, o any) { a.provision(ctx, o.(*corev1.PersistentVolumeClaim)) },
	}); err != nil {
		return fmt.Errorf("watch persistentvolumeclaims: %w", err)
	}
	volumes := a.factory.Core().V1().PersistentVolumes().Informer()
	if _, err := volumes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { a.reclaim(ctx, o.(*corev1.PersistentVolume)) },
		UpdateFunc: func(_, o any) { a.reclaim(ctx, o.(*corev1.PersistentVolume)) },
	}); err != nil {
		return fmt.Errorf("watch persistentvolumes: %w", err)
	}
	return nil
}

// provision creates the volume of a Pending claim that has none.
func (a *Agent) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim) {
	if pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" || pvc.DeletionTimestamp != nil {
		return
	}
	size, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		size = resource.MustParse("1Gi")
	}
	dir := filepath.Join(a.opts.StateDir, "volumes", fmt.Sprintf("%s_%s_%s", pvc.Namespace, pvc.Name, pvc.UID))
	if err := os.MkdirAll(dir, 0o777); err != nil {
		a.log.Error("local volume: create directory", "claim", pvc.Namespace+"/"+pvc.Name, "err", err)
		return
	}
	modes := pvc.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	hostPathType := corev1.HostPathDirectoryOrCreate
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: localVolumeName(pvc), Labels: map[string]string{localVolumeLabel: "true"}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   modes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              ptrString(pvc.Spec.StorageClassName),
			VolumeMode:                    pvc.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &hostPathType}},
		},
	}
	_, err := a.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	switch {
	case err == nil:
		a.log.Info("local volume created", "claim", pvc.Namespace+"/"+pvc.Name, "volume", pv.Name, "dir", dir)
	case !apierrors.IsAlreadyExists(err):
		a.log.Error("local volume: create", "claim", pvc.Namespace+"/"+pvc.Name, "err", err)
	}
}

// reclaim deletes a volume of this provisioner whose claim is gone, and its directory.
func (a *Agent) reclaim(ctx context.Context, pv *corev1.PersistentVolume) {
	if pv.Labels[localVolumeLabel] != "true" || pv.Status.Phase != corev1.VolumeReleased || pv.DeletionTimestamp != nil {
		return
	}
	err := a.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pv.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		a.log.Error("local volume: delete", "volume", pv.Name, "err", err)
		return
	}
	if hp := pv.Spec.HostPath; hp != nil && filepath.Dir(hp.Path) == filepath.Join(a.opts.StateDir, "volumes") {
		_ = os.RemoveAll(hp.Path)
	}
	a.log.Info("local volume deleted", "volume", pv.Name)
}

// claimPath returns the directory backing the claim a pod volume names: the hostPath of the volume the claim
// is bound to, or an error while it is not bound yet.
func (r *podRunner) claimPath(ctx context.Context, claim string) (string, error) {
	pvc, err := r.a.client.CoreV1().PersistentVolumeClaims(r.pod.Namespace).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("persistentvolumeclaim %s: %w", claim, err)
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return "", fmt.Errorf("persistentvolumeclaim %s is not bound yet", claim)
	}
	pv, err := r.a.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("persistentvolume %s: %w", pvc.Spec.VolumeName, err)
	}
	if pv.Spec.HostPath == nil {
		return "", fmt.Errorf("persistentvolume %s is not a local directory (only process-node's local volumes can be mounted)", pv.Name)
	}
	return pv.Spec.HostPath.Path, nil
}
