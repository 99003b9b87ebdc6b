package envtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers"
)

// requestFor is the reconcile request of the RealtimeCluster ns/name.
func requestFor(ns, name string) ctrl.Request {
	return ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}
}

// hasEvent reports (as an error for apiPoll().NoError) whether ns has an event of reason whose note contains every part.
func hasEvent(ns, reason string, parts ...string) error {
	list := &eventsv1.EventList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		return err
	}
next:
	for _, e := range list.Items {
		if e.Reason != reason {
			continue
		}
		for _, p := range parts {
			if !strings.Contains(e.Note, p) {
				continue next
			}
		}
		return nil
	}
	return fmt.Errorf("no %s event with %q among %d events", reason, parts, len(list.Items))
}

// TestRebalanceAfterScaleUp serves three pods' /stats from real HTTP servers, two loaded and one new and
// empty, and expects the operator to POST /shed to the loaded pods with their excess over the fair share,
// once (the cooldown holds the next round), recorded in status and as an event. Without stickiness (the
// default) each shed names the pod below the fair share (to=<its admin address>), which takes the shedding
// pods' handshakes.
func TestRebalanceAfterScaleUp(t *testing.T) {
	tests := []struct {
		name, spec string
		// handOver: the sheds name the new pod (to=) and the event says so.
		handOver bool
	}{
		{"no stickiness", "replicas: 3\nrebalance:\n  cooldown: 1h\n", true},
		{"sticky cookie", "replicas: 3\nrebalance:\n  cooldown: 1h\ningress:\n  stickiness: cookie\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { testRebalanceAfterScaleUp(t, tc.spec, tc.handOver) })
	}
}

func testRebalanceAfterScaleUp(t *testing.T, spec string, handOver bool) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", spec)
	waitFor(t, &appsv1.Deployment{}, ns, "chat", nil)
	a, b, c := startFakeRuntime(t, 900), startFakeRuntime(t, 901), startFakeRuntime(t, 0)
	createRuntimePod(t, ns, "chat", "chat-a", a.port(t))
	createRuntimePod(t, ns, "chat", "chat-b", b.port(t))
	createRuntimePod(t, ns, "chat", "chat-c", c.port(t))

	// Fair share ceil(1801/3) = 601: a sheds 299, b 300, the new pod nothing.
	rc := waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		if rc.Status.Fleet == nil || rc.Status.Fleet.Rebalance == nil {
			return fmt.Errorf("no rebalance round in status (pods %s)", fleetPods(rc))
		}
		return nil
	})
	rb := rc.Status.Fleet.Rebalance
	if got := fmt.Sprint(rb.Pods); got != "[{chat-b 300 } {chat-a 299 }]" {
		t.Errorf("status rebalance pods = %s", got)
	}
	if rb.ImbalancePercent != 100 || rb.FairShare != 600 {
		t.Errorf("status rebalance imbalance %d%% fair share %d, want 100%% and 600", rb.ImbalancePercent, rb.FairShare)
	}
	if a.shed.Load() != 299 || b.shed.Load() != 300 || c.shed.Load() != 0 {
		t.Errorf("shed requests a=%d b=%d c=%d, want 299 300 0", a.shed.Load(), b.shed.Load(), c.shed.Load())
	}
	wantTo, event := "", []string{"chat-b 300", "chat-a 299"}
	if handOver {
		wantTo, event = fmt.Sprintf("127.0.0.1:%d", c.port(t)), append(event, "their new handshakes go to chat-c")
	}
	if a.lastShedTo() != wantTo || b.lastShedTo() != wantTo {
		t.Errorf("shed to a=%q b=%q, want %q", a.lastShedTo(), b.lastShedTo(), wantTo)
	}
	apiPoll().NoError(t, "Rebalance event", func() error {
		return hasEvent(ns, controllers.EventRebalance, event...)
	})

	// The counts stay uneven (the fake pods do not really shed), but the cooldown holds the next round:
	// several more polls send nothing.
	before := rc.Status.Fleet.Rebalance.StartedAt
	for range 5 {
		if _, err := reconciler.Reconcile(context.Background(), requestFor(ns, "chat")); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
	}
	if a.shed.Load() != 299 || b.shed.Load() != 300 {
		t.Errorf("a second round ran during the cooldown: a=%d b=%d", a.shed.Load(), b.shed.Load())
	}
	if rc := getCluster(t, ns, "chat"); !rc.Status.Fleet.Rebalance.StartedAt.Equal(&before) {
		t.Errorf("rebalance round replaced during the cooldown")
	}
}

// TestRebalanceSkipsUnsettledOrDisabledFleets expects no shed while a rollout is under way (pods of two
// templates) nor when spec.rebalance.enabled is false.
func TestRebalanceSkipsUnsettledOrDisabledFleets(t *testing.T) {
	tests := []struct {
		name, spec string
		templates  [2]string
	}{
		{"rollout under way", "replicas: 2\n", [2]string{"old", "new"}},
		{"disabled", "replicas: 2\nrebalance:\n  enabled: false\n", [2]string{"same", "same"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace(t)
			createCluster(t, ns, "chat", tc.spec)
			waitFor(t, &appsv1.Deployment{}, ns, "chat", nil)
			a, b := startFakeRuntime(t, 1000), startFakeRuntime(t, 0)
			for i, f := range []*fakeRuntime{a, b} {
				pod := createRuntimePod(t, ns, "chat", fmt.Sprintf("chat-%d", i), f.port(t))
				base := client.MergeFrom(pod.DeepCopy())
				pod.Labels["pod-template-hash"] = tc.templates[i]
				if err := k8s.Patch(context.Background(), pod, base); err != nil {
					t.Fatal(err)
				}
			}
			// Once status reports both pods, a reconcile with their counts has run (rebalance runs before
			// the status is written); run a few more to be sure.
			waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
				if rc.Status.Fleet == nil || rc.Status.Fleet.ReportingPods != 2 || rc.Status.Fleet.ImbalancePercent != 100 {
					return fmt.Errorf("pods %s", fleetPods(rc))
				}
				return nil
			})
			for range 3 {
				if _, err := reconciler.Reconcile(context.Background(), requestFor(ns, "chat")); err != nil {
					t.Fatalf("reconcile: %v", err)
				}
			}
			if a.shed.Load() != 0 {
				t.Errorf("the loaded pod was asked to shed %d sessions", a.shed.Load())
			}
			if rc := getCluster(t, ns, "chat"); rc.Status.Fleet.Rebalance != nil {
				t.Errorf("rebalance round recorded: %+v", rc.Status.Fleet.Rebalance)
			}
		})
	}
}

// TestDrainProgressDuringRollout keeps a terminating pod (a finalizer holds it, as a kubelet running its
// preStop and drain would) whose /stats still answers, and expects status to count it as draining with its
// remaining clients, excluded from the imbalance; once it stops answering it disappears from the view.
func TestDrainProgressDuringRollout(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns, "chat", "replicas: 2\n")
	waitFor(t, &appsv1.Deployment{}, ns, "chat", nil)
	old, fresh := startFakeRuntime(t, 400), startFakeRuntime(t, 100)
	pod := createRuntimePod(t, ns, "chat", "chat-old", old.port(t))
	createRuntimePod(t, ns, "chat", "chat-new", fresh.port(t))
	base := client.MergeFrom(pod.DeepCopy())
	pod.Finalizers = append(pod.Finalizers, "test.socketfleet.io/hold")
	if err := k8s.Patch(context.Background(), pod, base); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p := &corev1.Pod{}
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(pod), p); err == nil {
			b := client.MergeFrom(p.DeepCopy())
			p.Finalizers = nil
			_ = k8s.Patch(context.Background(), p, b)
		}
	})
	deletePod(t, ns, "chat-old")
	old.draining.Store(true)
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		f := rc.Status.Fleet
		if f == nil || f.DrainingPods != 1 || f.DrainingClients != 400 || rc.Status.ConnectedClients != 500 || f.ImbalancePercent != 0 {
			return fmt.Errorf("fleet status %+v (pods %s)", f, fleetPods(rc))
		}
		return nil
	})

	// The pod exits: its /stats stops answering. That is not an outage: no error, no StatsUnreachable.
	old.srv.Close()
	waitCluster(t, ns, "chat", func(rc *realtimev1alpha1.RealtimeCluster) error {
		f := rc.Status.Fleet
		if f == nil || f.DrainingPods != 0 || f.UnreachablePods != 0 || len(f.Pods) != 1 || rc.Status.ConnectedClients != 100 {
			return fmt.Errorf("fleet status %+v (pods %s)", f, fleetPods(rc))
		}
		return nil
	})
	if err := hasEvent(ns, controllers.EventStatsUnreachable); err == nil {
		t.Error("an exited terminating pod was reported as unreachable")
	}
}
