package kubectlplugin

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

func (p *plugin) drainCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drain POD",
		Short: "Ask the operator to drain a runtime pod (it refuses new clients and closes its sessions over its drain window)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := p.now()
			return p.requestOnPod(cmd.Context(), args[0], realtimev1alpha1.AnnotationDrainRequested,
				realtimev1alpha1.FormatRequestTime(now), now, "drain")
		},
	}
	p.addWaitFlags(cmd, "has sent the drain")
	return cmd
}

func (p *plugin) shedCommand() *cobra.Command {
	var count int64
	cmd := &cobra.Command{
		Use:   "shed POD --count N",
		Short: "Ask the operator to make a runtime pod shed N sessions (their clients reconnect to other pods)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if count < 1 || count > realtimev1alpha1.MaxShedRequest {
				return fmt.Errorf("--count must be from 1 to %d, got %d", realtimev1alpha1.MaxShedRequest, count)
			}
			now := p.now()
			return p.requestOnPod(cmd.Context(), args[0], realtimev1alpha1.AnnotationShedRequested,
				realtimev1alpha1.FormatShedRequest(count, now), now, fmt.Sprintf("shed of %d sessions", count))
		},
	}
	cmd.Flags().Int64Var(&count, "count", 0, "how many sessions the pod is to close (required)")
	p.addWaitFlags(cmd, "has sent the shed request")
	return cmd
}

// runtimePod returns the pod name and the RealtimeCluster it serves, or an error when it is not a runtime pod
// of a RealtimeCluster.
func (p *plugin) runtimePod(ctx context.Context, name string) (*corev1.Pod, *realtimev1alpha1.RealtimeCluster, error) {
	pod := &corev1.Pod{}
	if err := p.client.Get(ctx, client.ObjectKey{Namespace: p.namespace, Name: name}, pod); err != nil {
		return nil, nil, fmt.Errorf("get pod %s/%s: %w", p.namespace, name, err)
	}
	l := pod.Labels
	cluster := l[specs.LabelInstance]
	if l[specs.LabelName] != specs.AppName || l[specs.LabelComponent] != specs.ComponentRuntime || cluster == "" ||
		l[specs.LabelManagedBy] != specs.ManagerName {
		return nil, nil, fmt.Errorf("pod %s/%s is not a runtime pod of a RealtimeCluster (it lacks the labels %s=%s, %s=%s, %s=%s and %s)",
			p.namespace, name, specs.LabelName, specs.AppName, specs.LabelComponent, specs.ComponentRuntime,
			specs.LabelManagedBy, specs.ManagerName, specs.LabelInstance)
	}
	rc := &realtimev1alpha1.RealtimeCluster{}
	if err := p.client.Get(ctx, client.ObjectKey{Namespace: p.namespace, Name: cluster}, rc); err != nil {
		return nil, nil, fmt.Errorf("pod %s/%s is labelled as a runtime pod of RealtimeCluster %s, which cannot be read: %w",
			p.namespace, name, cluster, err)
	}
	if pod.DeletionTimestamp != nil {
		return nil, nil, fmt.Errorf("pod %s/%s is terminating: it is draining already", p.namespace, name)
	}
	return pod, rc, nil
}

// requestOnPod annotates a runtime pod with a request and, with --wait, waits for the operator's outcome.
func (p *plugin) requestOnPod(ctx context.Context, name, annotation, value string, at time.Time, what string) error {
	pod, rc, err := p.runtimePod(ctx, name)
	if err != nil {
		return err
	}
	if err := p.annotate(ctx, pod, annotation, value); err != nil {
		return err
	}
	fmt.Fprintf(p.out, "Requested the %s of pod %s (RealtimeCluster %s); the operator carries it out.\n", what, pod.Name, rc.Name)
	if !p.wait {
		return nil
	}
	key := client.ObjectKeyFromObject(pod)
	err = p.until(ctx, "wait for the operator to take the "+what+" request", func(ctx context.Context) (bool, error) {
		cur := &corev1.Pod{}
		if err := p.client.Get(ctx, key, cur); err != nil {
			return false, fmt.Errorf("get pod %s: %w", key, err)
		}
		return cur.Annotations[annotation] != value, nil
	})
	if err != nil {
		return err
	}
	return p.reportOutcome(ctx, "Pod", pod.Name, at, controllers.EventDrainRequested, controllers.EventShedRequested,
		controllers.EventRequestRefused, controllers.EventRequestFailed)
}

// annotate merge-patches one annotation onto obj.
func (p *plugin) annotate(ctx context.Context, obj client.Object, key, value string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}})
	if err != nil {
		return fmt.Errorf("build patch: %w", err)
	}
	if err := p.client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("annotate %s %s with %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), key, err)
	}
	return nil
}

// reportOutcome prints the newest event of one of reasons about kind/name since at (the operator writes it
// right after taking the request, so it is awaited too); a Warning event is returned as an error.
func (p *plugin) reportOutcome(ctx context.Context, kind, name string, at time.Time, reasons ...string) error {
	var found *eventsv1.Event
	err := p.until(ctx, "wait for the operator's event", func(ctx context.Context) (bool, error) {
		list := &eventsv1.EventList{}
		if err := p.client.List(ctx, list, client.InNamespace(p.namespace)); err != nil {
			return false, fmt.Errorf("list events in namespace %s: %w", p.namespace, err)
		}
		since := at.Truncate(time.Second)
		for i := range list.Items {
			e := &list.Items[i]
			if e.Regarding.Kind != kind || e.Regarding.Name != name || !slices.Contains(reasons, e.Reason) {
				continue
			}
			seen := eventTime(e)
			if seen.Before(since) || found != nil && !seen.After(eventTime(found)) {
				continue
			}
			found = e
		}
		return found != nil, nil
	})
	if err != nil {
		return err
	}
	if found.Type == corev1.EventTypeWarning {
		return fmt.Errorf("%s: %s", found.Reason, found.Note)
	}
	fmt.Fprintf(p.out, "%s: %s\n", found.Reason, found.Note)
	return nil
}

// eventTime is when an event was last observed.
func eventTime(e *eventsv1.Event) time.Time {
	if e.Series != nil && !e.Series.LastObservedTime.IsZero() {
		return e.Series.LastObservedTime.Time
	}
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func (p *plugin) pauseCommand(pause bool) *cobra.Command {
	use, short, what := "pause [NAME]", "Pause reconciliation: the operator changes nothing and pauses the runtime Deployment's rollout (spec.paused)", "paused"
	if !pause {
		use, short, what = "resume [NAME]", "Resume reconciliation (spec.paused false): the operator applies the current spec", "resumed"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			rc, err := p.cluster(ctx, args)
			if err != nil {
				return err
			}
			patch, err := json.Marshal(map[string]any{"spec": map[string]any{"paused": pause}})
			if err != nil {
				return fmt.Errorf("build patch: %w", err)
			}
			if err := p.client.Patch(ctx, rc, client.RawPatch(types.MergePatchType, patch)); err != nil {
				return fmt.Errorf("set spec.paused=%t on RealtimeCluster %s: %w", pause, rc.Name, err)
			}
			fmt.Fprintf(p.out, "RealtimeCluster %s: spec.paused=%t.\n", rc.Name, pause)
			if !p.wait {
				return nil
			}
			gen, key := rc.Generation, client.ObjectKeyFromObject(rc)
			var reached *metav1.Condition
			err = p.until(ctx, "wait for the operator to report the cluster "+what, func(ctx context.Context) (bool, error) {
				cur := &realtimev1alpha1.RealtimeCluster{}
				if err := p.client.Get(ctx, key, cur); err != nil {
					return false, fmt.Errorf("get RealtimeCluster %s: %w", key, err)
				}
				if cur.Status.ObservedGeneration < gen {
					return false, nil
				}
				// A cluster never paused has no Paused condition: resuming it is done once the spec is seen.
				c := meta.FindStatusCondition(cur.Status.Conditions, realtimev1alpha1.ConditionPaused)
				if pause != (c != nil && c.Status == metav1.ConditionTrue) {
					return false, nil
				}
				reached = c
				return true, nil
			})
			if err != nil {
				return err
			}
			if reached != nil {
				fmt.Fprintf(p.out, "Condition Paused=%s (%s): %s\n", reached.Status, reached.Reason, reached.Message)
			}
			return nil
		},
	}
	p.addWaitFlags(cmd, "reports the cluster "+what)
	return cmd
}

func (p *plugin) rebalanceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rebalance [NAME]",
		Short: "Ask the operator for one rebalancing round now (without waiting for the cooldown)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			rc, err := p.cluster(ctx, args)
			if err != nil {
				return err
			}
			if rc.Spec.Paused {
				return fmt.Errorf("RealtimeCluster %s is paused (spec.paused): resume it first (kubectl socketfleet resume %s)", rc.Name, rc.Name)
			}
			now := p.now()
			value := realtimev1alpha1.FormatRequestTime(now)
			if err := p.annotate(ctx, rc, realtimev1alpha1.AnnotationRebalanceRequested, value); err != nil {
				return err
			}
			fmt.Fprintf(p.out, "Requested a rebalancing round of RealtimeCluster %s; the operator runs it.\n", rc.Name)
			if !p.wait {
				return nil
			}
			key := client.ObjectKeyFromObject(rc)
			err = p.until(ctx, "wait for the operator to take the rebalance request", func(ctx context.Context) (bool, error) {
				cur := &realtimev1alpha1.RealtimeCluster{}
				if err := p.client.Get(ctx, key, cur); err != nil {
					return false, fmt.Errorf("get RealtimeCluster %s: %w", key, err)
				}
				return cur.Annotations[realtimev1alpha1.AnnotationRebalanceRequested] != value, nil
			})
			if err != nil {
				return err
			}
			return p.reportOutcome(ctx, "RealtimeCluster", rc.Name, now, controllers.EventRebalanceRequested)
		},
	}
	p.addWaitFlags(cmd, "has run the round")
	return cmd
}
