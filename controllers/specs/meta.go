package specs

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
)

// childMeta is the metadata every child object starts from: name, namespace, labels and the controller
// owner reference to rc.
func childMeta(rc *realtimev1alpha1.RealtimeCluster, name, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       rc.Namespace,
		Labels:          ObjectLabels(rc, component),
		OwnerReferences: []metav1.OwnerReference{ownerReference(rc)},
	}
}

// ownerReference is the controller owner reference to rc, so children are garbage-collected with it.
func ownerReference(rc *realtimev1alpha1.RealtimeCluster) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{
		APIVersion:         realtimev1alpha1.GroupVersion.String(),
		Kind:               "RealtimeCluster",
		Name:               rc.Name,
		UID:                rc.UID,
		Controller:         &yes,
		BlockOwnerDeletion: &yes,
	}
}
