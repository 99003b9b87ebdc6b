package specs

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// ToUnstructured converts a built child object into the unstructured form the operator applies with
// server-side apply: the empty status and null creationTimestamps that typed objects always carry are
// dropped, so the operator never claims ownership of them.
func ToUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u.DeepCopy(), nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %T to unstructured: %w", obj, err)
	}
	u := &unstructured.Unstructured{Object: m}
	delete(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	if claims, ok, _ := unstructured.NestedSlice(u.Object, "spec", "volumeClaimTemplates"); ok {
		for _, c := range claims {
			if cm, ok := c.(map[string]any); ok {
				delete(cm, "status")
				unstructured.RemoveNestedField(cm, "metadata", "creationTimestamp")
			}
		}
		if err := unstructured.SetNestedSlice(u.Object, claims, "spec", "volumeClaimTemplates"); err != nil {
			return nil, fmt.Errorf("clean volume claim templates: %w", err)
		}
	}
	return u, nil
}
