package controllers

import (
	"context"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/fleetview"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// ReasonCanary is the reason of the Progressing condition while a canary is analysed, and of the Degraded
// condition while one is halted.
const ReasonCanary = "Canary"

// canaryState remembers the canary status each reconcile decided, so a reconcile that still reads a cached
// RealtimeCluster without the status the previous one wrote does not start the canary again. A key present
// with nil means "no canary under way".
type canaryState struct {
	mu       sync.Mutex
	statuses map[string]*realtimev1alpha1.CanaryStatus
	// conditions holds the last Canary condition decided for each cluster. It is set again by every reconcile,
	// so a status write computed from a stale cached RealtimeCluster cannot leave an outdated one behind.
	conditions map[string]metav1.Condition
}

// condition records c as the Canary condition of key when c is not nil, and returns the last one recorded.
func (s *canaryState) condition(key string, c *metav1.Condition) *metav1.Condition {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c != nil {
		if s.conditions == nil {
			s.conditions = map[string]metav1.Condition{}
		}
		s.conditions[key] = *c
	}
	last, ok := s.conditions[key]
	if !ok {
		return nil
	}
	return &last
}

func (s *canaryState) remember(key string, st *realtimev1alpha1.CanaryStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.statuses == nil {
		s.statuses = map[string]*realtimev1alpha1.CanaryStatus{}
	}
	s.statuses[key] = st.DeepCopy()
}

// latest returns the status remembered for key, or fromStatus when none is (after an operator restart).
func (s *canaryState) latest(key string, fromStatus *realtimev1alpha1.CanaryStatus) *realtimev1alpha1.CanaryStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.statuses[key]; ok {
		return st.DeepCopy()
	}
	return fromStatus.DeepCopy()
}

func (s *canaryState) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.statuses, key)
	delete(s.conditions, key)
}

// rolloutCanary is the canary step: it stamps the desired pod template's hash on the runtime Deployment,
// reads the stored runtime and canary Deployments and the canary pods (with their /stats from the fleet
// view), asks DecideCanary what to do and carries it out: hold the runtime Deployment on its stored template,
// apply or remove the canary Deployment, emit the events. It runs before the children are applied.
func (r *RealtimeClusterReconciler) rolloutCanary(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster, d specs.Desired, obs *Observed) error {
	if d.Deployment == nil {
		return nil
	}
	hash, err := specs.TemplateHash(&d.Deployment.Spec.Template)
	if err != nil {
		return err
	}
	if d.Deployment.Annotations == nil {
		d.Deployment.Annotations = map[string]string{}
	}
	d.Deployment.Annotations[specs.AnnotationTemplateHash] = hash

	main := &appsv1.Deployment{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: rc.Namespace, Name: d.Deployment.Name}, main); err != nil {
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("get deployment: %w", err)
		}
		main = nil
	}
	canaryName := specs.CanaryDeploymentName(rc)
	canary := &appsv1.Deployment{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: rc.Namespace, Name: canaryName}, canary); err != nil {
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("get canary deployment: %w", err)
		}
		canary = nil
	}
	if canary != nil && !metav1.IsControlledBy(canary, rc) {
		return fmt.Errorf("deployment %s exists and is not controlled by RealtimeCluster %s", canaryName, rc.Name)
	}

	key := fleetKey(rc)
	in := CanaryInput{
		Spec:         rc.Spec.Rollout.Canary,
		Replicas:     specs.CanaryReplicas(rc),
		DesiredHash:  hash,
		CanaryExists: canary != nil,
		Previous:     r.canary.latest(key, rc.Status.Canary),
		Now:          r.now().Time,
	}
	if main != nil && metav1.IsControlledBy(main, rc) {
		in.MainHash = main.Annotations[specs.AnnotationTemplateHash]
		in.MainRolledOut = deploymentRolledOut(main)
	}
	if obs.Fleet != nil {
		in.Pods = canaryPods(obs.Fleet.Pods, obs.Fleet.View.Pods)
	}
	dec := DecideCanary(in)
	dec.Condition = r.canary.condition(key, dec.Condition)
	obs.Canary = &dec

	// The canary runs the desired template; DecideCanary asks for one only while it differs from the stored one.
	withNewTemplate := d.Deployment.DeepCopy()
	if dec.HoldMain && main != nil {
		d.Deployment.Spec.Template = *main.Spec.Template.DeepCopy()
		d.Deployment.Annotations[specs.AnnotationTemplateHash] = in.MainHash
		// status.configHash stays the configuration the runtime Deployment's pods run.
		if h := main.Spec.Template.Annotations[specs.AnnotationConfigHash]; h != "" {
			obs.ConfigHash = h
		}
	}
	if dec.CanaryReplicas != nil {
		if err := r.apply(ctx, rc, specs.BuildCanaryDeployment(rc, withNewTemplate, hash, *dec.CanaryReplicas)); err != nil {
			return err
		}
	}
	if dec.DeleteCanary && canary != nil {
		if err := r.Client.Delete(ctx, canary, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete canary deployment %s: %w", canaryName, err)
		}
		r.event(rc, canary, corev1.EventTypeNormal, EventDeleted, "Delete", fmt.Sprintf("Deleted Deployment %s: canary finished", canaryName))
	}
	r.canary.remember(key, dec.Status)
	r.record(rc, dec.Events)
	return nil
}

// deploymentRolledOut reports whether dep observed its spec and every one of its pods runs the current
// template and is available.
func deploymentRolledOut(dep *appsv1.Deployment) bool {
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	s := dep.Status
	return s.ObservedGeneration >= dep.Generation && s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas >= want
}

// canaryPods picks the canary pods out of the runtime pods, with their latest /stats.
func canaryPods(pods []corev1.Pod, stats []fleetview.PodStats) []CanaryPod {
	byName := make(map[string]int, len(stats))
	for i, s := range stats {
		byName[s.Name] = i
	}
	var out []CanaryPod
	for i := range pods {
		p := &pods[i]
		if p.Labels[specs.LabelRollout] != specs.RolloutCanary {
			continue
		}
		cp := CanaryPod{Name: p.Name, Ready: podReady(p), Terminating: p.DeletionTimestamp != nil}
		for _, c := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			cp.Restarts += c.RestartCount
			if w := c.State.Waiting; w != nil && canaryFailureStates[w.Reason] && cp.Failure == "" {
				cp.Failure = fmt.Sprintf("container %s: %s: %s", c.Name, w.Reason, w.Message)
			}
		}
		if j, ok := byName[p.Name]; ok {
			cp.Stats = &stats[j]
		}
		out = append(out, cp)
	}
	return out
}

// canaryStatus is status.canary: what the canary step decided, or, when it did not run (paused, an earlier
// step failed), the previous value.
func canaryStatus(rc *realtimev1alpha1.RealtimeCluster, obs Observed) *realtimev1alpha1.CanaryStatus {
	if obs.Canary == nil {
		return rc.Status.Canary.DeepCopy()
	}
	return obs.Canary.Status.DeepCopy()
}

// canaryConditions are the conditions the canary step sets: Canary, and Progressing while a canary is
// analysed or Degraded while one is halted.
func canaryConditions(obs Observed, st *realtimev1alpha1.CanaryStatus) []metav1.Condition {
	var out []metav1.Condition
	if obs.Canary != nil && obs.Canary.Condition != nil {
		out = append(out, *obs.Canary.Condition)
	}
	if st == nil {
		return out
	}
	switch st.Phase {
	case realtimev1alpha1.CanaryAnalyzing:
		out = append(out, metav1.Condition{Type: realtimev1alpha1.ConditionProgressing, Status: metav1.ConditionTrue,
			Reason: ReasonCanary, Message: fmt.Sprintf("canary of pod template %s: %s", st.TemplateHash, st.Message)})
	case realtimev1alpha1.CanaryHalted:
		if obs.ReconcileError == nil {
			out = append(out, metav1.Condition{Type: realtimev1alpha1.ConditionDegraded, Status: metav1.ConditionTrue,
				Reason: ReasonCanary, Message: fmt.Sprintf("canary of pod template %s halted: %s", st.TemplateHash, st.Message)})
		}
	}
	return out
}
