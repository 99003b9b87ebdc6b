package controllers

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/socketfleet/socketfleet/controllers/specs"
)

// CacheOptions is the operator manager's cache: only the watched namespaces (a comma-separated list; empty:
// all), and of Secrets, ConfigMaps and Pods only those labelled app.kubernetes.io/managed-by=socketfleet-operator,
// the ones the operator creates. The operator never holds the cluster's other Secrets in memory; the Secrets a
// user references (Redis password, CA bundle) are only mounted into pods, never read by the operator.
func CacheOptions(namespaces string) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{specs.LabelManagedBy: specs.ManagerName})
	opts := cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}:    {Label: managed},
		&corev1.ConfigMap{}: {Label: managed},
		&corev1.Pod{}:       {Label: managed},
	}}
	if namespaces != "" {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range strings.Split(namespaces, ",") {
			if ns = strings.TrimSpace(ns); ns != "" {
				opts.DefaultNamespaces[ns] = cache.Config{}
			}
		}
	}
	return opts
}
