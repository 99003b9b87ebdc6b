package controllers

import (
	"errors"
	"fmt"
	"regexp"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// EventPermissionDenied is the reason of the Warning event (and of the Degraded condition) of a reconcile that
// the API server refused because the operator lacks a permission.
const EventPermissionDenied = "PermissionDenied"

// forbiddenDetail reads the verb, resource, API group and namespace from the API server's Forbidden message
// (`... cannot create resource "networkpolicies" in API group "networking.k8s.io" in the namespace "apps"`).
var forbiddenDetail = regexp.MustCompile(`cannot (\S+) resource "([^"]+)"(?: in API group "([^"]*)")?(?: in the namespace "([^"]*)")?`)

// missingPermission tells whether err (anywhere in its chain) is the API server's Forbidden answer, and names the
// permission the operator lacks: the verb, the resource with its API group, and the namespace. This is the one
// place a refused request is recognised; Reconcile's event and the Degraded condition both use it.
func missingPermission(err error) (string, bool) {
	if err == nil || !apierrors.IsForbidden(err) {
		return "", false
	}
	msg := err.Error()
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		msg = status.Status().Message
	}
	m := forbiddenDetail.FindStringSubmatch(msg)
	if m == nil {
		return "missing permission: " + msg, true
	}
	resource := m[2]
	if m[3] != "" {
		resource += "." + m[3]
	}
	where := "cluster-wide"
	if m[4] != "" {
		where = "in namespace " + m[4]
	}
	return fmt.Sprintf("missing permission: %s %s %s (grant it to the operator's Role or ClusterRole)", m[1], resource, where), true
}
