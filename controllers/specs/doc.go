// Package specs holds the pure builders of the operator: functions that turn a RealtimeCluster into the child
// objects it should have (runtime ConfigMap, Deployment, Services, ServiceAccount, PodDisruptionBudget,
// managed Redis, Ingress or HTTPRoute, HorizontalPodAutoscaler), their names, labels and owner references,
// and the assembly of the whole desired state (BuildDesired).
//
// Nothing here reads or writes the cluster or the network: the same RealtimeCluster always gives the same
// objects, which the golden tests under testdata/golden pin down (`make update-golden` rewrites them). The
// reconciler in package controllers applies what these functions return.
package specs
