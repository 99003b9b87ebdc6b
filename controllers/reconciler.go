package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/operatormetrics"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// Event reasons emitted on a RealtimeCluster.
const (
	EventCreated     = "Created"
	EventUpdated     = "Updated"
	EventDeleted     = "Deleted"
	EventApplyFailed = "ApplyFailed"
	EventGatewayAPI  = "GatewayAPIMissing"
	EventPaused      = "Paused"
	EventResumed     = "Resumed"
)

// gatewayRetryInterval is how often a RealtimeCluster waiting for the Gateway API CRDs is retried.
const gatewayRetryInterval = time.Minute

// RealtimeClusterReconciler turns a RealtimeCluster into its child objects and reports their state.
type RealtimeClusterReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads the user's Secrets and ConfigMaps a RealtimeCluster references as files, which the
	// manager's cache (the operator's labelled objects only) does not hold; nil reads them through Client.
	APIReader client.Reader
	// Recorder emits events for user-visible actions (objects created, updated, deleted, failures).
	Recorder events.EventRecorder
	// Options are the operator-wide build settings.
	Options specs.BuildOptions
	// Now returns the current time for condition timestamps; nil means time.Now.
	Now func() time.Time
	// Fleet configures the polling of the runtime pods' /stats endpoints (the fleet view).
	Fleet FleetOptions

	// fleet is the in-memory state of the fleet operations (last polls, autoscaler histories).
	fleet fleetState
	// canary remembers the canary step of each cluster (spec.rollout.canary).
	canary canaryState
}

// SetupWithManager registers the reconciler with mgr, watching RealtimeClusters and every child kind. The
// HTTPRoute watch is added only when the Gateway API is installed when the operator starts.
func (r *RealtimeClusterReconciler) SetupWithManager(mgr ctrl.Manager, maxConcurrent int) error {
	b := ctrl.NewControllerManagedBy(mgr).
		For(&realtimev1alpha1.RealtimeCluster{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.Secret{}).
		Owns(&appsv1.Deployment{}).
		Owns(&appsv1.StatefulSet{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&networkingv1.Ingress{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(podToCluster)).
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrent})
	if served, err := kindServed(mgr.GetRESTMapper(), specs.HTTPRouteGVK); err != nil {
		return fmt.Errorf("look up HTTPRoute kind: %w", err)
	} else if served {
		route := &unstructured.Unstructured{}
		route.SetGroupVersionKind(specs.HTTPRouteGVK)
		b = b.Owns(route)
	}
	if err := b.Complete(r); err != nil {
		return fmt.Errorf("set up RealtimeCluster controller: %w", err)
	}
	return nil
}

// kindServed reports whether the API server serves gvk.
func kindServed(mapper meta.RESTMapper, gvk schema.GroupVersionKind) (bool, error) {
	_, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	switch {
	case err == nil:
		return true, nil
	case meta.IsNoMatchError(err):
		return false, nil
	default:
		return false, err
	}
}

func (r *RealtimeClusterReconciler) now() metav1.Time {
	if r.Now != nil {
		return metav1.NewTime(r.Now())
	}
	return metav1.Now()
}

// Reconcile runs the ordered reconcile steps for one RealtimeCluster: build the desired children, ensure the
// managed Redis Secret and the admin token Secret, read the runtime pods' connection counts (fleet view), decide what the fleet needs
// (the native autoscaler's spec.replicas, the connection-aware scale-down's Deployment replicas and pods to
// go first, the sheds of a rebalancing round), carry those decisions out, apply every child, remove children
// the spec no longer asks for, then write the status computed from what the children report and what the
// fleet steps decided.
func (r *RealtimeClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rc := &realtimev1alpha1.RealtimeCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, rc); err != nil {
		if apierrors.IsNotFound(err) {
			r.fleet.forget(req.NamespacedName.String())
			r.canary.forget(req.NamespacedName.String())
			operatormetrics.Default.Forget(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !rc.DeletionTimestamp.IsZero() {
		// Children carry owner references; the garbage collector removes them.
		return ctrl.Result{}, nil
	}

	desired, err := specs.BuildDesired(rc, r.Options)
	if err != nil {
		return ctrl.Result{}, r.finish(ctx, rc, Observed{ReconcileError: err}, err)
	}
	obs := Observed{ConfigHash: desired.ConfigHash}
	var result ctrl.Result
	// The user's Secrets and ConfigMaps are not in the cache, so no event announces their changes: a cluster
	// that mounts some is looked at again every fleet poll interval, which rolls its pods when one changed.
	referencesFiles, err := r.stampFilesHash(ctx, rc, &desired)
	if err != nil {
		err = fmt.Errorf("hash referenced files: %w", err)
		return ctrl.Result{}, r.finish(ctx, rc, Observed{ReconcileError: err}, err)
	}
	if referencesFiles {
		result.RequeueAfter = r.Fleet.pollInterval()
	}

	steps := []reconcileStep{
		{"ensure managed Redis secret", r.ensureRedisSecret},
		{"ensure admin token secret", r.ensureAdminToken},
		{"observe fleet", r.observeFleet},
		{"carry out pod requests", r.handlePodRequests},
		{"report fleet view", r.reportFleetView},
		{"autoscale", r.decideAutoscale},
		{"plan scale-down", r.decideScaleDown},
		{"rebalance", r.decideRebalance},
		{"apply fleet decisions", r.applyFleetDecision},
		{"record rebalance request", r.recordRebalanceRequest},
		{"canary rollout", r.rolloutCanary},
		{"apply children", r.applyChildren},
		{"remove obsolete children", r.removeObsolete},
		{"observe children", r.observe},
	}
	wasPaused := meta.IsStatusConditionTrue(rc.Status.Conditions, realtimev1alpha1.ConditionPaused)
	switch {
	case rc.Spec.Paused:
		// Nothing changes: the Deployment's rollout stops where it is; the fleet view (read only) and the status
		// keep being reported.
		obs.Paused = true
		steps = []reconcileStep{
			{"pause runtime deployment", r.pauseDeployment},
			{"read admin token", r.readAdminToken},
			{"observe fleet", r.observeFleet},
			{"carry out pod requests", r.handlePodRequests},
			{"report fleet view", r.reportFleetView},
			{"observe children", r.observe},
		}
		if !wasPaused {
			r.event(rc, nil, corev1.EventTypeNormal, EventPaused, "Pause",
				"spec.paused is true: the operator changes nothing and the runtime Deployment's rollout is paused")
		}
	case wasPaused:
		steps = append([]reconcileStep{{"resume runtime deployment", r.pauseDeployment}}, steps...)
		r.event(rc, nil, corev1.EventTypeNormal, EventResumed, "Resume", "spec.paused is false: applying the current spec")
	}
	for _, step := range steps {
		err := step.run(ctx, rc, desired, &obs)
		operatormetrics.Default.Step(step.name, err)
		if err != nil {
			err = fmt.Errorf("%s: %w", step.name, err)
			obs.ReconcileError = err
			return ctrl.Result{}, r.finish(ctx, rc, obs, err)
		}
	}
	if obs.GatewayAPIMissing {
		result.RequeueAfter = gatewayRetryInterval
	}
	if f := obs.Fleet; f != nil {
		result.RequeueAfter = soonest(result.RequeueAfter, soonest(f.RequeueAfter, obs.Decision.RequeueAfter()))
	}
	if c := obs.Canary; c != nil {
		result.RequeueAfter = soonest(result.RequeueAfter, c.RequeueAfter)
	}
	return result, r.finish(ctx, rc, obs, nil)
}

// reconcileStep is one named step of Reconcile.
type reconcileStep struct {
	name string
	run  func(context.Context, *realtimev1alpha1.RealtimeCluster, specs.Desired, *Observed) error
}

// finish writes the status computed from obs (only when it changed) and returns reconcileErr, or the status
// write error when there was no earlier error.
func (r *RealtimeClusterReconciler) finish(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, obs Observed, reconcileErr error) error {
	if msg, denied := missingPermission(reconcileErr); denied {
		r.event(rc, nil, corev1.EventTypeWarning, EventPermissionDenied, "Reconcile", msg+": "+reconcileErr.Error())
	} else if reconcileErr != nil {
		r.event(rc, nil, corev1.EventTypeWarning, EventApplyFailed, "Reconcile", reconcileErr.Error())
	}
	status := ComputeStatus(rc, obs, r.now())
	operatormetrics.Default.Status(rc.Namespace, rc.Name, status)
	if equality.Semantic.DeepEqual(status, rc.Status) {
		return reconcileErr
	}
	patchBase := client.MergeFrom(rc.DeepCopy())
	rc.Status = status
	if err := r.Client.Status().Patch(ctx, rc, patchBase); err != nil {
		if apierrors.IsNotFound(err) {
			// Deleted while reconciling: nothing left to report on.
			return reconcileErr
		}
		err = fmt.Errorf("update status of %s/%s: %w", rc.Namespace, rc.Name, err)
		return errors.Join(reconcileErr, err)
	}
	return reconcileErr
}

func (r *RealtimeClusterReconciler) event(rc *realtimev1alpha1.RealtimeCluster, related client.Object, eventType, reason, action, note string) {
	if r.Recorder == nil {
		return
	}
	var rel runtime.Object
	if related != nil {
		rel = related
	}
	r.Recorder.Eventf(rc, rel, eventType, reason, action, "%s", note)
}

// applyChildren server-side applies every desired child. Applying an unchanged object is a no-op on the API
// server (no new resourceVersion), so a second reconcile writes nothing; an event is emitted only when an
// object was created or actually changed.
func (r *RealtimeClusterReconciler) applyChildren(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, d specs.Desired, obs *Observed) error {
	gatewayServed := true
	if d.HTTPRoute != nil {
		served, err := kindServed(r.Client.RESTMapper(), specs.HTTPRouteGVK)
		if err != nil {
			return fmt.Errorf("look up HTTPRoute kind: %w", err)
		}
		gatewayServed = served
		if !served {
			obs.GatewayAPIMissing = true
			r.event(rc, nil, corev1.EventTypeWarning, EventGatewayAPI, "Apply",
				"spec.ingress.gateway is set but gateway.networking.k8s.io/v1 HTTPRoute is not served; install the Gateway API CRDs")
		}
	}
	for _, obj := range d.Objects() {
		if u, ok := obj.(*unstructured.Unstructured); ok && u.GroupVersionKind() == specs.HTTPRouteGVK && !gatewayServed {
			continue
		}
		if err := r.apply(ctx, rc, obj); err != nil {
			return err
		}
	}
	return nil
}

func (r *RealtimeClusterReconciler) apply(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, obj client.Object) error {
	u, err := specs.ToUnstructured(obj)
	if err != nil {
		return err
	}
	gvk := u.GroupVersionKind()
	key := client.ObjectKeyFromObject(u)

	current, err := r.currentObject(ctx, gvk, key)
	if err != nil {
		return err
	}
	if current, err = r.replaceIfImmutable(ctx, rc, current, u); err != nil {
		return err
	}

	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(specs.ManagerName), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, key, err)
	}
	switch {
	case current == nil:
		r.event(rc, u, corev1.EventTypeNormal, EventCreated, "Apply", fmt.Sprintf("Created %s %s", gvk.Kind, key.Name))
	case appliedChange(current, u):
		r.event(rc, u, corev1.EventTypeNormal, EventUpdated, "Apply", fmt.Sprintf("Updated %s %s", gvk.Kind, key.Name))
	}
	return nil
}

// replaceIfImmutable deletes current when the desired object changes a field the API server does not let an
// update change, and returns nil then, so that the apply creates it anew. Two cases, both of the managed Redis
// and only for objects rc controls:
//   - its Service is ClusterIP for a single instance and headless with replicas (spec.clusterIP is immutable),
//     and it keeps its name because it is the StatefulSet's serviceName (immutable too);
//   - its StatefulSet gains or loses volume claims (persistence turned on or off; volumeClaimTemplates are
//     immutable): the StatefulSet is deleted with its pods orphaned, so Redis keeps serving, and the new one
//     adopts them and replaces them one at a time with pods that have the claims.
func (r *RealtimeClusterReconciler) replaceIfImmutable(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, current client.Object, desired *unstructured.Unstructured) (client.Object, error) {
	if current == nil || !metav1.IsControlledBy(current, rc) {
		return current, nil
	}
	switch cur := current.(type) {
	case *corev1.Service:
		want, _, _ := unstructured.NestedString(desired.Object, "spec", "clusterIP")
		if (cur.Spec.ClusterIP == corev1.ClusterIPNone) == (want == corev1.ClusterIPNone) {
			return current, nil
		}
		if err := r.Client.Delete(ctx, cur, client.Preconditions{UID: &cur.UID}); client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("delete service %s to recreate it: %w", cur.Name, err)
		}
		r.event(rc, cur, corev1.EventTypeNormal, EventDeleted, "Delete",
			fmt.Sprintf("Deleted Service %s to recreate it as %s (spec.clusterIP cannot change)", cur.Name, map[bool]string{true: "headless", false: "ClusterIP"}[want == corev1.ClusterIPNone]))
		return nil, nil
	case *appsv1.StatefulSet:
		want, _, _ := unstructured.NestedSlice(desired.Object, "spec", "volumeClaimTemplates")
		if claimsSignature(cur.Spec.VolumeClaimTemplates) == unstructuredClaimsSignature(want) {
			return current, nil
		}
		if cur.DeletionTimestamp != nil {
			// The garbage collector is orphaning its pods; the next reconcile creates the new one.
			return nil, fmt.Errorf("statefulset %s is being deleted to be recreated with other volume claims; waiting until it is gone", cur.Name)
		}
		if err := r.Client.Delete(ctx, cur, client.Preconditions{UID: &cur.UID}, client.PropagationPolicy(metav1.DeletePropagationOrphan)); client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("delete statefulset %s to recreate it: %w", cur.Name, err)
		}
		r.event(rc, cur, corev1.EventTypeNormal, EventDeleted, "Delete",
			fmt.Sprintf("Deleted StatefulSet %s (its pods kept) to recreate it with %d volume claims (volumeClaimTemplates cannot change)", cur.Name, len(want)))
		return nil, nil
	}
	return current, nil
}

// claimsSignature summarises what the operator sets in volume claim templates: name, size and storage class.
func claimsSignature(claims []corev1.PersistentVolumeClaim) string {
	var b strings.Builder
	for _, c := range claims {
		size := c.Spec.Resources.Requests[corev1.ResourceStorage]
		fmt.Fprintf(&b, "%s/%s/%s;", c.Name, size.String(), ptr.Deref(c.Spec.StorageClassName, ""))
	}
	return b.String()
}

// unstructuredClaimsSignature is claimsSignature of the volumeClaimTemplates of a desired object.
func unstructuredClaimsSignature(claims []any) string {
	typed := make([]corev1.PersistentVolumeClaim, 0, len(claims))
	for _, c := range claims {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		var pvc corev1.PersistentVolumeClaim
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &pvc); err == nil {
			typed = append(typed, pvc)
		}
	}
	return claimsSignature(typed)
}

// appliedChange reports whether the operator's apply changed the object: its server-side apply entry in
// managedFields moves only when the operator's own fields change. (Comparing resourceVersions would also count
// status writes by other controllers that happened in between, and a stale cache.)
func appliedChange(before, after client.Object) bool {
	b, a := applyEntry(before), applyEntry(after)
	if b == nil || a == nil {
		return b != a
	}
	if !equality.Semantic.DeepEqual(b.FieldsV1, a.FieldsV1) {
		return true
	}
	return b.Time == nil || a.Time == nil || !b.Time.Equal(a.Time)
}

func applyEntry(obj client.Object) *metav1.ManagedFieldsEntry {
	for _, e := range obj.GetManagedFields() {
		if e.Manager == specs.ManagerName && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
			return &e
		}
	}
	return nil
}

// currentObject reads the stored version of a child (from the cache for typed kinds), or nil when absent.
func (r *RealtimeClusterReconciler) currentObject(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (client.Object, error) {
	var obj client.Object
	if typed, err := r.Client.Scheme().New(gvk); err == nil {
		co, ok := typed.(client.Object)
		if !ok {
			return nil, fmt.Errorf("%s is not a client.Object", gvk)
		}
		obj = co
	} else {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		obj = u
	}
	if err := r.Client.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get %s %s: %w", gvk.Kind, key, err)
	}
	return obj, nil
}

// removeObsolete deletes children that the current spec no longer asks for (Ingress after switching to
// HTTPRoute or disabling ingress, managed Redis after switching to an external one, ...). Only objects
// controlled by rc are deleted.
func (r *RealtimeClusterReconciler) removeObsolete(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, d specs.Desired, _ *Observed) error {
	names := specs.NamesFor(rc)
	type candidate struct {
		gvk  schema.GroupVersionKind
		name string
	}
	var obsolete []candidate
	if d.Ingress == nil {
		obsolete = append(obsolete, candidate{networkingv1.SchemeGroupVersion.WithKind("Ingress"), names.Ingress})
	}
	if d.HTTPRoute == nil {
		served, err := kindServed(r.Client.RESTMapper(), specs.HTTPRouteGVK)
		if err != nil {
			return fmt.Errorf("look up HTTPRoute kind: %w", err)
		}
		if served {
			obsolete = append(obsolete, candidate{specs.HTTPRouteGVK, names.HTTPRoute})
		}
	}
	if d.HPA == nil {
		obsolete = append(obsolete, candidate{autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"), specs.HPAName(rc)})
	}
	if d.NetworkPolicy == nil {
		obsolete = append(obsolete, candidate{networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"), names.NetworkPolicy})
	}
	if d.RedisNetworkPolicy == nil {
		obsolete = append(obsolete, candidate{networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"), names.RedisNetworkPolicy})
	}
	if rc.Spec.Redis.Managed == nil {
		obsolete = append(obsolete,
			candidate{appsv1.SchemeGroupVersion.WithKind("StatefulSet"), names.Redis},
			candidate{corev1.SchemeGroupVersion.WithKind("Service"), names.Redis},
			candidate{corev1.SchemeGroupVersion.WithKind("Secret"), names.RedisSecret},
		)
	}
	if d.SentinelStatefulSet == nil {
		obsolete = append(obsolete,
			candidate{appsv1.SchemeGroupVersion.WithKind("StatefulSet"), names.Sentinel},
			candidate{corev1.SchemeGroupVersion.WithKind("Service"), names.Sentinel},
			candidate{policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"), names.Sentinel},
		)
	}
	if d.RedisPDB == nil {
		obsolete = append(obsolete, candidate{policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"), names.RedisPDB})
	}
	for _, c := range obsolete {
		key := types.NamespacedName{Namespace: rc.Namespace, Name: c.name}
		current, err := r.currentObject(ctx, c.gvk, key)
		if err != nil {
			return err
		}
		if current == nil || !metav1.IsControlledBy(current, rc) {
			continue
		}
		if err := r.Client.Delete(ctx, current, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete %s %s: %w", c.gvk.Kind, key, err)
		}
		r.event(rc, current, corev1.EventTypeNormal, EventDeleted, "Delete",
			fmt.Sprintf("Deleted %s %s: no longer part of the spec", c.gvk.Kind, c.name))
	}
	return nil
}

// observe reads the children the status is computed from.
func (r *RealtimeClusterReconciler) observe(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, _ specs.Desired, obs *Observed) error {
	names := specs.NamesFor(rc)
	dep := &appsv1.Deployment{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: rc.Namespace, Name: names.Deployment}, dep); err == nil {
		obs.Deployment = dep
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get deployment: %w", err)
	}
	if rc.Spec.Redis.Managed != nil {
		sts := &appsv1.StatefulSet{}
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: rc.Namespace, Name: names.Redis}, sts); err == nil {
			obs.Redis = sts
		} else if !apierrors.IsNotFound(err) {
			return fmt.Errorf("get redis statefulset: %w", err)
		}
	}
	if specs.RedisHA(rc) {
		sts := &appsv1.StatefulSet{}
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: rc.Namespace, Name: names.Sentinel}, sts); err == nil {
			obs.Sentinel = sts
		} else if !apierrors.IsNotFound(err) {
			return fmt.Errorf("get sentinel statefulset: %w", err)
		}
	}
	return nil
}
